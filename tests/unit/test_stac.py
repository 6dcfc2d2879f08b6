"""STAC: collections per kind, items and their assets, dates, offline schema validation,
an odc-stac round trip, relative links, same bytes twice."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from helpers import DATA, write_raster
from rasterio.warp import transform_bounds

from rasterflow import stac
from rasterflow.errors import InputDataError

SCHEMAS = DATA / "stac-schemas"
JJA = (dt.date(2024, 6, 1), dt.date(2024, 8, 31))
MAM = (dt.date(2024, 3, 1), dt.date(2024, 5, 31))


@pytest.fixture
def rasters(tmp_path):
    results = tmp_path / "results"
    (results / "mosaics").mkdir(parents=True)
    a = write_raster(
        results / "mosaics" / "ndvi.tif", np.ones((20, 30), "float32"), nodata=float("nan")
    )
    b = write_raster(
        results / "mosaics" / "slope.tif",
        np.ones((10, 10), "float32"),
        crs="EPSG:3067",
        origin=(380_000.0, 6_700_000.0),
        nodata=-9999,
    )
    return results, [
        stac.Product(
            str(a),
            "mosaic-2024-JJA-NDVI",
            *JJA,
            "NDVI median 2024-JJA",
            {"rasterflow:period": "2024-JJA"},
        ),
        stac.Product(str(b), "scene-slope", dt.date(2024, 5, 12), dt.date(2024, 5, 12), "slope"),
    ]


@pytest.fixture
def run(tmp_path):
    """The rasters of a small run (two scenes, two periods, a DEM) and their products."""
    rng = np.random.default_rng(21)
    res = tmp_path / "results"
    periods = {"2024-MAM": MAM, "2024-JJA": JJA}
    scenes = {"A": dt.date(2024, 4, 3), "B": dt.date(2024, 7, 9)}
    for sid in scenes:
        (res / "indices" / sid).mkdir(parents=True)
        write_raster(
            res / "indices" / sid / "NBR.tif",
            rng.uniform(-1, 1, (12, 16)).astype("float32"),
            nodata=float("nan"),
            origin=(500_100.0, 5_999_900.0),
        )
    for period in periods:
        (res / "mosaics" / period).mkdir(parents=True)
        for index in ("NDVI", "NBR"):
            values = rng.uniform(-1, 1, (20, 30)).astype("float32")
            values[rng.random(values.shape) < 0.2] = np.nan
            write_raster(res / "mosaics" / period / f"{index}.tif", values, nodata=float("nan"))
            write_raster(
                res / "mosaics" / period / f"{index}_count.tif",
                rng.integers(0, 5, (20, 30)).astype("uint16"),
            )
    (res / "terrain").mkdir()
    dem = write_raster(
        tmp_path / "dem.tif",
        rng.uniform(0, 900, (10, 10)).astype("float32"),
        crs="EPSG:3067",
        origin=(380_000.0, 6_700_000.0),
    )
    with rasterio.open(dem, "r+") as dst:
        dst.update_tags(TIFFTAG_DATETIME="2011:07:30 00:00:00")
    for name in ("slope", "aspect"):
        write_raster(
            res / "terrain" / f"{name}.tif",
            rng.uniform(0, 60, (10, 10)).astype("float32"),
            nodata=-9999,
            crs="EPSG:3067",
            origin=(380_000.0, 6_700_000.0),
        )
    products = stac.plan_products(
        results=str(res),
        scene_dates=scenes,
        indices=["NBR"],
        periods=periods,
        composite_indices=["NDVI", "NBR"],
        statistic="median",
        terrain=["slope", "aspect"],
        dem=str(dem),
    )
    return res, products


def test_item_footprint_dates_and_projection(rasters):
    _results, (period, scene) = rasters
    item = stac.make_item(period)
    # reference: GDAL's own transform of the raster's bounds
    np.testing.assert_allclose(
        item.bbox,
        transform_bounds("EPSG:32633", "EPSG:4326", 500_000.0, 5_999_800.0, 500_300.0, 6_000_000.0),
        atol=1e-6,
    )
    assert item.datetime == dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    assert item.common_metadata.end_datetime == dt.datetime(2024, 8, 31, 23, 59, 59, tzinfo=dt.UTC)
    # projection v2.0.0, as PySTAC and odc-stac read it
    assert item.properties["proj:code"] == "EPSG:32633" and "proj:epsg" not in item.properties
    assert item.properties["proj:shape"] == [20, 30]
    assert item.properties["rasterflow:period"] == "2024-JJA"
    single = stac.make_item(scene)
    assert single.datetime.date() == dt.date(2024, 5, 12)
    assert "start_datetime" not in single.properties
    asset = single.assets["data"]
    assert asset.roles == ["data"] and asset.media_type == stac.COG


def test_one_collection_per_kind_with_extents_item_assets_and_license(run):
    res, products = run
    catalog_json = stac.write_catalog(products, res / "stac", description="test")
    catalog = pystac.Catalog.from_file(str(catalog_json))
    collections = {c.id: c for c in catalog.get_children()}
    assert set(collections) == {"index", "mosaic", "terrain"}
    assert not list(catalog.get_items())  # every item is in a collection
    for cid, collection in collections.items():
        items = list(collection.get_items())
        assert items and all(i.collection_id == cid for i in items)
        bbox = collection.extent.spatial.bboxes[0]
        np.testing.assert_allclose(
            bbox,
            [
                min(i.bbox[0] for i in items),
                min(i.bbox[1] for i in items),
                max(i.bbox[2] for i in items),
                max(i.bbox[3] for i in items),
            ],
        )
        start, end = collection.extent.temporal.intervals[0]
        assert start == min(i.common_metadata.start_datetime or i.datetime for i in items)
        assert end == max(i.common_metadata.end_datetime or i.datetime for i in items)
        assert set(collection.item_assets) == {k for i in items for k in i.assets}
        assert collection.license == "other" and collection.description
        assert [(p.name, p.roles) for p in collection.providers] == [("rasterflow", ["processor"])]
    mosaic = collections["mosaic"]
    assert sorted(i.id for i in mosaic.get_items()) == ["mosaic-2024-JJA", "mosaic-2024-MAM"]
    assert set(mosaic.item_assets) == {"NDVI", "NDVI_count", "NBR", "NBR_count"}
    count = mosaic.item_assets["NDVI_count"]
    assert count.roles == ["data"] and count.media_type == stac.COG
    assert count.ext.raster.bands[0].data_type == "uint16"  # band layout, no statistics
    assert "statistics" not in count.to_dict()["raster:bands"][0]
    assert mosaic.extent.temporal.intervals[0] == [
        dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 8, 31, 23, 59, 59, tzinfo=dt.UTC),
    ]
    # per-scene indices at their scene's date; terrain at the DEM's, not the scenes'
    index = {i.id: i for i in collections["index"].get_items()}
    assert index["index-B"].datetime == dt.datetime(2024, 7, 9, tzinfo=dt.UTC)
    assert set(index["index-B"].assets) == {"NBR"}
    (terrain,) = collections["terrain"].get_items()
    assert terrain.datetime == dt.datetime(2011, 7, 30, tzinfo=dt.UTC)
    assert set(terrain.assets) == {"slope", "aspect"}
    assert terrain.properties["proj:code"] == "EPSG:3067"


def test_a_license_given_is_written(rasters):
    results, products = rasters
    href = "https://creativecommons.org/licenses/by/4.0/"
    catalog = stac.write_catalog(
        products, results / "stac", description="t", license="CC-BY-4.0", license_href=href
    )
    children = list(pystac.Catalog.from_file(str(catalog)).get_children())
    assert {c.license for c in children} == {"CC-BY-4.0"}
    assert {c.get_single_link("license").href for c in children} == {href}
    assert stac.validate_catalog(catalog, SCHEMAS) == 1 + 2 + 2


def test_the_catalog_validates_offline_and_a_broken_one_does_not(run, tmp_path):
    res, products = run
    catalog = stac.write_catalog(products, res / "stac", description="test")
    # 1 catalog + 3 collections + 2 + 2 + 1 items, each against core + proj + raster
    assert stac.validate_catalog(catalog, SCHEMAS) == 1 + 3 + 2 + 2 + 1
    item = res / "stac" / "mosaic" / "mosaic-2024-JJA" / "mosaic-2024-JJA.json"
    doc = json.loads(item.read_text())
    doc["assets"]["NDVI"]["raster:bands"][0]["data_type"] = "float99"
    item.write_text(json.dumps(doc))
    with pytest.raises(InputDataError, match=r"mosaic-2024-JJA\.json.*data_type"):
        stac.validate_catalog(catalog, SCHEMAS)
    doc["assets"]["NDVI"]["raster:bands"][0]["data_type"] = "float32"
    doc["properties"]["proj:code"] = 32633  # v2.0.0: a string "EPSG:32633"
    item.write_text(json.dumps(doc))
    with pytest.raises(InputDataError, match="proj:code"):
        stac.validate_catalog(catalog, SCHEMAS)
    # a core violation: an item without a datetime nor a range
    doc["properties"]["proj:code"] = "EPSG:32633"
    for key in ("datetime", "start_datetime"):
        doc["properties"].pop(key)
    item.write_text(json.dumps(doc))
    with pytest.raises(InputDataError, match="item.json"):
        stac.validate_catalog(catalog, SCHEMAS)
    # no schema at hand: an error naming it, nothing fetched
    with pytest.raises(InputDataError, match=r"projection/v2\.0\.0/schema\.json"):
        stac.validate_catalog(catalog, tmp_path / "empty")


def test_odc_stac_loads_the_mosaics_back(run):
    import odc.stac as odc_stac  # the test extra

    res, products = run
    catalog = pystac.Catalog.from_file(
        str(stac.write_catalog(products, res / "stac", description="test"))
    )
    items = list(catalog.get_child("mosaic").get_items())
    loaded = odc_stac.load(items, bands=["NDVI", "NDVI_count", "NBR"])
    assert [str(t)[:10] for t in loaded.time.values] == ["2024-03-01", "2024-06-01"]
    for period, (start, _end) in {"2024-MAM": MAM, "2024-JJA": JJA}.items():
        for band in ("NDVI", "NDVI_count", "NBR"):
            with rasterio.open(res / "mosaics" / period / f"{band}.tif") as src:
                expected, transform, crs = src.read(1), src.transform, src.crs
            got = loaded[band].sel(time=str(start)).values
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)  # NaN where NaN
    assert loaded.odc.geobox.affine == transform and loaded.odc.geobox.crs == crs


def test_catalog_is_relative_and_deterministic(rasters, tmp_path):
    results, products = rasters
    first = stac.write_catalog(products, results / "stac", description="test")
    before = {p.relative_to(results): p.read_bytes() for p in (results / "stac").rglob("*.json")}
    stac.write_catalog(products, results / "stac", description="test")
    after = {p.relative_to(results): p.read_bytes() for p in (results / "stac").rglob("*.json")}
    assert before == after and len(before) == 1 + 2 + 2  # catalog, 2 collections, 2 items
    assert str(tmp_path).encode() not in b"".join(before.values())  # no absolute paths
    # moved elsewhere, links and assets still resolve
    moved = tmp_path / "moved"
    os.rename(results, moved)
    catalog = pystac.Catalog.from_file(str(moved / first.relative_to(results)))
    hrefs = sorted(i.assets["data"].get_absolute_href() for i in catalog.get_items(recursive=True))
    assert hrefs == sorted(str(moved / "mosaics" / n) for n in ("ndvi.tif", "slope.tif"))
    assert not [p for p in moved.iterdir() if p.name.startswith(".")]  # no scratch left


def test_missing_raster_and_repeated_ids_are_errors(rasters):
    results, products = rasters
    gone = stac.Product(
        str(results / "nope.tif"), "x", dt.date(2024, 1, 1), dt.date(2024, 1, 1), "x"
    )
    with pytest.raises(InputDataError, match="nope.tif"):
        stac.write_catalog([*products, gone], results / "stac", description="d")
    assert not (results / "stac").exists()  # nothing half-written
    with pytest.raises(InputDataError, match="mosaic-2024-JJA-NDVI"):
        stac.write_catalog([products[0], products[0]], results / "stac", description="d")
    # assets of one item stand for one time
    other = stac.Product(
        products[1].path,
        products[0].id,
        dt.date(2024, 5, 12),
        dt.date(2024, 5, 12),
        "slope",
        asset="slope",
    )
    with pytest.raises(InputDataError, match="different times"):
        stac.write_catalog([products[0], other], results / "stac", description="d")
    assert not (results / "stac").exists()


def test_params_round_trip(rasters):
    _results, (period, _scene) = rasters
    assert stac.Product.from_params(period.to_params()) == period
    assert period.kind == "mosaic"  # the id's first word unless a collection is named
    assert stac.Product("p", "x-1", None, None, "t", collection="contours").kind == "contours"


def test_plan_products_items_and_dates_per_kind():
    planned = stac.plan_products(
        results="res",
        scene_dates={"A": dt.date(2024, 6, 3), "B": dt.date(2024, 7, 9)},
        indices=["NDVI", "NBR"],
        periods={"2024-JJA": JJA},
        composite_indices=["NDVI"],
        statistic="median",
        terrain=["slope"],
        dem="dem.tif",
    )
    by_asset = {(p.id, p.asset): p for p in planned}
    assert len(planned) == 2 * 2 + 2 + 1
    nbr = by_asset["index-B", "NBR"]
    assert (nbr.path, nbr.start, nbr.kind) == (
        "res/indices/B/NBR.tif",
        dt.date(2024, 7, 9),
        "index",
    )
    count = by_asset["mosaic-2024-JJA", "NDVI_count"]
    assert (count.path, count.start, count.end, count.kind) == (
        "res/mosaics/2024-JJA/NDVI_count.tif",
        *JJA,
        "mosaic",
    )
    # issue #21: a DEM is not of the scenes' time; dated by itself when written
    terrain = by_asset["terrain", "slope"]
    assert (terrain.start, terrain.end, terrain.dated_by) == (None, None, "dem.tif")
    assert stac.Product.from_params(terrain.to_params()) == terrain
    # and a terrain-only run has no scenes
    assert [
        p.id
        for p in stac.plan_products(
            results="res",
            scene_dates={},
            indices=[],
            periods={},
            composite_indices=[],
            statistic="median",
            terrain=["slope"],
            dem="dem.tif",
        )
    ] == ["terrain"]


def test_terrain_items_carry_the_dems_date(tmp_path):
    dem = write_raster(tmp_path / "dem.tif", np.ones((10, 10), "float32"))
    slope = write_raster(tmp_path / "slope.tif", np.ones((10, 10), "float32"))
    when = dt.datetime(2019, 3, 4, 12, tzinfo=dt.UTC).timestamp()
    os.utime(dem, (when, when))
    product = stac.Product(str(slope), "terrain-slope", None, None, "slope", dated_by=str(dem))
    assert stac.make_item(product).datetime == dt.datetime(2019, 3, 4, tzinfo=dt.UTC)
    with rasterio.open(dem, "r+") as dst:  # a DEM that states its own date wins
        dst.update_tags(TIFFTAG_DATETIME="2011:07:30 00:00:00")
    assert stac.make_item(product).datetime == dt.datetime(2011, 7, 30, tzinfo=dt.UTC)


def test_a_trend_item_spans_every_period():
    periods = {"2024-MAM": MAM, "2024-JJA": JJA}
    planned = stac.plan_products(
        results="res",
        scene_dates={},
        indices=[],
        periods=periods,
        composite_indices=["NDVI"],
        statistic="median",
        terrain=[],
        dem="",
        trend=["NDVI"],
    )
    item = {(p.id, p.asset): p for p in planned}["trend", "NDVI"]
    assert (item.path, item.start, item.end, item.kind) == (
        "res/trend/NDVI.tif",
        dt.date(2024, 3, 1),
        dt.date(2024, 8, 31),
        "trend",
    )
    assert item.properties["rasterflow:trend"] == ["slope", "p_value", "n"]


def test_the_license_config_defaults_to_other_and_refuses_a_non_spdx_value():
    from rasterflow import settings
    from rasterflow.errors import ConfigError

    schema = Path(__file__).parents[2] / "config" / "schema.yaml"
    cfg: dict = {}
    settings.check_config(cfg, schema)
    assert cfg["stac"] == {"license": "other", "license_href": ""}
    settings.check_config({"stac": {"license": "CC-BY-4.0 OR MIT"}}, schema)
    with pytest.raises(ConfigError, match="stac.license"):
        settings.check_config({"stac": {"license": "CC BY 4.0"}}, schema)


def test_a_table_is_an_item_of_its_kinds_collection_and_validates(run, tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    res, products = run
    table = res / "points.parquet"
    gpd.GeoDataFrame(
        {"point_id": [1, 2]},
        geometry=[Point(500_050, 5_999_950), Point(500_250, 5_999_850)],
        crs="EPSG:32633",
    ).to_parquet(table)
    points = stac.Product(str(table), "points-samples", MAM[0], JJA[1], "values at points")
    catalog = stac.write_catalog(products, res / "stac", description="t", tables=[points])
    collection = pystac.Catalog.from_file(str(catalog)).get_child("points")
    (item,) = collection.get_items()
    assert item.datetime is None and item.common_metadata.start_datetime.date() == MAM[0]
    assert "raster:bands" not in collection.item_assets["data"].to_dict()
    assert collection.extent.temporal.intervals[0][1].date() == JJA[1]
    assert stac.validate_catalog(catalog, SCHEMAS) == 1 + 4 + 2 + 2 + 1 + 1
    clash = stac.Product(str(table), "terrain", MAM[0], JJA[1], "x")
    with pytest.raises(InputDataError, match="terrain"):
        stac.write_catalog(products, res / "stac", description="t", tables=[clash])


def test_a_multi_band_asset_names_its_bands_and_validates(tmp_path):
    """A band composite's bands (roles, then the chosen date) are named in ``eo:bands``,
    with STAC's common name where the role is one (swir1 -> swir16); single-band
    assets stay without."""
    path = write_raster(
        tmp_path / "bands.tif",
        np.ones((4, 10, 10), "float32"),
        nodata=float("nan"),
        descriptions=["blue", "nir", "swir1", "date"],
    )
    single = write_raster(tmp_path / "NDVI.tif", np.ones((10, 10), "float32"))
    products = [
        stac.Product(str(path), "mosaic-2024-JJA", *JJA, "bands", asset="bands"),
        stac.Product(str(single), "mosaic-2024-JJA", *JJA, "NDVI", asset="NDVI"),
    ]
    item = stac.make_item(products)
    assert item.assets["bands"].extra_fields["eo:bands"] == [
        {"name": "blue", "common_name": "blue"},
        {"name": "nir", "common_name": "nir"},
        {"name": "swir1", "common_name": "swir16"},
        {"name": "date"},
    ]
    assert "eo:bands" not in item.assets["NDVI"].extra_fields
    catalog = stac.write_catalog(products, tmp_path / "stac", description="t")
    collection = next(pystac.Catalog.from_file(str(catalog)).get_children())
    assert [b["name"] for b in collection.item_assets["bands"].to_dict()["eo:bands"]][-1] == "date"
    assert stac.validate_catalog(catalog, SCHEMAS) == 1 + 1 + 1
