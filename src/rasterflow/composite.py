"""Temporal composites: the scenes of one period, on one tile, reduced to one value.

A composite job gets the index rasters (one per scene, each on its scene's own grid
and CRS) of the scenes that overlap one tile of the target grid in one period. With
bilinear resampling (the default) each chunk is one call of a compiled kernel
(:mod:`rasterflow._warp_kernel`): it reads each scene's source window once, samples
it with GDAL's bilinear rule at positions given by the scene's geotransform (same CRS)
or by :func:`rasterflow.grid.polynomial_to_pixels` (a third-order polynomial fitted to
exact PROJ points on the scene's own grid), and reduces over time, in one pass without
the GIL. It gives GDAL's warper's pixels: bit for bit in the same CRS, within a few
float32 ulps (0.002-0.02 % of pixels differ) across CRSs, where GDAL fits its own
polynomial to the same points. Sources the kernel cannot reproduce (a mask band,
non-float32 pixels, a scale below 0.95 where GDAL widens its kernel, a rotated grid,
a poor polynomial fit) and other resampling methods go through GDAL's warper,
:func:`rasterflow.grid.read_onto` (through :func:`rasterflow.grid.polynomial_vrt` in
another CRS), and NumPy reduces the stack. Either way NaN never bleeds into valid
pixels and a pixel's value does not depend on tile or chunk size. The stack is reduced
over time per pixel:

* ``median`` (default), ``mean``, ``min``, ``max``, or ``pXX``, the XX-th percentile
  (0 <= XX <= 100, decimals allowed: ``p2.5``), NumPy's ``linear`` method;
* the number of valid (non-NaN) observations, always computed, written as its own
  uint16 product when ``count_output`` is given.

Pixels without a valid observation are NaN in the statistic and 0 in the count. The
count records 0 as its nodata value (:data:`COUNT_NODATA`), so that GIS software draws
outside the footprints and fully clouded pixels as empty rather than as a colour; the
0s are in the file all the same (read it unmasked to count them).

Several bands at once (``composite.bands``, :mod:`rasterflow.band_composite`): for
scene sources the bands (each an expression of itself, so scaled and masked as the
indices' inputs are) and the quality score are extra layers of the same windows, after
the indices; each chunk then also warps those layers into a (layers, scenes, y, x)
stack and reduces it with a medoid, geometric median or best-available-pixel kernel.
The index layers are reduced exactly as without them (GDAL's warper takes the two
groups in separate calls), so adding bands changes no index byte.

Memory. The work is one Dask task per spatial chunk of ``chunk`` x ``chunk`` pixels;
the time axis is never split. The kernel holds every scene's source window (about a
chunk each at equal resolutions), a row of samples and the result, about
(1.1 n + 2) x chunk^2 x 4 bytes; the fallback holds the whole (n scenes, chunk, chunk)
float32 stack and reduces it at once: the stack, its sorted copy and a validity mask
(2.25 n), plus GDAL's source window and destination for the one scene being warped
and the result (~4), so about (2.5 n + 4) x chunk^2 x 4 bytes. Each finished chunk
goes to disk at once (``da.store``), and at most ``threads`` tasks run at a time, so
the Dask part of a job peaks near threads x (2.5 n + 4) x chunk^2 x 4 bytes whatever
the tile's size: 4 threads, 30 scenes and chunk 512 need ~320 MiB. A band composite
adds its stack, (bands + score) x n x chunk^2 x 4 bytes, and its windows. On top come GDAL's
block cache (``GDAL_CACHEMAX``; sources stay open per thread so that neighbouring
chunks share decoded blocks) and the COG writer of :mod:`rasterflow.io`. Without a
``chunk`` (the default) :func:`auto_chunk` picks the largest side that keeps that
estimate within half the job's memory per thread and gives every thread a chunk.

Determinism. Inputs are ordered by their DATE tag, SCENE tag and path, whatever order
they come in (a mean's float sum depends on the order); the warp is chunk-independent;
the reductions are per pixel. So chunk, threads and tile size leave the bytes unchanged.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rasterflow.errors import ConfigError, InputDataError

if TYPE_CHECKING:
    from odc.geo import XY
    from odc.geo.geobox import GeoBox

    from rasterflow.band_composite import BandSpec
    from rasterflow.indices import Expression
    from rasterflow.scenes import Scene

log = logging.getLogger(__name__)

STATISTICS = ("median", "mean", "min", "max", "pXX")
#: The count products' nodata: no valid observation (issue #21: QGIS drew 0 outside
#: the footprints as a colour).
COUNT_NODATA = 0
_PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d+)?)$")
#: margin, in tile pixels, around a source's footprint before a chunk is skipped as
#: outside it; GDAL gives no value to a pixel whose centre lies off the source raster
_SKIP_MARGIN = 2


@dataclass(frozen=True)
class Statistic:
    """A per-pixel reduction over time: ``kind`` is median/mean/min/max/percentile."""

    name: str
    kind: str
    q: float | None = None  # the percentile, for kind "percentile"


def parse_statistic(text: str) -> Statistic:
    """``"median"``, ``"mean"``, ``"min"``, ``"max"`` or ``"p90"`` -> :class:`Statistic`."""
    text = str(text).strip()
    if text in ("median", "mean", "min", "max"):
        return Statistic(text, text)
    if m := _PERCENTILE.match(text):
        q = float(m[1])
        if 0 <= q <= 100:
            return Statistic(text, "percentile", q)
    raise ConfigError(
        f"composite.statistic: {text!r} is not one of median, mean, min, max or pXX "
        "(a percentile between p0 and p100, e.g. p10 or p97.5)"
    )


def reduce_stack(stack: np.ndarray, statistic: Statistic) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a (time, y, x) float32 stack with NaN gaps: (statistic float32, count uint16).

    The statistic equals NumPy's nan-function over axis 0 bit for bit (``nanmedian``,
    ``nanmean``, ``nanmin``, ``nanmax``, ``nanpercentile`` with a Python-number q), and
    is NaN where no observation is valid. Median and percentiles are computed from one
    sort along time instead: ``np.nanpercentile`` loops over pixels in Python, ~150
    times slower on a 512 x 512 x 6 stack.
    """
    if stack.shape[0] > np.iinfo(np.uint16).max:
        raise InputDataError(f"composite: {stack.shape[0]} scenes exceed the uint16 count")
    count = (~np.isnan(stack)).sum(axis=0, dtype=np.uint16)
    empty = count == 0
    if statistic.kind in ("median", "percentile"):
        n = count.astype(np.intp)
        ordered = _sort_time(stack, n)
        if statistic.kind == "median":
            result = _sorted_median(ordered, n)
        else:
            result = _sorted_percentile(ordered, n, float(statistic.q))  # type: ignore[arg-type]
    else:
        # NumPy warns on an all-NaN pixel and warnings filters are not thread-safe, so
        # such pixels get a dummy 0 here and NaN below; other pixels are unaffected
        data = np.where(empty, np.float32(0), stack) if empty.any() else stack
        reduce: Any = {"mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}[statistic.kind]
        result = reduce(data, axis=0)
    result = np.asarray(result, dtype=np.float32)
    result[empty] = np.nan
    return result, count


#: up to this many scenes a sorting network over whole planes beats np.sort along time
#: (~2.5x faster at 6 scenes, ~1.7x at 12, level at 30)
_NETWORK_MAX = 16


def _sort_time(stack: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The stack sorted along time, NaN last: ``np.sort(stack, axis=0)``.

    ``np.sort`` sorts each pixel's few values on its own; for short stacks an odd-even
    transposition network (n rounds of elementwise min/max of whole planes) is faster.
    NaN has no order under min/max, so it sorts as +inf and is put back past each
    pixel's ``count`` of valid values (a valid +inf stays below that count).
    """
    depth = stack.shape[0]
    if depth > _NETWORK_MAX:
        return np.sort(stack, axis=0)
    ordered = np.where(np.isnan(stack), np.array(np.inf, dtype=stack.dtype), stack)
    for start in range(depth):
        for i in range(start % 2, depth - 1, 2):
            low = np.minimum(ordered[i], ordered[i + 1])
            np.maximum(ordered[i], ordered[i + 1], out=ordered[i + 1])
            ordered[i] = low
    ordered[np.arange(depth)[:, None, None] >= count] = np.nan
    return ordered


def _take(ordered: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.take_along_axis(ordered, np.clip(index, 0, None)[None], axis=0)[0]


def _sorted_median(ordered: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Median of the first ``n`` values along axis 0, as ``np.ma.median`` (nanmedian)."""
    high = n // 2
    low = np.where(n % 2 == 1, high, high - 1)
    # float32 sum then halving, the order NumPy uses: the same bits
    return (_take(ordered, low) + _take(ordered, high)) / np.float32(2)


def _sorted_percentile(ordered: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """``np.nanpercentile(..., q, axis=0)`` ('linear') of sorted, NaN-last columns.

    Mirrors NumPy's arithmetic: the virtual index in float64, the interpolation in the
    data's float32 with the weight rounded to float32, and from the upper neighbour
    when the weight is >= 0.5.
    """
    virtual = (n - 1) * (q / 100)
    prev = np.floor(virtual)
    top = virtual >= n - 1  # at or past the largest value: take it
    low = _take(ordered, np.where(top, n - 1, prev).astype(np.intp))
    high = _take(ordered, np.where(top, n - 1, prev + 1).astype(np.intp))
    gamma = virtual - prev
    diff = high - low
    return np.where(
        gamma >= 0.5,
        high - diff * (1.0 - gamma).astype(np.float32),
        low + diff * gamma.astype(np.float32),
    )


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
    scale: XY[float]  # GDAL's XSCALE/YSCALE towards the tile grid (grid.warp_scale)
    rows: tuple[int, int]  # the tile rows and columns the raster may cover,
    cols: tuple[int, int]  # with a margin; elsewhere it is not even opened
    vrt: str | None = None  # grid.polynomial_vrt: read instead of path when set
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


def inspect_sources(inputs: Sequence[str], tile: GeoBox) -> list[Source]:
    """Read the headers of ``inputs`` and order them by date, scene and path."""
    from odc.geo.geobox import GeoBox

    from rasterflow.grid import polynomial_vrt, warp_scale
    from rasterflow.io import open_raster

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
    scenes: Sequence[Scene], exprs: Sequence[Expression], tile: GeoBox, *, resampling: str
) -> list[Source]:
    """Sources for the indices ``exprs`` of ``scenes``, computed in memory from their bands
    (``resampling`` for bands off a scene's finest grid), ordered as
    :func:`inspect_sources` orders the index rasters the scenes would have."""
    from rasterflow.grid import warp_scale
    from rasterflow.scenes import scene_grid

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
                origin=SceneInput(scene, exprs, box, resampling),
            )
        )
    return sorted(out, key=lambda s: (s.date, s.scene, s.path))


