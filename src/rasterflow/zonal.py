"""Zonal statistics: per-polygon summaries of a raster product, for 100,000s of zones.

Two pixel rules, each matching an independent reference exactly:

``"centre"``
    A pixel counts, with weight 1, when its centre falls inside the polygon: the rule
    of ``rasterstats.zonal_stats(all_touched=False)``. Engine: GDAL's rasterizer
    (``rasterio.features.rasterize``) on the raster's own grid, so the same pixels are
    selected as rasterstats selects on each polygon's window (GDAL's own half-open rule
    for centres that lie exactly on an edge included). Zones whose windows do not
    overlap are burnt together, one GDAL call per layer of them instead of one per
    zone; the grid is the same shifted by whole pixels, so only a centre within
    rounding error (~1e-12 pixel) of an edge could move, as for a zone that crosses the
    raster's edge (whose window is clipped). Statistics are then NumPy reductions in
    float64 (rasterstats reduces float32 rasters in float32, so on those the two
    differ by float32 rounding). exactextract was considered and not used for this
    rule: it has no centre option (its ``min_coverage_frac`` is about covered area,
    which is not the same set of pixels), and emulating one with its ``center_x`` /
    ``center_y`` arrays plus ``shapely.contains_xy`` was 1.5 x slower than
    rasterizing zone by zone (``benchmarks/zonal_bench.py --ee-centre``) and
    disagrees with GDAL on centres that lie on an edge (a box whose edges run through
    pixel centres: GDAL selects 12 pixels, ``contains_xy`` 4, ``intersects_xy`` 16).

``"coverage"``
    Each pixel is weighted by the fraction of its area that the polygon covers.
    Engine: exactextract, which computes those fractions exactly and fast; our
    statistics are exactextract's own (README "Supported Statistics"): ``count`` is
    the sum of coverage fractions, ``sum`` and ``mean`` are coverage-weighted,
    ``std`` is the coverage-weighted population standard deviation, ``median`` and
    percentiles are coverage-weighted quantiles, ``min``/``max`` are over every cell
    the polygon touches, ``majority`` and class fractions are coverage-weighted.

Both rules:

* ignore pixels that are nodata (the band's mask, i.e. its nodata value, alpha or
  per-dataset mask) or NaN, and apply the band's scale/offset (as exactextract does;
  rasterstats ignores scale/offset, so the two agree only on unscaled rasters);
* give a zone with no valid pixel (outside the raster, all nodata, empty geometry)
  ``count`` 0 and NaN for every other statistic (exactextract alone would say
  ``sum`` 0);
* break ``majority`` ties like their reference: the smallest class for ``"centre"``
  (rasterstats), the largest for ``"coverage"`` (exactextract).

Scale: the raster is cut into cells of whole blocks (about ``CELL_PIXELS``, 2048 x
2048 for 512-pixel tiles), and each cell is read and decoded once; a zone within one
cell is computed from that cell's pixels in memory, a zone across a cell edge from the
two (or four) cells it touches, and a zone larger than a cell (or without pixels)
reads its own window by path (in strips of ``max_cells``). Decoding a compressed
raster is the largest part of the work (~half of the coverage rule's CPU) and, before,
each batch decoded again the blocks its windows touched (per-dataset block caches). Memory is bounded by about one row of
cells (a cell waits for the zones across its lower edge: ~20 MB per cell of float32
with its mask, so ~100 MB for a 10000-pixel-wide raster) plus ``batch_size`` zones,
never by the raster's height (and ``median`` and percentiles keep a zone's valid
values: 8 bytes per pixel of the largest zone). exactextract holds the
GIL while it computes, rasterio releases it while GDAL decodes: with an active ``distributed``
client the cell reads and the zone tasks run as Dask tasks in the order that frees each
cell soonest, so on threads one core decodes while the other computes; without a
client they run one after another in this process. Tasks are plain data (a path, WKB
bytes, a frozen spec, arrays), so they pickle to any Dask worker. Results are put back
in input order and do not depend on cells, batching or the cluster (every zone sees
the raster's own grid and values): GeoParquet and CSV are byte-identical (GeoPackage,
an SQLite file, is not).

Zones in another CRS are reprojected vertex by vertex (like ``ogr2ogr`` and
``GeoDataFrame.to_crs``), without densifying edges.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from exactextract import exact_extract
from exactextract.feature import Feature, FeatureSource
from exactextract.raster import RasterioRasterSource
from pyproj import CRS
from rasterio import features
from rasterio.transform import Affine
from rasterio.windows import Window
from rasterio.windows import union as windows_union

from rasterflow.errors import ConfigError, InputDataError
from rasterflow.io import atomic_output, open_raster, provenance_tags, vector_layer

logger = logging.getLogger(__name__)

Rule = Literal["centre", "coverage"]

#: Statistics a caller may ask for by name (percentiles go in ``percentiles``).
STATS: tuple[str, ...] = ("count", "sum", "mean", "min", "max", "std", "median", "majority")
DEFAULT_STATS: tuple[str, ...] = ("count", "mean", "min", "max")
#: Output formats of :func:`write_table`, by the key used in ``outputs``.
FORMATS: tuple[str, ...] = ("parquet", "csv", "gpkg")
#: More distinct classes than this in a categorical zonal run is almost surely a
#: continuous raster passed with ``categorical=True``: one column per class would explode.
MAX_CLASSES = 1000

# exactextract's name of each of our statistics (majority and fractions: see _exactextract_ops)
_EXACTEXTRACT_OP = {
    "count": "count",
    "sum": "sum",
    "mean": "mean",
    "min": "min",
    "max": "max",
    "std": "stdev",
    "median": "median",
}
_FRACTIONS = "_fractions"  # internal per-batch column: {class: fraction}
_STAT_PATTERN = re.compile(r"^(count|sum|mean|min|max|std|median|majority|p\d+(\.\d+)?|frac_.+)$")


@dataclass(frozen=True)
class ZonalSpec:
    """What to compute for every zone: validated, immutable, cheap to pickle."""

    stats: tuple[str, ...] = DEFAULT_STATS
    percentiles: tuple[float, ...] = ()
    rule: Rule = "coverage"
    categorical: bool = False
    band: int = 1
    max_cells: int = 2**24

    def __post_init__(self) -> None:
        if self.rule not in get_args(Rule):
            raise ConfigError(
                f"zonal rule: unknown rule {self.rule!r}; use 'centre' (pixel centre inside "
                "the polygon, like rasterstats) or 'coverage' (weighted by covered fraction, "
                "like exactextract)"
            )
        for stat in self.stats:
            if stat not in STATS:
                hint = " (percentiles go in 'percentiles', e.g. [10, 90])" if stat.startswith(
                    ("p", "percentile", "quantile")
                ) else ""
                raise ConfigError(
                    f"zonal stats: unknown statistic {stat!r}; choose from "
                    f"{', '.join(STATS)}{hint}"
                )
        if len(set(self.stats)) != len(self.stats):
            raise ConfigError(f"zonal stats: {list(self.stats)} names a statistic twice")
        for q in self.percentiles:
            if not 0 <= q <= 100:
                raise ConfigError(f"zonal percentiles: {q} is outside 0..100")
        names = [percentile_column(q) for q in self.percentiles]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"zonal percentiles: {list(self.percentiles)} give duplicate columns {names}"
            )
        if self.band < 1:
            raise ConfigError(f"zonal band: bands count from 1, got {self.band}")
        if self.max_cells < 1:
            raise ConfigError(f"zonal max_cells: must be >= 1, got {self.max_cells}")

    @property
    def wants_majority(self) -> bool:
        return self.categorical or "majority" in self.stats

    @property
    def columns(self) -> list[str]:
        """Statistic columns in output order (class fractions follow, known only later)."""
        cols = [s for s in self.stats if s != "majority"]
        cols += [percentile_column(q) for q in self.percentiles]
        if self.wants_majority:
            cols.append("majority")
        return cols


def percentile_column(q: float) -> str:
    """Column name of percentile ``q`` (0..100): ``p10``, ``p2.5``."""
    return f"p{q:g}"


def fraction_column(value: float) -> str:
    """Column name of the fraction of class ``value``: ``frac_3``, ``frac_0.25``."""
    return f"frac_{value}"


def is_stat_column(name: str) -> bool:
    """True for the names of the columns this module computes (not zone attributes)."""
    return bool(_STAT_PATTERN.match(str(name)))


# --------------------------------------------------------------------------- zones


def read_zones(
    path: str | os.PathLike[str], *, layer: str | int | None = None
) -> gpd.GeoDataFrame:
    """Read a zones layer (GeoPackage, GeoJSON, Shapefile, GeoParquet) as a GeoDataFrame.

    Raises InputDataError when the file is missing, unreadable or has no CRS.
    """
    p = Path(path)
    if not p.exists():
        raise InputDataError(f"zones: file not found: {p}. Check the zones path in the config.")
    try:
        if p.suffix.lower() in {".parquet", ".geoparquet"}:
            zones = gpd.read_parquet(p)
        else:
            zones = gpd.read_file(p, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio/pyarrow raise many types; all mean "unreadable"
        raise InputDataError(
            f"zones: cannot read {p} ({exc}). Use a GeoPackage, GeoJSON, Shapefile or "
            "GeoParquet file (and the right 'layer' for multi-layer files)."
        ) from None
    if zones.crs is None:
        raise InputDataError(
            f"zones: {p} has no CRS. Assign one, e.g. ogr2ogr -a_srs EPSG:4326 fixed.gpkg '{p}'."
        )
    return zones


def zone_ids(ids: pd.Series) -> pd.Series:
    """Ids as their meaning: a float column of whole numbers (a Shapefile ``Real`` field,
    or a GeoJSON's ``28801.0``) becomes int64; others (strings, true fractions) stay."""
    values = ids.to_numpy()
    if (ids.dtype.kind == "f" and len(ids) and not ids.isna().any()
            and np.all(np.isfinite(values)) and np.all(values == np.round(values))
            and np.all(np.abs(values) < 2**53)):
        return ids.astype(np.int64)
    return ids


def check_ids(zones: gpd.GeoDataFrame, id_column: str, *, source: str) -> None:
    """Raise InputDataError unless ``id_column`` exists in ``zones`` and is unique, not null."""
    if id_column not in zones.columns:
        columns = ", ".join(str(c) for c in zones.columns if c != zones.geometry.name)
        raise InputDataError(
            f"zones: {source} has no column {id_column!r} (columns: {columns}). "
            "Set the zone id column to one of these."
        )
    ids = zones[id_column]
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())
        raise InputDataError(
            f"zones: column {id_column!r} of {source} is empty in {len(rows)} feature(s) "
            f"(rows {_some(rows)}). Give every zone an id, or pick another id column."
        )
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InputDataError(
            f"zones: column {id_column!r} of {source} is not unique: {_some(duplicated)} "
            "occur more than once. Pick a unique id column, or make the ids unique."
        )


