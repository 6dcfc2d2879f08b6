"""Composite jobs: which (tile, period) pairs have scenes (:func:`plan_jobs`), the chunk
side (:func:`auto_chunk`), and :func:`run` / :func:`run_scenes`, which compute a job's
products and write them as COGs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rasterflow.composite._blocks import composite_array
from rasterflow.composite._reduce import COUNT_NODATA, parse_statistic
from rasterflow.composite._sources import Source, inspect_scenes, inspect_sources
from rasterflow.errors import InputDataError

if TYPE_CHECKING:
    from odc.geo.geobox import GeoBox

    from rasterflow.band_composite import BandSpec
    from rasterflow.scenes import Scene

# the package's name, as before the split: log lines keep their logger
log = logging.getLogger("rasterflow.composite")

#: the chunk sides :func:`auto_chunk` picks from, largest first
AUTO_CHUNKS = (2048, 1024, 512, 256)


def auto_chunk(
    scenes: int, tile_px: tuple[int, int], *, threads: int, memory_per_thread: float | None
) -> int:
    """The chunk side when none is configured: the largest of :data:`AUTO_CHUNKS` that
    cuts the (rows, cols) tile into at least ``threads`` chunks and whose task memory,
    (2.5 n + 4) x chunk^2 x 4 bytes for n scenes (see "Memory" in
    :mod:`rasterflow.composite`), is at most half of ``memory_per_thread`` bytes; 512
    when that is unknown.

    Fewer, larger chunks mean fewer tasks, and each task costs the job's in-process
    scheduler a round trip: a 1024² tile took 2.4x its I/O floor in 512² chunks and
    1.8x in one chunk (docs/benchmarks.md, composite, fifth round).
    """
    if memory_per_thread is None:
        return 512
    ny, nx = tile_px
    for chunk in AUTO_CHUNKS:
        pieces = math.ceil(ny / chunk) * math.ceil(nx / chunk)
        if pieces >= threads and (2.5 * scenes + 4) * chunk * chunk * 4 <= memory_per_thread / 2:
            return chunk
    return AUTO_CHUNKS[-1]


def _cluster_threads_and_memory() -> tuple[int, float | None]:
    """(threads, memory limit per thread in bytes) of the active Dask client's workers,
    or of a step on the synchronous scheduler; (1, None) without either or before any
    worker has joined."""
    from rasterflow.cluster import active_client, job_threads_and_memory

    if (job := job_threads_and_memory()) is not None:
        return job
    if (client := active_client()) is None:
        return 1, None
    workers = list(client.scheduler_info()["workers"].values())
    per_thread = [
        w["memory_limit"] / w["nthreads"]
        for w in workers
        if w.get("memory_limit") and w.get("nthreads")
    ]
    return max(1, sum(w.get("nthreads", 0) for w in workers)), min(per_thread, default=None)


def run(
    *,
    inputs: Sequence[str],
    tile: GeoBox | Mapping[str, Any],
    output: str,
    count_output: str | None = None,
    statistic: str = "median",
    resampling: str = "bilinear",
    chunk: int | None = None,
    threads: int = 1,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Composite index rasters ``inputs`` over ``tile`` into COGs: float32 statistic,
    uint16 count.

    ``tile`` is a GeoBox or its :func:`rasterflow.grid.geobox_to_params` dict (what a
    Snakemake rule passes in ``params``). ``tags`` (e.g. TILE, PERIOD, INDEX) are added
    to both products next to the provenance tags. Computation runs on the active Dask
    scheduler (the job's ``dask_client``); ``threads`` goes to GDAL's COG writer.
    ``chunk`` None: :func:`auto_chunk` for that scheduler's threads and memory.
    """
    from rasterflow.grid import geobox_from_params

    if not inputs:
        raise InputDataError(
            f"composite {output}: no input rasters. plan_jobs() never schedules a tile "
            "and period without scenes; check the rule's input function"
        )
    box = geobox_from_params(tile)
    sources = inspect_sources(inputs, box)
    names = {s.band_name for s in sources}
    index = names.pop() if len(names) == 1 else ""
    # the inputs' unit (indices are unitless: "1"), when they all agree
    units = sources[0].units if len({s.units for s in sources}) == 1 else ""
    _composite(
        sources,
        box,
        products=[(index, output, count_output, {})],
        units=units,
        inputs=[s.path for s in sources],
        params={},
        statistic=statistic,
        resampling=resampling,
        chunk=chunk,
        threads=threads,
        tags=tags,
    )


