"""A local step's cluster, sized from the job (see :mod:`rasterflow.cluster`): the
``dask`` settings' defaults, :class:`ClusterPlan` and the check that a worker has memory
enough.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasterflow.errors import ConfigError

#: Defaults of the ``dask`` config section (the schema repeats them with descriptions).
DEFAULT_SETTINGS: dict[str, Any] = {
    "processes": False,
    "dashboard": False,
    "progress_interval": 10.0,
    "report": False,
    "report_min_seconds": 10.0,
    "cluster": "local",
    "slurm": {},
}

#: Defaults of ``dask.slurm`` (used with ``dask.cluster: slurm``; docs/slurm.md).
DEFAULT_SLURM_SETTINGS: dict[str, Any] = {
    "jobs": 2,  # worker jobs (one Dask worker each)
    "cores": 1,  # --cpus-per-task of a worker job = the worker's threads
    "memory_mb": 4000,  # --mem of a worker job = the worker's memory limit
    "walltime": 60,  # minutes, --time of a worker job
    "lifetime": None,  # seconds a worker lives; default: walltime less a margin
    "interface": None,  # network interface workers listen on (ib0, eth0, lo, ...)
    "scheduler_interface": None,  # the scheduler's, when it differs (login node)
    "job_extra": [],  # more #SBATCH directives, e.g. ["--constraint=ssd"]
    "startup_timeout": 600,  # seconds to wait for the workers' jobs to start
    "shared_directory": ".snakemake/dask-jobqueue",  # on the shared file system
}


@dataclass(frozen=True)
class ClusterPlan:
    """How many workers, threads and bytes one heavy step gets."""

    workers: int
    threads_per_worker: int
    memory_limit: int  # bytes per worker, for Dask (the GDAL cache comes on top)
    processes: bool
    scratch: Path | None
    gdal_cache_mb: int = 64  # GDAL's block cache per worker process, within the job

    @property
    def cores(self) -> int:
        return self.workers * self.threads_per_worker


def job_memory_mb(
    *, mem_mb: int | None, cores: int, environ: Mapping[str, str] = os.environ
) -> int | None:
    """Memory the job may use, in MB: SLURM's allocation first, then the rule's mem_mb."""
    if per_node := environ.get("SLURM_MEM_PER_NODE"):
        return int(per_node)
    if per_cpu := environ.get("SLURM_MEM_PER_CPU"):
        cpus = int(environ.get("SLURM_CPUS_PER_TASK") or cores)
        return int(per_cpu) * cpus
    return int(mem_mb) if mem_mb else None


def plan_cluster(
    *,
    threads: int,
    mem_mb: int | None,
    processes: bool,
    environ: Mapping[str, str] = os.environ,
    affinity: set[int] | None = None,
) -> ClusterPlan:
    """Size a LocalCluster for a job given ``threads`` cores and ``mem_mb`` memory."""
    if threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    available = len(affinity if affinity is not None else os.sched_getaffinity(0))
    cores = max(1, min(available, threads))
    memory = job_memory_mb(mem_mb=mem_mb, cores=cores, environ=environ)
    if memory is None:
        raise ConfigError(
            "no memory limit for this job: give the rule resources: mem_mb=..., "
            "or run under SLURM with --mem / --mem-per-cpu"
        )
    workers, per_worker = (cores, 1) if processes else (1, cores)
    scratch = environ.get("LOCAL_SCRATCH") or environ.get("TMPDIR")
    # GDAL would take 5 % of the node's RAM for its cache: on a 512 GB node more than a
    # small job's whole allocation. It gets an eighth of the job, out of Dask's share.
    per_worker_mb = memory // workers
    cache_mb = min(max(8, min(512, per_worker_mb // 8)), per_worker_mb // 2)
    return ClusterPlan(
        workers=workers,
        threads_per_worker=per_worker,
        memory_limit=(per_worker_mb - cache_mb) * 1024 * 1024,
        processes=processes,
        scratch=Path(scratch) if scratch else None,
        gdal_cache_mb=cache_mb,
    )


#: Memory, in MB, below which a Dask worker cannot run a step: Python with NumPy, GDAL,
#: Dask and rasterflow loaded takes about 250 MiB before its first chunk (the demo's
#: index job peaks at 252 MiB). Measured on a 64² scene with processes: true, one worker:
#: mem_mb 250 failed (KilledWorker after 4 restarts), 350 passed; below about 150 the
#: nanny restarts the worker before it takes a task, for ever. Threads mode runs, but
#: the job then uses ten times the memory it declared to the scheduler (or to SLURM).
MIN_WORKER_MB = 400


def check_job_memory(plan: ClusterPlan, *, rule: str | None = None) -> None:
    """Refuse a job whose memory (mem_mb or SLURM's) leaves a worker under MIN_WORKER_MB."""
    per_worker_mb = plan.memory_limit // 2**20 + plan.gdal_cache_mb
    if per_worker_mb >= MIN_WORKER_MB:
        return
    need = MIN_WORKER_MB * plan.workers
    name = rule or "<rule>"
    kind = "worker process" if plan.processes else "worker"
    kinds = "worker processes" if plan.processes else "workers"
    each = f" ({plan.workers} {kinds} x {MIN_WORKER_MB})" if plan.workers > 1 else ""
    raise ConfigError(
        f"mem_mb of rule {name}: {per_worker_mb * plan.workers} MB is far below what a "
        f"Dask {kind} needs before its first chunk (about 250 MB); give rule {name} at "
        f"least {need} MB{each}, e.g. --set-resources {name}:mem_mb={max(need, 2000)}"
    )
