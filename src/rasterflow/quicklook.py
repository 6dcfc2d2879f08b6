"""Quicklook PNGs of raster products: a colour map suited to the product, a colour bar
with units, map coordinates on the axes, and nodata left transparent.

Rendering uses Matplotlib's Agg canvas only (no display needed on a cluster node). The
PNG is written through Pillow without Matplotlib's metadata, so its bytes depend only on
the raster and the Matplotlib version, never on the time of the run.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

#: Indices whose meaningful range is vegetation greenness: a red-yellow-green map.
_GREENNESS = frozenset({"NDVI", "EVI", "SAVI", "MSAVI", "GNDVI", "OSAVI"})

#: Longest side of the array drawn; larger rasters are read from their overviews.
MAX_PIXELS = 1024

#: Figure size (inches) and resolution of a quicklook: ~1300 px wide, so the map area
#: holds about as many pixels as MAX_PIXELS and reads at full size when enlarged (the
#: report's map page fits it to the window; a click shows it pixel for pixel).
FIGSIZE = (10.0, 8.0)
DPI = 130

#: Bands drawn as red, green and blue when a multi-band product has them (band roles).
_COLOUR_COMPOSITES = (("red", "green", "blue"), ("nir", "red", "green"))

#: Band units that mean "no unit": the label shows none (was ``NDVI (1)``).
_NO_UNIT = frozenset({"", "1", "unitless", "none", "dimensionless", "unity", "ratio"})


def _unit(units: str | None, default: str | None = None) -> str:
    """`` (degrees)`` for a real unit, else the default's, else nothing."""
    unit = units if units is not None and units.strip().lower() not in _NO_UNIT else None
    unit = unit or default
    return f" ({unit})" if unit else ""


@dataclass(frozen=True)
class Style:
    """How one product is drawn: colour map, value range and colour-bar label."""

    cmap: str
    vmin: float | None
    vmax: float | None
    label: str
    #: Integer counts: a discrete colour map with one colour per value.
    discrete: bool = False
    #: Signed changes: limits from the data, made symmetric about zero, so white is
    #: "no change" on a diverging map
    centred: bool = False


def style_for(product: str, *, units: str | None = None) -> Style:
    """The style of a product named ``product`` (``NDVI``, ``slope``, ``count``...).

    Index ranges are fixed (-1..1) so that two periods' maps compare by eye; terrain
    ranges come from the data (``vmin``/``vmax`` None) except cyclic aspect (0..360).
    ``units`` (the band's unit) is shown in the label when it is one: an index's ``1``
    and a count's ``observations`` say nothing the name does not.
    """
    name = product.removesuffix("_count")
    if product.endswith("_trend"):  # a trend's slope band (rasterflow.trend)
        index = product.removesuffix("_trend")
        return Style("RdBu", None, None, f"{index} trend ({units or 'per year'})", centred=True)
    if product == "count" or product.endswith("_count"):
        return Style("viridis", 0, None, "valid observations", discrete=True)
    if name.upper() in _GREENNESS:
        return Style("RdYlGn", -1.0, 1.0, f"{name}{_unit(units)}")
    if product == "slope":
        return Style("magma_r", 0.0, None, f"slope{_unit(units, 'degrees')}")
    if product == "aspect":
        # cyclic: north (0 and 360) gets one colour, so no false edge at due north
        return Style(
            "twilight",
            0.0,
            360.0,
            f"aspect ({_unit(units, 'degrees').strip(' ()')} clockwise from north)",
        )
    if product == "hillshade":
        # stretched to the data: low-relief DEMs would be a flat grey on 0..255
        return Style("gray", None, None, "hillshade brightness (1..255)")
    if product in ("tri", "tpi", "roughness"):
        return Style("cividis", None, None, f"{product}{_unit(units, 'height units')}")
    if name.isupper():  # another normalised-difference index (NBR, NDWI, NDMI...)
        return Style("BrBG", -1.0, 1.0, f"{name}{_unit(units)}")
    return Style("viridis", None, None, f"{product}{_unit(units)}")


