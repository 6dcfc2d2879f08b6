"""Scene sheet parsing and band location for both input layouts."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest
from helpers import write_raster

from rasterflow import demo
from rasterflow.errors import ConfigError, InputDataError
from rasterflow.scenes import (
    BandFile,
    Scene,
    check_headers,
    load_scenes,
    planned_listing,
    read_sheet,
)

BANDS = {
    "red": {"band": 3, "pattern": "*_B04_10m.jp2", "scale": 1e-4, "offset": -0.1, "nodata": 0},
    "nir": {"band": 4, "pattern": "*_B08_10m.jp2", "scale": 1e-4, "offset": -0.1, "nodata": 0},
}
MASK = {"pattern": "*_SCL_20m.jp2", "band": 5, "valid": [4, 5], "classes": None}


def _safe(tmp_path, name="S2A_MSIL2A_20240601.SAFE"):
    base = tmp_path / name / "GRANULE" / "L2A_T1" / "IMG_DATA"
    for sub, f in [
        ("R10m", "T1_B04_10m.jp2"),
        ("R10m", "T1_B08_10m.jp2"),
        ("R20m", "T1_SCL_20m.jp2"),
        ("R20m", "T1_B11_20m.jp2"),
    ]:
        (base / sub).mkdir(parents=True, exist_ok=True)
        (base / sub / f).write_bytes(b"")
    return tmp_path / name


def test_both_layouts_resolve(tmp_path):
    safe = _safe(tmp_path)
    write_raster(tmp_path / "multi.tif", np.zeros((5, 4, 4), np.uint16))
    (tmp_path / "sheet.csv").write_text(
        f"scene_id,date,path\ns2,2024-06-01,{safe.name}\nm1,2024-06-02,multi.tif\n"
    )
    scenes = load_scenes(tmp_path / "sheet.csv", bands=BANDS, mask=MASK)
    assert list(scenes) == ["s2", "m1"]
    s2 = scenes["s2"]
    assert s2.bands["red"].path.endswith("R10m/T1_B04_10m.jp2") and s2.bands["red"].band == 1
    assert s2.mask.path.endswith("R20m/T1_SCL_20m.jp2")
    m1 = scenes["m1"]
    assert m1.date == dt.date(2024, 6, 2)
    assert m1.bands["nir"] == BandFile(str(tmp_path / "multi.tif"), 4, 1e-4, -0.1, 0.0)
    assert m1.mask.band == 5 and m1.valid_classes == (4, 5)
    assert Scene.from_params(m1.to_params()) == m1


def test_sheet_paths_are_relative_to_the_sheet(tmp_path):
    write_raster(tmp_path / "a.tif", np.zeros((4, 4, 4), np.uint16))
    sub = tmp_path / "sheets"
    sub.mkdir()
    (sub / "s.csv").write_text("scene_id,date,path\na,2024-01-01,../a.tif\n")
    scenes = load_scenes(sub / "s.csv", bands=BANDS, mask=None)
    assert scenes["a"].bands["red"].path == str(tmp_path / "a.tif")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,date,path\n", r"missing column\(s\) scene_id"),
        ("scene_id,date,path\n", "no scenes"),
        (
            "scene_id,date,path\na,2024-01-01,x.tif\na,2024-01-02,y.tif\n",
            r"line 3: duplicate scene_id 'a' \(first on line 2\)",
        ),
        (
            "scene_id,date,path\na,01/02/2024,x.tif\n",
            "date '01/02/2024' of scene 'a' does not parse",
        ),
        ("scene_id,date,path\n../evil,2024-01-01,x.tif\n", "scene_id '../evil' is not valid"),
        ("scene_id,date,path\na,2024-01-01,\n", "scene 'a' has no path"),
    ],
)
def test_sheet_errors_name_line_and_fix(text, message):
    with pytest.raises(InputDataError, match=message):
        read_sheet(text, source="my.csv", base=".")


def test_missing_files_and_ambiguous_patterns(tmp_path):
    (tmp_path / "s.csv").write_text("scene_id,date,path\na,2024-01-01,nothere.tif\n")
    with pytest.raises(InputDataError, match=r"nothere.tif does not exist"):
        load_scenes(tmp_path / "s.csv", bands=BANDS, mask=None)
    safe = _safe(tmp_path)
    (safe / "GRANULE" / "L2A_T1" / "IMG_DATA" / "R10m" / "T2_B04_10m.jp2").write_bytes(b"")
    (tmp_path / "s.csv").write_text(f"scene_id,date,path\na,2024-01-01,{safe.name}\n")
    with pytest.raises(
        InputDataError,
        match=r"pattern '\*_B04_10m.jp2' of scenes.bands.red "
        r"matches .*T1_B04_10m.jp2, .*T2_B04_10m.jp2",
    ):
        load_scenes(tmp_path / "s.csv", bands=BANDS, mask=None)
    with pytest.raises(ConfigError, match="scenes.bands.red has no 'pattern'"):
        load_scenes(tmp_path / "s.csv", bands={"red": {"band": 1}}, mask=None)
    with pytest.raises(InputDataError, match="scene sheet .*missing.csv not found"):
        load_scenes(tmp_path / "missing.csv", bands=BANDS, mask=None)


def test_planned_listing_sees_files_a_rule_will_write():
    listing, exists = planned_listing(["r/demo/x.SAFE/G/a_B04_10m.tif", "r/demo/m.tif"])
    assert listing("r/demo/x.SAFE") == ["G/a_B04_10m.tif"]
    assert listing("r/demo/m.tif") is None and exists("r/demo/m.tif")
    assert not exists("r/demo/other.tif")


def test_demo_config_resolves_on_generated_demo(demo_data):
    """The shipped config's band roles find every band of both demo layouts."""
    import yaml
    from helpers import REPO

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["scenes"]
    scenes = load_scenes(demo_data / "scenes.csv", bands=cfg["bands"], mask=cfg["mask"])
    assert len(scenes) == sum(len(fp.dates) for fp in demo.FOOTPRINTS)
    planned = {str(demo_data / f) for f in demo.planned_files()}
    for scene in scenes.values():
        assert set(scene.files()) <= planned
        assert scene.mask is not None


