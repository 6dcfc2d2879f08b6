"""rasterflow.terrain: tiled against whole, geographic scale, run().

The comparisons with gdaldem (GDAL's own program) are in
tests/integration/test_terrain_reference.py; the DEMs are in tests/cases/terrain.py.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import dask.array as da
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
    synthetic_heights,
)
from rasterio.transform import Affine, from_origin

from rasterflow import terrain
from rasterflow.errors import ConfigError, InputDataError
from rasterflow.terrain import PRODUCTS, Spacing, TerrainParams

# --------------------------------------------------------------------------- tiling


def geographic_dem(shape: tuple[int, int] = (33, 29)) -> tuple[np.ndarray, Spacing]:
    """Heights with nodata on a lat/lon grid at 60 N (per-row spacing differs)."""
    z = synthetic_heights(shape, dtype="float32", nodata=-9999, seed=7)
    transform = from_origin(10.0, 60.5, 0.001, 0.0008)
    spacing = terrain.pixel_spacing(crs="EPSG:4326", transform=transform, height=shape[0])
    assert np.unique(spacing.x).size == shape[0]  # so wrong row offsets would show
    return z, spacing


@pytest.mark.parametrize("edges", ["gdaldem", "compute"])
@pytest.mark.parametrize("chunks", [(7, 5), (2, 3), (33, 4), (16, 29)])
@pytest.mark.parametrize("product", list(PRODUCTS))
def test_dask_equals_numpy(product, chunks, edges):
    z, spacing = geographic_dem()
    params = TerrainParams(edges=edges)
    whole = terrain.terrain(z, product, spacing=spacing, params=params, nodata=-9999)
    lazy = terrain.terrain(
        da.from_array(z, chunks=chunks), product, spacing=spacing, params=params, nodata=-9999
    )
    assert lazy.chunks == da.from_array(z, chunks=chunks).chunks
    tiled = lazy.compute(scheduler="threads")
    assert tiled.dtype == whole.dtype
    np.testing.assert_array_equal(tiled, whole)
    assert (whole != PRODUCTS[product].nodata).mean() > 0.5


@pytest.mark.parametrize("algorithm", ["horn", "zevenbergen_thorne"])
def test_dask_equals_numpy_single_pixel_chunks(algorithm):
    """1x1 blocks: every block is an edge or a corner of its neighbours' halos."""
    z, spacing = geographic_dem((12, 11))
    for edges in ("gdaldem", "compute"):
        params = TerrainParams(edges=edges, algorithm=algorithm)
        for product in GRADIENT_PRODUCTS:
            whole = terrain.terrain(z, product, spacing=spacing, params=params, nodata=-9999)
            tiled = terrain.terrain(
                da.from_array(z, chunks=1), product, spacing=spacing, params=params, nodata=-9999
            ).compute(scheduler="sync")
            np.testing.assert_array_equal(tiled, whole)


# --------------------------------------------------------------------------- scale


