"""Composites' sources: the headers of the inputs, the compiled kernel's view of each
(:class:`KernelWarp`), their footprints on the tile, and the source windows a chunk reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rasterflow.errors import InputDataError

if TYPE_CHECKING:
    from odc.geo import XY
    from odc.geo.geobox import GeoBox

    from rasterflow.band_composite import BandSpec
    from rasterflow.indices import Expression
    from rasterflow.scenes import Scene

#: margin, in tile pixels, around a source's footprint before a chunk is skipped as
#: outside it; GDAL gives no value to a pixel whose centre lies off the source raster
_SKIP_MARGIN = 2


@dataclass(frozen=True)
class KernelWarp:
    """How :mod:`rasterflow._warp_kernel` reaches a source's pixels (see its docstring)."""

    kind: int  # AFFINE (same CRS) or POLYNOMIAL
    params: tuple[float, ...]  # inverse geotransform, or the polynomial
    nodata: float | None
    size: tuple[int, int]  # the raster's width and height


@dataclass(frozen=True)
class Source:
    """One input raster as a composite task needs it: no open handle, so it pickles."""

    path: str
    date: str  # the DATE tag ("" when absent)
    scene: str  # the SCENE tag ("" when absent)
    band_name: str  # band 1's description, e.g. the index name
    units: str  # band 1's unit type ("1" for indices), "" when unset
    scale: XY[float]  # GDAL's XSCALE/YSCALE towards the tile grid (warp.warp_scale)
    rows: tuple[int, int]  # the tile rows and columns the raster may cover,
    cols: tuple[int, int]  # with a margin; elsewhere it is not even opened
    vrt: str | None = None  # warp.polynomial_vrt: read instead of path when set
    kernel: KernelWarp | None = None  # bilinear through the compiled kernel when set
    origin: SceneInput | None = None  # a scene's bands, its indices computed per window


@dataclass(frozen=True)
class SceneInput:
    """A scene whose indices a composite computes in memory, window by window, with
    :func:`rasterflow.indices.window_indices`: the bits its index raster would hold."""

    scene: Scene
    exprs: tuple[Expression, ...]
    grid: GeoBox  # the scene's finest band grid (scenes.scene_grid): the index grid
    resampling: str  # of its bands on other grids (scenes.resampling)
    #: > 0: a last layer, the distance to the nearest unclear pixel up to this (CRS
    #: units), for a band composite's quality score
    cloud_reach: float = 0.0
    #: the share of the scene's mask that is clear, when a quality score weighs it
    clear_fraction: float = 1.0


def inspect_sources(inputs: Sequence[str], tile: GeoBox) -> list[Source]:
    """Read the headers of ``inputs`` and order them by date, scene and path."""
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_raster
    from rasterflow.warp import polynomial_vrt, warp_scale

    out = []
    for path in inputs:
        with open_raster(path, what="composite input") as src:
            if src.count != 1:
                raise InputDataError(
                    f"composite input {path}: has {src.count} bands; composites take "
                    "single-band index rasters (one file per scene and index)"
                )
            box = GeoBox.from_rio(src)
            tags = src.tags()
            band_name = src.descriptions[0] or ""
            units = src.units[0] or ""
            vrt = polynomial_vrt(path, tile, dataset=src)
            scale = warp_scale(box, tile)
            kernel = _kernel_warp(src, box, tile, scale)
        rows, cols = _footprint_px(box, tile)
        out.append(
            Source(
                path=str(path),
                date=tags.get("DATE", ""),
                scene=tags.get("SCENE", ""),
                band_name=band_name,
                units=units,
                scale=scale,
                rows=rows,
                cols=cols,
                vrt=vrt,
                kernel=kernel,
            )
        )
    return sorted(out, key=lambda s: (s.date, s.scene, s.path))


