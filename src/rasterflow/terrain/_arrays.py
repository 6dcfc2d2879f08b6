"""Terrain products of arrays: the compiled kernel on a block with its halo
(:func:`terrain_block`), and :func:`terrain` (and one function per product) on a NumPy
or Dask DEM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rasterflow.errors import ConfigError, InputDataError
from rasterflow.terrain._params import PRODUCTS, Spacing, TerrainParams

# --------------------------------------------------------------------------- kernel


def working_dtype(dem_dtype: Any) -> np.dtype:
    """Type in which window sums are formed: GDAL's arithmetic, without its int32 limit.

    gdaldem sums 8- and 16-bit integer DEMs in int32 and everything else in float32.
    float32 sums of 16-bit integers are exact (|sum| < 2**24) and those of float32
    heights round exactly as GDAL's do, so results match gdaldem; 32-bit integer and
    float64 DEMs are summed in float64, which GDAL would have rounded to float32.
    Gradients, angles and shading are always computed in float64.
    """
    dtype = np.dtype(dem_dtype)
    if dtype.itemsize <= 2 or dtype == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _as_float(block: np.ndarray, nodata: float | None) -> np.ndarray:
    """Heights in :func:`working_dtype` with NaN for nodata.

    As in GDAL, a nodata value that the integer type cannot hold is ignored, and float
    cells are compared with nodata in their own type (a float32 nodata of -3.4e38 does
    not equal its float64 spelling).
    """
    out = block.astype(working_dtype(block.dtype))
    if nodata is None or np.isnan(nodata):
        return out
    if block.dtype.kind in "iu":
        limits = np.iinfo(block.dtype)
        if nodata != round(nodata) or not limits.min <= nodata <= limits.max:
            return out
        out[block == int(nodata)] = np.nan
    else:
        out[block == block.dtype.type(nodata)] = np.nan
    return out


def _fill_outside(p: np.ndarray, *, top: bool, bottom: bool, left: bool, right: bool) -> np.ndarray:
    """Extrapolate the padding on the raster's outer sides as ``2 * edge - next``.

    ``p`` is a block with a one-pixel halo; sides flagged True lie on the raster's edge
    (their halo is outside the raster). NaN (nodata) in either cell propagates, as in
    GDAL's ``INTERPOL``; the kernel then replaces it by the centre.
    """
    p = p.copy()
    if left:
        p[:, 0] = 2 * p[:, 1] - p[:, 2]
    if right:
        p[:, -1] = 2 * p[:, -2] - p[:, -3]
    if top:
        p[0, :] = 2 * p[1, :] - p[2, :]
    if bottom:
        p[-1, :] = 2 * p[-2, :] - p[-3, :]
    return p


def terrain_block(
    padded: np.ndarray,
    product: str,
    *,
    params: TerrainParams,
    dx: np.ndarray,
    dy: np.ndarray,
    top: bool,
    bottom: bool,
    left: bool,
    right: bool,
) -> np.ndarray:
    """One product of a float block with a one-pixel halo (NaN = nodata/outside).

    ``padded`` has shape (rows + 2, cols + 2); the result has shape (rows, cols) in the
    product's stored type. ``dx``/``dy`` are the spacings of the block's rows. The side
    flags say which sides of the block are the raster's outer edge.
    """
    rows = padded.shape[0] - 2
    dx = np.ascontiguousarray(dx, dtype=np.float64).reshape(rows)
    dy = np.ascontiguousarray(dy, dtype=np.float64).reshape(rows)
    if params.edges == "gdaldem":
        return _kernel(padded, product, params, dx, dy)

    p = _fill_outside(padded, top=top, bottom=bottom, left=left, right=right)
    out = _kernel(p, product, params, dx, dy)
    # GDAL's corner windows: the column beyond the side edge repeats the centre column
    # (the rows beyond the top/bottom edge are extrapolated as everywhere else)
    corners = {
        (0, 0): (top and left, slice(0, 3), [1, 1, 2]),
        (0, -1): (top and right, slice(0, 3), [-3, -2, -2]),
        (-1, 0): (bottom and left, slice(-3, None), [1, 1, 2]),
        (-1, -1): (bottom and right, slice(-3, None), [-3, -2, -2]),
    }
    for (r, c), (is_corner, rows_sl, cols_ix) in corners.items():
        if is_corner:
            window = p[rows_sl][:, cols_ix]
            out[r, c] = _kernel(
                window, product, params, dx[r : r + 1 or None], dy[r : r + 1 or None]
            )[0, 0]
    return out


def _kernel(
    p: np.ndarray, product: str, params: TerrainParams, dx: np.ndarray, dy: np.ndarray
) -> np.ndarray:
    """Run the compiled kernel on a padded block; see :mod:`rasterflow._terrain_kernel`."""
    from rasterflow._terrain_kernel import CODES, kernel

    info = PRODUCTS[product]
    out = np.empty((p.shape[0] - 2, p.shape[1] - 2), dtype=info.dtype)
    alt, az = np.radians(params.altitude), np.radians(params.azimuth)
    shade = (
        float(np.sin(alt)),
        float(np.cos(alt) * params.z_factor),
        float(np.cos(az)),
        float(np.sin(az)),
        float(params.z_factor),
    )
    kernel(
        np.ascontiguousarray(p),
        out,
        dx,
        dy,
        CODES[product],
        float(info.nodata),
        p.dtype.type(0.125),
        params.edges == "compute",
        params.algorithm == "horn",
        params.slope_units == "percent",
        params.scale is not None,
        params.zero_for_flat,
        params.tri_algorithm == "wilson",
        shade,
    )
    return out


# --------------------------------------------------------------------------- arrays


def _check_product(product: str) -> None:
    if product not in PRODUCTS:
        raise ConfigError(
            f"terrain products: unknown product {product!r}; known: {', '.join(PRODUCTS)}"
        )


def _check_shape(shape: tuple[int, ...], product: str) -> None:
    _check_product(product)
    if len(shape) != 2:
        raise ValueError(f"expected a 2-D DEM, got shape {shape}")
    if min(shape) < 3:
        raise InputDataError(f"a DEM needs at least 3 x 3 pixels for a 3x3 window, got {shape}")


def _dask_block(
    padded: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    *,
    product: str,
    params: TerrainParams,
    blocks: tuple[int, int],
    block_id: tuple[int, int] | None = None,
) -> np.ndarray:
    """map_blocks adapter: find the block's place in the raster, call terrain_block."""
    assert block_id is not None
    bi, bj = block_id
    return terrain_block(
        padded,
        product,
        params=params,
        dx=dx,
        dy=dy,
        top=bi == 0,
        bottom=bi == blocks[0] - 1,
        left=bj == 0,
        right=bj == blocks[1] - 1,
    )


