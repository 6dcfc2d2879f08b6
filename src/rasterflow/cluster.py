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

``dask: {cluster: slurm}`` switches a step to a multi-node cluster instead
(dask-jobqueue's SLURMCluster, docs/slurm.md): each Dask worker is its own SLURM job,
scheduler and workers talk TLS with throw-away certificates, and workers retire
(``--lifetime``) before their walltime so a replacement job takes over their data.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasterflow.errors import ConfigError, explain_step_failure

logger = logging.getLogger(__name__)

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


def _monitor(stack: ExitStack, client: Any, opts: Mapping[str, Any], report: Any) -> None:
    """Performance report and progress lines, as for the local cluster."""
    if opts["dashboard"]:
        logger.info("dask dashboard: %s", client.dashboard_link)
    if report:
        stack.enter_context(_performance_report(report, float(opts["report_min_seconds"])))
    stop = threading.Event()
    progress = threading.Thread(
        target=_log_progress,
        args=(client, float(opts["progress_interval"]), stop),
        daemon=True,
    )
    progress.start()
    stack.callback(progress.join)
    stack.callback(stop.set)


@contextmanager
def _performance_report(path: str | os.PathLike[str], min_seconds: float) -> Iterator[None]:
    """Distributed's performance report of the block, written only if the block took
    ``min_seconds`` or more (``dask.report_min_seconds``).

    Nearly all of a report's cost is at the end (its plots and HTML: 0.4-0.65 s
    measured, bokeh's import included), so a short block skips it: its report would show
    a second of start-up, not where the time went. The page loads BokehJS from the CDN;
    :func:`rasterflow.dask_reports.collect_dask_reports` makes the pages work offline (one
    shared copy of BokehJS), which costs a job nothing. A skipped job's page from an
    earlier run (rasterflow's own file beside the job's log) is removed, so the report
    never shows a stale run.
    """
    from distributed import performance_report

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = performance_report(filename=str(target))
    start = time.monotonic()
    report.__enter__()
    failed = True
    try:
        yield
        failed = False
    finally:
        took = time.monotonic() - start
        if failed or took >= min_seconds:  # a failure's report helps most: always kept
            report.__exit__(None, None, None)
        else:
            logger.info(
                "no Dask performance report: the Dask work took %.1f s, less than "
                "dask.report_min_seconds (%g s)",
                took,
                min_seconds,
            )
            target.unlink(missing_ok=True)


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
