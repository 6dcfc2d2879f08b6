"""Mosaics' test data: three overlapping real rasters (tests/data) and tiles of a grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from helpers import DATA, write_raster
from odc.geo.geobox import GeoBox
from rasterio.transform import from_origin

from rasterflow import grid

FULL, SUBA, SUBB = DATA / "rgbn.tif", DATA / "rgbn_suba.tif", DATA / "rgbn_subb.tif"


def read_bands(path) -> np.ndarray:
    """All bands of a raster."""
    with rasterio.open(path) as src:
        return src.read()


def full_grid() -> GeoBox:
    """The grid of rgbn.tif, the largest of the three real rasters."""
    with rasterio.open(FULL) as src:
        return GeoBox.from_rio(src)


GRID = GeoBox((150, 170), from_origin(500_000, 6_000_000, 10, 10), "EPSG:3067")


def write_tiles(root: Path, box: GeoBox, tile_px: int, *, missing: str):
    """Tiles of random data on ``box``, all but ``missing`` (a tile no scene touched).

    Returns the tile paths and the mosaic they should make.
    """
    rng = np.random.default_rng(5)
    data = rng.uniform(-1, 1, box.shape.yx).astype(np.float32)
    data[rng.random(data.shape) < 0.05] = np.nan
    expected = data.copy()
    paths = []
    for tid, tile in grid.tiles(box, tile_px).items():
        ny, nx = tile.shape.yx
        col, row = (round(v) for v in ~box.affine @ (tile.affine.c, tile.affine.f))
        if tid == missing:
            expected[row : row + ny, col : col + nx] = np.nan
            continue
        path = root / "tiles" / f"{tid}.tif"
        path.parent.mkdir(exist_ok=True)
        write_raster(
            path,
            data[row : row + ny, col : col + nx],
            crs=box.crs.to_wkt(),
            transform=tile.affine,
            nodata=np.nan,
            descriptions=["NDVI_median"],
            tags={"TILE": tid, "PERIOD": "2024", "INDEX": "NDVI"},
        )
        paths.append(str(path))
    return paths, expected
