# Configuration, the scene table, the target grid, and input functions for every stage.
import os

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from rasterflow import composite as rf_composite
from rasterflow import demo
from rasterflow import grid as rf_grid
from rasterflow import indices as rf_indices
from rasterflow import io as rf_io
from rasterflow import ownership as rf_ownership
from rasterflow import periods as rf_periods
from rasterflow import planning as rf_planning
from rasterflow import scenes as rf_scenes
from rasterflow import settings as rf_settings
from rasterflow.errors import ConfigError, RasterflowError

# rasterflow's validate: one line per problem (Snakemake's dumps schema and value)
try:
    rf_settings.check_config(config, workflow.source_path("../config/schema.yaml"))
except RasterflowError as exc:
    raise WorkflowError(str(exc)) from None

RESULTS = config["results"].rstrip("/")
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


def heavy_mem_mb(wildcards, attempt):
    return HEAVY_MEM_MB * attempt


BATCHED = config["scenes"]["batch"] > 1
DEMO_ROOT = f"{RESULTS}/demo"
SCENE_HEADERS = {}  # path -> rasterflow.planning.RasterHeader, filled by _load_scenes
# the scene folders _load_scenes walked: their mtimes are part of the plan's stamps
_LISTING, _WALKED = rf_scenes.recording_listing()
PLAN_CACHE = ".snakemake/rasterflow/plan.json"


def _load_scenes():
    scfg = config["scenes"]
    if config["demo"]:
        listing, exists = rf_scenes.planned_listing(
            f"{DEMO_ROOT}/{f}" for f in demo.planned_files()
        )
        return rf_scenes.load_scenes(
            f"{DEMO_ROOT}/scenes.csv",
            text=demo.sheet_text(),
            bands=scfg["bands"],
            mask=scfg["mask"],
            listing=listing,
            exists=exists,
        )
    if not scfg["sheet"]:
        # a stage on its own: terrain of a DEM, zonal statistics of given rasters
        if config["terrain"]["dem"] or config["zonal"]["zones"]:
            return {}
        raise ConfigError(
            "nothing to do: set scenes.sheet to your scene sheet CSV (indices, "
            "composites), terrain.dem to a DEM (terrain), or zonal.zones and "
            "zonal.rasters (zonal statistics); or set demo: true"
        )
    scenes = rf_scenes.load_scenes(
        scfg["sheet"], bands=scfg["bands"], mask=scfg["mask"], listing=_LISTING
    )
    # every file's header, cached by path, size and mtime: 10,000 scenes' headers took
    # longer to open than Snakemake takes to plan their jobs
    SCENE_HEADERS.update(
        rf_planning.cached_headers(
            sorted({f for sc in scenes.values() for f in sc.files()}),
            cache=".snakemake/rasterflow/headers.json",
        )
    )
    # now, not an hour into the run
    rf_scenes.check_headers(scenes, known=SCENE_HEADERS)
    return scenes


def _footprints(scenes):
    """Scene bounds for tiling: from the demo's plan, else from raster headers."""
    if config["demo"]:
        return demo.footprints()
    return rf_planning.footprints_of(
        {sid: sc.files()[0] for sid, sc in scenes.items()}, SCENE_HEADERS
    )


