"""What SLURM submission adds per job: a chain of trivial jobs, SLURM vs local."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from slurmtest import HERE, SLURM_PROFILE, report_figure, run_snakemake, sacct_until_final, seconds

pytestmark = pytest.mark.slurm

N = 3


def test_per_job_overhead_of_slurm_submission(tmp_path):
    local = Path(shutil.copytree(HERE / "overhead", tmp_path / "local"))
    slurm = Path(shutil.copytree(HERE / "overhead", tmp_path / "slurm"))
    local_run = run_snakemake(local, "--cores", "1", "--config", f"steps={N}")
    slurm_run = run_snakemake(slurm, *SLURM_PROFILE, "--config", f"steps={N}")
    assert (slurm / f"step{N}.txt").read_text() == f"{N}\n"
    assert len(slurm_run.jobs) == N

    rows = sacct_until_final(("--name", slurm_run.run_id), N)
    inside = sum(seconds(r["Elapsed"]) for r in rows) / N  # sbatch allocation, per job
    per_job = (slurm_run.seconds - local_run.seconds) / N
    report_figure(
        f"chain of {N} trivial jobs: local {local_run.seconds:.1f} s, SLURM "
        f"{slurm_run.seconds:.1f} s -> {per_job:.1f} s added per job "
        f"({inside:.1f} s of it inside the allocation: Snakemake starting twice)"
    )
    # generous: catches a broken status check (e.g. sacct failing: the run never ends,
    # or the poll interval growing to its 180 s maximum), not a slow machine
    assert per_job < 60