def test_recording_listing_lists_like_the_filesystem_and_records_each_folder(tmp_path):
    from rasterflow.scenes import filesystem_listing, recording_listing

    safe = tmp_path / "S2.SAFE"
    (safe / "GRANULE" / "L2A" / "IMG_DATA").mkdir(parents=True)
    (safe / "GRANULE" / "L2A" / "IMG_DATA" / "B04.jp2").write_bytes(b"x")
    (safe / "manifest.safe").write_bytes(b"x")
    (tmp_path / "one.tif").write_bytes(b"x")
    listing, walked = recording_listing()
    assert (
        listing(str(safe))
        == filesystem_listing(str(safe))
        == ["GRANULE/L2A/IMG_DATA/B04.jp2", "manifest.safe"]
    )
    assert listing(str(tmp_path / "one.tif")) is None
    assert sorted(walked) == sorted(
        str(p)
        for p in (
            safe,
            safe / "GRANULE",
            safe / "GRANULE" / "L2A",
            safe / "GRANULE" / "L2A" / "IMG_DATA",
        )
    )


# --- band files of one scene (issue 15) ---------------------------------------------


def _band_folder(tmp_path, *, nir_origin=(500_000.0, 6_000_000.0), nir_res=10.0, nir_px=64):
    folder = tmp_path / "scene"
    folder.mkdir()
    write_raster(folder / "T1_B04.tif", np.ones((64, 64), np.uint16))
    write_raster(
        folder / "T1_B08.tif", np.ones((nir_px, nir_px), np.uint16), origin=nir_origin, res=nir_res
    )
    (tmp_path / "s.csv").write_text("scene_id,date,path\ns1,2024-06-01,scene\n")
    bands = {"red": {"pattern": "*_B04.tif"}, "nir": {"pattern": "*_B08.tif"}}
    return load_scenes(tmp_path / "s.csv", bands=bands, mask=None)


def test_band_files_of_one_scene_with_different_extents_are_refused(tmp_path):
    scenes = _band_folder(tmp_path, nir_origin=(500_320.0, 6_000_000.0))
    with pytest.raises(InputDataError) as err:
        check_headers(scenes)
    folder = tmp_path / "scene"
    assert str(err.value) == (
        f"scene 's1': its band files cover different areas: {folder}/T1_B08.tif "
        f"(scenes.bands.nir) spans 500320, 5999360, 500960, 6000000 but {folder}/T1_B04.tif "
        "(scenes.bands.red) spans 500000, 5999360, 500640, 6000000 (left, bottom, right, "
        "top in EPSG:32633); every band of a scene must cover the same area (resolutions "
        "may differ). Use band files of one product, or cut them to one extent (gdalwarp -te)"
    )


def test_band_files_of_one_extent_at_other_resolutions_are_accepted(tmp_path):
    # Sentinel-2: 10 m and 20 m bands of one tile; a shift under half a 20 m pixel is
    # rounding, not another area
    check_headers(
        _band_folder(tmp_path, nir_res=20.0, nir_px=32, nir_origin=(500_009.0, 6_000_000.0))
    )


def test_cached_headers_feed_the_extent_check(tmp_path):
    from rasterflow import planning

    scenes = _band_folder(tmp_path, nir_origin=(500_320.0, 6_000_000.0))
    files = sorted({f for sc in scenes.values() for f in sc.files()})
    known = planning.cached_headers(files, cache=tmp_path / "headers.json")
    with pytest.raises(InputDataError, match="its band files cover different areas"):
        check_headers(scenes, known=known)


# --- sheet text: encodings, header spaces, dates, ids, braces ------------------------

SRC = "my.csv"
HEAD = "scene_id,date,path\n"


def _refusal(text: str) -> str:
    with pytest.raises(InputDataError) as info:
        read_sheet(text, source=SRC, base="/d")
    return str(info.value)