def _plan_composites(scenes, indices):
    """(tile, period) -> scene ids, the tiles' grids, the grid, the composited indices,
    the scenes outside the area of interest, warnings about the grid."""
    if not config["grid"]["crs"] or not scenes:
        return {}, {}, None, [], [], []
    footprints = _footprints(scenes)
    phases = rf_grid.scene_phases(
        footprints, config["grid"]["crs"], config["grid"]["resolution"]
    )
    spec = rf_grid.grid_from_config(
        config["grid"], phases=phases, footprints=footprints
    )
    warning = rf_grid.alignment_warning(
        spec, phases, configured=config["grid"]["origin"] is not None
    )
    tiles = (
        {}
        if spec.aoi.is_empty
        else rf_grid.tiles(spec.geobox, spec.tile_px, aoi=spec.aoi)
    )
    touched = rf_grid.tiles_touched(tiles, footprints)
    outside = sorted(set(scenes) - {s for ids in touched.values() for s in ids})
    by_period = rf_periods.group_by_period(
        {sid: sc.date for sid, sc in scenes.items()},
        rf_periods.PeriodSpec.from_config(config["periods"]),
    )
    names = config["composite"]["indices"] or list(indices)
    unknown = [n for n in names if n not in indices]
    if unknown:
        raise ConfigError(
            f"composite.indices: {', '.join(unknown)} not in indices ({', '.join(indices)})"
        )
    return (
        rf_composite.plan_jobs(touched, by_period),
        tiles,
        None if spec.aoi.is_empty else spec.geobox,
        names,
        outside,
        [warning] if warning else [],
    )


def _plan_key():
    """Key of the cached plan (rasterflow.planning, "Plan"); None for the demo, whose
    scenes a rule writes after planning."""
    if config["demo"]:
        return None
    code = [
        *rf_planning.planning_code(),
        os.path.join(workflow.basedir, "rules", "common.smk"),
    ]
    return rf_planning.plan_key(
        sheet=config["scenes"]["sheet"], config=config, code=code
    )


def per_scene_indices(composited):
    """Indices written per scene: all with scene_indices, else those no composite
    computes in memory from the scenes' bands (rasterflow.composite.run_scenes)."""
    return [i for i in INDICES if config["scene_indices"] or i not in composited]


def roles_of(names):
    return sorted(set().union(*(INDICES[i].roles for i in names)))


def _new_plan(scenes, batches):
    composites, tiles, grid, names, outside, warnings = _plan_composites(
        scenes, INDICES
    )
    files = sorted({f for sc in scenes.values() for f in sc.files()})
    roles = roles_of(per_scene_indices(names))
    params = {
        batch: [scenes[s].subset(roles).to_params() for s in members]
        for batch, members in (batches.items() if BATCHED else ())
    }
    return rf_planning.Plan(
        scenes=scenes,
        batches=batches,
        composites=composites,
        tiles=tiles,
        grid=grid,
        composite_indices=names,
        outside=outside,
        stamps=rf_planning.stamps_of([*files, *_WALKED]) or {},
        batch_params=params,
        warnings=warnings,
    )


def _input_file(section, key, demo_file):
    """A vector/raster path from config; the demo's own file when empty in demo mode."""
    path = config[section][key]
    if not path and config["demo"]:
        return f"{DEMO_ROOT}/{demo_file}"
    if path and not os.path.exists(path):
        raise ConfigError(
            f"{section}.{key}: {path} not found; fix the path or set it to ''"
        )
    if path and section == "terrain":
        rf_io.check_raster(path, what="terrain.dem", where="terrain.dem")
    if path and section == "zonal":
        # imported here: geopandas and exactextract cost 0.6 s of every DAG build
        from rasterflow.zonal import check_zones

        check_zones(
            path, layer=config["zonal"]["layer"], id_column=config["zonal"]["id_column"]
        )
    return path


def _plan_zonal(dem_products):
    """(product, period) -> raster for every table the zonal stage writes."""
    if not ZONES:
        return {}
    zcfg = config["zonal"]
    targets = {}
    if "mosaics" in zcfg["products"]:
        for index in COMPOSITE_INDICES:
            for period in PERIODS:
                targets[(index, period)] = f"{RESULTS}/mosaics/{period}/{index}.tif"
    if "terrain" in zcfg["products"]:
        for product in dem_products:
            targets[(product, "static")] = f"{RESULTS}/terrain/{product}.tif"
    for name, path in zcfg["rasters"].items():
        if (name, "static") in targets or name in INDICES:
            raise ConfigError(
                f"zonal.rasters: name {name!r} is taken by a product; rename it"
            )
        rf_io.check_raster(path, what=f"zonal.rasters.{name}", where="zonal.rasters")
        targets[(name, "static")] = path
    if not targets:
        raise ConfigError(
            f"zonal.zones: nothing to summarise over {ZONES}: zonal.products "
            f"({', '.join(zcfg['products']) or 'none'}) makes no raster here; add "
            "zonal.rasters (name: path), a scene sheet for mosaics, or terrain.dem"
        )
    return targets


