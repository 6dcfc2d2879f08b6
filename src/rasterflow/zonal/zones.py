"""The zones: reading and checking a zones file, and its polygons as the engines take them.

Checks run twice: cheaply before any job (:func:`check_zones`, from the workflow's
planning: metadata and the id column only) and in the step on the geometries
(:func:`prepare_geometries`, :func:`check_overlap`). Zones in another CRS are
reprojected vertex by vertex (like ``ogr2ogr`` and ``GeoDataFrame.to_crs``), without
densifying edges; what the engines get is plain WKB, so batches pickle to any worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS

from rasterflow.errors import InputDataError
from rasterflow.ids import check_id_column, some
from rasterflow.io import vector_layer
from rasterflow.zonal.spec import is_stat_column

logger = logging.getLogger(__name__)


def read_zones(path: str | os.PathLike[str], *, layer: str | int | None = None) -> gpd.GeoDataFrame:
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
    except Exception as exc:  # noqa: BLE001 (pyogrio/pyarrow raise many types: unreadable)
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
    if (
        ids.dtype.kind == "f"
        and len(ids)
        and not ids.isna().any()
        and np.all(np.isfinite(values))
        and np.all(values == np.round(values))
        and np.all(np.abs(values) < 2**53)
    ):
        return ids.astype(np.int64)
    return ids


def check_ids(zones: gpd.GeoDataFrame, id_column: str, *, source: str) -> None:
    """Raise InputDataError unless ``id_column`` exists in ``zones`` and is unique, not null."""
    check_id_column(
        zones, id_column, source=source, what="zones", key="zonal.id_column", noun="zone"
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
    except Exception as exc:  # noqa: BLE001 (pyogrio raises many types: all mean unreadable)
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


def check_attribute_names(columns: Iterable[Any], *, id_column: str, source: str) -> None:
    """Raise InputDataError when a zone attribute is named like a statistic column.

    Zonal tables hold the zones' attributes beside the statistics, and the long table
    (:func:`long_table`) tells the statistics by their names (:func:`is_stat_column`):
    an attribute ``p5``, ``frac_forest`` or ``mean`` would be overwritten by, or mixed
    into, the statistics, whichever statistics are configured now (a later run may add
    them). Refused rather than renamed: a renamed column would surprise whoever reads
    the table by the zones file's names.
    """
    clash = [
        str(c) for c in columns if str(c) != id_column and c != "geometry" and is_stat_column(c)
    ]
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
            f"{some(ids[wrong])}. Zones must be polygons: buffer points/lines or drop them."
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
            some(ids[invalid]),
        )
        collapsed = invalid & shapely.is_empty(arr)
        missing = missing | collapsed
    if missing.any():
        logger.warning(
            "zones: %d zone(s) of %s have no (or an empty) geometry and get count 0 (zone %s %s)",
            int(missing.sum()),
            source,
            id_column,
            some(ids[missing]),
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
