"""The compiled bilinear warp + time reduction behind :mod:`rasterflow.composite`.

One call per chunk: for every destination pixel it finds each scene's source position,
samples it with GDAL's bilinear rule and reduces the samples over time (median,
percentile, mean, min, max, count), with no intermediate stack and no GIL (``nogil``),
so the threads of a Dask worker run it side by side. It replaces, per scene and chunk,
a GDAL warper (open, set-up, its general kernel) and the NumPy reduction of the stack.

GDAL's rule (``GWKBilinearResample4Sample`` and ``GWKCheckAndComputeSrcOffsets`` in
``alg/gdalwarpkernel.cpp``, for XSCALE/YSCALE >= 0.95), applied here with the same
double-precision arithmetic in the same order, so the samples are GDAL's bit for bit
where the source position is:

* the destination pixel centre (col + 0.5, row + 0.5) goes through the target
  geotransform, then through the source's inverse geotransform (GDAL's
  ``GDALInvGeoTransform`` form for north-up rasters) or, for a source in another CRS,
  the polynomial of :func:`rasterflow.warp.polynomial_to_pixels`;
* a position left of or above the raster, or within 1e-10 of its right or bottom
  edge or beyond, gives nothing; nor does one whose pixel under it is nodata;
* the 2 x 2 neighbours of the position, pixel centres at +0.5, weigh
  ``rx * ry``, ``(1 - rx) * ry``, ``rx * (1 - ry)``, ``(1 - rx) * (1 - ry)``; a
  position in the outer half of the first row or column takes that pixel with weight 1;
  neighbours off the raster or nodata drop out, the rest are renormalised by the sum
  of their weights (unless that is exactly 1), and below 1e-5 there is no value.

Nodata is the file's nodata value: NaN matches NaN, other values match within two
float32 epsilons as in GDAL's nodata masker; values are float32.
Compiled on first use and cached next to this file (``cache=True``), as the terrain
kernel.

The module stays whole, over issue #20's ~600 lines, because it is one concern: the
compiled kernel, whose ``njit`` functions (GDAL's sample rule, the warp, the sorting
network and the reductions) call one another and are compiled and cached together;
its callers (:mod:`rasterflow.composite`, :mod:`rasterflow.scenes`) use a few entry
points: :func:`composite_chunk`, :func:`warp`, :func:`nearest`, :func:`source_bounds`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

AFFINE, POLYNOMIAL = 0, 1
_FLT_EPSILON = np.float32(np.finfo(np.float32).eps)
MEDIAN, PERCENTILE, MEAN, MIN, MAX = range(5)
#: Statistic kind (composite.Statistic.kind) to the code :func:`composite_chunk` takes.
STAT_CODES: dict[str, int] = {
    "median": MEDIAN,
    "percentile": PERCENTILE,
    "mean": MEAN,
    "min": MIN,
    "max": MAX,
}
#: Up to this many scenes the median and percentiles sort by a branch-free network
#: (see :func:`_sort_columns`); beyond, by insertion per pixel, whose fewer steps win
#: somewhere past it (measured: the network 2.5-3.5x faster at 6-150 scenes, even at
#: 400 on 128-pixel rows: ``benchmarks/composite_bench.py --kernel``).
NETWORK_MAX = 256
#: Length of one scene's row of parameters: an inverse geotransform (6) or a
#: polynomial's centre, span and 2 x 10 coefficients (23).
N_PARAMS = 23


@njit(nogil=True, cache=True)
def _poly(c: np.ndarray, base: int, u: float, v: float) -> float:
    # rasterflow.warp.POLYNOMIAL_POWERS, in that order
    u2 = u * u
    v2 = v * v
    return (
        c[base]
        + c[base + 1] * v
        + c[base + 2] * v2
        + c[base + 3] * (v2 * v)
        + c[base + 4] * u
        + c[base + 5] * (u * v)
        + c[base + 6] * (u * v2)
        + c[base + 7] * u2
        + c[base + 8] * (u2 * v)
        + c[base + 9] * (u2 * u)
    )


@njit(nogil=True, cache=True)
def source_xy(kind: int, p: np.ndarray, gx: float, gy: float) -> tuple[float, float]:
    """Source pixel/line of target coordinates (gx, gy), for one scene's parameters."""
    if kind == AFFINE:
        return p[0] + gx * p[1] + gy * p[2], p[3] + gx * p[4] + gy * p[5]
    u = (gx - p[0]) / p[2]
    v = (gy - p[1]) / p[2]
    return _poly(p, 3, u, v), _poly(p, 13, u, v)


@njit(nogil=True, cache=True, inline="always")
def _invalid(value: float, nodata: float, nodata_is_nan: bool, has_nodata: bool) -> bool:
    if not has_nodata:
        return False
    if nodata_is_nan:
        return math.isnan(value)
    # GDAL's float32 nodata masker: ARE_REAL_EQUAL in float, within 2 float epsilons
    a = np.float32(value)
    b = np.float32(nodata)
    return a == b or abs(a - b) < _FLT_EPSILON * abs(a + b) * np.float32(2)


@njit(nogil=True, cache=True)
def nodata_to_nan(values: np.ndarray, nodata: float) -> None:
    """NaN in place of every value GDAL's nodata masker calls ``nodata`` (:func:`_invalid`).

    For a source without NaN values (integers read as float32) the samples are then the
    same with NaN for nodata as with the value, and take :func:`_steady_masked`'s
    vectorised loop instead of a check of four neighbours per column."""
    flat = values.reshape(-1)
    nan = np.float32(np.nan)
    for i in range(flat.size):
        if _invalid(flat[i], nodata, False, True):
            flat[i] = nan