def _user_inputs():
    """Config key -> the user's files it names (the demo's own are rasterflow's)."""
    ours = f"{DEMO_ROOT}/" if config["demo"] else None

    def theirs(paths):
        return [p for p in paths if p and not (ours and str(p).startswith(ours))]

    return {
        "scenes.sheet": theirs([config["scenes"]["sheet"]]),
        "the scene sheet's files": theirs(
            os.path.commonpath(sc.files()) for sc in SCENES.values()
        ),
        "terrain.dem": theirs([DEM]),
        "zonal.zones": theirs([ZONES]),
        "zonal.rasters": theirs(config["zonal"]["rasters"].values()),
        "--configfile": list(workflow.configfiles),
    }


try:
    rf_io.check_writable(RESULTS, key="results")
    PLAN_KEY = _plan_key()
    # the plan of the last run when nothing it depends on changed: 100,000 scenes'
    # sheet, header checks and tiles took longer than Snakemake's own planning
    PLAN = rf_planning.load_plan(PLAN_CACHE, key=PLAN_KEY) if PLAN_KEY else None
    PLAN_LOADED = PLAN is not None
    SCENES = PLAN.scenes if PLAN else _load_scenes()
    BATCHES = (
        PLAN.batches
        if PLAN
        else rf_planning.batches(
            {sid: sc.date for sid, sc in SCENES.items()}, size=config["scenes"]["batch"]
        )
    )
    BATCH_OF = rf_planning.batch_of(BATCHES)
    INDICES = (
        rf_indices.resolve(
            config["indices"],
            config["custom_indices"],
            roles=set(config["scenes"]["bands"]),
        )
        if SCENES
        else {}  # no scenes, no indices: the defaults need no bands then
    )
    PLAN = PLAN or _new_plan(SCENES, BATCHES)
    COMPOSITES, TILES, GRID = PLAN.composites, PLAN.tiles, PLAN.grid
    COMPOSITE_INDICES = PLAN.composite_indices
    PERIODS = sorted({period for _tile, period in COMPOSITES})
    DEM = _input_file("terrain", "dem", "dem.tif")
    TERRAIN_PRODUCTS = config["terrain"]["products"] if DEM else []
    ZONES = _input_file("zonal", "zones", "zones.gpkg")
    ZONAL_RASTERS = _plan_zonal(TERRAIN_PRODUCTS)
    rf_ownership.check_results(
        RESULTS,
        inputs=_user_inputs(),
        replaced=[f"{RESULTS}/report/dask", f"{RESULTS}/stac"],
    )
except RasterflowError as exc:
    raise WorkflowError(str(exc)) from None
for _warning in PLAN.warnings:
    logger.warning(_warning)
if PLAN.outside:  # not an error: their per-scene index products are still made
    logger.warning(
        f"grid.aoi: scene(s) {', '.join(PLAN.outside)} lie outside the area of interest "
        "and go into no composite; remove them from the scene sheet or widen grid.aoi"
    )
ZONAL_TARGETS = list(ZONAL_RASTERS)
TERRAIN_OPTIONS = {
    k: v for k, v in config["terrain"].items() if k not in ("dem", "products", "chunk")
}


# scene ids by their syntax, not as 10,000 alternatives: Snakemake copies a constraint
# into every pattern it formats, which made planning quadratic in the scene count
wildcard_constraints:
    scene=rf_scenes.SCENE_ID.pattern.strip("^$"),
    batch=r"b\d+",
    index="|".join(map(re.escape, INDICES)),
    # grid.TILE_ID_PATTERN spelled without {3,}: braces break Snakemake wildcard regexes
    tile=r"x\d+_y\d+",
    period="[A-Za-z0-9][A-Za-z0-9._-]*",
    product="[A-Za-z0-9][A-Za-z0-9_-]*",


