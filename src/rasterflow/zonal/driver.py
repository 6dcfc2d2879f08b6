"""Running the zonal statistics of a raster: the engines over the cells' tasks, on the
step's Dask cluster when there is one, and the table put back in zone order.

Scale: each cell (:mod:`rasterflow.zonal.cells`) is read and decoded once. Decoding a
compressed raster is the largest part of the work (~half of the coverage rule's CPU)
and, before, each batch decoded again the blocks its windows touched (per-dataset
block caches). Memory is bounded by about one row of cells (a cell waits for the zones
across its lower edge: ~20 MB per cell of float32 with its mask, so ~100 MB for a
10000-pixel-wide raster) plus ``batch_size`` zones, never by the raster's height (and
``median`` and percentiles keep a zone's valid values: 8 bytes per pixel of the
largest zone). exactextract holds the GIL while it computes, rasterio releases it
while GDAL decodes: with an active ``distributed`` client
(:func:`rasterflow.cluster.active_client`) the cell reads and the zone tasks run as
Dask tasks in the order that frees each cell soonest, so on threads one core decodes
while the other computes; without a client they run one after another in this
process. Tasks are plain data (a path, WKB bytes, a frozen spec, arrays), so they
pickle to any Dask worker. Results are put back in input order and do not depend on
cells, batching or the cluster (every zone sees the raster's own grid and values):
GeoParquet and CSV are byte-identical (GeoPackage, an SQLite file, is not).
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from pyproj import CRS
from rasterio.windows import Window

from rasterflow.cluster import active_client
from rasterflow.errors import ConfigError
from rasterflow.zonal.cells import (
    CellGrid,
    HeldBand,
    RasterInfo,
    Task,
    assemble,
    plan_tasks,
    raster_info,
    read_cell,
)
from rasterflow.zonal.centre import centre_batch
from rasterflow.zonal.coverage import coverage_batch
from rasterflow.zonal.spec import (
    DEFAULT_STATS,
    FRACTIONS,
    Rule,
    ZonalSpec,
    batch_columns,
    check_classes,
    fraction_column,
)
from rasterflow.zonal.zones import check_ids, check_overlap, prepare_geometries

logger = logging.getLogger(__name__)


def zonal_batch(
    geometries: Sequence[bytes | None], *, raster: RasterInfo, spec: ZonalSpec
) -> pd.DataFrame:
    """Statistics of one batch of zones, one row per geometry in the order given.

    ``geometries`` are WKB polygons in the raster's CRS (None: no geometry). Class
    fractions, when asked for, come back as dicts in an internal column and are
    expanded by :func:`zonal_statistics` once all classes are known.
    """
    with rasterio.open(raster.path) as src:
        return _batch_table(geometries, src=src, raster=raster, spec=spec)


def _batch_table(
    geometries: Sequence[bytes | None], *, src: Any, raster: RasterInfo, spec: ZonalSpec
) -> pd.DataFrame:
    """:func:`zonal_batch` on an open dataset (or a :class:`HeldBand` over one)."""
    compute = coverage_batch if spec.rule == "coverage" else centre_batch
    table = compute(geometries, src=src, raster=raster, spec=spec)
    if spec.categorical:
        check_classes(len(set().union(*table[FRACTIONS])))  # fail at the first batch
    return table.reset_index(drop=True)


def task_table(
    geometries: Sequence[bytes | None],
    cells: Sequence[tuple[Window, np.ma.MaskedArray]],
    *,
    window: Window | None,
    raster: RasterInfo,
    spec: ZonalSpec,
) -> pd.DataFrame:
    """Statistics of one task's zones (as :func:`zonal_batch`), from the cells' pixels."""
    if window is None:
        return zonal_batch(geometries, raster=raster, spec=spec)
    pixels = assemble(window, cells)
    with rasterio.open(raster.path) as src:
        held = HeldBand(src, band=spec.band, window=window, pixels=pixels)
        return _batch_table(geometries, src=held, raster=raster, spec=spec)


def _run_tasks(
    geometries: Sequence[bytes | None],
    tasks: Sequence[Task],
    *,
    grid: CellGrid,
    raster: RasterInfo,
    spec: ZonalSpec,
) -> list[pd.DataFrame]:
    """Run every task, on the Dask cluster when one is active; results in task order."""
    zones = [[geometries[p] for p in task.positions] for task in tasks]
    client = active_client()
    if client is None:
        return _run_in_process(zones, tasks, grid=grid, raster=raster, spec=spec)
    # scatter: the geometries go straight to the workers instead of through the
    # scheduler inside a task graph (100,000 polygons can be hundreds of MB)
    # hash=False: content-hashed keys would be shared with a previous call's batches,
    # which the scheduler may still be releasing ("lost dependencies")
    data = client.scatter(zones, hash=False)
    cells: dict[tuple[int, int], Any] = {}
    futures = []
    # submission order is priority order: each cell's read, then the tasks it completes,
    # so reading (GDAL, without the GIL) overlaps exactextract (with it) on two threads
    for task, part in zip(tasks, data, strict=True):
        for cell in task.cells:
            if cell not in cells:
                # pure=False: a key must not stand for "this path" if the file changes
                cells[cell] = client.submit(read_cell, raster, grid.window(cell), pure=False)
        inputs = [(grid.window(c), cells[c]) for c in task.cells]
        futures.append(
            client.submit(
                task_table, part, inputs, window=task.window, raster=raster, spec=spec, pure=False
            )
        )
    del cells  # a cell's pixels are released once the tasks that need them are done
    return client.gather(futures)


def _run_in_process(
    zones: Sequence[Sequence[bytes | None]],
    tasks: Sequence[Task],
    *,
    grid: CellGrid,
    raster: RasterInfo,
    spec: ZonalSpec,
) -> list[pd.DataFrame]:
    """Run the tasks one after another, keeping each cell only until its last task."""
    uses = Counter(cell for task in tasks for cell in task.cells)
    cells: dict[tuple[int, int], np.ma.MaskedArray] = {}
    parts = []
    for task, part in zip(tasks, zones, strict=True):
        inputs = []
        for cell in task.cells:
            if cell not in cells:
                cells[cell] = read_cell(raster, grid.window(cell))
            inputs.append((grid.window(cell), cells[cell]))
        parts.append(task_table(part, inputs, window=task.window, raster=raster, spec=spec))
        for cell in task.cells:
            uses[cell] -= 1
            if not uses[cell]:
                del cells[cell]
    return parts


def zonal_statistics(
    zones: gpd.GeoDataFrame,
    raster: str | os.PathLike[str],
    *,
    id_column: str,
    stats: Sequence[str] = DEFAULT_STATS,
    percentiles: Sequence[float] = (),
    rule: Rule = "coverage",
    categorical: bool = False,
    band: int = 1,
    batch_size: int = 1000,
    max_cells: int = 2**24,
    source: str | None = None,
) -> pd.DataFrame:
    """Statistics of ``raster`` per zone: one row per zone, in the order of ``zones``.

    ``zones`` is a GeoDataFrame in any CRS (reprojected to the raster's as needed);
    ``id_column`` must name a unique, non-null column. Columns of the result: the id,
    then ``stats`` in the order given, ``p<q>`` per percentile, ``majority`` and one
    ``frac_<class>`` per class (sorted) when ``categorical``. ``source`` names the zones
    in messages (default: "the zones"). The rules: :mod:`rasterflow.zonal.centre` and
    :mod:`rasterflow.zonal.coverage`.
    """
    if batch_size < 1:
        raise ConfigError(f"zonal batch_size: must be >= 1, got {batch_size}")
    spec = ZonalSpec(
        stats=tuple(stats),
        percentiles=tuple(float(q) for q in percentiles),
        rule=rule,
        categorical=categorical,
        band=band,
        max_cells=max_cells,
    )
    where = source or "the zones"
    info = raster_info(raster, band=band)
    check_ids(zones, id_column, source=where)
    geometries = prepare_geometries(
        zones, crs=CRS.from_wkt(info.crs_wkt), id_column=id_column, source=where
    )
    check_overlap(geometries, info.path, source=where)
    grid, tasks = plan_tasks(geometries, raster=info, batch_size=batch_size)
    logger.info(
        "zonal: %d zones of %s over %s (band %d), rule %s, %d task(s) of <= %d zones "
        "over cells of %d x %d pixels",
        len(geometries),
        where,
        info.path,
        band,
        rule,
        len(tasks),
        batch_size,
        grid.cell_rows,
        grid.cell_cols,
    )
    parts = _run_tasks(geometries, tasks, grid=grid, raster=info, spec=spec)
    order = np.array([p for task in tasks for p in task.positions], dtype=np.int64)
    if parts:
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.DataFrame([], columns=batch_columns(spec))
    # back to input order: row k of the concatenation is zone order[k]
    table.index = order
    table = table.sort_index()
    if spec.rule == "centre" and "count" in table:
        table["count"] = table["count"].astype(np.int64)
    if spec.categorical:
        table = _expand_fractions(table, integer=info.integer)
    table.insert(0, id_column, zones[id_column].to_numpy())
    return table.reset_index(drop=True)


def _expand_fractions(table: pd.DataFrame, *, integer: bool) -> pd.DataFrame:
    """Replace the per-zone {class: fraction} dicts by one ``frac_<class>`` column each.

    A class absent from a zone with data gets 0; a zone without data gets NaN throughout.
    """
    dicts = table.pop(FRACTIONS).tolist()
    classes = sorted(set().union(*dicts)) if dicts else []
    check_classes(len(classes))
    has_data = np.array([bool(d) for d in dicts], dtype=bool)
    columns = {}
    for value in classes:
        column = np.array([d.get(value, 0.0) for d in dicts], dtype=np.float64)
        column[~has_data] = math.nan
        label = int(value) if integer and float(value).is_integer() else value
        columns[fraction_column(label)] = column
    return pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)
