"""scenes.batch: fewer index jobs, the same product bytes, reruns of just the changed batch."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio
import yaml
from helpers import REPO, planned_jobs, run_snakemake

from rasterflow import demo

pytestmark = pytest.mark.workflow

N_SCENES = sum(len(fp.dates) for fp in demo.FOOTPRINTS)
INDICES = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["indices"]
# batches go by date: with 2 scenes a batch, the demo's two May scenes are b00000, June
# b00001, July-August b00002; the summer mosaic needs the last two
TARGET = "results/mosaics/2024-JJA/NDVI.tif"


def _config(tmp_path: Path, name: str, **scenes) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"indices": ["NDVI"], "scenes": scenes}))
    return path


def _planned(workdir: Path, *args: str, configfiles=()) -> list[str]:
    out = run_snakemake(workdir, "--dry-run", *args, configfiles=configfiles).stdout
    return re.findall(r"wildcards: (.+)", out)


def _products(results: Path) -> dict[str, str]:
    out = {}
    for sub in ("indices", "composites", "mosaics"):
        for p in sorted((results / sub).rglob("*")):
            if p.is_file() and p.suffix in (".tif", ".vrt"):
                out[str(p.relative_to(results))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize(("batch", "expected"), [(1, None), (4, 2), (100, 1)])
def test_batched_dry_run_plans_one_job_per_batch_and_index(tmp_path, batch, expected):
    cfg = tmp_path / "batch.yaml"
    cfg.write_text(yaml.safe_dump({"scenes": {"batch": batch}}))
    jobs = planned_jobs(tmp_path, configfiles=[cfg])  # rule all: products, report, catalog
    if expected is None:
        assert jobs["index"] == N_SCENES * len(INDICES) and "index_batch" not in jobs
    else:
        assert -(-N_SCENES // batch) == expected  # ceil: the last batch is smaller
        assert jobs["index_batch"] == expected * len(INDICES) and "index" not in jobs
    # the rest of the workflow is planned the same way
    assert jobs["composite"] == 4 * 2 and jobs["mosaic"] == 2 and jobs["stac"] == 1


def test_batch_size_zero_is_refused_naming_the_key(tmp_path):
    cfg = tmp_path / "batch.yaml"
    cfg.write_text(yaml.safe_dump({"scenes": {"batch": 0}}))
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], check=False)
    assert proc.returncode != 0
    assert "batch" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The summer NDVI mosaic made without and with batches of 2 scenes."""
    root = tmp_path_factory.mktemp("batching")
    single, batched = root / "single", root / "batched"
    single.mkdir()
    batched.mkdir()
    run_snakemake(single, "--cores", "2", TARGET, configfiles=[_config(root, "single.yaml")])
    cfg = _config(root, "batched.yaml", batch=2)
    assert sorted(w for w in _planned(batched, TARGET, configfiles=[cfg])
                  if w.startswith("index=")) == ["index=NDVI, batch=b00001",
                                                 "index=NDVI, batch=b00002"]
    run_snakemake(batched, "--cores", "2", TARGET, configfiles=[cfg])
    return single, batched, cfg


def test_batched_products_are_the_same_bytes(runs):
    single, batched, _cfg = runs
    a, b = _products(single / "results"), _products(batched / "results")
    assert any(k.startswith("mosaics/") for k in a) and any(k.startswith("indices/") for k in a)
    assert b == a
    assert sorted({k.split("/")[1] for k in a if k.startswith("indices/")}) == [
        "A_20240621", "A_20240726", "B_20240626", "B_20240802"]


def test_a_changed_scene_reruns_its_batch_and_what_depends_on_it(runs):
    _single, batched, cfg = runs
    assert _planned(batched, TARGET, configfiles=[cfg]) == []
    # A_20240621 shares batch b00001 with B_20240626
    changed = batched / "results" / "demo" / "scenes" / "A_20240621.tif"
    manifest = batched / "results" / "indices" / "_batches" / "NDVI" / "b00001.json"
    later = os.stat(manifest).st_mtime + 10  # newer than the batch's output
    os.utime(changed, (later, later))
    planned = _planned(batched, TARGET, configfiles=[cfg])
    assert [w for w in planned if "batch=" in w] == ["index=NDVI, batch=b00001"]
    # the summer composites fed by that batch rerun, also those that read only its other
    # scene (the price of batching), and no others; found by their provenance
    reading = set()
    for tif in (batched / "results" / "composites" / "2024-JJA" / "NDVI").glob("x*_y*[0-9].tif"):
        with rasterio.open(tif) as src:
            inputs = src.tags()["RASTERFLOW_INPUTS"]
        if "A_20240621" in inputs or "B_20240626" in inputs:
            reading.add(f"period=2024-JJA, index=NDVI, tile={tif.stem}")
    assert reading and {w for w in planned if "tile=" in w} == reading
    assert "period=2024-JJA, index=NDVI" in planned  # and the mosaic


@pytest.mark.parametrize("batch", [1, 4])
def test_planning_benchmark_runs_at_a_tiny_size(tmp_path, batch):
    """Smoke run of benchmarks/planning_bench.py: it plans, and bare Snakemake matches."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "planning_bench.py"), "--scenes", "12",
         "--batch", str(batch), "--runs", "1", "--workdir", str(tmp_path),
         # the report's STAC rule still lists every index raster as an input, which in
         # batched mode no rule declares: plan the index products and mosaics only
         "--targets", "all" if batch == 1 else "core"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    row = re.search(r"^\| 12 \| (\d+) \| (\d+) \|(?: [\d.]+ \|){5}$", proc.stdout, re.MULTILINE)
    assert row, proc.stdout
    jobs = re.search(r"rasterflow plans (\d+) jobs: (\{.*\})", proc.stdout)
    counts = ast.literal_eval(jobs[2])
    index_jobs = counts.get("index_batch" if batch > 1 else "index")
    assert index_jobs == -(-12 // batch)  # one NDVI job per scene or per batch
    assert int(row[1]) == batch and int(row[2]) == int(jobs[1]) == sum(counts.values())
    assert len(list((tmp_path / "scenes").glob("*.tif"))) == 12
