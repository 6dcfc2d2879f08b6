"""Values at points through time: each scene's indices and each period's mosaics
sampled at the points of a vector layer, into one long table.

Why this shape:

* **Per-scene values without per-scene rasters.** Composites no longer need per-scene
  index rasters, so a scene's values are computed where the points are: the scene's
  bands are read in the windows that hold points and the index is computed there by
  :func:`rasterflow.indices.window_indices`, the very function that writes each block
  of a per-scene index raster. A pixel's value does not depend on the window
  (:func:`rasterflow.scenes.read_window`), so a sampled value is the index raster's
  pixel, bit for bit (tested against the raster the index stage writes).
* **Only the blocks that hold points are read.** Points are grouped by the
  :data:`BLOCK`-pixel block of the raster they fall in; each group reads the smallest
  window holding its points' pixels (and the neighbours bilinear or a window mean
  needs), once for all the indices.
* **Every point keeps its row** (``outside: keep``, the default): a point outside a
  raster, on nodata, masked, or whose index is not finite gets value NaN and
  ``valid`` false, so the table has a row per point, scene or period and product, and
  "not observed" is never confused with "not asked". ``outside: drop`` leaves out the
  rows of points outside a raster (on nodata they stay, with ``valid`` false).

Conventions: pixel (0, 0)'s corner is the raster's origin and its centre half a pixel
in (GDAL's). ``nearest`` is the pixel holding the point (``floor`` of the pixel
coordinates, as :func:`rasterio.sample.sample_gen`); a point on the raster's right or
bottom edge is outside. ``bilinear`` interpolates between the four pixel centres
around the point; within half a pixel of the raster's edge the edge pixels stand in
for the missing neighbours (``scipy.ndimage.map_coordinates(order=1,
mode="nearest")``); a neighbour with a non-zero weight that is nodata makes the value
nodata (an average over fewer pixels than claimed would pass for a valid one).
``window: w`` (odd, nearest only) is the mean of the valid pixels of the w x w square
centred on the pixel holding the point, pixels beyond the raster left out; valid when
any is.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rasterflow.errors import InputDataError

if TYPE_CHECKING:
    import geopandas as gpd

log = logging.getLogger(__name__)

#: Side in pixels of the blocks points are grouped by: rasterflow's COG tile size, and
#: a window small enough that a lone point does not read much more than its block.
BLOCK = 512
#: Columns of the long table after the points' id and attributes.
COLUMNS = ("kind", "source", "date", "product", "value", "valid")
METHODS = ("nearest", "bilinear")

#: reads window (x0, y0, width, height) of a raster: (products, height, width) float
Reader = Callable[[tuple[int, int, int, int]], np.ndarray]


@dataclass(frozen=True)
class SampleSpec:
    """How a value is taken at a point: ``method`` and the ``window`` mean's side."""

    method: str = "nearest"
    window: int = 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"points.method: {self.method!r}; use one of {', '.join(METHODS)}")
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"points.window: {self.window}; use an odd number from 1")
        if self.window > 1 and self.method != "nearest":
            raise ValueError("points.window above 1 needs points.method: nearest")


@dataclass(frozen=True)
class Samples:
    """Values of ``products`` raster layers at ``n`` points."""

    values: np.ndarray  # (products, n) float64, NaN where not valid
    inside: np.ndarray  # (n,) bool: the point lies on the raster

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.values)


# --------------------------------------------------------------------------- points