@njit(nogil=True, cache=True, inline="always")
def bilinear(
    win: np.ndarray,
    x0: int,
    y0: int,
    width: int,
    height: int,
    sx: float,
    sy: float,
    nodata: float,
    has_nodata: bool,
) -> float:
    """GDAL's bilinear sample at source position (sx, sy) (see the module docstring).

    ``win`` holds the raster's pixels from column ``x0`` and row ``y0``; pixels outside
    it count as off the raster. NaN where GDAL gives no value.
    """
    nan_nodata = math.isnan(nodata)
    if not (sx >= 0.0 and sy >= 0.0):  # also NaN positions
        return np.nan
    if sx + 1e-10 > width or sy + 1e-10 > height:
        return np.nan
    wh, ww = win.shape
    # the window's own extent bounds the neighbours, as GDAL's source window does
    xe = min(width, x0 + ww)
    ye = min(height, y0 + wh)
    i = math.floor(sx - 0.5)
    j = math.floor(sy - 0.5)
    if i >= x0 and j >= y0 and i + 1 < xe and j + 1 < ye:
        # all four neighbours on the window (the pixel under the position is one of
        # them): when all are valid, GDAL's sums below without a branch
        v00 = np.float64(win[j - y0, i - x0])
        v01 = np.float64(win[j - y0, i + 1 - x0])
        v10 = np.float64(win[j + 1 - y0, i - x0])
        v11 = np.float64(win[j + 1 - y0, i + 1 - x0])
        if not (
            _invalid(v00, nodata, nan_nodata, has_nodata)
            or _invalid(v01, nodata, nan_nodata, has_nodata)
            or _invalid(v10, nodata, nan_nodata, has_nodata)
            or _invalid(v11, nodata, nan_nodata, has_nodata)
        ):
            rx = 1.5 - (sx - i)
            ry = 1.5 - (sy - j)
            m1 = rx * ry
            m2 = (1.0 - rx) * ry
            m3 = rx * (1.0 - ry)
            m4 = (1.0 - rx) * (1.0 - ry)
            div = m1 + m2 + m3 + m4
            acc = v00 * m1 + v01 * m2 + v10 * m3 + v11 * m4
            if div == 1.0:
                return acc
            if div < 0.00001:
                return np.nan
            return acc / div
    ix = int(sx + 1e-10)
    iy = int(sy + 1e-10)
    if ix == width:
        ix -= 1
    if iy == height:
        iy -= 1
    if ix < x0 or ix >= xe or iy < y0 or iy >= ye:
        return np.nan
    if _invalid(np.float64(win[iy - y0, ix - x0]), nodata, nan_nodata, has_nodata):
        return np.nan
    rx = 1.5 - (sx - i)
    ry = 1.5 - (sy - j)
    if i == -1:
        i = 0
        rx = 1.0
    if j == -1:
        j = 0
        ry = 1.0
    acc = 0.0
    div = 0.0
    for row in range(2):
        jj = j + row
        if jj < y0 or jj >= ye:
            continue
        wy = ry if row == 0 else 1.0 - ry
        m1 = rx * wy
        m2 = (1.0 - rx) * wy
        if i >= x0 and i < xe:
            v = np.float64(win[jj - y0, i - x0])
            if not _invalid(v, nodata, nan_nodata, has_nodata):
                div += m1
                acc += v * m1
        if i + 1 >= x0 and i + 1 < xe:
            v = np.float64(win[jj - y0, i + 1 - x0])
            if not _invalid(v, nodata, nan_nodata, has_nodata):
                div += m2
                acc += v * m2
    if div == 1.0:
        return acc
    if div < 0.00001:
        return np.nan
    return acc / div


@njit(nogil=True, cache=True)
def _positions(
    kind: int, p: np.ndarray, gt: np.ndarray, row: int, c0: int, sx: np.ndarray, sy: np.ndarray
) -> None:
    """Source positions of grid row ``row``, columns c0.. (``sx``'s length), into sx, sy.

    For a polynomial the row's v is fixed, so the cubic in u is reduced to four
    coefficients once per row (Horner's rule per pixel): they depend on the row
    alone, so the source position still depends on nothing but the pixel.
    """
    py = row + 0.5
    if kind == AFFINE:
        for c in range(sx.shape[0]):
            px = (c + 0.5) + c0
            gx = gt[0] + px * gt[1] + py * gt[2]
            gy = gt[3] + px * gt[4] + py * gt[5]
            sx[c] = p[0] + gx * p[1] + gy * p[2]
            sy[c] = p[3] + gx * p[4] + gy * p[5]
        return
    # north-up grids only (composite._kernel_warp), so gy is the row's
    gy = gt[3] + py * gt[5]
    inv = 1.0 / p[2]
    v = (gy - p[1]) * inv
    v2 = v * v
    v3 = v2 * v
    ax0 = p[3] + p[4] * v + p[5] * v2 + p[6] * v3
    ax1 = p[7] + p[8] * v + p[9] * v2
    ax2 = p[10] + p[11] * v
    ax3 = p[12]
    ay0 = p[13] + p[14] * v + p[15] * v2 + p[16] * v3
    ay1 = p[17] + p[18] * v + p[19] * v2
    ay2 = p[20] + p[21] * v
    ay3 = p[22]
    for c in range(sx.shape[0]):
        px = (c + 0.5) + c0
        u = (gt[0] + px * gt[1] - p[0]) * inv
        sx[c] = ((ax3 * u + ax2) * u + ax1) * u + ax0
        sy[c] = ((ay3 * u + ay2) * u + ay1) * u + ay0


