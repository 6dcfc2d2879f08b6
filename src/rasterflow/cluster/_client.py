"""The step's Dask client: :func:`dask_client` (a LocalCluster, the synchronous
scheduler for one thread, or a SLURMCluster), and the look-ups of the running one.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rasterflow.cluster._plan import DEFAULT_SETTINGS, ClusterPlan, check_job_memory, plan_cluster
from rasterflow.cluster._progress import _monitor
from rasterflow.cluster._slurm import _slurm_client
from rasterflow.errors import ConfigError, explain_step_failure

# the package's name, as before the split: log lines keep their logger
logger = logging.getLogger("rasterflow.cluster")


def active_client() -> Any:
    """The ``distributed`` Client this process's Dask work goes to, or None.

    The one look-up of it, for the steps that adapt to the cluster: zonal statistics
    (tasks on the cluster or in process), the composite's chunk size (the workers'
    threads and memory) and the COG writer's lock (:func:`workers_in_this_process`).
    None when no Client runs: none was started, ``distributed`` is not installed, or a
    one-thread step runs on the synchronous scheduler (:func:`dask_client` yields None;
    :func:`job_threads_and_memory` tells its size). ``distributed`` is not imported to
    find out: nobody can have started a Client without importing it, and the import
    alone costs ~2 s. A Client whose workers have not joined yet is returned as it is:
    a caller that sizes work by the workers must allow for none.
    """
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):  # ValueError: no Client (distributed's own words)
        return None


def workers_in_this_process(client: Any) -> bool:
    """True when every worker of ``client``'s cluster runs as threads of this process.

    So it is for a ``dask_client`` in threads mode (the default): objects such as a
    ``threading.Lock`` are then shared with the tasks as they are. Worker processes
    (``dask.processes: true``), SLURM worker jobs or a client without a cluster object
    (connected to a scheduler by address) give False.
    """
    from distributed import Worker

    cluster = getattr(client, "cluster", None)
    workers = getattr(cluster, "workers", None)
    if not workers:
        return False
    return all(isinstance(w, Worker) for w in workers.values())


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
    rule: str | None = None,
) -> Iterator[Any]:
    """Start a Dask cluster sized to this job, yield its Client, close it afterwards.

    ``settings`` is the workflow's ``dask`` config section. ``report`` is a path for a
    Dask performance report (HTML) of everything computed inside the block. ``rule``
    names the job's rule in the message of too little memory (:func:`check_job_memory`).
    """
    import dask
    from distributed import Client, LocalCluster

    # distributed logs each worker's start and stop at INFO: noise in a per-job log
    logging.getLogger("distributed").setLevel(logging.WARNING)

    opts = {**DEFAULT_SETTINGS, **(settings or {})}
    if opts["cluster"] not in ("local", "slurm"):
        raise ConfigError(
            f"dask.cluster must be 'local' (one job's cores) or 'slurm' (worker jobs "
            f"on several nodes), got {opts['cluster']!r}"
        )
    if opts["cluster"] == "slurm":
        with _slurm_client(opts, report=report) as client:
            yield client
        return
    plan = plan_cluster(threads=threads, mem_mb=mem_mb, processes=bool(opts["processes"]))
    check_job_memory(plan, rule=rule)  # before the cluster: else a restart loop or a hang
    config: dict[str, Any] = {}
    if plan.scratch is not None:
        config["temporary-directory"] = str(plan.scratch)
    # Dask pauses a worker near its limit until its memory falls. Memory it does not
    # manage (GDAL's, a library's, a fresh worker process's own imports) may never
    # fall, and a worker paused for good leaves the step waiting forever: seen with the
    # in-process worker (no nanny to restart it) and with a restarted worker process
    # whose baseline was above the pause line. Without the pause a worker spills, the
    # nanny restarts one over its limit (then the step fails after allowed-failures),
    # and beyond the job the kernel or SLURM stops it (--retries brings it back with
    # more memory): a failure, never a hang.
    config["distributed.worker.memory.pause"] = False
    logger.info(
        "dask: %d worker(s) x %d thread(s), %s, %.0f MiB per worker (+ %d MiB GDAL "
        "cache), spill to %s (affinity %d cpus, job threads %d)",
        plan.workers,
        plan.threads_per_worker,
        "processes" if plan.processes else "threads",
        plan.memory_limit / 2**20,
        plan.gdal_cache_mb,
        plan.scratch or "default temporary directory",
        len(os.sched_getaffinity(0)),
        threads,
    )
    if plan.cores == 1 and not plan.processes and not opts["dashboard"] and not report:
        with _synchronous(plan, config) as none:
            yield none
        return
    with ExitStack() as stack:
        stack.enter_context(dask.config.set(config))
        _limit_gdal_cache(stack, plan.gdal_cache_mb)
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
                # an in-process worker would otherwise serve HTTP on all interfaces
                worker_dashboard_address="127.0.0.1:0",
                worker_class=_worker_class(processes=plan.processes),
                local_directory=str(plan.scratch) if plan.scratch else None,
            )
        )
        client = stack.enter_context(Client(cluster))
        _monitor(stack, client, opts, report)
        try:
            yield client
        except Exception as exc:
            failure = explain_step_failure(
                exc,
                memory_mb=plan.memory_limit / 2**20,
                workers=plan.workers,
                processes=plan.processes,
            )
            if failure is exc:
                raise
            raise failure from exc


#: (threads, memory per thread in bytes) of the running step without a cluster
_current_job: tuple[int, float] | None = None


def job_threads_and_memory() -> tuple[int, float] | None:
    """(threads, bytes per thread) of a step running on the synchronous scheduler (one
    thread, no cluster: :func:`dask_client`), else None (ask the Client instead)."""
    return _current_job


@contextmanager
def _synchronous(plan: ClusterPlan, config: Mapping[str, Any]) -> Iterator[None]:
    """A one-thread step without a cluster: Dask's synchronous scheduler.

    A LocalCluster and its Client cost ~0.6 s to start on the quiet benchmark machine
    (a third of a small job's set-up; docs/benchmarks.md, end to end) and give one
    thread nothing: no parallelism, no memory pause (switched off anyway), no worker
    to restart. So one-thread jobs (HEAVY_THREADS on one machine) run their tasks in
    the step's own thread; products are the same bytes (the determinism matrix runs
    1 core per job against 2). Memory beyond the job's is the kernel's or SLURM's to
    stop, as in threads mode. Yields None: there is no Client.
    """
    import dask

    global _current_job
    logger.info("dask: one thread, so no cluster: Dask's synchronous scheduler")
    with ExitStack() as stack:
        stack.enter_context(dask.config.set({**config, "scheduler": "synchronous"}))
        _limit_gdal_cache(stack, plan.gdal_cache_mb)
        _current_job = (1, float(plan.memory_limit))
        try:
            yield None
        except Exception as exc:
            failure = explain_step_failure(
                exc, memory_mb=plan.memory_limit / 2**20, workers=1, processes=False
            )
            if failure is exc:
                raise
            raise failure from exc
        finally:
            _current_job = None


def _limit_gdal_cache(stack: ExitStack, mb: int) -> None:
    """Cap GDAL's block cache here and in worker processes (which inherit the variable)."""
    from rasterio.env import get_gdal_config, set_gdal_config

    before_env, before = os.environ.get("GDAL_CACHEMAX"), get_gdal_config("GDAL_CACHEMAX")
    os.environ["GDAL_CACHEMAX"] = str(mb)  # GDAL reads values below 100000 as MB
    set_gdal_config("GDAL_CACHEMAX", mb * 1024 * 1024)

    def restore() -> None:
        if before_env is None:
            os.environ.pop("GDAL_CACHEMAX", None)
        else:
            os.environ["GDAL_CACHEMAX"] = before_env
        set_gdal_config("GDAL_CACHEMAX", before)

    stack.callback(restore)


def _worker_class(*, processes: bool) -> Any:
    """Workers that serve their HTTP routes on loopback without the Bokeh dashboard.

    LocalCluster turns a worker's dashboard on whenever it is given an address, and the
    dashboard imports Bokeh: 0.4 s of CPU per job start for pages nobody opens.
    """
    from distributed import Nanny, Worker

    class LoopbackWorker(Worker):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "dashboard": False})

    # worker processes start from the Nanny and bind to its loopback host already
    return Nanny if processes else LoopbackWorker
