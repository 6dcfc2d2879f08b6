"""The demo's point samples: one long table with a row per point, scene or period and
index, whose values are the pixels of the index rasters and mosaics at the points."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from helpers import planned_jobs

from rasterflow import demo

pytestmark = pytest.mark.workflow

INDICES = ("NDVI", "NBR", "MSAVI")  # the demo's; each sampled per scene
PERIODS = ("2024-MAM", "2024-JJA")  # its seasons with scenes; NDVI composited


def _sample(raster: Path, points: gpd.GeoDataFrame) -> np.ndarray:
    with rasterio.open(raster) as src:
        pts = points.to_crs(src.crs.to_wkt())
        got = np.ma.array(
            list(src.sample(zip(pts.geometry.x, pts.geometry.y, strict=True), masked=True))
        )[:, 0]
    return np.ma.filled(got.astype(np.float64), np.nan)


def test_demo_makes_the_long_table_with_the_expected_rows(demo_run: Path):
    results = demo_run / "results"
    table = gpd.read_parquet(results / "points" / "points.parquet")
    points = gpd.read_file(results / "demo" / "points.geojson")
    scenes = demo.scene_paths()
    n = len(demo.POINTS)
    assert len(table) == n * (len(scenes) * len(INDICES) + len(PERIODS))
    assert list(table.columns) == [
        "point_id",
        "name",
        "kind",
        "source",
        "date",
        "product",
        "value",
        "valid",
        "geometry",
    ]
    assert table.crs.to_epsg() == 4326  # the points' own CRS
    # the point outside every raster: a row for each scene, period and index, none valid
    outside = table[table["name"] == "outside"]
    assert len(outside) == len(scenes) * len(INDICES) + len(PERIODS)
    assert not outside["valid"].any() and outside["value"].isna().all()
    # per scene: the pixels of the index rasters the index stage wrote (NBR, MSAVI)
    for sid in scenes:
        for index in ("NBR", "MSAVI"):
            rows = table[(table["source"] == sid) & (table["product"] == index)]
            assert rows["kind"].eq("scene").all() and rows["point_id"].tolist() == list(demo.POINTS)
            want = _sample(results / "indices" / sid / f"{index}.tif", points)
            np.testing.assert_array_equal(rows["value"].to_numpy(), want)
            np.testing.assert_array_equal(rows["valid"].to_numpy(), np.isfinite(want))
    # per period: the mosaics' pixels, dated by the period's first day
    for period in PERIODS:
        rows = table[(table["source"] == period)]
        assert rows["kind"].eq("period").all() and rows["product"].eq("NDVI").all()
        want = _sample(results / "mosaics" / period / "NDVI.tif", points)
        np.testing.assert_array_equal(rows["value"].to_numpy(), want)
        assert (
            str(rows["date"].iloc[0])
            == {"2024-MAM": "2024-03-01", "2024-JJA": "2024-06-01"}[period]
        )
    # each kind has valid values, and some points are on nodata or clouds in some scenes
    inside = table[table["name"] != "outside"]
    assert inside.groupby("kind")["valid"].any().all() and not inside["valid"].all()
    csv = pd.read_csv(results / "points" / "points.csv")
    assert len(csv) == len(table)
    # the report's figure and the STAC item of the table
    assert (results / "report" / "points" / "timeseries.png").stat().st_size > 10_000
    # in the catalog's "points" collection (rasterflow.stac: a collection per kind)
    item = json.loads(
        (results / "stac" / "points" / "points-samples" / "points-samples.json").read_text()
    )
    assert item["assets"]["data"]["href"].endswith("points/points.parquet")


def test_points_batch_sets_the_scene_jobs(tmp_path: Path):
    """points.batch scenes per job: the demo's 6 scenes in 3 jobs of 2, one per period."""
    config = tmp_path / "batch.yaml"
    config.write_text("points: {batch: 2}\n")
    jobs = planned_jobs(tmp_path, configfiles=[config])
    assert jobs["points_scenes"] == 3 and jobs["points_periods"] == len(PERIODS)
    assert jobs["points_table"] == 1 and jobs["points_timeseries"] == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("points: {file: nowhere.gpkg}", "points.file: nowhere.gpkg not found; fix the path"),
        ("points: {window: 2}", "points.window: 2 is even"),
        ("points: {method: cubic}", "points.method"),
    ],
)
def test_bad_points_config_stops_the_dry_run_naming_the_key(tmp_path: Path, config, message):
    from helpers import run_snakemake

    path = tmp_path / "bad.yaml"
    path.write_text(config + "\n")
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[path], check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr
    assert not (tmp_path / "results" / "points").exists()