def read_points(
    path: str | os.PathLike[str], *, layer: str | int | None = None, id_column: str = "point_id"
) -> gpd.GeoDataFrame:
    """The points layer at ``path`` (any format OGR reads, or GeoParquet; any CRS), in
    file order, checked: a CRS, a unique id per point, no attribute named like a column
    of the long table (:data:`COLUMNS`), point geometries.

    Whole-number float ids (a Shapefile's ``Real``) become integers, as zone ids do
    (:func:`rasterflow.zonal.zone_ids`). Raises InputDataError naming the file, the key
    and how to fix it.
    """
    import geopandas as gpd

    from rasterflow.io import vector_layer
    from rasterflow.zonal import zone_ids

    p = Path(path)
    if not p.exists():
        raise InputDataError(f"points.file: {p} not found; fix the path or set it to ''")
    try:
        if p.suffix.lower() in {".parquet", ".geoparquet"}:
            points = gpd.read_parquet(p)
        else:
            points = gpd.read_file(
                p, layer=vector_layer(p, layer, key="points.layer"), engine="pyogrio"
            )
    except InputDataError:
        raise
    except Exception as exc:  # noqa: BLE001 (pyogrio/pyarrow raise many types: unreadable)
        raise InputDataError(
            f"points.file: cannot read {p} ({exc}); use a GeoPackage, GeoJSON, Shapefile "
            "or GeoParquet file (and points.layer for a file of several layers)"
        ) from None
    if points.crs is None:
        raise InputDataError(
            f"points.file: {p} has no CRS; assign one, e.g. "
            f"ogr2ogr -a_srs EPSG:4326 fixed.gpkg '{p}'"
        )
    if id_column not in points.columns:
        columns = ", ".join(str(c) for c in points.columns if c != points.geometry.name)
        raise InputDataError(
            f"points.id_column: {p} has no column {id_column!r} (columns: "
            f"{columns or 'none'}); set points.id_column to one of them"
        )
    ids = points[id_column]
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())
        raise InputDataError(
            f"points.id_column: column {id_column!r} of {p} is empty in {len(rows)} "
            f"feature(s) (rows {_some(rows)}); give every point an id"
        )
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InputDataError(
            f"points.id_column: column {id_column!r} of {p} is not unique: "
            f"{_some(duplicated)} occur more than once; pick a unique id column"
        )
    clash = [
        str(c)
        for c in points.columns
        if c in COLUMNS and c not in (id_column, points.geometry.name)
    ]
    if clash:
        raise InputDataError(
            f"points.file: {p} has column(s) {', '.join(clash)}, which the long table "
            f"uses itself ({', '.join(COLUMNS)}); rename them, e.g. ogr2ogr -sql "
            f'"SELECT {clash[0]} AS {clash[0]}_ ..."'
        )
    geoms = points.geometry
    bad = geoms.isna() | geoms.is_empty | (geoms.geom_type != "Point")
    if bad.any():
        kinds = sorted({str(t) for t in geoms[bad].geom_type.fillna("none")})
        raise InputDataError(
            f"points.file: {int(bad.sum())} feature(s) of {p} are not points "
            f"({', '.join(kinds)}; ids {_some(ids[bad].tolist())}); give each a point "
            "geometry (for polygons use zonal statistics, or their centroids: "
            "ogr2ogr -dialect sqlite -sql 'SELECT *, ST_Centroid(geometry) ...')"
        )
    points = points.reset_index(drop=True)
    points[id_column] = zone_ids(points[id_column])
    return points


def _some(values: Any, limit: int = 10) -> str:
    values = list(values)
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


