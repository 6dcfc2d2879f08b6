"""Composites' test scenes: five index rasters in two UTM zones around one tile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from helpers import write_raster
from odc.geo.geobox import GeoBox
from rasterio.transform import from_origin

#: the target tile: 170 x 150 pixels of 10 m in UTM 33, near the border with zone 32
TILE = GeoBox((150, 170), from_origin(300_000, 5_000_000, 10, 10), "EPSG:32633")


def write_scene(
    path: Path,
    data: np.ndarray,
    *,
    crs: str,
    x0: float,
    y0: float,
    res: float,
    date: str,
    nodata: float = np.nan,
) -> str:
    """One index raster (float32 NDVI, 64 x 64 blocks) of a scene dated ``date``."""
    write_raster(
        path,
        data.astype(np.float32),
        crs=crs,
        origin=(x0, y0),
        res=res,
        nodata=nodata,
        tags={"DATE": date, "SCENE": f"S_{date}"},
        descriptions=["NDVI"],
        tiled=True,
        blockxsize=64,
        blockysize=64,
    )
    return str(path)


def clouds(rng: np.random.Generator, shape: tuple[int, int], n: int) -> np.ndarray:
    """Boolean mask of ``n`` round blobs plus scattered single pixels."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = rng.random(shape) < 0.03
    for _ in range(n):
        cy, cx, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(4, 15)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    return mask


def write_scenes(root: Path) -> list[str]:
    """Five index rasters in two UTM zones, partly overlapping the tile, with gaps.

    Returned in date order, which is the order the composite stacks them in.
    """
    rng = np.random.default_rng(20240601)
    west = TILE.extent.to_crs("EPSG:32632").boundingbox  # the tile in zone 32

    def values(shape):
        return rng.uniform(-0.2, 0.9, shape).astype(np.float32)

    out = []
    # 1: zone 33, 10 m, off the tile's pixel grid by (3, -7) m, west two thirds
    a = values((160, 120))
    a[clouds(rng, a.shape, 4)] = np.nan
    out.append(
        write_scene(
            root / "s1.tif",
            a,
            crs="EPSG:32633",
            x0=300_000 - 47,
            y0=5_000_000 + 33,
            res=10,
            date="2024-06-01",
        )
    )
    # 2: zone 32, 10 m, the east half and beyond
    b = values((170, 150))
    b[clouds(rng, b.shape, 5)] = np.nan
    out.append(
        write_scene(
            root / "s2.tif",
            b,
            crs="EPSG:32632",
            x0=west.left + 800,
            y0=west.top + 60,
            res=10,
            date="2024-06-11",
        )
    )
    # 3: zone 32, 20 m (coarser than the tile), the centre
    c = values((60, 70))
    c[clouds(rng, c.shape, 2)] = np.nan
    out.append(
        write_scene(
            root / "s3.tif",
            c,
            crs="EPSG:32632",
            x0=west.left + 300,
            y0=west.top - 250,
            res=20,
            date="2024-06-21",
        )
    )
    # 4: zone 33, 10 m, nodata -9999 (not NaN): a swath edge and stripes
    d = values((150, 170))
    d[:, :40] = -9999
    d[::9, :] = -9999
    out.append(
        write_scene(
            root / "s4.tif",
            d,
            crs="EPSG:32633",
            x0=300_000,
            y0=5_000_000,
            res=10,
            date="2024-07-01",
            nodata=-9999,
        )
    )
    # 5: zone 33, 10 m, on the tile grid, heavily clouded, the south half
    e = values((90, 170))
    e[clouds(rng, e.shape, 8)] = np.nan
    out.append(
        write_scene(
            root / "s5.tif",
            e,
            crs="EPSG:32633",
            x0=300_000,
            y0=5_000_000 - 600,
            res=10,
            date="2024-07-11",
        )
    )
    return out


def read_band(path) -> np.ndarray:
    """Band 1 of a raster."""
    with rasterio.open(path) as src:
        return src.read(1)
