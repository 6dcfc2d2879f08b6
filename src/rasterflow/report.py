"""Figures and pages for ``snakemake --report``: zonal time series, zonal tables, the
wall time and memory of every job, the Dask performance reports, the config and the
software versions.

Every function takes paths and returns what it wrote; none needs Snakemake. Figures are
PNGs written without time stamps (see :mod:`rasterflow.quicklook`).
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rasterflow.errors import InputDataError
from rasterflow.io import atomic_output
from rasterflow.ownership import replace_folder

#: Distributions whose versions the report lists (besides Python and GDAL).
SOFTWARE = (
    "rasterflow", "snakemake", "snakemake-executor-plugin-slurm", "dask", "distributed",
    "dask-jobqueue", "numpy", "xarray", "rioxarray", "rasterio", "odc-geo", "exactextract",
    "geopandas", "pyogrio", "pyarrow", "pandas", "matplotlib", "rio-cogeo", "pystac",
    "rio-stac",
)

#: More lines than this make a per-zone plot unreadable; the rest are listed as left out.
MAX_ZONES = 20

#: Percentile bands shaded only up to this many zones: more overlap into a grey wash.
MAX_SHADED = 4

#: Above this many jobs the benchmark chart shows one bar per rule instead of per job.
MAX_JOB_BARS = 60

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 14px; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
th {{ background: #f0f0f0; }}
pre {{ background: #f6f6f6; padding: 0.5em; }}
</style></head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def _write_page(output: str | os.PathLike[str], *, title: str, body: str) -> Path:
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as tmp:
        tmp.write_text(_PAGE.format(title=html.escape(title), body=body), encoding="utf-8")
    return target


def _save_png(fig: Any, output: str | os.PathLike[str]) -> Path:
    """Save without Matplotlib's metadata so the bytes carry no version or date noise."""
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    return target


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


# --- zonal time series and tables ----------------------------------------------------


def time_series_table(long: pd.DataFrame, *, id_column: str,
                      period_order: Sequence[str]) -> pd.DataFrame:
    """Rows of ``long`` (the zonal long table) that form time series, periods in order.

    Static products (period ``static``) and periods not in ``period_order`` are dropped;
    the ``period`` column becomes an ordered categorical so sorting is chronological.
    """
    missing = [c for c in (id_column, "product", "period") if c not in long.columns]
    if missing:
        raise InputDataError(
            f"zonal long table lacks column(s) {', '.join(missing)}; rerun zonal_long"
        )
    rows = long[long["period"].isin(period_order)].copy()
    rows["period"] = pd.Categorical(rows["period"], categories=list(period_order),
                                    ordered=True)
    return rows.sort_values(["product", id_column, "period"]).reset_index(drop=True)


def plot_time_series(long: pd.DataFrame, output: str | os.PathLike[str], *, id_column: str,
                     period_order: Sequence[str], statistic: str = "median",
                     band: tuple[str, str] | None = ("p10", "p90")) -> Path:
    """One panel per product: ``statistic`` per zone over the periods, with the
    ``band`` percentiles shaded when the table has them."""
    plt = _pyplot()
    table = time_series_table(long, id_column=id_column, period_order=period_order)
    if statistic not in table.columns:
        statistic = "mean"
    products = list(dict.fromkeys(table["product"])) or ["(no periodic product)"]
    fig, axes = plt.subplots(len(products), 1, figsize=(8, 3.2 * len(products) + 0.8),
                             squeeze=False)
    x = np.arange(len(period_order))
    for ax, product in zip(axes[:, 0], products, strict=True):
        rows = table[table["product"] == product]
        zones = list(dict.fromkeys(rows[id_column]))
        for zone in zones[:MAX_ZONES]:
            z = rows[rows[id_column] == zone]
            pos = z["period"].cat.codes.to_numpy()
            (line,) = ax.plot(pos, z[statistic], marker="o", label=str(zone))
            if band and set(band) <= set(z.columns) and len(zones) <= MAX_SHADED:
                ax.fill_between(pos, z[band[0]], z[band[1]], color=line.get_color(),
                                alpha=0.12, linewidth=0)
        ax.set_xticks(x, list(period_order))
        ax.set_xlim(-0.3, len(period_order) - 0.7)
        shown = f" (first {MAX_ZONES} of {len(zones)} zones)" if len(zones) > MAX_ZONES else ""
        shaded = band and set(band) <= set(rows.columns) and len(zones) <= MAX_SHADED
        shade = f", shaded {band[0]}..{band[1]}" if shaded else ""
        ax.set_title(f"{product}: {statistic} per zone{shade}{shown}")
        ax.set_ylabel(f"{product} {statistic}")
        ax.grid(alpha=0.3)
        if zones:
            ax.legend(title=id_column, fontsize=7, ncol=2, loc="center left",
                      bbox_to_anchor=(1.01, 0.5))
    axes[-1, 0].set_xlabel("period")
    fig.tight_layout()
    out = _save_png(fig, output)
    plt.close(fig)
    return out


