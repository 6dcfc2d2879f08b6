"""Contours' test DEMs (the real rmnp-dem.tif and a synthetic one) and pixel geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from helpers import DATA, write_raster

RMNP = DATA / "rmnp-dem.tif"


def synthetic_dem(tmp_path: Path) -> Path:
    """120 x 140 float32 heights, 30 m pixels, with nodata holes, edges and a plateau."""
    rng = np.random.default_rng(19)
    h, w = 120, 140
    y, x = np.mgrid[0:h, 0:w]
    z = (200 * np.sin(x / 13.0) * np.cos(y / 17.0) + 3 * x + rng.normal(0, 4, (h, w))).astype(
        np.float32
    )
    z[30:45, 50:70] = -9999  # a hole
    z[80:, :10] = -9999  # on the raster's edge
    z[5, 100] = -9999  # one pixel
    z[60:62, 120:] = -9999  # a strip to the edge
    z[95:100, 95:105] = 100.0  # a plateau exactly at a level
    return write_raster(tmp_path / "synthetic.tif", z, res=30.0, nodata=-9999.0)


def synthetic_ndvi(tmp_path: Path) -> Path:
    """100 x 90 float32 NDVI-like values (-0.2..0.9) with NaN nodata, as a mosaic holds."""
    rng = np.random.default_rng(23)
    h, w = 100, 90
    y, x = np.mgrid[0:h, 0:w]
    z = 0.35 + 0.5 * np.sin(x / 11.0) * np.cos(y / 9.0) + rng.normal(0, 0.02, (h, w))
    z = z.astype(np.float32)
    z[20:30, 40:55] = np.nan  # a cloud left without a clear observation
    z[:, -4:] = np.nan  # beyond the last scene's edge
    return write_raster(tmp_path / "ndvi.tif", z, res=10.0, nodata=float("nan"))


def to_pixels(geoms: np.ndarray, transform) -> np.ndarray:
    """Geometries in pixel units of ``transform`` (its inverse applied)."""
    a, b, c, d, e, f = tuple(~transform)[:6]
    return shapely.transform(
        geoms,
        lambda xy: np.column_stack(
            [a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f]
        ),
    )
