"""QGIS layer styles beside the raster products: the report's colour map and range.

QGIS loads ``<name>.qml`` beside ``<name>.tif`` (or ``.vrt``) as the layer's default
style, so a product opened from the results folder looks as its map in the report: the
same Matplotlib colour map (sampled into a QGIS colour-ramp shader), the same range
(:func:`rasterflow.quicklook.product_scale`) and the same empty values (nodata from the
file; a count's 0 transparent too). Multi-band composites get a colour composite
(true colour where red, green and blue are among the bands) stretched from 2 % to
98 % of each band.

The XML is what QGIS 3.22 writes for these renderers (``saveNamedStyle``), trimmed to
the elements that carry the style; QGIS fills in the rest with its defaults. A test
loads the styles with Debian's PyQGIS and checks what QGIS then draws.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rasterflow.quicklook import (
    Scale,
    colour_bands,
    product_scale,
    read_for_display,
    stretch_limits,
)

#: Stops sampled from a continuous colour map: QGIS interpolates linearly between them
#: (33 stops: 32 segments, within a shade of Matplotlib's 256-entry tables).
RAMP_STOPS = 33

#: Up to this many classes a count is drawn with one exact colour per value, as in the
#: report; more are interpolated.
MAX_EXACT = 64

_VERSION = "3.22.0-Białowieża"


def styled_rasters(plan: Any) -> list[tuple[str, str]]:
    """(raster, product it is drawn as) of the raster products of a
    :class:`rasterflow.workflow.WorkflowPlan` that rule qgis styles: mosaics and tiles
    with their counts, terrain and trends, in a stable order. Per-scene indices get
    their styles from the index jobs (:func:`rasterflow.indices.run_all`): one rule
    with an output per scene and index would not scale to 100,000 scenes."""
    paths = plan.paths
    out = []
    for period in plan.periods:
        for product in plan.mosaic_products:
            for suffix in ("", "_count"):
                name = f"{product}{suffix}"
                out.append((paths.mosaic(period, product, f"{suffix}.tif"), name))
                out += [
                    (paths.composite(period, product, tile, suffix), name)
                    for tile, p in plan.composites
                    if p == period
                ]
    out += [(paths.terrain(p), p) for p in plan.terrain_products]
    out += [(paths.trend(i), f"{i}_trend") for i in plan.trend_indices]
    return out


def style_path(raster: str | os.PathLike[str]) -> Path:
    """Where QGIS looks for a raster's default style: its name with ``.qml``."""
    return Path(raster).with_suffix(".qml")


def _hex(rgba: Sequence[float]) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgba[:3])


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def ramp_items(scale: Scale) -> tuple[str, list[tuple[float, str]]]:
    """The colour-ramp shader's type and its (value, colour) items for ``scale``."""
    from matplotlib import colormaps

    cmap = colormaps[scale.style.cmap]
    n = int(scale.hi - scale.lo) + 1
    if scale.style.discrete and n <= MAX_EXACT:
        classes = cmap.resampled(n)  # the report's discrete colours, one per value
        return "EXACT", [(scale.lo + i, _hex(classes(i))) for i in range(n)]
    steps = np.linspace(0.0, 1.0, RAMP_STOPS)
    return "INTERPOLATED", [
        (float(scale.lo + t * (scale.hi - scale.lo)), _hex(cmap(float(t)))) for t in steps
    ]


def _root() -> ET.Element:
    return ET.Element(
        "qgis",
        {
            "version": _VERSION,
            "styleCategories": "AllStyleCategories",
            "minScale": "1e+08",
            "maxScale": "0",
            "hasScaleBasedVisibilityFlag": "0",
        },
    )


def _transparent(renderer: ET.Element, empty: float | None) -> None:
    transparency = ET.SubElement(renderer, "rasterTransparency")
    if empty is not None:
        values = ET.SubElement(transparency, "singleValuePixelList")
        ET.SubElement(
            values,
            "pixelListEntry",
            {"min": _number(empty), "max": _number(empty), "percentTransparent": "100"},
        )


def _min_max_origin(renderer: ET.Element) -> None:
    # "None": the range is the one written here, never recomputed by QGIS on load
    origin = ET.SubElement(renderer, "minMaxOrigin")
    for tag, text in (
        ("limits", "None"),
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", "0.02"),
        ("cumulativeCutUpper", "0.98"),
        ("stdDevFactor", "2"),
    ):
        ET.SubElement(origin, tag).text = text


