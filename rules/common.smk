# Configuration, the plan (rasterflow.workflow), and input functions for every stage.
import gc
import os

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from rasterflow import demo
from rasterflow import grid as rf_grid
from rasterflow import ownership as rf_ownership
from rasterflow import planning as rf_planning
from rasterflow import scenes as rf_scenes
from rasterflow import settings as rf_settings
from rasterflow import workflow as rf_workflow
from rasterflow.errors import RasterflowError

# rasterflow's validate: one line per problem (Snakemake's dumps schema and value)
try:
    rf_settings.check_config(config, workflow.source_path("../config/schema.yaml"))
    PLAN = rf_workflow.plan_workflow(
        config, basedir=workflow.basedir, configfiles=workflow.configfiles
    )
except RasterflowError as exc:
    raise WorkflowError(str(exc)) from None
# the plan lives as long as Snakemake: out of its full collections' sight while it
# builds the DAG (100,000 scenes: a dry run ~10 -> ~8 s). A collection first would
# free a few hundred objects for 0.3-0.6 s: not worth it.
gc.freeze()
for _warning in PLAN.warnings:
    logger.warning(_warning)
for _note in PLAN.notes:
    logger.info(_note)

for _name, _value in rf_workflow.JOB_MALLOC_ENV.items():
    os.environ.setdefault(_name, _value)  # the jobs' processes inherit it (why: there)

PATHS = PLAN.paths
RESULTS = PATHS.results
logs, benchmarks = PATHS.logs, PATHS.benchmarks
# Threads of a heavy job. On one machine 1, so that jobs run side by side: a job's
# serial start (imports, cluster) is a large share of its time, and jobs side by side
# overlap it (the demo on 2 cores: 62 s so, 106 s with 2 threads a job). On a cluster
# 2, what an allocation should have (more for a given step: set-threads in your
# profile). Not a set-threads in profiles/default: Snakemake reads that profile as the
# workflow profile under --profile profiles/slurm too, and it wins there.
# (A cluster run is known here by its --jobs limit: the executor is not chosen yet.)
HEAVY_THREADS = 2 if workflow.resource_settings.nodes or workflow.remote_exec else 1
#: a heavy job's memory (MB) at its first attempt; each retry gets this much more, so
#: --retries recovers a job killed for memory
HEAVY_MEM_MB = 2000
heavy_mem_mb = rf_workflow.resource_growth(HEAVY_MEM_MB)
#: minutes of a heavy job's first attempt, more at each retry
runtime_30 = rf_workflow.resource_growth(30)
runtime_60 = rf_workflow.resource_growth(60)


# scene ids by their syntax, not as 10,000 alternatives: Snakemake copies a constraint
# into every pattern it formats, which made planning quadratic in the scene count
wildcard_constraints:
    scene=rf_scenes.SCENE_ID.pattern.strip("^$"),
    batch=r"b\d+",
    index="|".join(map(re.escape, PLAN.indices)),
    # grid.TILE_ID_PATTERN spelled without {3,}: braces break Snakemake wildcard regexes
    tile=r"x\d+_y\d+",
    period="[A-Za-z0-9][A-Za-z0-9._-]*",
    product="[A-Za-z0-9][A-Za-z0-9_-]*",


# --- indices ---------------------------------------------------------------------
# One job per scene computes all its indices (each band decoded once); with
# scenes.batch > 1 one job per batch of scenes does, for every scene of the batch.
# Only the indices written per scene (scene_indices): composites compute theirs.
# With batches, rule index_batch writes the index rasters of a whole batch; its
# declared output is the batch's manifest (Snakemake outputs cannot be a list that
# depends on wildcards), and composites depend on the manifests of their scenes.

# index name -> expression: the index jobs' params (a changed one reruns them)
EXPRESSIONS = {name: PLAN.indices[name].text for name in PLAN.scene_indices}


def get_scene_files(wildcards):
    """Input files of one scene's index job: the bands its indices use, and the mask."""
    return PLAN.scene_inputs(wildcards.scene, PLAN.index_roles)


def get_scene_params(wildcards):
    return PLAN.scenes[wildcards.scene].subset(PLAN.index_roles).to_params()


def scene_index_outputs():
    return [PATHS.index("{scene}", i) for i in PLAN.scene_indices]


def get_batch_files(wildcards):
    return PLAN.batch_files(wildcards.batch)


def get_batch_fingerprint(wildcards):
    """A batch job's one input (rasterflow.planning, "Batch inputs"), not its N files."""
    return PLAN.fingerprint_path(wildcards.batch)


def get_batch_params(wildcards):
    return PLAN.batch_params[wildcards.batch]


def get_batch_outputs(wildcards):
    return {
        s: [PATHS.index(s, i) for i in PLAN.scene_indices]
        for s in PLAN.batches[wildcards.batch]
    }


def batch_runtime(wildcards, attempt):
    # scenes run one after another: memory is one scene's, time grows with the batch
    return (30 + 5 * len(PLAN.batches[wildcards.batch])) * attempt


# --- composites and mosaics ------------------------------------------------------
# One job per tile and period composites every index of composite.indices: from the
# scenes' bands (PLAN.direct), or with scene_indices from the scenes' index rasters.

# index name -> expression of the composited ones, computed in memory
COMPOSITE_EXPRESSIONS = (
    {i: PLAN.indices[i].text for i in PLAN.composite_indices} if PLAN.direct else None
)


def get_composite_inputs(wildcards):
    return PLAN.composite_inputs(wildcards.tile, wildcards.period)


def get_composite_sources(wildcards):
    """Index -> the index rasters a composite reads (None: it reads the bands)."""
    if PLAN.direct:
        return None
    scenes = PLAN.composites[(wildcards.tile, wildcards.period)]
    return {i: [PATHS.index(s, i) for s in scenes] for i in PLAN.composite_indices}


