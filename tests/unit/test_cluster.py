"""dask_client sizing: affinity, job threads, SLURM memory, scratch, memory checks.

The clusters themselves (sockets, workers, reports) are started in
tests/integration/test_cluster_real.py.
"""

from __future__ import annotations

import pytest

from rasterflow.cluster import dask_client, job_memory_mb, plan_cluster, workers_in_this_process
from rasterflow.errors import ConfigError


@pytest.mark.parametrize(
    ("affinity", "threads", "processes", "workers", "per_worker"),
    [
        ({0, 1, 2, 3}, 2, False, 1, 2),  # laptop: the job's threads, not the machine's
        ({0}, 8, False, 1, 1),  # batch allocation of one cpu: affinity wins
        ({0, 1, 2, 3, 4, 5}, 4, True, 4, 1),  # processes: one thread each
        ({3, 7}, 16, True, 2, 1),
    ],
)
def test_cores_are_min_of_affinity_and_threads(affinity, threads, processes, workers, per_worker):
    plan = plan_cluster(
        threads=threads, mem_mb=4000, processes=processes, environ={}, affinity=affinity
    )
    assert (plan.workers, plan.threads_per_worker) == (workers, per_worker)
    # Dask's limits and GDAL's caches together are the job's memory, no more
    assert (plan.memory_limit + plan.gdal_cache_mb * 2**20) * plan.workers == 4000 * 2**20
    assert 8 <= plan.gdal_cache_mb <= 512


def test_a_tiny_job_still_leaves_dask_most_of_its_memory():
    plan = plan_cluster(threads=1, mem_mb=10, processes=False, environ={}, affinity={0})
    assert plan.gdal_cache_mb == 5 and plan.memory_limit == 5 * 2**20


def test_memory_comes_from_slurm_before_the_rule():
    env = {"SLURM_MEM_PER_NODE": "3000"}
    assert job_memory_mb(mem_mb=1000, cores=2, environ=env) == 3000
    env = {"SLURM_MEM_PER_CPU": "1500", "SLURM_CPUS_PER_TASK": "3"}
    assert job_memory_mb(mem_mb=1000, cores=2, environ=env) == 4500
    assert job_memory_mb(mem_mb=1000, cores=2, environ={}) == 1000
    plan = plan_cluster(
        threads=2,
        mem_mb=500,
        processes=True,
        affinity={0, 1},
        environ={"SLURM_MEM_PER_NODE": "8000"},
    )
    assert plan.memory_limit + plan.gdal_cache_mb * 2**20 == 4000 * 2**20  # per worker


def test_no_memory_anywhere_is_an_error():
    with pytest.raises(ConfigError, match="mem_mb"):
        plan_cluster(threads=1, mem_mb=None, processes=False, environ={}, affinity={0})


def test_scratch_prefers_local_scratch_over_tmpdir():
    env = {"LOCAL_SCRATCH": "/scratch/job1", "TMPDIR": "/tmp/x"}
    assert (
        str(plan_cluster(threads=1, mem_mb=1, processes=False, environ=env, affinity={0}).scratch)
        == "/scratch/job1"
    )
    env = {"TMPDIR": "/tmp/x"}
    assert (
        str(plan_cluster(threads=1, mem_mb=1, processes=False, environ=env, affinity={0}).scratch)
        == "/tmp/x"
    )
    assert (
        plan_cluster(threads=1, mem_mb=1, processes=False, environ={}, affinity={0}).scratch is None
    )


def test_a_client_without_a_cluster_object_is_not_in_process():
    class Remote:  # a Client(address) to a scheduler elsewhere has cluster = None
        cluster = None

    assert workers_in_this_process(Remote()) is False


def test_memory_far_below_a_worker_is_refused_naming_the_rule_and_the_minimum():
    from rasterflow.cluster import check_job_memory

    plan = plan_cluster(threads=1, mem_mb=2, processes=False, environ={}, affinity={0})
    with pytest.raises(ConfigError) as info:
        check_job_memory(plan, rule="index")
    assert str(info.value) == (
        "mem_mb of rule index: 2 MB is far below what a Dask worker needs before its first "
        "chunk (about 250 MB); give rule index at least 400 MB, e.g. --set-resources "
        "index:mem_mb=2000"
    )
    plan = plan_cluster(threads=2, mem_mb=600, processes=True, environ={}, affinity={0, 1})
    with pytest.raises(ConfigError, match=r"at least 800 MB \(2 worker processes x 400\)"):
        check_job_memory(plan, rule="composite")
    check_job_memory(
        plan_cluster(threads=2, mem_mb=2000, processes=True, environ={}, affinity={0, 1}),
        rule="composite",
    )


def test_dask_client_refuses_too_little_memory_before_starting_a_cluster():

    with (
        pytest.raises(ConfigError, match="mem_mb of rule index: 2 MB is far below"),
        dask_client(threads=1, mem_mb=2, rule="index"),
    ):
        raise AssertionError("no cluster may start")