def test_header_and_values_may_have_spaces_after_commas():
    rows = read_sheet(
        'scene_id, date , path\n s1 , 2024-06-01, "a, b.tif" \n', source=SRC, base="/d"
    )
    assert [(r.scene_id, r.date, r.path) for r in rows] == [
        ("s1", dt.date(2024, 6, 1), "/d/a, b.tif")
    ]


PARSE = "does not parse; write it as YYYY-MM-DD"
TIME = "has a time of day, but scene dates are days; write the acquisition's UTC date as YYYY-MM-DD"


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("2024-06-01xyz", PARSE),
        ("20240601", PARSE),
        ("2024-W22-6", PARSE),
        ("2024-02-30", PARSE),
        ("2024-06-01T25:00", PARSE),
        ("\u0662\u0660\u0662\u0664-\u0660\u0666-\u0660\u0661", PARSE),  # Arabic-Indic digits
        ("2024-06-30T23:30:00-05:00", TIME + ", here 2024-07-01 (UTC)"),
        ("2024-06-02T10:11:12Z", TIME + ", here 2024-06-02 (UTC)"),
        ("2024-06-30 23:30", TIME + ", 2024-06-30 if that time is UTC"),
        ("9999-12-31T23:30:00-05:00", TIME),  # its UTC date is beyond year 9999
    ],
)
def test_dates_must_be_days_written_yyyy_mm_dd(date, message):
    assert _refusal(f"{HEAD}s1,{date},x.tif\n") == (
        f"scene sheet my.csv, line 2: date {date!r} of scene 's1' {message}"
    )


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-15", "1899-12-31", "2200-01-01"])
def test_dates_outside_1900_to_2199_are_refused(date):
    assert _refusal(f"{HEAD}s1,2024-01-01,x.tif\ns2,{date},y.tif\n") == (
        f"scene sheet my.csv, line 3: date {date!r} of scene 's2' is outside "
        "1900-01-01..2199-12-31, the dates rasterflow accepts; fix the date (a year before "
        "1900 or after 2199 is taken for a typo)"
    )


def test_dates_at_the_ends_of_the_accepted_range_are_days():
    rows = read_sheet(f"{HEAD}a,1900-01-01,x.tif\nb,2199-12-31,y.tif\n", source=SRC, base=".")
    assert [r.date for r in rows] == [dt.date(1900, 1, 1), dt.date(2199, 12, 31)]


def test_scene_ids_longer_than_200_characters_are_refused():
    ok = "S2A_" + "".join(f"{i:03d}" for i in range(66))[:196]  # 200, not periodic
    assert read_sheet(f"{HEAD}{ok},2024-01-01,x.tif\n", source=SRC, base=".")[0].scene_id == ok
    long = "S2A_MSIL2A_" + "0123456789" * 29  # 301
    assert _refusal(f"{HEAD}{long},2024-01-01,x.tif\n") == (
        "scene sheet my.csv, line 2: scene_id 'S2A_MSIL2A_0123456789012'... is 301 characters "
        "long; shorten it to at most 200 (it becomes part of file names, which hold at most "
        "255 bytes)"
    )


@pytest.mark.parametrize(
    ("sid", "tail"),
    [("scene_" + "0" * 20, "'0' repeated 20"), ("x" + "ab" * 20, "'ab' repeated 20")],
)
def test_scene_ids_snakemake_takes_for_a_recursion_are_refused(sid, tail):
    from snakemake.io import PeriodicityDetector

    assert PeriodicityDetector().is_periodic(sid)  # what Snakemake would refuse
    assert _refusal(f"{HEAD}{sid},2024-01-01,x.tif\n") == (
        f"scene sheet my.csv, line 2: scene_id {sid!r} ends in {tail} times, which Snakemake "
        "refuses as a wildcard value (it suspects an endless recursion); shorten the "
        "repetition"
    )
    for fine in (sid[:-1], "0" * 30 + "1"):
        assert not PeriodicityDetector().is_periodic(fine)
        assert read_sheet(f"{HEAD}{fine},2024-01-01,x.tif\n", source=SRC, base=".")


def test_periodic_tail_agrees_with_snakemake():
    import random

    from snakemake.io import PeriodicityDetector

    from rasterflow.scenes import periodic_tail

    detector, rng = PeriodicityDetector(), random.Random(0)

    def part(lo: int, hi: int) -> str:
        return "".join(rng.choice("ab0") for _ in range(rng.randint(lo, hi)))

    for _ in range(3000):
        sid = (part(0, 40) + part(1, 6) * rng.randint(15, 25) + part(0, 1))[:200]
        assert (periodic_tail(sid) is None) == (detector.is_periodic(sid) is None), sid


@pytest.mark.parametrize("path", ["sc{1}.tif", "a{scene}/x.tif", "x}.tif"])
def test_paths_with_braces_are_refused(path):
    assert _refusal(f"{HEAD}s1,2024-01-01,{path}\n") == (
        f"scene 's1' (sheet line 2): /d/{path} has a brace ('{{' or '}}'), which Snakemake "
        "reads as a wildcard; rename the file or folder without braces, or link it under "
        "such a name (ln -s) and list the link"
    )


