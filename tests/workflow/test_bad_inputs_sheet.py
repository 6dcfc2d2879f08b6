"""The bad-input catalogue (docs/reliability.md), scene sheet and dates: real dry runs.

Each case is refused at the DAG build: the message names the sheet, line and value and
says how to fix it, the exit is non-zero, no results folder exists afterwards, and the
user's files (sheet, scenes, links) are byte for byte as they were.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_snakemake, write_raster
from test_bad_inputs import (
    INSIDE,
    Case,
    assert_refused,
    base_config,
    case_config,
    merge,
    run_case,
    scene_data,
)

pytestmark = pytest.mark.workflow

HEADER = "scene_id,date,path\n"
COMPOSITES = {"grid": {"crs": "EPSG:32633", "aoi": {"bounds": list(INSIDE.bounds)}}}
#: the tail of every encoding message: how to convert the sheet
CONVERT = (
    "save it as 'CSV UTF-8', or convert it: iconv -f {codec} -t utf-8 scenes.csv > "
    "scenes-utf8.csv and set scenes.sheet to the new file"
)


def _sheet(ws: Path, text: str, *, encoding: str = "utf-8", scene: str = "scene.tif") -> None:
    write_raster(ws / scene, scene_data())
    (ws / "scenes.csv").write_bytes(text.encode(encoding))


def same_file_dot_slash(ws: Path) -> dict[str, Any]:
    _sheet(ws, f"{HEADER}s1,2024-06-01,scene.tif\ns1_copy,2024-06-01,./scene.tif\n")
    return COMPOSITES


def same_file_symlink(ws: Path) -> dict[str, Any]:
    write_raster(ws / "other.tif", scene_data(1))
    (ws / "data").mkdir()
    (ws / "data" / "link.tif").symlink_to("../scene.tif")
    _sheet(
        ws,
        f"{HEADER}s1,2024-06-01,scene.tif\ns2,2024-06-02,other.tif\n"
        "s1_copy,2024-06-03,data/../data/link.tif\n",
    )
    return COMPOSITES


def sheet_latin1(ws: Path) -> dict[str, Any]:
    write_raster(ws / "scène.tif", scene_data())
    _sheet(ws, f"{HEADER}s1,2024-06-01,scene.tif\ns2,2024-06-02,scène.tif\n", encoding="cp1252")
    return {}


def sheet_utf16(ws: Path) -> dict[str, Any]:
    _sheet(ws, f"{HEADER}s1,2024-06-01,scene.tif\n", encoding="utf-16")
    return {}


def _dated(date: str) -> Any:
    def setup(ws: Path) -> dict[str, Any]:
        _sheet(ws, f"{HEADER}s1,{date},scene.tif\n")
        return merge(COMPOSITES, {"periods": {"kind": "seasonal"}})

    return setup


def path_with_braces(ws: Path) -> dict[str, Any]:
    _sheet(ws, f"{HEADER}s1,2024-06-01,sc{{1}}.tif\n", scene="sc{1}.tif")
    return {}


LONG_ID = "S2A_MSIL2A_20240601T100031_" + "".join(f"{i:03d}" for i in range(95))  # 312


def overlong_scene_id(ws: Path) -> dict[str, Any]:
    _sheet(ws, f"{HEADER}{LONG_ID},2024-06-01,scene.tif\n")
    return {}


def periodic_scene_id(ws: Path) -> dict[str, Any]:
    _sheet(ws, f"{HEADER}scene_{'0' * 20},2024-06-01,scene.tif\n")
    return {}


def _date_message(date: str, problem: str) -> str:
    return f"scene sheet {{ws}}/scenes.csv, line 2: date '{date}' of scene 's1' {problem}"


OUT_OF_RANGE = (
    "is outside 1900-01-01..2199-12-31, the dates rasterflow accepts; fix the "
    "date (a year before 1900 or after 2199 is taken for a typo)"
)

CASES = [
    Case(
        "sheet-same-file-two-ids",
        same_file_dot_slash,
        "scene sheet {ws}/scenes.csv, lines 2 and 3: scenes 's1' and 's1_copy' both use "
        "{ws}/scene.tif, which would count twice in every composite; remove one of the two "
        "lines",
    ),
    Case(
        "sheet-same-file-via-link",
        same_file_symlink,
        "scene sheet {ws}/scenes.csv, lines 2 and 4: scenes 's1' and 's1_copy' both use "
        "{ws}/scene.tif, which would count twice in every composite; remove one of the two "
        "lines",
    ),
    Case(
        "sheet-latin1",
        sheet_latin1,
        "scene sheet {ws}/scenes.csv, line 3: byte 0xe8 is not UTF-8 (the sheet looks saved "
        "as Latin-1/cp1252); " + CONVERT.format(codec="cp1252"),
    ),
    Case(
        "sheet-utf16",
        sheet_utf16,
        "scene sheet {ws}/scenes.csv is saved as UTF-16, but a sheet must be UTF-8; "
        + CONVERT.format(codec="utf-16"),
    ),
    Case(
        "date-trailing-text",
        _dated("2024-06-01xyz"),
        _date_message("2024-06-01xyz", "does not parse; write it as YYYY-MM-DD"),
    ),
    Case(
        "date-with-time",
        _dated("2024-06-30T23:30:00-05:00"),
        _date_message(
            "2024-06-30T23:30:00-05:00",
            "has a time of day, but scene dates are days; write the acquisition's "
            "UTC date as YYYY-MM-DD, here 2024-07-01 (UTC)",
        ),
    ),
    Case("date-9999-seasonal", _dated("9999-12-31"), _date_message("9999-12-31", OUT_OF_RANGE)),
    Case("date-0001-seasonal", _dated("0001-01-15"), _date_message("0001-01-15", OUT_OF_RANGE)),
    Case(
        "path-with-braces",
        path_with_braces,
        "scene 's1' (sheet line 2): {ws}/sc{{1}}.tif has a brace ('{{' or '}}'), which "
        "Snakemake reads as a wildcard; rename the file or folder without braces, or link "
        "it under such a name (ln -s) and list the link",
    ),
    Case(
        "scene-id-too-long",
        overlong_scene_id,
        "scene sheet {ws}/scenes.csv, line 2: scene_id 'S2A_MSIL2A_20240601T1000'... is "
        "312 characters long; shorten it to at most 200 (it becomes part of file names, "
        "which hold at most 255 bytes)",
    ),
    Case(
        "scene-id-periodic",
        periodic_scene_id,
        "scene sheet {ws}/scenes.csv, line 2: scene_id 'scene_00000000000000000000' ends in "
        "'0' repeated 20 times, which Snakemake refuses as a wildcard value (it suspects an "
        "endless recursion); shorten the repetition",
    ),
]


def snapshot(ws: Path) -> dict[str, str]:
    """Digest of every file and link the user has in ``ws`` (not Snakemake's own)."""
    out: dict[str, str] = {}
    for p in sorted(ws.rglob("*")):
        rel = p.relative_to(ws).as_posix()
        if rel.split("/")[0] in (".snakemake", "results") or rel == "bad.yaml":
            continue
        if p.is_symlink():
            out[rel] = "-> " + str(p.readlink())
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_sheet_is_refused_at_the_dry_run_leaving_user_files_as_they_were(tmp_path, case):
    assert case.where == "DAG" and case.target is None  # each of these is a dry run
    cfg = case_config(tmp_path, case)
    before = snapshot(tmp_path)
    output = assert_refused(tmp_path, case, run_case(tmp_path, case, cfg))
    assert "Traceback" not in output
    assert snapshot(tmp_path) == before


def test_sheet_with_bom_and_spaces_after_commas_is_accepted(tmp_path):
    write_raster(tmp_path / "scene.tif", scene_data())
    (tmp_path / "scenes.csv").write_bytes(
        "scene_id, date, path\ns1, 2024-06-01, scene.tif\n".encode("utf-8-sig")
    )
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(tmp_path), COMPOSITES)))
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False)
    assert "results/composites/" in proc.stdout  # a composite only exists with a scene