#: Points drawn in the points' figure: a few series stay readable.
MAX_POINTS = 6


def series_points(table: str | os.PathLike[str], *, id_column: str,
                  limit: int = MAX_POINTS) -> list[Any]:
    """The first ``limit`` point ids (in table order) with any valid value, read batch
    by batch (``id_column`` and ``valid`` only): a table of 100,000 points over 1,000
    scenes is not loaded to pick six."""
    import pyarrow.parquet as pq

    chosen: dict[Any, None] = {}
    for batch in pq.ParquetFile(table).iter_batches(columns=[id_column, "valid"]):
        frame = batch.to_pandas()
        for point in frame.loc[frame["valid"], id_column]:
            chosen.setdefault(point)
            if len(chosen) >= limit:
                return list(chosen)
    return list(chosen)


def plot_point_series(table: str | os.PathLike[str], output: str | os.PathLike[str], *,
                      id_column: str, limit: int = MAX_POINTS,
                      periods: Mapping[str, Sequence[Any]] | None = None) -> Path:
    """One panel per product: the valid values of a few points (:func:`series_points`)
    by date, each scene a dot and each period's composite a line over the period
    (``periods``: id -> (first, last day); without it a dot at its first day), so a
    point's scenes and their composite are seen together."""
    import pyarrow.parquet as pq

    plt = _pyplot()
    ids = series_points(table, id_column=id_column, limit=limit)
    columns = [id_column, "kind", "source", "date", "product", "value", "valid"]
    rows = (pq.read_table(table, columns=columns, filters=[(id_column, "in", ids)])
            .to_pandas() if ids else pd.DataFrame(columns=columns))
    rows = rows[rows["valid"].astype(bool)]
    products = list(dict.fromkeys(rows["product"])) or ["(no valid value at any point)"]
    spans = {str(k): (pd.Timestamp(str(v[0])), pd.Timestamp(str(v[1])) + pd.Timedelta(days=1))
             for k, v in (periods or {}).items()}
    fig, axes = plt.subplots(len(products), 1, figsize=(8, 3.2 * len(products) + 0.8),
                             squeeze=False, sharex=True)
    for ax, product in zip(axes[:, 0], products, strict=True):
        of = rows[rows["product"] == product]
        for k, point in enumerate(ids):
            color = f"C{k % 10}"
            mine = of[of[id_column] == point]
            scenes = mine[mine["kind"] == "scene"].sort_values("date")
            composites = mine[mine["kind"] == "period"].sort_values("date")
            ax.plot(pd.to_datetime(scenes["date"]), scenes["value"], "o", color=color,
                    markersize=4, alpha=0.8, label=f"{point}")
            for source, day, value in zip(composites["source"], composites["date"],
                                          composites["value"], strict=True):
                start, end = spans.get(str(source), (pd.Timestamp(day),) * 2)
                if end > start:
                    ax.hlines(value, start, end, color=color, linewidth=2, alpha=0.8)
                else:
                    ax.plot([start], [value], "s", color=color, markersize=5)
        ax.set_title(f"{product} at {len(ids)} point(s): scenes (dots), composites "
                     "(lines over their periods)")
        ax.set_ylabel(product)
        ax.grid(alpha=0.3)
        if ids:
            ax.legend(title=id_column, fontsize=7, ncol=1, loc="center left",
                      bbox_to_anchor=(1.01, 0.5))
    axes[-1, 0].set_xlabel("date")
    fig.autofmt_xdate()
    fig.tight_layout()
    out = _save_png(fig, output)
    plt.close(fig)
    return out


def _table_html(table: pd.DataFrame) -> str:
    shown = table.drop(columns=[c for c in ("geometry",) if c in table.columns])
    return shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="",
                         border=0, escape=True)


def zonal_table_page(table_path: str | os.PathLike[str], output: str | os.PathLike[str], *,
                     title: str) -> Path:
    """An HTML page of one zonal table (GeoParquet or Parquet), geometry left out."""
    table = pd.read_parquet(table_path)
    note = (f"<p>{len(table)} zones. Source: <code>{html.escape(str(table_path))}</code> "
            "(also as CSV beside it).</p>")
    return _write_page(output, title=title, body=note + _table_html(table))


# --- benchmarks -----------------------------------------------------------------------


@dataclass(frozen=True)
class JobBenchmark:
    """Wall time and peak memory of one job, from its ``benchmark:`` TSV."""

    job: str  # the TSV's path below the benchmarks folder, without .tsv
    rule: str
    seconds: float
    max_rss_mb: float


