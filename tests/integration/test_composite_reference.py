"""Composites against gdalwarp (GDAL's own program, Debian gdal-bin), run as a subprocess."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from cases.composite import read_band, write_scene
from odc.geo.geobox import GeoBox
from rasterio.transform import from_origin

from rasterflow import composite, warp


@pytest.mark.parametrize(
    ("res", "gdal_scale"),
    [
        (28.49999999927454, "0.95"),  # Landsat's 28.5 m as a header stores it: 0.95 - 2.4e-11
        (28.500000001, "0.95"),  # 0.95 + 3e-11
        (28.2, None),  # 0.94: GDAL's widened kernel, here and in plain gdalwarp
        (29.0, None),  # 0.967: the 2 x 2 kernel
        (30 - 3e-9, None),  # 1 - 1e-10
        (30 + 3e-9, None),  # 1 + 1e-10
    ],
)
def test_one_scene_composite_equals_gdalwarp_on_both_sides_of_each_scale_threshold(
    tmp_path, res, gdal_scale
):
    """No method switch on a pixel size's last digits (issue #17): a scale within 1e-8 of
    0.95 or 1 is that value for the kernel's choice and for GDAL alike. Plain gdalwarp
    picks its kernel from each warped chunk's size ratio, which at exactly 0.95 falls
    either side (0.1 apart on noise); given XSCALE=0.95 it is the reference there."""
    import subprocess

    rng = np.random.default_rng(7)
    src = tmp_path / "src.tif"
    write_scene(
        src,
        rng.uniform(0, 1, (300, 300)).astype(np.float32),
        crs="EPSG:32633",
        x0=500015,
        y0=4000005,
        res=res,
        date="2024-06-01",
    )
    tile = GeoBox((200, 200), from_origin(500615, 3999405, 30, 30), "EPSG:32633")
    if gdal_scale:
        assert warp.warp_scale(GeoBox.from_rio(rasterio.open(src)), tile).x == 0.95
    out = tmp_path / "c.tif"
    composite.run(inputs=[str(src)], tile=tile, output=str(out), statistic="mean", chunk=64)
    b = tile.boundingbox
    scale = ["-wo", f"XSCALE={gdal_scale}", "-wo", f"YSCALE={gdal_scale}"] if gdal_scale else []
    subprocess.run(
        [
            "gdalwarp",
            "-q",
            "-r",
            "bilinear",
            *scale,
            "-te",
            *map(repr, b),
            "-tr",
            "30",
            "30",
            "-dstnodata",
            "nan",
            str(src),
            str(tmp_path / "g.tif"),
        ],
        check=True,
    )
    ours, theirs = read_band(out), read_band(tmp_path / "g.tif")
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
