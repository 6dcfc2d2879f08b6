"""Scene sheet parsing and band location for both input layouts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from helpers import write_raster

from rasterflow import demo
from rasterflow.errors import ConfigError, InputDataError
from rasterflow.scenes import BandFile, Scene, load_scenes, planned_listing, read_sheet

BANDS = {
    "red": {"band": 3, "pattern": "*_B04_10m.jp2", "scale": 1e-4, "offset": -0.1, "nodata": 0},
    "nir": {"band": 4, "pattern": "*_B08_10m.jp2", "scale": 1e-4, "offset": -0.1, "nodata": 0},
}
MASK = {"pattern": "*_SCL_20m.jp2", "band": 5, "valid": [4, 5], "classes": None}


def _safe(tmp_path, name="S2A_MSIL2A_20240601.SAFE"):
    base = tmp_path / name / "GRANULE" / "L2A_T1" / "IMG_DATA"
    for sub, f in [("R10m", "T1_B04_10m.jp2"), ("R10m", "T1_B08_10m.jp2"),
                   ("R20m", "T1_SCL_20m.jp2"), ("R20m", "T1_B11_20m.jp2")]:
        (base / sub).mkdir(parents=True, exist_ok=True)
        (base / sub / f).write_bytes(b"")
    return tmp_path / name


def test_both_layouts_resolve(tmp_path):
    safe = _safe(tmp_path)
    write_raster(tmp_path / "multi.tif", np.zeros((5, 4, 4), np.uint16))
    (tmp_path / "sheet.csv").write_text(
        "scene_id,date,path\n"
        f"s2,2024-06-01,{safe.name}\n"
        "m1,2024-06-02,multi.tif\n"
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


@pytest.mark.parametrize(("text", "message"), [
    ("id,date,path\n", r"missing column\(s\) scene_id"),
    ("scene_id,date,path\n", "no scenes"),
    ("scene_id,date,path\na,2024-01-01,x.tif\na,2024-01-02,y.tif\n",
     r"line 3: duplicate scene_id 'a' \(first on line 2\)"),
    ("scene_id,date,path\na,01/02/2024,x.tif\n", "date '01/02/2024' of scene 'a' does not parse"),
    ("scene_id,date,path\n../evil,2024-01-01,x.tif\n", "scene_id '../evil' is not valid"),
    ("scene_id,date,path\na,2024-01-01,\n", "scene 'a' has no path"),
])
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
    with pytest.raises(InputDataError, match=r"pattern '\*_B04_10m.jp2' of scenes.bands.red "
                                             r"matches .*T1_B04_10m.jp2, .*T2_B04_10m.jp2"):
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
    assert listing(str(safe)) == filesystem_listing(str(safe)) == [
        "GRANULE/L2A/IMG_DATA/B04.jp2", "manifest.safe"]
    assert listing(str(tmp_path / "one.tif")) is None
    assert sorted(walked) == sorted(str(p) for p in (
        safe, safe / "GRANULE", safe / "GRANULE" / "L2A", safe / "GRANULE" / "L2A" / "IMG_DATA"))