def test_band_files_with_braces_in_a_scene_folder_are_refused(tmp_path):
    safe = _safe(tmp_path)
    img = safe / "GRANULE" / "L2A_T1" / "IMG_DATA" / "R10m"
    (img / "T1_B04_10m.jp2").rename(img / "T1{a}_B04_10m.jp2")
    (tmp_path / "s.csv").write_text(f"{HEAD}s2,2024-06-01,{safe.name}\n")
    with pytest.raises(InputDataError) as info:
        load_scenes(tmp_path / "s.csv", bands=BANDS, mask=None)
    assert str(info.value).startswith(
        f"scene 's2' (sheet line 2): {img}/T1{{a}}_B04_10m.jp2 has a brace"
    )


def _sheet_bytes(tmp_path, data: bytes) -> str:
    write_raster(tmp_path / "a.tif", np.zeros((4, 4, 4), np.uint16))
    (tmp_path / "scenes.csv").write_bytes(data)
    with pytest.raises(InputDataError) as info:
        load_scenes(tmp_path / "scenes.csv", bands=BANDS, mask=None)
    return str(info.value).replace(str(tmp_path), "{ws}")


FIX = (
    "save it as 'CSV UTF-8', or convert it: iconv -f {} -t utf-8 scenes.csv > "
    "scenes-utf8.csv and set scenes.sheet to the new file"
)


def test_utf8_sheets_with_or_without_bom_are_read(tmp_path):
    write_raster(tmp_path / "é.tif", np.zeros((4, 4, 4), np.uint16))
    for data in [
        f"{HEAD}s1,2024-01-01,é.tif\n".encode(),
        f"{HEAD}s1,2024-01-01,é.tif\n".encode("utf-8-sig"),
    ]:
        (tmp_path / "scenes.csv").write_bytes(data)
        scenes = load_scenes(tmp_path / "scenes.csv", bands=BANDS, mask=None)
        assert scenes["s1"].bands["red"].path == str(tmp_path / "é.tif")


def test_latin1_sheet_names_the_line_of_the_first_bad_byte(tmp_path):
    data = f"{HEAD}s1,2024-01-01,a.tif\ns2,2024-01-02,é.tif\n".encode("cp1252")
    assert _sheet_bytes(tmp_path, data) == (
        "scene sheet {ws}/scenes.csv, line 3: byte 0xe9 is not UTF-8 (the sheet looks saved "
        "as Latin-1/cp1252); " + FIX.format("cp1252")
    )


