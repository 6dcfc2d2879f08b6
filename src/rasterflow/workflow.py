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
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rasterflow import demo
from rasterflow import grid as rf_grid
from rasterflow import io as rf_io
from rasterflow import ownership as rf_ownership
from rasterflow import periods as rf_periods
from rasterflow import plan_cache as rf_plan_cache
from rasterflow import planning as rf_planning
from rasterflow import scenes as rf_scenes
from rasterflow.errors import ConfigError
from rasterflow.remote import is_remote, local, use_http_options

#: planning's own files beside the Snakemake state (the working directory's .snakemake)
CACHE_DIR = ".snakemake/rasterflow"
#: the product name of the multi-band composite (composite.bands): its tiles are
#: composites/<period>/bands/<tile>.tif, its mosaic mosaics/<period>/bands.tif
BANDS = "bands"


@dataclass(frozen=True)
class Paths:
    """Where the workflow writes each product, log and benchmark under ``results``."""

    results: str

    @property
    def demo_root(self) -> str:
        return f"{self.results}/demo"

    def index(self, scene: str, index: str) -> str:
        return f"{self.results}/indices/{scene}/{index}.tif"

    def manifest(self, batch: str) -> str:
        return f"{self.results}/indices/_batches/{batch}.json"

    def composite(self, period: str, index: str, tile: str, suffix: str = "") -> str:
        return f"{self.results}/composites/{period}/{index}/{tile}{suffix}.tif"

    def mosaic(self, period: str, index: str, suffix: str = ".tif") -> str:
        return f"{self.results}/mosaics/{period}/{index}{suffix}"

    def terrain(self, product: str) -> str:
        return f"{self.results}/terrain/{product}.tif"

    def trend(self, index: str) -> str:
        return f"{self.results}/trend/{index}.tif"

    def contours(self, product: str, fmt: str) -> str:
        return f"{self.results}/contours/{product}.{fmt}"

    def zonal(self, product: str, period: str, fmt: str = "parquet") -> str:
        return f"{self.results}/zonal/{product}/{period}.{fmt}"

    def points_part(self, kind: str, name: str) -> str:
        """One point-sampling job's rows (kind: scenes, a batch; periods, a period)."""
        return f"{self.results}/points/_parts/{kind}/{name}.parquet"

    def points_table(self, fmt: str = "parquet") -> str:
        return f"{self.results}/points/points.{fmt}"

    def report(self, name: str) -> str:
        return f"{self.results}/report/{name}"

    def logs(self, name: str) -> str:
        return f"{self.results}/logs/{name}.log"

    def benchmarks(self, name: str) -> str:
        return f"{self.results}/benchmarks/{name}.tsv"


