"""The plan's value types: :class:`WorkflowPlan`, what the rules read, and :class:`Paths`,
where every product, log and benchmark goes (so a rule and the plan never spell one
differently)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rasterflow import planning as rf_planning
from rasterflow.remote import local

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
    #: product ("dem", a terrain product, <index>-<period>) -> the raster its contour
    #: lines come from, and its levels (interval, base)
    contour_rasters: dict[str, str]
    contour_options: dict[str, dict[str, float]]
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

    def scene_files(self, scenes: Iterable[str], roles: Sequence[str]) -> list[str]:
        """:meth:`scene_inputs` of every one of ``scenes``, each file once, sorted."""
        return sorted({f for s in scenes for f in self.scene_inputs(s, roles)})

    def batch_files(self, batch: str) -> list[str]:
        return self.scene_files(self.batches[batch], self.index_roles)

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
            return self.scene_files(scenes, self.composite_roles)
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
        return roles_of(self.indices, list(self.indices))

    def point_batch_files(self, batch: str) -> list[str]:
        return self.scene_files(self.point_batches[batch], self.point_roles)

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

    def contour_period(self, product: str) -> str:
        """The period a contoured product stands for: a mosaic's, else "static"."""
        raster = self.contour_rasters[product]
        for period in self.periods:
            if raster.startswith(f"{self.paths.results}/mosaics/{period}/"):
                return period
        return "static"

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


def roles_of(indices: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """The band roles the indices ``names`` (of ``indices``, name -> Expression) read."""
    return sorted(set().union(*(indices[i].roles for i in names)))
