"""QGIS styles: the report's colour map and range, written as QGIS writes them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from helpers import write_raster
from matplotlib import colormaps

from rasterflow import qgis, quicklook


def _renderer(qml):
    root = ET.parse(qml).getroot()
    assert root.tag == "qgis" and root.get("version", "").startswith("3.")
    return root.find("pipe/rasterrenderer")


def _hex(rgba):
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgba[:3])


def test_index_style_is_the_reports_fixed_range_and_colour_map(tmp_path):
    data = np.linspace(-0.5, 0.9, 400, dtype="float32").reshape(20, 20)
    data[0, :5] = np.nan
    raster = write_raster(tmp_path / "NDVI.tif", data, nodata=float("nan"))
    qml = qgis.write_style(raster, product="NDVI")
    assert qml == tmp_path / "NDVI.qml"  # QGIS's default style of NDVI.tif (and .vrt)
    renderer = _renderer(qml)
    assert renderer.get("type") == "singlebandpseudocolor" and renderer.get("band") == "1"
    # -1..1 as in the report, not the data's -0.5..0.9: periods compare by eye
    assert (renderer.get("classificationMin"), renderer.get("classificationMax")) == ("-1", "1")
    shader = renderer.find("rastershader/colorrampshader")
    assert shader.get("colorRampType") == "INTERPOLATED" and shader.get("clip") == "0"
    items = shader.findall("item")
    values = [float(i.get("value")) for i in items]
    assert values[0] == -1 and values[-1] == 1 and values == sorted(values)
    cmap = colormaps[quicklook.style_for("NDVI").cmap]
    assert [i.get("color") for i in (items[0], items[len(items) // 2], items[-1])] == [
        _hex(cmap(0.0)),
        _hex(cmap(0.5)),
        _hex(cmap(1.0)),
    ]
    assert renderer.find("minMaxOrigin/limits").text == "None"  # never recomputed on load


def test_terrain_style_range_comes_from_the_data_as_in_the_report(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.gamma(2.0, 6.0, (64, 64)).astype("float32")
    raster = write_raster(tmp_path / "slope.tif", data, nodata=-9999.0)
    renderer = _renderer(qgis.write_style(raster, product="slope"))
    lo, hi = float(renderer.get("classificationMin")), float(renderer.get("classificationMax"))
    scale = quicklook.product_scale(raster, product="slope")
    assert (lo, hi) == (scale.lo, scale.hi) == (0.0, pytest.approx(np.percentile(data, 98)))


def test_count_style_is_one_colour_per_value_with_zero_transparent(tmp_path):
    data = np.arange(100, dtype="uint16").reshape(10, 10) % 6  # 0..5 observations
    raster = write_raster(tmp_path / "NDVI_count.tif", data, nodata=0)
    renderer = _renderer(qgis.write_style(raster, product="NDVI_count"))
    shader = renderer.find("rastershader/colorrampshader")
    assert shader.get("colorRampType") == "EXACT"
    items = shader.findall("item")
    # the report's discrete colour bar: 0 (drawn empty) to the most observations
    assert [float(i.get("value")) for i in items] == [0, 1, 2, 3, 4, 5]
    classes = colormaps["viridis"].resampled(6)
    assert [i.get("color") for i in items] == [_hex(classes(k)) for k in range(6)]
    entry = renderer.find("rasterTransparency/singleValuePixelList/pixelListEntry")
    assert (entry.get("min"), entry.get("max"), entry.get("percentTransparent")) == (
        "0",
        "0",
        "100",
    )


def test_trend_style_is_centred_on_no_change(tmp_path):
    data = np.stack([np.linspace(-0.02, 0.05, 100).reshape(10, 10)] * 3).astype("float32")
    raster = write_raster(tmp_path / "NDVI.tif", data, nodata=float("nan"))
    renderer = _renderer(qgis.write_style(raster, product="NDVI_trend"))
    lo, hi = float(renderer.get("classificationMin")), float(renderer.get("classificationMax"))
    assert lo == -hi and hi > 0.04 and renderer.get("band") == "1"  # the slope band


@pytest.mark.parametrize(
    ("names", "rgb"),
    [
        (["blue", "green", "red", "nir"], ("3", "2", "1")),  # true colour
        (["green", "red", "nir", "swir16"], ("3", "2", "1")),  # no blue: NIR, red, green
        (["swir16", "swir22", "nir08"], ("1", "2", "3")),
    ],
)
def test_band_composite_style_is_a_stretched_colour_composite(tmp_path, names, rgb):
    import rasterio

    rng = np.random.default_rng(0)
    data = rng.uniform(0.0, 0.4, (len(names), 32, 32)).astype("float32")
    raster = write_raster(tmp_path / "bands.tif", data, nodata=float("nan"))
    with rasterio.open(raster, "r+") as dst:
        dst.descriptions = tuple(names)
    renderer = _renderer(qgis.write_style(raster, product="bands"))
    assert renderer.get("type") == "multibandcolor"
    assert (renderer.get("redBand"), renderer.get("greenBand"), renderer.get("blueBand")) == rgb
    red = renderer.find("redContrastEnhancement")
    band = data[int(rgb[0]) - 1]
    assert float(red.find("minValue").text) == pytest.approx(np.percentile(band, 2), rel=1e-5)
    assert float(red.find("maxValue").text) == pytest.approx(np.percentile(band, 98), rel=1e-5)


def test_a_style_is_replaced_whole_and_leaves_no_scratch(tmp_path):
    raster = write_raster(tmp_path / "NBR.tif", np.zeros((4, 4), "float32"))
    (tmp_path / "NBR.qml").write_text("old")
    qgis.write_style(raster, product="NBR")
    assert (tmp_path / "NBR.qml").read_text().startswith("<!DOCTYPE qgis")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NBR.qml", "NBR.tif"]


def test_project_lists_layers_relative_to_itself_with_their_styles(tmp_path):
    (tmp_path / "mosaics").mkdir()
    ndvi = write_raster(tmp_path / "mosaics" / "NDVI.tif", np.zeros((4, 4), "float32"))
    qgis.write_style(ndvi, product="NDVI")
    layers = [
        qgis.ProjectLayer(str(tmp_path / "zonal" / "z.gpkg"), "z", "zonal", vector=True),
        qgis.ProjectLayer(str(ndvi), "NDVI 2024", "mosaics", visible=True),
    ]
    target = qgis.write_project(tmp_path / "rasterflow.qgs", layers, title="t")
    first = target.read_bytes()
    assert (
        qgis.write_project(target, layers, title="t").read_bytes() == first
    )  # no ids drawn at random
    root = ET.parse(target).getroot()
    assert root.find("projectCrs/spatialrefsys/authid").text == "EPSG:32633"
    tree = root.findall("layer-tree-group/layer-tree-group")
    assert [g.get("name") for g in tree] == ["zonal", "mosaics"]  # first drawn on top
    nodes = root.findall("layer-tree-group/layer-tree-group/layer-tree-layer")
    assert [n.get("source") for n in nodes] == ["./zonal/z.gpkg", "./mosaics/NDVI.tif"]
    assert [n.get("checked") for n in nodes] == ["Qt::Unchecked", "Qt::Checked"]
    maplayers = root.findall("projectlayers/maplayer")
    assert [m.find("id").text for m in maplayers] == [n.get("id") for n in nodes]
    assert all(len(n.get("id")) > 10 for n in nodes)  # shorter ones QGIS replaces
    assert maplayers[0].find("pipe") is None  # vectors: QGIS's default symbol
    pipe = maplayers[1].find("pipe/rasterrenderer")
    assert pipe.get("classificationMin") == "-1"  # the style beside the raster, embedded
    assert root.find("properties/Paths/Absolute").text == "false"