@dataclass(frozen=True)
class WorkflowPlan:
    """Everything the rules need, planned from the config, the sheet and the files."""

    paths: Paths
    cache_dir: str
    batched: bool  # scenes.batch > 1: index jobs per batch of scenes
    #: composites read the scenes' bands (indices computed in memory), not index rasters
    direct: bool
    scenes: dict[str, Any]  # scene id -> rasterflow.scenes.Scene, sheet order
    #: scene file -> header, as this start read them (empty for a loaded plan, the demo)
    headers: dict[str, rf_planning.RasterHeader]
    batches: dict[str, list[str]]
    batch_of: dict[str, str]  # scene id -> its batch
    batch_params: dict[str, list[dict[str, Any]]]
    indices: dict[str, Any]  # name -> rasterflow.indices.Expression
    scene_indices: list[str]  # the indices written per scene
    index_roles: list[str]  # the bands the index jobs read
    composites: dict[tuple[str, str], list[str]]  # (tile, period) -> scene ids
    tiles: dict[str, Any]  # tile id -> GeoBox
    grid: Any  # GeoBox of the whole grid, or None without composites
    composite_indices: list[str]
    composite_roles: list[str]  # the bands composites read (when direct)
    #: composite.bands: the multi-band composite's fields of
    #: rasterflow.band_composite.BandSpec (run_scenes' ``bands``), None without one
    band_spec: dict[str, Any] | None
    periods: list[str]  # sorted by id
    period_spans: dict[str, tuple[dt.date, dt.date]]  # period -> first and last day
    #: indices with a per-pixel trend over the periods (trend.enabled), and the time
    #: of each period in years, chronological (rasterflow.trend.period_times)
    trend_indices: list[str]
    trend_times: dict[str, float]
    dem: str  # "" without terrain
    terrain_products: list[str]
    #: product ("dem" or a terrain product) -> the raster its contour lines come from
    contour_rasters: dict[str, str]
    contour_formats: list[str]  # gpkg, parquet
    zones: str  # "" without zonal statistics
    zonal_rasters: dict[tuple[str, str], str]  # (product, period) -> raster
    points: str  # "" without point sampling
    #: point-sampling batch -> scene ids (points.batch, date order), one job each
    point_batches: dict[str, list[str]]
    point_formats: list[str]  # formats of the long table
    point_count: int  # points in points.file (the cost estimate's units)
    stac_products: list[Any]  # rasterflow.stac.Product
    #: warnings about the plan, to print at every start
    warnings: list[str]
    #: facts worth a line at every start (where a frozen STAC search is)
    notes: list[str]
    #: local copy -> the remote file it copies (scenes.stage_in; rule stage_in)
    staged: dict[str, str]
    #: True when loaded from the last run's cache (rasterflow.plan_cache)
    loaded: bool

    @property
    def ordered_periods(self) -> list[str]:
        """Periods by first day (ids do not sort by time: 2024-JJA < 2024-MAM)."""
        return sorted(self.periods, key=lambda p: self.period_spans[p][0])

    @property
    def zonal_targets(self) -> list[tuple[str, str]]:
        return list(self.zonal_rasters)

    def fingerprint_path(self, batch: str) -> str:
        # beside the plan cache, not under results: planning writes it, also in a dry
        # run, and writes nothing into results (rasterflow.ownership)
        return f"{self.cache_dir}/batches/{batch}.inputs.json"

    def scene_inputs(self, scene: str, roles: Sequence[str]) -> list[str]:
        """The local files of ``scene``'s ``roles`` and mask: a job's Snakemake inputs
        (remote files are not: :mod:`rasterflow.remote`)."""
        return local(self.scenes[scene].files(roles))

    def batch_files(self, batch: str) -> list[str]:
        return sorted(
            {f for s in self.batches[batch] for f in self.scene_inputs(s, self.index_roles)}
        )

    def index_outputs(self) -> list[str]:
        """What the index stage declares: the rasters, or with batches their manifests."""
        if not self.scene_indices:
            return []
        if self.batched:
            return [self.paths.manifest(b) for b in self.batches]
        return [self.paths.index(s, i) for s in self.scenes for i in self.scene_indices]

    def composite_inputs(self, tile: str, period: str) -> list[str]:
        scenes = self.composites[(tile, period)]
        if self.direct:
            return sorted({f for s in scenes for f in self.scene_inputs(s, self.composite_roles)})
        if not self.batched:
            return [self.paths.index(s, i) for i in self.composite_indices for s in scenes]
        return [self.paths.manifest(b) for b in sorted({self.batch_of[s] for s in scenes})]

    @property
    def mosaic_products(self) -> list[str]:
        """The tile products mosaicked per period: the indices, then :data:`BANDS`."""
        return self.composite_indices + ([BANDS] if self.band_spec else [])

    def band_outputs(self, period: str, tile: str) -> list[str]:
        """The band composite and its count of one tile and period ([] without one)."""
        if not self.band_spec:
            return []
        return [
            self.paths.composite(period, BANDS, tile),
            self.paths.composite(period, BANDS, tile, "_count"),
        ]

    def tile_products(self, period: str, suffix: str) -> dict[str, list[str]]:
        """Product (index or :data:`BANDS`) -> the composite COGs of its tiles in
        ``period`` (``suffix``: "_count")."""
        tiles = [t for t, p in self.composites if p == period]
        return {
            i: [self.paths.composite(period, i, t, suffix) for t in tiles]
            for i in self.mosaic_products
        }

    @property
    def point_indices(self) -> list[str]:
        """Every index: sampled per scene from the bands, whatever is written."""
        return list(self.indices)

    @property
    def point_roles(self) -> list[str]:
        return _roles_of(self.indices, list(self.indices))

    def point_batch_files(self, batch: str) -> list[str]:
        return sorted(
            {f for s in self.point_batches[batch] for f in self.scene_inputs(s, self.point_roles)}
        )

    def point_parts(self) -> list[str]:
        """Every point-sampling job's part table: scene batches, then periods."""
        if not self.points:
            return []
        return [self.paths.points_part("scenes", b) for b in self.point_batches] + [
            self.paths.points_part("periods", p)
            for p in self.ordered_periods
            if self.composite_indices
        ]

    def mosaic_outputs(self) -> list[str]:
        return [self.paths.mosaic(p, i) for p in self.periods for i in self.mosaic_products]

    def trend_outputs(self) -> list[str]:
        return [self.paths.trend(i) for i in self.trend_indices]

    def trend_inputs(self, index: str) -> list[str]:
        """The mosaics an index's trend fits, in the order of :attr:`trend_times`."""
        return [self.paths.mosaic(p, index) for p in self.trend_times]

    def contour_outputs(self, product: str) -> list[str]:
        """The files of one contoured product, one per format."""
        return [self.paths.contours(product, fmt) for fmt in self.contour_formats]

    def product_outputs(self) -> list[str]:
        """Every product the run makes (the report rules wait for all of them)."""
        out = self.index_outputs() + self.mosaic_outputs() + self.trend_outputs()
        out += [self.paths.terrain(p) for p in self.terrain_products]
        out += [f for p in self.contour_rasters for f in self.contour_outputs(p)]
        if self.zonal_rasters:
            out.append(f"{self.paths.results}/zonal/zonal_long.parquet")
        out += [self.paths.points_table(f) for f in (self.point_formats if self.points else ())]
        return out

    def stac_inputs(self) -> list[str]:
        """The products the catalog describes; batch manifests stand in for index rasters."""
        indices = f"{self.paths.results}/indices/"
        return self.index_outputs() + [
            f
            for p in self.stac_products
            if not p.path.startswith(indices)
            for f in (p.path, *p.vectors.values())
        ]


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
    from rasterflow import indices as rf_indices
    from rasterflow import stac as rf_stac

    paths = Paths(config["results"].rstrip("/"))
    rf_io.check_writable(paths.results, key="results")
    use_http_options()  # headers of remote scene files are read while planning
    batched = config["scenes"]["batch"] > 1
    # the STAC catalog to read ("" for a sheet); a search runs here, on the first plan
    stac = _stac_source(config, cache_dir)
    key = _plan_key(config, basedir, stac)
    plan_file = f"{cache_dir}/plan.json"
    # the plan of the last run when nothing it depends on changed: 100,000 scenes'
    # sheet, header checks and tiles took longer than Snakemake's own planning
    cached = rf_plan_cache.load_plan(plan_file, key=key) if key else None
    loaded = cached is not None
    headers: dict[str, rf_planning.RasterHeader] = {}
    # the scene folders _load_scenes walks: their mtimes are part of the plan's stamps
    listing, walked = rf_scenes.recording_listing()
    scenes = (
        cached.scenes
        if cached
        else _load_scenes(config, paths, listing, walked, headers, cache_dir, stac)
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
        cached = _new_plan(config, scenes, batches, indices, headers, walked, batched, cache_dir)
    names = cached.composite_indices
    # indices written per scene: all with scene_indices, else those no composite
    # computes in memory from the scenes' bands (rasterflow.composite.run_scenes)
    scene_indices = [i for i in indices if config["scene_indices"] or i not in names]
    staged: dict[str, str] = {}
    batch_params = cached.batch_params
    if config["scenes"]["stage_in"]:
        # the jobs read local copies, which rule stage_in makes where Snakemake runs
        scenes, staged = _staged(scenes, config["scenes"]["stage_in"])
        roles = _roles_of(indices, scene_indices)
        batch_params = {
            b: [scenes[s].subset(roles).to_params() for s in members]
            for b, members in (batches.items() if batched else ())
        }
    periods = sorted({period for _tile, period in cached.composites})
    band_spec = _band_spec(config, indices, names) if cached.composites else None
    spec = rf_periods.PeriodSpec.from_config(config["periods"])
    spans = {p: (b.start, b.end) for p in periods for b in [rf_periods.period_by_id(p, spec)]}
    trend_indices, trend_times, trend_warnings = _plan_trend(config, names, spans)
    dem = _input_file(config, paths, "terrain", "dem", "dem.tif")
    terrain_products = list(config["terrain"]["products"]) if dem else []
    contour_rasters, contour_warnings = _plan_contours(config, paths, dem, terrain_products)
    zones = _input_file(config, paths, "zonal", "zones", "zones.gpkg")
    points = _input_file(config, paths, "points", "file", "points.geojson")
    point_count = _count_points(config, points)
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
        index_roles=_roles_of(indices, scene_indices),
        composites=cached.composites,
        tiles=cached.tiles,
        grid=cached.grid,
        composite_indices=names,
        composite_roles=sorted({*_roles_of(indices, names), *_band_roles(band_spec)}),
        band_spec=band_spec,
        periods=periods,
        period_spans=spans,
        trend_indices=trend_indices,
        trend_times=trend_times,
        dem=dem,
        terrain_products=terrain_products,
        contour_rasters=contour_rasters,
        contour_formats=list(config["contours"]["formats"]),
        zones=zones,
        zonal_rasters=_plan_zonal(config, paths, zones, indices, names, periods, terrain_products),
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


def _band_spec(
    config: Mapping[str, Any], indices: Mapping[str, Any], names: Sequence[str]
) -> dict[str, Any] | None:
    """composite.bands and its settings as run_scenes' ``bands``; None when empty.

    Raises ConfigError naming the key: a role scenes.bands lacks, a band composite of
    index rasters (scene_indices: true), a quality score that is no index."""
    from rasterflow import indices as rf_indices
    from rasterflow.band_composite import BandSpec

    ccfg = config["composite"]
    roles = list(ccfg["bands"])
    if not roles:
        return None
    known = set(config["scenes"]["bands"])
    if unknown := [r for r in roles if r not in known]:
        raise ConfigError(
            f"composite.bands: {', '.join(unknown)} not in scenes.bands "
            f"({', '.join(sorted(known))}); list band roles defined there"
        )
    if len(set(roles)) != len(roles):
        raise ConfigError(f"composite.bands: {roles} lists a band twice")
    if config["scene_indices"]:
        raise ConfigError(
            "composite.bands: a band composite reads the scenes' bands, and "
            "scene_indices: true composites index rasters; set scene_indices: false "
            "(the index products are the same bytes) or composite.bands: []"
        )
    if BANDS in names:
        raise ConfigError(
            f"composite.bands: an index is named {BANDS!r}, the band "
            "composite's product name; rename the index"
        )
    spec: dict[str, Any] = {
        "roles": roles,
        "statistic": ccfg["band_statistic"],
        "tolerance": float(ccfg["geomedian"]["tolerance"]),
        "max_iterations": int(ccfg["geomedian"]["max_iterations"]),
    }
    if ccfg["band_statistic"] == "quality":
        qcfg = ccfg["quality"]
        score = qcfg["index"]
        if not score and qcfg["target_day"] is None:
            raise ConfigError(
                "composite.quality.index: band_statistic quality keeps each "
                "pixel's observation with the highest score; name the index, "
                "e.g. quality: {index: NDVI}, or set quality.target_day"
            )
        if score:
            try:
                expr = (
                    indices.get(score)
                    or rf_indices.resolve([score], config["custom_indices"], roles=known)[score]
                )
            except ConfigError as exc:
                raise ConfigError(f"composite.quality.index: {exc}") from None
            spec.update(score=score, score_text=expr.text)
        if qcfg["target_day"] is not None:
            spec.update(
                target_day=int(qcfg["target_day"]),
                day_weight=float(qcfg["day_weight"]),
                day_sigma=float(qcfg["day_sigma"]),
            )
    BandSpec(**{**spec, "roles": tuple(roles)})  # its own checks, before any job
    return spec


def _band_roles(spec: Mapping[str, Any] | None) -> list[str]:
    """The scene bands a band composite reads: its bands and its score's."""
    if not spec:
        return []
    from rasterflow import indices as rf_indices

    roles = set(spec["roles"])
    if spec.get("score_text"):
        roles |= rf_indices.parse(spec["score"], spec["score_text"]).roles
    return sorted(roles)


def _notes(config: Mapping[str, Any], stac: str) -> list[str]:
    if not config["scenes"]["stac"]["api"] or config["demo"]:
        return []
    return [
        f"scenes.stac.api: the items of the search of {config['scenes']['stac']['api']} "
        f"are frozen in {stac}; delete it to search again"
    ]


def _staged(scenes: Mapping[str, Any], root: str) -> tuple[dict[str, Any], dict[str, str]]:
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


def _roles_of(indices: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    return sorted(set().union(*(indices[i].roles for i in names)))


def _outside_warning(outside: Sequence[str]) -> list[str]:
    if not outside:  # not an error: their per-scene index products are still made
        return []
    return [
        f"grid.aoi: scene(s) {', '.join(outside)} lie outside the area of interest "
        "and go into no composite; remove them from the scene sheet or widen grid.aoi"
    ]


def _stac_source(config: Mapping[str, Any], cache_dir: str) -> str:
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


def _plan_key(config: Mapping[str, Any], basedir: str, stac: str) -> str | None:
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


def _load_scenes(
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


def _new_plan(
    config: Mapping[str, Any],
    scenes: dict[str, Any],
    batches: dict[str, list[str]],
    indices: Mapping[str, Any],
    headers: Mapping[str, rf_planning.RasterHeader],
    walked: Sequence[str],
    batched: bool,
    cache_dir: str,
) -> rf_plan_cache.CachedPlan:
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
    roles = _roles_of(indices, scene_indices)
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


def _plan_trend(
    config: Mapping[str, Any],
    composite_indices: Sequence[str],
    spans: Mapping[str, tuple[dt.date, dt.date]],
) -> tuple[list[str], dict[str, float], list[str]]:
    """The indices whose trend the run fits, the periods' times, and warnings.

    An index that is not composited is a config error. Too few periods (or none: an
    area of interest away from the scenes) is a warning and no trend, not an error:
    the same config may plan a subset of the scenes (a dry run of one month, one tile).
    """
    from rasterflow.trend import period_times

    tcfg = config["trend"]
    if not tcfg["enabled"]:
        return [], {}, []
    wanted = list(tcfg["indices"] or composite_indices)
    known = composite_indices or config["composite"]["indices"] or config["indices"]
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ConfigError(
            f"trend.indices: {', '.join(unknown)} not composited (composite.indices: "
            f"{', '.join(known)}); add it to composite.indices or remove it from "
            "trend.indices"
        )
    if len(spans) < tcfg["min_periods"]:
        found = ", ".join(sorted(spans, key=lambda p: spans[p])) or "none"
        warning = (
            f"trend.enabled: no trend is made: trend.min_periods is {tcfg['min_periods']}, "
            f"but the composites fall in {len(spans)} period(s) ({found}); lower "
            "trend.min_periods (at least 2), choose shorter periods (periods.kind), add "
            "scenes, or set trend.enabled: false"
        )
        return [], {}, [warning]
    return wanted, period_times(spans), []


def _input_file(
    config: Mapping[str, Any], paths: Paths, section: str, key: str, demo_file: str
) -> str:
    """A vector/raster path from config; the demo's own file when empty in demo mode."""
    path = config[section][key]
    if not path and config["demo"]:
        return f"{paths.demo_root}/{demo_file}"
    if path and not os.path.exists(path):
        raise ConfigError(f"{section}.{key}: {path} not found; fix the path or set it to ''")
    if path and section == "terrain":
        rf_io.check_raster(path, what="terrain.dem", where="terrain.dem")
    if path and section == "zonal":
        # imported here: geopandas and exactextract cost 0.6 s of every DAG build
        from rasterflow.zonal import check_zones

        check_zones(path, layer=config["zonal"]["layer"], id_column=config["zonal"]["id_column"])
    return str(path or "")


def _count_points(config: Mapping[str, Any], path: str) -> int:
    """The points of ``path``, checked now, not in a job (:func:`rasterflow.points
    .read_points`); the demo's, which a rule writes after planning, by their number."""
    if not path:
        return 0
    if not config["points"]["file"]:
        return len(demo.POINTS)
    from rasterflow.points import read_points  # geopandas: only when points are set

    return len(
        read_points(path, layer=config["points"]["layer"], id_column=config["points"]["id_column"])
    )


def _plan_contours(
    config: Mapping[str, Any], paths: Paths, dem: str, terrain: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Product -> raster for every contour job (empty unless contours.interval is set),
    and warnings.

    Without a DEM there is nothing to contour: a warning, not an error, as terrain.products
    is then ignored too (a config built on the demo's, which sets both, stays valid).
    """
    ccfg = config["contours"]
    if ccfg["interval"] is None:
        return {}, []
    if not dem:
        return {}, [
            "contours.interval is set but there is no DEM, so no contours: set "
            "terrain.dem to your DEM, or contours.interval to null"
        ]
    out: dict[str, str] = {}
    for product in ccfg["products"]:
        if product == "dem":
            out[product] = dem
        elif product in terrain:
            out[product] = paths.terrain(product)
        else:
            raise ConfigError(
                f"contours.products: {product} is not made by this run; add it to "
                f"terrain.products ({', '.join(terrain) or 'none'}) or remove it here"
            )
    return out, []


def _plan_zonal(
    config: Mapping[str, Any],
    paths: Paths,
    zones: str,
    indices: Mapping[str, Any],
    composite_indices: Sequence[str],
    periods: Sequence[str],
    terrain: Sequence[str],
) -> dict[tuple[str, str], str]:
    """(product, period) -> raster for every table the zonal stage writes."""
    if not zones:
        return {}
    zcfg = config["zonal"]
    targets = {}
    if "mosaics" in zcfg["products"]:
        for index in composite_indices:
            for period in periods:
                targets[(index, period)] = paths.mosaic(period, index)
    if "terrain" in zcfg["products"]:
        for product in terrain:
            targets[(product, "static")] = paths.terrain(product)
    for name, path in zcfg["rasters"].items():
        if (name, "static") in targets or name in indices:
            raise ConfigError(f"zonal.rasters: name {name!r} is taken by a product; rename it")
        rf_io.check_raster(path, what=f"zonal.rasters.{name}", where="zonal.rasters")
        targets[(name, "static")] = path
    if not targets:
        raise ConfigError(
            f"zonal.zones: nothing to summarise over {zones}: zonal.products "
            f"({', '.join(zcfg['products']) or 'none'}) makes no raster here; add "
            "zonal.rasters (name: path), a scene sheet for mosaics, or terrain.dem"
        )
    return targets


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


def resource_growth(per_attempt: int) -> Callable[[Any, int], int]:
    """A ``resources:`` value that grows by ``per_attempt`` with each attempt, so that
    ``--retries`` recovers a job killed for its memory or time limit."""

    def grow(wildcards: Any, attempt: int) -> int:
        return per_attempt * attempt

    return grow


#: glibc's malloc settings for the jobs' processes (``rules/common.smk`` sets those the
#: user has not, so every job Snakemake starts, locally or through SLURM, inherits
#: them). By default glibc gives an array freed by a Dask worker thread back to the
#: kernel, and the next chunk's arrays come back as fresh pages that the kernel zeroes:
#: a fifth of a composite job's CPU time (perf: ``clear_page_erms`` under page
#: faults). Arrays up to 32 MB (a 2048² float64 chunk; glibc's cap) from heaps that are
#: trimmed only above 4 GB of free top are reused instead: a composite job of the
#: end-to-end benchmark took 0.87-0.91x the CPU time (docs/benchmarks.md). A job then
#: holds on to its peak memory, which ``mem_mb`` bounds anyway.
JOB_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(4 * 2**30),
    "MALLOC_TOP_PAD_": str(256 * 2**20),
}
