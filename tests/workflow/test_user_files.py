"""Nothing the user has is deleted or overwritten (rasterflow.ownership), and planning
writes nothing: each through the real workflow, the user's files compared byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import run_snakemake
from test_bad_inputs import _scene, base_config, merge

pytestmark = pytest.mark.workflow


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".snakemake" not in p.parts
    }


def _config(ws: Path, **extra) -> Path:
    cfg = ws / "own.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(ws), extra)))
    return cfg


def _run(ws: Path, cfg: Path, *args: str):
    proc = run_snakemake(ws, *args, configfiles=[cfg], demo_config=False, check=False)
    return proc, proc.stdout + proc.stderr


def test_results_in_the_data_folder_is_refused_and_nothing_of_the_user_changes(tmp_path):
    """The issue's repro: ``results: .`` where the sheet, the scene and the user's own
    stac/ and report/dask/ files are; a real run, not only the dry run."""
    _scene(tmp_path)
    (tmp_path / "stac").mkdir()
    (tmp_path / "stac" / "my_items.json").write_text('{"mine": true}\n')
    (tmp_path / "report" / "dask").mkdir(parents=True)
    (tmp_path / "report" / "dask" / "notes.txt").write_text("my notes\n")
    cfg = _config(tmp_path, results=".")
    before = _snapshot(tmp_path)
    for args in (["--dry-run"], ["--cores", "2"]):
        proc, out = _run(tmp_path, cfg, *args)
        assert proc.returncode != 0, out
        assert (
            f"results: . holds {tmp_path}/scenes.csv, an input (scenes.sheet); "
            "rasterflow replaces what it finds at its product paths, so it never writes "
            "where your data is. Set results to a folder of its own"
        ) in out, out[-3000:]
        assert _snapshot(tmp_path) == before
    assert not (tmp_path / ".rasterflow").exists()


def test_a_folder_rasterflow_did_not_create_is_refused(tmp_path):
    data, results = tmp_path / "data", tmp_path / "mine"
    data.mkdir()
    results.mkdir()
    (results / "thesis.tex").write_text("years of work\n")
    _scene(data)
    cfg = _config(data, results=str(results))
    proc, out = _run(data, cfg, "--cores", "2")
    assert proc.returncode != 0
    assert (
        f"results: {results} already holds thesis.tex, and rasterflow did not create it "
        "(there is no .rasterflow marker), so its files could be overwritten. Set "
        "results to a new or empty folder. If it holds an earlier rasterflow run's "
        f"results, mark it as such: touch {results}/.rasterflow"
    ) in out, out[-3000:]
    assert sorted(p.name for p in results.iterdir()) == ["thesis.tex"]


def test_a_run_claims_its_folder_and_a_users_file_in_a_replaced_folder_is_kept(tmp_path):
    _scene(tmp_path)
    cfg = _config(tmp_path)
    results = tmp_path / "results"
    proc, out = _run(tmp_path, cfg, "--cores", "2", "results/indices/s1/NDVI.tif")
    assert proc.returncode == 0, out[-3000:]
    assert (results / ".rasterflow").is_file()
    # the STAC folder is replaced whole by its step: a file of the user's in it stops
    # the run before Snakemake would remove the folder
    (results / "stac").mkdir()
    (results / "stac" / "my_items.json").write_text('{"mine": true}\n')
    proc, out = _run(tmp_path, cfg, "--cores", "2")
    assert proc.returncode != 0
    assert (
        "results: results/stac holds my_items.json, which rasterflow did not write, "
        "and this folder is replaced whole when its step runs. Move those files "
        "elsewhere (nothing was changed)"
    ) in out, out[-3000:]
    assert (results / "stac" / "my_items.json").read_text() == '{"mine": true}\n'


def test_a_dry_run_writes_nothing_also_with_batches(tmp_path):
    _scene(tmp_path)
    cfg = _config(tmp_path, scenes={"batch": 2})
    proc, out = _run(tmp_path, cfg, "--dry-run")
    assert proc.returncode == 0, out[-3000:]
    assert "index_batch" in out
    assert not (tmp_path / "results").exists()
    # what planning keeps is Snakemake's and rasterflow's caches, under .snakemake
    assert (tmp_path / ".snakemake" / "rasterflow" / "batches" / "b00000.inputs.json").is_file()
    assert "localrules directive specifies rules that are not present" not in out
