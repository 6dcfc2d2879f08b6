"""Points' job steps: the scenes' indices (:func:`run_scenes`) or a period's rasters
(:func:`run_rasters`) at the points, into a job's part table.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from rasterflow.points._points import PointSet, SampleSpec, read_points
from rasterflow.points._sample import sample_raster, sample_scene
from rasterflow.points._tables import _part_writer, samples_table

# the package's name, as before the split: log lines keep their logger
log = logging.getLogger("rasterflow.points")

#: Scenes sampled at a time in a job (as Dask tasks side by side), their rows written
#: before the next: a job's memory is that of a few scenes' values, whatever the batch
SCENES_AT_ONCE = 8


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
