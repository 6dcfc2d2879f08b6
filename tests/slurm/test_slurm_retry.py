"""Out of memory under SLURM: the job is killed, resubmitted with attempt 2's larger
mem_mb, and succeeds (what `--retries` and `mem_mb=... * attempt` are for)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from slurmtest import HERE, SLURM_PROFILE, megabytes, run_snakemake, sacct_until_final

pytestmark = pytest.mark.slurm


def test_out_of_memory_job_is_retried_with_more_memory(tmp_path):
    work = Path(shutil.copytree(HERE / "retry", tmp_path / "retry"))
    run = run_snakemake(work, *SLURM_PROFILE, "--snakefile", "Snakefile", timeout=300)

    result = json.loads((work / "hog.json").read_text())
    assert result["mem_mb"] == 1500  # attempt 2's

    # one submission per attempt, each printed with the resources it asked for
    attempts = [j for j in run.jobs if j.rule == "hog"]
    assert [j.resources["mem_mb"] for j in attempts] == ["400", "1500"], run.output[-4000:]
    first, second = sacct_until_final(("--name", run.run_id), 2)
    assert [first["JobIDRaw"], second["JobIDRaw"]] == [i for j in attempts for i in j.slurm_ids]
    # attempt 1: killed by SLURM for memory (OUT_OF_MEMORY with cgroups; without them
    # OverMemoryKill ends the step with SIGKILL and the job is FAILED)
    assert first["State"] in ("OUT_OF_MEMORY", "FAILED"), first
    assert megabytes(first["ReqMem"]) == 400
    slurm_log = next(
        (work / ".snakemake" / "slurm_logs" / "rule_hog").rglob(f"{first['JobIDRaw']}.log")
    )
    assert "exceeded memory limit" in slurm_log.read_text()
    assert second["State"] == "COMPLETED", second
    assert megabytes(second["ReqMem"]) == 1500
    assert result["slurm_job"] == second["JobIDRaw"]