def run_scenes(
    *,
    scenes: Sequence[Scene | Mapping[str, Any]],
    expressions: Mapping[str, str],
    tile: GeoBox | Mapping[str, Any],
    outputs: Sequence[str],
    count_outputs: Sequence[str],
    statistic: str = "median",
    resampling: str = "bilinear",
    scene_resampling: str = "bilinear",
    chunk: int | None = None,
    threads: int = 1,
    tags: Mapping[str, str] | None = None,
    bands: Mapping[str, Any] | None = None,
    band_output: str | None = None,
    band_count_output: str | None = None,
) -> None:
    """Composite the indices ``expressions`` (name -> text) of ``scenes`` (or their
    ``Scene.to_params`` dicts) over ``tile``, computed in memory from the scenes' bands:
    one statistic and one count COG per index, in ``outputs`` and ``count_outputs``.

    ``bands`` (the fields of :class:`rasterflow.band_composite.BandSpec`: roles,
    statistic, score, score_text, tolerance, max_iterations) adds one multi-band float32
    COG ``band_output`` (the bands' reflectance, then for medoid and quality the chosen
    observation's ``date``) and its uint16 count ``band_count_output``, from the same
    windows in the same pass.

    The pixels equal :func:`run`'s on the index rasters :func:`rasterflow.indices.run_all`
    would write for the scenes (``scene_resampling`` is theirs for bands off a scene's
    finest grid); each band is decoded once for all indices, and no index raster is
    written or read. Arguments as for :func:`run`; ``tags`` gets INDEX per product.
    """
    from rasterflow.grid import geobox_from_params
    from rasterflow.indices import parse
    from rasterflow.scenes import Scene

    if not scenes:
        raise InputDataError(
            f"composite {', '.join(outputs)}: no scenes. plan_jobs() never schedules a "
            "tile and period without scenes; check the rule's params"
        )
    if not len(expressions) == len(outputs) == len(count_outputs):
        raise ValueError(
            f"{len(expressions)} indices but {len(outputs)} outputs and "
            f"{len(count_outputs)} count outputs"
        )
    exprs = [parse(name, text) for name, text in expressions.items()]
    spec = None
    if bands is not None:
        from rasterflow.band_composite import BandSpec

        if band_output is None:
            raise ValueError("run_scenes: bands without a band_output")
        spec = BandSpec(**{**bands, "roles": tuple(bands["roles"])})
        # each band is an expression of itself (scaled, nodata and mask -> NaN), then the
        # score: window_indices decodes every band once for indices and bands
        layers = [parse(r, r) for r in spec.roles]
        if spec.statistic == "quality" and spec.score_text:
            layers.append(parse(spec.score, spec.score_text))
        exprs_all = [*exprs, *layers]
    else:
        exprs_all = exprs
    box = geobox_from_params(tile)
    objs = [s if isinstance(s, Scene) else Scene.from_params(s) for s in scenes]
    sources = inspect_scenes(
        objs,
        exprs_all,
        box,
        resampling=scene_resampling,
        cloud_reach=spec.cloud_distance if spec is not None and spec.cloud_layers else 0.0,
        fractions=spec is not None and spec.statistic == "quality" and spec.valid_weight > 0,
    )
    roles = sorted(set().union(*(e.roles for e in exprs_all)))
    by_id = {s.id: s for s in objs}
    inputs = [f for src in sources for f in by_id[src.scene].files(roles)]
    params: dict[str, Any] = {
        "expressions": dict(expressions),
        "scene_resampling": scene_resampling,
    }
    if bands is not None:
        params["bands"] = {**bands, "roles": list(bands["roles"])}
    _composite(
        sources,
        box,
        units="1",
        inputs=inputs,
        params=params,
        statistic=statistic,
        resampling=resampling,
        chunk=chunk,
        threads=threads,
        tags=tags,
        products=[
            (e.name, o, c, {"INDEX": e.name})
            for e, o, c in zip(exprs, outputs, count_outputs, strict=True)
        ],
        bands=spec,
        band_outputs=(band_output or "", band_count_output),
    )


