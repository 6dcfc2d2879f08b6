# Configuration, the scene table, the target grid, and input functions for every stage.
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from rasterflow import composite as rf_composite
from rasterflow import demo
from rasterflow import grid as rf_grid
from rasterflow import indices as rf_indices
from rasterflow import periods as rf_periods
from rasterflow import scenes as rf_scenes
from rasterflow.errors import ConfigError, RasterflowError

validate(config, "../config/schema.yaml")

RESULTS = config["results"].rstrip("/")
DEMO_ROOT = f"{RESULTS}/demo"


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
        raise ConfigError(
            "scenes.sheet is empty: set it to your scene sheet CSV, or set demo: true"
        )
    return rf_scenes.load_scenes(scfg["sheet"], bands=scfg["bands"], mask=scfg["mask"])


def _footprints(scenes):
    """Scene bounds for tiling: from the demo's plan, else from raster headers."""
    if config["demo"]:
        return demo.footprints()
    return {sid: rf_grid.footprint(sc.files()[0]) for sid, sc in scenes.items()}


def _plan_composites(scenes, indices):
    """(tile, period) -> scene ids, the tiles' grids, the grid, the composited indices."""
    if not config["grid"]["crs"]:
        return {}, {}, None, []
    spec = rf_grid.grid_from_config(config["grid"])
    tiles = rf_grid.tiles(spec.geobox, spec.tile_px, aoi=spec.aoi)
    touched = rf_grid.tiles_touched(tiles, _footprints(scenes))
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
    return rf_composite.plan_jobs(touched, by_period), tiles, spec.geobox, names


def _input_file(section, key, demo_file):
    """A vector/raster path from config; the demo's own file when empty in demo mode."""
    path = config[section][key]
    if not path and config["demo"]:
        return f"{DEMO_ROOT}/{demo_file}"
    if path and not os.path.exists(path):
        raise ConfigError(
            f"{section}.{key}: {path} not found; fix the path or set it to ''"
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
        targets[(name, "static")] = path
    return targets


try:
    SCENES = _load_scenes()
    INDICES = rf_indices.resolve(
        config["indices"],
        config["custom_indices"],
        roles=set(config["scenes"]["bands"]),
    )
    COMPOSITES, TILES, GRID, COMPOSITE_INDICES = _plan_composites(SCENES, INDICES)
    PERIODS = sorted({period for _tile, period in COMPOSITES})
    DEM = _input_file("terrain", "dem", "dem.tif")
    TERRAIN_PRODUCTS = config["terrain"]["products"] if DEM else []
    ZONES = _input_file("zonal", "zones", "zones.gpkg")
    ZONAL_RASTERS = _plan_zonal(TERRAIN_PRODUCTS)
except RasterflowError as exc:
    raise WorkflowError(str(exc)) from None
ZONAL_TARGETS = list(ZONAL_RASTERS)
TERRAIN_OPTIONS = {
    k: v for k, v in config["terrain"].items() if k not in ("dem", "products", "chunk")
}


wildcard_constraints:
    scene="|".join(map(re.escape, SCENES)),
    index="|".join(map(re.escape, INDICES)),
    # grid.TILE_ID_PATTERN spelled without {3,}: braces break Snakemake wildcard regexes
    tile=r"x\d+_y\d+",
    period="[A-Za-z0-9][A-Za-z0-9._-]*",
    product="[A-Za-z0-9][A-Za-z0-9_-]*",


# --- indices ---------------------------------------------------------------------


def get_scene_files(wildcards):
    """Input files of one index of one scene: only the bands its expression uses."""
    return SCENES[wildcards.scene].files(INDICES[wildcards.index].roles)


def get_scene_params(wildcards):
    return SCENES[wildcards.scene].subset(INDICES[wildcards.index].roles).to_params()


def get_expression(wildcards):
    return INDICES[wildcards.index].text


def index_outputs():
    return expand(
        f"{RESULTS}/indices/{{scene}}/{{index}}.tif", scene=SCENES, index=INDICES
    )


# --- composites and mosaics ------------------------------------------------------


def get_composite_inputs(wildcards):
    scenes = COMPOSITES[(wildcards.tile, wildcards.period)]
    return [f"{RESULTS}/indices/{s}/{wildcards.index}.tif" for s in scenes]


def get_tile_params(wildcards):
    return rf_grid.geobox_to_params(TILES[wildcards.tile])


def _tile_products(wildcards, suffix):
    folder = f"{RESULTS}/composites/{wildcards.period}/{wildcards.index}"
    return [f"{folder}/{t}{suffix}.tif" for t, p in COMPOSITES if p == wildcards.period]


def get_mosaic_inputs(wildcards):
    return _tile_products(wildcards, "")


def get_mosaic_count_inputs(wildcards):
    return _tile_products(wildcards, "_count")


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


def get_final_outputs():
    outputs = index_outputs() + mosaic_outputs()
    outputs += [f"{RESULTS}/terrain/{p}.tif" for p in TERRAIN_PRODUCTS]
    if ZONAL_TARGETS:
        outputs.append(f"{RESULTS}/zonal/zonal_long.parquet")
    return outputs
