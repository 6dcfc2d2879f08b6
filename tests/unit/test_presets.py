"""Sensor presets and Sentinel-2 SAFE scaling (rasterflow.presets)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import REPO, write_raster

from rasterflow import settings
from rasterflow.errors import ConfigError, InputDataError
from rasterflow.indices import parse, window_indices
from rasterflow.presets import safe_scaling
from rasterflow.scenes import load_scenes, scene_grid

SCHEMA = REPO / "config" / "schema.yaml"

MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info><Product_Image_Characteristics>
    <QUANTIFICATION_VALUES_LIST>
      <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
      <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
    </QUANTIFICATION_VALUES_LIST>
    {offsets}
  </Product_Image_Characteristics></n1:General_Info>
</n1:Level-2A_User_Product>
"""
OFFSETS = (
    "<BOA_ADD_OFFSET_VALUES_LIST>"
    + "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
    + "</BOA_ADD_OFFSET_VALUES_LIST>"
)


def _checked(scenes):
    config = {"scenes": copy.deepcopy(scenes)}
    settings.check_config(config, SCHEMA)
    return config["scenes"]


def test_presets_name_their_masks_fill_and_a_value_cannot_be_fill_and_valid():
    assert _checked({"preset": "sentinel2-l2a"})["mask"]["fill"] == [0]  # SCL no data
    assert _checked({"preset": "landsat8-9-c2-l2"})["mask"]["fill"] == [1]  # QA fill
    with pytest.raises(ConfigError, match=r"scenes.mask: 0 in both fill \(no data\) and valid"):
        _checked({"mask": {"pattern": "*_SCL_20m.tif", "valid": [0, 4, 5], "fill": [0]}})


def test_a_preset_fills_bands_and_mask_and_the_user_s_roles_win():
    scenes = _checked({"preset": "sentinel2-l2a", "bands": {"red": {"pattern": "*_B04_20m.jp2"}}})
    assert scenes["bands"]["nir"]["pattern"] == "*_B08_10m.jp2"
    assert (scenes["bands"]["swir2"]["scale"], scenes["bands"]["swir2"]["offset"]) == (0.0001, -0.1)
    assert scenes["bands"]["red"] == {
        "band": None,
        "pattern": "*_B04_20m.jp2",
        "asset": None,
        "scale": 1.0,
        "offset": 0.0,
        "nodata": None,
    }
    assert scenes["mask"] == {"pattern": "*_SCL_20m.jp2", "valid": [4, 5, 6, 7, 11], "fill": [0]}
    landsat = _checked({"preset": "landsat8-9-c2-l2"})
    assert landsat["bands"]["red"]["pattern"] == "*_SR_B4.TIF"
    assert landsat["bands"]["red"]["scale"] == 0.0000275
    assert landsat["mask"]["invalid_bits"] == [0, 1, 2, 3, 4]
    assert _checked({"preset": "landsat4-7-c2-l2"})["bands"]["red"]["pattern"] == "*_SR_B3.TIF"


def _safe(root, name, reflectance, *, baseline_04):
    """A SAFE with B04 and B08 of ``reflectance`` (red, nir) as that baseline stores it."""
    granule = root / f"{name}.SAFE" / "GRANULE" / "L2A_T33UVP" / "IMG_DATA" / "R10m"
    granule.mkdir(parents=True)
    for band, value in zip(("B04", "B08"), reflectance, strict=True):
        dn = np.round(value * 10000 + (1000 if baseline_04 else 0)).astype(np.uint16)
        write_raster(granule / f"T33UVP_{name}_{band}_10m.jp2.tif", dn)
        (granule / f"T33UVP_{name}_{band}_10m.jp2.tif").rename(
            granule / f"T33UVP_{name}_{band}_10m.jp2"
        )
    (root / f"{name}.SAFE" / "MTD_MSIL2A.xml").write_text(
        MTD.format(offsets=OFFSETS if baseline_04 else "")
    )
    return root / f"{name}.SAFE"