@njit(nogil=True, cache=True)
def _sample_row(
    buf: np.ndarray,
    start: int,
    window: np.ndarray,
    width: int,
    height: int,
    kind: int,
    p: np.ndarray,
    nodata: float,
    has_nodata: bool,
    gt: np.ndarray,
    row: int,
    c0: int,
    out: np.ndarray,
    pos: np.ndarray,
    later: np.ndarray,
) -> None:
    """Samples of one scene along grid row ``row``, columns c0.. (``out``'s length);
    ``pos`` is scratch, (2, at least that length) float64.

    Positions first, a row at a time; then each sample whose 2 x 2 neighbours are all
    on the window (nearly every one) reads them from a flat index and takes
    :func:`bilinear`'s fast-path sums, or, when one is nodata (a NaN neighbour makes
    that sum NaN), its general sums, inline and in its order; the rest (window edges,
    NaN positions) go through :func:`bilinear` itself. Same value in every case.
    """
    x0 = window[0]
    y0 = window[1]
    ww = window[2]
    wh = window[3]
    n = out.shape[0]
    win = buf[start : start + ww * wh].reshape((wh, ww))
    flat = buf[start : start + ww * wh]
    sx = pos[0, :n]
    sy = pos[1, :n]
    _positions(kind, p, gt, row, c0, sx, sy)
    # the fast path's bounds, as floats so that a NaN position fails them
    lo_x = float(x0)
    lo_y = float(y0)
    hi_x = float(min(width, x0 + ww) - 1)
    hi_y = float(min(height, y0 + wh) - 1)
    # a position whose pixel (int(x + 1e-10)) is a whole pixel or more off the window
    # has no sample (bilinear's rule): a NaN at once, without its sums (the columns of a
    # chunk a scene does not reach were a third of a composite's kernel time)
    off_x0 = float(x0)
    off_x1 = float(min(width, x0 + ww)) + 1.0
    off_y0 = float(y0)
    off_y1 = float(min(height, y0 + wh)) + 1.0
    nan_nodata = math.isnan(nodata)
    check_values = has_nodata and not nan_nodata
    todo = 0  # samples for bilinear(), listed in ``later``
    if ww < 2 or wh < 2:  # no 2 x 2 neighbourhood on the window: all of them
        for c in range(n):
            later[c] = c
        todo = n
        a = b = 0
    else:
        a, b, step = _steady_run(sx, sy, n, lo_x, lo_y, hi_x, hi_y)
        for phase in range(step if b > a else 0):
            _sample_steady(flat, x0, y0, ww, sx, sy, a + phase, b, step, nodata, has_nodata, out)
    for part in range(2):
        if ww < 2 or wh < 2:
            break
        for c in range(0, a) if part == 0 else range(b, n):
            xp = sx[c] + 1e-10
            yp = sy[c] + 1e-10
            if xp < off_x0 or xp >= off_x1 or yp < off_y0 or yp >= off_y1:
                out[c] = np.nan
                continue
            fi = np.floor(sx[c] - 0.5)
            fj = np.floor(sy[c] - 0.5)
            inside = fi >= lo_x and fj >= lo_y and fi < hi_x and fj < hi_y
            # off the window: read its first pixels (always there) and discard them
            k = (int(fj) - y0) * ww + (int(fi) - x0) if inside else 0
            v00 = np.float64(flat[k])
            v01 = np.float64(flat[k + 1])
            v10 = np.float64(flat[k + ww])
            v11 = np.float64(flat[k + ww + 1])
            rx = 1.5 - (sx[c] - fi)
            ry = 1.5 - (sy[c] - fj)
            m1 = rx * ry
            m2 = (1.0 - rx) * ry
            m3 = rx * (1.0 - ry)
            m4 = (1.0 - rx) * (1.0 - ry)
            # bilinear's fast path (x / 1.0 is x, so dividing always equals its "unless
            # exactly 1"), right unless a neighbour is nodata: with NaN for nodata (or
            # none) one NaN check of the sum finds that
            value = (v00 * m1 + v01 * m2 + v10 * m3 + v11 * m4) / (m1 + m2 + m3 + m4)
            if _needs_general_sums(value, v00, v01, v10, v11, nodata, check_values):
                value = _general_sums(
                    v00, v01, v10, v11, m1, m2, m3, m4, sx[c], sy[c], fi, fj, nodata, has_nodata
                )
            out[c] = np.float32(value)
            later[todo] = c
            todo += 0 if inside else 1
    for t in range(todo):
        c = later[t]
        out[c] = np.float32(bilinear(win, x0, y0, width, height, sx[c], sy[c], nodata, has_nodata))


@njit(nogil=True, cache=True, inline="always")
def _needs_general_sums(
    value: float, v00: float, v01: float, v10: float, v11: float, nodata: float, check: bool
) -> bool:
    """Whether a neighbour is nodata, so that the fast sums' ``value`` is wrong: with a
    nodata value (``check``) by comparing each, with NaN for nodata (or none) by one NaN
    check of the sum."""
    if check:
        return (
            _invalid(v00, nodata, False, True)
            or _invalid(v01, nodata, False, True)
            or _invalid(v10, nodata, False, True)
            or _invalid(v11, nodata, False, True)
        )
    return math.isnan(value)