def _kernel_warp(src: Any, box: GeoBox, tile: GeoBox, scale: XY[float]) -> KernelWarp | None:
    """The compiled kernel's view of an open source, or None where only GDAL's warper
    gives GDAL's pixels: validity in a mask band, pixels other than float32, a raster
    one pixel wide or high, a rotated grid, a scale below 0.95 (a wider bilinear
    kernel), or a CRS whose polynomial does not fit (grid.polynomial_to_pixels)."""
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
    from rasterflow.grid import FOUR_SAMPLE_SCALE, polynomial_to_pixels

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
    return 1 if s.origin is None else len(s.origin.exprs)


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
    return window_indices(o.scene, o.exprs, o.grid, window, resampling=o.resampling)


def _fused_block(
    sources: tuple[Source, ...],
    tile: GeoBox,
    statistic: Statistic,
    rows: tuple[int, int],
    cols: tuple[int, int],
    bands: BandSpec | None = None,
) -> np.ndarray:
    """One chunk through the compiled kernel: each source's window read (or its indices
    computed) once, then warp and reduction in one pass per index layer (every source
    has a :class:`KernelWarp`); (planes, y, x): statistic and count of each index, then
    with ``bands`` the band composite (:func:`rasterflow.band_composite.band_block` of
    the same windows, each warped by the same kernel)."""
    from rasterflow._warp_kernel import N_PARAMS, STAT_CODES, composite_chunk, warp

    n = len(sources)
    layers = _layers(sources[0])
    gt = _tile_gt(tile)
    windows = np.zeros((n, 4), dtype=np.int64)
    sizes = np.zeros((n, 2), dtype=np.int64)
    kinds = np.zeros(n, dtype=np.int64)
    params = np.zeros((n, N_PARAMS), dtype=np.float64)
    nodata = np.full(n, np.nan, dtype=np.float64)
    has_nodata = np.zeros(n, dtype=np.bool_)
    for i, s in enumerate(sources):
        k = s.kernel
        assert k is not None
        sizes[i] = k.size
        kinds[i] = k.kind
        params[i, : len(k.params)] = k.params
        has_nodata[i] = k.nodata is not None
        nodata[i] = np.nan if k.nodata is None else k.nodata
        window = _kernel_window(k, gt, rows, cols) if _reaches(s, *rows, *cols) else None
        if window is not None:
            windows[i] = window
    offsets = np.concatenate([[0], np.cumsum(windows[:, 2] * windows[:, 3])]).astype(np.int64)
    buf = np.empty((layers, int(offsets[-1])), dtype=np.float32)
    for i, s in enumerate(sources):
        _, _, w, h = windows[i]
        if w:
            x0, y0, ww, wh = (int(v) for v in windows[i])
            values = _values(s, (x0, y0, ww, wh))
            buf[:, offsets[i] : offsets[i + 1]] = values.reshape(layers, h * w)
    shape = (rows[1] - rows[0], cols[1] - cols[0])
    n_index = _index_layers(sources[0], bands)
    out = np.empty((_planes(sources[0], bands), *shape), dtype=np.float32)
    result = np.empty(shape, dtype=np.float32)
    count = np.empty(shape, dtype=np.uint16)
    for j in range(n_index):
        composite_chunk(
            buf[j],
            offsets[:-1],
            windows,
            sizes,
            kinds,
            params,
            nodata,
            has_nodata,
            gt,
            rows[0],
            cols[0],
            STAT_CODES[statistic.kind],
            float(statistic.q or 0.0),
            result,
            count,
        )
        out[2 * j] = result
        out[2 * j + 1] = count
    if bands is not None:
        from rasterflow.band_composite import band_block

        stack = np.full((bands.layers, n, *shape), np.nan, dtype=np.float32)
        for i in range(n):
            if windows[i, 2]:
                for j in range(bands.layers):
                    warp(
                        buf[n_index + j, offsets[i] : offsets[i + 1]],
                        windows[i],
                        int(sizes[i, 0]),
                        int(sizes[i, 1]),
                        int(kinds[i]),
                        params[i],
                        float(nodata[i]),
                        bool(has_nodata[i]),
                        gt,
                        rows[0],
                        cols[0],
                        stack[j, i],
                    )
        out[2 * n_index :] = band_block(stack, bands, _days(sources))
    return out