# --- indices ---------------------------------------------------------------------
# One job per scene computes all its indices (each band decoded once); with
# scenes.batch > 1 one job per batch of scenes does, for every scene of the batch.
# Only the indices written per scene (scene_indices): composites compute theirs.

SCENE_INDICES = per_scene_indices(COMPOSITE_INDICES)
INDEX_ROLES = roles_of(SCENE_INDICES)


def get_scene_files(wildcards):
    """Input files of one scene's index job: the bands its indices use, and the mask."""
    return SCENES[wildcards.scene].files(INDEX_ROLES)


def get_scene_params(wildcards):
    return SCENES[wildcards.scene].subset(INDEX_ROLES).to_params()


# index name -> expression: the index jobs' params (a changed one reruns them)
EXPRESSIONS = {name: INDICES[name].text for name in SCENE_INDICES}


def index_path(scene, index):
    return f"{RESULTS}/indices/{scene}/{index}.tif"


def scene_index_outputs():
    return [index_path("{scene}", i) for i in SCENE_INDICES]


def manifest_path(batch):
    return f"{RESULTS}/indices/_batches/{batch}.json"


# With scenes.batch > 1, rule index_batch writes the index rasters of a whole batch;
# its declared output is the batch's manifest (Snakemake outputs cannot be a list that
# depends on wildcards), and composites depend on the manifests of their scenes.


def batch_files(batch):
    return sorted({f for s in BATCHES[batch] for f in SCENES[s].files(INDEX_ROLES)})


def get_batch_files(wildcards):
    return batch_files(wildcards.batch)


def fingerprint_path(batch):
    # beside the plan cache, not under results: planning writes it, also in a dry run,
    # and writes nothing into results (rasterflow.ownership: a run claims results)
    return f".snakemake/rasterflow/batches/{batch}.inputs.json"


def get_batch_fingerprint(wildcards):
    """A batch job's one input (rasterflow.planning, "Batch inputs"), not its N files."""
    return fingerprint_path(wildcards.batch)


def get_batch_params(wildcards):
    return PLAN.batch_params[wildcards.batch]


def get_batch_outputs(wildcards):
    return {
        s: [index_path(s, i) for i in SCENE_INDICES] for s in BATCHES[wildcards.batch]
    }


def write_batch_fingerprints():
    """Each batch's fingerprint, rewritten if its files changed; demo: once they exist.

    With a loaded plan the scene files are as when it wrote them: only a fingerprint
    that was since removed or touched is written again."""
    stamps = PLAN.stamps or {p: h.stamp for p, h in SCENE_HEADERS.items()}
    paths = [fingerprint_path(b) for b in BATCHES]
    now = rf_planning.stamps_of(paths) if PLAN.fingerprints else None
    if now is not None and now == PLAN.fingerprints:
        return False
    for batch in BATCHES:
        rf_planning.write_fingerprint(
            fingerprint_path(batch), batch_files(batch), stamps=stamps
        )
    PLAN.fingerprints = rf_planning.stamps_of(paths) or {}
    return True


_FINGERPRINTS_WRITTEN = BATCHED and write_batch_fingerprints()
# no stamps: a scene file vanished while planning, and such a plan could never expire
if PLAN_KEY and PLAN.stamps and (_FINGERPRINTS_WRITTEN or not PLAN_LOADED):
    rf_planning.save_plan(PLAN_CACHE, PLAN, key=PLAN_KEY)


def index_outputs():
    if not SCENE_INDICES:
        return []
    if BATCHED:
        return [manifest_path(b) for b in BATCHES]
    return [index_path(s, i) for s in SCENES for i in SCENE_INDICES]


# --- composites and mosaics ------------------------------------------------------


# One job per tile and period composites every index of composite.indices: from the
# scenes' bands (DIRECT), or with scene_indices from the scenes' index rasters.

DIRECT = not config["scene_indices"]
COMPOSITE_ROLES = roles_of(COMPOSITE_INDICES)


