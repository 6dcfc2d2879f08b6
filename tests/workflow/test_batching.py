"""scenes.batch: fewer index jobs, the same product bytes, reruns of just the changed batch."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from helpers import REPO, planned_jobs, run_snakemake, write_raster

from rasterflow import demo

pytestmark = pytest.mark.workflow

N_SCENES = sum(len(fp.dates) for fp in demo.FOOTPRINTS)
INDICES = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["indices"]
# batches go by date: with 2 scenes a batch, the demo's two May scenes are b00000, June
# b00001, July-August b00002; the summer mosaic needs the last two
TARGET = "results/mosaics/2024-JJA/NDVI.tif"


def _config(tmp_path: Path, name: str, **scenes) -> Path:
    path = tmp_path / name
    # per-scene index rasters (what batches make); the demo's band composite reads bands
    settings = {"indices": ["NDVI"], "scene_indices": True, "composite": {"bands": []}}
    path.write_text(yaml.safe_dump({**settings, "scenes": scenes}))
    return path


def _planned(
    workdir: Path, *args: str, configfiles=(), rule: str | None = None, demo_config: bool = True
) -> list[str]:
    """Wildcards of the jobs a dry run plans (of ``rule`` only, if given)."""
    out = run_snakemake(
        workdir, "--dry-run", *args, configfiles=configfiles, demo_config=demo_config
    ).stdout
    jobs = re.findall(
        r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    wildcards: (.+)$", out, re.MULTILINE
    )
    return [w for r, w in jobs if rule is None or r == rule]


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
        assert jobs["index"] == N_SCENES and "index_batch" not in jobs
    else:
        assert -(-N_SCENES // batch) == expected  # ceil: the last batch is smaller
        assert jobs["index_batch"] == expected and "index" not in jobs  # all indices
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
    assert sorted(_planned(batched, TARGET, configfiles=[cfg], rule="index_batch")) == [
        "batch=b00001",
        "batch=b00002",
    ]
    run_snakemake(batched, "--cores", "2", TARGET, configfiles=[cfg])
    return single, batched, cfg


def test_batched_products_are_the_same_bytes(runs):
    single, batched, _cfg = runs
    a, b = _products(single / "results"), _products(batched / "results")
    assert any(k.startswith("mosaics/") for k in a) and any(k.startswith("indices/") for k in a)
    assert b == a
    assert sorted({k.split("/")[1] for k in a if k.startswith("indices/")}) == [
        "A_20240621",
        "A_20240726",
        "B_20240626",
        "B_20240802",
    ]


def test_a_changed_scene_reruns_its_batch_and_what_depends_on_it(runs):
    _single, batched, cfg = runs
    assert _planned(batched, TARGET, configfiles=[cfg]) == []
    # A_20240621 shares batch b00001 with B_20240626
    changed = batched / "results" / "demo" / "scenes" / "A_20240621.tif"
    manifest = batched / "results" / "indices" / "_batches" / "b00001.json"
    later = os.stat(manifest).st_mtime + 10  # newer than the batch's output
    os.utime(changed, (later, later))
    planned = _planned(batched, TARGET, configfiles=[cfg])
    assert [w for w in planned if "batch=" in w] == ["batch=b00001"]
    # the summer composites fed by that batch rerun, also those that read only its other
    # scene (the price of batching), and no others; found by their provenance
    reading = set()
    for tif in (batched / "results" / "composites" / "2024-JJA" / "NDVI").glob("x*_y*[0-9].tif"):
        with rasterio.open(tif) as src:
            inputs = src.tags()["RASTERFLOW_INPUTS"]
        if "A_20240621" in inputs or "B_20240626" in inputs:
            reading.add(f"period=2024-JJA, tile={tif.stem}")
    assert reading and {w for w in planned if "tile=" in w} == reading
    assert "period=2024-JJA" in planned  # and the mosaic


@pytest.mark.parametrize("batch", [1, 4])
def test_planning_benchmark_runs_at_a_tiny_size(tmp_path, batch):
    """Smoke run of benchmarks/planning_bench.py: it plans, and bare Snakemake matches."""
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "planning_bench.py"),
            "--scenes",
            "12",
            "--batch",
            str(batch),
            "--runs",
            "1",
            "--workdir",
            str(tmp_path),
            # the report's STAC rule still lists every index raster as an input, which in
            # batched mode no rule declares: plan the index products and mosaics only
            "--targets",
            "all" if batch == 1 else "core",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
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
    cpu = re.search(
        r"^CPU s \(user\+sys, median\): rasterflow ([\d.]+), bare ([\d.]+) "
        r"\(ratio ([\d.]+)\)",
        proc.stdout,
        re.MULTILINE,
    )
    assert cpu and float(cpu[1]) > 0 and float(cpu[2]) > 0, proc.stdout
    # the printed ratio is of the unrounded medians: it lies in the range the two
    # printed (rounded to 0.01) figures allow, itself rounded to 0.01
    a, b, h = float(cpu[1]), float(cpu[2]), 0.005
    assert (a - h) / (b + h) - h <= float(cpu[3]) <= (a + h) / (b - h) + h, proc.stdout


def _own_scene(path: Path, *, seed: int, empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A 2-band uint16 scene (red, nir; 0 = nodata); ``empty``: nodata only."""
    rng = np.random.default_rng(seed)
    data = rng.integers(100, 5000, (2, 24, 32)).astype(np.uint16)
    if empty:
        data[:] = 0
    write_raster(path, data, nodata=0, origin=(500_000.0 + 40 * seed, 6_000_000.0))
    return data[0].astype("f8"), data[1].astype("f8")