def _days(sources: Sequence[Source]) -> np.ndarray:
    from rasterflow.band_composite import day_numbers

    return day_numbers([s.date for s in sources])


def _kernel_warp_one(
    s: Source, tile: GeoBox, rows: tuple[int, int], cols: tuple[int, int]
) -> np.ndarray:
    """One source onto a chunk through the compiled bilinear kernel: (layers, y, x)
    float32 with NaN gaps."""
    from rasterflow._warp_kernel import warp

    k = s.kernel
    assert k is not None
    out = np.full((_layers(s), rows[1] - rows[0], cols[1] - cols[0]), np.nan, dtype=np.float32)
    gt = _tile_gt(tile)
    window = _kernel_window(k, gt, rows, cols)
    if window is None:
        return out
    values = _values(s, window)
    nodata = np.nan if k.nodata is None else float(k.nodata)
    for j in range(len(values)):
        warp(
            values[j].ravel(),
            np.asarray(window, dtype=np.int64),
            k.size[0],
            k.size[1],
            k.kind,
            np.asarray(k.params, dtype=np.float64),
            nodata,
            k.nodata is not None,
            gt,
            rows[0],
            cols[0],
            out[j],
        )
    return out


#: source pixels, beyond the widest kernel (lanczos: 3 / scale), around the window a
#: scene's indices are computed in for GDAL's warper: it then finds every pixel it
#: would read from the whole raster
_WARP_MARGIN = 2


