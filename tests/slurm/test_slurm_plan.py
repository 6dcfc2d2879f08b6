"""dask.slurm settings: validated, with a lifetime that ends before the walltime."""

from __future__ import annotations

import os

import pytest

from rasterflow.cluster import dask_client, parent_job, plan_slurm_cluster
from rasterflow.errors import ConfigError

pytestmark = pytest.mark.slurm


def test_default_lifetime_leaves_a_margin_before_the_walltime():
    plan = plan_slurm_cluster({"walltime": 60})
    assert plan.lifetime_s == 3600 - 360
    assert plan.lifetime_s + plan.stagger_s < 3600
    short = plan_slurm_cluster({"walltime": 2})
    assert short.lifetime_s == 60 and short.lifetime_s + short.stagger_s < 120
    long = plan_slurm_cluster({"walltime": 24 * 60})
    assert long.lifetime_s == 24 * 3600 - 600


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"jobz": 2}, "dask.slurm.jobz"),
        ({"lifetime": 600, "walltime": 10}, "shorter than dask.slurm.walltime"),
        ({"cores": 0}, "dask.slurm.cores"),
        ({"memory_mb": "4G"}, "dask.slurm.memory_mb"),
        ({"job_extra": "--qos=long"}, "list of strings"),
    ],
)
def test_bad_settings_name_the_key(settings, message):
    with pytest.raises(ConfigError, match=message):
        plan_slurm_cluster(settings)


def test_unknown_cluster_kind_is_an_error():
    with (
        pytest.raises(ConfigError, match="dask.cluster must be 'local'"),
        dask_client(threads=1, mem_mb=100, settings={"cluster": "slrum"}),
    ):
        pass


def test_worker_jobs_follow_the_account_of_the_job_running_the_step():
    assert parent_job({}) == (None, None)
    assert parent_job(
        {"SLURM_JOB_ID": "1", "SLURM_JOB_ACCOUNT": "a", "SLURM_JOB_PARTITION": "p"}
    ) == ("a", "p")
    # inside an srun step SLURM_JOB_ACCOUNT is missing: squeue knows
    import subprocess

    job = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "-A",
            "rasterflow-alt",
            "--mem=50",
            "--output",
            "/dev/null",
            "--wrap",
            "sleep 30",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        assert parent_job({**env, "SLURM_JOB_ID": job}) == ("rasterflow-alt", "debug")
    finally:
        subprocess.run(["scancel", job], check=False)
