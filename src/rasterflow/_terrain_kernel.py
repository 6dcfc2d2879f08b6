"""The compiled 3x3 window kernel behind :mod:`rasterflow.terrain`.

One loop over the pixels of a halo-padded block computes a product straight into its
stored type: no temporary arrays, one pass over memory, and no GIL (``nogil``), so the
threads of a Dask worker run it side by side. The NumPy version it replaced made
about 40 passes over each block and held the GIL between them, and took about twice
as long for slope, aspect and hillshade of a 2048² DEM on one thread. The formulas,
their order of operations and types are gdaldem's
(see the :mod:`rasterflow.terrain` docstring); ``tests/unit/test_terrain.py`` checks
them against ``gdaldem`` itself.

Compiled on first use and cached next to this file (``cache=True``; numba falls back to
a per-user cache directory where the package is read-only), so a job pays the compile
once per machine, not once per process.
"""

from __future__ import annotations

import math
from math import isnan

import numpy as np
from numba import njit

SLOPE, ASPECT, HILLSHADE, TRI, TPI, ROUGHNESS = range(6)
#: Product name to the code :func:`kernel` takes.
CODES: dict[str, int] = {
    "slope": SLOPE,
    "aspect": ASPECT,
    "hillshade": HILLSHADE,
    "tri": TRI,
    "tpi": TPI,
    "roughness": ROUGHNESS,
}

_DEGREES = 180.0 / math.pi  # as numpy.degrees
# numba types float() of a float32 as float32: conversions below use np.float64


@njit(nogil=True, cache=True)
def kernel(
    p: np.ndarray,
    out: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    code: int,
    nodata: float,
    eighth: float,
    compute_edges: bool,
    horn: bool,
    percent: bool,
    square_pixels: bool,
    zero_for_flat: bool,
    wilson: bool,
    shade: tuple[float, float, float, float, float],
) -> None:
    """Fill ``out`` (rows, cols) with product ``code`` of the halo-padded ``p``.

    ``p`` holds heights in the working type with NaN for nodata, shape (rows + 2,
    cols + 2). ``dx``/``dy`` are the spacings of the output rows. ``eighth`` is 0.125
    in ``p``'s type, so that TPI and Wilson's TRI stay in that type as in GDAL. With
    ``compute_edges`` a NaN neighbour takes the centre's value (the caller has already
    extrapolated the raster's outer halo); otherwise any NaN in the window makes the
    cell nodata. ``shade`` is (sin(alt), cos(alt) * z, cos(az), sin(az), z) for
    hillshade. ``out`` is float32 (nodata ``nodata``) or uint8 for hillshade (0).
    """
    rows, cols = out.shape
    k = 8.0 if horn else 2.0
    sin_alt, cos_alt_z, cos_az, sin_az, z = shade
    for r in range(rows):
        row_dx = dx[r]
        row_dy = dy[r]
        for c in range(cols):
            e = p[r + 1, c + 1]
            if isnan(e):
                out[r, c] = nodata
                continue
            a = p[r, c]
            b = p[r, c + 1]
            cc = p[r, c + 2]
            d = p[r + 1, c]
            f = p[r + 1, c + 2]
            g = p[r + 2, c]
            h = p[r + 2, c + 1]
            i = p[r + 2, c + 2]
            if compute_edges:
                a = e if isnan(a) else a
                b = e if isnan(b) else b
                cc = e if isnan(cc) else cc
                d = e if isnan(d) else d
                f = e if isnan(f) else f
                g = e if isnan(g) else g
                h = e if isnan(h) else h
                i = e if isnan(i) else i
            elif (
                isnan(a)
                or isnan(b)
                or isnan(cc)
                or isnan(d)
                or isnan(f)
                or isnan(g)
                or isnan(h)
                or isnan(i)
            ):
                out[r, c] = nodata
                continue

            if code == TPI:
                value = np.float64(e - (a + b + cc + d + f + g + h + i) * eighth)
            elif code == TRI:
                if wilson:
                    s = abs(a - e)
                    s += abs(b - e)
                    s += abs(cc - e)
                    s += abs(d - e)
                    s += abs(f - e)
                    s += abs(g - e)
                    s += abs(h - e)
                    s += abs(i - e)
                    value = np.float64(s * eighth)
                else:
                    t = 0.0
                    for n in (a, b, cc, d, f, g, h, i):
                        step = np.float64(n - e)
                        t += step * step
                    value = math.sqrt(t)
            elif code == ROUGHNESS:
                value = np.float64(
                    max(a, b, cc, d, e, f, g, h, i) - min(a, b, cc, d, e, f, g, h, i)
                )
            else:
                # east-minus-west and north-minus-south, in gdaldem's order of operations
                if horn:
                    ew = -np.float64((a + d + d + g) - (cc + f + f + i))
                    ns = -np.float64((g + h + h + i) - (a + b + b + cc))
                else:
                    ew = -np.float64(d - f)
                    ns = -np.float64(h - b)
                if code == ASPECT:
                    if ew == 0.0 and ns == 0.0:
                        if zero_for_flat:
                            out[r, c] = 0.0
                        else:
                            out[r, c] = nodata
                        continue
                    east = ew if square_pixels else ew / row_dx
                    north = ns if square_pixels else ns / row_dy
                    angle = math.atan2(-north, -east) * _DEGREES  # anticlockwise from east
                    value = 450.0 - angle if angle > 90.0 else 90.0 - angle
                    if np.float32(value) == np.float32(360.0):  # as stored, 0..<360
                        value = 0.0
                else:
                    px = ew / (k * row_dx)
                    qy = ns / (k * row_dy)
                    if code == SLOPE:
                        gradient = math.sqrt(px * px + qy * qy)
                        value = 100.0 * gradient if percent else math.atan(gradient) * _DEGREES
                    else:
                        lit = (sin_alt - cos_alt_z * (qy * cos_az + px * sin_az)) / math.sqrt(
                            1.0 + z * z * (px * px + qy * qy)
                        )
                        # gdaldem: 1 + 254 cos(incidence); 1 where facing away from the sun
                        value = 1.0 if lit * 254.0 <= 0.0 else 1.0 + 254.0 * lit
            if isnan(value):
                out[r, c] = nodata
            elif code == HILLSHADE:
                # GDAL stores float as Byte rounding half up, clamped to 0..255
                out[r, c] = min(max(math.floor(value + 0.5), 0.0), 255.0)
            else:
                out[r, c] = value
