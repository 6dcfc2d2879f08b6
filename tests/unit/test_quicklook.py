"""Quicklook PNGs: styles per product, transparent nodata, units, same bytes twice."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers import write_raster
from PIL import Image

from rasterflow import quicklook


@pytest.mark.parametrize(("product", "cmap", "vmin", "vmax"), [
    ("NDVI", "RdYlGn", -1.0, 1.0),      # fixed range: periods compare by eye
    ("NBR", "BrBG", -1.0, 1.0),
    ("aspect", "twilight", 0.0, 360.0),  # cyclic: 0 and 360 share a colour
    ("slope", "magma_r", 0.0, None),
    ("hillshade", "gray", None, None),
])
def test_style_per_product(product, cmap, vmin, vmax):
    style = quicklook.style_for(product)
    assert (style.cmap, style.vmin, style.vmax) == (cmap, vmin, vmax)
    assert not style.discrete


def test_counts_are_discrete_and_labels_carry_units():
    assert quicklook.style_for("NDVI_count").discrete
    assert quicklook.style_for("slope", units="percent").label == "slope (percent)"
    assert "degrees" in quicklook.style_for("aspect").label


def _rgba(path):
    return np.asarray(Image.open(path).convert("RGBA"))


def test_nodata_is_transparent_and_values_are_coloured(tmp_path):
    data = np.full((60, 80), 0.5, dtype="float32")
    data[:, :40] = np.nan  # the western half has no data
    src = write_raster(tmp_path / "ndvi.tif", data, nodata=float("nan"))
    png = quicklook.render(src, tmp_path / "ndvi.png", product="NDVI", title="test")
    rgba = _rgba(png)
    clear = np.argwhere(rgba[..., 3] == 0)
    from matplotlib import pyplot as plt

    colour = (np.array(plt.get_cmap("RdYlGn")(0.75)) * 255).round().astype(int)  # 0.5 on -1..1
    painted = np.argwhere((np.abs(rgba[..., :3].astype(int) - colour[:3]).max(axis=2) <= 1)
                          & (rgba[..., 3] == 255))
    assert len(clear) > 1000 and len(painted) > 1000
    # transparent pixels are the western half of the map, coloured ones the eastern
    assert clear[:, 1].max() <= painted[:, 1].min()
    assert abs(len(clear) - len(painted)) < 0.1 * len(painted)
    assert (rgba[0, :, 3] == 255).all()  # margins stay opaque


def test_zero_counts_are_transparent(tmp_path):
    data = np.zeros((50, 50), dtype="uint16")
    data[25:, :] = 3
    src = write_raster(tmp_path / "count.tif", data)
    rgba = _rgba(quicklook.render(src, tmp_path / "c.png", product="NDVI_count", title="t"))
    rows = np.nonzero((rgba[..., 3] == 0).any(axis=1))[0]
    painted = np.nonzero(((rgba[..., 3] == 255) & (rgba[..., :3].sum(axis=2) < 600))
                         .sum(axis=1) > 100)[0]
    assert rows.size and painted.size and rows.max() < painted.max()


def test_same_raster_same_png_bytes(tmp_path):
    data = np.linspace(0, 30, 40 * 40, dtype="float32").reshape(40, 40)
    src = write_raster(tmp_path / "slope.tif", data, nodata=-9999)
    a = quicklook.render(src, tmp_path / "a.png", product="slope", title="s").read_bytes()
    b = quicklook.render(src, tmp_path / "b.png", product="slope", title="s").read_bytes()
    assert a == b and b"Software" not in a and b"Date" not in a


def test_band_units_from_gdal_unit_or_tag(tmp_path):
    path = write_raster(tmp_path / "s.tif", np.ones((4, 4), "float32"))
    assert quicklook.band_units(path) is None
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(1, UNITS="height units")
    assert quicklook.band_units(path) == "height units"
    with rasterio.open(path, "r+") as dst:
        dst.set_band_unit(1, "metre")
    assert quicklook.band_units(path) == "metre"


def test_large_rasters_are_read_decimated(tmp_path):
    path = write_raster(tmp_path / "big.tif", np.ones((300, 500), "float32"))
    data, extent, crs = quicklook.read_for_display(path, max_pixels=100)
    assert max(data.shape) <= 100 and crs == "EPSG:32633"
    assert extent == (500_000.0, 505_000.0, 5_997_000.0, 6_000_000.0)


def test_trend_slopes_are_drawn_diverging_and_symmetric_about_zero():
    style = quicklook.style_for("NDVI_trend", units="index units per year")
    assert style.cmap == "RdBu" and style.centred and not style.discrete
    assert style.label == "NDVI trend (index units per year)"
    data = np.ma.masked_invalid(np.array([-0.1, 0.02, 0.3, np.nan]))
    assert quicklook._limits(data, style) == pytest.approx((-0.3, 0.3), rel=0.1)
    lo, hi = quicklook._limits(data, style)
    assert lo == -hi  # white is no change