def _manifests(results: Path) -> dict[str, int]:
    folder = results / "indices" / "_batches"
    return {p.stem: p.stat().st_mtime_ns for p in folder.glob("b?????.json")}


def test_own_scenes_rerun_exactly_the_changed_batch_and_resume_after_a_failure(tmp_path):
    """Not the demo: scene files that exist at planning, so the plan writes fingerprints."""
    (tmp_path / "scenes").mkdir()
    lines = ["scene_id,date,path"]
    for i in range(6):  # batches of 2 by date: b00000 S0 S1 | b00001 S2 S3 | b00002 S4 S5
        _own_scene(tmp_path / "scenes" / f"S{i}.tif", seed=i, empty=i == 3)
        lines.append(f"S{i},2024-01-0{i + 1},scenes/S{i}.tif")
    (tmp_path / "scenes.csv").write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "own.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "scenes": {
                    "sheet": str(tmp_path / "scenes.csv"),
                    "batch": 2,
                    "bands": {"red": {"band": 1, "nodata": 0}, "nir": {"band": 2, "nodata": 0}},
                },
                "indices": ["NDVI"],
                "scene_indices": True,
            }
        )
    )
    results = tmp_path / "results"
    targets = [f"results/indices/_batches/b0000{b}.json" for b in range(3)]

    def planned() -> list[str]:
        return sorted(
            _planned(tmp_path, *targets, configfiles=[cfg], demo_config=False, rule="index_batch")
        )

    # S3 is all nodata: its batch fails at run time, the others finish (--keep-going)
    proc = run_snakemake(
        tmp_path, "--keep-going", *targets, configfiles=[cfg], demo_config=False, check=False
    )
    assert proc.returncode != 0
    assert "S3.tif" in proc.stdout + proc.stderr + "".join(
        p.read_text() for p in (results / "logs").rglob("*.log")
    )
    assert sorted(_manifests(results)) == ["b00000", "b00002"]  # no manifest, no whole batch
    fingerprint = tmp_path / ".snakemake/rasterflow/batches/b00001.inputs.json"
    assert [e[0] for e in json.loads(fingerprint.read_text())["files"]] == [
        str(tmp_path / "scenes" / "S2.tif"),
        str(tmp_path / "scenes" / "S3.tif"),
    ]

    # fixed, the run resumes with the failed batch only
    _own_scene(tmp_path / "scenes" / "S3.tif", seed=3)
    done = _manifests(results)
    assert planned() == ["batch=b00001"]
    run_snakemake(tmp_path, "--cores", "2", *targets, configfiles=[cfg], demo_config=False)
    assert planned() == []
    after = _manifests(results)
    assert {b: after[b] for b in done} == done

    # S4's pixels change (batch b00002); S0 is replaced by a copy with an older time,
    # which Snakemake's own mtime rule misses and the fingerprint's size+mtime catches
    red, nir = _own_scene(tmp_path / "scenes" / "S4.tif", seed=40)
    old = (tmp_path / "scenes" / "S0.tif").stat().st_mtime_ns - 3_600 * 10**9
    _own_scene(tmp_path / "scenes" / "S0.tif", seed=0)
    os.utime(tmp_path / "scenes" / "S0.tif", ns=(old, old))
    assert planned() == ["batch=b00000", "batch=b00002"]
    run_snakemake(tmp_path, "--cores", "2", *targets, configfiles=[cfg], demo_config=False)
    assert planned() == []
    final = _manifests(results)
    assert final["b00001"] == after["b00001"]
    assert final["b00000"] > after["b00000"] and final["b00002"] > after["b00002"]
    with rasterio.open(results / "indices" / "S4" / "NDVI.tif") as src:
        np.testing.assert_allclose(src.read(1), (nir - red) / (nir + red), rtol=1e-6)