def check_zones(path: str | os.PathLike[str], *, layer: str | int | None, id_column: str) -> None:
    """Cheap checks of a zones file before any job: readable, a CRS, a unique id column.

    Reads the layer's metadata and the id column only, not the geometries.
    """
    p = Path(path)
    if p.suffix.lower() in {".parquet", ".geoparquet"}:
        # GeoParquet through pyarrow, as the zonal step reads it
        zones = read_zones(p)
        check_ids(zones, id_column, source=str(p))
        check_attribute_names(zones.columns, id_column=id_column, source=str(p))
        return
    import pyogrio

    if p.exists():
        layer = vector_layer(p, layer, key="zonal.layer")
    try:
        info = pyogrio.read_info(p, layer=layer)
        columns = list(info["fields"])
        ids = None
        if id_column in columns:
            ids = pyogrio.read_dataframe(p, layer=layer, columns=[id_column], read_geometry=False)
    except Exception as exc:  # pyogrio raises many types; all mean "unreadable"
        raise InputDataError(
            f"zones: cannot read {p} ({exc}). Use a GeoPackage, GeoJSON, Shapefile or "
            "GeoParquet file (and the right zonal.layer for multi-layer files)."
        ) from None
    if info["crs"] is None:
        raise InputDataError(
            f"zones: {p} has no CRS. Assign one, e.g. ogr2ogr -a_srs EPSG:4326 fixed.gpkg '{p}'."
        )
    if ids is None:
        raise InputDataError(
            f"zones: {p} has no column {id_column!r} (columns: {', '.join(columns) or 'none'}). "
            "Set zonal.id_column to one of these."
        )
    check_ids(ids, id_column, source=str(p))
    check_attribute_names(columns, id_column=id_column, source=str(p))


