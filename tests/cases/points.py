"""Point sampling's test data: a random raster on a UTM grid and points over it."""

from __future__ import annotations

import numpy as np
from helpers import write_raster

from rasterflow import points as rp

ORIGIN = (500_000.0, 6_000_000.0)
RES = 10.0


def raster(tmp_path, *, shape=(300, 700), nodata=-9999.0, holes=True, seed=1):
    """Random float32 values (5 % nodata unless not ``holes``) as r.tif; and the array."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=shape).astype(np.float32)
    if holes:
        data[rng.random(shape) < 0.05] = nodata
    return write_raster(tmp_path / "r.tif", data, origin=ORIGIN, res=RES, nodata=nodata), data


def random_points(n, shape, *, margin=0.0, seed=2):
    """Points over the raster of ``shape``, ``margin`` (a fraction) beyond its edges."""
    rng = np.random.default_rng(seed)
    height, width = shape
    x = ORIGIN[0] + rng.uniform(-margin, 1 + margin, n) * width * RES
    y = ORIGIN[1] - rng.uniform(-margin, 1 + margin, n) * height * RES
    return x, y


def pointset(x, y, crs="EPSG:32633"):
    """A PointSet of coordinates ``x``, ``y`` in ``crs``."""
    from pyproj import CRS

    return rp.PointSet(
        x=np.asarray(x, float), y=np.asarray(y, float), crs=CRS.from_user_input(crs).to_wkt()
    )
