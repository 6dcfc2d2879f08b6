"""The COG writer under a running dask_client: its lock, threads or worker processes."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from helpers import digest
from rasterio.transform import from_origin

from rasterflow import io
from rasterflow.io import write_cog

TRANSFORM = from_origin(300_000, 7_000_000, 10, 10)


@pytest.mark.parametrize("processes", [False, True])
def test_write_lock_is_local_for_in_process_workers_and_bytes_do_not_change(tmp_path, processes):
    from dask.utils import SerializableLock
    from distributed import Lock

    from rasterflow.cluster import dask_client

    arr = np.random.default_rng(4).random((900, 700), dtype=np.float32)
    plain = write_cog(
        arr, tmp_path / "plain.tif", crs="EPSG:3067", transform=TRANSFORM, nodata=np.nan
    )
    with dask_client(threads=2, mem_mb=1000, settings={"processes": processes, "report": False}):
        lock = io.WindowWriter(tmp_path / "w.tif", (1, 900, 700), np.float32).lock
        out = write_cog(
            da.from_array(arr, chunks=200),
            tmp_path / "c.tif",
            crs="EPSG:3067",
            transform=TRANSFORM,
            nodata=np.nan,
            threads=2,
        )
    # worker processes share the file through the scheduler's lock; threads need not
    assert isinstance(lock, Lock if processes else SerializableLock)
    assert digest(out) == digest(plain)