def extend_for(data: np.ma.MaskedArray, lo: float, hi: float) -> str:
    """Matplotlib's colour-bar ``extend``: arrows on the ends the data go beyond, so a
    saturated colour is not read as the value at the end of the scale."""
    valid = data.compressed()
    if valid.size == 0:
        return "neither"
    below, above = bool(valid.min() < lo), bool(valid.max() > hi)
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
        (below, above), "neither"
    )


def read_for_display(
    path: str | os.PathLike[str], *, band: int = 1, max_pixels: int = MAX_PIXELS
) -> tuple[np.ma.MaskedArray, tuple, str]:
    """Band ``band`` as a masked array (nodata and NaN masked), at most ``max_pixels``
    on its longer side, with its extent ``(left, right, bottom, top)`` and CRS name."""
    with rasterio.open(path) as src:
        factor = max(1, math.ceil(max(src.width, src.height) / max_pixels))
        shape = (max(1, src.height // factor), max(1, src.width // factor))
        # nearest keeps class/count values and nodata cells intact
        data = src.read(band, out_shape=shape, resampling=Resampling.nearest, masked=True).astype(
            "float64"
        )
        b = src.bounds
        crs = src.crs.to_string() if src.crs else "no CRS"
    data = np.ma.masked_invalid(data)
    return data, (b.left, b.right, b.bottom, b.top), crs


def band_units(path: str | os.PathLike[str], *, band: int = 1) -> str | None:
    """The band's unit: GDAL's unit type, else a ``UNITS`` band tag, else None."""
    with rasterio.open(path) as src:
        return src.units[band - 1] or src.tags(band).get("UNITS") or None


@dataclass(frozen=True)
class Scale:
    """A product's style and the range it is drawn with: the same in the report's maps
    and in the QGIS styles beside the products (:mod:`rasterflow.qgis`)."""

    style: Style
    lo: float
    hi: float
    #: A value drawn as empty besides nodata and NaN (a count's 0), or None.
    empty: float | None = None


def scale_of(
    data: np.ma.MaskedArray, style: Style, *, nodata_also: float | None = None
) -> tuple[np.ma.MaskedArray, Scale]:
    """The data with its empty values masked, and the scale they are drawn with.

    ``nodata_also`` masks one more value; a discrete count masks 0 (no valid
    observation: as empty as nodata, so drawn the same).
    """
    if style.discrete and nodata_also is None:
        nodata_also = 0
    if nodata_also is not None:
        data = np.ma.masked_equal(data, nodata_also)
    lo, hi = _limits(data, style)
    return data, Scale(style, lo, hi, nodata_also)


def product_scale(
    path: str | os.PathLike[str], *, product: str, band: int = 1, units: str | None = None
) -> Scale:
    """The scale of band ``band`` of raster ``path`` drawn as ``product``; the pixels
    are read (from overviews, as for a map) only when the range depends on them."""
    style = style_for(product, units=units or band_units(path, band=band))
    if style.vmin is not None and style.vmax is not None and not style.discrete:
        return Scale(style, style.vmin, style.vmax)
    data, _extent, _crs = read_for_display(path, band=band)
    return scale_of(data, style)[1]


def _limits(data: np.ma.MaskedArray, style: Style) -> tuple[float, float]:
    valid = data.compressed()
    if valid.size == 0:
        return (style.vmin or 0.0, style.vmax if style.vmax is not None else 1.0)
    lo = style.vmin if style.vmin is not None else float(np.percentile(valid, 2))
    hi = style.vmax if style.vmax is not None else float(np.percentile(valid, 98))
    if style.discrete:
        hi = max(float(valid.max()), lo + 1)
    if style.centred:
        reach = max(abs(lo), abs(hi)) or 1.0
        return -reach, reach
    return lo, hi if hi > lo else lo + 1


def colour_bands(names: Sequence[str]) -> tuple[int, int, int]:
    """The (red, green, blue) band numbers of a multi-band product with these band
    names: true colour, else false colour (NIR, red, green), else its first three."""
    lowered = [n.lower() for n in names]
    for combo in _COLOUR_COMPOSITES:
        if all(role in lowered for role in combo):
            r, g, b = (lowered.index(role) + 1 for role in combo)
            return r, g, b
    return (1, min(2, len(names)), min(3, len(names)))


def stretch_limits(data: np.ma.MaskedArray) -> tuple[float, float]:
    """A band's colour-composite stretch: 2 % to 98 % of its valid values."""
    valid = data.compressed()
    if valid.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(valid, [2, 98]))
    return lo, max(hi, lo + 1e-6)


def _is_geographic(crs: str) -> bool:
    from rasterio.crs import CRS

    try:
        return CRS.from_user_input(crs).is_geographic
    except rasterio.errors.CRSError:  # "no CRS": pixel coordinates, drawn as given
        return False


def _axis_unit(crs: str, extent: tuple) -> tuple[float, str]:
    """Divide projected coordinates by 1000 (km) when the extent spans kilometres."""
    if _is_geographic(crs):
        return 1.0, "degrees"
    span = max(extent[1] - extent[0], extent[3] - extent[2])
    return (1000.0, "km") if span >= 5000 else (1.0, "m")


def render(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    product: str,
    title: str,
    units: str | None = None,
    band: int = 1,
    nodata_also: float | None = None,
) -> Path:
    """Draw band ``band`` of raster ``path`` as a quicklook PNG at ``output``.

    ``nodata_also`` masks one more value (e.g. a count of 0: no valid observation).
    The map area keeps an alpha channel (nodata pixels are fully transparent); the
    margins with titles and colour bar are opaque white so text reads on any viewer.
    """
    fig, ax = _map_figure()  # first: it picks the Agg canvas
    from matplotlib import colors
    from matplotlib import pyplot as plt

    data, extent, crs = read_for_display(path, band=band)
    units = units or band_units(path, band=band)
    style = style_for(product, units=units)
    data, scale = scale_of(data, style, nodata_also=nodata_also)
    lo, hi = scale.lo, scale.hi
    norm = None
    cmap = plt.get_cmap(style.cmap)
    if style.discrete:
        n = int(hi - lo) + 1
        cmap = cmap.resampled(n)
        norm = colors.BoundaryNorm(np.arange(lo - 0.5, hi + 1.0), n)
    cmap = cmap.with_extremes(bad=(0, 0, 0, 0))
    image = ax.imshow(
        data,
        extent=_map_axes(ax, extent, crs, title),
        cmap=cmap,
        interpolation="nearest",
        norm=norm,
        vmin=None if norm else lo,
        vmax=None if norm else hi,
    )
    extend = "neither" if style.discrete else extend_for(data, lo, hi)
    bar = fig.colorbar(image, ax=ax, shrink=0.85, extend=extend)
    bar.set_label(style.label)
    if style.discrete:
        step = max(1, math.ceil((hi - lo + 1) / 12))
        bar.set_ticks(np.arange(lo, hi + 1, step).tolist())
    return _finish_map(fig, ax, output)


def render_rgb(path: str | os.PathLike[str], output: str | os.PathLike[str], *, title: str) -> Path:
    """Draw a multi-band raster as a colour composite PNG at ``output``: true colour
    where red, green and blue are among its band names, else NIR-red-green, else its
    first three bands (:func:`colour_bands`), each stretched 2 % to 98 % as in its QGIS
    style; a pixel where any of the three is nodata is transparent."""
    with rasterio.open(path) as src:
        names = [d or f"band {i + 1}" for i, d in enumerate(src.descriptions)]
    bands = colour_bands(names)
    reads = [read_for_display(path, band=band) for band in bands]
    _data, extent, crs = reads[0]
    planes = []
    for data, _extent, _crs in reads:
        lo, hi = stretch_limits(data)
        planes.append(np.clip((data.filled(lo) - lo) / (hi - lo), 0.0, 1.0))
    empty = np.logical_or.reduce([np.ma.getmaskarray(data) for data, _e, _c in reads])
    rgba = np.dstack([*planes, (~empty).astype("float64")])
    fig, ax = _map_figure()
    ax.imshow(rgba, extent=_map_axes(ax, extent, crs, title), interpolation="nearest")
    shown = ", ".join(names[b - 1] for b in bands)
    ax.text(0.0, -0.12, f"red, green, blue: {shown} (each 2-98 %)", transform=ax.transAxes)
    return _finish_map(fig, ax, output)


def _map_figure():
    """A quicklook's figure and axes, transparent (the map keeps its alpha channel)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    fig.patch.set_alpha(0)
    ax.patch.set_alpha(0)
    return fig, ax


def _map_axes(ax, extent: tuple, crs: str, title: str) -> tuple:
    """Map coordinates on the axes (km when the extent spans kilometres), true shapes
    in degrees, the title; the extent to draw the image at, in the axes' units."""
    from matplotlib import ticker

    div, unit = _axis_unit(crs, extent)
    ax.set_xlabel(f"easting ({unit}, {crs})" if unit != "degrees" else "longitude (degrees)")
    ax.set_ylabel("northing" + f" ({unit})" if unit != "degrees" else "latitude (degrees)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(6))
    if unit == "degrees":
        # a degree of longitude is cos(latitude) of a degree of latitude: keep shapes true
        mid = math.radians((extent[2] + extent[3]) / 2)
        ax.set_aspect(1.0 / max(math.cos(mid), 0.01))
    else:
        ax.set_aspect("equal")
    ax.set_title(title)
    return tuple(v / div for v in extent)


def _finish_map(fig, ax, output: str | os.PathLike[str]) -> Path:
    """Lay out, save (map transparent where there is no data) and close a figure."""
    from matplotlib import pyplot as plt

    fig.tight_layout()
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    _save_with_transparent_map(fig, ax, target)
    plt.close(fig)
    return target


def _save_with_transparent_map(fig, ax, target: Path) -> None:
    """Composite everything outside the map's axes onto white, keep alpha inside."""
    from PIL import Image

    from rasterflow.io import atomic_output

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba()).astype("float32") / 255.0
    height = rgba.shape[0]
    box = ax.get_window_extent()
    x0, x1 = math.floor(box.x0), math.ceil(box.x1)
    y0, y1 = height - math.ceil(box.y1), height - math.floor(box.y0)
    inside = np.zeros(rgba.shape[:2], dtype=bool)
    inside[max(0, y0) : y1, max(0, x0) : x1] = True
    alpha = rgba[..., 3:4]
    white = rgba[..., :3] * alpha + (1.0 - alpha)  # Agg buffer is not premultiplied
    out = rgba.copy()
    out[~inside, :3] = white[~inside]
    out[~inside, 3] = 1.0
    pixels = (out * 255.0 + 0.5).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False)
    with atomic_output(target) as tmp:
        tmp.write_bytes(buffer.getvalue())