def terrain(
    dem: Any,
    product: str,
    *,
    spacing: Spacing,
    params: TerrainParams = TerrainParams(),
    nodata: float | None = None,
) -> Any:
    """One terrain product of a 2-D DEM given as a NumPy or a Dask array.

    Returns the same kind of array: float32 with nodata :data:`FLOAT_NODATA`, or uint8
    with nodata :data:`HILLSHADE_NODATA` for hillshade. Cells equal to ``nodata`` and
    NaN cells are nodata. A Dask result has the DEM's chunks and is computed block by
    block with a one-pixel halo; it equals the NumPy result exactly.
    """
    _check_shape(tuple(dem.shape), product)
    if spacing.x.shape[0] != dem.shape[0]:
        raise ValueError(f"spacing has {spacing.x.shape[0]} rows, the DEM {dem.shape[0]}")
    dtype = np.dtype(PRODUCTS[product].dtype)

    import dask.array as da

    if not isinstance(dem, da.Array):
        heights = np.pad(_as_float(np.asarray(dem), nodata), 1, constant_values=np.nan)
        return terrain_block(
            heights,
            product,
            params=params,
            dx=spacing.x,
            dy=spacing.y,
            top=True,
            bottom=True,
            left=True,
            right=True,
        )

    heights = da.map_blocks(_as_float, dem, nodata=nodata, dtype=working_dtype(dem.dtype))
    # the one-pixel halo; outside the raster it is NaN, which terrain_block fills
    padded = da.overlap.overlap(heights, depth={0: 1, 1: 1}, boundary={0: np.nan, 1: np.nan})
    # spacing goes in (rows, 1) blocks matched to the DEM's row blocks (map_blocks
    # pairs blocks by index and broadcasts the single column), so each task carries
    # its own rows' spacing rather than the whole raster's
    row_chunks = (heights.chunks[0], (1,))
    return da.map_blocks(
        _dask_block,
        padded,
        da.from_array(spacing.x[:, None], chunks=row_chunks),
        da.from_array(spacing.y[:, None], chunks=row_chunks),
        chunks=heights.chunks,
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
        product=product,
        params=params,
        blocks=heights.numblocks,
    )


def _one(product: str) -> Callable[..., Any]:
    def compute(
        dem: Any,
        *,
        spacing: Spacing,
        params: TerrainParams = TerrainParams(),
        nodata: float | None = None,
    ) -> Any:
        return terrain(dem, product, spacing=spacing, params=params, nodata=nodata)

    compute.__name__ = compute.__qualname__ = product
    compute.__doc__ = (
        f"{PRODUCTS[product].description.capitalize()} ({PRODUCTS[product].units}) of a "
        f"NumPy or Dask DEM: :func:`terrain` with product {product!r}."
    )
    return compute


slope = _one("slope")
aspect = _one("aspect")
hillshade = _one("hillshade")
tri = _one("tri")
tpi = _one("tpi")
roughness = _one("roughness")
