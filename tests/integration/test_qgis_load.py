"""The QGIS styles as QGIS itself reads them: Debian's PyQGIS (python3-qgis, from
tools/system-deps) opens each raster, which loads the ``.qml`` beside it as its default
style, and draws it; the colours QGIS draws are the report's. Fails, it does not skip,
when PyQGIS is missing."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers import write_raster
from matplotlib import colormaps
from qgis_check import qgis_draws

from rasterflow import qgis, quicklook


def test_qgis_draws_the_products_with_the_reports_colours(tmp_path):
    ndvi = np.linspace(-0.6, 0.95, 24 * 20, dtype="float32").reshape(24, 20)
    ndvi[:3, :4] = np.nan
    counts = (np.arange(24 * 20, dtype="uint16").reshape(24, 20) // 40) % 5
    slope = np.random.default_rng(1).gamma(2.0, 5.0, (24, 20)).astype("float32")
    bands = np.random.default_rng(2).uniform(0.01, 0.3, (4, 24, 20)).astype("float32")
    rasters = {
        "NDVI": write_raster(tmp_path / "NDVI.tif", ndvi, nodata=float("nan")),
        "NDVI_count": write_raster(tmp_path / "NDVI_count.tif", counts, nodata=0),
        "slope": write_raster(tmp_path / "slope.tif", slope, nodata=-9999.0),
        "bands": write_raster(tmp_path / "bands.tif", bands, nodata=float("nan")),
    }
    with rasterio.open(rasters["bands"], "r+") as dst:
        dst.descriptions = ("blue", "green", "red", "nir")
    for product, path in rasters.items():
        qgis.write_style(path, product=product)
    drawn = qgis_draws(rasters.values(), tmp_path)

    def rgba(product):
        return np.array(drawn[str(rasters[product])]["rgba"], dtype=float)

    # an index: QGIS's ramp over -1..1 gives the report's colours within a shade
    info = drawn[str(rasters["NDVI"])]
    assert info["valid"] and info["type"] == "singlebandpseudocolor"
    assert info["range"] == [-1.0, 1.0]
    got = rgba("NDVI")
    assert (got[:3, :4, 3] == 0).all()  # nodata drawn empty
    want = colormaps["RdYlGn"]((np.nan_to_num(ndvi) + 1) / 2)[..., :3] * 255
    valid = ~np.isnan(ndvi)
    assert np.abs(got[..., :3][valid] - want[valid]).max() <= 6

    # counts: one exact colour per value, 0 (the file's nodata now) drawn empty
    info = drawn[str(rasters["NDVI_count"])]
    assert info["nodata"] == 0 and info["ramp"] == 2  # QgsColorRampShader.Exact
    got = rgba("NDVI_count")
    assert (got[counts == 0, 3] == 0).all()
    classes = colormaps["viridis"].resampled(int(counts.max()) + 1)
    for value in range(1, int(counts.max()) + 1):
        want = np.round(np.array(classes(value)[:3]) * 255)
        assert (got[counts == value, :3] == want).all(), value

    # terrain: the range the report takes from the data
    scale = quicklook.product_scale(rasters["slope"], product="slope")
    assert drawn[str(rasters["slope"])]["range"] == pytest.approx([scale.lo, scale.hi])

    # a band composite: true colour, red from the band named red
    assert drawn[str(rasters["bands"])]["bands"] == [3, 2, 1]
    assert rgba("bands")[..., 3].min() == 255