def _composite(
    sources: list[Source],
    box: GeoBox,
    *,
    products: Sequence[tuple[str, str, str | None, Mapping[str, str]]],
    units: str,
    inputs: list[str],
    params: Mapping[str, Any],
    statistic: str,
    resampling: str,
    chunk: int | None,
    threads: int,
    tags: Mapping[str, str] | None,
    bands: BandSpec | None = None,
    band_outputs: tuple[str, str | None] | None = None,
) -> None:
    """Compute and write ``products``, (index, statistic path, count path or None, tags)
    per index layer of ``sources``, and with ``bands`` the band composite into
    ``band_outputs`` (its COG, its count COG or None), in one ``da.store``: each source
    is read and warped once."""
    from rasterflow.grid import crs_of, geobox_to_params
    from rasterflow.io import Cog, close_cached, provenance_tags, write_cogs

    stat = parse_statistic(statistic)
    if chunk is None:
        workers, memory = _cluster_threads_and_memory()
        # a scene source holds a window per index: count it as that many scenes; a band
        # composite also holds its warped (layers, scenes) stack: twice its layers
        per_scene = len(products) + (2 * bands.layers if bands is not None else 0)
        chunk = auto_chunk(
            len(sources) * per_scene, box.shape.yx, threads=workers, memory_per_thread=memory
        )
    arr = composite_array(
        sources, box, statistic=stat, resampling=resampling, chunk=chunk, bands=bands
    )
    ny, nx = box.shape.yx
    log.info(
        "composite %s of %d scene(s) onto %d x %d pixels (%s, %s resampling, chunk %d)",
        stat.name,
        len(sources),
        nx,
        ny,
        crs_of(box).epsg or "custom CRS",
        resampling,
        chunk,
    )
    prov = provenance_tags(
        inputs=inputs,
        params={
            "statistic": stat.name,
            "resampling": resampling,
            "tile": geobox_to_params(box),
            "dates": [s.date for s in sources],
            "scenes": [s.scene for s in sources],
            **params,
        },
    )
    grid = {"crs": crs_of(box).to_wkt(), "transform": box.affine}
    cogs = []
    for j, (index, output, count_output, own) in enumerate(products):
        common = {**prov, **(tags or {}), **own, "N_SCENES": str(len(sources))}
        prefix = f"{index}_" if index else ""
        cogs.append(
            Cog(
                arr[2 * j],
                output,
                nodata=np.nan,
                tags={**common, "PRODUCT": stat.name},
                band_names=[f"{prefix}{stat.name}"],
                band_tags=[{"INDEX": index, "STATISTIC": stat.name, "UNITS": units}],
                **grid,
            )
        )
        if count_output is not None:
            cogs.append(
                Cog(
                    arr[2 * j + 1].astype(np.uint16),
                    count_output,
                    nodata=COUNT_NODATA,
                    tags={**common, "PRODUCT": "count"},
                    band_names=[f"{prefix}count"],
                    band_tags=[{"INDEX": index, "STATISTIC": "count", "UNITS": "observations"}],
                    **grid,
                )
            )
    if bands is not None and band_outputs is not None:
        cogs += _band_cogs(
            arr[2 * len(products) :],
            bands,
            band_outputs,
            grid=grid,
            tags={**prov, **(tags or {}), "N_SCENES": str(len(sources))},
        )
    # one da.store computes every product: the scenes are read and warped once
    write_cogs(cogs, threads=threads)
    close_cached()  # not after a failure: other threads may still read (the process exits)
    log.info("composite written to %s", ", ".join(str(c.path) for c in cogs))


