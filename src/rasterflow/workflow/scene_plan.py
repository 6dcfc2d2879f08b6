"""Where the scenes come from (a sheet, a STAC catalog or search, the demo), and the
grid, tiles and composite jobs they make: the part of a plan that is cached
(:mod:`rasterflow.plan_cache`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from rasterflow import demo
from rasterflow import grid as rf_grid
from rasterflow import periods as rf_periods
from rasterflow import plan_cache as rf_plan_cache
from rasterflow import planning as rf_planning
from rasterflow import scenes as rf_scenes
from rasterflow.errors import ConfigError
from rasterflow.remote import is_remote, local
from rasterflow.workflow.plan import Paths, roles_of


def stage_scenes(scenes: Mapping[str, Any], root: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``scenes`` with each remote file replaced by its local copy under ``root``
    (:func:`rasterflow.remote.stage_path`), and copy -> URL."""
    from dataclasses import replace

    from rasterflow.remote import stage_path

    staged: dict[str, str] = {}

    def copy(sid: str, bf: Any) -> Any:
        if bf is None or not is_remote(bf.path):
            return bf
        path = stage_path(root, sid, bf.path)
        staged[path] = bf.path
        return replace(bf, path=path)

    out = {
        sid: replace(
            sc, bands={r: copy(sid, b) for r, b in sc.bands.items()}, mask=copy(sid, sc.mask)
        )
        for sid, sc in scenes.items()
    }
    return out, staged


def stac_source(config: Mapping[str, Any], cache_dir: str) -> str:
    """The STAC catalog to read scenes from: scenes.stac.source, or the frozen result of
    the search scenes.stac.api (made here on the first plan); "" for a sheet."""
    stac = config["scenes"]["stac"]
    if not stac["api"] or config["demo"]:
        return str(stac["source"])
    from rasterflow.stac_scenes import frozen_search

    return frozen_search(stac, bbox=_aoi_degrees(config), cache_dir=cache_dir)


def _aoi_degrees(config: Mapping[str, Any]) -> list[float] | None:
    """grid.aoi's bounds in WGS84 degrees (a search's default area), None without one."""
    aoi = config["grid"]["aoi"]
    if not config["grid"]["crs"] or (aoi["bounds"] is None and not aoi["vector"]):
        return None
    area = rf_grid.area_of_interest(
        crs=config["grid"]["crs"],
        bounds=aoi["bounds"],
        bounds_crs=aoi["crs"],
        vector=aoi["vector"] or None,
        layer=aoi["layer"],
        within=None,
    )
    return list(area.to_crs("EPSG:4326").boundingbox)


def cache_key(config: Mapping[str, Any], basedir: str, stac: str) -> str | None:
    """Key of the cached plan (:mod:`rasterflow.plan_cache`); None for the demo, whose
    scenes a rule writes after planning."""
    source = stac or config["scenes"]["sheet"]
    if config["demo"] or is_remote(source):  # a remote catalog: no stamps to expire it
        return None
    code: list[str | os.PathLike[str]] = [
        *rf_plan_cache.planning_code(),
        os.path.join(basedir, "rules", "common.smk"),
    ]
    return rf_plan_cache.plan_key(sheet=source, config=config, code=code)