def pseudocolor_qml(scale: Scale, *, band: int = 1) -> str:
    """A single-band pseudocolour style: ``scale``'s colour map over its range."""
    root = _root()
    pipe = ET.SubElement(root, "pipe")
    lo, hi = _number(scale.lo), _number(scale.hi)
    renderer = ET.SubElement(
        pipe,
        "rasterrenderer",
        {
            "type": "singlebandpseudocolor",
            "band": str(band),
            "opacity": "1",
            "alphaBand": "-1",
            "classificationMin": lo,
            "classificationMax": hi,
            "nodataColor": "",
        },
    )
    _transparent(renderer, scale.empty)
    _min_max_origin(renderer)
    kind, items = ramp_items(scale)
    shader = ET.SubElement(ET.SubElement(renderer, "rastershader"), "colorrampshader")
    shader.attrib.update(
        {
            "colorRampType": kind,
            "classificationMode": "1" if kind == "INTERPOLATED" else "2",
            "minimumValue": lo,
            "maximumValue": hi,
            "clip": "0",
            "labelPrecision": "4",
        }
    )
    for value, colour in items:
        label = _number(value) if kind == "EXACT" else f"{value:.4g}"
        ET.SubElement(
            shader,
            "item",
            {"value": repr(float(value)), "color": colour, "alpha": "255", "label": label},
        )
    ET.SubElement(root, "blendMode").text = "0"
    return _serialise(root)


def multiband_qml(path: str | os.PathLike[str], names: Sequence[str]) -> str:
    """A colour composite of three bands of ``path``, each stretched 2 % to 98 %."""
    root = _root()
    pipe = ET.SubElement(root, "pipe")
    bands = colour_bands(names)
    renderer = ET.SubElement(
        pipe,
        "rasterrenderer",
        {
            "type": "multibandcolor",
            "redBand": str(bands[0]),
            "greenBand": str(bands[1]),
            "blueBand": str(bands[2]),
            "opacity": "1",
            "alphaBand": "-1",
            "nodataColor": "",
        },
    )
    _transparent(renderer, None)
    _min_max_origin(renderer)
    for colour, band in zip(("red", "green", "blue"), bands, strict=True):
        lo, hi = stretch_limits(read_for_display(path, band=band)[0])
        stretch = ET.SubElement(renderer, f"{colour}ContrastEnhancement")
        ET.SubElement(stretch, "minValue").text = repr(lo)
        ET.SubElement(stretch, "maxValue").text = repr(hi)
        ET.SubElement(stretch, "algorithm").text = "StretchToMinimumMaximum"
    ET.SubElement(root, "blendMode").text = "0"
    return _serialise(root)


def _serialise(root: ET.Element) -> str:
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n{body}\n"


