"""Zonal statistics on a running Dask cluster (a LocalCluster and its Client)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
from cases.zonal import (
    ALL_STATS,
    PERCENTILES,
    random_values,
    star_zones,
    with_cell_zones,
    write_tiled,
)

from rasterflow import zonal


@pytest.fixture(scope="module")
def tiled_raster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unit tests' values (cases.zonal) in 16 x 16 blocks."""
    return write_tiled(tmp_path_factory.mktemp("t") / "tiled.tif", random_values())


@pytest.fixture(scope="module")
def cell_zones() -> gpd.GeoDataFrame:
    """The unit tests' stars and the zones across cell corners and edges (cases.zonal)."""
    return with_cell_zones(star_zones())


# rasterio.features.rasterize silences this warning with warnings.catch_warnings, which
# is not thread-safe: with two batches in two threads it sometimes escapes (harmless)
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_dask_cluster_gives_identical_results(
    cell_zones: gpd.GeoDataFrame, tiled_raster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client, LocalCluster, get_task_stream

    monkeypatch.setattr(zonal.cells, "CELL_PIXELS", 256)
    local = {
        rule: zonal.zonal_statistics(
            cell_zones,
            tiled_raster,
            id_column="zid",
            rule=rule,
            stats=ALL_STATS,
            percentiles=PERCENTILES,
            batch_size=4,
        )
        for rule in ("centre", "coverage")
    }
    geometries = zonal.prepare_geometries(
        cell_zones, crs=rasterio.crs.CRS.from_epsg(32633), id_column="zid", source="cells"
    )
    _, tasks = zonal.plan_tasks(
        geometries, raster=zonal.raster_info(tiled_raster, band=1), batch_size=4
    )
    cells = {cell for task in tasks for cell in task.cells}
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        for rule in ("centre", "coverage"):
            with get_task_stream() as stream:
                on_cluster = zonal.zonal_statistics(
                    cell_zones,
                    tiled_raster,
                    id_column="zid",
                    rule=rule,
                    stats=ALL_STATS,
                    percentiles=PERCENTILES,
                    batch_size=4,
                )
            keys = [str(t["key"]) for t in stream.data]
            # every task ran on the cluster, and every cell was read there exactly once
            assert sum("task_table" in k for k in keys) == len(tasks)
            assert sum("read_cell" in k for k in keys) == len(cells) == 12
            pd.testing.assert_frame_equal(on_cluster, local[rule])
