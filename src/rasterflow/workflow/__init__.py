"""What the rules need, planned once per Snakemake start: :func:`plan_workflow`.

``rules/common.smk`` validates the config, calls :func:`plan_workflow` and hands the
frozen :class:`WorkflowPlan` to the rules through its ``get_*`` input functions; every
decision about which jobs exist (scenes, batches, indices, composite jobs, tiles and
grid, periods, the DEM, zones and zonal rasters, STAC products) is made here, where a
unit test can call it without Snakemake. Output paths come from :class:`Paths`, so a
rule and the plan never spell one differently.

A plan is reused from the last start while the sheet, the config, the code and every
scene file are unchanged (:mod:`rasterflow.plan_cache`); planning writes nothing under
``results`` (a run claims that folder, :mod:`rasterflow.ownership`), only its caches
and the batches' fingerprints under ``cache_dir``.

The package, by concern: :mod:`.plan` (the value types :class:`WorkflowPlan` and
:class:`Paths`), :mod:`.planner` (:func:`plan_workflow`), :mod:`.scene_plan` (the
scenes, grid, tiles and composite jobs: the cached part of a plan), :mod:`.products`
(band composite, trend, terrain and contours, zonal statistics, points) and
:mod:`.resources` (what every job gets besides its inputs). The names below are the
public face.
"""

from rasterflow.workflow.plan import BANDS, CACHE_DIR, Paths, WorkflowPlan
from rasterflow.workflow.planner import plan_workflow
from rasterflow.workflow.resources import JOB_MALLOC_ENV, resource_growth

__all__ = [
    "BANDS",
    "CACHE_DIR",
    "JOB_MALLOC_ENV",
    "Paths",
    "WorkflowPlan",
    "plan_workflow",
    "resource_growth",
]