def _groups(layers: int, bands: BandSpec | None) -> tuple[slice, ...]:
    """The layers GDAL's warper takes together: the indices, then the band composite's."""
    if bands is None:
        return (slice(0, layers),)
    return slice(0, layers - bands.layers), slice(layers - bands.layers, layers)


def _warp_scene(
    s: Source, chunk_box: GeoBox, resampling: str, groups: tuple[slice, ...] | None = None
) -> np.ndarray:
    """A scene source's indices onto ``chunk_box`` by GDAL's warper: (layers, y, x).

    ``groups`` (default: all layers at once) are warped in separate calls: GDAL's warper
    decides a source pixel's validity across the bands it warps together (its unified
    nodata), and warping the band composite's layers with the indices changed which
    pixels the indices got (tests/unit/test_band_composite.py); apart, they do not.

    The indices are computed in the window of the scene's grid the chunk reaches (plus
    the kernel's reach) and warped from memory as :func:`rasterflow.grid.read_onto` warps
    an index raster: exact transformer, GDAL's scale fixed to the source's. In another
    CRS this uses the exact transformer, where read_onto goes through
    :func:`rasterflow.grid.polynomial_vrt`: values then agree within float32 rounding.
    """
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import Resampling, reproject

    from rasterflow.grid import crs_of

    o = s.origin
    assert o is not None
    out = np.full((_layers(s), *chunk_box.shape.yx), np.nan, dtype=np.float32)
    reach = 3 / min(s.scale.x, s.scale.y, 1.0) + _WARP_MARGIN
    window = _window_over(o.grid, chunk_box, reach)
    if window is None:
        return out
    x0, y0, w, h = window
    src_box = o.grid[y0 : y0 + h, x0 : x0 + w]
    values = _values(s, window)
    for group in groups or (slice(0, len(values)),):
        if group.stop <= group.start:
            continue
        reproject(
            source=np.ascontiguousarray(values[group]),
            destination=out[group],
            src_transform=src_box.affine,
            src_crs=RioCRS.from_wkt(crs_of(src_box).to_wkt()),
            src_nodata=np.nan,
            dst_transform=chunk_box.affine,
            dst_crs=RioCRS.from_wkt(crs_of(chunk_box).to_wkt()),
            dst_nodata=np.nan,
            init_dest_nodata=False,
            resampling=Resampling[resampling],
            tolerance=0.0,
            num_threads=1,
            XSCALE=repr(float(s.scale.x)),
            YSCALE=repr(float(s.scale.y)),
        )
    return out


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


