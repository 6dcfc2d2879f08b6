"""The demo workflow through the SLURM profile: same bytes as a local run, and every
job got from SLURM exactly what its rule asked for."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import SNAKEMAKE
from slurmtest import (
    FAST_POLL,
    Run,
    copy_workflow,
    megabytes,
    minutes,
    report_figure,
    run_snakemake,
    sacct_until_final,
)

pytestmark = pytest.mark.slurm

# Every rule without its own cpus_per_task gets one CPU, fewer than a node's two: then
# a heavy job's Dask cluster can only be right by following the allocation (affinity),
# not the node (os.cpu_count) nor the rule's threads.
SLURM_ARGS = (
    "--profile",
    "profiles/slurm",
    *FAST_POLL,
    "--default-resources",
    "mem_mb=1000",
    "runtime=30",
    "cpus_per_task=1",
)
# The demo as configured, with two indices instead of three: NDVI composited from the
# bands, NBR written per scene, so every rule and both paths run (each SLURM job starts
# Snakemake twice: ~5-10 s here).
# results=results (relative, as in config.yaml) in both copies: products record their
# inputs' paths in their tags, so the paths must be the same for the bytes to be.
CONFIG = ("--config", "results=results", "indices=[NDVI,NBR]")

DASK_LINE = re.compile(
    r"rasterflow\.cluster: dask: (\d+) worker\(s\) x (\d+) thread\(s\), \w+, "
    r"(\d+) MiB per worker \(\+ (\d+) MiB GDAL cache\).*"
    r"\(affinity (\d+) cpus, job threads (\d+)\)"
)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory) -> dict[str, tuple[Path, Run]]:
    """The demo through SLURM and, at the same time, locally (each in its own copy)."""
    runs: dict[str, tuple[Path, Run]] = {}
    local_dir = copy_workflow(tmp_path_factory.mktemp("local") / "wf")
    slurm_dir = copy_workflow(tmp_path_factory.mktemp("slurm") / "wf")
    # The local run shares the machine with the SLURM jobs: start it first, collect after.
    start = time.perf_counter()
    local = subprocess.Popen(
        [SNAKEMAKE, "--profile", "profiles/default", *CONFIG],
        cwd=local_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    local_out: list[str] = []
    local_seconds: list[float] = []

    def collect() -> None:
        local_out.append(local.communicate(timeout=900)[0])
        local_seconds.append(time.perf_counter() - start)

    waiter = threading.Thread(target=collect)
    waiter.start()
    try:
        slurm = run_snakemake(slurm_dir, *SLURM_ARGS, *CONFIG, timeout=900)
    finally:
        waiter.join(timeout=900)
    assert local.returncode == 0, f"local run failed:\n{local_out[0][-6000:]}"
    report_figure(
        f"demo ({' '.join(CONFIG[1:])}), both at once on this machine: "
        f"SLURM {slurm.seconds:.0f} s for {len(slurm.jobs)} jobs, "
        f"local {local_seconds[0]:.0f} s"
    )
    runs["slurm"] = (slurm_dir / "results", slurm)
    runs["local"] = (local_dir / "results", None)
    return runs


def products(results: Path) -> dict[str, bytes]:
    """Every raster product (not the generated demo inputs: their GeoPackage carries
    its write time) by path under results/."""
    return {
        str(p.relative_to(results)): p.read_bytes()
        for p in sorted(results.rglob("*"))
        if p.suffix in (".tif", ".vrt")
        and p.relative_to(results).parts[0] not in ("demo", "logs", "benchmarks")
    }


def test_demo_through_slurm_is_byte_identical_to_local(demo_runs):
    slurm_results, _ = demo_runs["slurm"]
    local_results, _ = demo_runs["local"]
    slurm, local = products(slurm_results), products(local_results)
    assert any(name.startswith("indices/") for name in local), (
        "the local run wrote no results/indices/**/*.tif"
    )
    assert slurm.keys() == local.keys()
    differ = [name for name in local if slurm[name] != local[name]]
    assert not differ, f"SLURM and local products differ: {differ}"


def test_every_job_got_the_resources_its_rule_asked_for(demo_runs, slurm_cluster):
    _, run = demo_runs["slurm"]
    submitted = {j.rule for j in run.jobs}
    assert submitted >= {"index", "composite", "mosaic", "terrain", "zonal"}
    assert not submitted & {"all", "demo_data", "zonal_long"}  # localrules stay local
    report_figure(
        "demo jobs through SLURM: "
        + ", ".join(f"{rule} {n}" for rule, n in sorted(Counter(j.rule for j in run.jobs).items()))
    )
    slurm_ids = [i for j in run.jobs for i in j.slurm_ids]
    rows = {r["JobIDRaw"]: r for r in sacct_until_final(("--name", run.run_id), len(slurm_ids))}
    assert set(rows) == set(slurm_ids)
    for job in run.jobs:
        (sid,) = job.slurm_ids
        row, res = rows[sid], job.resources
        what = f"{job.rule} {job.wildcards} (SLURM job {sid})"
        assert row["State"] == "COMPLETED", what
        assert row["Comment"].startswith(f"rule_{job.rule}"), what
        cpus = int(res.get("cpus_per_task") or job.threads)
        assert int(row["AllocCPUS"]) == cpus, what
        assert megabytes(row["ReqMem"]) == int(res["mem_mb"]), what
        assert minutes(row["Timelimit"]) == int(res["runtime"]), what
        assert int(row["NNodes"]) == int(res.get("nodes", 1)), what
        assert row["Account"] == "rasterflow", what  # the user's default account
        assert row["NodeList"] in slurm_cluster, what


def test_heavy_jobs_size_dask_to_their_allocation(demo_runs, slurm_cluster):
    """The rasterflow.cluster line of each heavy job: cores == --cpus-per-task."""
    _, run = demo_runs["slurm"]
    rows = {
        r["JobIDRaw"]: r
        for r in sacct_until_final(("--name", run.run_id), sum(len(j.slurm_ids) for j in run.jobs))
    }
    heavy = 0
    for job in run.jobs:
        for log in job.log:
            path = demo_runs["slurm"][0].parent / log
            text = path.read_text() if path.is_file() else ""
            m = DASK_LINE.search(text)
            if not m:
                continue
            heavy += 1
            workers, threads, mib, gdal_mib, affinity, job_threads = map(int, m.groups())
            row = rows[job.slurm_ids[-1]]
            alloc = int(row["AllocCPUS"])
            node = slurm_cluster[row["NodeList"]]
            assert node.cpus > alloc, "the test needs nodes with more CPUs than the job"
            assert workers * threads == alloc, f"{log}: {m.group(0)}"
            assert affinity == alloc, f"{log}: {m.group(0)}"
            # memory: the job's --mem (= the rule's mem_mb), split over the workers,
            # each worker's share minus its GDAL cache for Dask
            assert abs(workers * (mib + gdal_mib) - megabytes(row["ReqMem"])) <= workers, m.group(0)
            # Snakemake inside the job scales the rule's threads down to the allocation
            assert job_threads == min(job.threads, alloc)
    assert heavy >= sum(j.rule == "index" for j in run.jobs) > 0
