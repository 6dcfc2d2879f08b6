"""Terrain's test DEMs (synthetic with a fixed seed, and the real rmnp-dem.tif) and the
whole-raster (NumPy) product they are compared through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from helpers import DATA, write_raster
from rasterio.transform import from_origin

from rasterflow import terrain
from rasterflow.terrain import TerrainParams

RMNP = DATA / "rmnp-dem.tif"
#: gdaldem -s for degrees and metres, as the rmnp comparison needs
DEGREE_SCALE = 111120.0

GRADIENT_PRODUCTS = ("slope", "aspect", "hillshade")


def synthetic_heights(
    shape: tuple[int, int], *, dtype: str, nodata: float, seed: int = 42
) -> np.ndarray:
    """Hills plus noise, a flat plateau, a flat strip on the east edge, a nodata hole in
    the interior, an isolated nodata cell (whose Horn window does not use it) and a
    nodata cell on the north border."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    z = 1500 + 300 * np.sin(cols / 9) * np.cos(rows / 13) + 4 * cols
    z += rng.normal(0, 3, shape)
    z[20:28, 12:24] = 1600.0
    z[:, -5:] = 1700.0
    z = z.astype(dtype)
    z[40:44, 30:35] = nodata
    z[10, shape[1] - 13] = nodata
    z[0, 10] = nodata
    return z


def synthetic_dem(
    path: Path,
    *,
    dtype: str = "float32",
    shape: tuple[int, int] = (61, 53),
    pixel: tuple[float, float] = (30.0, 30.0),
    crs: str = "EPSG:32613",
) -> Path:
    """:func:`synthetic_heights` written with nodata -9999 on ``pixel``-sized pixels."""
    nodata = -9999
    z = synthetic_heights(shape, dtype=dtype, nodata=nodata)
    return write_raster(
        path, z, crs=crs, transform=from_origin(500000, 4500000, *pixel), nodata=nodata
    )


def ours(src: Path, product: str, params: TerrainParams) -> np.ndarray:
    """Our product of ``src``, whole-raster (NumPy) path."""
    with rasterio.open(src) as dem:
        spacing = terrain.pixel_spacing(
            crs=dem.crs,
            transform=dem.transform,
            height=dem.height,
            scale=params.scale,
            height_units=dem.units[0] or "",
        )
        return terrain.terrain(
            dem.read(1), product, spacing=spacing, params=params, nodata=dem.nodata
        )


def angle_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute difference of angles in degrees, across north (0-180)."""
    d = np.abs(a.astype(np.float64) - b.astype(np.float64)) % 360
    return np.minimum(d, 360 - d)