def _composite_block(
    *,
    sources: tuple[Source, ...],
    tile: GeoBox,
    statistic: Statistic,
    resampling: str,
    bands: BandSpec | None = None,
    block_info: Any = None,
) -> np.ndarray:
    """One chunk: warp every source onto it, reduce; (2 x layers, y, x) float32 =
    statistic and count of each layer (one for index rasters, one per index for scenes).

    Bilinear with every source fit for the compiled kernel: one fused pass. Otherwise
    each source is warped on its own (the kernel where it can, GDAL's warper for the
    rest and for other resampling methods) and the stack reduced with NumPy.
    """
    from rasterflow.grid import read_onto

    (_, _), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    bilinear = resampling == "bilinear"
    if bilinear and all(s.kernel is not None for s in sources):
        return _fused_block(sources, tile, statistic, (r0, r1), (c0, c1), bands)
    chunk_box = tile[r0:r1, c0:c1]
    layers = _layers(sources[0])
    stack = np.full((layers, len(sources), r1 - r0, c1 - c0), np.nan, dtype=np.float32)
    for i, s in enumerate(sources):
        if not _reaches(s, r0, r1, c0, c1):
            continue  # GDAL would return all NaN: skip opening the file
        if bilinear and s.kernel is not None:
            stack[:, i] = _kernel_warp_one(s, tile, (r0, r1), (c0, c1))
        elif s.origin is not None:
            stack[:, i] = _warp_scene(s, chunk_box, resampling, groups=_groups(_layers(s), bands))
        else:
            stack[0, i] = read_onto(
                s.path,
                chunk_box,
                resampling=resampling,
                dtype="float32",
                fill=np.nan,
                scale=s.scale,
                vrt=s.vrt,
            )[0]
    n_index = _index_layers(sources[0], bands)
    out = np.empty((_planes(sources[0], bands), r1 - r0, c1 - c0), dtype=np.float32)
    for j in range(n_index):
        out[2 * j], out[2 * j + 1] = reduce_stack(stack[j], statistic)
    if bands is not None:
        from rasterflow.band_composite import band_block

        out[2 * n_index :] = band_block(stack[n_index:], bands, _days(sources))
    return out


def composite_array(
    sources: Sequence[Source],
    tile: GeoBox,
    *,
    statistic: Statistic,
    resampling: str = "bilinear",
    chunk: int = 512,
    bands: BandSpec | None = None,
) -> Any:
    """Lazy (planes, y, x) float32 Dask array over ``tile``: the statistic and the
    count of each index layer (one for index rasters, each index for scene sources),
    then with ``bands`` (scene sources whose last layers are those bands and score) the
    band composite: the bands, the chosen date and the count
    (:func:`rasterflow.band_composite.band_block`).

    Chunks are (2 x layers, chunk, chunk); each is one task that reads all ``sources``
    (see the module docstring for the memory this takes).
    """
    import dask.array as da
    from dask.base import tokenize

    from rasterflow.grid import RESAMPLING

    if resampling not in RESAMPLING:
        raise ConfigError(
            f"composite.resampling: {resampling!r} is not one of {', '.join(RESAMPLING)}"
        )
    if chunk < 16:
        raise ConfigError(f"composite.chunk: must be >= 16 pixels, got {chunk}")
    ny, nx = tile.shape.yx
    layers = {_layers(s) for s in sources}
    if len(layers) != 1:
        raise ValueError("composite_array: sources give different numbers of layers")
    if bands is not None and (
        any(s.origin is None for s in sources) or _index_layers(sources[0], bands) < 0
    ):
        raise ValueError("composite_array: a band composite needs scene sources with its bands")
    chunks = ((_planes(sources[0], bands),), _splits(ny, chunk), _splits(nx, chunk))
    name = "composite-" + tokenize(
        [(s.path, None if s.origin is None else s.origin.scene.to_params()) for s in sources],
        [e.text for e in sources[0].origin.exprs] if sources[0].origin else None,
        str(tile),
        statistic,
        resampling,
        chunk,
        bands,
    )
    extra = {} if bands is None else {"bands": bands}  # the index-only graph as before
    return da.map_blocks(
        _composite_block,
        dtype=np.float32,
        chunks=chunks,
        name=name,
        meta=np.empty((0, 0, 0), dtype=np.float32),
        sources=tuple(sources),
        tile=tile,
        statistic=statistic,
        resampling=resampling,
        **extra,
    )


#: the chunk sides :func:`auto_chunk` picks from, largest first
AUTO_CHUNKS = (2048, 1024, 512, 256)