def _jobs(workdir: Path, cfg: Path) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run of rule all plans, sorted."""
    out = run_snakemake(workdir, "--dry-run", configfiles=[cfg], demo_config=False).stdout
    return sorted(
        re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    wildcards: (.+)$", out, re.MULTILINE)
    )


def test_the_cached_plan_equals_a_fresh_one_and_follows_every_change(tmp_path):
    """rasterflow.planning "Plan": reused when nothing changed, rebuilt on any change."""
    (tmp_path / "scenes").mkdir()
    lines = ["scene_id,date,path"]
    for i in range(5):
        _own_scene(tmp_path / "scenes" / f"S{i}.tif", seed=i)
        lines.append(f"S{i},2024-0{i % 2 + 1}-0{i + 1},scenes/S{i}.tif")
    sheet = tmp_path / "scenes.csv"
    sheet.write_text("\n".join(lines) + "\n")
    settings = {
        "scenes": {
            "sheet": str(sheet),
            "batch": 2,
            "bands": {"red": {"band": 1, "nodata": 0}, "nir": {"band": 2, "nodata": 0}},
        },
        "indices": ["NDVI"],
        "scene_indices": True,
        "periods": {"kind": "monthly"},
        "grid": {
            "crs": "EPSG:32633",
            "resolution": 10,
            "tile_px": 16,
            "aoi": {"bounds": [500_000, 5_999_760, 500_480, 6_000_000]},
        },
        "zonal": {"zones": ""},
        "terrain": {"dem": ""},
    }
    cfg = tmp_path / "own.yaml"
    cfg.write_text(yaml.safe_dump(settings))
    cache = tmp_path / ".snakemake" / "rasterflow" / "plan.json"

    def fresh() -> list[tuple[str, str]]:
        cache.unlink(missing_ok=True)
        jobs = _jobs(tmp_path, cfg)
        assert cache.exists()
        return jobs

    def cached() -> tuple[list[tuple[str, str]], bool]:
        """The jobs planned with the cache as it is, and whether the plan was rebuilt."""
        before = cache.read_bytes()
        jobs = _jobs(tmp_path, cfg)
        return jobs, cache.read_bytes() != before

    first = fresh()
    assert ("index_batch", "batch=b00002") in first
    assert sum(r == "composite" for r, _w in first) >= 4
    assert cached() == (first, False)  # a hit: the same jobs, the file left alone

    cache.write_bytes(cache.read_bytes()[:100])  # damaged: ignored and rebuilt
    jobs, rebuilt = cached()
    assert (jobs, rebuilt) == (first, True)
    assert cached() == (first, False)

    # a scene moves: same size, new place and modification time
    _own_scene(tmp_path / "scenes" / "S4.tif", seed=11)
    jobs, rebuilt = cached()
    assert rebuilt and jobs == fresh()
    # only the modification time changes (a copy of the same bytes)
    st = (tmp_path / "scenes" / "S0.tif").stat()
    os.utime(tmp_path / "scenes" / "S0.tif", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    jobs, rebuilt = cached()
    assert rebuilt and jobs == fresh()
    # the sheet: one scene more
    (tmp_path / "scenes" / "S5.tif").write_bytes((tmp_path / "scenes" / "S1.tif").read_bytes())
    sheet.write_text(sheet.read_text() + "S5,2024-03-01,scenes/S5.tif\n")
    jobs, rebuilt = cached()
    assert rebuilt and ("index_batch", "batch=b00002") in jobs
    assert jobs == fresh()
    # the config: other tiles
    cfg.write_text(yaml.safe_dump({**settings, "grid": {**settings["grid"], "tile_px": 24}}))
    jobs, rebuilt = cached()
    assert rebuilt and jobs == fresh()
    assert {w for r, w in jobs if r == "composite"} != {w for r, w in first if r == "composite"}
    assert cached() == (jobs, False)