def check_attribute_names(
    columns: Iterable[Any], *, id_column: str, source: str
) -> None:
    """Raise InputDataError when a zone attribute is named like a statistic column.

    Zonal tables hold the zones' attributes beside the statistics, and the long table
    (:func:`long_table`) tells the statistics by their names (:func:`is_stat_column`):
    an attribute ``p5``, ``frac_forest`` or ``mean`` would be overwritten by, or mixed
    into, the statistics, whichever statistics are configured now (a later run may add
    them). Refused rather than renamed: a renamed column would surprise whoever reads
    the table by the zones file's names.
    """
    clash = [str(c) for c in columns
             if str(c) != id_column and c != "geometry" and is_stat_column(c)]
    if clash:
        raise InputDataError(
            f"zones: {source} has attribute column(s) {', '.join(clash)}, named like the "
            "statistic columns of the zonal tables (count, sum, mean, min, max, std, "
            "median, majority, p<q>, frac_<class>), which they would be mixed up with. "
            f"Rename them in the zones file (e.g. {clash[0]} -> attr_{clash[0]}, in QGIS's "
            "field editor or with ogr2ogr -sql), or drop them"
        )


def check_overlap(geometries: Sequence[bytes | None], raster: str, *, source: str) -> None:
    """Raise InputDataError when no zone has a geometry or none overlaps ``raster``.

    Either would give a table of empty rows that looks like a result; the usual cause is
    zones and raster of different places, or a wrong CRS on one of them.
    """
    present = [g for g in geometries if g is not None]
    if not present:
        raise InputDataError(
            f"zones: none of the {len(geometries)} zone(s) of {source} has a geometry "
            "(all null or empty); fix the zones file"
        )
    with rasterio.open(raster) as src:
        box = shapely.box(*src.bounds)
    if not shapely.intersects(shapely.from_wkb(present), box).any():
        xmin, ymin, xmax, ymax = shapely.total_bounds(shapely.from_wkb(present))
        raise InputDataError(
            f"zones: no zone of {source} overlaps {raster} (zones span "
            f"{xmin:.6g}, {ymin:.6g}, {xmax:.6g}, {ymax:.6g}; the raster "
            f"{', '.join(f'{v:.6g}' for v in src.bounds)}, in the raster's CRS); use zones "
            "of the raster's area, or fix the CRS of the zones or of the raster"
        )


def _some(values: Iterable[Any], limit: int = 10) -> str:
    """The first ``limit`` values for a message, and how many more there are."""
    items = list(values)
    shown = ", ".join(str(v) for v in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def prepare_geometries(
    zones: gpd.GeoDataFrame, *, crs: CRS, id_column: str, source: str
) -> list[bytes | None]:
    """Zone polygons in the raster's CRS as 2-D WKB, repaired; None for no geometry.

    Invalid polygons (e.g. self-intersecting) are repaired with ``shapely.make_valid``
    keeping only their polygonal parts; empty or null geometries become None. Both are
    reported by zone id in a warning. Non-polygonal geometries raise InputDataError.
    """
    geoms = zones.geometry
    if zones.crs is None:
        raise InputDataError(f"zones: {source} has no CRS; assign one (ogr2ogr -a_srs ...).")
    if not geoms.crs.equals(crs):
        # vertex-wise, as ogr2ogr and geopandas do; pre-reprojected zones give the same
        geoms = geoms.to_crs(crs)
    arr = shapely.force_2d(np.asarray(geoms.array, dtype=object))
    ids = zones[id_column].to_numpy()

    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    kinds = shapely.get_type_id(arr)
    polygonal = np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
    wrong = ~missing & ~polygonal
    if wrong.any():
        types = sorted({g.geom_type for g in arr[wrong]})
        raise InputDataError(
            f"zones: {source} has non-polygon geometries ({', '.join(types)}) for zone(s) "
            f"{_some(ids[wrong])}. Zones must be polygons: buffer points/lines or drop them."
        )

    invalid = ~missing & ~shapely.is_valid(arr)
    if invalid.any():
        repaired = shapely.make_valid(arr[invalid], method="structure", keep_collapsed=False)
        arr[invalid] = [_polygonal_part(g) for g in repaired]
        logger.warning(
            "zones: repaired %d invalid geometr%s of %s with make_valid (zone %s %s)",
            int(invalid.sum()),
            "y" if invalid.sum() == 1 else "ies",
            source,
            id_column,
            _some(ids[invalid]),
        )
        collapsed = invalid & shapely.is_empty(arr)
        missing = missing | collapsed
    if missing.any():
        logger.warning(
            "zones: %d zone(s) of %s have no (or an empty) geometry and get count 0 "
            "(zone %s %s)",
            int(missing.sum()),
            source,
            id_column,
            _some(ids[missing]),
        )
    wkb = shapely.to_wkb(arr)
    return [None if m else bytes(w) for m, w in zip(missing, wkb, strict=True)]


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a repaired geometry (make_valid may add lines or points)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def hilbert_order(geometries: Sequence[bytes | None]) -> np.ndarray:
    """Positions of ``geometries`` sorted along a Hilbert curve (stable; None first)."""
    present = np.array([g is not None for g in geometries], dtype=bool)
    key = np.full(len(geometries), -1, dtype=np.int64)
    if present.any():
        geoms = shapely.from_wkb([g for g in geometries if g is not None])
        key[present] = gpd.GeoSeries(geoms).hilbert_distance().to_numpy()
    return np.argsort(key, kind="stable")


# --------------------------------------------------------------------------- raster


@dataclass(frozen=True)
class RasterInfo:
    """What a batch needs to know about the raster besides its path."""

    path: str
    band: int
    crs_wkt: str
    integer: bool
    width: int
    height: int
    block: tuple[int, int]  # rows, columns of the band's blocks
    transform: Affine


def raster_info(path: str | os.PathLike[str], *, band: int) -> RasterInfo:
    """Open ``path`` once for its CRS, checking that it is usable for zonal statistics."""
    if not Path(path).exists():
        raise InputDataError(
            f"zonal raster: file not found: {path}. Check the product path given to the "
            "zonal step."
        )
    with open_raster(path, what="zonal raster") as src:
        if not 1 <= band <= src.count:
            raise InputDataError(
                f"zonal raster: {path} has {src.count} band(s); band {band} does not exist. "
                "Set the band (counting from 1) to one of them."
            )
        t = src.transform
        if t.b != 0 or t.d != 0:
            raise InputDataError(
                f"zonal raster: {path} has a rotated geotransform, which neither rasterize "
                f"nor exactextract support. Warp it first: gdalwarp '{path}' north-up.tif"
            )
        dtype = np.dtype(src.dtypes[band - 1])
        scaled = src.scales[band - 1] != 1.0 or src.offsets[band - 1] != 0.0
        return RasterInfo(
            path=str(path),
            band=band,
            crs_wkt=src.crs.to_wkt(),
            integer=dtype.kind in "iu" and not scaled,
            width=src.width,
            height=src.height,
            block=tuple(src.block_shapes[band - 1]),
            transform=src.transform,
        )


# --------------------------------------------------------------------------- batches


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
    """:func:`zonal_batch` on an open dataset (or a :class:`_HeldBand` over one)."""
    compute = _coverage_batch if spec.rule == "coverage" else _centre_batch
    table = compute(geometries, src=src, raster=raster, spec=spec)
    if spec.categorical:
        _check_classes(len(set().union(*table[_FRACTIONS])))  # fail at the first batch
    return table.reset_index(drop=True)


def _check_classes(n: int) -> None:
    if n > MAX_CLASSES:
        raise ConfigError(
            f"zonal categorical: the raster has {n} distinct values in the zones (more "
            f"than {MAX_CLASSES}); it looks continuous. Set categorical: false, or "
            "classify it first."
        )


def _empty_row(spec: ZonalSpec) -> dict[str, Any]:
    row: dict[str, Any] = {c: math.nan for c in spec.columns}
    if "count" in row:
        row["count"] = 0
    if spec.categorical:
        row[_FRACTIONS] = {}
    return row


@dataclass
class _Accumulator:
    """Centre-rule statistics of one zone, merged over the strips of its window."""

    spec: ZonalSpec
    n: int = 0
    total: float = 0.0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean (Chan et al. merge)
    lo: float = math.inf
    hi: float = -math.inf
    parts: list[np.ndarray] = field(default_factory=list)
    classes: dict[Any, int] = field(default_factory=dict)

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        x = values.astype(np.float64, copy=False)
        n = x.size
        total = float(x.sum())
        mean = total / n
        m2 = float(np.square(x - mean).sum())
        if self.n == 0:
            self.mean, self.m2 = mean, m2
        else:
            delta = mean - self.mean
            both = self.n + n
            self.mean += delta * n / both
            self.m2 += m2 + delta * delta * self.n * n / both
        self.n += n
        self.total += total
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))
        if "median" in self.spec.stats or self.spec.percentiles:
            self.parts.append(values)
        if self.spec.wants_majority:
            keys, counts = np.unique(values, return_counts=True)
            for k, c in zip(keys.tolist(), counts.tolist(), strict=True):
                self.classes[k] = self.classes.get(k, 0) + c

    def row(self) -> dict[str, Any]:
        if self.n == 0:
            return _empty_row(self.spec)
        spec = self.spec
        row: dict[str, Any] = {}
        values = np.concatenate(self.parts).astype(np.float64) if self.parts else None
        for stat in spec.stats:
            if stat == "count":
                row["count"] = self.n
            elif stat == "sum":
                row["sum"] = self.total
            elif stat == "mean":
                row["mean"] = self.total / self.n
            elif stat == "min":
                row["min"] = self.lo
            elif stat == "max":
                row["max"] = self.hi
            elif stat == "std":
                row["std"] = math.sqrt(self.m2 / self.n)  # population, as rasterstats
            elif stat == "median":
                row["median"] = float(np.median(values))
        for q in spec.percentiles:
            row[percentile_column(q)] = float(np.percentile(values, q))
        if spec.wants_majority:
            best = max(self.classes.values())
            # ties go to the smallest class, as rasterstats (first of np.unique's order)
            row["majority"] = float(min(k for k, c in self.classes.items() if c == best))
        if spec.categorical:
            row[_FRACTIONS] = {k: c / self.n for k, c in self.classes.items()}
        return row


