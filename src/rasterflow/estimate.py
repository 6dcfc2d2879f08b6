"""What a run will cost, before it runs: core-hours, bytes read and written, memory.

Each heavy job's cost is modelled as ``fixed + rate x units``, where the units are what
the job's work grows with and are known from the plan without reading pixels:

* ``index``: megapixels of the scene's band files (from their headers);
* ``composite``: tile megapixels x scenes x indices composited (samples warped);
* ``mosaic``: grid megapixels x indices (statistic and count);
* ``terrain``: DEM megapixels x products;
* ``trend``: grid megapixels x indices x periods (mosaic values fitted);
* ``contours``: megapixels of the contoured raster (the cost also grows with the
  number of levels and lines, which the default rate takes from its benchmark);
* ``zonal``: one unit a job (its cost is mostly the zones', not known here);
* ``points_scenes``, ``points_periods``: million values sampled (points x scenes or
  periods x indices);
* ``points_table``: million rows of the long table.

The default rates were measured on this project's 2-core benchmark machine
(``benchmarks/e2e_bench.py``, docs/benchmarks.md). After a run, :func:`calibrate`
refits each rule's rate from its jobs' ``benchmark:`` files (``cpu_time``, ``max_rss``)
and the sizes of the outputs they wrote, so the estimate of the next run (more scenes,
another period) speaks for this data on this machine. Light jobs (report, STAC) are
not counted: seconds each, on the login node.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rasterflow.workflow import WorkflowPlan


@dataclass(frozen=True)
class Job:
    """One planned heavy job, as the estimate sees it."""

    rule: str
    units: float | None  # None: not known before the run (the demo's scenes)
    benchmark: str  # its benchmark: file (what calibrate reads after the run)
    outputs: tuple[str, ...]
    mem_mb: int  # what the rule asks for (first attempt)
    reads: int = 0  # bytes of input files known to planning (the scenes)


@dataclass(frozen=True)
class Rate:
    """CPU seconds = fixed + per_unit x units; bytes written = write_per_unit x units."""

    fixed: float
    per_unit: float
    write_per_unit: float
    peak_mb: float | None = None  # largest max_rss seen in a calibrating run
    calibrated_jobs: int = 0


#: measured on the quiet 2-core benchmark machine, the end-to-end benchmark at its
#: default size (docs/benchmarks.md, "End to end"); the fixed part is a heavy job's
#: start, imports, cluster and tail (the benchmark's per-rule split)
DEFAULT_RATES: dict[str, Rate] = {
    "index": Rate(fixed=2.0, per_unit=0.101, write_per_unit=2.46e6),
    "composite": Rate(fixed=2.0, per_unit=0.0605, write_per_unit=1.17e6),
    "mosaic": Rate(fixed=2.0, per_unit=0.083, write_per_unit=3.3e6),
    "terrain": Rate(fixed=2.5, per_unit=0.080, write_per_unit=2.5e6),
    # benchmarks/trend_bench.py: 1024² x 12 periods read, fitted and written in 1.75 s;
    # its three float32 bands (~12 bytes a pixel) over 12 periods, before compression
    "trend": Rate(fixed=2.0, per_unit=0.15, write_per_unit=1.0e6),
    # benchmarks/contours_bench.py: 4096² DEM, 31 levels, 203,132 lines, GeoPackage
    "contours": Rate(fixed=3.0, per_unit=0.95, write_per_unit=6.1e6),
    "zonal": Rate(fixed=3.0, per_unit=0.0, write_per_unit=0.0),
    # benchmarks/points_bench.py (docs/benchmarks.md, Points): 100,000 points x 50 scenes
    # x 2 indices sampled in 6.63 CPU s into an 88 MB part; its 10 M rows joined in
    # 6.84 s into 253 MB of GeoParquet
    "points_scenes": Rate(fixed=2.0, per_unit=0.66, write_per_unit=8.8e6),
    "points_periods": Rate(fixed=2.0, per_unit=0.66, write_per_unit=8.8e6),
    "points_table": Rate(fixed=2.0, per_unit=0.68, write_per_unit=25.3e6),
}


@dataclass(frozen=True)
class RuleEstimate:
    """The expected cost of one rule's planned jobs, summed over them."""

    rule: str
    jobs: int
    cpu_s: float
    read_bytes: int
    write_bytes: float
    mem_mb: int  # the largest request of a job of the rule
    peak_mb: float | None  # the largest max_rss seen when calibrated
    unknown: int  # jobs whose units planning cannot know


