"""rasterflow.ownership: what rasterflow may remove, and what it must leave alone."""

from __future__ import annotations

import os

import pytest

from rasterflow import ownership
from rasterflow.errors import ConfigError, InputDataError


def test_replace_folder_keeps_a_folder_holding_foreign_files(tmp_path):
    target = tmp_path / "stac"
    target.mkdir()
    (target / "mine.json").write_text("mine")
    scratch = tmp_path / ".stac-partial"
    scratch.mkdir()
    (scratch / "catalog.json").write_text("{}")
    with pytest.raises(InputDataError, match="stac holds mine.json, which rasterflow did not"):
        ownership.replace_folder(scratch, target)
    assert (target / "mine.json").read_text() == "mine"


def test_replace_folder_replaces_what_it_wrote_itself(tmp_path):
    target = tmp_path / "stac"
    for name in ("catalog.json", "second.json"):
        scratch = tmp_path / f".s-{name}"
        (scratch / "item").mkdir(parents=True)
        (scratch / name).write_text(name)
        (scratch / "item" / "item.json").write_text("i")
        ownership.replace_folder(scratch, target)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        ".rasterflow-files",
        "item/item.json",
        "second.json",
    ]
    assert ownership.foreign_files(target) == []


def test_inputs_are_found_inside_results_through_links(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "scenes.csv").write_text("x")
    link = tmp_path / "link"
    os.symlink(data, link)
    with pytest.raises(ConfigError, match=r"holds .*scenes.csv, an input \(scenes.sheet\)"):
        ownership.check_results(str(link), inputs={"scenes.sheet": [str(data / "scenes.csv")]})
    with pytest.raises(ConfigError, match=r"an input \(terrain.dem\)"):
        ownership.check_results(str(data), inputs={"terrain.dem": [str(link / "scenes.csv")]})
    ownership.check_results(
        str(tmp_path / "results"), inputs={"scenes.sheet": [str(data / "scenes.csv")]}
    )  # beside it is fine, and creates nothing
    assert not (tmp_path / "results").exists()


def test_claimed_folder_passes_and_an_unclaimed_one_does_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the project folder: the claims' record goes here
    results = tmp_path / "r"
    results.mkdir()
    (results / ".snakemake").mkdir()  # Snakemake's own: not the user's files
    ownership.check_results(str(results), inputs={})
    (results / "a.tif").write_text("x")
    with pytest.raises(ConfigError, match="already holds a.tif"):
        ownership.check_results(str(results), inputs={})
    ownership.claim(str(results))
    ownership.check_results(str(results), inputs={})


def test_a_claim_holds_without_the_marker_but_a_forged_record_does_not(tmp_path, monkeypatch):
    """A full results disk may refuse the marker: the project's signed record still
    says the folder is rasterflow's; an unsigned record says nothing."""
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "r"
    ownership.claim(str(results))
    (results / ownership.MARKER).unlink()
    (results / "logs").mkdir()
    ownership.check_results(str(results), inputs={})
    record = tmp_path / ownership.CLAIMS
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("x")
    record.write_text(f'["{theirs}"]')  # planted: not signed with this user's secret
    with pytest.raises(ConfigError, match="already holds thesis.tex"):
        ownership.check_results(str(theirs), inputs={})