def test_scenes_before_and_after_baseline_04_give_the_same_reflectance(tmp_path):
    rng = np.random.default_rng(3)
    red = rng.uniform(0.02, 0.3, (32, 32))
    nir = rng.uniform(0.2, 0.6, (32, 32))
    _safe(tmp_path, "S2A_20211201", (red, nir), baseline_04=False)
    _safe(tmp_path, "S2A_20220601", (red, nir), baseline_04=True)
    (tmp_path / "scenes.csv").write_text(
        "scene_id,date,path\nold,2021-12-01,S2A_20211201.SAFE\nnew,2022-06-01,S2A_20220601.SAFE\n"
    )
    cfg = _checked({"preset": "sentinel2-l2a"})
    bands = {r: cfg["bands"][r] for r in ("red", "nir")}
    scenes = load_scenes(tmp_path / "scenes.csv", bands=bands, mask=None)
    assert (scenes["old"].bands["red"].scale, scenes["old"].bands["red"].offset) == (0.0001, 0.0)
    assert (scenes["new"].bands["red"].scale, scenes["new"].bands["red"].offset) == (0.0001, -0.1)
    exprs = [parse("R", "red"), parse("N", "nir"), parse("NDVI", "(nir - red) / (nir + red)")]
    got = {
        sid: window_indices(
            sc, exprs, scene_grid(sc, ["red", "nir"]), (0, 0, 32, 32), resampling="bilinear"
        )
        for sid, sc in scenes.items()
    }
    np.testing.assert_allclose(got["old"][0], red, atol=5e-5)  # DN rounding
    np.testing.assert_allclose(got["new"][:2], got["old"][:2], atol=1e-6)
    np.testing.assert_allclose(got["new"][2], got["old"][2], atol=1e-5)
    # with the metadata ignored, the config's offset is applied to both: wrong by 0.1
    plain = load_scenes(tmp_path / "scenes.csv", bands=bands, mask=None, product_metadata=False)
    assert plain["old"].bands["red"].offset == -0.1


def test_an_l2a_metadata_file_without_quantification_is_refused(tmp_path):
    (tmp_path / "MTD_MSIL2A.xml").write_text("<root><x/></root>")
    with pytest.raises(InputDataError, match="no BOA_QUANTIFICATION_VALUE"):
        safe_scaling(str(tmp_path))
    assert safe_scaling(str(tmp_path / "none")) is None


def test_an_edit_to_a_safe_s_metadata_in_place_expires_the_cached_plan(tmp_path, monkeypatch):
    """The metadata sets the bands' scale and offset, so a plan made before an edit (in
    place: the folder's mtime unchanged) must not be loaded after it."""
    import os

    from rasterflow.workflow import plan_workflow

    monkeypatch.chdir(tmp_path)
    value = np.full((32, 32), 0.2)
    safe = _safe(tmp_path, "S2A_20220601", (value, value), baseline_04=True)
    (tmp_path / "scenes.csv").write_text("scene_id,date,path\nnew,2022-06-01,S2A_20220601.SAFE\n")
    band = {"scale": 0.0001, "offset": 0.0, "nodata": 0}
    config = {
        "demo": False,
        "results": str(tmp_path / "results"),
        "indices": ["NDVI"],
        "scenes": {
            "sheet": "scenes.csv",
            "mask": None,
            "bands": {
                "red": {"pattern": "*_B04_10m.jp2", **band},
                "nir": {"pattern": "*_B08_10m.jp2", **band},
            },
        },
        "grid": {"crs": "EPSG:32633", "resolution": 10},
        "terrain": {"products": []},
    }
    settings.check_config(config, SCHEMA)

    def plan():
        return plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))

    first = plan()
    assert first.scenes["new"].bands["red"].offset == -0.1  # baseline 04.00's
    assert plan().loaded
    folder_mtime = safe.stat().st_mtime_ns
    metadata = safe / "MTD_MSIL2A.xml"
    metadata.write_text(MTD.format(offsets=""))  # as before baseline 04.00: no offset
    os.utime(safe, ns=(folder_mtime, folder_mtime))
    again = plan()
    assert not again.loaded and again.scenes["new"].bands["red"].offset == 0.0
