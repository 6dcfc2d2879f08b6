"""Faults a cluster has: a Dask worker killed, a worker over its memory, late outputs.

SIGKILL of a whole run and its resume, and two runs on one results directory, are
tested in test_workflow.py; a SLURM retry with more memory in tests/slurm. Each
scenario here runs in its own process with a timeout, so a hang fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from helpers import REPO, SNAKEMAKE

pytestmark = pytest.mark.workflow

#: a heavy step as the scripts run it: the job's log, a Dask cluster of worker processes
STEP = """
import os, signal, sys, time
import numpy as np
import dask.array as da
from rasterflow.cluster import dask_client
from rasterflow.logs import log_to

mode, marker, log = sys.argv[1], sys.argv[2], sys.argv[3]

def block(x, block_info=None):
    first = block_info[0]["chunk-location"] == (1,)
    if mode == "kill-once" and first and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or an admin would
    if mode == "kill-always" and first:
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "memory" and first:
        hog = np.ones(600 * 2**20 // 8)  # 600 MiB in a worker allowed < 400
        time.sleep(5)
        hog.sum()
    return x * 2

if __name__ == "__main__":  # worker processes re-import this module
    with log_to(log), dask_client(threads=2, mem_mb={mem_mb},
                                  settings={{"processes": True, "progress_interval": 60}}):
        total = da.arange(400, chunks=100).map_blocks(block, dtype=int).sum().compute()
        print("total", total)
"""


def run_step(
    tmp_path: Path, mode: str, *, mem_mb: int = 2000
) -> tuple[subprocess.CompletedProcess[str], str]:
    script = tmp_path / "step.py"
    script.write_text(STEP.format(mem_mb=mem_mb))
    log = tmp_path / "step.log"
    proc = subprocess.run(
        [sys.executable, str(script), mode, str(tmp_path / "killed-once"), str(log)],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    return proc, log.read_text() if log.exists() else ""


def per_worker_mib(log: str) -> str:
    """The memory limit the step's cluster announced (dask_client's first log line)."""
    found = re.search(r"processes, (\d+) MiB per worker", log)
    assert found, log[:2000]
    return found[1]


def test_step_completes_when_a_worker_is_killed_once(tmp_path):
    proc, log = run_step(tmp_path, "kill-once")
    assert proc.returncode == 0, proc.stderr[-3000:] + log
    assert (tmp_path / "killed-once").exists()  # the kill did happen, mid-step
    assert "total 159600" in proc.stdout  # 2 * sum(range(400)): nothing lost or doubled
    assert "done in" in log


def test_step_fails_clearly_when_workers_keep_dying(tmp_path):
    proc, log = run_step(tmp_path, "kill-always")
    assert proc.returncode != 0
    assert "a Dask worker died running this step (" in log
    assert (
        f"each of the 2 worker processes may use {per_worker_mib(log)} MiB (its share of "
        "the job's mem_mb)"
    ) in log
    assert "run with --retries 2 (mem_mb grows with each attempt)" in log


def test_worker_over_its_memory_limit_says_how_to_raise_it(tmp_path):
    # 900: the least two worker processes are given (rasterflow.cluster.check_job_memory)
    proc, log = run_step(tmp_path, "memory", mem_mb=900)
    assert proc.returncode != 0
    assert "exceeded 95% memory budget" in log  # distributed's nanny, at WARNING
    assert f"each of the 2 worker processes may use {per_worker_mib(log)} MiB" in log
    assert "Raise mem_mb for this rule (profile set-resources: {<rule>: {mem_mb: ...}})" in log


LATE = """
import subprocess, sys

rule late:
    output:
        "late.txt",
    run:
        # a network file system shows the file to this host only seconds later
        subprocess.Popen([sys.executable, "-c",
                          "import time; time.sleep(4); open('late.txt', 'w').write('x')"])
"""


@pytest.mark.parametrize(("wait", "ok"), [(15, True), (1, False)])
def test_outputs_appearing_late_are_awaited_for_latency_wait(tmp_path, wait, ok):
    (tmp_path / "Snakefile").write_text(textwrap.dedent(LATE))
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "1", "--latency-wait", str(wait)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (tmp_path / "late.txt").read_text() == "x"
    else:
        assert proc.returncode != 0
        assert "Missing files after 1 seconds" in proc.stderr
        assert "latency" in proc.stderr  # Snakemake names the option to raise


@pytest.mark.parametrize(
    ("profile", "at_least"), [("default", 5), ("slurm", 30), ("slurm-site-template", 60)]
)
def test_profiles_wait_for_late_outputs(profile, at_least):
    cfg = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    assert cfg["latency-wait"] >= at_least
