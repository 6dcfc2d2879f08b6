"""dask_client sizing: affinity, job threads, SLURM memory, scratch, loopback only."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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


def _run_child(code: str, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cpus to restrict to 1")
@pytest.mark.parametrize("processes", [False, True])
def test_real_cluster_under_restricted_affinity(processes, tmp_path):
    """A process pinned to one cpu (as inside a --cpus-per-task=1 job) gets 1 core."""
    out = _run_child(
        f"""
        import os
        os.sched_setaffinity(0, {{0}})
        from rasterflow.cluster import dask_client
        if __name__ == "__main__":
            with dask_client(threads=2, mem_mb=1000,
                             settings={{"processes": {processes}, "report_min_seconds": 0}},
                             report={str(tmp_path / "r.html")!r}) as client:
                info = client.scheduler_info()["workers"]
                print(sum(w["nthreads"] for w in info.values()), len(info))
                print(sum(w["memory_limit"] for w in info.values()))
                from rasterio.env import get_gdal_config
                print(*client.run(lambda: get_gdal_config("GDAL_CACHEMAX")).values())
    """,
        SLURM_MEM_PER_NODE="1200",
    )
    cores, workers = map(int, out.split()[:2])
    assert (cores, workers) == (1, 1)
    # the job's 1200 MB: 150 MB for GDAL's cache (set in the worker), the rest for Dask
    assert int(out.split()[2]) == 1050 * 2**20
    assert int(out.split()[3]) == 150 * 2**20
    assert (tmp_path / "r.html").stat().st_size > 1000  # performance report written


@pytest.mark.parametrize("processes", [False, True])
def test_every_socket_listens_on_loopback(processes):
    import psutil

    with dask_client(threads=2, mem_mb=1000, settings={"processes": processes}):
        me = psutil.Process()
        listening = [
            c.laddr.ip
            for p in [me, *me.children(recursive=True)]
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
    assert listening, "expected the scheduler's HTTP endpoint at least"
    assert set(listening) <= {"127.0.0.1"}, listening


def test_progress_lines_are_logged(caplog):
    import dask.array as da

    caplog.set_level("INFO", logger="rasterflow")
    with dask_client(threads=2, mem_mb=1000, settings={"progress_interval": 0.05}):
        x = da.random.random((3000, 3000), chunks=250)
        (x @ x.T).sum().compute()
    assert any(
        "progress:" in r.getMessage() and "tasks done" in r.getMessage() for r in caplog.records
    )
    assert any("dask: 1 worker(s) x" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("processes", [False, True])
def test_workers_never_pause(processes):
    # a paused worker can wait forever on memory it does not manage (GDAL's, its imports)
    with dask_client(threads=2, mem_mb=1000, settings={"processes": processes}) as client:
        pause = client.run(lambda dask_worker: dask_worker.memory_manager.memory_pause_fraction)
        spill = client.run(lambda dask_worker: dask_worker.memory_manager.memory_spill_fraction)
    assert pause and set(pause.values()) == {False}
    assert all(v for v in spill.values())  # spilling to disk stays on


@pytest.mark.parametrize("processes", [False, True])
def test_workers_in_this_process_only_in_threads_mode(processes):
    with dask_client(
        threads=2, mem_mb=1000, settings={"processes": processes, "report": False}
    ) as client:
        pids = set(client.run(os.getpid).values())  # where tasks really run
        assert workers_in_this_process(client) is (pids == {os.getpid()})
        assert workers_in_this_process(client) is (not processes)


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
    from rasterflow.cluster import dask_client

    with (
        pytest.raises(ConfigError, match="mem_mb of rule index: 2 MB is far below"),
        dask_client(threads=1, mem_mb=2, rule="index"),
    ):
        raise AssertionError("no cluster may start")


def test_one_thread_runs_without_a_cluster_and_still_tells_its_memory(caplog):
    """A one-thread step (heavy jobs on one machine) uses Dask's synchronous scheduler:
    no Client to start, the same results, and composite.auto_chunk still sees the
    job's memory per thread."""
    import logging

    import dask.array as da

    from rasterflow.composite._jobs import _cluster_threads_and_memory

    caplog.set_level(logging.INFO, logger="rasterflow.cluster")
    with dask_client(threads=1, mem_mb=2000, settings={}) as client:
        assert client is None
        assert int(da.arange(10, chunks=3).sum().compute()) == 45
        threads, memory = _cluster_threads_and_memory()
        assert threads == 1 and memory is not None and memory > 1000 * 2**20
    assert _cluster_threads_and_memory() == (1, None)  # and after the step
    assert any("Dask's synchronous scheduler" in r.getMessage() for r in caplog.records)
    # a report or a dashboard still gets its cluster
    with dask_client(threads=1, mem_mb=2000, settings={"dashboard": True}) as client:
        assert client is not None


def test_dask_report_only_for_blocks_longer_than_report_min_seconds(tmp_path):
    """A short block writes no report and leaves no stale one of an earlier run; a long
    enough one (here: any, with 0) writes it."""
    import dask.array as da

    page = tmp_path / "logs" / "job.dask.html"
    page.parent.mkdir()
    page.write_text("an earlier run's report")
    settings = {"report": True, "report_min_seconds": 3600}
    with dask_client(threads=2, mem_mb=1000, settings=settings, report=page):
        da.ones((100, 100), chunks=50).sum().compute()
    assert not page.exists()
    with dask_client(
        threads=2, mem_mb=1000, settings={**settings, "report_min_seconds": 0}, report=page
    ):
        da.ones((100, 100), chunks=50).sum().compute()
    assert "Dask Performance Report" in page.read_text()


def test_active_client_is_the_one_look_up_of_the_running_client(tmp_path, monkeypatch):
    """zonal, composite and the COG writer ask one helper: None without a Client or on
    the synchronous scheduler, the Client itself while one runs (before any worker has
    joined too), and each caller keeps its answer for each case."""
    import numpy as np
    from dask.utils import SerializableLock
    from distributed import Client, LocalCluster

    from rasterflow import io
    from rasterflow.cluster import active_client
    from rasterflow.composite._jobs import _cluster_threads_and_memory

    def writer_lock():
        return io.WindowWriter(tmp_path / "w.tif", (1, 4, 4), np.dtype("float32")).lock

    assert active_client() is None
    assert _cluster_threads_and_memory() == (1, None)
    assert isinstance(writer_lock(), SerializableLock)
    with dask_client(threads=1, mem_mb=2000, settings={}) as none:
        assert none is None and active_client() is None
        assert isinstance(writer_lock(), SerializableLock)
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        assert active_client() is client
        # no worker yet: one thread, memory unknown (auto_chunk then picks 512)
        assert _cluster_threads_and_memory() == (1, None)
    with dask_client(threads=2, mem_mb=2000, settings={}) as client:
        assert active_client() is client
        assert _cluster_threads_and_memory()[0] == 2
        assert isinstance(writer_lock(), SerializableLock)  # threads of this process
    assert active_client() is None
    # distributed never imported: nobody can have started a Client, and it stays unloaded
    monkeypatch.delitem(sys.modules, "distributed")
    assert active_client() is None and "distributed" not in sys.modules