def test_geographic_spacing_matches_geodesic_distances():
    """Per-row spacing equals pyproj's geodesic distance between pixel centres."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    transform = from_origin(-106.0, 71.0, 0.01, 0.02)
    height = 50
    spacing = terrain.pixel_spacing(crs="EPSG:4326", transform=transform, height=height)
    lat = 71.0 - (np.arange(height) + 0.5) * 0.02
    _, _, east = geod.inv(np.full(height, -106.0), lat, np.full(height, -105.99), lat)
    _, _, north = geod.inv(np.full(height, -106.0), lat + 0.01, np.full(height, -106.0), lat - 0.01)
    np.testing.assert_allclose(spacing.x, east, rtol=1e-6)
    np.testing.assert_allclose(spacing.y, north, rtol=1e-6)


@pytest.mark.parametrize("lat0", [45.0, -60.0, 0.0])
def test_latitude_aware_slope_of_a_plane(lat0):
    """A plane z = 0.3 E + 0.4 N (metres) on a lat/lon grid: slope atan(0.5), aspect of
    the downslope direction atan2(-0.3, -0.4), whatever the latitude."""
    from pyproj import Transformer

    rows, cols = 41, 37
    transform = from_origin(10.0, lat0 + 0.02, 0.001, 0.001)
    lon = 10.0 + (np.arange(cols) + 0.5) * 0.001
    lat = lat0 + 0.02 - (np.arange(rows) + 0.5) * 0.001
    lon2, lat2 = np.meshgrid(lon, lat)
    # a local tangent plane (azimuthal equidistant about the centre): an independent
    # metric frame, accurate to (extent / earth radius)^2 ~ 1e-7 here
    to_local = Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat0} +lon_0=10.0185 +datum=WGS84", always_xy=True
    )
    east, north = to_local.transform(lon2, lat2)
    z = (1000.0 + 0.3 * east + 0.4 * north).astype(np.float64)

    spacing = terrain.pixel_spacing(crs="EPSG:4326", transform=transform, height=rows)
    slope = terrain.slope(z, spacing=spacing)[1:-1, 1:-1]
    aspect = terrain.aspect(z, spacing=spacing)[1:-1, 1:-1]
    np.testing.assert_allclose(slope, np.degrees(np.arctan(0.5)), atol=1e-3)
    expected_aspect = np.degrees(np.arctan2(-0.3, -0.4)) % 360
    # meridians converge: north on the grid turns by up to dlon * sin(lat) ~ 0.02 deg
    assert angle_difference(aspect, np.float32(expected_aspect)).max() < 0.03

    # the same DEM with gdaldem's constant scale is off by degrees away from the equator
    constant = terrain.slope(
        z,
        spacing=terrain.pixel_spacing(
            crs="EPSG:4326", transform=transform, height=rows, scale=DEGREE_SCALE
        ),
    )[1:-1, 1:-1]
    if abs(lat0) >= 45:
        assert np.abs(constant - np.degrees(np.arctan(0.5))).min() > 2.0


def test_compound_crs_uses_its_horizontal_part():
    transform = from_origin(-106.0, 40.5, 0.001, 0.001)
    compound = terrain.pixel_spacing(crs="EPSG:4326+5773", transform=transform, height=5)
    plain = terrain.pixel_spacing(crs="EPSG:4326", transform=transform, height=5)
    np.testing.assert_array_equal(compound.x, plain.x)
    np.testing.assert_array_equal(compound.y, plain.y)


def test_aspect_uses_true_spacing_unless_gdaldem_scale():
    """Non-square pixels: aspect of a plane is exact with scale=None; with a gdaldem
    scale it is gdaldem's (pixels taken as square)."""
    rows, cols = 9, 8
    east = (np.arange(cols) + 0.5) * 30.0
    north = -(np.arange(rows) + 0.5)[:, None] * 20.0
    z = 500 + 0.3 * east[None, :] + 0.4 * north
    spacing = Spacing.constant(30.0, 20.0, rows=rows)
    true = terrain.aspect(z, spacing=spacing)[1:-1, 1:-1]
    np.testing.assert_allclose(true, np.degrees(np.arctan2(-0.3, -0.4)) % 360, atol=1e-4)
    gdal_like = terrain.aspect(z, spacing=spacing, params=TerrainParams(scale=1.0))[1:-1, 1:-1]
    square = np.degrees(np.arctan2(-0.3 * 30, -0.4 * 20)) % 360
    np.testing.assert_allclose(gdal_like, square, atol=1e-4)


def test_aspect_just_west_of_north_is_stored_as_0_not_360():
    """450 - 90.000001 rounds to 360.0 in float32; gdaldem then stores 0."""
    north = -np.arange(5, dtype=np.float64)[:, None] * 30.0
    east = np.arange(5, dtype=np.float64)[None, :] * 30.0
    z = 1000.0 - 0.5 * north + 1e-8 * east  # downhill to the north, a hair to the west
    result = terrain.aspect(z, spacing=Spacing.constant(30.0, 30.0, rows=5))[1:-1, 1:-1]
    np.testing.assert_array_equal(result, 0.0)


def test_projected_units_and_height_units_are_converted():
    """A US-feet CRS and heights in feet give the slope of the same terrain in metres."""
    rng = np.random.default_rng(3)
    z_m = rng.normal(1000, 20, (15, 14))
    ft = 0.30480060960121924
    feet_grid = terrain.pixel_spacing(
        crs="EPSG:2229", transform=from_origin(0, 0, 100, 100), height=15
    )
    metre_grid = terrain.pixel_spacing(
        crs="EPSG:32611", transform=from_origin(0, 0, 100 * ft, 100 * ft), height=15
    )
    np.testing.assert_allclose(feet_grid.x, metre_grid.x, rtol=1e-12)
    np.testing.assert_array_equal(
        terrain.slope(z_m, spacing=feet_grid), terrain.slope(z_m, spacing=metre_grid)
    )
    heights_in_feet = terrain.pixel_spacing(
        crs="EPSG:32611", transform=from_origin(0, 0, 30, 30), height=15, height_units="ft"
    )
    np.testing.assert_allclose(heights_in_feet.x, 30 / 0.3048)
    np.testing.assert_allclose(
        terrain.slope(z_m / 0.3048, spacing=heights_in_feet),
        terrain.slope(z_m, spacing=Spacing.constant(30, 30, rows=15)),
        atol=1e-4,
    )


def test_unknown_scale_is_an_error_not_a_guess():
    transform = from_origin(-106.0, 40.5, 0.001, 0.001)
    with pytest.raises(InputDataError, match="no CRS.*terrain.scale"):
        terrain.pixel_spacing(crs=None, transform=transform, height=10)
    with pytest.raises(InputDataError, match="unknown unit 'furlong'"):
        terrain.pixel_spacing(
            crs="EPSG:4326", transform=transform, height=10, height_units="furlong"
        )
    with pytest.raises(InputDataError, match="north-up"):
        terrain.pixel_spacing(
            crs="EPSG:4326", transform=Affine(0.001, 0.0005, 0, 0, -0.001, 0), height=10
        )
    with pytest.raises(InputDataError, match="polar"):
        terrain.pixel_spacing(crs="EPSG:4326", transform=from_origin(0, 90.5, 1, 1), height=2)
    # an explicit scale needs no CRS
    explicit = terrain.pixel_spacing(crs=None, transform=transform, height=10, scale=2.0)
    np.testing.assert_array_equal(explicit.x, np.full(10, 0.002))


