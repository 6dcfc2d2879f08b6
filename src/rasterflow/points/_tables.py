"""Points' tables: a raster's samples as long rows (:func:`samples_table`), a job's part
table, and the long table of all parts with the points' ids, attributes and geometry
(:func:`write_table`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import geopandas as gpd

from rasterflow.points._points import COLUMNS, Samples, read_points

# the package's name, as before the split: log lines keep their logger
log = logging.getLogger("rasterflow.points")


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
