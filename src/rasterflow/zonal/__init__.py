"""Zonal statistics: per-polygon summaries of a raster product, for 100,000s of zones.

Two pixel rules, each matching an independent reference exactly: ``"centre"``
(rasterstats; :mod:`.centre`) and ``"coverage"`` (exactextract; :mod:`.coverage`).
The package, by concern: :mod:`.spec` (what to compute, column names), :mod:`.zones`
(reading and checking zones), :mod:`.cells` (the raster cut into cells read once),
:mod:`.driver` (running the tasks, on Dask when a client is active), :mod:`.tables`
(tables written, read and stacked; :func:`run`, the step). The names below are the
public face; the modules' other names may change (the cell size, for one, is
:data:`rasterflow.zonal.cells.CELL_PIXELS`).
"""

from rasterflow.zonal.cells import RasterInfo, plan_tasks, raster_info, read_cell
from rasterflow.zonal.centre import centre_window
from rasterflow.zonal.driver import task_table, zonal_batch, zonal_statistics
from rasterflow.zonal.spec import (
    DEFAULT_STATS,
    MAX_CLASSES,
    STATS,
    Rule,
    ZonalSpec,
    fraction_column,
    is_stat_column,
    percentile_column,
)
from rasterflow.zonal.tables import FORMATS, long_table, read_table, run, write_table, zone_table
from rasterflow.zonal.zones import (
    check_attribute_names,
    check_ids,
    check_overlap,
    check_zones,
    hilbert_order,
    prepare_geometries,
    read_zones,
    zone_ids,
)

__all__ = [
    "DEFAULT_STATS",
    "FORMATS",
    "MAX_CLASSES",
    "STATS",
    "RasterInfo",
    "Rule",
    "ZonalSpec",
    "centre_window",
    "check_attribute_names",
    "check_ids",
    "check_overlap",
    "check_zones",
    "fraction_column",
    "hilbert_order",
    "is_stat_column",
    "long_table",
    "percentile_column",
    "plan_tasks",
    "prepare_geometries",
    "raster_info",
    "read_cell",
    "read_table",
    "read_zones",
    "run",
    "task_table",
    "write_table",
    "zonal_batch",
    "zonal_statistics",
    "zone_ids",
    "zone_table",
]
