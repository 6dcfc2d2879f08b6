"""Zonal statistics' test data: one grid, random values with nodata, star-shaped zones."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from helpers import write_raster

X0, Y0, RES = 500_000.0, 5_000_500.0, 10.0  # EPSG:32633, 10 m pixels
ROWS, COLS = 40, 50
NODATA = -9999.0
ALL_STATS = ["count", "sum", "mean", "min", "max", "std", "median"]
PERCENTILES = [10, 50, 92.5]


def write_grid_raster(path: Path, data: np.ndarray, *, nodata: float | None) -> Path:
    """``data`` on the zonal tests' grid (X0, Y0, RES in EPSG:32633)."""
    return write_raster(path, data, origin=(X0, Y0), res=RES, nodata=nodata)


def star(rng: np.random.Generator, cx: float, cy: float, radius: float) -> shapely.Polygon:
    # evenly spread angles (jittered less than a step) keep the polygon simple
    angles = np.linspace(0, 2 * np.pi, 9, endpoint=False) + rng.uniform(0, 0.6, 9)
    r = radius * rng.uniform(0.4, 1.0, angles.size)
    return shapely.Polygon(np.c_[cx + r * np.cos(angles), cy + r * np.sin(angles)])


def random_values() -> np.ndarray:
    """ROWS x COLS normal values with 5 % NODATA and 3 % NaN."""
    rng = np.random.default_rng(20240601)
    data = rng.normal(100.0, 20.0, (ROWS, COLS))
    data[rng.random((ROWS, COLS)) < 0.05] = NODATA
    data[rng.random((ROWS, COLS)) < 0.03] = np.nan
    return data


def star_zones() -> gpd.GeoDataFrame:
    """30 star polygons of 1 to 12 pixels across, some straddling or beyond the edge."""
    rng = np.random.default_rng(7)
    polys = [
        star(
            rng,
            X0 + rng.uniform(-60, COLS * RES + 60),
            Y0 - rng.uniform(-60, ROWS * RES + 60),
            rng.uniform(6, 60),
        )
        for _ in range(30)
    ]
    assert all(p.is_valid for p in polys)
    return gpd.GeoDataFrame(
        {"zid": [f"z{i:02d}" for i in range(30)], "name": [f"zone {i}" for i in range(30)]},
        geometry=polys,
        crs="EPSG:32633",
    )


def write_tiled(path: Path, values: np.ndarray) -> Path:
    """``values`` on the zonal grid in 16 x 16 blocks, so that cells can be a few blocks small."""
    return write_raster(
        path,
        values,
        origin=(X0, Y0),
        res=RES,
        nodata=NODATA,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    )


def with_cell_zones(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The stars, plus zones across a cell corner, larger than a cell, and a box whose
    edges run through pixel centres across a cell edge (with 16-pixel cells)."""
    rng = np.random.default_rng(3)
    corner = star(rng, X0 + 16 * RES, Y0 - 16 * RES, 40)
    large = [star(rng, X0 + 200, Y0 - 200, 190), shapely.box(X0 - 50, Y0 - 305, X0 + 600, Y0 - 95)]
    centres = shapely.box(X0 + 12.5 * RES, Y0 - 20.5 * RES, X0 + 19.5 * RES, Y0 - 14.5 * RES)
    extra = gpd.GeoDataFrame(
        {"zid": ["corner", "large", "band", "centres"]},
        geometry=[corner, *large, centres],
        crs="EPSG:32633",
    )
    return pd.concat([zones[["zid", "geometry"]], extra], ignore_index=True)