@njit(nogil=True, cache=True, inline="always")
def _general_sums(
    v00: float,
    v01: float,
    v10: float,
    v11: float,
    m1: float,
    m2: float,
    m3: float,
    m4: float,
    sx: float,
    sy: float,
    fi: float,
    fj: float,
    nodata: float,
    has_nodata: bool,
) -> float:
    """:func:`bilinear`'s general sums over the valid neighbours, in its order (a skipped
    neighbour adds +0.0, which changes no sum that starts at +0.0); NaN unless the pixel
    under the position, one of the four, is valid."""
    nan_nodata = math.isnan(nodata)
    ok00 = not _invalid(v00, nodata, nan_nodata, has_nodata)
    ok01 = not _invalid(v01, nodata, nan_nodata, has_nodata)
    ok10 = not _invalid(v10, nodata, nan_nodata, has_nodata)
    ok11 = not _invalid(v11, nodata, nan_nodata, has_nodata)
    acc = 0.0
    div = 0.0
    div += m1 if ok00 else 0.0
    acc += v00 * m1 if ok00 else 0.0
    div += m2 if ok01 else 0.0
    acc += v01 * m2 if ok01 else 0.0
    div += m3 if ok10 else 0.0
    acc += v10 * m3 if ok10 else 0.0
    div += m4 if ok11 else 0.0
    acc += v11 * m4 if ok11 else 0.0
    right = np.floor(sx + 1e-10) > fi
    below = np.floor(sy + 1e-10) > fj
    under = (ok11 if right else ok10) if below else (ok01 if right else ok00)
    return acc / div if under and div >= 0.00001 else np.nan


#: shortest run of columns :func:`_sample_steady` takes (shorter: not worth its set-up)
_STEADY_MIN = 16


@njit(nogil=True, cache=True)
def _steady_run(
    sx: np.ndarray,
    sy: np.ndarray,
    n: int,
    lo_x: float,
    lo_y: float,
    hi_x: float,
    hi_y: float,
) -> tuple[int, int, int]:
    """(a, b, step): the columns [a, b) of a row whose 2 x 2 neighbours are all on the
    window and whose positions step one source pixel every ``step`` columns (1: a
    source at the grid's resolution, on its lattice, the scenes' grid by default, or a
    fraction off it; 2: a source twice as coarse, Sentinel-2's 20 m bands on 10 m),
    each of the ``step`` phases at one fraction of a pixel: one set of weights per
    phase for the whole run. (0, 0, 1) when there is no run of :data:`_STEADY_MIN`."""
    a = 0
    while a < n:
        fi = np.floor(sx[a] - 0.5)
        fj = np.floor(sy[a] - 0.5)
        if fi >= lo_x and fj >= lo_y and fi < hi_x and fj < hi_y:
            break
        a += 1
    if a >= n:
        return 0, 0, 1
    for step in (1, 2):
        b = n
        for phase in range(step):
            start = a + phase
            if start >= b:
                break
            b = min(b, _phase_end(sx, sy, start, step, n, hi_x, sy[a]))
        if b - a >= _STEADY_MIN:
            return a, b, step
    return 0, 0, 1


