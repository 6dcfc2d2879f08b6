"""dask_client running real clusters: threads and worker processes, sockets, progress,
reports; a child process pinned to one cpu."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from rasterflow.cluster import dask_client, workers_in_this_process


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