def read_benchmarks(root: str | os.PathLike[str]) -> list[JobBenchmark]:
    """Every ``*.tsv`` below ``root``; the first folder names the rule (``terrain.tsv``
    at the top is rule ``terrain``). Repeated runs in one file: the last line counts."""
    base = Path(root)
    jobs = []
    for path in sorted(base.rglob("*.tsv")):
        try:
            table = pd.read_csv(path, sep="\t")
            last = table.iloc[-1]
            seconds, rss = float(last["s"]), float(last["max_rss"])
        except (KeyError, IndexError, ValueError, pd.errors.ParserError) as exc:
            raise InputDataError(
                f"{path} is not a Snakemake benchmark TSV ({exc}); delete it and rerun"
            ) from None
        rel = path.relative_to(base).with_suffix("")
        jobs.append(JobBenchmark(rel.as_posix(), rel.parts[0], seconds,
                                 rss if np.isfinite(rss) else 0.0))
    return jobs


def per_rule(jobs: Iterable[JobBenchmark]) -> list[JobBenchmark]:
    """One row per rule: summed wall time, largest peak memory."""
    by_rule: dict[str, list[JobBenchmark]] = {}
    for job in jobs:
        by_rule.setdefault(job.rule, []).append(job)
    return [JobBenchmark(f"{rule} ({len(js)} jobs)", rule, sum(j.seconds for j in js),
                         max(j.max_rss_mb for j in js)) for rule, js in sorted(by_rule.items())]


def plot_benchmarks(jobs: Sequence[JobBenchmark], output: str | os.PathLike[str]) -> Path:
    """Horizontal bars: wall time (s) and peak resident memory (MB) per job, side by side.

    With more than :data:`MAX_JOB_BARS` jobs one bar per rule (time summed, memory max).
    """
    if not jobs:
        raise InputDataError("no benchmark TSVs found: run the workflow before the report")
    plt = _pyplot()
    rows = list(jobs) if len(jobs) <= MAX_JOB_BARS else per_rule(jobs)
    rules = sorted({j.rule for j in rows})
    colours = {r: plt.get_cmap("tab10")(i % 10) for i, r in enumerate(rules)}
    y = np.arange(len(rows))
    fig, (t_ax, m_ax) = plt.subplots(1, 2, sharey=True,
                                     figsize=(11, 1.5 + 0.22 * len(rows)))
    colour = [colours[j.rule] for j in rows]
    t_ax.barh(y, [j.seconds for j in rows], color=colour)
    m_ax.barh(y, [j.max_rss_mb for j in rows], color=colour)
    t_ax.set_yticks(y, [j.job for j in rows], fontsize=7)
    t_ax.invert_yaxis()
    t_ax.set_xlabel("wall time (s)")
    m_ax.set_xlabel("peak resident memory, max_rss (MB)")
    total = sum(j.seconds for j in jobs)
    t_ax.set_title(f"{len(jobs)} jobs, {total:.0f} s of job time in total")
    m_ax.set_title("peak memory per job")
    for ax in (t_ax, m_ax):
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out = _save_png(fig, output)
    plt.close(fig)
    return out


# --- Dask performance reports, config and versions ---------------------------------------


def collect_dask_reports(logs: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Copy every ``*.dask.html`` below ``logs`` into the folder ``output`` (flat names:
    ``composite/2024-JJA/NDVI/x000_y000.dask.html`` -> ``composite--2024-JJA--...``), so
    the report can embed them. The folder is replaced whole, never left half-filled."""
    source, target = Path(logs), Path(output)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for page in sorted(source.rglob("*.dask.html")):
        name = "--".join(page.relative_to(source).with_suffix("").with_suffix("").parts)
        shutil.copyfile(page, scratch / f"{name}.html")
    replace_folder(scratch, target)  # never a file of the user's (rasterflow.ownership)
    return target


def run_info_page(output: str | os.PathLike[str], *, config: Mapping[str, Any],
                  versions: Mapping[str, str], configfiles: Sequence[str] = ()) -> Path:
    """An HTML page with the config the run used (every default filled in) and the
    software versions."""
    import yaml

    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in versions.items())
    files = ", ".join(f"<code>{html.escape(str(f))}</code>" for f in configfiles) or "-"
    dumped = yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=None)
    body = (
        "<h2 id='software'>Software versions</h2>"
        f"<table>{rows}</table>"
        "<h2 id='config'>Configuration</h2>"
        f"<p>Config files: {files}. Below, the config after validation: every key, "
        "defaults filled in from <code>config/schema.yaml</code>.</p>"
        f"<pre>{html.escape(dumped)}</pre>"
    )
    return _write_page(output, title="Run configuration and software", body=body)


def _plain(value: Any) -> Any:
    """Snakemake's config holds its own mapping/list types; YAML wants plain ones."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