def get_composite_scenes(wildcards):
    """The scenes whose bands a composite reads (None: it reads index rasters)."""
    if not PLAN.direct:
        return None
    scenes = PLAN.composites[(wildcards.tile, wildcards.period)]
    return [PLAN.scenes[s].subset(PLAN.composite_roles).to_params() for s in scenes]


def composite_outputs(suffix):
    return [
        PATHS.composite("{period}", i, "{tile}", suffix) for i in PLAN.composite_indices
    ]


def composite_band_outputs(suffix):
    """The band composite of a tile and period (composite.bands; none without)."""
    if not PLAN.band_spec:
        return []
    return [PATHS.composite("{period}", rf_workflow.BANDS, "{tile}", suffix)]


def get_tile_params(wildcards):
    return rf_grid.geobox_to_params(PLAN.tiles[wildcards.tile])


def get_mosaic_inputs(wildcards):
    return [f for fs in PLAN.tile_products(wildcards.period, "").values() for f in fs]


def get_mosaic_count_inputs(wildcards):
    tiles = PLAN.tile_products(wildcards.period, "_count")
    return [f for fs in tiles.values() for f in fs]


def get_mosaic_tiles(wildcards):
    """Product (index, or the band composite) -> (its tiles' COGs, their count COGs)."""
    stat = PLAN.tile_products(wildcards.period, "")
    counts = PLAN.tile_products(wildcards.period, "_count")
    return {i: [stat[i], counts[i]] for i in PLAN.mosaic_products}


def mosaic_outputs_of(suffix):
    return [PATHS.mosaic("{period}", i, suffix) for i in PLAN.mosaic_products]


def get_grid_params(wildcards):
    return rf_grid.geobox_to_params(PLAN.grid)


# --- trend over the periods ---------------------------------------------------------


def get_trend_mosaics(wildcards):
    """Index -> its mosaics, in the periods' chronological order (PLAN.trend_times)."""
    return {i: PLAN.trend_inputs(i) for i in PLAN.trend_indices}


def get_trend_inputs(wildcards):
    return [f for i in PLAN.trend_indices for f in PLAN.trend_inputs(i)]


# --- terrain and zonal statistics --------------------------------------------------


def get_dem(wildcards):
    return PLAN.dem


def get_contour_raster(wildcards):
    """The raster a contour job draws from: the DEM or a terrain product."""
    return PLAN.contour_rasters[wildcards.product]


def get_zones(wildcards):
    return PLAN.zones


def get_zonal_raster(wildcards):
    return PLAN.zonal_rasters[(wildcards.product, wildcards.period)]


def is_categorical(wildcards):
    return wildcards.product in config["zonal"]["categorical"]


# --- values at points ----------------------------------------------------------------
# One job per batch of points.batch scenes (date order) samples every index of its
# scenes; one job per period samples that period's mosaics; points_table joins them.

# index name -> expression: every index is sampled per scene, from the bands
POINT_EXPRESSIONS = {i: PLAN.indices[i].text for i in PLAN.point_indices}


def get_points(wildcards):
    return PLAN.points


def get_point_batch_files(wildcards):
    return PLAN.point_batch_files(wildcards.batch)


def get_point_batch_scenes(wildcards):
    return [
        PLAN.scenes[s].subset(PLAN.point_roles).to_params()
        for s in PLAN.point_batches[wildcards.batch]
    ]


def point_batch_runtime(wildcards, attempt):
    # scenes run side by side on the job's cores; a scene's windows take seconds
    return (30 + len(PLAN.point_batches[wildcards.batch]) // 10) * attempt


def get_period_mosaics(wildcards):
    """Index -> the period's mosaic COG the points are sampled from."""
    return {i: PATHS.mosaic(wildcards.period, i) for i in PLAN.composite_indices}


def get_period_mosaic_files(wildcards):
    return list(get_period_mosaics(wildcards).values())


def get_period_start(wildcards):
    return PLAN.period_spans[wildcards.period][0].isoformat()


def get_quicklook_inputs(wildcards):
    """What rule quicklooks draws (rules/report.smk); with scenes.batch > 1 a scene's
    index rasters are declared by its batch's manifest, so that stands in for them."""
    if not PLAN.batched:
        return QUICKLOOK_RASTERS
    drawn = {raster for raster, _scene, _index in SCENE_QUICKLOOKS}
    manifests = {PATHS.manifest(PLAN.batch_of[s]) for _r, s, _i in SCENE_QUICKLOOKS}
    return [r for r in QUICKLOOK_RASTERS if r not in drawn] + sorted(manifests)


def get_final_outputs():
    # rules/report.smk, rules/styles.smk
    return PLAN.product_outputs() + STYLE_OUTPUTS + [QGIS_PROJECT] + REPORT_OUTPUTS


# --- the cost of the run (rasterflow.estimate), printed by a dry run ----------------

if workflow.output_settings.dryrun:
    from rasterflow import estimate as rf_estimate

    if PLAN.grid is not None:
        logger.info(
            rf_grid.describe(
                PLAN.grid,
                tiles=len({tile for tile, _period in PLAN.composites}),
                tile_px=config["grid"]["tile_px"],
                mosaics=len(PLAN.mosaic_outputs()),
            )
        )
    _JOBS = rf_estimate.planned_jobs(PLAN, mem_mb=HEAVY_MEM_MB)
    _RATES = rf_estimate.calibrate(_JOBS)
    logger.info(
        rf_estimate.format_estimate(rf_estimate.estimate(_JOBS, _RATES), _RATES)
    )
