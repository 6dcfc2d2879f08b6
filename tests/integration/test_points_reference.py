"""Point sampling against GDAL's gdallocationinfo (Debian gdal-bin), run as a subprocess."""

from __future__ import annotations

import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pytest
from cases.points import pointset, random_points, raster
from shapely.geometry import Point

from rasterflow import points as rp


def test_points_in_another_crs_equal_gdallocationinfo(tmp_path):
    if shutil.which("gdallocationinfo") is None:
        pytest.fail("gdal-bin's gdallocationinfo is needed (tools/system-deps installs it)")
    path, _data = raster(tmp_path)
    x, y = random_points(40, (300, 700), margin=0.1, seed=5)
    lonlat = gpd.GeoSeries(
        [Point(a, b) for a, b in zip(x, y, strict=True)], crs="EPSG:32633"
    ).to_crs("EPSG:4326")
    got = rp.sample_raster(
        str(path), pointset(lonlat.x, lonlat.y, "EPSG:4326"), spec=rp.SampleSpec()
    )
    for i, (lon, lat) in enumerate(zip(lonlat.x, lonlat.y, strict=True)):
        out = subprocess.run(
            ["gdallocationinfo", "-valonly", "-wgs84", str(path), repr(lon), repr(lat)],
            capture_output=True,
            text=True,
            check=True,
        )
        text = out.stdout.strip()
        if not text or float(text) == -9999.0:  # off the raster, or nodata
            assert not got.valid[0, i]
        else:
            assert got.values[0, i] == np.float32(float(text)), i
