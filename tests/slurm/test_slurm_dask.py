"""Multi-node Dask: a step switched by config to SLURMCluster (dask.cluster: slurm)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml
from helpers import DATA
from slurmtest import (
    HERE,
    SLURM_PROFILE,
    report_figure,
    run_snakemake,
    sacct,
    sacct_until_final,
    seconds,
)

pytestmark = pytest.mark.slurm


def _slurm_settings(nodes, **extra) -> dict:
    """Worker jobs too large for two to share a node: SLURM must use both nodes."""
    smallest = min(n.memory_mb for n in nodes.values())
    return {
        "cluster": "slurm",
        "slurm": {
            "jobs": 2,
            "cores": 1,
            "memory_mb": int(smallest * 0.6),
            "walltime": 5,
            "interface": "lo",
            "startup_timeout": 180,
            **extra,
        },
    }


def _step(tmp_path: Path, name: str, dask: dict, *args: str):
    work = Path(shutil.copytree(HERE / "dask_step", tmp_path / name))
    (work / "config.yaml").write_text(
        yaml.safe_dump({"scene": str(DATA / "rgbn.tif"), "dask": dask})
    )
    run = run_snakemake(work, "--configfile", "config.yaml", *args, timeout=400)
    return work, run


def test_step_on_slurm_workers_matches_local_cluster(tmp_path, slurm_cluster):
    local, _ = _step(tmp_path, "local", {"cluster": "local"}, "--cores", "2")
    # the step under an account that is not the user's default: its workers must follow
    work, run = _step(
        tmp_path,
        "slurm",
        _slurm_settings(slurm_cluster),
        *SLURM_PROFILE,
        "--set-resources",
        "ndvi:slurm_account=rasterflow-alt",
    )
    report_figure(f"multi-node Dask step (1 step job + 2 worker jobs): {run.seconds:.0f} s")

    # the same bytes as the step on a LocalCluster
    assert (work / "ndvi.tif").read_bytes() == (local / "ndvi.tif").read_bytes()

    info = json.loads((work / "workers.json").read_text())
    # TLS between scheduler, workers and client
    assert info["scheduler"].startswith("tls://"), info
    assert len(info["workers"]) == 2
    assert all(address.startswith("tls://") for address in info["workers"]), info
    # each worker is its own SLURM job, on its own node
    nodes = sorted(w["node"] for w in info["workers"].values())
    assert nodes == sorted(slurm_cluster)[:2] and len(set(nodes)) == 2, info
    step_job = run.jobs[0].slurm_ids[0]
    worker_jobs = {w["job"] for w in info["workers"].values()}
    assert step_job not in worker_jobs and len(worker_jobs) == 2
    rows = {
        r["JobIDRaw"]: r for r in sacct_until_final(("-j", ",".join([step_job, *worker_jobs])), 3)
    }
    assert rows[step_job]["Account"] == "rasterflow-alt"
    for job in worker_jobs:
        assert rows[job]["JobName"] == "rasterflow-dask"
        assert int(rows[job]["AllocCPUS"]) == 1
        assert rows[job]["Account"] == rows[step_job]["Account"]
        assert rows[job]["Partition"] == rows[step_job]["Partition"]
    # workers retire (--lifetime) before SLURM's time limit ends their job
    for w in info["workers"].values():
        assert w["lifetime"] is not None and 0 < w["lifetime"] < w["walltime_s"], w
    # the step's log says where its workers ran
    log = (work / "logs" / "ndvi.log").read_text()
    assert "dask: slurm, 2 worker job(s)" in log
    assert log.count("dask worker tls://") == 2


def test_workers_leave_before_their_walltime_and_are_replaced(slurm_cluster, tmp_path, monkeypatch):
    """Lifetime 15 s, walltime 1 min: each worker job ends COMPLETED long before its
    limit (not TIMEOUT), and adapt() starts a new job in its place."""
    from rasterflow.cluster import dask_client

    monkeypatch.chdir(tmp_path)  # .snakemake/dask-jobqueue (certificates, logs) here
    settings = _slurm_settings(slurm_cluster, walltime=1, lifetime=15)
    settings["slurm"]["memory_mb"] = 500
    seen: list[set[str]] = []
    start = time.monotonic()
    with dask_client(threads=1, mem_mb=None, settings=settings) as client:
        first = set(client.run(lambda: os.environ["SLURM_JOB_ID"]).values())
        seen.append(first)
        while time.monotonic() - start < 120:
            jobs = set(client.run(lambda: os.environ["SLURM_JOB_ID"]).values())
            if jobs and not jobs & first:
                seen.append(jobs)
                break
            time.sleep(1)
    assert len(seen) == 2, f"no replacement workers after 120 s: {seen}"
    rows = {r["JobIDRaw"]: r for r in sacct_until_final(("-j", ",".join(first)), len(first))}
    for job in first:
        row = rows[job]
        assert row["State"] == "COMPLETED", row  # left on its own, was not killed
        assert seconds(row["Elapsed"]) < seconds(row["Timelimit"]) - 20, row
    report_figure(
        "worker lifetime 15 s, walltime 60 s: first workers' jobs ran "
        + ", ".join(f"{rows[j]['Elapsed']}" for j in sorted(first))
        + f"; replacements after {time.monotonic() - start:.0f} s"
    )
    # the replacements were cancelled when the cluster closed
    leftover = [r for r in sacct("-j", ",".join(seen[1])) if r["State"] in ("PENDING", "RUNNING")]
    for _ in range(30):
        if not leftover:
            break
        time.sleep(1)
        leftover = [
            r for r in sacct("-j", ",".join(seen[1])) if r["State"] in ("PENDING", "RUNNING")
        ]
    assert not leftover