# --------------------------------------------------------------------------- run()


def read_product(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as src:
        return src.read(1), {
            "crs": src.crs,
            "transform": src.transform,
            "nodata": src.nodata,
            "dtype": src.dtypes[0],
            "tags": src.tags(),
            "band_tags": src.tags(1),
            "description": src.descriptions[0],
        }


def test_run_writes_valid_cogs_equal_to_the_whole_raster_result(tmp_path):
    from rio_cogeo.cogeo import cog_validate

    src = synthetic_dem(tmp_path / "dem.tif")
    params = TerrainParams(edges="compute", azimuth=200)
    outputs = {p: str(tmp_path / "out" / f"{p}.tif") for p in PRODUCTS}
    terrain.run(dem=str(src), outputs=outputs, params=params, chunk=16)

    with rasterio.open(src) as dem:
        crs, transform = dem.crs, dem.transform
    for product, path in outputs.items():
        valid, errors, _ = cog_validate(path, quiet=True)
        assert valid, errors
        data, meta = read_product(Path(path))
        assert meta["crs"] == crs and meta["transform"] == transform
        assert meta["dtype"] == PRODUCTS[product].dtype
        assert meta["nodata"] == PRODUCTS[product].nodata
        assert meta["description"] == product
        assert meta["band_tags"]["UNITS"] == {
            "slope": "degrees",
            "aspect": "degrees",
            "hillshade": "1",
        }.get(product, "m")
        recorded = json.loads(meta["tags"]["RASTERFLOW_PARAMS"])
        assert recorded["product"] == product
        assert recorded["terrain"] == json.loads(json.dumps(params.to_params()))
        assert json.loads(meta["tags"]["RASTERFLOW_INPUTS"]) == [str(src)]
        # tiled in 16 x 16 blocks by run(), whole-raster here: the same array
        np.testing.assert_array_equal(data, ours(src, product, params))
    assert not list((tmp_path / "out").glob(".*")), "temporary files left behind"


def test_run_on_geographic_dem_is_latitude_aware(tmp_path):
    from rio_cogeo.cogeo import cog_validate

    outputs = {"slope": str(tmp_path / "slope.tif"), "hillshade": str(tmp_path / "hs.tif")}
    terrain.run(dem=str(RMNP), outputs=outputs, chunk=64)
    with rasterio.open(RMNP) as dem:
        expected_crs, expected_transform = dem.crs, dem.transform
    for product, path in outputs.items():
        assert cog_validate(path, quiet=True)[0]
        data, meta = read_product(Path(path))
        assert meta["crs"] == expected_crs and meta["transform"] == expected_transform
        assert "latitude-aware" in json.loads(meta["tags"]["RASTERFLOW_PARAMS"])["spacing"]
        np.testing.assert_array_equal(data, ours(RMNP, product, TerrainParams()))
    # the constant gdaldem scale overstates east-west distances by 1/cos(40.4 deg)
    slope = read_product(Path(outputs["slope"]))[0]
    constant = ours(RMNP, "slope", TerrainParams(scale=DEGREE_SCALE))
    valid = slope != -9999
    assert np.median(slope[valid] - constant[valid]) > 0.5


def test_lazy_graph_pickles_and_recomputes(tmp_path):
    """The Dask graph run() writes holds no open dataset: it survives pickle."""
    heights, info = terrain.open_dem(RMNP, chunk=40)
    assert heights.chunks[0][0] == 40
    spacing = terrain.pixel_spacing(
        crs=info.crs, transform=info.transform, height=info.shape[0], height_units=info.height_units
    )
    lazy = terrain.terrain(heights, "slope", spacing=spacing, nodata=info.nodata)
    restored = pickle.loads(pickle.dumps(lazy))
    np.testing.assert_array_equal(
        restored.compute(scheduler="sync"), ours(RMNP, "slope", TerrainParams())
    )


def test_configuration_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="terrain.edges"):
        TerrainParams(edges="mirror")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="terrain.altitude"):
        TerrainParams(altitude=0)
    with pytest.raises(ConfigError, match="terrain.scale"):
        TerrainParams(scale=-1.0)
    with pytest.raises(ConfigError, match="unknown product 'curvature'"):
        terrain.run(dem=str(RMNP), outputs={"curvature": str(tmp_path / "c.tif")})
    with pytest.raises(InputDataError, match="file not found"):
        terrain.run(dem=str(tmp_path / "missing.tif"), outputs={"slope": str(tmp_path / "s.tif")})