def _band_cogs(
    planes: Any,
    bands: BandSpec,
    paths: tuple[str, str | None],
    *,
    grid: Mapping[str, Any],
    tags: Mapping[str, str],
) -> list[Any]:
    """The band composite's COG (bands as reflectance, then the ``date`` band for
    medoid and quality) and its count COG, from :func:`band_block`'s planes."""
    from rasterflow.band_composite import DATE_UNITS
    from rasterflow.io import Cog

    nb = len(bands.roles)
    common = {**tags, "PRODUCT": "bands", "BAND_STATISTIC": bands.statistic}
    if bands.statistic == "quality":
        terms = [f"{bands.score} = {bands.score_text}"] if bands.score_text else []
        if bands.target_day is not None:
            terms.append(
                f"{bands.day_weight!r} x exp(-d^2 / (2 x {bands.day_sigma!r}^2)), "
                f"d = days from day of year {bands.target_day}"
            )
        if bands.cloud_layers:
            d = bands.cloud_distance
            terms.append(
                f"{bands.cloud_weight!r} / (1 + exp(-10 / {d!r} x (d - {d / 2!r}))), "
                "d = distance to the nearest unclear pixel"
            )
        if bands.valid_weight:
            terms.append(f"{bands.valid_weight!r} x the scene's clear fraction")
        common["QUALITY_SCORE"] = " + ".join(terms)
    if bands.statistic == "geomedian":
        common["GEOMEDIAN_TOLERANCE"] = repr(float(bands.tolerance))
        common["GEOMEDIAN_MAX_ITERATIONS"] = str(bands.max_iterations)
    names = list(bands.roles)
    band_tags = [
        {"BAND": r, "STATISTIC": bands.statistic, "UNITS": "reflectance"} for r in bands.roles
    ]
    if bands.has_date:
        names.append("date")
        band_tags.append({"STATISTIC": "date", "UNITS": DATE_UNITS})
    out = [
        Cog(
            planes[: len(names)],
            paths[0],
            nodata=np.nan,
            tags=common,
            band_names=names,
            band_tags=band_tags,
            **grid,
        )
    ]
    if paths[1] is not None:
        out.append(
            Cog(
                planes[nb + 1].astype(np.uint16),
                paths[1],
                nodata=COUNT_NODATA,
                tags={**common, "PRODUCT": "bands_count"},
                band_names=["count"],
                band_tags=[{"STATISTIC": "count", "UNITS": "observations"}],
                **grid,
            )
        )
    return out


def plan_jobs(
    touched: Mapping[str, Sequence[str]], periods: Mapping[str, Sequence[str]]
) -> dict[tuple[str, str], list[str]]:
    """(tile id, period id) -> scene ids, for every pair with at least one scene.

    ``touched`` is :func:`rasterflow.grid.tiles_touched`, ``periods`` is
    :func:`rasterflow.periods.group_by_period`; scenes keep the period's order.
    """
    # one pass over the scenes of each tile, not over every scene of every period for
    # each tile: 100,000 scenes on 1,000 tiles would be 10^8 membership tests
    where: dict[str, list[tuple[str, int]]] = {}  # scene -> (period, position in it)
    for period_id, scenes in periods.items():
        for pos, scene in enumerate(scenes):
            where.setdefault(scene, []).append((period_id, pos))
    jobs: dict[tuple[str, str], list[str]] = {}
    for tile_id, on_tile in touched.items():
        found: dict[str, list[tuple[int, str]]] = {}
        for scene in dict.fromkeys(on_tile):
            for period_id, pos in where.get(scene, ()):
                found.setdefault(period_id, []).append((pos, scene))
        for period_id in periods:
            if period_id in found:
                jobs[(tile_id, period_id)] = [s for _pos, s in sorted(found[period_id])]
    return jobs