def render_lines(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    title: str,
    column: str = "elev",
) -> Path:
    """Draw the lines of a vector file (contours: GeoPackage or GeoParquet) coloured by
    ``column``, with a colour bar and map axes as :func:`render`; the map is transparent
    where there is no line, so the PNG can lie over a terrain quicklook."""
    import geopandas as gpd

    p = Path(path)
    lines = gpd.read_parquet(p) if p.suffix == ".parquet" else gpd.read_file(p, engine="pyogrio")
    crs = lines.crs.to_string() if lines.crs else ""
    x0, y0, x1, y1 = lines.total_bounds if len(lines) else (0.0, 0.0, 1.0, 1.0)
    div, _unit = _axis_unit(crs, (x0, x1, y0, y1))
    fig, ax = _map_figure()  # as the rasters' maps
    _map_axes(ax, (x0, x1, y0, y1), crs, f"{title}: {len(lines)} lines")
    if len(lines):
        scaled = lines.set_geometry(lines.geometry.affine_transform([1 / div, 0, 0, 1 / div, 0, 0]))
        scaled.plot(
            ax=ax,
            column=column,
            cmap="terrain",
            linewidth=0.6,
            legend=True,
            legend_kwds={"shrink": 0.85, "label": f"{column} (level)"},
        )
    return _finish_map(fig, ax, output)