def plan_scenes(
    config: Mapping[str, Any],
    paths: Paths,
    listing: rf_scenes.Listing,
    walked: list[str],
    headers: dict[str, rf_planning.RasterHeader],
    cache_dir: str,
    stac: str,
) -> dict[str, Any]:
    """The scenes of the sheet, the STAC catalog or the demo, their files' headers into
    ``headers`` and the catalog files read into ``walked``."""
    scfg = config["scenes"]
    if stac and not config["demo"]:
        from rasterflow.stac_scenes import load_stac_scenes

        found = load_stac_scenes(
            stac, bands=scfg["bands"], mask=scfg["mask"], raster_bands=scfg["stac"]["raster_bands"]
        )
        walked.extend(found.files)  # the catalog's files: a changed one rebuilds the plan
        headers.update(found.headers)  # as the items state them: no file opened
        others = sorted({f for sc in found.scenes.values() for f in sc.files()} - set(headers))
        headers.update(rf_planning.cached_headers(others, cache=f"{cache_dir}/headers.json"))
        rf_scenes.check_headers(found.scenes, known=headers)
        return found.scenes
    if config["demo"]:
        planned, exists = rf_scenes.planned_listing(
            f"{paths.demo_root}/{f}" for f in demo.planned_files()
        )
        return rf_scenes.load_scenes(
            f"{paths.demo_root}/scenes.csv",
            text=demo.sheet_text(),
            bands=scfg["bands"],
            mask=scfg["mask"],
            listing=planned,
            exists=exists,
        )
    if not scfg["sheet"]:
        # a stage on its own: terrain of a DEM, zonal statistics of given rasters
        if config["terrain"]["dem"] or config["zonal"]["zones"]:
            return {}
        raise ConfigError(
            "nothing to do: set scenes.sheet to your scene sheet CSV or scenes.stac.source "
            "to a STAC catalog (indices, composites), terrain.dem to a DEM (terrain), or "
            "zonal.zones and zonal.rasters (zonal statistics); or set demo: true"
        )
    scenes = rf_scenes.load_scenes(
        scfg["sheet"],
        bands=scfg["bands"],
        mask=scfg["mask"],
        listing=listing,
        product_metadata=scfg["product_metadata"],
    )
    # every file's header, cached by path, size and mtime: 10,000 scenes' headers took
    # longer to open than Snakemake takes to plan their jobs
    headers.update(
        rf_planning.cached_headers(
            sorted({f for sc in scenes.values() for f in sc.files()}),
            cache=f"{cache_dir}/headers.json",
        )
    )
    rf_scenes.check_headers(scenes, known=headers)  # now, not an hour into the run
    if scfg["product_metadata"]:
        from rasterflow.presets import metadata_files

        # a SAFE's metadata sets its bands' scale and offset: an edit to it in place
        # (the folder's mtime unchanged) must expire the plan too
        walked.extend(metadata_files(list(walked)))
    return scenes


def new_cached_plan(
    config: Mapping[str, Any],
    scenes: dict[str, Any],
    batches: dict[str, list[str]],
    indices: Mapping[str, Any],
    headers: Mapping[str, rf_planning.RasterHeader],
    walked: Sequence[str],
    batched: bool,
    cache_dir: str,
) -> rf_plan_cache.CachedPlan:
    """The cached part of a new plan: the grid and its tiles, the composite jobs (tile,
    period -> scenes), the scenes outside the area, the files' stamps and the batches'
    params."""
    from rasterflow import composite as rf_composite

    names: list[str] = []
    composites: dict[tuple[str, str], list[str]] = {}
    tiles: dict[str, Any] = {}
    grid, outside, warnings = None, [], []
    if config["grid"]["crs"] and scenes:
        footprints = (
            demo.footprints()
            if config["demo"]
            else rf_planning.footprints_of(
                {sid: sc.files()[0] for sid, sc in scenes.items()}, headers
            )
        )
        phases = rf_grid.scene_phases(
            footprints, config["grid"]["crs"], config["grid"]["resolution"]
        )
        # projected once, for the grid's extent and the tiles each scene touches
        projected = rf_grid.project_footprints(footprints, config["grid"]["crs"])
        spec = rf_grid.grid_from_config(config["grid"], phases=phases, footprints=projected)
        warning = rf_grid.alignment_warning(
            spec, phases, configured=config["grid"]["origin"] is not None
        )
        warnings = [warning] if warning else []
        if not spec.aoi.is_empty:
            grid = spec.geobox
            tiles = rf_grid.tiles(grid, spec.tile_px, aoi=spec.aoi)
        touched = rf_grid.tiles_touched(tiles, projected)
        outside = sorted(set(scenes) - {s for ids in touched.values() for s in ids})
        by_period = rf_periods.group_by_period(
            {sid: sc.date for sid, sc in scenes.items()},
            rf_periods.PeriodSpec.from_config(config["periods"]),
        )
        names = list(config["composite"]["indices"] or indices)
        unknown = [n for n in names if n not in indices]
        if unknown:
            raise ConfigError(
                f"composite.indices: {', '.join(unknown)} not in indices ({', '.join(indices)})"
            )
        composites = rf_composite.plan_jobs(touched, by_period)
    scene_indices = [i for i in indices if config["scene_indices"] or i not in names]
    roles = roles_of(indices, scene_indices)
    files = sorted({f for sc in scenes.values() for f in local(sc.files())})
    return rf_plan_cache.CachedPlan(
        scenes=scenes,
        batches=batches,
        composites=composites,
        tiles=tiles,
        grid=grid,
        composite_indices=names,
        outside=outside,
        stamps=rf_plan_cache.stamps_of([*files, *walked]) or {},
        batch_params={
            b: [scenes[s].subset(roles).to_params() for s in members]
            for b, members in (batches.items() if batched else ())
        },
        warnings=warnings,
    )