def auto_chunk(
    scenes: int, tile_px: tuple[int, int], *, threads: int, memory_per_thread: float | None
) -> int:
    """The chunk side when none is configured: the largest of :data:`AUTO_CHUNKS` that
    cuts the (rows, cols) tile into at least ``threads`` chunks and whose task memory,
    (2.5 n + 4) x chunk^2 x 4 bytes for n scenes (see "Memory" above), is at most half
    of ``memory_per_thread`` bytes; 512 when that is unknown.

    Fewer, larger chunks mean fewer tasks, and each task costs the job's in-process
    scheduler a round trip: a 1024² tile took 2.4x its I/O floor in 512² chunks and
    1.8x in one chunk (docs/benchmarks.md, composite, fifth round).
    """
    if memory_per_thread is None:
        return 512
    ny, nx = tile_px
    for chunk in AUTO_CHUNKS:
        pieces = math.ceil(ny / chunk) * math.ceil(nx / chunk)
        if pieces >= threads and (2.5 * scenes + 4) * chunk * chunk * 4 <= memory_per_thread / 2:
            return chunk
    return AUTO_CHUNKS[-1]


def _cluster_threads_and_memory() -> tuple[int, float | None]:
    """(threads, memory limit per thread in bytes) of the active Dask client's workers,
    or of a step on the synchronous scheduler; (1, None) without either or before any
    worker has joined."""
    from rasterflow.cluster import active_client, job_threads_and_memory

    if (job := job_threads_and_memory()) is not None:
        return job
    if (client := active_client()) is None:
        return 1, None
    workers = list(client.scheduler_info()["workers"].values())
    per_thread = [
        w["memory_limit"] / w["nthreads"]
        for w in workers
        if w.get("memory_limit") and w.get("nthreads")
    ]
    return max(1, sum(w.get("nthreads", 0) for w in workers)), min(per_thread, default=None)


def _splits(n: int, chunk: int) -> tuple[int, ...]:
    return tuple(min(chunk, n - i) for i in range(0, n, chunk))


