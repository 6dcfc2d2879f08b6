"""Composites of the demo scenes: run_scenes (indices computed in memory) against run over
the index rasters run_all writes. Whole tiles of real scenes: too slow for tests/unit."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from cases.composite import read_band
from odc.geo.geobox import GeoBox

from rasterflow import composite


@pytest.fixture(scope="module")
def demo_scenes(demo_data):
    """The demo's scenes (10 m bands, 20 m SWIR and SCL mask) as the shipped config reads them."""
    import yaml
    from helpers import REPO

    from rasterflow.scenes import load_scenes

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["scenes"]
    return list(
        load_scenes(demo_data / "scenes.csv", bands=cfg["bands"], mask=cfg["mask"]).values()
    )


@pytest.mark.parametrize(
    ("crs", "res", "resampling"),
    [
        ("EPSG:3067", 10, "bilinear"),  # the compiled kernel, affine
        ("EPSG:3067", 20, "average"),  # GDAL's warper, from memory (the demo's case)
        ("EPSG:32634", 10, "bilinear"),  # the kernel, through the polynomial, across CRSs
    ],
)
def test_composites_from_the_bands_equal_those_from_index_rasters(
    demo_scenes, tmp_path, crs, res, resampling
):
    """run_scenes computes the indices in memory window by window; its pixels are those of
    run() over the index rasters run_all writes, bit for bit, 20 m bands and mask included."""
    from odc.geo.geom import BoundingBox

    from rasterflow import indices

    exprs = {"NDVI": indices.BUILTIN["NDVI"], "NBR": indices.BUILTIN["NBR"]}  # NBR: 20 m swir2
    parsed = [indices.parse(n, t) for n, t in exprs.items()]
    files: dict[str, list[str]] = {n: [] for n in exprs}
    for scene in demo_scenes:
        outs = [str(tmp_path / scene.id / f"{n}.tif") for n in exprs]
        (tmp_path / scene.id).mkdir()
        indices.run_all(scene=scene, exprs=parsed, outputs=outs, chunk=256)
        for n, o in zip(exprs, outs, strict=True):
            files[n].append(o)
    aoi = BoundingBox(380000, 6694960, 386240, 6700000, "EPSG:3067").to_crs(crs)
    tile = GeoBox.from_bbox(aoi, crs, resolution=res)
    direct = {n: (tmp_path / f"{n}.tif", tmp_path / f"{n}_n.tif") for n in exprs}
    composite.run_scenes(
        scenes=demo_scenes,
        expressions=exprs,
        tile=tile,
        outputs=[str(v[0]) for v in direct.values()],
        count_outputs=[str(v[1]) for v in direct.values()],
        resampling=resampling,
        chunk=128,
    )
    for name in exprs:
        stat, count = tmp_path / f"{name}_ref.tif", tmp_path / f"{name}_ref_n.tif"
        composite.run(
            inputs=files[name],
            tile=tile,
            output=str(stat),
            count_output=str(count),
            resampling=resampling,
            chunk=96,
        )
        np.testing.assert_array_equal(read_band(direct[name][0]), read_band(stat), err_msg=name)
        np.testing.assert_array_equal(read_band(direct[name][1]), read_band(count), err_msg=name)
        n = read_band(count)
        assert n.max() >= 2 and (n == 0).any()  # overlaps, and gaps (clouds, edges)
        with rasterio.open(direct[name][0]) as src:
            assert src.tags()["INDEX"] == name and src.descriptions == (f"{name}_median",)
