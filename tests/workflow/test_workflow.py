"""The real workflow end to end: plan, products, reruns, resume after a kill, lint."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from helpers import REPO, SNAKEMAKE, planned_jobs, run_snakemake
from rio_cogeo.cogeo import cog_validate

from rasterflow import demo

pytestmark = pytest.mark.workflow

N_SCENES = sum(len(fp.dates) for fp in demo.FOOTPRINTS)
DEMO = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
INDICES = DEMO["indices"]
# composited indices are computed from the bands in memory (scene_indices: false): only
# the others get a raster per scene
PER_SCENE = [i for i in INDICES if i not in DEMO["composite"]["indices"]]


def _planned_index_jobs(workdir: Path, *args: str, configfiles=()) -> set[str]:
    out = run_snakemake(workdir, "--dry-run", *args, configfiles=configfiles).stdout
    return set(re.findall(r"rule index:\n(?:    .*\n)*?    wildcards: (scene=\S+)", out))


# demo_run (one full demo run per session) is in conftest.py, shared with test_report.py


def test_dry_run_plans_every_scene_and_index(tmp_path):
    jobs = planned_jobs(tmp_path)
    assert jobs["demo_data"] == 1
    assert jobs["index"] == N_SCENES  # every index of a scene in one job
    # demo grid: 312 x 252 px at 20 m in 160 px tiles = 2 x 2 tiles, every one touched;
    # scenes from May (MAM) and June-August (JJA): 2 periods; NDVI only
    assert jobs["composite"] == 4 * 2  # every composited index of a tile and period in one
    assert jobs["mosaic"] == 2  # one per period
    assert jobs["terrain"] == 1  # every product of the DEM in one job
    assert jobs["trend"] == 1  # every trend index over every period in one job
    assert jobs["contours"] == 1  # the DEM's contour lines (contours.products: [dem])
    # NDVI x 2 periods + slope, aspect, hillshade, tri: one table each, plus the long one
    assert jobs["zonal"] == 2 + 4 and jobs["zonal_long"] == 1
    # report: one job draws every quicklook (mosaics and terrain)
    assert jobs["quicklooks"] == 1 and "quicklook_mosaic" not in jobs
    for rule in (
        "zonal_timeseries",
        "zonal_tables",
        "benchmark_chart",
        "dask_reports",
        "run_info",
        "stac",
    ):
        assert jobs[rule] == 1, rule


@pytest.mark.parametrize(
    ("bounds", "composites", "mosaics"),
    [
        # the south-east corner: one tile, seen only by footprint B (May, June, August)
        ([384000, 6694960, 386240, 6697000], 2, 2),
        # north-west corner: one tile, only footprint A (May, June, July)
        ([380000, 6698000, 381000, 6700000], 2, 2),
        # far away from every scene: no composite job at all
        ([300000, 6600000, 301000, 6601000], 0, 0),
    ],
)
def test_planned_composites_follow_the_area_of_interest(tmp_path, bounds, composites, mosaics):
    cfg = tmp_path / "aoi.yaml"
    cfg.write_text(f"grid:\n  aoi:\n    bounds: {bounds}\n")
    jobs = planned_jobs(tmp_path, configfiles=[cfg])
    assert jobs.get("composite", 0) == composites
    assert jobs.get("mosaic", 0) == mosaics
    assert jobs["index"] == N_SCENES


def test_demo_products_are_valid_cogs_with_plausible_values(demo_run):
    products = sorted((demo_run / "results" / "indices").rglob("*.tif"))
    assert PER_SCENE and len(products) == N_SCENES * len(PER_SCENE)
    assert {p.stem for p in products} == set(PER_SCENE)
    for p in products:
        assert cog_validate(str(p))[0], p
        with rasterio.open(p) as src:
            data = src.read(1)
            assert src.crs.to_epsg() == 3067 and np.isnan(src.nodata)
            assert src.tags()["SCENE"] == p.parent.name
            assert "RASTERFLOW_SOFTWARE" in src.tags()
        finite = data[np.isfinite(data)]
        assert 0.3 < finite.size / data.size < 1.0  # clouds, shadows and edges are nodata
        if p.stem == "NBR":
            assert -1 <= finite.min() and finite.max() <= 1
    mosaics = sorted((demo_run / "results" / "mosaics").rglob("*.tif"))
    assert [p.relative_to(demo_run / "results" / "mosaics").as_posix() for p in mosaics] == [
        "2024-JJA/NDVI.tif",
        "2024-JJA/NDVI_count.tif",
        "2024-JJA/bands.tif",
        "2024-JJA/bands_count.tif",
        "2024-MAM/NDVI.tif",
        "2024-MAM/NDVI_count.tif",
        "2024-MAM/bands.tif",
        "2024-MAM/bands_count.tif",
    ]
    for p in mosaics:
        assert cog_validate(str(p))[0], p
        with rasterio.open(p) as src, rasterio.open(p.with_suffix(".vrt")) as vrt:
            assert src.crs.to_epsg() == 3067 and src.res == (20.0, 20.0)
            assert (src.width, src.height) == (312, 252)
            np.testing.assert_array_equal(src.read(), vrt.read())  # VRT = COG
    with rasterio.open(demo_run / "results" / "mosaics" / "2024-JJA" / "NDVI.tif") as src:
        ndvi = src.read(1)
    finite = ndvi[np.isfinite(ndvi)]
    assert -1 <= finite.min() and finite.max() <= 1
    assert np.percentile(finite, 90) > 0.5  # forests and grown crops in summer
    with rasterio.open(demo_run / "results" / "mosaics" / "2024-JJA" / "NDVI_count.tif") as src:
        count = src.read(1)
    assert count.max() == 4  # four JJA scenes overlap in the middle
    # composite.bands, quality by NDVI: each pixel's greenest observation, all its bands
    with rasterio.open(demo_run / "results" / "mosaics" / "2024-JJA" / "bands.tif") as src:
        assert src.descriptions == ("blue", "green", "red", "nir", "date")
        blue, green, red, nir, day = src.read()
    clear = np.isfinite(red) & np.isfinite(ndvi)
    assert clear.mean() > 0.3
    # the chosen observation is the greenest: its NDVI (of the 20 m bands, where the
    # NDVI composite averages 10 m NDVI) at least the median's nearly everywhere
    greenest = (nir - red) / (nir + red)
    assert (greenest[clear] >= ndvi[clear] - 0.01).mean() > 0.99
    assert greenest[clear].mean() > ndvi[clear].mean() + 0.03
    days = day[clear] - (dt.date(2024, 6, 1) - dt.date(1970, 1, 1)).days
    assert 0 <= days.min() and days.max() <= 91  # a JJA scene's date
    terrain = demo_run / "results" / "terrain"
    assert sorted(p.name for p in terrain.glob("*.tif")) == [
        "aspect.tif",
        "hillshade.tif",
        "slope.tif",
        "tri.tif",
    ]
    with rasterio.open(terrain / "slope.tif") as src:
        slope = src.read(1, masked=True)
        assert src.nodata == -9999 and src.crs.to_epsg() == 3067
    assert 0 <= slope.min() and slope.max() < 30 and slope.mean() > 0.5  # hills, no cliffs
    # contour lines of the DEM every 10 m (95-213 m), in both formats, the same lines
    lines = gpd.read_parquet(demo_run / "results" / "contours" / "dem.parquet")
    gpkg = gpd.read_file(demo_run / "results" / "contours" / "dem.gpkg", layer="contour")
    assert list(lines.columns) == ["id", "elev", "geometry"] and lines.crs.to_epsg() == 3067
    assert sorted(set(lines["elev"])) == list(range(100, 211, 10))
    assert len(gpkg) == len(lines) and (gpkg["elev"] == lines["elev"]).all()
    assert lines.geometry.is_valid.all() and (lines.geom_type == "LineString").all()

    zonal = demo_run / "results" / "zonal"
    long = pd.read_parquet(zonal / "zonal_long.parquet")
    assert set(long["product"]) == {"NDVI", "slope", "aspect", "hillshade", "tri"}
    assert set(long.loc[long["product"] == "NDVI", "period"]) == {"2024-MAM", "2024-JJA"}
    table = gpd.read_parquet(zonal / "NDVI" / "2024-JJA.parquet")
    assert list(table["zone_id"]) == list(range(1, 12)) and "name" in table
    assert table["count"].gt(0).all() and table["mean"].between(-1, 1).all()
    for log in (demo_run / "results" / "logs" / "index").rglob("*.log"):
        text = log.read_text()
        # heavy jobs run with one thread each on one machine (rules/common.smk)
        assert "dask: 1 worker(s) x 1 thread(s)" in text and "job threads 1)" in text
        assert "done in" in text
        assert log.with_suffix(".dask.html").exists()
    # one job per scene, for all its indices
    assert len(list((demo_run / "results" / "benchmarks" / "index").rglob("*.tsv"))) == N_SCENES


def test_nothing_to_do_after_a_complete_run(demo_run):
    out = run_snakemake(demo_run, "--dry-run").stdout
    assert "Nothing to be done" in out


def test_changing_an_expression_reruns_the_index_jobs_and_not_terrain(demo_run, tmp_path):
    """One job computes all indices of a scene: a changed expression reruns each scene's
    job (the price of decoding every band once), and nothing that does not read them."""
    cfg = tmp_path / "changed.yaml"
    cfg.write_text("custom_indices:\n  MSAVI: '(nir - red) / (nir + red + 0.4)'\n")
    out = run_snakemake(demo_run, "--dry-run", configfiles=[cfg]).stdout
    jobs = _planned_index_jobs(demo_run, configfiles=[cfg])
    assert len(jobs) == N_SCENES
    assert "rule terrain:" not in out and "rule index:" in out


def test_changing_one_band_file_reruns_only_that_scenes_jobs_using_it(demo_run):
    """A new version of one band file reruns that scene's index job, and no other.

    Content changes: Snakemake keeps checksums of small inputs and ignores a bare
    ``touch`` of those, which is right (same bytes, same products).
    """
    fp = demo.FOOTPRINTS[1]
    date = fp.dates[0]
    sid = demo.scene_id(fp, date)
    red = next(f for f in demo.planned_files() if f"{date:%Y%m%d}_B04_10m" in f)
    path = demo_run / "results" / "demo" / red
    original, stat = path.read_bytes(), path.stat()
    try:
        with rasterio.open(path, "r+") as dst:
            block = dst.read(1, window=((0, 1), (0, 1)))
            dst.write(block + 7, 1, window=((0, 1), (0, 1)))
        jobs = _planned_index_jobs(demo_run)
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert "red" in _roles("NDVI")
    assert jobs == {f"scene={sid}"}


def test_touching_a_large_scene_file_reruns_that_scene(demo_run):
    fp = demo.FOOTPRINTS[0]
    sid = demo.scene_id(fp, fp.dates[0])
    path = demo_run / "results" / "demo" / "scenes" / f"{sid}.tif"
    before = path.stat()
    try:
        os.utime(path, (time.time() + 5, time.time() + 5))
        jobs = _planned_index_jobs(demo_run, "--max-checksum-file-size", "1000")
    finally:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert jobs == {f"scene={sid}"}


def _roles(name: str) -> frozenset[str]:
    from rasterflow import indices

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    roles = set(cfg["scenes"]["bands"])
    return indices.resolve([name], cfg["custom_indices"], roles=roles)[name].roles


def test_killed_run_resumes_with_rerun_incomplete(tmp_path, demo_run):
    """SIGKILL the whole run during a heavy job; the rerun finishes with the same bytes."""
    # fewer jobs: the test is about the kill; NBR is not composited, so it has an index
    # job per scene (NDVI's composites read the bands themselves)
    small = tmp_path / "two-indices.yaml"
    small.write_text("indices: [NDVI, NBR]\n")
    cmd = [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(REPO / "config" / "config.yaml"),
        str(small),
        "--cores",
        "2",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    logs = tmp_path / "results" / "logs" / "index"
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            started = (
                [p for p in logs.rglob("*.log") if "index " in p.read_text()]
                if logs.exists()
                else []
            )
            if len(started) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no index job started")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    products = list((tmp_path / "results" / "indices").rglob("*.tif"))
    assert len(products) < N_SCENES, "killed too late to test anything"

    # the killed run's lock stays (it protects against two runs on one directory)
    locked = run_snakemake(tmp_path, "--rerun-incomplete", configfiles=[small], check=False)
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout + locked.stderr
    run_snakemake(tmp_path, "--unlock", configfiles=[small])
    run_snakemake(tmp_path, "--rerun-incomplete", configfiles=[small])
    assert len(list((tmp_path / "results" / "indices").rglob("*.tif"))) == N_SCENES
    ours = sorted((tmp_path / "results" / "indices").rglob("*"))
    assert [p.name for p in ours if p.name.startswith(".")] == []  # no temporaries left
    ref = demo_run / "results" / "indices"
    for p in (q for q in ours if q.is_file()):
        twin = ref / p.relative_to(tmp_path / "results" / "indices")
        assert (
            hashlib.sha256(p.read_bytes()).digest() == hashlib.sha256(twin.read_bytes()).digest()
        ), p


def test_lint_is_clean(tmp_path):
    proc = run_snakemake(tmp_path, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_check_passes():
    snakefmt = str(Path(SNAKEMAKE).with_name("snakefmt"))
    files = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "rules").glob("*.smk"))]
    proc = subprocess.run(
        [snakefmt, "--check", *files], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_demo_writes_the_ndvi_trend_with_its_bands(demo_run):
    results = demo_run / "results"
    path = results / "trend" / "NDVI.tif"
    assert cog_validate(str(path))[0]
    with rasterio.open(path) as src:
        assert src.descriptions == ("slope", "p_value", "n")
        assert src.units == ("index units per year", "probability", "periods")
        assert np.isnan(src.nodata) and src.crs.to_epsg() == 3067
        assert (src.width, src.height) == (312, 252)
        slope, p_value, n = src.read()
    with rasterio.open(results / "mosaics" / "2024-MAM" / "NDVI.tif") as src:
        mam = src.read(1).astype("float64")
    with rasterio.open(results / "mosaics" / "2024-JJA" / "NDVI.tif") as src:
        jja = src.read(1).astype("float64")
    # two seasons: n counts them; the slope is the one pair's, per year between mid dates
    # (15 April 12:00 to 16 July 12:00: 92 days); two values give S = +-1, z = 0, p = 1
    np.testing.assert_array_equal(n, np.isfinite(mam).astype(int) + np.isfinite(jja))
    both = n == 2
    assert 0.3 < both.mean() < 1
    expect = (jja - mam) / (92 / 365.25)
    np.testing.assert_allclose(slope[both], expect[both], rtol=1e-6)
    assert np.isnan(slope[~both]).all() and (p_value[both] == 1).all()
    assert np.median(slope[both]) > 0  # the demo's fields green up from spring to summer
    assert (results / "report" / "quicklooks" / "trend" / "NDVI.png").stat().st_size > 0