@dataclass(frozen=True)
class PointSet:
    """Point coordinates in their CRS, projected on demand into each raster's CRS."""

    x: np.ndarray
    y: np.ndarray
    crs: str  # WKT
    #: CRS WKT -> (x, y) projected: the scenes of a job share a few CRSs
    _projected: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, points: gpd.GeoDataFrame) -> PointSet:
        return cls(
            x=points.geometry.x.to_numpy(np.float64),
            y=points.geometry.y.to_numpy(np.float64),
            crs=points.crs.to_wkt(),
        )

    def __len__(self) -> int:
        return len(self.x)

    def to_crs(self, crs: Any) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in ``crs`` (anything pyproj reads); inf where PROJ cannot project."""
        from pyproj import CRS, Transformer

        wkt = crs if isinstance(crs, str) else str(crs.to_wkt())
        if wkt not in self._projected:
            target, source = CRS.from_user_input(wkt), CRS.from_wkt(self.crs)
            if source == target:
                self._projected[wkt] = self.x, self.y
            else:
                t = Transformer.from_crs(source, target, always_xy=True)
                x, y = t.transform(self.x, self.y, errcheck=False)
                self._projected[wkt] = (
                    np.asarray(x, dtype=np.float64),
                    np.asarray(y, dtype=np.float64),
                )
        return self._projected[wkt]


# --------------------------------------------------------------------------- sampling


def sample(
    x: np.ndarray,
    y: np.ndarray,
    *,
    shape: tuple[int, int],
    affine: Any,
    read: Reader,
    products: int,
    spec: SampleSpec,
    block: int = BLOCK,
) -> Samples:
    """Values of the ``products`` layers of a raster of ``shape`` (height, width) and
    geotransform ``affine`` at points (``x``, ``y``, in the raster's CRS), reading with
    ``read`` only the windows that hold points, one per ``block`` x ``block`` block.
    """
    height, width = shape
    inv = ~affine
    col = inv.a * x + inv.b * y + inv.c
    row = inv.d * x + inv.e * y + inv.f
    with np.errstate(invalid="ignore"):
        inside = (
            np.isfinite(col)
            & np.isfinite(row)
            & (col >= 0)
            & (col < width)
            & (row >= 0)
            & (row < height)
        )
    values = np.full((products, len(x)), np.nan, dtype=np.float64)
    idx = np.flatnonzero(inside)
    if not idx.size:
        return Samples(values, inside)
    col, row = col[idx], row[idx]
    c = np.floor(col).astype(np.int64)  # the pixel holding the point
    r = np.floor(row).astype(np.int64)
    if spec.method == "bilinear":
        u, v = col - 0.5, row - 0.5
        c0, r0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
        fu, fv = u - c0, v - r0
        ca, cb = np.clip(c0, 0, width - 1), np.clip(c0 + 1, 0, width - 1)
        ra, rb = np.clip(r0, 0, height - 1), np.clip(r0 + 1, 0, height - 1)
        lo_c, hi_c, lo_r, hi_r = ca, cb, ra, rb
    else:
        half = spec.window // 2
        lo_c, hi_c = np.maximum(c - half, 0), np.minimum(c + half, width - 1)
        lo_r, hi_r = np.maximum(r - half, 0), np.minimum(r + half, height - 1)
    key = (r // block) * (width // block + 1) + c // block
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        sel = order[start:end]
        x0, y0 = int(lo_c[sel].min()), int(lo_r[sel].min())
        x1, y1 = int(hi_c[sel].max()) + 1, int(hi_r[sel].max()) + 1
        data = np.asarray(read((x0, y0, x1 - x0, y1 - y0)), dtype=np.float64)
        if spec.method == "bilinear":
            got = _bilinear(
                data, ca[sel] - x0, cb[sel] - x0, ra[sel] - y0, rb[sel] - y0, fu[sel], fv[sel]
            )
        elif spec.window == 1:
            got = data[:, r[sel] - y0, c[sel] - x0]
        else:
            got = _window_mean(data, c[sel] - x0, r[sel] - y0, spec.window // 2)
        values[:, idx[sel]] = got
    return Samples(values, inside)


def _bilinear(
    data: np.ndarray,
    ca: np.ndarray,
    cb: np.ndarray,
    ra: np.ndarray,
    rb: np.ndarray,
    fu: np.ndarray,
    fv: np.ndarray,
) -> np.ndarray:
    """Weighted sum of the four neighbours; NaN where a neighbour of non-zero weight is."""
    total = np.zeros((data.shape[0], len(ca)), dtype=np.float64)
    for rr, cc, weight in (
        (ra, ca, (1 - fu) * (1 - fv)),
        (ra, cb, fu * (1 - fv)),
        (rb, ca, (1 - fu) * fv),
        (rb, cb, fu * fv),
    ):
        # a zero weight contributes 0 even from a NaN pixel (a point on a pixel
        # centre is that pixel's value)
        total += np.where(weight > 0, weight * data[:, rr, cc], 0.0)
    return total


def _window_mean(data: np.ndarray, c: np.ndarray, r: np.ndarray, half: int) -> np.ndarray:
    """Mean of the finite pixels of the (2 half + 1)² squares around (r, c) of ``data``
    (a window already cut to the raster: offsets beyond it are left out)."""
    height, width = data.shape[1:]
    total = np.zeros((data.shape[0], len(c)), dtype=np.float64)
    count = np.zeros_like(total)
    for dy in range(-half, half + 1):
        for dx in range(-half, half + 1):
            rr, cc = r + dy, c + dx
            ok = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
            v = data[:, np.clip(rr, 0, height - 1), np.clip(cc, 0, width - 1)]
            good = ok & np.isfinite(v)
            total += np.where(good, v, 0.0)
            count += good
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def sample_scene(
    scene: Any,
    exprs: Sequence[Any],
    points: PointSet,
    *,
    spec: SampleSpec,
    resampling: str,
    block: int = BLOCK,
) -> Samples:
    """Indices ``exprs`` of ``scene`` at ``points``: the pixels of the scene's index
    rasters (:func:`rasterflow.indices.window_indices`, the same masking and bits),
    computed only in the windows that hold points."""
    from rasterflow.indices import window_indices
    from rasterflow.scenes import scene_grid

    exprs = tuple(exprs)
    grid = scene_grid(scene, set().union(*(e.roles for e in exprs)))
    x, y = points.to_crs(grid.crs)

    def read(window: tuple[int, int, int, int]) -> np.ndarray:
        return window_indices(scene, exprs, grid, window, resampling=resampling)

    return sample(
        x,
        y,
        shape=grid.shape.yx,
        affine=grid.affine,
        read=read,
        products=len(exprs),
        spec=spec,
        block=block,
    )


def sample_raster(path: str, points: PointSet, *, spec: SampleSpec, band: int = 1) -> Samples:
    """Band ``band`` of the raster at ``path`` at ``points``; its nodata -> NaN."""
    from rasterio.windows import Window

    from rasterflow.io import open_raster

    with open_raster(path, what=f"points: raster {path}") as src:
        x, y = points.to_crs(src.crs.to_wkt())

        def read(window: tuple[int, int, int, int]) -> np.ndarray:
            masked = src.read(band, window=Window(*window), masked=True)
            return np.ma.filled(masked.astype(np.float64), np.nan)[None]

        return sample(
            x,
            y,
            shape=(src.height, src.width),
            affine=src.transform,
            read=read,
            products=1,
            spec=spec,
        )


# --------------------------------------------------------------------------- tables


def samples_table(
    samples: Samples,
    *,
    products: Sequence[str],
    kind: str,
    source: str,
    date: dt.date,
    outside: str = "keep",
) -> Any:
    """Long rows of one raster's ``samples`` as a pyarrow Table of :func:`part_schema`:
    ``point`` (the row in the points file), then :data:`COLUMNS`; by product, then
    point order.

    Built as Arrow arrays, the repeated texts dictionary-encoded: through pandas (an
    object column per row) the part tables took as long as the sampling (profiled,
    100,000 points x 8 scenes).
    """
    import pyarrow as pa

    n = samples.values.shape[1]
    points = np.arange(n, dtype=np.int64)
    if outside == "drop":
        points = points[samples.inside]
    m = len(points)
    zeros = pa.array(np.zeros(m * len(products), dtype=np.int32))

    def constant(values: Sequence[str], codes: Any = None) -> Any:
        return pa.DictionaryArray.from_arrays(
            zeros if codes is None else codes, pa.array(list(values), type=pa.string())
        )

    values = samples.values[:, points].ravel()
    codes = pa.array(np.repeat(np.arange(len(products), dtype=np.int32), m))
    day = np.datetime64(date.isoformat(), "D")
    return pa.Table.from_arrays(
        [
            pa.array(np.tile(points, len(products))),
            constant([kind]),
            constant([source]),
            pa.array(np.full(m * len(products), day)).cast(pa.date32()),
            constant(products, codes),
            pa.array(values),
            pa.array(np.isfinite(values)),
        ],
        schema=part_schema(),
    )


def part_schema() -> Any:
    """The columns of a job's part table: ``point`` (row in the points file), then
    :data:`COLUMNS`; the texts dictionary-encoded (a few values over many rows)."""
    import pyarrow as pa

    text = pa.dictionary(pa.int32(), pa.string())
    return pa.schema(
        [
            ("point", pa.int64()),
            ("kind", text),
            ("source", text),
            ("date", pa.date32()),
            ("product", text),
            ("value", pa.float64()),
            ("valid", pa.bool_()),
        ]
    )


#: Scenes sampled at a time in a job (as Dask tasks side by side), their rows written
#: before the next: a job's memory is that of a few scenes' values, whatever the batch
SCENES_AT_ONCE = 8


@contextmanager
def _part_writer(output: str | os.PathLike[str], params: Mapping[str, Any]) -> Iterator[Any]:
    """A ParquetWriter of :func:`part_schema` rows into ``output``, renamed into place
    when the block ends without an error."""
    import pyarrow.parquet as pq

    from rasterflow.atomic import atomic_output
    from rasterflow.io import provenance_tags

    tags = provenance_tags(inputs=[], params=params)
    schema = part_schema().with_metadata({k.encode(): v.encode() for k, v in tags.items()})
    with atomic_output(output) as tmp:
        writer = pq.ParquetWriter(tmp, schema)
        try:
            yield writer
        finally:
            writer.close()


# --------------------------------------------------------------------------- steps


def run_scenes(
    *,
    points_file: str,
    layer: str | int | None,
    id_column: str,
    scenes: Sequence[Mapping[str, Any]],
    expressions: Mapping[str, str],
    output: str,
    method: str,
    window: int,
    outside: str,
    resampling: str,
) -> int:
    """Every index ``expressions`` of each scene (``Scene.to_params`` form) at the
    points, one Dask task per scene, into the part table ``output``; returns its rows."""
    import dask

    from rasterflow.indices import parse
    from rasterflow.io import close_cached
    from rasterflow.scenes import Scene

    spec = SampleSpec(method, window)
    pts = PointSet.of(read_points(points_file, layer=layer, id_column=id_column))
    exprs = [parse(name, text) for name, text in expressions.items()]
    shared = dask.delayed(pts, traverse=False)
    rows = 0
    with _part_writer(
        output,
        {
            "kind": "scene",
            "scenes": [s["id"] for s in scenes],
            "expressions": dict(expressions),
            "method": method,
            "window": window,
            "resampling": resampling,
        },
    ) as writer:
        for start in range(0, len(scenes), SCENES_AT_ONCE):
            group = scenes[start : start + SCENES_AT_ONCE]
            results = dask.compute(
                *[
                    dask.delayed(sample_scene)(
                        Scene.from_params(params), exprs, shared, spec=spec, resampling=resampling
                    )
                    for params in group
                ]
            )
            for params, got in zip(group, results, strict=True):
                table = samples_table(
                    got,
                    products=list(expressions),
                    kind="scene",
                    source=params["id"],
                    date=dt.date.fromisoformat(params["date"]),
                    outside=outside,
                )
                writer.write_table(table)
                rows += len(table)
                log.info(
                    "scene %s: %d of %d points on the scene, %d valid values",
                    params["id"],
                    int(got.inside.sum()),
                    len(pts),
                    int(got.valid.sum()),
                )
    close_cached()
    return rows


def run_rasters(
    *,
    points_file: str,
    layer: str | int | None,
    id_column: str,
    rasters: Mapping[str, str],
    kind: str,
    source: str,
    date: str,
    output: str,
    method: str,
    window: int,
    outside: str,
) -> int:
    """Each raster of ``rasters`` (product -> path, e.g. a period's mosaics) at the
    points, into the part table ``output``; returns its rows."""
    spec = SampleSpec(method, window)
    pts = PointSet.of(read_points(points_file, layer=layer, id_column=id_column))
    day = dt.date.fromisoformat(date)
    rows = 0
    with _part_writer(
        output,
        {
            "kind": kind,
            "source": source,
            "rasters": dict(rasters),
            "method": method,
            "window": window,
        },
    ) as writer:
        for product, path in rasters.items():
            got = sample_raster(path, pts, spec=spec)
            table = samples_table(
                got, products=[product], kind=kind, source=source, date=day, outside=outside
            )
            writer.write_table(table)
            rows += len(table)
            log.info(
                "%s %s %s: %d of %d points on the raster, %d valid values",
                kind,
                source,
                product,
                int(got.inside.sum()),
                len(pts),
                int(got.valid.sum()),
            )
    return rows


def geo_metadata(points: gpd.GeoDataFrame, column: str = "geometry") -> dict[str, Any]:
    """GeoParquet 1.0 metadata of WKB point geometries in ``points``' CRS."""
    return {
        "version": "1.0.0",
        "primary_column": column,
        "columns": {
            column: {
                "encoding": "WKB",
                "geometry_types": ["Point"],
                "crs": points.crs.to_json_dict(),
                "bbox": [float(v) for v in points.total_bounds],
            }
        },
    }


def write_table(
    *,
    points_file: str,
    layer: str | int | None,
    id_column: str,
    parts: Sequence[str],
    outputs: Mapping[str, str],
    params: Mapping[str, Any],
) -> int:
    """The long table: each part's rows with the point's id, attributes and geometry,
    streamed part by part into ``outputs`` (format -> path: ``parquet`` GeoParquet in
    the points' CRS, ``csv`` without geometry), atomically; returns the rows."""
    import json
    from contextlib import ExitStack

    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from rasterflow.atomic import atomic_output
    from rasterflow.io import provenance_tags

    points = read_points(points_file, layer=layer, id_column=id_column)
    geom = points.geometry.name
    attrs = [c for c in points.columns if c not in (id_column, geom)]
    base = pa.Table.from_pandas(
        points[[id_column, *attrs]].reset_index(drop=True), preserve_index=False
    )
    wkb = pa.array(points.geometry.to_wkb(), type=pa.binary())
    tags = provenance_tags(inputs=[points_file], params=dict(params))
    part = part_schema()
    schema = base.schema
    for name in COLUMNS:
        schema = schema.append(part.field(name))
    meta = {
        b"geo": json.dumps(geo_metadata(points)).encode(),
        **{k.encode(): v.encode() for k, v in tags.items()},
    }
    rows = 0
    with ExitStack() as stack:
        # renamed into place as the stack unwinds, after the writers below are closed
        tmps = {fmt: stack.enter_context(atomic_output(path)) for fmt, path in outputs.items()}
        writers: dict[str, Any] = {}
        try:
            for fmt, tmp in tmps.items():
                writers[fmt] = (
                    pq.ParquetWriter(
                        tmp, schema.append(pa.field("geometry", pa.binary())).with_metadata(meta)
                    )
                    if fmt == "parquet"
                    else pcsv.CSVWriter(tmp, _plain(schema))
                )
            for path in parts:
                table = pq.read_table(path)
                take = table.column("point")
                out = base.take(take)
                for name in COLUMNS:
                    out = out.append_column(part.field(name), table.column(name))
                rows += len(out)
                for fmt, writer in writers.items():
                    writer.write_table(
                        out.append_column("geometry", wkb.take(take))
                        if fmt == "parquet"
                        else out.cast(_plain(out.schema))
                    )
        finally:
            for writer in writers.values():
                writer.close()
    log.info("long table of %d rows written to %s", rows, ", ".join(outputs.values()))
    return rows


def _plain(schema: Any) -> Any:
    """``schema`` with dictionary-encoded texts as plain ones (for CSV)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
            for f in schema
        ],
        metadata=schema.metadata,
    )