def run(
    *,
    inputs: Sequence[str],
    tile: GeoBox | Mapping[str, Any],
    output: str,
    count_output: str | None = None,
    statistic: str = "median",
    resampling: str = "bilinear",
    chunk: int | None = None,
    threads: int = 1,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Composite index rasters ``inputs`` over ``tile`` into COGs: float32 statistic,
    uint16 count.

    ``tile`` is a GeoBox or its :func:`rasterflow.grid.geobox_to_params` dict (what a
    Snakemake rule passes in ``params``). ``tags`` (e.g. TILE, PERIOD, INDEX) are added
    to both products next to the provenance tags. Computation runs on the active Dask
    scheduler (the job's ``dask_client``); ``threads`` goes to GDAL's COG writer.
    ``chunk`` None: :func:`auto_chunk` for that scheduler's threads and memory.
    """
    from rasterflow.grid import geobox_from_params

    if not inputs:
        raise InputDataError(
            f"composite {output}: no input rasters. plan_jobs() never schedules a tile "
            "and period without scenes; check the rule's input function"
        )
    box = geobox_from_params(tile)
    sources = inspect_sources(inputs, box)
    names = {s.band_name for s in sources}
    index = names.pop() if len(names) == 1 else ""
    # the inputs' unit (indices are unitless: "1"), when they all agree
    units = sources[0].units if len({s.units for s in sources}) == 1 else ""
    _composite(
        sources,
        box,
        products=[(index, output, count_output, {})],
        units=units,
        inputs=[s.path for s in sources],
        params={},
        statistic=statistic,
        resampling=resampling,
        chunk=chunk,
        threads=threads,
        tags=tags,
    )


def run_scenes(
    *,
    scenes: Sequence[Scene | Mapping[str, Any]],
    expressions: Mapping[str, str],
    tile: GeoBox | Mapping[str, Any],
    outputs: Sequence[str],
    count_outputs: Sequence[str],
    statistic: str = "median",
    resampling: str = "bilinear",
    scene_resampling: str = "bilinear",
    chunk: int | None = None,
    threads: int = 1,
    tags: Mapping[str, str] | None = None,
    bands: Mapping[str, Any] | None = None,
    band_output: str | None = None,
    band_count_output: str | None = None,
) -> None:
    """Composite the indices ``expressions`` (name -> text) of ``scenes`` (or their
    ``Scene.to_params`` dicts) over ``tile``, computed in memory from the scenes' bands:
    one statistic and one count COG per index, in ``outputs`` and ``count_outputs``.

    ``bands`` (the fields of :class:`rasterflow.band_composite.BandSpec`: roles,
    statistic, score, score_text, tolerance, max_iterations) adds one multi-band float32
    COG ``band_output`` (the bands' reflectance, then for medoid and quality the chosen
    observation's ``date``) and its uint16 count ``band_count_output``, from the same
    windows in the same pass.

    The pixels equal :func:`run`'s on the index rasters :func:`rasterflow.indices.run_all`
    would write for the scenes (``scene_resampling`` is theirs for bands off a scene's
    finest grid); each band is decoded once for all indices, and no index raster is
    written or read. Arguments as for :func:`run`; ``tags`` gets INDEX per product.
    """
    from rasterflow.grid import geobox_from_params
    from rasterflow.indices import parse
    from rasterflow.scenes import Scene

    if not scenes:
        raise InputDataError(
            f"composite {', '.join(outputs)}: no scenes. plan_jobs() never schedules a "
            "tile and period without scenes; check the rule's params"
        )
    if not len(expressions) == len(outputs) == len(count_outputs):
        raise ValueError(
            f"{len(expressions)} indices but {len(outputs)} outputs and "
            f"{len(count_outputs)} count outputs"
        )
    exprs = [parse(name, text) for name, text in expressions.items()]
    spec = None
    if bands is not None:
        from rasterflow.band_composite import BandSpec

        if band_output is None:
            raise ValueError("run_scenes: bands without a band_output")
        spec = BandSpec(**{**bands, "roles": tuple(bands["roles"])})
        # each band is an expression of itself (scaled, nodata and mask -> NaN), then the
        # score: window_indices decodes every band once for indices and bands
        layers = [parse(r, r) for r in spec.roles]
        if spec.statistic == "quality" and spec.score_text:
            layers.append(parse(spec.score, spec.score_text))
        exprs_all = [*exprs, *layers]
    else:
        exprs_all = exprs
    box = geobox_from_params(tile)
    objs = [s if isinstance(s, Scene) else Scene.from_params(s) for s in scenes]
    sources = inspect_scenes(objs, exprs_all, box, resampling=scene_resampling)
    roles = sorted(set().union(*(e.roles for e in exprs_all)))
    by_id = {s.id: s for s in objs}
    inputs = [f for src in sources for f in by_id[src.scene].files(roles)]
    params: dict[str, Any] = {
        "expressions": dict(expressions),
        "scene_resampling": scene_resampling,
    }
    if bands is not None:
        params["bands"] = {**bands, "roles": list(bands["roles"])}
    _composite(
        sources,
        box,
        units="1",
        inputs=inputs,
        params=params,
        statistic=statistic,
        resampling=resampling,
        chunk=chunk,
        threads=threads,
        tags=tags,
        products=[
            (e.name, o, c, {"INDEX": e.name})
            for e, o, c in zip(exprs, outputs, count_outputs, strict=True)
        ],
        bands=spec,
        band_outputs=(band_output or "", band_count_output),
    )


def _composite(
    sources: list[Source],
    box: GeoBox,
    *,
    products: Sequence[tuple[str, str, str | None, Mapping[str, str]]],
    units: str,
    inputs: list[str],
    params: Mapping[str, Any],
    statistic: str,
    resampling: str,
    chunk: int | None,
    threads: int,
    tags: Mapping[str, str] | None,
    bands: BandSpec | None = None,
    band_outputs: tuple[str, str | None] | None = None,
) -> None:
    """Compute and write ``products``, (index, statistic path, count path or None, tags)
    per index layer of ``sources``, and with ``bands`` the band composite into
    ``band_outputs`` (its COG, its count COG or None), in one ``da.store``: each source
    is read and warped once."""
    from rasterflow.grid import crs_of, geobox_to_params
    from rasterflow.io import Cog, close_cached, provenance_tags, write_cogs

    stat = parse_statistic(statistic)
    if chunk is None:
        workers, memory = _cluster_threads_and_memory()
        # a scene source holds a window per index: count it as that many scenes; a band
        # composite also holds its warped (layers, scenes) stack: twice its layers
        per_scene = len(products) + (2 * bands.layers if bands is not None else 0)
        chunk = auto_chunk(
            len(sources) * per_scene, box.shape.yx, threads=workers, memory_per_thread=memory
        )
    arr = composite_array(
        sources, box, statistic=stat, resampling=resampling, chunk=chunk, bands=bands
    )
    ny, nx = box.shape.yx
    log.info(
        "composite %s of %d scene(s) onto %d x %d pixels (%s, %s resampling, chunk %d)",
        stat.name,
        len(sources),
        nx,
        ny,
        crs_of(box).epsg or "custom CRS",
        resampling,
        chunk,
    )
    prov = provenance_tags(
        inputs=inputs,
        params={
            "statistic": stat.name,
            "resampling": resampling,
            "tile": geobox_to_params(box),
            "dates": [s.date for s in sources],
            "scenes": [s.scene for s in sources],
            **params,
        },
    )
    grid = {"crs": crs_of(box).to_wkt(), "transform": box.affine}
    cogs = []
    for j, (index, output, count_output, own) in enumerate(products):
        common = {**prov, **(tags or {}), **own, "N_SCENES": str(len(sources))}
        prefix = f"{index}_" if index else ""
        cogs.append(
            Cog(
                arr[2 * j],
                output,
                nodata=np.nan,
                tags={**common, "PRODUCT": stat.name},
                band_names=[f"{prefix}{stat.name}"],
                band_tags=[{"INDEX": index, "STATISTIC": stat.name, "UNITS": units}],
                **grid,
            )
        )
        if count_output is not None:
            cogs.append(
                Cog(
                    arr[2 * j + 1].astype(np.uint16),
                    count_output,
                    nodata=COUNT_NODATA,
                    tags={**common, "PRODUCT": "count"},
                    band_names=[f"{prefix}count"],
                    band_tags=[{"INDEX": index, "STATISTIC": "count", "UNITS": "observations"}],
                    **grid,
                )
            )
    if bands is not None and band_outputs is not None:
        cogs += _band_cogs(
            arr[2 * len(products) :],
            bands,
            band_outputs,
            grid=grid,
            tags={**prov, **(tags or {}), "N_SCENES": str(len(sources))},
        )
    # one da.store computes every product: the scenes are read and warped once
    write_cogs(cogs, threads=threads)
    close_cached()  # not after a failure: other threads may still read (the process exits)
    log.info("composite written to %s", ", ".join(str(c.path) for c in cogs))


def _band_cogs(
    planes: Any,
    bands: BandSpec,
    paths: tuple[str, str | None],
    *,
    grid: Mapping[str, Any],
    tags: Mapping[str, str],
) -> list[Any]:
    """The band composite's COG (bands as reflectance, then the ``date`` band for
    medoid and quality) and its count COG, from :func:`band_block`'s planes."""
    from rasterflow.band_composite import DATE_UNITS
    from rasterflow.io import Cog

    nb = len(bands.roles)
    common = {**tags, "PRODUCT": "bands", "BAND_STATISTIC": bands.statistic}
    if bands.statistic == "quality":
        terms = [f"{bands.score} = {bands.score_text}"] if bands.score_text else []
        if bands.target_day is not None:
            terms.append(
                f"{bands.day_weight!r} x exp(-d^2 / (2 x {bands.day_sigma!r}^2)), "
                f"d = days from day of year {bands.target_day}"
            )
        common["QUALITY_SCORE"] = " + ".join(terms)
    if bands.statistic == "geomedian":
        common["GEOMEDIAN_TOLERANCE"] = repr(float(bands.tolerance))
        common["GEOMEDIAN_MAX_ITERATIONS"] = str(bands.max_iterations)
    names = list(bands.roles)
    band_tags = [
        {"BAND": r, "STATISTIC": bands.statistic, "UNITS": "reflectance"} for r in bands.roles
    ]
    if bands.has_date:
        names.append("date")
        band_tags.append({"STATISTIC": "date", "UNITS": DATE_UNITS})
    out = [
        Cog(
            planes[: len(names)],
            paths[0],
            nodata=np.nan,
            tags=common,
            band_names=names,
            band_tags=band_tags,
            **grid,
        )
    ]
    if paths[1] is not None:
        out.append(
            Cog(
                planes[nb + 1].astype(np.uint16),
                paths[1],
                nodata=COUNT_NODATA,
                tags={**common, "PRODUCT": "bands_count"},
                band_names=["count"],
                band_tags=[{"STATISTIC": "count", "UNITS": "observations"}],
                **grid,
            )
        )
    return out


def plan_jobs(
    touched: Mapping[str, Sequence[str]], periods: Mapping[str, Sequence[str]]
) -> dict[tuple[str, str], list[str]]:
    """(tile id, period id) -> scene ids, for every pair with at least one scene.

    ``touched`` is :func:`rasterflow.grid.tiles_touched`, ``periods`` is
    :func:`rasterflow.periods.group_by_period`; scenes keep the period's order.
    """
    # one pass over the scenes of each tile, not over every scene of every period for
    # each tile: 100,000 scenes on 1,000 tiles would be 10^8 membership tests
    where: dict[str, list[tuple[str, int]]] = {}  # scene -> (period, position in it)
    for period_id, scenes in periods.items():
        for pos, scene in enumerate(scenes):
            where.setdefault(scene, []).append((period_id, pos))
    jobs: dict[tuple[str, str], list[str]] = {}
    for tile_id, on_tile in touched.items():
        found: dict[str, list[tuple[int, str]]] = {}
        for scene in dict.fromkeys(on_tile):
            for period_id, pos in where.get(scene, ()):
                found.setdefault(period_id, []).append((pos, scene))
        for period_id in periods:
            if period_id in found:
                jobs[(tile_id, period_id)] = [s for _pos, s in sorted(found[period_id])]
    return jobs
