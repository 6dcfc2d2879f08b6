"""A multi-node step (``dask: {cluster: slurm}``): dask-jobqueue's SLURMCluster, its
worker jobs planned from ``dask.slurm`` (:func:`plan_slurm_cluster`), TLS, loopback HTTP.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasterflow.cluster._plan import DEFAULT_SLURM_SETTINGS
from rasterflow.cluster._progress import _monitor
from rasterflow.errors import ConfigError

# the package's name, as before the split: log lines keep their logger
logger = logging.getLogger("rasterflow.cluster")


@dataclass(frozen=True)
class SlurmPlan:
    """The worker jobs of a multi-node (SLURMCluster) step."""

    jobs: int
    cores: int
    memory_mb: int
    walltime_min: int
    lifetime_s: int  # a worker retires after lifetime_s +/- stagger_s
    stagger_s: int
    interface: str | None
    scheduler_interface: str | None
    account: str | None  # None: dask config jobqueue.slurm.account, else sbatch's default
    partition: str | None
    job_extra: tuple[str, ...]
    startup_timeout: float
    shared_directory: Path


def parent_job(environ: Mapping[str, str] = os.environ) -> tuple[str | None, str | None]:
    """(account, partition) of the SLURM job this process runs in; (None, None) outside.

    Inside a job step started by ``srun`` (as Snakemake's SLURM plugin runs every job)
    ``SLURM_JOB_ACCOUNT`` is not set, so ask squeue.
    """
    job = environ.get("SLURM_JOB_ID")
    account = environ.get("SLURM_JOB_ACCOUNT") or None
    partition = environ.get("SLURM_JOB_PARTITION") or None
    if job and not (account and partition):
        import subprocess

        try:
            out = subprocess.run(
                ["squeue", "-h", "-j", job, "-o", "%a|%P"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if "|" in out:
            found_account, found_partition = out.splitlines()[0].split("|", 1)
            account = account or found_account or None
            partition = partition or found_partition or None
    return account, partition


def plan_slurm_cluster(
    settings: Mapping[str, Any] | None,
    *,
    parent: tuple[str | None, str | None] = (None, None),
) -> SlurmPlan:
    """Validate ``dask.slurm`` and work out the worker jobs.

    ``parent`` is the (account, partition) of the job running the step (see
    :func:`parent_job`): worker jobs are billed and placed like the step itself.
    Outside a job Dask's ``jobqueue.slurm.account``/``queue`` config or sbatch's
    defaults apply. The lifetime leaves a margin of 10 % of the walltime (at least a
    minute, at most ten) so a worker hands its data over before SLURM kills its job.
    """
    given = dict(settings or {})
    unknown = sorted(set(given) - set(DEFAULT_SLURM_SETTINGS))
    if unknown:
        raise ConfigError(
            f"unknown key(s) dask.slurm.{', dask.slurm.'.join(unknown)}; "
            f"valid keys are {', '.join(sorted(DEFAULT_SLURM_SETTINGS))}"
        )
    opts = {**DEFAULT_SLURM_SETTINGS, **given}
    for key in ("jobs", "cores", "memory_mb", "walltime"):
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"dask.slurm.{key} must be an integer >= 1, got {value!r}")
    walltime_s = opts["walltime"] * 60
    if opts["lifetime"] is None:
        lifetime = walltime_s - min(max(60, walltime_s // 10), 600)
    else:
        lifetime = opts["lifetime"]
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime < 1:
            raise ConfigError(
                f"dask.slurm.lifetime must be seconds >= 1 (or null), got {lifetime!r}"
            )
    if lifetime >= walltime_s:
        raise ConfigError(
            f"dask.slurm.lifetime ({lifetime} s) must be shorter than dask.slurm.walltime "
            f"({opts['walltime']} min), or workers are killed with their data instead of "
            "retiring: lower lifetime or raise walltime"
        )
    # the stagger spreads retirements so that not all workers leave at once; it never
    # pushes a worker past its walltime
    stagger = min(lifetime // 20, (walltime_s - lifetime) // 2, 300)
    job_extra = opts["job_extra"] or []
    if isinstance(job_extra, str) or not all(isinstance(x, str) for x in job_extra):
        raise ConfigError(
            f'dask.slurm.job_extra must be a list of strings like ["--qos=long"], got {job_extra!r}'
        )
    return SlurmPlan(
        jobs=opts["jobs"],
        cores=opts["cores"],
        memory_mb=opts["memory_mb"],
        walltime_min=opts["walltime"],
        lifetime_s=int(lifetime),
        stagger_s=int(stagger),
        interface=opts["interface"],
        scheduler_interface=opts["scheduler_interface"],
        account=parent[0],
        partition=parent[1],
        job_extra=tuple(job_extra),
        startup_timeout=float(opts["startup_timeout"]),
        shared_directory=Path(opts["shared_directory"]),
    )


def _start_slurm_cluster(stack: ExitStack, plan: SlurmPlan, *, dashboard: bool) -> Any:
    """A SLURMCluster with ``plan.jobs`` worker jobs, TLS, loopback-only HTTP."""
    import shutil

    from dask_jobqueue import SLURMCluster
    from distributed.security import Security

    try:
        security = Security.temporary()  # a fresh CA and certificate for this step
    except ImportError as exc:
        raise ConfigError(
            "dask.cluster: slurm talks TLS and needs the 'cryptography' package to make "
            f"its certificates ({exc}): pip install cryptography"
        ) from None
    if shutil.which("sbatch") is None:
        raise ConfigError(
            "dask.cluster is 'slurm' but sbatch is not on PATH: run the step on a SLURM "
            "cluster (login or compute node), or set dask.cluster: local"
        )
    # Worker certificates and keys go to files (mode 600) that every node can read;
    # dask-jobqueue deletes them when the cluster object goes away.
    plan.shared_directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    logs = plan.shared_directory / "logs"
    logs.mkdir(exist_ok=True)
    scheduler_options: dict[str, Any] = {
        # HTTP (health, metrics, dashboard) on loopback only, as in the local cluster
        "dashboard_address": "127.0.0.1:0",
        "dashboard": dashboard,
    }
    if plan.scheduler_interface:
        scheduler_options["interface"] = plan.scheduler_interface
    elif plan.interface:
        scheduler_options["interface"] = plan.interface
    cluster = stack.enter_context(
        SLURMCluster(
            cores=plan.cores,
            processes=1,
            memory=f"{plan.memory_mb}MiB",
            job_mem=f"{plan.memory_mb}M",
            walltime=f"{plan.walltime_min}",
            account=plan.account,
            queue=plan.partition,
            job_name="rasterflow-dask",
            job_extra_directives=list(plan.job_extra),
            interface=plan.interface,
            security=security,
            protocol="tls://",
            shared_temp_directory=str(plan.shared_directory),
            log_directory=str(logs),
            # spill to the worker node's own scratch (expanded by the job's shell)
            local_directory="${LOCAL_SCRATCH:-${TMPDIR:-/tmp}}",
            worker_extra_args=[
                "--lifetime",
                f"{plan.lifetime_s}s",
                "--lifetime-stagger",
                f"{plan.stagger_s}s",
                "--dashboard-address",
                "127.0.0.1:0",
                "--dashboard" if dashboard else "--no-dashboard",
            ],
            scheduler_options=scheduler_options,
        )
    )
    # adapt (not scale): a worker that retired at its lifetime is replaced by a new job
    cluster.adapt(minimum_jobs=plan.jobs, maximum_jobs=plan.jobs)
    return cluster


def _worker_node() -> dict[str, str]:
    return {
        "node": os.environ.get("SLURMD_NODENAME", ""),
        "job": os.environ.get("SLURM_JOB_ID", ""),
    }


@contextmanager
def _slurm_client(opts: Mapping[str, Any], *, report: Any) -> Iterator[Any]:
    """Client of a SLURMCluster sized by ``dask.slurm`` (see plan_slurm_cluster)."""
    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.WARNING)
    plan = plan_slurm_cluster(opts["slurm"], parent=parent_job())
    logger.info(
        "dask: slurm, %d worker job(s) x %d thread(s), %d MiB per worker, walltime %d min, "
        "lifetime %d+-%d s, interface %s, account %s, partition %s",
        plan.jobs,
        plan.cores,
        plan.memory_mb,
        plan.walltime_min,
        plan.lifetime_s,
        plan.stagger_s,
        plan.interface or "default",
        plan.account or "default",
        plan.partition or "default",
    )
    with ExitStack() as stack:
        cluster = _start_slurm_cluster(stack, plan, dashboard=bool(opts["dashboard"]))
        client = stack.enter_context(Client(cluster))
        logger.info(
            "dask scheduler %s, waiting for %d worker(s)", cluster.scheduler_address, plan.jobs
        )
        try:
            client.wait_for_workers(plan.jobs, timeout=plan.startup_timeout)
        except TimeoutError:
            jobs = ", ".join(str(j.job_id) for j in cluster.workers.values())
            raise TimeoutError(
                f"only {len(client.scheduler_info()['workers'])} of {plan.jobs} Dask worker "
                f"job(s) started within dask.slurm.startup_timeout={plan.startup_timeout:.0f} s"
                f" (SLURM jobs {jobs}): see why with `squeue -j <id>` (queue, too large a "
                f"request) and their logs in {plan.shared_directory / 'logs'}"
            ) from None
        for address, where in sorted(client.run(_worker_node).items()):
            logger.info(
                "dask worker %s on node %s (SLURM job %s)", address, where["node"], where["job"]
            )
        _monitor(stack, client, opts, report)
        yield client
