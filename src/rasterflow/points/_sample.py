"""Sampling: values of a raster (:func:`sample_raster`) or of a scene's indices
(:func:`sample_scene`) at points, reading only the windows that hold points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

from rasterflow.points._points import BLOCK, PointSet, Reader, Samples, SampleSpec


def sample(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: tuple[int, int],
    affine: Any,
    read: Reader,
    products: int,
    spec: SampleSpec,
    block: int = BLOCK,
) -> Samples:
    """Values of the ``products`` layers of a raster of ``shape`` (height, width) and
    geotransform ``affine`` at points (``x``, ``y``, in the raster's CRS), reading with
    ``read`` only the windows that hold points, one per ``block`` x ``block`` block.
    """
    height, width = shape
    inv = ~affine
    col = inv.a * x + inv.b * y + inv.c
    row = inv.d * x + inv.e * y + inv.f
    with np.errstate(invalid="ignore"):
        inside = (
            np.isfinite(col)
            & np.isfinite(row)
            & (col >= 0)
            & (col < width)
            & (row >= 0)
            & (row < height)
        )
    values = np.full((products, len(x)), np.nan, dtype=np.float64)
    idx = np.flatnonzero(inside)
    if not idx.size:
        return Samples(values, inside)
    col, row = col[idx], row[idx]
    c = np.floor(col).astype(np.int64)  # the pixel holding the point
    r = np.floor(row).astype(np.int64)
    if spec.method == "bilinear":
        u, v = col - 0.5, row - 0.5
        c0, r0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
        fu, fv = u - c0, v - r0
        ca, cb = np.clip(c0, 0, width - 1), np.clip(c0 + 1, 0, width - 1)
        ra, rb = np.clip(r0, 0, height - 1), np.clip(r0 + 1, 0, height - 1)
        lo_c, hi_c, lo_r, hi_r = ca, cb, ra, rb
    else:
        half = spec.window // 2
        lo_c, hi_c = np.maximum(c - half, 0), np.minimum(c + half, width - 1)
        lo_r, hi_r = np.maximum(r - half, 0), np.minimum(r + half, height - 1)
    key = (r // block) * (width // block + 1) + c // block
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        sel = order[start:end]
        x0, y0 = int(lo_c[sel].min()), int(lo_r[sel].min())
        x1, y1 = int(hi_c[sel].max()) + 1, int(hi_r[sel].max()) + 1
        data = np.asarray(read((x0, y0, x1 - x0, y1 - y0)), dtype=np.float64)
        if spec.method == "bilinear":
            got = _bilinear(
                data, ca[sel] - x0, cb[sel] - x0, ra[sel] - y0, rb[sel] - y0, fu[sel], fv[sel]
            )
        elif spec.window == 1:
            got = data[:, r[sel] - y0, c[sel] - x0]
        else:
            got = _window_mean(data, c[sel] - x0, r[sel] - y0, spec.window // 2)
        values[:, idx[sel]] = got
    return Samples(values, inside)


def _bilinear(
    data: np.ndarray,
    ca: np.ndarray,
    cb: np.ndarray,
    ra: np.ndarray,
    rb: np.ndarray,
    fu: np.ndarray,
    fv: np.ndarray,
) -> np.ndarray:
    """Weighted sum of the four neighbours; NaN where a neighbour of non-zero weight is."""
    total = np.zeros((data.shape[0], len(ca)), dtype=np.float64)
    for rr, cc, weight in (
        (ra, ca, (1 - fu) * (1 - fv)),
        (ra, cb, fu * (1 - fv)),
        (rb, ca, (1 - fu) * fv),
        (rb, cb, fu * fv),
    ):
        # a zero weight contributes 0 even from a NaN pixel (a point on a pixel
        # centre is that pixel's value)
        total += np.where(weight > 0, weight * data[:, rr, cc], 0.0)
    return total


def _window_mean(data: np.ndarray, c: np.ndarray, r: np.ndarray, half: int) -> np.ndarray:
    """Mean of the finite pixels of the (2 half + 1)² squares around (r, c) of ``data``
    (a window already cut to the raster: offsets beyond it are left out)."""
    height, width = data.shape[1:]
    total = np.zeros((data.shape[0], len(c)), dtype=np.float64)
    count = np.zeros_like(total)
    for dy in range(-half, half + 1):
        for dx in range(-half, half + 1):
            rr, cc = r + dy, c + dx
            ok = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
            v = data[:, np.clip(rr, 0, height - 1), np.clip(cc, 0, width - 1)]
            good = ok & np.isfinite(v)
            total += np.where(good, v, 0.0)
            count += good
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def sample_scene(
    scene: Any,
    exprs: Sequence[Any],
    points: PointSet,
    *,
    spec: SampleSpec,
    resampling: str,
    block: int = BLOCK,
) -> Samples:
    """Indices ``exprs`` of ``scene`` at ``points``: the pixels of the scene's index
    rasters (:func:`rasterflow.indices.window_indices`, the same masking and bits),
    computed only in the windows that hold points."""
    from rasterflow.indices import window_indices
    from rasterflow.scenes import scene_grid

    exprs = tuple(exprs)
    grid = scene_grid(scene, set().union(*(e.roles for e in exprs)))
    x, y = points.to_crs(grid.crs)

    def read(window: tuple[int, int, int, int]) -> np.ndarray:
        return window_indices(scene, exprs, grid, window, resampling=resampling)

    return sample(
        x,
        y,
        shape=grid.shape.yx,
        affine=grid.affine,
        read=read,
        products=len(exprs),
        spec=spec,
        block=block,
    )


def sample_raster(path: str, points: PointSet, *, spec: SampleSpec, band: int = 1) -> Samples:
    """Band ``band`` of the raster at ``path`` at ``points``; its nodata -> NaN."""
    from rasterio.windows import Window

    from rasterflow.io import open_raster

    with open_raster(path, what=f"points: raster {path}") as src:
        x, y = points.to_crs(src.crs.to_wkt())

        def read(window: tuple[int, int, int, int]) -> np.ndarray:
            masked = src.read(band, window=Window(*window), masked=True)
            return np.ma.filled(masked.astype(np.float64), np.nan)[None]

        return sample(
            x,
            y,
            shape=(src.height, src.width),
            affine=src.transform,
            read=read,
            products=1,
            spec=spec,
        )
