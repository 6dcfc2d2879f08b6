"""The one place that decides how a heavy step runs on Dask.

Sizing rules (README, "How a heavy step sizes its Dask cluster"):

* cores = min(len(os.sched_getaffinity(0)), threads Snakemake gave the job). Under
  SLURM the affinity is the allocation (``--cpus-per-task``); on a laptop Snakemake may
  run several heavy jobs at once and each keeps to its own ``threads``.
  ``os.cpu_count()`` / ``multiprocessing.cpu_count()`` see the whole node and are
  never used.
* memory = the job's: ``SLURM_MEM_PER_NODE``, else ``SLURM_MEM_PER_CPU`` x cpus, else
  the rule's ``mem_mb``; never the node's total.
* spill goes to ``$LOCAL_SCRATCH`` or ``$TMPDIR`` when set (node-local disk on clusters).
* the scheduler and the optional dashboard listen on 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasterflow.errors import ConfigError

logger = logging.getLogger(__name__)

#: Defaults of the ``dask`` config section (the schema repeats them with descriptions).
DEFAULT_SETTINGS: dict[str, Any] = {
    "processes": False,
    "dashboard": False,
    "progress_interval": 10.0,
}


@dataclass(frozen=True)
class ClusterPlan:
    """How many workers, threads and bytes one heavy step gets."""

    workers: int
    threads_per_worker: int
    memory_limit: int  # bytes per worker
    processes: bool
    scratch: Path | None

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
    return ClusterPlan(
        workers=workers,
        threads_per_worker=per_worker,
        memory_limit=memory * 1024 * 1024 // workers,
        processes=processes,
        scratch=Path(scratch) if scratch else None,
    )


def _task_states(dask_scheduler: Any) -> dict[str, int]:
    return dict(Counter(ts.state for ts in dask_scheduler.tasks.values()))


def _log_progress(client: Any, interval: float, stop: threading.Event) -> None:
    """Log the scheduler's task counts every ``interval`` seconds (log-file friendly)."""
    while not stop.wait(interval):
        try:
            states = client.run_on_scheduler(_task_states)
        except Exception:  # the cluster is closing; progress is best effort
            return
        total = sum(states.values())
        if total:
            done = states.get("memory", 0) + states.get("released", 0) + states.get("forgotten", 0)
            logger.info(
                "progress: %d/%d tasks done (%s)",
                done,
                total,
                ", ".join(f"{k} {v}" for k, v in sorted(states.items())),
            )


def dask_report_path(log: str | os.PathLike[str]) -> Path:
    """Where a heavy job's Dask performance report goes: beside its log.

    It is not declared as a Snakemake ``log:``, so ``--show-failed-logs`` prints only
    the text log of a failed job, not a page of HTML.
    """
    return Path(log).with_suffix(".dask.html")


@contextmanager
def dask_client(
    *,
    threads: int,
    mem_mb: int | None,
    settings: Mapping[str, Any] | None = None,
    report: str | os.PathLike[str] | None = None,
) -> Iterator[Any]:
    """Start a Dask cluster sized to this job, yield its Client, close it afterwards.

    ``settings`` is the workflow's ``dask`` config section. ``report`` is a path for a
    Dask performance report (HTML) of everything computed inside the block.
    """
    import dask
    from distributed import Client, LocalCluster, performance_report

    # distributed logs each worker's start and stop at INFO: noise in a per-job log
    logging.getLogger("distributed").setLevel(logging.WARNING)

    opts = {**DEFAULT_SETTINGS, **(settings or {})}
    plan = plan_cluster(threads=threads, mem_mb=mem_mb, processes=bool(opts["processes"]))
    config: dict[str, Any] = {}
    if plan.scratch is not None:
        config["temporary-directory"] = str(plan.scratch)
    logger.info(
        "dask: %d worker(s) x %d thread(s), %s, %.0f MiB per worker, spill to %s "
        "(affinity %d cpus, job threads %d)",
        plan.workers,
        plan.threads_per_worker,
        "processes" if plan.processes else "threads",
        plan.memory_limit / 2**20,
        plan.scratch or "default temporary directory",
        len(os.sched_getaffinity(0)),
        threads,
    )
    with ExitStack() as stack:
        stack.enter_context(dask.config.set(config))
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=plan.workers,
                threads_per_worker=plan.threads_per_worker,
                processes=plan.processes,
                memory_limit=plan.memory_limit,
                # threads mode talks in-process (inproc://), no socket at all
                host="127.0.0.1" if plan.processes else None,
                # the scheduler serves HTTP (health, metrics) even without a dashboard,
                # on 0.0.0.0:8787 by default: pin it to loopback and a free port
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": bool(opts["dashboard"])},
                # an in-process worker would otherwise serve on all interfaces
                worker_dashboard_address="127.0.0.1:0",
                local_directory=str(plan.scratch) if plan.scratch else None,
            )
        )
        client = stack.enter_context(Client(cluster))
        if opts["dashboard"]:
            logger.info("dask dashboard: %s", client.dashboard_link)
        if report:
            Path(report).parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(performance_report(filename=str(report)))
        stop = threading.Event()
        progress = threading.Thread(
            target=_log_progress,
            args=(client, float(opts["progress_interval"]), stop),
            daemon=True,
        )
        progress.start()
        stack.callback(progress.join)
        stack.callback(stop.set)
        yield client