_MAP_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 14px; margin: 0.5em 1em; }}
#map {{ max-width: 100%; height: auto; cursor: zoom-in; display: block; }}
#map.full {{ max-width: none; cursor: zoom-out; }}
.hint {{ color: #555; }}
</style></head><body>
<h2>{title}</h2>
<p class="hint">{width} x {height} px. Click the map to see it at full resolution
(pixel for pixel), click again to fit it to the window.</p>
<img id="map" src="data:image/png;base64,{data}" width="{width}" height="{height}"
 alt="{title}" onclick="this.classList.toggle('full')"
 onload="this.dataset.drawn = this.naturalWidth + 'x' + this.naturalHeight">
</body></html>
"""


def map_page(png: str | os.PathLike[str], output: str | os.PathLike[str], *, title: str) -> Path:
    """An HTML page showing the quicklook ``png`` fitted to the window, full resolution
    on a click.

    ``snakemake --report`` draws a PNG result fitted to its panel with no way to zoom;
    an HTML result gets a whole panel (an iframe) and may run its own script, so the
    maps go into the report as these pages (the PNG inlined, so the page stands alone).
    """
    import base64
    import html

    from PIL import Image

    from rasterflow.io import atomic_output

    data = Path(png).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = _MAP_PAGE.format(
        title=html.escape(title),
        width=width,
        height=height,
        data=base64.b64encode(data).decode("ascii"),
    )
    with atomic_output(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


def scenes_to_draw(
    available: Sequence[str], *, chosen: Sequence[str] = (), count: int = 2
) -> list[str]:
    """The scenes whose per-scene index products get a map: ``chosen`` (``report.scenes``)
    if given, else the first ``count`` (``report.scene_quicklooks``) of ``available``
    (the sheet's order). A few, not all: a map costs ~0.3 MB of report and a
    run may hold thousands of scenes."""
    if chosen:
        unknown = [s for s in chosen if s not in available]
        if unknown:
            from rasterflow.errors import ConfigError

            some = ", ".join(list(available)[:5]) + (", ..." if len(available) > 5 else "")
            raise ConfigError(
                f"report.scenes: {', '.join(map(repr, unknown))} not among the run's "
                f"scenes ({some}); list scene ids of the scene sheet or catalog, or leave "
                "report.scenes empty"
            )
        return list(dict.fromkeys(chosen))
    return list(available)[:count]


@dataclass(frozen=True)
class Drawing:
    """One quicklook to draw: the raster (or contour lines), its PNG and map page."""

    raster: str
    png: str
    page: str
    product: str
    title: str
    band: int = 1


def draw(d: Drawing) -> Drawing:
    """``d``'s PNG (lines, a colour composite of ``composite.bands``, or a raster's
    colour map) and its map page."""
    from rasterflow.workflow import BANDS

    if d.raster.endswith((".gpkg", ".parquet")):  # contour lines
        render_lines(d.raster, d.png, title=d.title)
    elif d.product == BANDS:
        render_rgb(d.raster, d.png, title=d.title)
    else:
        render(d.raster, d.png, product=d.product, title=d.title, band=d.band)
    map_page(d.png, d.page, title=d.title)
    return d


def draw_all(drawings: Sequence[Drawing], *, processes: int = 1) -> Iterator[Drawing]:
    """Draw each of ``drawings`` (:func:`draw`), ``processes`` at a time, yielding each
    when done, in order.

    Each map is ~0.45 s of Matplotlib in one core (the GIL: threads would not overlap),
    and a run ends with them: forked processes share the imports already made. The
    bytes of each PNG do not depend on which process drew it.
    """
    if processes <= 1 or len(drawings) < 2:
        for d in drawings:
            yield draw(d)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(processes, len(drawings))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield from pool.map(draw, drawings)
