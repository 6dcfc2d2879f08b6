"""The synthetic demo: deterministic, complete, and realistic enough to be useful."""

from __future__ import annotations

import hashlib

import numpy as np
import rasterio

from rasterflow import demo


def test_generate_writes_exactly_the_planned_files(demo_data):
    written = sorted(str(p.relative_to(demo_data)) for p in demo_data.rglob("*") if p.is_file())
    assert written == sorted(demo.planned_files())


def test_generation_is_deterministic(demo_data, tmp_path):
    demo.generate(tmp_path)
    for rel in demo.planned_files():
        if rel.endswith(".tif"):
            a = hashlib.sha256((demo_data / rel).read_bytes()).hexdigest()
            b = hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest()
            assert a == b, rel


def test_scenes_have_landscape_clouds_and_nodata(demo_data):
    fp = demo.FOOTPRINTS[0]
    with rasterio.open(demo_data / f"scenes/{demo.scene_id(fp, fp.dates[1])}.tif") as src:
        assert src.count == 7 and src.crs.to_epsg() == 3067 and src.res == (10.0, 10.0)
        dn = src.read()
    scl = dn[6]
    assert {0, 4, 5, 6}.issubset(set(np.unique(scl)))  # nodata, vegetation, bare, water
    assert np.isin(scl, [8, 9]).any() and (scl == 3).any()  # clouds and shadows
    red = dn[2] * 1e-4 - 0.1
    nir = dn[3] * 1e-4 - 0.1
    clear = np.isin(scl, [4, 5, 6])
    ndvi = (nir - red) / (nir + red)
    assert np.median(ndvi[clear & (scl == 4)]) > 0.5  # vegetation is green
    assert np.median(ndvi[clear & (scl == 6)]) < 0.0  # water is not
    assert (dn[:6, scl == 0] == 0).all()  # nodata edge in every band


def test_safe_layout_has_20m_swir_and_mask(demo_data):
    fp = demo.FOOTPRINTS[1]
    safe = [f for f in demo.planned_files() if ".SAFE/" in f]
    assert any(f.endswith("_B12_20m.tif") for f in safe)
    scl = next(f for f in safe if f.endswith("_SCL_20m.tif"))
    with rasterio.open(demo_data / scl) as src:
        assert src.res == (20.0, 20.0) and src.width == demo.SIZE // 2
        assert src.bounds.left == fp.x0
