"""rasterflow.contours against gdal_contour.

gdal_contour (GDAL's own command-line tool, Debian gdal-bin) is the independent
reference; it runs through subprocess with argument lists. The DEMs (tests/cases/contours.py):
the real one in tests/data (rmnp-dem.tif: uint16, geographic, integer heights, so many
pixels lie exactly on a level) and one generated with a fixed seed, with nodata holes (a
single pixel, blocks, strips on the raster's edge), a plateau exactly at a level and
noise that makes saddles.

Tolerance: lines are compared per level in pixel units (the DEM's inverse geotransform,
so the geographic DEM's non-square pixels count as pixels) by the Hausdorff distance of
the level's multilines. Measured: 3.3e-7 px on rmnp, 2.0e-5 px on the synthetic DEM
(GDAL fudges a value within 1e-6 of the level upwards, rasterflow lowers the level by
1e-6: the crossing moves by about 1e-6 / gradient). A different connection at one
saddle, a line cut at a tile border or a line missing next to nodata moves a level's
distance by 0.1 px or more, so the bound is 1e-3 px.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio
import shapely
from cases.contours import RMNP, synthetic_dem, synthetic_ndvi, to_pixels

from rasterflow import contours
from rasterflow.contours import ContourParams

#: per level, pixel units (see the module docstring)
HAUSDORFF_PX = 1e-3


def gdal_contour(src: Path, out: Path, params: ContourParams) -> gpd.GeoDataFrame:
    subprocess.run(
        [
            "gdal_contour",
            "-q",
            "-a",
            "elev",
            "-i",
            str(params.interval),
            "-off",
            str(params.base),
            str(src),
            str(out),
        ],
        check=True,
    )
    return gpd.read_file(out, engine="pyogrio")


@pytest.fixture(params=["rmnp", "rmnp-offset", "synthetic", "ndvi-mosaic"])
def case(request, tmp_path):
    if request.param == "synthetic":
        return synthetic_dem(tmp_path), ContourParams(interval=25)
    if request.param == "ndvi-mosaic":  # contours.products: [NDVI], NaN nodata
        return synthetic_ndvi(tmp_path), ContourParams(interval=0.1)
    # rmnp: 2281-4261 m; the offset puts levels on odd multiples of 25 (2325, ...)
    interval, base = (100, 0) if request.param == "rmnp" else (50, 25)
    return RMNP, ContourParams(interval=interval, base=base)


def test_matches_gdal_contour(case, tmp_path):
    src, params = case
    mine = contours.contour_raster(src, params)
    theirs = gdal_contour(src, tmp_path / "gdal.gpkg", params)
    with rasterio.open(src) as ds:
        transform, crs = ds.transform, ds.crs
    assert mine.crs == crs and list(mine.columns) == ["id", "elev", "geometry"]
    assert list(mine["id"]) == list(range(1, len(mine) + 1))
    assert sorted(set(mine["elev"])) == sorted(set(theirs["elev"]))  # the same levels
    assert len(set(mine["elev"])) >= 10
    worst = 0.0
    for level in sorted(set(theirs["elev"])):
        ours = mine[mine["elev"] == level].geometry.to_numpy()
        ref = theirs[theirs["elev"] == level].geometry.to_numpy()
        assert len(ours) == len(ref), level  # no line broken, merged or missing
        distance = shapely.hausdorff_distance(
            shapely.multilinestrings(to_pixels(ours, transform)),
            shapely.union_all(to_pixels(ref, transform)),
            densify=0.25,
        )
        worst = max(worst, distance)
    assert worst < HAUSDORFF_PX
