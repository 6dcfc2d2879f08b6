"""The zonal tables: the zones with their statistics, written and read (GeoParquet, CSV,
GeoPackage), stacked into one long table, and :func:`run`, the zonal step's entry.

Tables are written atomically (:func:`rasterflow.atomic.atomic_output`), so a failed step
leaves no partial file; GeoParquet and CSV bytes do not depend on how the statistics
were computed (:mod:`rasterflow.zonal.driver`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd

from rasterflow.atomic import atomic_output
from rasterflow.errors import ConfigError, InputDataError
from rasterflow.io import provenance_tags
from rasterflow.zonal.driver import zonal_statistics
from rasterflow.zonal.spec import DEFAULT_STATS, Rule, is_stat_column
from rasterflow.zonal.zones import check_attribute_names, read_zones, zone_ids

#: Output formats of :func:`write_table`, by the key used in ``outputs``.
FORMATS: tuple[str, ...] = ("parquet", "csv", "gpkg")


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
                    tmp,
                    driver="GPKG",
                    layer=layer,
                    engine="pyogrio",
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