def write_style(raster: str | os.PathLike[str], *, product: str, band: int = 1) -> Path:
    """Write the QGIS style of ``raster`` (drawn as ``product``) beside it.

    A raster with several bands whose product is not a single-band one (a band
    composite) gets a colour composite; any other its band ``band`` in colour.
    """
    import rasterio

    from rasterflow.io import atomic_output

    with rasterio.open(raster) as src:
        names = [d or f"band {i + 1}" for i, d in enumerate(src.descriptions)]
    if len(names) >= 3 and _is_band_composite(product):
        text = multiband_qml(raster, names)
    else:
        text = pseudocolor_qml(product_scale(raster, product=product, band=band), band=band)
    target = style_path(raster)
    with atomic_output(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


@dataclass(frozen=True)
class ProjectLayer:
    """One layer of the QGIS project: its file, the name and group it is listed under,
    raster or vector, and whether it is drawn when the project opens."""

    path: str
    name: str
    group: str
    vector: bool = False
    visible: bool = False


def project_layers(plan: Any, *, zonal_formats: Sequence[str]) -> list[ProjectLayer]:
    """The layers of a run's QGIS project, top first: zonal statistics and contour lines
    (GeoPackage when written, which every QGIS reads; else GeoParquet), trends, the
    mosaics newest period first (with their counts), terrain. The newest period's first
    mosaic, the contours and the hillshade are drawn when the project opens."""
    paths = plan.paths

    def vector(files: Sequence[str]) -> str:
        return next((f for f in files if f.endswith(".gpkg")), files[0])

    layers = [
        ProjectLayer(
            vector([paths.zonal(p, period, f) for f in zonal_formats if f != "csv"]),
            f"{p} {period}",
            "zonal statistics",
            vector=True,
        )
        for p, period in plan.zonal_targets
        if set(zonal_formats) - {"csv"}
    ]
    layers += [
        ProjectLayer(vector(plan.contour_outputs(p)), f"contours of {p}", "contours", True, True)
        for p in plan.contour_rasters
    ]
    layers += [ProjectLayer(paths.trend(i), f"{i} trend", "trend") for i in plan.trend_indices]
    for n, period in enumerate(reversed(plan.ordered_periods)):
        for k, product in enumerate(plan.mosaic_products):
            for suffix in ("", "_count"):
                layers.append(
                    ProjectLayer(
                        paths.mosaic(period, product, f"{suffix}.tif"),
                        f"{product}{suffix} {period}",
                        f"mosaics {period}",
                        visible=n == 0 and k == 0 and not suffix,
                    )
                )
    layers += [
        ProjectLayer(paths.terrain(p), p, "terrain", visible=p == "hillshade")
        for p in plan.terrain_products
    ]
    return layers


def _layer_id(number: int, name: str) -> str:
    # fixed ids (QGIS makes random ones): the same results give the same project bytes;
    # QGIS replaces an id of 10 characters or fewer with a random one (the tree then
    # loses its layer), hence the long prefix
    return f"rasterflow_{number:03d}_" + "".join(c if c.isalnum() else "_" for c in name)


def _srs(parent: ET.Element, crs: Any) -> None:
    srs = ET.SubElement(parent, "spatialrefsys")
    ET.SubElement(srs, "wkt").text = crs.to_wkt(version="WKT2_2019")
    authority = crs.to_authority()
    if authority:
        ET.SubElement(srs, "authid").text = ":".join(authority)


def project_xml(layers: Sequence[ProjectLayer], *, home: str | os.PathLike[str], title: str) -> str:
    """A QGIS project listing ``layers`` in groups (in order, the first drawn on top),
    with paths relative to ``home`` (the project's folder, so the results can move)
    and each raster drawn with the style beside it."""
    import rasterio
    from rasterio.crs import CRS

    root = ET.Element("qgis", {"projectname": title, "version": _VERSION})
    ET.SubElement(root, "title").text = title
    crs = None
    for layer in layers:
        if not layer.vector:
            with rasterio.open(layer.path) as src:
                crs = src.crs
            break
    if crs is not None:
        _srs(ET.SubElement(root, "projectCrs"), CRS.from_user_input(crs))
    tree = ET.SubElement(root, "layer-tree-group")
    groups: dict[str, ET.Element] = {}
    maplayers = ET.SubElement(root, "projectlayers")
    for number, layer in enumerate(layers):
        source = "./" + Path(os.path.relpath(layer.path, home)).as_posix()
        lid = _layer_id(number, layer.name)
        provider = "ogr" if layer.vector else "gdal"
        if layer.group not in groups:
            groups[layer.group] = ET.SubElement(
                tree,
                "layer-tree-group",
                {"name": layer.group, "checked": "Qt::Checked", "expanded": "1"},
            )
        ET.SubElement(
            groups[layer.group],
            "layer-tree-layer",
            {
                "id": lid,
                "name": layer.name,
                "source": source,
                "providerKey": provider,
                "checked": "Qt::Checked" if layer.visible else "Qt::Unchecked",
                "expanded": "0",
            },
        )
        element = ET.SubElement(
            maplayers, "maplayer", {"type": "vector" if layer.vector else "raster"}
        )
        ET.SubElement(element, "id").text = lid
        ET.SubElement(element, "datasource").text = source
        ET.SubElement(element, "layername").text = layer.name
        ET.SubElement(
            element, "provider", {"encoding": "UTF-8"} if layer.vector else {}
        ).text = provider
        style = style_path(layer.path)
        if not layer.vector and style.is_file():
            pipe = ET.parse(style).getroot().find("pipe")
            if pipe is not None:
                element.append(pipe)
    properties = ET.SubElement(root, "properties")
    ET.SubElement(ET.SubElement(properties, "Paths"), "Absolute", {"type": "bool"}).text = "false"
    # without it QGIS ignores projectCrs
    enabled = ET.SubElement(ET.SubElement(properties, "SpatialRefSys"), "ProjectionsEnabled")
    enabled.attrib["type"] = "int"
    enabled.text = "1"
    return _serialise(root)


def write_project(
    target: str | os.PathLike[str], layers: Sequence[ProjectLayer], *, title: str
) -> Path:
    """Write the QGIS project of ``layers`` at ``target`` (see :func:`project_xml`)."""
    from rasterflow.io import atomic_output

    target = Path(target)
    text = project_xml(layers, home=target.parent, title=title)
    with atomic_output(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def _is_band_composite(product: str) -> bool:
    # imported here, not at the top: index jobs write styles too, and the planning
    # package costs them ~0.5 s to import
    from rasterflow.workflow import BANDS

    return product == BANDS