def inspect_scenes(
    scenes: Sequence[Scene],
    exprs: Sequence[Expression],
    tile: GeoBox,
    *,
    resampling: str,
    cloud_reach: float = 0.0,
    fractions: bool = False,
) -> list[Source]:
    """Sources for the indices ``exprs`` of ``scenes``, computed in memory from their bands
    (``resampling`` for bands off a scene's finest grid), ordered as
    :func:`inspect_sources` orders the index rasters the scenes would have. With
    ``cloud_reach`` each gives the distance to its mask's unclear pixels as a last layer;
    with ``fractions`` its mask's clear fraction is read (a pass over the mask)."""
    from rasterflow.scenes import clear_fraction, scene_grid
    from rasterflow.warp import warp_scale

    exprs = tuple(exprs)
    roles = sorted(set().union(*(e.roles for e in exprs)))
    out = []
    for scene in scenes:
        box = scene_grid(scene, roles)
        scale = warp_scale(box, tile)
        rows, cols = _footprint_px(box, tile)
        # window_indices gives float32 with NaN for nodata, as an index raster holds
        out.append(
            Source(
                path=scene.bands[roles[0]].path,
                date=scene.date.isoformat(),
                scene=scene.id,
                band_name="",
                units="1",
                scale=scale,
                rows=rows,
                cols=cols,
                kernel=_kernel_for(box, tile, scale, nodata=math.nan),
                origin=SceneInput(
                    scene,
                    exprs,
                    box,
                    resampling,
                    cloud_reach=cloud_reach,
                    clear_fraction=clear_fraction(scene) if fractions else 1.0,
                ),
            )
        )
    return sorted(out, key=lambda s: (s.date, s.scene, s.path))


def _kernel_warp(src: Any, box: GeoBox, tile: GeoBox, scale: XY[float]) -> KernelWarp | None:
    """The compiled kernel's view of an open source, or None where only GDAL's warper
    gives GDAL's pixels: validity in a mask band, pixels other than float32, a raster
    one pixel wide or high, a rotated grid, a scale below 0.95 (a wider bilinear
    kernel), or a CRS whose polynomial does not fit (warp.polynomial_to_pixels)."""
    from rasterio.enums import MaskFlags

    flags = src.mask_flag_enums[0]
    if (
        MaskFlags.nodata not in flags
        and MaskFlags.all_valid not in flags
        or src.dtypes[0] != "float32"
    ):
        return None
    return _kernel_for(box, tile, scale, nodata=src.nodata)


def _kernel_for(
    box: GeoBox, tile: GeoBox, scale: XY[float], *, nodata: float | None
) -> KernelWarp | None:
    """:func:`_kernel_warp` for float32 pixels on ``box`` with ``nodata``."""
    from rasterflow._warp_kernel import AFFINE, POLYNOMIAL
    from rasterflow.warp import FOUR_SAMPLE_SCALE, polynomial_to_pixels

    # GDAL's bilinear takes the 2 x 2 neighbours (the kernel's rule) from this scale up;
    # below, its kernel widens with the scale and the GDAL warper does the work
    a, t = box.affine, tile.affine
    height, width = box.shape.yx
    if (
        min(width, height) < 2
        or a.b != 0
        or a.d != 0
        or t.b != 0
        or t.d != 0
        or min(scale.x, scale.y) < FOUR_SAMPLE_SCALE
    ):
        return None
    if box.crs == tile.crs:
        # GDALInvGeoTransform's form for a north-up geotransform, to GDAL's bits
        params: tuple[float, ...] = (-a.c / a.a, 1.0 / a.a, 0.0, -a.f / a.e, 0.0, 1.0 / a.e)
        kind = AFFINE
    else:
        poly = polynomial_to_pixels(box, tile)
        if poly is None:
            return None
        params, kind = tuple(float(v) for v in poly), POLYNOMIAL
    return KernelWarp(kind=kind, params=params, nodata=nodata, size=(width, height))


#: points per edge of a source's outline when it is projected into the tile's CRS
_OUTLINE_POINTS = 64


