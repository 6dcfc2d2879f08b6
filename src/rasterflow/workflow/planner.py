"""Planning a run: :func:`plan_workflow`, from the validated config to a :class:`WorkflowPlan`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from rasterflow import io as rf_io
from rasterflow import ownership as rf_ownership
from rasterflow import periods as rf_periods
from rasterflow import plan_cache as rf_plan_cache
from rasterflow import planning as rf_planning
from rasterflow import scenes as rf_scenes
from rasterflow.errors import ConfigError
from rasterflow.remote import local, use_http_options
from rasterflow.workflow.plan import CACHE_DIR, Paths, WorkflowPlan, roles_of
from rasterflow.workflow.products import (
    band_roles,
    count_points,
    input_file,
    plan_band_spec,
    plan_contours,
    plan_trend,
    plan_zonal,
)
from rasterflow.workflow.scene_plan import (
    cache_key,
    new_cached_plan,
    plan_scenes,
    stac_source,
    stage_scenes,
)


def plan_workflow(
    config: Mapping[str, Any],
    *,
    basedir: str,
    configfiles: Sequence[str] = (),
    cache_dir: str = CACHE_DIR,
) -> WorkflowPlan:
    """Plan a run of the validated ``config`` (``rasterflow.settings.check_config``).

    ``basedir``: the workflow's folder (its ``rules/common.smk`` is part of the plan's
    key); ``configfiles``: the ``--configfile`` files, which a run must never write
    over. Raises :class:`rasterflow.errors.RasterflowError` subclasses with a message
    for the user; otherwise writes only under ``cache_dir``.
    """
    # a million objects for 100,000 scenes (rf_plan_cache.collector_paused)
    with rf_plan_cache.collector_paused():
        return _plan_workflow(config, basedir=basedir, configfiles=configfiles, cache_dir=cache_dir)


def _plan_workflow(
    config: Mapping[str, Any], *, basedir: str, configfiles: Sequence[str], cache_dir: str
) -> WorkflowPlan:
    from rasterflow import indices as rf_indices
    from rasterflow import stac as rf_stac

    paths = Paths(config["results"].rstrip("/"))
    rf_io.check_writable(paths.results, key="results")
    use_http_options()  # headers of remote scene files are read while planning
    batched = config["scenes"]["batch"] > 1
    # the STAC catalog to read ("" for a sheet); a search runs here, on the first plan
    stac = stac_source(config, cache_dir)
    key = cache_key(config, basedir, stac)
    plan_file = f"{cache_dir}/plan.json"
    # the plan of the last run when nothing it depends on changed: 100,000 scenes'
    # sheet, header checks and tiles took longer than Snakemake's own planning
    cached = rf_plan_cache.load_plan(plan_file, key=key) if key else None
    loaded = cached is not None
    headers: dict[str, rf_planning.RasterHeader] = {}
    # the scene folders plan_scenes walks: their mtimes are part of the plan's stamps
    listing, walked = rf_scenes.recording_listing()
    scenes = (
        cached.scenes
        if cached
        else plan_scenes(config, paths, listing, walked, headers, cache_dir, stac)
    )
    batches = (
        cached.batches
        if cached
        else rf_planning.batches(
            {sid: sc.date for sid, sc in scenes.items()}, size=config["scenes"]["batch"]
        )
    )
    # no scenes, no indices: the defaults need no bands then
    indices = (
        rf_indices.resolve(
            config["indices"], config["custom_indices"], roles=set(config["scenes"]["bands"])
        )
        if scenes
        else {}
    )
    if cached is None:
        cached = new_cached_plan(
            config, scenes, batches, indices, headers, walked, batched, cache_dir
        )
    names = cached.composite_indices
    # indices written per scene: all with scene_indices, else those no composite
    # computes in memory from the scenes' bands (rasterflow.composite.run_scenes)
    scene_indices = [i for i in indices if config["scene_indices"] or i not in names]
    staged: dict[str, str] = {}
    batch_params = cached.batch_params
    if config["scenes"]["stage_in"]:
        # the jobs read local copies, which rule stage_in makes where Snakemake runs
        scenes, staged = stage_scenes(scenes, config["scenes"]["stage_in"])
        roles = roles_of(indices, scene_indices)
        batch_params = {
            b: [scenes[s].subset(roles).to_params() for s in members]
            for b, members in (batches.items() if batched else ())
        }
    periods = sorted({period for _tile, period in cached.composites})
    band_spec = plan_band_spec(config, indices, names) if cached.composites else None
    spec = rf_periods.PeriodSpec.from_config(config["periods"])
    spans = {p: (b.start, b.end) for p in periods for b in [rf_periods.period_by_id(p, spec)]}
    trend_indices, trend_times, trend_warnings = plan_trend(config, names, spans)
    dem = input_file(config, paths, "terrain", "dem", "dem.tif")
    terrain_products = list(config["terrain"]["products"]) if dem else []
    contour_rasters, contour_options, contour_warnings = plan_contours(
        config, paths, dem, terrain_products, names, periods
    )
    zones = input_file(config, paths, "zonal", "zones", "zones.gpkg")
    points = input_file(config, paths, "points", "file", "points.geojson")
    point_count = count_points(config, points)
    if points and not scenes:
        raise ConfigError(
            f"points.file: {points} is set, but there are no scenes to sample; set "
            "scenes.sheet (or scenes.stac), or points.file: ''"
        )
    plan = WorkflowPlan(
        paths=paths,
        cache_dir=cache_dir,
        batched=batched,
        direct=not config["scene_indices"],
        scenes=scenes,
        headers=headers,
        batches=batches,
        batch_of=rf_planning.batch_of(batches),
        batch_params=batch_params,
        indices=indices,
        scene_indices=scene_indices,
        index_roles=roles_of(indices, scene_indices),
        composites=cached.composites,
        tiles=cached.tiles,
        grid=cached.grid,
        composite_indices=names,
        composite_roles=sorted({*roles_of(indices, names), *band_roles(band_spec)}),
        band_spec=band_spec,
        periods=periods,
        period_spans=spans,
        trend_indices=trend_indices,
        trend_times=trend_times,
        dem=dem,
        terrain_products=terrain_products,
        contour_rasters=contour_rasters,
        contour_options=contour_options,
        contour_formats=list(config["contours"]["formats"]),
        zones=zones,
        zonal_rasters=plan_zonal(config, paths, zones, indices, names, periods, terrain_products),
        points=points,
        point_batches=rf_planning.batches(
            {sid: sc.date for sid, sc in scenes.items()},
            size=config["points"]["batch"],
        )
        if points
        else {},
        # GeoParquet always: the report's figure and the STAC item read it
        point_formats=["parquet", *(f for f in config["points"]["formats"] if f != "parquet")],
        point_count=point_count,
        stac_products=rf_stac.plan_products(
            results=paths.results,
            scene_dates={s: sc.date for s, sc in scenes.items()},
            indices=scene_indices,
            periods=spans,
            composite_indices=names,
            statistic=config["composite"]["statistic"],
            terrain=terrain_products,
            dem=dem,
            trend=trend_indices,
            contours={
                p: {f: paths.contours(p, f) for f in config["contours"]["formats"]}
                for p in contour_rasters
            },
            contour_sources=contour_rasters,
            band_statistic=band_spec["statistic"] if band_spec else None,
        ),
        warnings=[
            *cached.warnings,
            *_outside_warning(cached.outside),
            *trend_warnings,
            *contour_warnings,
        ],
        notes=_notes(config, stac),
        staged=staged,
        loaded=loaded,
    )
    rf_ownership.check_results(
        paths.results,
        inputs=_user_inputs(config, plan, configfiles),
        replaced=[paths.report("dask"), f"{paths.results}/stac"],
    )
    written = batched and _write_fingerprints(plan, cached)
    # no stamps: a scene file vanished while planning, and such a plan could never expire
    if key and cached.stamps and (written or not loaded):
        rf_plan_cache.save_plan(plan_file, cached, key=key)
    return plan


def _notes(config: Mapping[str, Any], stac: str) -> list[str]:
    if not config["scenes"]["stac"]["api"] or config["demo"]:
        return []
    return [
        f"scenes.stac.api: the items of the search of {config['scenes']['stac']['api']} "
        f"are frozen in {stac}; delete it to search again"
    ]


def _outside_warning(outside: Sequence[str]) -> list[str]:
    if not outside:  # not an error: their per-scene index products are still made
        return []
    return [
        f"grid.aoi: scene(s) {', '.join(outside)} lie outside the area of interest "
        "and go into no composite; remove them from the scene sheet or widen grid.aoi"
    ]


def _user_inputs(
    config: Mapping[str, Any], plan: WorkflowPlan, configfiles: Sequence[str]
) -> dict[str, list[str]]:
    """Config key -> the user's files it names (the demo's own are rasterflow's)."""
    ours = f"{plan.paths.demo_root}/" if config["demo"] else None

    def theirs(paths: Any) -> list[str]:
        return [p for p in paths if p and not (ours and str(p).startswith(ours))]

    return {
        "scenes.sheet": theirs([config["scenes"]["sheet"]]),
        "scenes.stac.source": theirs(local([config["scenes"]["stac"]["source"]])),
        "the scene sheet's files": theirs(
            os.path.commonpath(files) for sc in plan.scenes.values() if (files := local(sc.files()))
        ),
        "terrain.dem": theirs([plan.dem]),
        "zonal.zones": theirs([plan.zones]),
        "points.file": theirs([plan.points]),
        "zonal.rasters": theirs(config["zonal"]["rasters"].values()),
        "--configfile": list(configfiles),
    }


def _write_fingerprints(plan: WorkflowPlan, cached: rf_plan_cache.CachedPlan) -> bool:
    """Each batch's fingerprint, rewritten if its files changed; demo: once they exist.

    With a loaded plan the scene files are as when it wrote them: only a fingerprint
    that was since removed or touched is written again. Records in ``cached`` what it
    wrote; True when it wrote anything (the plan is then saved again)."""
    stamps = cached.stamps or {p: h.stamp for p, h in plan.headers.items() if h.stamp}
    paths = [plan.fingerprint_path(b) for b in plan.batches]
    now = rf_plan_cache.stamps_of(paths) if cached.fingerprints else None
    if now is not None and now == cached.fingerprints:
        return False
    for batch in plan.batches:
        rf_planning.write_fingerprint(
            plan.fingerprint_path(batch), plan.batch_files(batch), stamps=stamps
        )
    cached.fingerprints = rf_plan_cache.stamps_of(paths) or {}
    return True