def test_sheet_in_no_single_byte_encoding_gets_a_generic_hint(tmp_path):
    data = HEAD.encode() + b"s1,2024-01-01,\x81\x8d.tif\n"  # undefined in cp1252
    assert _sheet_bytes(tmp_path, data) == (
        "scene sheet {ws}/scenes.csv, line 2: byte 0x81 is not UTF-8 (the sheet looks saved "
        "as another encoding); " + FIX.format("<its encoding>")
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_sheet_with_bom_is_refused(tmp_path, encoding):
    data = ("\ufeff" if encoding == "utf-16-be" else "") + f"{HEAD}s1,2024-01-01,a.tif\n"
    assert _sheet_bytes(tmp_path, data.encode(encoding)) == (
        "scene sheet {ws}/scenes.csv is saved as UTF-16, but a sheet must be UTF-8; "
        + FIX.format("utf-16")
    )


def test_nul_bytes_name_their_line(tmp_path):
    data = f"{HEAD}s1,2024-01-01,a.tif\n".encode() + b"\0\0\0\0\n"  # a zeroed tail
    assert _sheet_bytes(tmp_path, data) == (
        "scene sheet {ws}/scenes.csv, line 3: a NUL byte (0x00), so the sheet is UTF-16 "
        "without a byte-order mark, or not text; " + FIX.format("utf-16le")
    )


# --- one file, one scene --------------------------------------------------------------


def _dup_message(
    tmp_path, first: str, second: str, lines: str = "2 and 3", path: str = "scene.tif"
) -> str:
    return (
        f"scene sheet {tmp_path}/s.csv, lines {lines}: scenes {first!r} and {second!r} "
        f"both use {tmp_path}/{path}, which would count twice in every composite; "
        "remove one of the two lines"
    )


@pytest.mark.parametrize(
    "alias", ["./scene.tif", "sub/../scene.tif", "link.tif", "linkdir/scene.tif", "{ws}/scene.tif"]
)
def test_one_file_under_two_scene_ids_is_refused(tmp_path, alias):
    for name in ("scene.tif", "other.tif"):
        write_raster(tmp_path / name, np.zeros((4, 4, 4), np.uint16))
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.tif").symlink_to("scene.tif")
    (tmp_path / "linkdir").symlink_to(tmp_path)
    (tmp_path / "s.csv").write_text(
        f"{HEAD}s1,2024-06-01,scene.tif\nother,2024-06-01,other.tif\n"
        f"s1_copy,2024-06-02,{alias.format(ws=tmp_path)}\n"
    )
    with pytest.raises(InputDataError) as info:
        load_scenes(tmp_path / "s.csv", bands=BANDS, mask=None)
    assert str(info.value) == _dup_message(tmp_path, "s1", "s1_copy", "2 and 4")


def test_one_scene_folder_under_two_ids_is_refused(tmp_path):
    safe = _safe(tmp_path)
    (tmp_path / "again.SAFE").symlink_to(safe.name)
    (tmp_path / "s.csv").write_text(f"{HEAD}a,2024-06-01,{safe.name}\nb,2024-06-01,again.SAFE\n")
    with pytest.raises(InputDataError) as info:
        load_scenes(tmp_path / "s.csv", bands=BANDS, mask=MASK)
    # every band file is shared: the message names the first in path order
    assert str(info.value) == _dup_message(
        tmp_path, "a", "b", path=f"{safe.name}/GRANULE/L2A_T1/IMG_DATA/R10m/T1_B04_10m.jp2"
    )


def test_a_file_for_mask_and_bands_of_one_scene_and_distinct_scenes_are_fine(tmp_path):
    lines = []
    for i in range(40):  # > 32 in one folder: its listing, not one lstat per file
        write_raster(tmp_path / f"s{i}.tif", np.zeros((5, 4, 4), np.uint16))
        lines.append(f"s{i},2024-06-{1 + i % 28:02d},s{i}.tif")
    (tmp_path / "s.csv").write_text(HEAD + "\n".join(lines) + "\n")
    scenes = load_scenes(tmp_path / "s.csv", bands=BANDS, mask=MASK)
    assert len(scenes) == 40 and scenes["s0"].mask.path == scenes["s0"].bands["red"].path
    (tmp_path / "s40.tif").symlink_to("s7.tif")
    (tmp_path / "s.csv").write_text(HEAD + "\n".join(lines) + "\ns40,2024-07-01,s40.tif\n")
    with pytest.raises(InputDataError) as info:
        load_scenes(tmp_path / "s.csv", bands=BANDS, mask=MASK)
    assert str(info.value) == _dup_message(tmp_path, "s7", "s40", "9 and 42", "s7.tif")


def test_real_paths_match_os_realpath(tmp_path, monkeypatch):
    from rasterflow.scenes import real_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "ld").symlink_to("d")
    (tmp_path / "d" / "f.tif").write_bytes(b"")
    (tmp_path / "d" / "l.tif").symlink_to("f.tif")
    many = [f"ld/m{i}.tif" for i in range(40)]
    for m in many:
        (tmp_path / m).write_bytes(b"")
    (tmp_path / "d" / "m0.tif").unlink()
    (tmp_path / "d" / "m0.tif").symlink_to("../d/f.tif")
    paths = [
        "d/f.tif",
        "ld/f.tif",
        "d/l.tif",
        "ld/l.tif",
        "top.tif",
        "/etc/hostname",
        "/",
        str(tmp_path / "ld" / "f.tif"),
        "missing/x.tif",
        *many,
    ]
    assert real_paths(paths) == {p: os.path.realpath(p) for p in paths}


@pytest.mark.parametrize(
    "file_nodata, sheet_nodata",
    [
        (None, None),
        (0, None),
        (None, 0),
        (65535, 0),
    ],
)
def test_coarser_bands_come_onto_the_window_as_gdal_warps_them(
    tmp_path, monkeypatch, file_nodata, sheet_nodata
):
    # Sentinel-2's 20 m SWIR read onto 10 m windows: the compiled kernel must give
    # GDAL's warper's bits, nodata, raster edges and a sub-pixel shift included
    import rasterio
    from rasterio.warp import Resampling, reproject

    from rasterflow.scenes import read as scenes_read
    from rasterflow.scenes import read_window, scene_grid

    rng = np.random.default_rng(5)
    # wide enough for several of the kernel's blocks of columns (_BLOCK_COLUMNS) a row
    red = rng.integers(1, 10_000, (64, 320)).astype(np.uint16)
    swir = rng.integers(1, 10_000, (32, 160)).astype(np.uint16)
    swir[rng.random(swir.shape) < 0.1] = 0
    swir[rng.random(swir.shape) < 0.05] = 65535
    write_raster(tmp_path / "red.tif", red)
    write_raster(
        tmp_path / "swir.tif", swir, res=20.0, origin=(500_009.0, 6_000_000.0), nodata=file_nodata
    )
    scene = Scene(
        "s1",
        dt.date(2024, 6, 1),
        {
            "red": BandFile(str(tmp_path / "red.tif")),
            "swir": BandFile(str(tmp_path / "swir.tif"), nodata=sheet_nodata),
        },
    )
    grid = scene_grid(scene, ["red", "swir"])
    gdal_calls = []
    monkeypatch.setattr(scenes_read, "_warp_into", lambda *a, **k: gdal_calls.append(a))
    nodata = sheet_nodata if sheet_nodata is not None else file_nodata
    for window in [
        (0, 0, 64, 64),
        (10, 13, 17, 21),
        (50, 50, 14, 14),
        (0, 0, 5, 7),
        (30, 63, 20, 1),
        (0, 0, 320, 64),
        (7, 3, 301, 40),
    ]:
        x0, y0, w, h = window
        (got_red, got_swir), valid = read_window(
            scene, ["red", "swir"], grid, window, resampling="bilinear"
        )
        assert valid is None
        np.testing.assert_array_equal(got_red, red[y0 : y0 + h, x0 : x0 + w])
        box = grid[y0 : y0 + h, x0 : x0 + w]
        want = np.full((h, w), np.nan, dtype=np.float32)
        with rasterio.open(tmp_path / "swir.tif") as src:
            reproject(
                rasterio.band(src, 1),
                want,
                src_nodata=nodata,
                dst_transform=box.affine,
                dst_crs=src.crs,
                dst_nodata=np.nan,
                init_dest_nodata=False,
                resampling=Resampling.bilinear,
                tolerance=0.0,
            )
        assert np.isfinite(want).any()
        np.testing.assert_array_equal(got_swir, want, err_msg=str(window))
    assert gdal_calls == []  # every window went through the kernel