def _outline_px(box: GeoBox, grid: GeoBox, points: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, rows) in ``grid``'s pixels of ``box``'s outline, ``points`` segments per
    edge (densified: a straight edge in one CRS is curved in another); NaN or inf where
    PROJ cannot project a point."""
    from rasterflow.grid import crs_of

    h, w = box.shape.yx
    t = np.linspace(0.0, 1.0, points + 1)
    cols = np.concatenate([t * w, np.full_like(t, w), t * w, np.zeros_like(t)])
    rows = np.concatenate([np.zeros_like(t), t * h, np.full_like(t, h), t * h])
    x, y = box.affine * (cols, rows)  # type: ignore[operator]  # affine maps arrays too
    if box.crs != grid.crs:
        x, y = crs_of(box).transformer_to_crs(crs_of(grid))(x, y)
    px, py = ~grid.affine * (np.asarray(x), np.asarray(y))
    return np.asarray(px), np.asarray(py)


def _footprint_px(box: GeoBox, tile: GeoBox) -> tuple[tuple[int, int], tuple[int, int]]:
    """Tile rows and columns ``box`` may cover, with :data:`_SKIP_MARGIN`: (rows, cols).

    Only used to skip chunks a source cannot reach, so it errs on the large side: the
    outline is densified (a UTM edge seen from the next zone is curved, by far less
    than the margin over 64 points), or where PROJ fails, the whole tile.
    """
    px, py = _outline_px(box, tile, _OUTLINE_POINTS)
    if not (np.isfinite(px).all() and np.isfinite(py).all()):
        ny, nx = tile.shape.yx
        return (0, ny), (0, nx)
    return (
        (math.floor(py.min()) - _SKIP_MARGIN, math.ceil(py.max()) + _SKIP_MARGIN),
        (math.floor(px.min()) - _SKIP_MARGIN, math.ceil(px.max()) + _SKIP_MARGIN),
    )


def _tile_gt(tile: GeoBox) -> np.ndarray:
    a = tile.affine
    return np.array([a.c, a.a, a.b, a.f, a.d, a.e], dtype=np.float64)


def _kernel_window(
    kernel: KernelWarp, gt: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """(x0, y0, width, height) of the source pixels a chunk's bilinear samples can
    touch, with a pixel to spare; None if none."""
    from rasterflow._warp_kernel import source_bounds

    params = np.asarray(kernel.params, dtype=np.float64)
    lo_x, lo_y, hi_x, hi_y = source_bounds(
        kernel.kind, params, gt, rows[0], rows[1], cols[0], cols[1]
    )
    width, height = kernel.size
    if math.isnan(lo_x):
        return 0, 0, width, height
    x0 = max(0, math.floor(lo_x - 0.5) - 1)
    y0 = max(0, math.floor(lo_y - 0.5) - 1)
    x1 = min(width, math.floor(hi_x - 0.5) + 3)
    y1 = min(height, math.floor(hi_y - 0.5) + 3)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _reaches(s: Source, r0: int, r1: int, c0: int, c1: int) -> bool:
    return not (s.rows[1] <= r0 or s.rows[0] >= r1 or s.cols[1] <= c0 or s.cols[0] >= c1)


def _layers(s: Source) -> int:
    """Values a source gives per pixel: its indices (then, for a multi-band composite,
    its bands and score), or the one band of an index raster."""
    return 1 if s.origin is None else len(s.origin.exprs) + (s.origin.cloud_reach > 0)


def _index_layers(s: Source, bands: BandSpec | None) -> int:
    """The layers of ``s`` that are index composites (the rest feed ``bands``)."""
    return _layers(s) - (bands.layers if bands is not None else 0)


def _planes(s: Source, bands: BandSpec | None) -> int:
    """Planes of a chunk: statistic and count per index, then the band composite's."""
    return 2 * _index_layers(s, bands) + (bands.outputs if bands is not None else 0)


def _values(s: Source, window: tuple[int, int, int, int]) -> np.ndarray:
    """(layers, height, width) float32 of ``s`` in ``window`` (x0, y0, width, height) of
    its own grid: read from its raster, or its scene's indices computed from the bands."""
    from rasterflow.indices import window_indices
    from rasterflow.io import read_cached

    if s.origin is None:
        out = np.empty((1, window[3], window[2]), dtype=np.float32)
        read_cached(s.path, window, out[0])
        return out
    o = s.origin
    values = window_indices(o.scene, o.exprs, o.grid, window, resampling=o.resampling)
    if not o.cloud_reach:
        return values
    from rasterflow.scenes import unclear_distance

    distance = unclear_distance(o.scene, o.grid, window, o.cloud_reach)
    return np.concatenate([values, distance[None]])


def _window_over(grid: GeoBox, box: GeoBox, reach: float) -> tuple[int, int, int, int] | None:
    """(x0, y0, width, height) of ``grid``'s pixels within ``reach`` pixels of ``box``'s
    outline (densified into ``grid``'s CRS); None if that misses the grid."""
    px, py = _outline_px(box, grid, 16)
    gh, gw = grid.shape.yx
    if not (np.isfinite(px).all() and np.isfinite(py).all()):
        return 0, 0, gw, gh
    x0, y0 = max(0, math.floor(px.min() - reach)), max(0, math.floor(py.min() - reach))
    x1, y1 = min(gw, math.ceil(px.max() + reach)), min(gh, math.ceil(py.max() + reach))
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1 - x0, y1 - y0
