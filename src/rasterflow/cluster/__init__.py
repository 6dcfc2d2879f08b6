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

The package (issue #20): :mod:`._plan` (a local cluster's size), :mod:`._client`
(starting the step's client, finding the running one), :mod:`._slurm` (multi-node
steps) and :mod:`._progress` (progress lines, performance reports).
"""

from rasterflow.cluster._client import (
    active_client,
    dask_client,
    dask_report_path,
    job_threads_and_memory,
    workers_in_this_process,
)
from rasterflow.cluster._plan import (
    DEFAULT_SETTINGS,
    DEFAULT_SLURM_SETTINGS,
    MIN_WORKER_MB,
    ClusterPlan,
    check_job_memory,
    job_memory_mb,
    plan_cluster,
)
from rasterflow.cluster._slurm import SlurmPlan, parent_job, plan_slurm_cluster

__all__ = [
    "DEFAULT_SETTINGS",
    "DEFAULT_SLURM_SETTINGS",
    "MIN_WORKER_MB",
    "ClusterPlan",
    "SlurmPlan",
    "active_client",
    "check_job_memory",
    "dask_client",
    "dask_report_path",
    "job_memory_mb",
    "job_threads_and_memory",
    "parent_job",
    "plan_cluster",
    "plan_slurm_cluster",
    "workers_in_this_process",
]
