"""The demo's QGIS styles as QGIS reads them (tests/qgis_check.py: Debian's PyQGIS)."""

from __future__ import annotations

import pytest
from qgis_check import qgis_draws, qgis_project

pytestmark = pytest.mark.workflow


def test_qgis_loads_the_styles_of_the_demo_run(demo_run, tmp_path):
    """Every raster product of the demo has a .qml beside it, QGIS loads each with the
    renderer rasterflow chose, and rasterflow's count COGs have nodata 0."""
    results = demo_run / "results"
    inputs = (results / "report", results / "demo")  # the demo's own inputs: not products
    rasters = sorted(
        p for p in results.rglob("*.tif") if not any(p.is_relative_to(d) for d in inputs)
    )
    assert rasters and all(r.with_suffix(".qml").is_file() for r in rasters), [
        str(r) for r in rasters if not r.with_suffix(".qml").is_file()
    ]
    kinds = {r.relative_to(results).parts[0] for r in rasters}
    assert {"mosaics", "composites", "terrain", "trend", "indices"} <= kinds
    drawn = qgis_draws(rasters, tmp_path)
    composites = 0
    for raster in rasters:
        info = drawn[str(raster)]
        # composite.bands (the demo's greenest pixel): a colour composite, its count not
        if "bands" in (raster.parent.name, raster.stem) and not raster.stem.endswith("_count"):
            assert info["valid"] and info["type"] == "multibandcolor", raster
            composites += 1
            continue
        assert info["valid"] and info["type"] == "singlebandpseudocolor", raster
        if raster.stem.endswith("_count"):
            assert info["nodata"] == 0 and info["ramp"] == 2, raster  # QgsColorRampShader.Exact
        else:
            assert info["ramp"] == 0, raster  # QgsColorRampShader.Interpolated
    assert composites >= 2  # a tile's and a mosaic's at least


def test_qgis_opens_the_demo_project_with_every_layer(demo_run, tmp_path):
    """rasterflow.qgs lists every mosaic (and count), terrain product, trend, contour
    and zonal layer; QGIS reads it with the results' CRS, every layer valid, rasters
    drawn with the range of the .qml beside them."""
    import xml.etree.ElementTree as ET

    results = demo_run / "results"
    project = qgis_project(results / "rasterflow.qgs", tmp_path)
    assert project["read"] and project["crs"] == "EPSG:3067"
    layers = project["layers"]
    assert layers and all(layer["valid"] for layer in layers), layers
    groups = [layer["group"] for layer in layers]
    assert groups.index("zonal statistics") < groups.index("contours") < groups.index("terrain")
    sources = {layer["source"].split("|")[0] for layer in layers}
    expected = {str(p) for p in (results / "mosaics").glob("*/*.tif")}
    expected |= {str(p) for p in (results / "terrain").glob("*.tif")}
    expected |= {str(p) for p in (results / "zonal").glob("*/*.gpkg")}
    assert expected <= sources, expected - sources
    drawn = [layer["name"] for layer in layers if layer["visible"]]
    assert drawn == ["contours of dem", "NDVI 2024-JJA", "hillshade"]
    for layer in layers:
        if "range" in layer:  # the style's range, as in the .qml QGIS would load alone
            qml = ET.parse(layer["source"].removesuffix(".tif") + ".qml").getroot()
            renderer = qml.find("pipe/rasterrenderer")
            assert layer["range"] == [
                float(renderer.get("classificationMin")),
                float(renderer.get("classificationMax")),
            ], layer["name"]
