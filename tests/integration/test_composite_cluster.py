"""Composites under a running dask_client: worker processes, the cluster's memory."""

from __future__ import annotations

import pytest
from cases.composite import TILE, write_scenes
from helpers import digest

from rasterflow import composite
from rasterflow.composite import _jobs


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> list[str]:
    """The unit tests' five index rasters (cases.composite), in date order."""
    return write_scenes(tmp_path_factory.mktemp("scenes"))


def test_runs_on_worker_processes_with_the_same_bytes(scenes, tmp_path):
    # everything in the graph must pickle to another process: paths, GeoBoxes, no handles
    from rasterflow.cluster import dask_client

    local = tmp_path / "local.tif"
    composite.run(inputs=scenes, tile=TILE, output=str(local), statistic="p90", chunk=64)
    remote = tmp_path / "remote.tif"
    with dask_client(threads=2, mem_mb=2000, settings={"processes": True}):
        composite.run(inputs=scenes, tile=TILE, output=str(remote), statistic="p90", chunk=64)
    assert digest(local) == digest(remote)


def test_without_a_chunk_run_sizes_it_to_the_active_cluster(scenes, tmp_path, caplog, monkeypatch):
    from rasterflow.cluster import dask_client

    asked = []

    def auto_chunk(n, tile, *, threads, memory_per_thread):
        asked.append((n, tile, threads, memory_per_thread))
        return 64

    monkeypatch.setattr(_jobs, "auto_chunk", auto_chunk)  # where run looks it up
    out = tmp_path / "c.tif"
    with dask_client(threads=2, mem_mb=2000, settings={}) as client:
        [worker] = client.scheduler_info()["workers"].values()
        with caplog.at_level("INFO", logger="rasterflow.composite"):
            composite.run(inputs=scenes, tile=TILE, output=str(out), statistic="median")
    assert asked == [(5, TILE.shape.yx, 2, worker["memory_limit"] / 2)]
    assert "chunk 64)" in caplog.text
    # no cluster: memory unknown, one thread
    asked.clear()
    composite.run(inputs=scenes, tile=TILE, output=str(tmp_path / "d.tif"))
    assert asked == [(5, TILE.shape.yx, 1, None)]