def get_composite_sources(wildcards):
    """Index -> the index rasters a composite reads (None: it reads the bands)."""
    if DIRECT:
        return None
    scenes = COMPOSITES[(wildcards.tile, wildcards.period)]
    return {i: [index_path(s, i) for s in scenes] for i in COMPOSITE_INDICES}


def get_composite_scenes(wildcards):
    """The scenes whose bands a composite reads (None: it reads index rasters)."""
    if not DIRECT:
        return None
    scenes = COMPOSITES[(wildcards.tile, wildcards.period)]
    return [SCENES[s].subset(COMPOSITE_ROLES).to_params() for s in scenes]


# index name -> expression of the composited ones, computed in memory (DIRECT)
COMPOSITE_EXPRESSIONS = (
    {i: INDICES[i].text for i in COMPOSITE_INDICES} if DIRECT else None
)


def get_composite_inputs(wildcards):
    scenes = COMPOSITES[(wildcards.tile, wildcards.period)]
    if DIRECT:
        return sorted({f for s in scenes for f in SCENES[s].files(COMPOSITE_ROLES)})
    if not BATCHED:
        return [index_path(s, i) for i in COMPOSITE_INDICES for s in scenes]
    return [manifest_path(b) for b in sorted({BATCH_OF[s] for s in scenes})]


def composite_path(period, index, tile, suffix=""):
    return f"{RESULTS}/composites/{period}/{index}/{tile}{suffix}.tif"


def composite_outputs(suffix):
    return [composite_path("{period}", i, "{tile}", suffix) for i in COMPOSITE_INDICES]


def get_tile_params(wildcards):
    return rf_grid.geobox_to_params(TILES[wildcards.tile])


def _tile_products(period, suffix):
    return {
        i: [composite_path(period, i, t, suffix) for t, p in COMPOSITES if p == period]
        for i in COMPOSITE_INDICES
    }


def get_mosaic_inputs(wildcards):
    return [f for fs in _tile_products(wildcards.period, "").values() for f in fs]


def get_mosaic_count_inputs(wildcards):
    return [f for fs in _tile_products(wildcards.period, "_count").values() for f in fs]


def get_mosaic_tiles(wildcards):
    """Index -> (its tiles' statistic COGs, their count COGs)."""
    stat = _tile_products(wildcards.period, "")
    counts = _tile_products(wildcards.period, "_count")
    return {i: [stat[i], counts[i]] for i in COMPOSITE_INDICES}


def mosaic_path(period, index, suffix=""):
    return f"{RESULTS}/mosaics/{period}/{index}{suffix}"


def mosaic_outputs_of(suffix):
    return [mosaic_path("{period}", i, suffix) for i in COMPOSITE_INDICES]


def get_grid_params(wildcards):
    return rf_grid.geobox_to_params(GRID)


def mosaic_outputs():
    return expand(
        f"{RESULTS}/mosaics/{{period}}/{{index}}.tif",
        period=PERIODS,
        index=COMPOSITE_INDICES,
    )


# --- terrain and zonal statistics --------------------------------------------------


def get_dem(wildcards):
    return DEM


def get_zones(wildcards):
    return ZONES


def get_zonal_raster(wildcards):
    return ZONAL_RASTERS[(wildcards.product, wildcards.period)]


def is_categorical(wildcards):
    return wildcards.product in config["zonal"]["categorical"]


def get_product_outputs():
    outputs = index_outputs() + mosaic_outputs()
    outputs += [f"{RESULTS}/terrain/{p}.tif" for p in TERRAIN_PRODUCTS]
    if ZONAL_TARGETS:
        outputs.append(f"{RESULTS}/zonal/zonal_long.parquet")
    return outputs


def get_final_outputs():
    return get_product_outputs() + REPORT_OUTPUTS  # rules/report.smk


# --- the cost of the run (rasterflow.estimate), printed by a dry run ----------------