def _mask_on_grid(path, grid) -> np.ndarray:
    """The reference for a mask read onto ``grid``: GDAL's nearest (rasterio.reproject)."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    on_grid = np.zeros(grid.shape.yx, dtype=np.int32)
    with rasterio.open(path) as src:
        reproject(
            rasterio.band(src, 1),
            on_grid,
            dst_transform=grid.affine,
            dst_crs=src.crs,
            resampling=Resampling.nearest,
        )
    return on_grid


@pytest.mark.parametrize("mask_res", [10.0, 20.0])  # on the scene's grid, and coarser
def test_bit_masks_with_dilation_match_the_whole_raster_dilated_in_every_window(tmp_path, mask_res):
    # Landsat's QA_PIXEL: clear unless a listed bit is set; dilation by a square of
    # 2 x 2 + 1 around every unclear pixel inside the raster, the same in any window
    from scipy import ndimage

    from rasterflow.scenes import read_window, scene_grid

    rng = np.random.default_rng(11)
    n = int(64 * 10 / mask_res)
    qa = np.full((n, n), 1 << 6, dtype=np.uint16)  # bit 6: clear, not listed
    qa[rng.random((n, n)) < 0.03] |= 1 << 3  # cloud
    qa[rng.random((n, n)) < 0.02] |= 1 << 4  # shadow
    qa[rng.random((n, n)) < 0.05] |= 1 << 7  # water: not listed, stays clear
    write_raster(tmp_path / "red.tif", np.ones((64, 64), np.uint16))
    write_raster(tmp_path / "qa.tif", qa, res=mask_res)
    scene = Scene(
        "s1",
        dt.date(2024, 6, 1),
        {"red": BandFile(str(tmp_path / "red.tif"))},
        mask=BandFile(str(tmp_path / "qa.tif")),
        invalid_bits=(0, 1, 3, 4),
        dilate=2,
    )
    grid = scene_grid(scene, ["red"])
    on_grid = _mask_on_grid(tmp_path / "qa.tif", grid)
    unclear = (on_grid & 0b11011) != 0
    want = ~ndimage.binary_dilation(unclear, structure=np.ones((5, 5), bool))
    assert 0.2 < want.mean() < 0.95  # both kinds of pixels, plenty of each
    for window in [
        (0, 0, 64, 64),
        (10, 13, 17, 21),
        (50, 50, 14, 14),
        (0, 0, 5, 7),
        (30, 63, 20, 1),
    ]:
        x0, y0, w, h = window
        _bands, clear = read_window(scene, ["red"], grid, window, resampling="bilinear")
        np.testing.assert_array_equal(clear, want[y0 : y0 + h, x0 : x0 + w], err_msg=str(window))
    assert Scene.from_params(scene.to_params()) == scene


def test_distance_to_unclear_of_a_mask_off_the_lattice_is_on_the_grid(tmp_path):
    """A 20 m mask 5 m off the bands' lattice: the distance is measured on the 10 m grid,
    from the mask as nearest resampling puts it there (brute force), in any window."""

    from rasterflow.scenes import scene_grid, unclear_distance

    rng = np.random.default_rng(6)
    scl = np.full((25, 25), 4, dtype=np.uint8)
    scl[rng.random((25, 25)) < 0.03] = 8
    write_raster(tmp_path / "red.tif", np.ones((48, 48), np.uint16))
    write_raster(tmp_path / "scl.tif", scl, res=20.0, origin=(499_995.0, 6_000_005.0))
    scene = Scene(
        "s1",
        dt.date(2024, 6, 1),
        {"red": BandFile(str(tmp_path / "red.tif"))},
        mask=BandFile(str(tmp_path / "scl.tif")),
        valid_classes=(4,),
    )
    grid = scene_grid(scene, ["red"])
    on_grid = _mask_on_grid(tmp_path / "scl.tif", grid)
    ys, xs = np.nonzero(on_grid != 4)
    yy, xx = np.mgrid[0:48, 0:48]
    d = np.sqrt(((yy[..., None] - ys) * 10.0) ** 2 + ((xx[..., None] - xs) * 10.0) ** 2)
    want = np.minimum(d.min(axis=-1), 60.0).astype(np.float32)
    assert (want == 60.0).mean() > 0.05 and (want < 60.0).mean() > 0.3
    for window in [(0, 0, 48, 48), (7, 9, 20, 13), (40, 1, 8, 30)]:
        x0, y0, w, h = window
        got = unclear_distance(scene, grid, window, 60.0)
        np.testing.assert_allclose(got, want[y0 : y0 + h, x0 : x0 + w], rtol=1e-6)


@pytest.mark.parametrize("mask_res", [10.0, 20.0])
def test_distance_to_unclear_is_the_whole_rasters_in_every_window(tmp_path, mask_res):
    """FORCE's distance-to-cloud term: metres from each pixel's mask pixel (the coarser
    mask's own pixels: SCL at 20 m) to the nearest unclear one, brute force over the
    whole raster, capped at the reach, whatever the window; no unclear pixel near ->
    the reach; the clear fraction counts pixels holding data."""
    from rasterflow.scenes import clear_fraction, scene_grid, unclear_distance

    rng = np.random.default_rng(5)
    k = int(mask_res / 10)
    n = 48 // k
    scl = np.full((n, n), 4, dtype=np.uint8)  # vegetation: clear
    scl[rng.random((n, n)) < 0.01 * k * k] = 9  # cloud
    scl[: n // 6, :] = 4  # a band of clear rows along the top: the cap decides there
    scl[-2:, -3:] = 0  # no data (the mask file's nodata)
    write_raster(tmp_path / "red.tif", np.ones((48, 48), np.uint16))
    write_raster(tmp_path / "scl.tif", scl, res=mask_res, nodata=0)
    scene = Scene(
        "s1",
        dt.date(2024, 6, 1),
        {"red": BandFile(str(tmp_path / "red.tif"))},
        mask=BandFile(str(tmp_path / "scl.tif")),
        valid_classes=(4, 5),
    )
    grid = scene_grid(scene, ["red"])
    ys, xs = np.nonzero((scl != 4) & (scl != 5))  # no data is unclear too
    assert 5 < len(ys) < 200
    yy, xx = np.mgrid[0:n, 0:n]
    d = np.sqrt(((yy[..., None] - ys) * mask_res) ** 2 + ((xx[..., None] - xs) * mask_res) ** 2)
    reach = 75.0
    native = np.minimum(d.min(axis=-1), reach).astype(np.float32)
    want = np.repeat(np.repeat(native, k, axis=0), k, axis=1)  # each 10 m pixel's mask pixel
    assert (want == reach).mean() > 0.1 and (want < reach).mean() > 0.3
    for window in [(0, 0, 48, 48), (10, 13, 17, 21), (40, 40, 8, 8), (0, 0, 5, 7), (3, 47, 20, 1)]:
        x0, y0, w, h = window
        got = unclear_distance(scene, grid, window, reach)
        np.testing.assert_allclose(
            got, want[y0 : y0 + h, x0 : x0 + w], rtol=1e-6, err_msg=str(window)
        )
    free = Scene("s2", scene.date, scene.bands)  # no mask: nothing unclear
    assert (unclear_distance(free, grid, (0, 0, 4, 4), reach) == reach).all()
    has_data = scl != 0
    assert clear_fraction(scene) == pytest.approx(((scl == 4) & has_data).sum() / has_data.sum())
    assert clear_fraction(free) == 1.0


@pytest.mark.parametrize("rule", ["classes", "bits"])
def test_fill_values_are_left_out_of_the_clear_fraction(tmp_path, rule):
    """A half-swath scene: its mask's fill (SCL 0, QA_PIXEL 1, no nodata value in the
    file) is neither clear nor counted, so the fraction is that of the pixels with data."""
    from rasterflow.scenes import clear_fraction, mask_rule

    rng = np.random.default_rng(3)
    if rule == "classes":
        mask = np.where(rng.random((40, 40)) < 0.3, 9, 4).astype(np.uint8)  # cloud, veg
        mask[:, :25] = 0  # outside the swath
        cfg = {"valid": [4, 5], "fill": [0], "classes": [4, 5, 9]}
        clear = mask == 4
    else:
        mask = np.where(rng.random((40, 40)) < 0.3, (1 << 6) | (1 << 3), 1 << 6)
        mask = mask.astype(np.uint16)
        mask[:, :25] = 1  # fill bit alone
        cfg = {"invalid_bits": [0, 1, 2, 3, 4], "fill": [1]}
        clear = mask == 1 << 6
    write_raster(tmp_path / "mask.tif", mask)
    files = {"red": BandFile(str(tmp_path / "mask.tif"))}
    scene = Scene(
        "s1", dt.date(2024, 6, 1), files, BandFile(str(tmp_path / "mask.tif")), **mask_rule(cfg)
    )
    with_data = mask[:, 25:]
    assert clear_fraction(scene) == pytest.approx(clear[:, 25:].sum() / with_data.size)
    assert 0.5 < clear_fraction(scene) < 0.9
    # without fill, the fill counts as unclear: the score the half swath had
    no_fill = Scene(
        "s2",
        scene.date,
        files,
        scene.mask,
        **mask_rule({k: v for k, v in cfg.items() if k != "fill"} | {"classes": None}),
    )
    assert clear_fraction(no_fill) == pytest.approx(clear.sum() / mask.size)
    assert Scene.from_params(scene.to_params()) == scene
    assert "fill_classes" not in no_fill.to_params()  # older configs keep their params
    if rule == "classes":  # a fill value is a known class
        assert scene.known_classes == (0, 4, 5, 9)


@pytest.mark.parametrize(
    ("res", "origin"),
    [
        (20.0, (500_009.0, 6_000_000.0)),
        (20.0, (500_000.0, 6_000_007.0)),
        (30.0, (499_996.0, 6_000_004.0)),
    ],
)
def test_a_coarser_mask_comes_onto_the_window_as_gdal_warps_it(tmp_path, monkeypatch, res, origin):
    # Sentinel-2's 20 m SCL (and a 30 m mask) onto 10 m windows: the compiled nearest
    # neighbour must give GDAL's classes, -1 off the raster, in every window
    import rasterio
    from rasterio.warp import Resampling, reproject

    from rasterflow.scenes import read as scenes_read
    from rasterflow.scenes import read_window, scene_grid

    rng = np.random.default_rng(7)
    n = int(640 / res) + 1
    scl = rng.integers(0, 12, (n, n)).astype(np.uint8)
    write_raster(tmp_path / "red.tif", np.ones((64, 64), np.uint16))
    write_raster(tmp_path / "scl.tif", scl, res=res, origin=origin)
    scene = Scene(
        "s1",
        dt.date(2024, 6, 1),
        {"red": BandFile(str(tmp_path / "red.tif"))},
        mask=BandFile(str(tmp_path / "scl.tif")),
        valid_classes=(4, 5, 6, 7),
    )
    grid = scene_grid(scene, ["red"])
    monkeypatch.setattr(scenes_read, "_warp_into", lambda *a, **k: pytest.fail("GDAL used"))
    for window in [
        (0, 0, 64, 64),
        (10, 13, 17, 21),
        (50, 50, 14, 14),
        (0, 0, 5, 7),
        (30, 63, 20, 1),
    ]:
        x0, y0, w, h = window
        _bands, clear = read_window(scene, ["red"], grid, window, resampling="bilinear")
        want = np.full((h, w), -1, dtype=np.int32)
        with rasterio.open(tmp_path / "scl.tif") as src:
            reproject(
                rasterio.band(src, 1),
                want,
                dst_transform=grid[y0 : y0 + h, x0 : x0 + w].affine,
                dst_crs=src.crs,
                dst_nodata=-1,
                init_dest_nodata=False,
                resampling=Resampling.nearest,
                tolerance=0.0,
            )
        np.testing.assert_array_equal(clear, np.isin(want, [4, 5, 6, 7]), err_msg=str(window))
        # and the classes themselves, not only clear or not
        got = np.full((h, w), -1, dtype=np.int32)
        with rasterio.open(tmp_path / "scl.tif") as src:
            assert scenes_read._kernel_nearest(src, 1, got, grid[y0 : y0 + h, x0 : x0 + w])
        np.testing.assert_array_equal(got, want, err_msg=str(window))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.float32])
def test_mask_classes_are_clear_exactly_where_they_are_valid(dtype):
    from rasterflow.scenes.read import _valid_block

    rng = np.random.default_rng(3)
    low = -1 if np.dtype(dtype).kind in "if" else 0  # -1: where the mask does not reach
    block = rng.integers(low, 12, (64, 80)).astype(dtype)
    valid = (4, 5, 6, 7, 11, 300)  # a class no pixel has is fine
    clear = _valid_block(block, valid=valid, known=tuple(range(12)), path="m.tif")
    np.testing.assert_array_equal(clear, np.isin(block, valid))
    assert clear.dtype == bool and clear.any() and not clear.all()
    block[5, 7] = 12  # a class the rule does not know
    with pytest.raises(InputDataError, match=r"mask m.tif: class value\(s\) 12(\.0)? are not"):
        _valid_block(block, valid=valid, known=tuple(range(12)), path="m.tif")
    # without known classes every class is allowed
    np.testing.assert_array_equal(
        _valid_block(block, valid=valid, known=None, path="m.tif"), np.isin(block, valid)
    )