def centre_window(
    bounds: tuple[float, float, float, float], transform: Affine, *, height: int, width: int
) -> Window | None:
    """The pixel window covering ``bounds``, clipped to the raster; None when empty.

    Floor/ceil of the bounds in pixel space, exactly as ``rasterstats.io.bounds_window``
    (same window, so the same rasterization transform and the same pixels).
    """
    west, south, east, north = bounds
    cols = sorted(((west - transform.c) / transform.a, (east - transform.c) / transform.a))
    rows = sorted(((north - transform.f) / transform.e, (south - transform.f) / transform.e))
    col0, col1 = max(math.floor(cols[0]), 0), min(math.ceil(cols[1]), width)
    row0, row1 = max(math.floor(rows[0]), 0), min(math.ceil(rows[1]), height)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _strips(window: Window, max_cells: int) -> Iterator[Window]:
    """Row strips of ``window`` holding at most ``max_cells`` pixels (at least one row)."""
    rows = max(1, max_cells // int(window.width))
    for r in range(int(window.row_off), int(window.row_off + window.height), rows):
        h = min(rows, int(window.row_off + window.height) - r)
        yield Window(window.col_off, r, window.width, h)


def _centre_batch(
    geometries: Sequence[bytes | None], *, src: Any, raster: RasterInfo, spec: ZonalSpec
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    band = spec.band
    scale, offset = src.scales[band - 1], src.offsets[band - 1]
    scaled = scale != 1.0 or offset != 0.0
    floating = np.dtype(src.dtypes[band - 1]).kind == "f"
    shapes = [None if wkb is None else shapely.from_wkb(wkb) for wkb in geometries]
    windows = [
        None if geom is None
        else centre_window(geom.bounds, src.transform, height=src.height, width=src.width)
        for geom in shapes
    ]
    burnt = _Burnt.of(shapes, windows, src) if isinstance(src, _HeldBand) else None
    for k, (geom, window) in enumerate(zip(shapes, windows, strict=True)):
        if geom is None:
            rows.append(_empty_row(spec))
            continue
        acc = _Accumulator(spec)
        if window is not None:
            for strip in _strips(window, spec.max_cells):
                if burnt is not None:
                    inside = burnt.inside(k, strip)
                else:
                    inside = features.rasterize(
                        [(geom, 1)],
                        out_shape=(int(strip.height), int(strip.width)),
                        transform=src.window_transform(strip),
                        fill=0,
                        dtype="uint8",
                        all_touched=False,
                    ).view(bool)
                if not inside.any():
                    continue
                # masked read: the band's mask (nodata, alpha, per-dataset), as
                # exactextract's rasterio source reads it
                data, mask = _read_masked(src, band, strip)
                values = data[inside & ~mask]
                if floating:
                    values = values[~np.isnan(values)]
                if scaled:
                    values = values.astype(np.float64) * scale + offset
                acc.add(values)
        rows.append(acc.row())
    return pd.DataFrame.from_records(rows, columns=_batch_columns(spec))


def _read_masked(src: Any, band: int, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Values and mask (True: nodata) of ``window``, as ``read(masked=True)`` gives them.

    From held pixels without building a masked array (their slicing was a tenth of the
    centre rule's time).
    """
    if isinstance(src, _HeldBand) and (held := src.held_arrays(window)) is not None:
        return held
    data = src.read(band, window=window, masked=True)
    return np.ma.getdata(data), np.ma.getmaskarray(data)


@dataclass(frozen=True)
class _Burnt:
    """The centre rule's pixels of many zones, from one GDAL rasterize call per layer.

    Zones whose windows do not overlap share a layer (a label image over their windows,
    zone k burnt as k + 1), so GDAL is called a few times per task instead of once per
    zone (per-zone calls were ~60% of the rule's time). The burn uses the layer's
    window's transform instead of the zone's own window's: the same grid shifted by
    whole pixels, so the same pixel centres fall inside (GDAL works in pixel
    coordinates; only a centre within ~1e-12 pixel of an edge could differ, as for a
    zone clipped at the raster's edge).
    """

    layers: tuple[tuple[Window, np.ndarray], ...]  # the window each label image covers
    layer_of: dict[int, int]

    @classmethod
    def of(cls, shapes: Sequence[shapely.Geometry | None],
           windows: Sequence[Window | None], src: _HeldBand) -> _Burnt:
        held = src.held_window
        row0, col0 = int(held.row_off), int(held.col_off)
        shape = (int(held.height), int(held.width))
        occupied: list[np.ndarray] = []
        members: list[list[tuple[shapely.Geometry, int]]] = []
        extents: list[Window] = []
        layer_of: dict[int, int] = {}
        for k, (geom, window) in enumerate(zip(shapes, windows, strict=True)):
            if geom is None or window is None:
                continue
            rows, cols = _slices(window, row0, col0)
            layer = next((i for i, occ in enumerate(occupied) if not occ[rows, cols].any()),
                         len(occupied))
            if layer == len(occupied):
                occupied.append(np.zeros(shape, dtype=bool))
                members.append([])
                extents.append(window)
            occupied[layer][rows, cols] = True
            members[layer].append((geom, k + 1))
            extents[layer] = windows_union(extents[layer], window)
            layer_of[k] = layer
        dtype = "uint16" if len(shapes) < 2**16 else "int32"
        layers = tuple(
            (extent, features.rasterize(
                burn, out_shape=(int(extent.height), int(extent.width)),
                transform=src.window_transform(extent), fill=0, dtype=dtype,
                all_touched=False))
            for burn, extent in zip(members, extents, strict=True)
        )
        return cls(layers, layer_of)

    def inside(self, k: int, window: Window) -> np.ndarray:
        """Where zone ``k`` holds a pixel centre in ``window`` (raster pixel coordinates)."""
        extent, labels = self.layers[self.layer_of[k]]
        rows, cols = _slices(window, int(extent.row_off), int(extent.col_off))
        return labels[rows, cols] == k + 1


def _slices(window: Window, row0: int, col0: int) -> tuple[slice, slice]:
    """``window`` as array slices of an array whose first pixel is ``row0, col0``."""
    r, c = int(window.row_off) - row0, int(window.col_off) - col0
    return slice(r, r + int(window.height)), slice(c, c + int(window.width))


def _batch_columns(spec: ZonalSpec) -> list[str]:
    return spec.columns + ([_FRACTIONS] if spec.categorical else [])


def _exactextract_ops(spec: ZonalSpec) -> tuple[list[str], list[str]]:
    """exactextract operation strings and, aligned with them, our column names."""
    ops: list[str] = []
    names: list[str] = []
    for stat in spec.stats:
        if stat != "majority":
            ops.append(_EXACTEXTRACT_OP[stat])
            names.append(stat)
    if "count" not in spec.stats:
        ops.append("count")  # needed to blank the statistics of empty zones
        names.append("_count")
    for q in spec.percentiles:
        ops.append(f"quantile(q={q / 100!r})")
        names.append(percentile_column(q))
    if spec.wants_majority:
        ops.append("majority")
        names.append("majority")
    if spec.categorical:
        ops += ["unique", "frac"]
        names += ["_unique", "_frac"]
    return ops, names


def _coverage_batch(
    geometries: Sequence[bytes | None], *, src: Any, raster: RasterInfo, spec: ZonalSpec
) -> pd.DataFrame:
    present = [i for i, g in enumerate(geometries) if g is not None]
    n = len(geometries)
    table = pd.DataFrame({c: np.full(n, math.nan) for c in spec.columns})
    if "count" in table:
        table["count"] = 0.0
    if spec.categorical:
        table[_FRACTIONS] = pd.Series([{} for _ in range(n)], dtype=object)
    if not present:
        return table
    ops, names = _exactextract_ops(spec)
    source = _HeldSource if isinstance(src, _HeldBand) else RasterioRasterSource
    result = exact_extract(
        source(src, spec.band),
        _WkbFeatures([geometries[i] for i in present], srs_wkt=raster.crs_wkt),
        ops,
        include_cols=["row"],
        output="pandas",
        max_cells_in_memory=spec.max_cells,
    )
    if list(result["row"]) != list(range(len(present))):
        raise AssertionError("exactextract returned features out of order")  # never seen
    result = result.drop(columns="row")
    result.columns = names
    count = result["count" if "count" in names else "_count"].to_numpy()
    empty = count == 0
    rows = np.asarray(present)
    for name in spec.columns:
        values = result[name].to_numpy(dtype=np.float64, copy=True)
        if name != "count":
            values[empty] = math.nan  # exactextract says sum 0 where we say "no data"
        column = table[name].to_numpy(copy=True)
        column[rows] = values
        table[name] = column
    if spec.categorical:
        fractions = table[_FRACTIONS].tolist()
        for pos, classes, fracs in zip(present, result["_unique"], result["_frac"], strict=True):
            fractions[pos] = dict(
                zip(np.asarray(classes).tolist(), np.asarray(fracs).tolist(), strict=True)
            )
        table[_FRACTIONS] = pd.Series(fractions, dtype=object)
    return table


class _WkbFeature(Feature):
    """One polygon for exactextract: WKB geometry and its position in the batch."""

    def __init__(self, row: int, wkb: bytes) -> None:
        super().__init__()
        self._row, self._wkb = row, wkb

    def get(self, name: str) -> int:
        return self._row

    def fields(self) -> list[str]:
        return ["row"]

    def geometry(self) -> bytes:
        return self._wkb

    def set_geometry_format(self) -> str:
        return "wkb"


class _WkbFeatures(FeatureSource):
    """exactextract feature source over WKB polygons (field ``row``: batch position).

    WKB goes to exactextract's GEOS as-is; its bundled GeoPandas/JSON sources would
    turn every polygon into GeoJSON text and parse it back.
    """

    def __init__(self, wkbs: Sequence[bytes], *, srs_wkt: str) -> None:
        super().__init__()
        self._wkbs, self._srs_wkt = wkbs, srs_wkt

    def count(self) -> int:
        return len(self._wkbs)

    def __iter__(self) -> Iterator[_WkbFeature]:
        for row, wkb in enumerate(self._wkbs):
            yield _WkbFeature(row, wkb)

    def srs_wkt(self) -> str:
        return self._srs_wkt


# --------------------------------------------------------------------------- driver


def _active_client() -> Any:
    """The running ``distributed`` client (the step's ``dask_client``), or None."""
    if "distributed" not in sys.modules:
        return None  # nobody started a client; importing distributed alone costs ~2 s
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


#: Pixels per cell (the unit of reading): big enough that few zones straddle two
#: cells, small enough that the cells alive at once stay a few tens of MB.
CELL_PIXELS = 2**22


@dataclass(frozen=True)
class _Task:
    """Zones computed together: positions in the zone list, and the cells they need.

    ``cells`` empty: the task reads each zone's window from the file itself (zones
    larger than a cell, zones without pixels); otherwise it holds ``window``, which
    ``cells`` cover, in memory.
    """

    positions: tuple[int, ...]
    cells: tuple[tuple[int, int], ...] = ()
    window: Window | None = None


@dataclass(frozen=True)
class _CellGrid:
    """The raster cut into cells of whole blocks, read once each (row-major order)."""

    height: int
    width: int
    cell_rows: int
    cell_cols: int

    @classmethod
    def of(cls, raster: RasterInfo) -> _CellGrid:
        pixels = CELL_PIXELS  # read at call time, so tests can shrink cells
        block_rows, block_cols = raster.block
        side = math.isqrt(pixels)
        cols = block_cols * max(1, side // block_cols)
        rows = block_rows * max(1, pixels // cols // block_rows)
        return cls(raster.height, raster.width, min(rows, raster.height), min(cols, raster.width))

    def window(self, cell: tuple[int, int]) -> Window:
        row0, col0 = cell[0] * self.cell_rows, cell[1] * self.cell_cols
        return Window(
            col0, row0, min(self.cell_cols, self.width - col0),
            min(self.cell_rows, self.height - row0),
        )


def _zone_windows(geometries: Sequence[bytes | None], raster: RasterInfo) -> np.ndarray:
    """Per zone, the pixel window ``row0, row1, col0, col1`` its statistics may read.

    Centre rule windows (floor/ceil of the bounds) grown by one pixel, so that
    exactextract's own rounding of a zone's extent stays inside; clipped to the raster.
    A zone without geometry or without pixels gets an empty window (row1 <= row0).
    """
    out = np.zeros((len(geometries), 4), dtype=np.int64)
    present = np.array([g is not None for g in geometries], dtype=bool)
    if not present.any():
        return out
    bounds = shapely.bounds(shapely.from_wkb([g for g in geometries if g is not None]))
    t = raster.transform
    xs = (bounds[:, [0, 2]] - t.c) / t.a
    ys = (bounds[:, [3, 1]] - t.f) / t.e
    col0 = np.floor(xs.min(axis=1)) - 1
    col1 = np.ceil(xs.max(axis=1)) + 1
    row0 = np.floor(ys.min(axis=1)) - 1
    row1 = np.ceil(ys.max(axis=1)) + 1
    windows = np.c_[
        np.clip(row0, 0, raster.height), np.clip(row1, 0, raster.height),
        np.clip(col0, 0, raster.width), np.clip(col1, 0, raster.width),
    ]
    out[present] = windows.astype(np.int64)
    return out


def plan_tasks(
    geometries: Sequence[bytes | None], *, raster: RasterInfo, batch_size: int
) -> tuple[_CellGrid, list[_Task]]:
    """Group zones by the cells their windows touch, so every cell is decoded once.

    A zone within one cell joins that cell's task; a zone across a cell edge joins the
    task of the two (or four) cells it touches, which holds just the zones' union
    window, copied from those cells. Zones larger than a cell, or without pixels, read
    by path in batches. Tasks come in the row-major order of the last cell they need
    (so each cell is freed soon after it is read); zones within a task keep Hilbert
    order, and tasks hold at most ``batch_size`` zones.
    """
    grid = _CellGrid.of(raster)
    windows = _zone_windows(geometries, raster)
    groups: dict[tuple[int, int, int, int], list[int]] = {}
    by_path: list[int] = []
    for pos in hilbert_order(geometries).tolist():
        row0, row1, col0, col1 = windows[pos].tolist()
        if row1 <= row0 or col1 <= col0 or row1 - row0 > grid.cell_rows or (
            col1 - col0 > grid.cell_cols
        ):
            by_path.append(pos)
            continue
        key = (row0 // grid.cell_rows, (row1 - 1) // grid.cell_rows,
               col0 // grid.cell_cols, (col1 - 1) // grid.cell_cols)
        groups.setdefault(key, []).append(pos)
    tasks: list[_Task] = []
    for key in sorted(groups, key=lambda k: (k[1], k[3], k[0], k[2])):
        i0, i1, j0, j1 = key
        cells = tuple((i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1))
        for start in range(0, len(groups[key]), batch_size):
            positions = groups[key][start : start + batch_size]
            if len(cells) == 1:
                window = grid.window(cells[0])
            else:
                w = windows[positions]
                row0, col0 = int(w[:, 0].min()), int(w[:, 2].min())
                window = Window(col0, row0, int(w[:, 3].max()) - col0,
                                int(w[:, 1].max()) - row0)
            tasks.append(_Task(tuple(positions), cells, window))
    for start in range(0, len(by_path), batch_size):
        tasks.append(_Task(tuple(by_path[start : start + batch_size])))
    return grid, tasks


def read_cell(raster: RasterInfo, window: Window) -> np.ma.MaskedArray:
    """The band's pixels in ``window``, masked where the band's mask says nodata."""
    with rasterio.open(raster.path) as src:
        return src.read(raster.band, window=window, masked=True)


def _assemble(
    window: Window, cells: Sequence[tuple[Window, np.ma.MaskedArray]]
) -> np.ma.MaskedArray:
    """``window``'s pixels from the cells that cover it (no copy when one cell is it)."""
    if len(cells) == 1 and cells[0][0] == window:
        return cells[0][1]
    first = cells[0][1]
    shape = (int(window.height), int(window.width))
    out = np.ma.MaskedArray(np.empty(shape, first.dtype), mask=np.ones(shape, bool))
    for cell, pixels in cells:
        part = window.intersection(cell)  # raises WindowError when disjoint: never here
        r0, c0 = int(part.row_off), int(part.col_off)
        r1, c1 = r0 + int(part.height), c0 + int(part.width)
        out[r0 - int(window.row_off) : r1 - int(window.row_off),
            c0 - int(window.col_off) : c1 - int(window.col_off)] = pixels[
            r0 - int(cell.row_off) : r1 - int(cell.row_off),
            c0 - int(cell.col_off) : c1 - int(cell.col_off)]
    return out


class _HeldBand:
    """An open dataset whose masked reads of one band come from pixels already read.

    Everything else (transform, nodata, scales, ...) is the dataset's, so exactextract's
    rasterio source and the centre rule see the very grid and values a read from the
    file would give; a read outside the held window (never expected) goes to the file.
    """

    def __init__(self, src: Any, *, band: int, window: Window,
                 pixels: np.ma.MaskedArray) -> None:
        self._src, self._band, self._window, self._pixels = src, band, window, pixels
        self._data, self._mask = np.ma.getdata(pixels), np.ma.getmaskarray(pixels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._src, name)

    def read(self, indexes: int, *, window: Window, masked: bool = False) -> Any:
        held = self._held(window)
        if indexes != self._band or not masked or held is None:
            return self._src.read(indexes, window=window, masked=masked)
        return self._pixels[held]

    @property
    def held_window(self) -> Window:
        return self._window

    def held_arrays(self, window: Window) -> tuple[np.ndarray, np.ndarray] | None:
        """Held values and mask (True: nodata) of ``window``; None unless all held."""
        held = self._held(window)
        if held is None:
            return None
        return self._data[held], self._mask[held]

    def read_unmasked(self, window: Window) -> np.ndarray | None:
        """The held pixels of ``window`` when none is masked; else (or not held) None."""
        held = self._held(window)
        if held is None:
            return None
        return None if self._mask[held].any() else self._data[held]

    def _held(self, window: Window) -> tuple[slice, slice] | None:
        """``window`` as slices of the held pixels; None unless they hold all of it."""
        rows, cols = _slices(window, int(self._window.row_off), int(self._window.col_off))
        if rows.start < 0 or cols.start < 0 or rows.stop > int(self._window.height) or (
            cols.stop > int(self._window.width)
        ):
            return None
        return rows, cols


class _HeldSource(RasterioRasterSource):
    """exactextract's rasterio source over a :class:`_HeldBand`.

    Returns a window without masked pixels as a plain array, as the parent does when
    rasterio reports no mask: NumPy's masked-array slicing was a tenth of the run.
    """

    def read_window(self, x0: int, y0: int, nx: int, ny: int) -> Any:
        if not self.scaled:
            plain = self.ds.read_unmasked(Window(x0, y0, nx, ny))
            if plain is not None:
                return plain
        return super().read_window(x0, y0, nx, ny)

    def read(self, indexes: int, *, window: Window, masked: bool = False) -> Any:
        held = self._window
        row0 = int(window.row_off) - int(held.row_off)
        col0 = int(window.col_off) - int(held.col_off)
        rows, cols = int(window.height), int(window.width)
        if (indexes != self._band or not masked or row0 < 0 or col0 < 0
                or row0 + rows > int(held.height) or col0 + cols > int(held.width)):
            return self._src.read(indexes, window=window, masked=masked)
        return self._pixels[row0 : row0 + rows, col0 : col0 + cols]


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
    pixels = _assemble(window, cells)
    with rasterio.open(raster.path) as src:
        held = _HeldBand(src, band=spec.band, window=window, pixels=pixels)
        return _batch_table(geometries, src=held, raster=raster, spec=spec)


def _run_tasks(
    geometries: Sequence[bytes | None],
    tasks: Sequence[_Task],
    *,
    grid: _CellGrid,
    raster: RasterInfo,
    spec: ZonalSpec,
) -> list[pd.DataFrame]:
    """Run every task, on the Dask cluster when one is active; results in task order."""
    zones = [[geometries[p] for p in task.positions] for task in tasks]
    client = _active_client()
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
        futures.append(client.submit(task_table, part, inputs, window=task.window,
                                     raster=raster, spec=spec, pure=False))
    del cells  # a cell's pixels are released once the tasks that need them are done
    return client.gather(futures)


def _run_in_process(
    zones: Sequence[Sequence[bytes | None]],
    tasks: Sequence[_Task],
    *,
    grid: _CellGrid,
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
    in messages (default: "the zones"). See the module docstring for the rules.
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
        len(geometries), where, info.path, band, rule, len(tasks), batch_size,
        grid.cell_rows, grid.cell_cols,
    )
    parts = _run_tasks(geometries, tasks, grid=grid, raster=info, spec=spec)
    order = np.array([p for task in tasks for p in task.positions], dtype=np.int64)
    if parts:
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.DataFrame([], columns=_batch_columns(spec))
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
    dicts = table.pop(_FRACTIONS).tolist()
    classes = sorted(set().union(*dicts)) if dicts else []
    _check_classes(len(classes))
    has_data = np.array([bool(d) for d in dicts], dtype=bool)
    columns = {}
    for value in classes:
        column = np.array([d.get(value, 0.0) for d in dicts], dtype=np.float64)
        column[~has_data] = math.nan
        label = int(value) if integer and float(value).is_integer() else value
        columns[fraction_column(label)] = column
    return pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)


# --------------------------------------------------------------------------- outputs


def zone_table(
    zones: gpd.GeoDataFrame, stats: pd.DataFrame, *, id_column: str, source: str
) -> gpd.GeoDataFrame:
    """The zones (attributes and original geometry) with their statistics columns."""
    clash = [c for c in stats.columns if c != id_column and c in zones.columns]
    if clash:
        raise InputDataError(
            f"zones: {source} already has column(s) {', '.join(map(str, clash))}, which the "
            "statistics would overwrite. Rename those attributes in the zones file."
        )
    table = zones.copy()
    for column in stats.columns:
        if column != id_column:
            table[column] = stats[column].to_numpy()  # positional: both in zone order
    geometry = table.geometry.name
    return table[[c for c in table.columns if c != geometry] + [geometry]]


def write_table(
    table: gpd.GeoDataFrame,
    outputs: Mapping[str, str | os.PathLike[str]],
    *,
    provenance: Mapping[str, str] | None = None,
    layer: str = "zonal",
) -> dict[str, Path]:
    """Write ``table`` to each ``{format: path}`` of ``outputs``, atomically.

    Formats: ``parquet`` (GeoParquet, geometry kept), ``csv`` (no geometry),
    ``gpkg`` (GeoPackage layer ``layer``). ``provenance`` (e.g. from
    :func:`rasterflow.io.provenance_tags`) goes into the GeoParquet file metadata and
    the GeoPackage layer metadata; CSV has nowhere to keep it.
    """
    unknown = sorted(set(outputs) - set(FORMATS))
    if unknown:
        raise ConfigError(
            f"zonal outputs: unknown format(s) {', '.join(unknown)}; use "
            f"{', '.join(FORMATS)} as keys, e.g. {{parquet: zones.parquet}}"
        )
    written: dict[str, Path] = {}
    for fmt, path in outputs.items():
        with atomic_output(path) as tmp:
            if fmt == "parquet":
                out = table.copy()
                # pyarrow keeps DataFrame.attrs in the file's metadata (PANDAS_ATTRS)
                out.attrs = dict(provenance or {})
                out.to_parquet(tmp, index=False)
            elif fmt == "csv":
                frame = pd.DataFrame(table.drop(columns=table.geometry.name))
                frame.to_csv(tmp, index=False)
            else:
                table.to_file(
                    tmp, driver="GPKG", layer=layer, engine="pyogrio",
                    metadata=dict(provenance or {}),
                )
        written[fmt] = Path(path)
    return written


def read_table(path: str | os.PathLike[str], *, id_column: str) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (GeoParquet, CSV or GeoPackage).

    CSV ids are read as text, so ids like ``08035`` keep their leading zero.
    """
    p = Path(path)
    if p.suffix.lower() in {".parquet", ".geoparquet"}:
        return gpd.read_parquet(p)
    if p.suffix.lower() == ".csv":
        return pd.read_csv(p, dtype={id_column: str})
    return gpd.read_file(p, engine="pyogrio")


def long_table(
    tables: Mapping[tuple[str, str], pd.DataFrame | str | os.PathLike[str]],
    *,
    id_column: str,
) -> pd.DataFrame:
    """Stack per-product tables into one long table for time series.

    ``tables`` maps ``(product, period)`` to a zonal table (or the path of one). The
    result has the columns ``id_column``, ``product``, ``period`` and every statistic
    column found (attributes and geometry dropped; a statistic missing from a table is
    NaN there), rows ordered by product, then period, then zone order.
    """
    frames = []
    stat_order: list[str] = []
    for (product, period), table in sorted(tables.items(), key=lambda kv: kv[0]):
        if isinstance(table, pd.DataFrame):
            frame = table
        else:
            frame = read_table(table, id_column=id_column)
        if id_column not in frame.columns:
            raise InputDataError(
                f"zonal long table: the table for {product}/{period} has no column "
                f"{id_column!r}; pass the id column the tables were written with"
            )
        stats = [c for c in frame.columns if c != id_column and is_stat_column(c)]
        stat_order += [c for c in stats if c not in stat_order]
        part = pd.DataFrame(
            {id_column: frame[id_column].to_numpy(), "product": product, "period": period}
        )
        values = pd.DataFrame(frame[stats]).reset_index(drop=True)
        frames.append(pd.concat([part, values], axis=1))
    if not frames:
        return pd.DataFrame(columns=[id_column, "product", "period"])
    out = pd.concat(frames, ignore_index=True)
    return out[[id_column, "product", "period", *stat_order]]


def run(
    *,
    raster: str | os.PathLike[str],
    zones: str | os.PathLike[str],
    id_column: str,
    outputs: Mapping[str, str | os.PathLike[str]],
    stats: Sequence[str] = DEFAULT_STATS,
    percentiles: Sequence[float] = (),
    rule: Rule = "coverage",
    categorical: bool = False,
    band: int = 1,
    layer: str | int | None = None,
    batch_size: int = 1000,
    max_cells: int = 2**24,
) -> gpd.GeoDataFrame:
    """Zonal statistics of one raster product over a zones file, written to ``outputs``.

    Reads ``zones`` (GeoPackage/GeoJSON/Shapefile/GeoParquet; ``layer`` for multi-layer
    files), computes :func:`zonal_statistics`, and writes the zones' attributes and
    geometry with the statistics to every ``{format: path}`` of ``outputs`` (see
    :func:`write_table`; ``{}`` writes nothing). Returns that table (a GeoDataFrame).
    Uses the active Dask client, if any.
    """
    unknown = sorted(set(outputs) - set(FORMATS))
    if unknown:  # fail before the heavy part, not after it
        raise ConfigError(
            f"zonal outputs: unknown format(s) {', '.join(unknown)}; use {', '.join(FORMATS)}"
        )
    table_zones = read_zones(zones, layer=layer)
    if id_column in table_zones:
        table_zones[id_column] = zone_ids(table_zones[id_column])
    source = str(zones)
    # the workflow checked this at the DAG build (check_zones); library callers had not
    check_attribute_names(table_zones.columns, id_column=id_column, source=source)
    values = zonal_statistics(
        table_zones,
        raster,
        id_column=id_column,
        stats=stats,
        percentiles=percentiles,
        rule=rule,
        categorical=categorical,
        band=band,
        batch_size=batch_size,
        max_cells=max_cells,
        source=source,
    )
    table = zone_table(table_zones, values, id_column=id_column, source=source)
    params = {
        "id_column": id_column,
        "stats": list(stats),
        "percentiles": [float(q) for q in percentiles],
        "rule": rule,
        "categorical": categorical,
        "band": band,
        "layer": layer,
        # what the ids are (int64, object for text), for readers of CSV and GeoPackage
        "id_dtype": str(table.dtypes[id_column]),
    }
    tags = provenance_tags(inputs=[str(raster), str(zones)], params=params)
    write_table(table, outputs, provenance=tags)
    return table
