"""STAC items and the static catalog: footprint, dates, relative links, same bytes twice."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pystac
import pytest
from helpers import write_raster
from rasterio.warp import transform_bounds

from rasterflow import stac
from rasterflow.errors import InputDataError


@pytest.fixture
def rasters(tmp_path):
    results = tmp_path / "results"
    (results / "mosaics").mkdir(parents=True)
    a = write_raster(results / "mosaics" / "ndvi.tif", np.ones((20, 30), "float32"),
                     nodata=float("nan"))
    b = write_raster(results / "mosaics" / "slope.tif", np.ones((10, 10), "float32"),
                     crs="EPSG:3067", origin=(380_000.0, 6_700_000.0), nodata=-9999)
    return results, [
        stac.Product(str(a), "mosaic-2024-JJA-NDVI", dt.date(2024, 6, 1), dt.date(2024, 8, 31),
                     "NDVI median 2024-JJA", {"rasterflow:period": "2024-JJA"}),
        stac.Product(str(b), "scene-slope", dt.date(2024, 5, 12), dt.date(2024, 5, 12), "slope"),
    ]


def test_item_footprint_dates_and_projection(rasters):
    _results, (period, scene) = rasters
    item = stac.make_item(period)
    # reference: GDAL's own transform of the raster's bounds
    np.testing.assert_allclose(item.bbox, transform_bounds(
        "EPSG:32633", "EPSG:4326", 500_000.0, 5_999_800.0, 500_300.0, 6_000_000.0), atol=1e-6)
    assert item.datetime == dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    assert item.common_metadata.end_datetime == dt.datetime(2024, 8, 31, 23, 59, 59,
                                                            tzinfo=dt.UTC)
    assert item.properties["proj:epsg"] == 32633 and item.properties["rasterflow:period"]
    single = stac.make_item(scene)
    assert single.datetime.date() == dt.date(2024, 5, 12)
    assert "start_datetime" not in single.properties


def test_catalog_is_relative_and_deterministic(rasters, tmp_path):
    results, products = rasters
    first = stac.write_catalog(products, results / "stac", description="test")
    before = {p.relative_to(results): p.read_bytes() for p in (results / "stac").rglob("*.json")}
    stac.write_catalog(products, results / "stac", description="test")
    after = {p.relative_to(results): p.read_bytes() for p in (results / "stac").rglob("*.json")}
    assert before == after and len(before) == 3
    assert str(tmp_path).encode() not in b"".join(before.values())  # no absolute paths
    # moved elsewhere, links and assets still resolve
    moved = tmp_path / "moved"
    os.rename(results, moved)
    catalog = pystac.Catalog.from_file(str(moved / first.relative_to(results)))
    hrefs = sorted(i.assets["data"].get_absolute_href() for i in catalog.get_items())
    assert hrefs == sorted(str(moved / "mosaics" / n) for n in ("ndvi.tif", "slope.tif"))
    assert not [p for p in moved.iterdir() if p.name.startswith(".")]  # no scratch left


def test_missing_raster_and_repeated_ids_are_errors(rasters):
    results, products = rasters
    gone = stac.Product(str(results / "nope.tif"), "x", dt.date(2024, 1, 1),
                        dt.date(2024, 1, 1), "x")
    with pytest.raises(InputDataError, match="nope.tif"):
        stac.write_catalog([*products, gone], results / "stac", description="d")
    assert not (results / "stac").exists()  # nothing half-written
    with pytest.raises(InputDataError, match="mosaic-2024-JJA-NDVI"):
        stac.write_catalog([products[0], products[0]], results / "stac", description="d")


def test_params_round_trip(rasters):
    _results, (period, _scene) = rasters
    assert stac.Product.from_params(period.to_params()) == period


def test_plan_products_dates_per_kind():
    jja = (dt.date(2024, 6, 1), dt.date(2024, 8, 31))
    planned = stac.plan_products(
        results="res", scene_dates={"A": dt.date(2024, 6, 3), "B": dt.date(2024, 7, 9)},
        indices=["NDVI", "NBR"], periods={"2024-JJA": jja}, composite_indices=["NDVI"],
        statistic="median", terrain=["slope"], dem="dem.tif")
    by_id = {p.id: p for p in planned}
    assert len(planned) == 2 * 2 + 2 + 1
    assert (by_id["index-B-NBR"].path, by_id["index-B-NBR"].start) == (
        "res/indices/B/NBR.tif", dt.date(2024, 7, 9))
    count = by_id["mosaic-2024-JJA-NDVI_count"]
    assert (count.start, count.end) == jja
    # issue #21: a DEM is not of the scenes' time; dated by itself when written
    terrain = by_id["terrain-slope"]
    assert (terrain.start, terrain.end, terrain.dated_by) == (None, None, "dem.tif")
    assert stac.Product.from_params(terrain.to_params()) == terrain
    # and a terrain-only run has no scenes
    assert [p.id for p in stac.plan_products(
        results="res", scene_dates={}, indices=[], periods={}, composite_indices=[],
        statistic="median", terrain=["slope"], dem="dem.tif")] == ["terrain-slope"]


def test_terrain_items_carry_the_dems_date(tmp_path):
    dem = write_raster(tmp_path / "dem.tif", np.ones((10, 10), "float32"))
    slope = write_raster(tmp_path / "slope.tif", np.ones((10, 10), "float32"))
    when = dt.datetime(2019, 3, 4, 12, tzinfo=dt.UTC).timestamp()
    os.utime(dem, (when, when))
    product = stac.Product(str(slope), "terrain-slope", None, None, "slope", dated_by=str(dem))
    assert stac.make_item(product).datetime == dt.datetime(2019, 3, 4, tzinfo=dt.UTC)
    import rasterio

    with rasterio.open(dem, "r+") as dst:  # a DEM that states its own date wins
        dst.update_tags(TIFFTAG_DATETIME="2011:07:30 00:00:00")
    assert stac.make_item(product).datetime == dt.datetime(2011, 7, 30, tzinfo=dt.UTC)


def test_a_trend_item_spans_every_period():
    periods = {"2024-MAM": (dt.date(2024, 3, 1), dt.date(2024, 5, 31)),
               "2024-JJA": (dt.date(2024, 6, 1), dt.date(2024, 8, 31))}
    planned = stac.plan_products(
        results="res", scene_dates={}, indices=[], periods=periods,
        composite_indices=["NDVI"], statistic="median", terrain=[], dem="",
        trend=["NDVI"])
    item = {p.id: p for p in planned}["trend-NDVI"]
    assert (item.path, item.start, item.end) == (
        "res/trend/NDVI.tif", dt.date(2024, 3, 1), dt.date(2024, 8, 31))
    assert item.properties["rasterflow:trend"] == ["slope", "p_value", "n"]