@njit(nogil=True, cache=True)
def _phase_end(
    sx: np.ndarray, sy: np.ndarray, start: int, step: int, n: int, hi_x: float, ya: float
) -> int:
    """The first of the columns start, start + step, ... (before n) that leaves the
    phase: the pixel of its first neighbours, ``floor(x - 0.5)``, is not fi + j (j-th
    column of the phase, fi the start's), or it is not on the start's row or not left
    of ``hi_x``. Checked in blocks without a branch, so the compiler vectorises them.

    The pixel may also be one either side of that: positions computed through a
    geotransform of 0.1 m^-1 miss whole pixels plus one fraction by an ulp here and
    there, and on the scenes' own lattice, where every position is a pixel centre, that
    flips ``floor`` to the pixel before or after (:func:`_column` follows it; the weights
    are each column's own)."""
    fi = np.floor(sx[start] - 0.5)
    if not (fi < hi_x and sy[start] == ya):
        return start
    # columns whose neighbours are on the window even one pixel on
    count = min((n - start + step - 1) // step, int(hi_x - fi) - 1)
    j = 1
    while j < count:
        e = min(count, j + 64)
        steady = True
        for k in range(j, e):
            c = start + k * step
            steady &= (abs(np.floor(sx[c] - 0.5) - (fi + k)) <= 1.0) & (sy[c] == ya)
        if not steady:
            c = start + j * step
            while abs(np.floor(sx[c] - 0.5) - (fi + j)) <= 1.0 and sy[c] == ya:
                j += 1
                c += step
            return c
        j = e
    return start + count * step


@njit(nogil=True, cache=True, inline="always")
def _weights(rx: float, ry: float) -> tuple[float, float, float, float]:
    return rx * ry, (1.0 - rx) * ry, rx * (1.0 - ry), (1.0 - rx) * (1.0 - ry)


@njit(nogil=True, cache=True, inline="always")
def _column(
    top: np.ndarray, low: np.ndarray, xs: np.ndarray, c: int, fi_a: float
) -> tuple[np.float32, np.float32, np.float32, np.float32, float]:
    """Column c of a phase (:func:`_phase_end`): its 2 x 2 neighbours from the rows
    ``top`` and ``low`` (from the phase's first pixel ``fi_a``) and its pixel ``fi``,
    one pixel either side of fi_a + c by selects, not branches."""
    fi = np.floor(xs[c] - 0.5)
    back = fi < fi_a + c
    on = fi > fi_a + c
    p = max(c - 1, 0)  # c = 0 is never back: fi_a is its own pixel
    t0 = _pick(back, top[p], _pick(on, top[c + 1], top[c]))
    t1 = _pick(back, top[c], _pick(on, top[c + 2], top[c + 1]))
    l0 = _pick(back, low[p], _pick(on, low[c + 1], low[c]))
    l1 = _pick(back, low[c], _pick(on, low[c + 2], low[c + 1]))
    return t0, t1, l0, l1, fi


#: columns per block of :func:`_steady_sums` and :func:`_steady_masked`, each checked
#: at once for a position whose pixel is one off (:func:`_column`'s ulp flips)
_BLOCK_COLUMNS = 64


@njit(nogil=True, cache=True, inline="always")
def _exact_block(xs: np.ndarray, fi_a: float, c: int, e: int) -> bool:
    """Whether columns c..e of a phase have their first neighbours at fi_a + column,
    as nearly all have: then they read consecutive pixels without selects, a loop the
    compiler vectorises (with :func:`_column`'s selects it did not: 13 ns a sample
    against 1.8, upsampling 20 m to 10 m)."""
    exact = True
    for k in range(c, e):
        exact &= np.floor(xs[k] - 0.5) == fi_a + k
    return exact


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _fast_sum(
    t0: np.float32, t1: np.float32, l0: np.float32, l1: np.float32, x: float, fi: float, ry: float
) -> float:
    """:func:`bilinear`'s fast-path sums of one column's 2 x 2 neighbours (column ``x``,
    its pixel ``fi``, the phase's row weight ``ry``), in its order."""
    m1, m2, m3, m4 = _weights(1.5 - (x - fi), ry)
    return (
        np.float64(t0) * m1 + np.float64(t1) * m2 + np.float64(l0) * m3 + np.float64(l1) * m4
    ) / (m1 + m2 + m3 + m4)


# error_model "numpy": a division needs no zero check (the weights sum to 1 within
# rounding), which kept the loop from being vectorised
@njit(nogil=True, cache=True, error_model="numpy")
def _steady_sums(
    top: np.ndarray,
    low: np.ndarray,
    dst: np.ndarray,
    xs: np.ndarray,
    fi_a: float,
    ry: float,
    m: int,
) -> int:
    """:func:`_sample_steady`'s fast sums of its m columns into ``dst``, block by block
    (:func:`_exact_block`); the number of NaN results."""
    gaps = 0
    for c in range(0, m, _BLOCK_COLUMNS):
        e = min(m, c + _BLOCK_COLUMNS)
        if _exact_block(xs, fi_a, c, e):
            gaps += _exact_sums(top[c:], low[c:], dst[c:e], xs[c:e], ry, e - c)
        else:
            gaps += _picked_sums(top, low, dst, xs, fi_a, ry, c, e)
    return gaps


@njit(nogil=True, cache=True, error_model="numpy")
def _exact_sums(
    top: np.ndarray, low: np.ndarray, dst: np.ndarray, xs: np.ndarray, ry: float, n: int
) -> int:
    """The fast sums of n columns whose neighbours are top[c], top[c + 1], low[c],
    low[c + 1] (an exact block); the number of NaN results."""
    gaps = 0
    for c in range(n):
        fi = np.floor(xs[c] - 0.5)
        value = _fast_sum(top[c], top[c + 1], low[c], low[c + 1], xs[c], fi, ry)
        dst[c] = np.float32(value)
        gaps += math.isnan(value)
    return gaps


@njit(nogil=True, cache=True, error_model="numpy")
def _picked_sums(
    top: np.ndarray,
    low: np.ndarray,
    dst: np.ndarray,
    xs: np.ndarray,
    fi_a: float,
    ry: float,
    c0: int,
    e: int,
) -> int:
    """The fast sums of columns c0..e of a phase, each one's neighbours picked by
    :func:`_column`; the number of NaN results."""
    gaps = 0
    for c in range(c0, e):
        t0, t1, l0, l1, fi = _column(top, low, xs, c, fi_a)
        value = _fast_sum(t0, t1, l0, l1, xs[c], fi, ry)
        dst[c] = np.float32(value)
        gaps += math.isnan(value)
    return gaps


@njit(nogil=True, cache=True, inline="always")
def _pick(cond: bool, a: Any, b: Any) -> Any:
    """``a`` if ``cond`` else ``b``, both computed: a select, not a branch."""
    return a if cond else b


@njit(nogil=True, cache=True, inline="always")
def _masked_value(
    t0: np.float32,
    t1: np.float32,
    l0: np.float32,
    l1: np.float32,
    ok00: bool,
    ok01: bool,
    ok10: bool,
    ok11: bool,
    x: float,
    fi: float,
    ry: float,
    below: bool,
) -> float:
    """One column of :func:`_steady_masked`: the fast sums where all four neighbours
    are valid, else :func:`_general_sums`, by selects rather than branches."""
    v00 = np.float64(t0)
    v01 = np.float64(t1)
    v10 = np.float64(l0)
    v11 = np.float64(l1)
    m1, m2, m3, m4 = _weights(1.5 - (x - fi), ry)
    fast = (v00 * m1 + v01 * m2 + v10 * m3 + v11 * m4) / (m1 + m2 + m3 + m4)
    div = 0.0
    div += _pick(ok00, m1, 0.0)
    div += _pick(ok01, m2, 0.0)
    div += _pick(ok10, m3, 0.0)
    div += _pick(ok11, m4, 0.0)
    acc = 0.0
    acc += _pick(ok00, v00 * m1, 0.0)
    acc += _pick(ok01, v01 * m2, 0.0)
    acc += _pick(ok10, v10 * m3, 0.0)
    acc += _pick(ok11, v11 * m4, 0.0)
    right = np.floor(x + 1e-10) > fi
    under = _pick(below, _pick(right, ok11, ok10), _pick(right, ok01, ok00))
    general = _pick(under & (div >= 0.00001), acc / div, np.nan)
    return _pick(ok00 & ok01 & ok10 & ok11, fast, general)


@njit(nogil=True, cache=True, error_model="numpy")
def _steady_masked(
    top: np.ndarray,
    low: np.ndarray,
    dst: np.ndarray,
    xs: np.ndarray,
    fi_a: float,
    ry: float,
    below: bool,
    m: int,
) -> None:
    """:func:`_steady_sums` for a source with NaN for nodata (index windows): each
    column's fast sums where its four neighbours are valid, else the general sums
    (:func:`_general_sums`), chosen without a branch, so that the compiler vectorises
    gaps and cloud edges too; block by block as :func:`_steady_sums`."""
    for c in range(0, m, _BLOCK_COLUMNS):
        e = min(m, c + _BLOCK_COLUMNS)
        if _exact_block(xs, fi_a, c, e):
            _exact_masked(top[c:], low[c:], dst[c:e], xs[c:e], ry, below, e - c)
        else:
            _picked_masked(top, low, dst, xs, fi_a, ry, below, c, e)


@njit(nogil=True, cache=True, error_model="numpy")
def _exact_masked(
    top: np.ndarray,
    low: np.ndarray,
    dst: np.ndarray,
    xs: np.ndarray,
    ry: float,
    below: bool,
    n: int,
) -> None:
    """:func:`_steady_masked`'s values of n columns of an exact block (:func:`_exact_sums`)."""
    for c in range(n):
        t0 = top[c]
        t1 = top[c + 1]
        l0 = low[c]
        l1 = low[c + 1]
        fi = np.floor(xs[c] - 0.5)
        value = _masked_value(
            t0, t1, l0, l1, t0 == t0, t1 == t1, l0 == l0, l1 == l1, xs[c], fi, ry, below
        )
        dst[c] = np.float32(value)


@njit(nogil=True, cache=True, error_model="numpy")
def _picked_masked(
    top: np.ndarray,
    low: np.ndarray,
    dst: np.ndarray,
    xs: np.ndarray,
    fi_a: float,
    ry: float,
    below: bool,
    c0: int,
    e: int,
) -> None:
    """:func:`_steady_masked`'s values of columns c0..e, neighbours picked by :func:`_column`."""
    for c in range(c0, e):
        t0, t1, l0, l1, fi = _column(top, low, xs, c, fi_a)
        value = _masked_value(
            t0, t1, l0, l1, t0 == t0, t1 == t1, l0 == l0, l1 == l1, xs[c], fi, ry, below
        )
        dst[c] = np.float32(value)


@njit(nogil=True, cache=True)
def _sample_steady(
    flat: np.ndarray,
    x0: int,
    y0: int,
    ww: int,
    sx: np.ndarray,
    sy: np.ndarray,
    a: int,
    b: int,
    step: int,
    nodata: float,
    has_nodata: bool,
    out: np.ndarray,
) -> None:
    """:func:`_sample_row`'s samples of the columns a, a + step, ... before b, one phase
    of a run of :func:`_steady_run`: the same sums over neighbours at consecutive
    addresses (a loop the compiler vectorises), then the general sums where a neighbour
    is nodata."""
    fi_a = np.floor(sx[a] - 0.5)
    fj = np.floor(sy[a] - 0.5)
    ry = 1.5 - (sy[a] - fj)
    first = (int(fj) - y0) * ww + (int(fi_a) - x0)  # column a's first neighbour
    m = (b - a + step - 1) // step  # columns a, a + step, ... before b
    # slices and loop indices from 0: no negative-index wrap-around in the loop, so
    # the compiler vectorises it
    top = flat[first : first + m + 2]
    low = flat[first + ww : first + ww + m + 2]
    dst = out[a:b:step]
    xs = sx[a:b:step]
    # contiguous arrays only: strided views keep the compiler from vectorising, so a
    # step of 2 (20 m onto 10 m) goes through contiguous copies of its phase
    run = out[a:b] if step == 1 else np.empty(m, dtype=out.dtype)
    xrun = sx[a:b] if step == 1 else xs.copy()
    if has_nodata and math.isnan(nodata):
        below = np.floor(sy[a] + 1e-10) > fj
        _steady_masked(top, low, run, xrun, fi_a, ry, below, m)
        if step != 1:
            dst[:] = run
        return
    gaps = _steady_sums(top, low, run, xrun, fi_a, ry, m)
    if step != 1:
        dst[:] = run
    if not (has_nodata or gaps):
        return
    for c in range(m):
        t0, t1, l0, l1, fi = _column(top, low, xs, c, fi_a)
        v00 = np.float64(t0)
        v01 = np.float64(t1)
        v10 = np.float64(l0)
        v11 = np.float64(l1)
        # a neighbour that is nodata, or a NaN value: again one at a time, as
        # _sample_row's loop (a vectorised sum may carry another NaN's sign or payload:
        # the compiler may swap the operands of a sum)
        if not (
            math.isnan(dst[c])
            or (has_nodata and _needs_general_sums(0.0, v00, v01, v10, v11, nodata, True))
        ):
            continue
        m1, m2, m3, m4 = _weights(1.5 - (xs[c] - fi), ry)
        value = (v00 * m1 + v01 * m2 + v10 * m3 + v11 * m4) / (m1 + m2 + m3 + m4)
        dst[c] = np.float32(value)
        if _needs_general_sums(value, v00, v01, v10, v11, nodata, has_nodata):
            dst[c] = np.float32(
                _general_sums(
                    v00, v01, v10, v11, m1, m2, m3, m4, xs[c], sy[a], fi, fj, nodata, has_nodata
                )
            )


@njit(nogil=True, cache=True)
def warp(
    buf: np.ndarray,
    window: np.ndarray,
    width: int,
    height: int,
    kind: int,
    p: np.ndarray,
    nodata: float,
    has_nodata: bool,
    gt: np.ndarray,
    r0: int,
    c0: int,
    out: np.ndarray,
) -> None:
    """One scene onto rows/cols from (r0, c0) of the grid with geotransform ``gt``:
    ``out`` (rows, cols) float32 gets each sample, NaN where there is none. ``buf``
    holds the source pixels of ``window`` (x0, y0, width, height), row by row."""
    pos = np.empty((2, out.shape[1]), dtype=np.float64)
    later = np.empty(out.shape[1], dtype=np.int64)
    for r in range(out.shape[0]):
        _sample_row(
            buf,
            0,
            window,
            width,
            height,
            kind,
            p,
            nodata,
            has_nodata,
            gt,
            r0 + r,
            c0,
            out[r],
            pos,
            later,
        )


@njit(nogil=True, cache=True)
def nearest(
    buf: np.ndarray,
    window: np.ndarray,
    width: int,
    height: int,
    kind: int,
    p: np.ndarray,
    gt: np.ndarray,
    r0: int,
    c0: int,
    fill: int,
    out: np.ndarray,
) -> None:
    """GDAL's nearest neighbour (``GWKNearest``) of one raster onto rows/cols from
    (r0, c0) of the grid with geotransform ``gt``: the source pixel
    ``int(x + 1e-10), int(y + 1e-10)`` under each destination pixel centre, where
    ``x >= 0 and y >= 0`` (false for NaN) and it lies on the raster; ``fill``
    elsewhere. ``buf`` holds the raster's pixels of ``window`` (x0, y0, width, height),
    row by row; a pixel off the window counts as off the raster (the window is
    :func:`source_bounds`' with a margin, as GDAL's source window)."""
    rows, cols = out.shape
    x0 = window[0]
    y0 = window[1]
    ww = window[2]
    wh = window[3]
    sx = np.empty(cols, dtype=np.float64)
    sy = np.empty(cols, dtype=np.float64)
    for r in range(rows):
        _positions(kind, p, gt, r0 + r, c0, sx, sy)
        for c in range(cols):
            x = sx[c]
            y = sy[c]
            if not (x >= 0.0 and y >= 0.0):
                out[r, c] = fill
                continue
            i = int(x + 1e-10)
            j = int(y + 1e-10)
            if i >= width or j >= height or i < x0 or j < y0 or i >= x0 + ww or j >= y0 + wh:
                out[r, c] = fill
                continue
            out[r, c] = buf[(j - y0) * ww + (i - x0)]


@njit(nogil=True, cache=True)
def composite_chunk(
    buf: np.ndarray,
    offsets: np.ndarray,
    windows: np.ndarray,
    sizes: np.ndarray,
    kinds: np.ndarray,
    params: np.ndarray,
    nodata: np.ndarray,
    has_nodata: np.ndarray,
    gt: np.ndarray,
    r0: int,
    c0: int,
    stat: int,
    q: float,
    result: np.ndarray,
    count: np.ndarray,
) -> None:
    """Warp every scene onto a chunk and reduce over time, pixel by pixel.

    Scene ``k``'s window of pixels is ``buf[offsets[k]:]`` with ``windows[k]`` =
    (x0, y0, width, height) (width 0: the scene does not reach the chunk), raster size
    ``sizes[k]`` = (width, height), transform ``kinds[k]``/``params[k]`` (see
    :func:`source_xy`). ``result`` (float32) and ``count`` (uint16), shape (rows,
    cols) from grid row ``r0`` and column ``c0``, get the statistic (NaN without a
    valid sample) and the number of valid (non-NaN) samples. The statistic equals
    ``composite.reduce_stack`` of the stack of samples, bit for bit: NumPy's order of
    float32 operations for each kind.
    """
    rows, cols = result.shape
    n = offsets.shape[0]
    vals = np.empty(n, dtype=np.float32)
    samples = np.empty((n, cols), dtype=np.float32)
    pos = np.empty((2, cols), dtype=np.float64)
    later = np.empty(cols, dtype=np.int64)
    valid = np.empty(cols, dtype=np.int64)
    network = (stat == MEDIAN or stat == PERCENTILE) and n <= NETWORK_MAX
    for r in range(rows):
        for s in range(n):
            if windows[s, 2] == 0:
                samples[s, :] = np.nan
            else:
                _sample_row(
                    buf,
                    offsets[s],
                    windows[s],
                    sizes[s, 0],
                    sizes[s, 1],
                    kinds[s],
                    params[s],
                    nodata[s],
                    has_nodata[s],
                    gt,
                    r0 + r,
                    c0,
                    samples[s],
                    pos,
                    later,
                )
        if network:
            _sort_columns(samples, valid)
            for c in range(cols):
                k = valid[c]
                count[r, c] = k
                if k == 0:
                    result[r, c] = np.nan
                else:
                    lo, hi, gamma = _order_positions(k, stat, q)
                    result[r, c] = _order_value(samples[lo, c], samples[hi, c], gamma, stat)
            continue
        for c in range(cols):
            k = 0
            total = np.float32(0.0)
            for s in range(n):
                v = samples[s, c]
                if math.isnan(v):
                    continue
                if stat == MEAN:
                    total += v
                elif stat == MIN:
                    if k == 0 or v < total:
                        total = v
                elif stat == MAX:
                    if k == 0 or v > total:
                        total = v
                else:  # insertion into the sorted valid samples
                    m = k
                    while m > 0 and vals[m - 1] > v:
                        vals[m] = vals[m - 1]
                        m -= 1
                    vals[m] = v
                k += 1
            count[r, c] = k
            if k == 0:
                result[r, c] = np.nan
            elif stat == MEAN:
                # NumPy divides the float32 sum by the integer count in float64
                result[r, c] = np.float32(np.float64(total) / np.float64(k))
            elif stat == MIN or stat == MAX:
                result[r, c] = total
            else:
                lo, hi, gamma = _order_positions(k, stat, q)
                result[r, c] = _order_value(vals[lo], vals[hi], gamma, stat)


@njit(nogil=True, cache=True)
def _sort_columns(samples: np.ndarray, valid: np.ndarray) -> None:
    """Sort each column of ``samples`` (scenes, cols) in place, NaN (no sample) last as
    +inf, and count its valid samples into ``valid``.

    A bubble network of min/max over whole rows: no branch, so the compiler runs it on
    many columns at once; n(n-1)/2 steps, which beats an insertion per pixel (branches
    it cannot predict) up to hundreds of scenes (NETWORK_MAX). A real +inf sorts among
    the gaps, but is equal to them, so the first ``valid`` values are still the valid
    samples, sorted.
    """
    n, cols = samples.shape
    valid[:] = 0
    for s in range(n):
        row = samples[s]
        for c in range(cols):
            v = row[c]
            gap = math.isnan(v)
            row[c] = np.inf if gap else v
            valid[c] += 0 if gap else 1
    for last in range(n - 1, 0, -1):
        for s in range(last):
            a = samples[s]
            b = samples[s + 1]
            for c in range(cols):
                x = a[c]
                y = b[c]
                a[c] = min(x, y)
                b[c] = max(x, y)


@njit(nogil=True, cache=True, inline="always")
def _order_positions(k: int, stat: int, q: float) -> tuple[int, int, float]:
    """Indices into k sorted valid samples, and the weight, of the median or percentile q
    (NumPy's "linear" method)."""
    if stat == MEDIAN:
        hi = k // 2
        lo = hi if k % 2 == 1 else hi - 1
        return lo, hi, 0.5
    virtual = (k - 1) * (q / 100)
    prev = math.floor(virtual)
    if virtual >= k - 1:
        return k - 1, k - 1, virtual - prev
    return int(prev), int(prev) + 1, virtual - prev


@njit(nogil=True, cache=True, inline="always")
def _order_value(low: np.float32, high: np.float32, gamma: float, stat: int) -> np.float32:
    """NumPy's float32 arithmetic for the median (mean of the middle two) or a
    percentile (its lerp) from the two sorted samples around it."""
    if stat == MEDIAN:
        return (low + high) / np.float32(2.0)
    diff = high - low
    if gamma >= 0.5:
        return high - diff * np.float32(1.0 - gamma)
    return low + diff * np.float32(gamma)


@njit(nogil=True, cache=True)
def source_bounds(
    kind: int, p: np.ndarray, gt: np.ndarray, r0: int, r1: int, c0: int, c1: int
) -> tuple[float, float, float, float]:
    """(min x, min y, max x, max y) of the source positions of the pixel centres on the
    border of grid rows r0..r1 and columns c0..c1 (exclusive ends); NaN if any is."""
    lo_x = np.inf
    lo_y = np.inf
    hi_x = -np.inf
    hi_y = -np.inf
    bad = False
    rows = r1 - r0
    cols = c1 - c0
    for k in range(2 * (rows + cols)):
        if k < cols:
            r, c = r0, c0 + k
        elif k < 2 * cols:
            r, c = r1 - 1, c0 + k - cols
        elif k < 2 * cols + rows:
            r, c = r0 + k - 2 * cols, c0
        else:
            r, c = r0 + k - 2 * cols - rows, c1 - 1
        px = c + 0.5
        py = r + 0.5
        sx, sy = source_xy(
            kind, p, gt[0] + px * gt[1] + py * gt[2], gt[3] + px * gt[4] + py * gt[5]
        )
        if math.isnan(sx) or math.isnan(sy):
            bad = True
        lo_x = min(lo_x, sx)
        lo_y = min(lo_y, sy)
        hi_x = max(hi_x, sx)
        hi_y = max(hi_y, sy)
    if bad:
        return np.nan, np.nan, np.nan, np.nan
    return lo_x, lo_y, hi_x, hi_y