def _estimate_jobs():
    from collections import Counter

    from rasterflow.estimate import Job

    roles = sorted(set(INDEX_ROLES) | set(COMPOSITE_ROLES if DIRECT else ()))
    headers = dict(SCENE_HEADERS)
    if not headers:  # a cached plan, or the demo: headers of the files that exist
        headers = rf_planning.cached_headers(
            sorted({f for sc in SCENES.values() for f in sc.files(roles)}),
            cache=".snakemake/rasterflow/headers.json",
        )

    def scene_units(sid, roles=INDEX_ROLES):
        files = SCENES[sid].files(roles)
        if not all(f in headers for f in files):
            return None, 0
        return (
            sum(headers[f].width * headers[f].height for f in files) / 1e6,
            sum((headers[f].stamp or (0, 0))[0] for f in files),
        )

    bench = f"{RESULTS}/benchmarks"
    jobs = []
    groups = BATCHES.items() if BATCHED else ((s, [s]) for s in SCENES)
    if not SCENE_INDICES:
        groups = ()
    for name, members in groups:
        parts = [scene_units(s) for s in members]
        units = None if any(u is None for u, _ in parts) else sum(u for u, _ in parts)
        where = f"index/_batches/{name}" if BATCHED else f"index/{name}"
        outs = tuple(index_path(s, i) for s in members for i in SCENE_INDICES)
        jobs.append(
            Job(
                "index",
                units,
                f"{bench}/{where}.tsv",
                outs,
                HEAVY_MEM_MB,
                sum(r for _, r in parts),
            )
        )
    # from the bands, a composite reads its share of each scene's files: the scene's
    # bytes over the composites it goes into
    shares = Counter(s for scenes in COMPOSITES.values() for s in scenes)
    for (tile, period), scenes in COMPOSITES.items():
        px = TILES[tile].shape.x * TILES[tile].shape.y / 1e6
        outs = tuple(composite_path(period, i, tile) for i in COMPOSITE_INDICES)
        reads = 0
        if DIRECT:
            reads = sum(scene_units(s, COMPOSITE_ROLES)[1] // shares[s] for s in scenes)
        jobs.append(
            Job(
                "composite",
                px * len(scenes) * len(COMPOSITE_INDICES),
                f"{bench}/composite/{period}/{tile}.tsv",
                outs,
                HEAVY_MEM_MB,
                reads,
            )
        )
    for period in PERIODS:
        px = GRID.shape.x * GRID.shape.y / 1e6
        outs = tuple(mosaic_path(period, i, ".tif") for i in COMPOSITE_INDICES)
        jobs.append(
            Job(
                "mosaic",
                px * len(COMPOSITE_INDICES),
                f"{bench}/mosaic/{period}.tsv",
                outs,
                HEAVY_MEM_MB,
            )
        )
    if TERRAIN_PRODUCTS:
        units = None
        if os.path.exists(DEM):
            with rf_io.open_raster(DEM, what="terrain.dem") as src:
                units = src.width * src.height / 1e6 * len(TERRAIN_PRODUCTS)
        outs = tuple(f"{RESULTS}/terrain/{p}.tif" for p in TERRAIN_PRODUCTS)
        jobs.append(Job("terrain", units, f"{bench}/terrain.tsv", outs, HEAVY_MEM_MB))
    for product, period in ZONAL_TARGETS:
        jobs.append(
            Job("zonal", 1.0, f"{bench}/zonal/{product}/{period}.tsv", (), HEAVY_MEM_MB)
        )
    return jobs


if workflow.output_settings.dryrun:
    from rasterflow import estimate as rf_estimate

    if GRID is not None:
        logger.info(
            rf_grid.describe(
                GRID,
                tiles=len({tile for tile, _period in COMPOSITES}),
                tile_px=config["grid"]["tile_px"],
                mosaics=len(mosaic_outputs()),
            )
        )
    _JOBS = _estimate_jobs()
    _RATES = rf_estimate.calibrate(_JOBS)
    logger.info(
        rf_estimate.format_estimate(rf_estimate.estimate(_JOBS, _RATES), _RATES)
    )
