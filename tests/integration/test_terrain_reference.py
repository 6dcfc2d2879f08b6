"""rasterflow.terrain against gdaldem.

gdaldem (GDAL's own command-line tool) is the independent reference; it runs through
subprocess with argument lists. DEMs (tests/cases/terrain.py) are generated with a fixed
seed, except the real ``tests/data/rmnp-dem.tif`` (EPSG:4326, uint16, nodata 65535).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from cases.terrain import (
    DEGREE_SCALE,
    GRADIENT_PRODUCTS,
    RMNP,
    angle_difference,
    ours,
    synthetic_dem,
)

from rasterflow.terrain import PRODUCTS, TerrainParams

GDALDEM_MODE = {
    "slope": "slope",
    "aspect": "aspect",
    "hillshade": "hillshade",
    "tri": "TRI",
    "tpi": "TPI",
    "roughness": "roughness",
}
# slope/aspect in degrees, hillshade in grey levels (gdaldem approximates 1/sqrt),
# TRI/TPI/roughness in metres (float32 rounding)
TOLERANCE = {
    "slope": 1e-4,
    "aspect": 1e-4,
    "hillshade": 1,
    "tri": 1e-3,
    "tpi": 1e-3,
    "roughness": 1e-3,
}


def gdaldem(tmp_path: Path, mode: str, src: Path, *options: str) -> tuple[np.ndarray, float | None]:
    """Run ``gdaldem mode src out options`` and return the output band and its nodata."""
    out = tmp_path / f"gdaldem-{mode}-{len(list(tmp_path.glob('gdaldem-*')))}.tif"
    subprocess.run(
        ["gdaldem", mode, str(src), str(out), "-q", *options],
        check=True,
        capture_output=True,
        text=True,
    )
    with rasterio.open(out) as src_out:
        return src_out.read(1), src_out.nodata


def assert_matches_gdaldem(
    mine: np.ndarray, theirs: np.ndarray, their_nodata: float | None, product: str
) -> None:
    """Identical nodata masks; values within TOLERANCE where both are defined."""
    assert their_nodata is not None
    assert mine.dtype == np.dtype(PRODUCTS[product].dtype)
    mine_nodata = mine == PRODUCTS[product].nodata
    np.testing.assert_array_equal(mine_nodata, theirs == their_nodata)
    valid = ~mine_nodata
    assert valid.mean() > 0.5, "comparison would be vacuous"
    if product == "aspect":
        diff = angle_difference(mine[valid], theirs[valid])
        assert ((mine[valid] >= 0) & (mine[valid] < 360)).all()
    else:
        diff = np.abs(mine[valid].astype(np.float64) - theirs[valid].astype(np.float64))
    assert diff.max() <= TOLERANCE[product], f"{product}: max difference {diff.max()}"
    if product == "hillshade":
        # 1 grey level is for gdaldem's approximate 1/sqrt; a rounding bug would be
        # off by one on about half of the cells
        assert (diff == 0).mean() >= 0.99


@pytest.fixture(params=["float32", "int16", "nonsquare", "rmnp", "rmnp-holed"])
def dem_case(request, tmp_path) -> tuple[Path, TerrainParams, list[str]]:
    """A DEM, the TerrainParams that reproduce gdaldem on it, and gdaldem's -s option."""
    kind = request.param
    if kind in ("float32", "int16"):
        return synthetic_dem(tmp_path / f"{kind}.tif", dtype=kind), TerrainParams(), []
    if kind == "nonsquare":
        # 30 m x 20 m pixels; scale=1 is gdaldem's arithmetic (aspect ignores pixel shape)
        path = synthetic_dem(tmp_path / "nonsquare.tif", pixel=(30.0, 20.0))
        return path, TerrainParams(scale=1.0), []
    path = RMNP
    if kind == "rmnp-holed":
        with rasterio.open(RMNP) as src:
            z, profile = src.read(1), src.profile
        z[80:90, 60:75] = 65535
        z[-1, 5] = 65535
        path = tmp_path / "rmnp-holed.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(z, 1)
    return path, TerrainParams(scale=DEGREE_SCALE), ["-s", str(DEGREE_SCALE)]


@pytest.mark.parametrize("edges", ["gdaldem", "compute"])
@pytest.mark.parametrize("product", list(PRODUCTS))
def test_matches_gdaldem(dem_case, product, edges, tmp_path):
    src, params, scale_option = dem_case
    params = TerrainParams(**{**params.to_params(), "edges": edges})
    options = list(scale_option) if product in GRADIENT_PRODUCTS else []
    if edges == "compute":
        options.append("-compute_edges")
    theirs, their_nodata = gdaldem(tmp_path, GDALDEM_MODE[product], src, *options)
    mine = ours(src, product, params)
    assert_matches_gdaldem(mine, theirs, their_nodata, product)
    if edges == "gdaldem":
        nodata = PRODUCTS[product].nodata
        assert (mine[[0, -1], :] == nodata).all() and (mine[:, [0, -1]] == nodata).all()


@pytest.mark.parametrize(
    ("product", "params", "options"),
    [
        ("slope", TerrainParams(slope_units="percent"), ["-p"]),
        ("slope", TerrainParams(algorithm="zevenbergen_thorne"), ["-alg", "ZevenbergenThorne"]),
        ("aspect", TerrainParams(algorithm="zevenbergen_thorne"), ["-alg", "ZevenbergenThorne"]),
        ("hillshade", TerrainParams(algorithm="zevenbergen_thorne"), ["-alg", "ZevenbergenThorne"]),
        (
            "hillshade",
            TerrainParams(azimuth=120, altitude=30, z_factor=2.5),
            ["-az", "120", "-alt", "30", "-z", "2.5"],
        ),
        ("tri", TerrainParams(tri_algorithm="wilson"), ["-alg", "Wilson"]),
        ("tri", TerrainParams(tri_algorithm="riley"), ["-alg", "Riley"]),
        (
            "slope",
            TerrainParams(algorithm="zevenbergen_thorne", edges="compute"),
            ["-alg", "ZevenbergenThorne", "-compute_edges"],
        ),
    ],
)
def test_options_match_gdaldem(product, params, options, tmp_path):
    src = synthetic_dem(tmp_path / "dem.tif")
    theirs, their_nodata = gdaldem(tmp_path, GDALDEM_MODE[product], src, *options)
    assert_matches_gdaldem(ours(src, product, params), theirs, their_nodata, product)


def test_flat_cells_have_nodata_aspect_or_zero_for_flat(tmp_path):
    """Flat cells: aspect nodata by default, 0 with zero_for_flat (gdaldem -zero_for_flat).

    gdaldem -zero_for_flat writes 0 for nodata cells as well (its output then has no
    nodata value); we keep -9999 there, as documented.
    """
    src = synthetic_dem(tmp_path / "dem.tif")
    slope = ours(src, "slope", TerrainParams())
    default = ours(src, "aspect", TerrainParams())
    flat = (default == -9999) & (slope != -9999)
    assert flat.sum() > 50 and (slope[flat] == 0).all()

    zero = ours(src, "aspect", TerrainParams(zero_for_flat=True))
    theirs, _ = gdaldem(tmp_path, "aspect", src, "-zero_for_flat")
    assert (zero[flat] == 0).all() and (theirs[flat] == 0).all()
    np.testing.assert_array_equal(zero == -9999, slope == -9999)
    defined = zero != -9999
    assert angle_difference(zero[defined], theirs[defined]).max() <= 1e-4
    assert (theirs[~defined] == 0).all()