def _read_benchmark(path: str) -> tuple[float, float] | None:
    """(cpu_time s, max_rss MB) of a Snakemake benchmark file; None if missing/unusable."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        last = rows[-1]
        return float(last["cpu_time"]), float(last["max_rss"])
    except (OSError, IndexError, KeyError, ValueError):
        return None


def calibrate(jobs: Iterable[Job], rates: Mapping[str, Rate] = DEFAULT_RATES) -> dict[str, Rate]:
    """Rates refitted from the jobs that already ran (their benchmark files exist).

    Per rule, with its fixed part kept: per_unit = sum(cpu - fixed) / sum(units) and
    write_per_unit = sum(output bytes) / sum(units) over the jobs that ran. Rules
    without such jobs keep their rate.
    """
    seen: dict[str, list[tuple[Job, float, float]]] = {}
    for job in jobs:
        if job.units is None or job.units <= 0 or job.rule not in rates:
            continue
        measured = _read_benchmark(job.benchmark)
        if measured is not None:
            seen.setdefault(job.rule, []).append((job, *measured))
    out = dict(rates)
    for rule, ran in seen.items():
        base = rates[rule]
        units = sum(j.units for j, _cpu, _rss in ran if j.units)
        written = sum(
            os.path.getsize(o) for j, _c, _r in ran for o in j.outputs if os.path.exists(o)
        )
        work = sum(max(0.0, cpu - base.fixed) for _j, cpu, _r in ran)
        out[rule] = replace(
            base,
            per_unit=work / units,
            write_per_unit=written / units,
            peak_mb=max(rss for _j, _c, rss in ran),
            calibrated_jobs=len(ran),
        )
    return out


def estimate(jobs: Iterable[Job], rates: Mapping[str, Rate] = DEFAULT_RATES) -> list[RuleEstimate]:
    """Per rule: jobs, CPU seconds, bytes read (known inputs) and written, memory."""
    by_rule: dict[str, list[Job]] = {}
    for job in jobs:
        by_rule.setdefault(job.rule, []).append(job)
    out = []
    for rule, group in by_rule.items():
        rate = rates.get(rule, Rate(fixed=2.0, per_unit=0.0, write_per_unit=0.0))
        known = [j for j in group if j.units is not None]
        out.append(
            RuleEstimate(
                rule=rule,
                jobs=len(group),
                cpu_s=rate.fixed * len(group) + rate.per_unit * sum(j.units or 0 for j in known),
                read_bytes=sum(j.reads for j in group),
                write_bytes=rate.write_per_unit * sum(j.units or 0 for j in known),
                mem_mb=max(j.mem_mb for j in group),
                peak_mb=rate.peak_mb,
                unknown=len(group) - len(known),
            )
        )
    return out


#: at most this many scene headers are opened for an estimate (planned_jobs)
MAX_HEADER_READS = 2000


def planned_jobs(plan: WorkflowPlan, *, mem_mb: int) -> list[Job]:
    """The heavy jobs of ``plan`` (rasterflow.workflow), each asking ``mem_mb`` first."""
    from collections import Counter

    from rasterflow.io import open_raster
    from rasterflow.planning import cached_headers

    paths = plan.paths
    roles = sorted(set(plan.index_roles) | set(plan.composite_roles if plan.direct else ()))
    headers = dict(plan.headers)
    if not headers:  # a cached plan, or the demo: headers of the files that exist
        files = sorted({f for sc in plan.scenes.values() for f in sc.files(roles)})
        # those the cache lacks are opened when few: an estimate is worth a second of
        # header reads, not the minutes of 100,000 (a STAC plan states its headers)
        headers = cached_headers(
            files,
            cache=f"{plan.cache_dir}/headers.json",
            open_missing=len(files) <= MAX_HEADER_READS,
        )

    def scene_units(sid: str, roles: Sequence[str]) -> tuple[float | None, int]:
        files = plan.scenes[sid].files(roles)
        if not all(f in headers for f in files):
            return None, 0
        return (
            sum(headers[f].width * headers[f].height for f in files) / 1e6,
            sum((headers[f].stamp or (0, 0))[0] for f in files),
        )

    jobs = []
    groups = plan.batches.items() if plan.batched else ((s, [s]) for s in plan.scenes)
    for name, members in groups if plan.scene_indices else ():
        parts = [scene_units(s, plan.index_roles) for s in members]
        units = None if any(u is None for u, _ in parts) else sum(u or 0 for u, _ in parts)
        where = f"index/_batches/{name}" if plan.batched else f"index/{name}"
        outs = tuple(paths.index(s, i) for s in members for i in plan.scene_indices)
        jobs.append(
            Job("index", units, paths.benchmarks(where), outs, mem_mb, sum(r for _, r in parts))
        )
    # from the bands, a composite reads its share of each scene's files: the scene's
    # bytes over the composites it goes into
    shares = Counter(s for scenes in plan.composites.values() for s in scenes)
    for (tile, period), scenes in plan.composites.items():
        px = plan.tiles[tile].shape.x * plan.tiles[tile].shape.y / 1e6
        outs = tuple(paths.composite(period, i, tile) for i in plan.composite_indices)
        reads = 0
        if plan.direct:
            reads = sum(scene_units(s, plan.composite_roles)[1] // shares[s] for s in scenes)
        jobs.append(
            Job(
                "composite",
                px * len(scenes) * len(plan.composite_indices),
                paths.benchmarks(f"composite/{period}/{tile}"),
                outs,
                mem_mb,
                reads,
            )
        )
    for period in plan.periods:
        px = plan.grid.shape.x * plan.grid.shape.y / 1e6
        outs = tuple(paths.mosaic(period, i) for i in plan.composite_indices)
        jobs.append(
            Job(
                "mosaic",
                px * len(plan.composite_indices),
                paths.benchmarks(f"mosaic/{period}"),
                outs,
                mem_mb,
            )
        )
    if plan.terrain_products:
        units = None
        if os.path.exists(plan.dem):
            with open_raster(plan.dem, what="terrain.dem") as src:
                units = src.width * src.height / 1e6 * len(plan.terrain_products)
        outs = tuple(paths.terrain(p) for p in plan.terrain_products)
        jobs.append(Job("terrain", units, paths.benchmarks("terrain"), outs, mem_mb))
    if plan.trend_indices:
        px = plan.grid.shape.x * plan.grid.shape.y / 1e6
        jobs.append(
            Job(
                "trend",
                px * len(plan.trend_indices) * len(plan.trend_times),
                paths.benchmarks("trend"),
                tuple(plan.trend_outputs()),
                mem_mb,
            )
        )
    for product, raster in plan.contour_rasters.items():
        units = None
        if os.path.exists(raster):  # a terrain product exists only after its job
            with open_raster(raster, what="contours input") as src:
                units = src.width * src.height / 1e6
        jobs.append(
            Job(
                "contours",
                units,
                paths.benchmarks(f"contours/{product}"),
                tuple(plan.contour_outputs(product)),
                mem_mb,
            )
        )
    for product, period in plan.zonal_targets:
        jobs.append(Job("zonal", 1.0, paths.benchmarks(f"zonal/{product}/{period}"), (), mem_mb))
    if plan.points:
        per = plan.point_count / 1e6  # million values per scene or period and index
        # (kind, part, units): each batch of scenes' indices, each period's mosaics;
        # reads: only the blocks that hold points, not known here
        point_parts = [
            ("scenes", batch, per * len(members) * len(plan.point_indices))
            for batch, members in plan.point_batches.items()
        ] + [
            ("periods", period, per * len(plan.composite_indices))
            for period in (plan.periods if plan.composite_indices else ())
        ]
        values = sum(units for _kind, _part, units in point_parts)
        jobs += [
            Job(
                f"points_{kind}",
                units,
                paths.benchmarks(f"points/{kind}/{part}"),
                (paths.points_part(kind, part),),
                mem_mb,
            )
            for kind, part, units in point_parts
        ]
        jobs.append(
            Job(
                "points_table",
                values,
                paths.benchmarks("points/table"),
                tuple(paths.points_table(f) for f in plan.point_formats),
                mem_mb,
            )
        )
    return jobs


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f}" if n >= 1e6 or n == 0 else f"{n / 1e6:.2f}"


def format_estimate(rows: Sequence[RuleEstimate], rates: Mapping[str, Rate]) -> str:
    """The table the dry run prints."""
    calibrated = sum(r.calibrated_jobs for r in rates.values())
    source = (
        f"rates refitted from {calibrated} finished jobs' benchmark files"
        if calibrated
        else "default rates of the 2-core benchmark machine"
    )
    lines = [
        f"rasterflow estimate of the heavy jobs ({source}):",
        f"  {'rule':<14} {'jobs':>6} {'core-h':>9} {'read MB':>10} {'write MB':>10} "
        f"{'mem_mb/job':>11} {'peak seen MB':>13}",
    ]
    for r in rows:
        note = f"  ({r.unknown} of unknown size until their inputs exist)" if r.unknown else ""
        peak = "-" if r.peak_mb is None else f"{r.peak_mb:,.0f}"
        lines.append(
            f"  {r.rule:<14} {r.jobs:>6} {r.cpu_s / 3600:>9.3f} {_mb(r.read_bytes):>10} "
            f"{_mb(r.write_bytes):>10} {r.mem_mb:>11} {peak:>13}{note}"
        )
    total = sum(r.cpu_s for r in rows)
    lines.append(
        f"  total: {sum(r.jobs for r in rows)} heavy jobs, {total / 3600:.3f} "
        f"core-hours ({math.ceil(total):,} CPU s), reads >= "
        f"{_mb(sum(r.read_bytes for r in rows))} MB of scenes, writes ~"
        f"{_mb(sum(r.write_bytes for r in rows))} MB; light jobs not counted"
    )
    return "\n".join(lines)
