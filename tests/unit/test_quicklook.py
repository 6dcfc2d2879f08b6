"""Quicklook PNGs: styles per product, transparent nodata, units, same bytes twice."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers import write_raster
from PIL import Image

from rasterflow import quicklook


@pytest.mark.parametrize(
    ("product", "cmap", "vmin", "vmax"),
    [
        ("NDVI", "RdYlGn", -1.0, 1.0),  # fixed range: periods compare by eye
        ("NBR", "BrBG", -1.0, 1.0),
        ("aspect", "twilight", 0.0, 360.0),  # cyclic: 0 and 360 share a colour
        ("slope", "magma_r", 0.0, None),
        ("hillshade", "gray", None, None),
    ],
)
def test_style_per_product(product, cmap, vmin, vmax):
    style = quicklook.style_for(product)
    assert (style.cmap, style.vmin, style.vmax) == (cmap, vmin, vmax)
    assert not style.discrete


def test_counts_are_discrete_and_labels_carry_units():
    assert quicklook.style_for("NDVI_count").discrete
    assert quicklook.style_for("slope", units="percent").label == "slope (percent)"
    assert "degrees" in quicklook.style_for("aspect").label


@pytest.mark.parametrize(
    ("product", "units", "label"),
    [
        ("NDVI", "1", "NDVI"),  # GDAL's unit "1" of a ratio: no unit to show (was "NDVI (1)")
        ("NBR", None, "NBR"),
        ("NDVI_count", "observations", "valid observations"),  # not "(observations)"
        ("slope", "degrees", "slope (degrees)"),
        ("slope", None, "slope (degrees)"),
        ("aspect", "degrees", "aspect (degrees clockwise from north)"),
        ("tri", "m", "tri (m)"),
        ("elevation", "unitless", "elevation"),
    ],
)
def test_colour_bar_labels_show_only_meaningful_units(product, units, label):
    assert quicklook.style_for(product, units=units).label == label


def test_extend_arrows_where_the_data_leave_the_scale():
    def masked(values):
        return np.ma.masked_invalid(np.array(values, dtype="float64"))

    assert quicklook.extend_for(masked([-0.5, 0.2, 0.9]), -1.0, 1.0) == "neither"
    assert quicklook.extend_for(masked([-0.5, 1.3, np.nan]), -1.0, 1.0) == "max"
    assert quicklook.extend_for(masked([-1.2, 0.0]), -1.0, 1.0) == "min"
    assert quicklook.extend_for(masked([-1.2, 1.2]), -1.0, 1.0) == "both"
    assert quicklook.extend_for(masked([np.nan]), -1.0, 1.0) == "neither"


def test_quicklooks_are_large_and_map_pages_enlarge_to_full_resolution(tmp_path):
    import base64
    import re

    data = np.linspace(-1.5, 1.5, 60 * 80, dtype="float32").reshape(60, 80)
    src = write_raster(tmp_path / "ndvi.tif", data, nodata=float("nan"))
    png = quicklook.render(src, tmp_path / "q.png", product="NDVI", title="NDVI median")
    size = Image.open(png).size
    assert size == (quicklook.FIGSIZE[0] * quicklook.DPI, quicklook.FIGSIZE[1] * quicklook.DPI)
    assert size[0] >= 1200  # was 700: ~430 px on the report's panel
    page = quicklook.map_page(png, tmp_path / "q.html", title="NDVI <median>").read_text()
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page)[1]
    assert base64.b64decode(embedded) == png.read_bytes()  # the full PNG, not a thumbnail
    assert f'width="{size[0]}" height="{size[1]}"' in page
    assert "max-width: 100%" in page and "classList.toggle('full')" in page
    assert "#map.full { max-width: none;" in page and "NDVI &lt;median&gt;" in page


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
    painted = np.argwhere(
        (np.abs(rgba[..., :3].astype(int) - colour[:3]).max(axis=2) <= 1) & (rgba[..., 3] == 255)
    )
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
    painted = np.nonzero(
        ((rgba[..., 3] == 255) & (rgba[..., :3].sum(axis=2) < 600)).sum(axis=1) > 100
    )[0]
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


def test_scenes_to_draw_are_a_few_or_the_configured_ones():
    from rasterflow.errors import ConfigError

    scenes = ["A_1", "A_2", "B_1", "B_2"]
    assert quicklook.scenes_to_draw(scenes, count=2) == ["A_1", "A_2"]
    assert quicklook.scenes_to_draw(scenes, count=0) == []
    assert quicklook.scenes_to_draw(scenes, chosen=["B_2", "A_1"], count=1) == ["B_2", "A_1"]
    with pytest.raises(ConfigError, match=r"report.scenes: 'C_9' not among the run's scenes"):
        quicklook.scenes_to_draw(scenes, chosen=["C_9"])


def test_trend_slopes_are_drawn_diverging_and_symmetric_about_zero():
    style = quicklook.style_for("NDVI_trend", units="index units per year")
    assert style.cmap == "RdBu" and style.centred and not style.discrete
    assert style.label == "NDVI trend (index units per year)"
    data = np.ma.masked_invalid(np.array([-0.1, 0.02, 0.3, np.nan]))
    assert quicklook._limits(data, style) == pytest.approx((-0.3, 0.3), rel=0.1)
    lo, hi = quicklook._limits(data, style)
    assert lo == -hi  # white is no change


def test_band_composites_are_drawn_in_true_colour_with_nodata_transparent(tmp_path):
    bands = np.full((4, 60, 80), 0.02, dtype="float32")  # blue, green, red, nir
    bands[2, :, 40:] = 0.3  # the eastern half red
    bands[0, :, :20] = np.nan  # the western quarter lacks blue: no colour there
    src = write_raster(tmp_path / "bands.tif", bands, nodata=float("nan"))
    with rasterio.open(src, "r+") as dst:
        dst.descriptions = ("blue", "green", "red", "nir")
    rgba = _rgba(quicklook.render_rgb(src, tmp_path / "b.png", title="bands"))
    clear = np.argwhere(rgba[..., 3] == 0)
    red = np.argwhere(
        (rgba[..., 0] == 255) & (rgba[..., 1] < 128) & (rgba[..., 2] < 128) & (rgba[..., 3] == 255)
    )
    assert len(clear) > 500 and len(red) > 1000
    assert clear[:, 1].max() < red[:, 1].min()  # west empty, east red
    assert abs(len(red) - 2 * len(clear)) < 0.15 * len(red)  # half against a quarter
    assert quicklook.colour_bands(["blue", "green", "red", "nir"]) == (3, 2, 1)


def test_maps_drawn_side_by_side_equal_those_drawn_one_by_one(tmp_path):
    rng = np.random.default_rng(5)
    drawings = {1: [], 2: []}
    for i, product in enumerate(["NDVI", "NDVI_count", "slope", "NBR"]):
        if "count" in product:
            data, nodata = rng.integers(0, 6, (40, 50)).astype(np.uint16), 0
        else:
            data, nodata = rng.random((40, 50)).astype(np.float32), float("nan")
        src = write_raster(tmp_path / f"{product}.tif", data, nodata=nodata)
        for processes in drawings:
            out = tmp_path / str(processes)
            drawings[processes].append(
                quicklook.Drawing(
                    str(src), str(out / f"{i}.png"), str(out / f"{i}.html"), product, product
                )
            )
    one = list(quicklook.draw_all(drawings[1], processes=1))
    two = list(quicklook.draw_all(drawings[2], processes=2))
    assert one == drawings[1] and two == drawings[2]  # each once, in order
    for a, b in zip(one, two, strict=True):
        assert open(a.png, "rb").read() == open(b.png, "rb").read()
        assert open(b.page, encoding="utf-8").read().count("data:image/png;base64,") == 1
