"""Figures and pages for ``snakemake --report``: zonal time series, zonal tables, the
wall time and memory of every job, the config and the software versions (the jobs'
Dask performance reports: :mod:`rasterflow.dask_reports`).

Every function takes paths and returns what it wrote; none needs Snakemake. Figures are
PNGs written without time stamps (see :mod:`rasterflow.quicklook`).
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rasterflow.atomic import atomic_output
from rasterflow.errors import InputDataError

#: Distributions whose versions the report lists (besides Python and GDAL).
SOFTWARE = (
    "rasterflow",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "dask",
    "distributed",
    "dask-jobqueue",
    "numpy",
    "xarray",
    "rioxarray",
    "rasterio",
    "odc-geo",
    "exactextract",
    "geopandas",
    "pyogrio",
    "pyarrow",
    "pandas",
    "matplotlib",
    "rio-cogeo",
    "pystac",
    "rio-stac",
)

#: Zones per time-series panel unless ``report.max_zones`` says otherwise: one colour of
#: tab10 each, so no two lines share a colour.
MAX_ZONES = 10

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


def time_series_table(
    long: pd.DataFrame, *, id_column: str, period_order: Sequence[str]
) -> pd.DataFrame:
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
    rows["period"] = pd.Categorical(rows["period"], categories=list(period_order), ordered=True)
    return rows.sort_values(["product", id_column, "period"]).reset_index(drop=True)


@dataclass(frozen=True)
class ZoneChoice:
    """The zones one time-series panel draws, and what the figure says about them."""

    shown: list[Any]  # zone ids, in drawing (and legend) order
    with_data: int  # zones with a finite statistic in at least one period
    total: int  # zones in the table for this product
    configured: bool  # shown as listed in report.zones (else: largest first)
    missing: list[Any]  # configured zones without data (or not in the table)

    def describe(self) -> str:
        """``3 of 5 zones with data shown (largest first); 2 of 7 have no data``."""
        how = "as configured" if self.configured else "largest first"
        text = f"{len(self.shown)} of {self.with_data} zones with data shown ({how})"
        empty = self.total - self.with_data
        if empty:
            text += f"; {empty} of {self.total} have no data"
        if self.missing:
            text += f"; no data for configured {', '.join(map(str, self.missing))}"
        return text


def choose_zones(
    rows: pd.DataFrame,
    *,
    id_column: str,
    statistic: str,
    zones: Sequence[Any] = (),
    max_zones: int = MAX_ZONES,
) -> ZoneChoice:
    """The zones of one product's rows worth drawing: only zones with data (a finite
    ``statistic`` in some period), the listed ``zones`` in their order if given, else
    the largest first (most valid pixels summed over the periods, from ``count``; the
    number of periods with data without it), at most ``max_zones``.

    Zone ids compare as text, so ``report.zones: [7]`` matches an id column of "7".
    Drawing the first ids instead showed empty zones (one of 177 countries had data).
    """
    value = pd.to_numeric(rows[statistic], errors="coerce")
    finite = rows.assign(_v=value)[np.isfinite(value.to_numpy(dtype="float64"))]
    all_ids = list(dict.fromkeys(rows[id_column]))
    if "count" in finite.columns:
        size = finite.groupby(id_column, sort=False)["count"].sum()
    else:
        size = finite.groupby(id_column, sort=False)["_v"].size()
    with_data = list(size.index)
    if zones:
        by_text = {str(z): z for z in with_data}
        shown = [by_text[str(z)] for z in zones if str(z) in by_text]
        missing = [z for z in zones if str(z) not in by_text]
    else:
        order = sorted(with_data, key=lambda z: (-float(size[z]), str(z)))
        shown, missing = order, []
    return ZoneChoice(
        shown=shown[:max_zones],
        with_data=len(with_data),
        total=len(all_ids),
        configured=bool(zones),
        missing=missing,
    )


def zone_colours(n: int) -> list[Any]:
    """``n`` distinct colours: tab10 up to 10, else tab20's dark then light shades
    (Matplotlib's default cycle repeats after 10: zones 1 and 11 were the same blue)."""
    plt = _pyplot()
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    tab20 = plt.get_cmap("tab20")
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return [tab20(order[i % 20]) for i in range(n)]


def plot_time_series(
    long: pd.DataFrame,
    output: str | os.PathLike[str],
    *,
    id_column: str,
    period_order: Sequence[str],
    statistic: str = "median",
    band: tuple[str, str] | None = ("p10", "p90"),
    zones: Sequence[Any] = (),
    max_zones: int = MAX_ZONES,
) -> dict[str, ZoneChoice]:
    """One panel per product: ``statistic`` per zone over the periods, with the
    ``band`` percentiles shaded when the table has them and few zones are drawn.

    The zones are :func:`choose_zones`' (only zones with data), each its own colour;
    each panel's title says how many are shown of how many have data. Returns the
    choice per product (what the figure shows, for the log and the tests).
    """
    plt = _pyplot()
    table = time_series_table(long, id_column=id_column, period_order=period_order)
    if statistic not in table.columns:
        statistic = "mean"
    products = list(dict.fromkeys(table["product"])) or ["(no periodic product)"]
    fig, axes = plt.subplots(
        len(products), 1, figsize=(10, 3.6 * len(products) + 0.8), squeeze=False
    )
    x = np.arange(len(period_order))
    choices: dict[str, ZoneChoice] = {}
    for ax, product in zip(axes[:, 0], products, strict=True):
        rows = table[table["product"] == product]
        if rows.empty:
            choice = ZoneChoice([], 0, 0, bool(zones), list(zones))
        else:
            choice = choose_zones(
                rows, id_column=id_column, statistic=statistic, zones=zones, max_zones=max_zones
            )
        choices[product] = choice
        shaded = bool(
            band and set(band) <= set(rows.columns) and 0 < len(choice.shown) <= MAX_SHADED
        )
        for zone, colour in zip(choice.shown, zone_colours(len(choice.shown)), strict=True):
            z = rows[rows[id_column] == zone]
            pos = z["period"].cat.codes.to_numpy()
            ax.plot(pos, z[statistic], marker="o", color=colour, label=str(zone))
            if shaded and band:
                ax.fill_between(pos, z[band[0]], z[band[1]], color=colour, alpha=0.12, linewidth=0)
        ax.set_xticks(x, list(period_order))
        ax.set_xlim(-0.3, len(period_order) - 0.7)
        shade = f", shaded {band[0]}..{band[1]}" if shaded and band else ""
        ax.set_title(f"{product}: {statistic} per zone{shade}\n{choice.describe()}", fontsize=10)
        ax.set_ylabel(f"{product} {statistic}")
        ax.grid(alpha=0.3)
        if choice.shown:
            ax.legend(
                title=id_column,
                fontsize=8,
                ncol=1 if len(choice.shown) <= 10 else 2,
                loc="center left",
                bbox_to_anchor=(1.01, 0.5),
            )
        else:
            ax.text(
                0.5,
                0.5,
                "no zone has data",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="0.4",
            )
    axes[-1, 0].set_xlabel("period")
    fig.tight_layout()
    _save_png(fig, output)
    plt.close(fig)
    return choices


#: Points drawn in the points' figure: a few series stay readable.
MAX_POINTS = 6


def series_points(
    table: str | os.PathLike[str], *, id_column: str, limit: int = MAX_POINTS
) -> list[Any]:
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


def plot_point_series(
    table: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    id_column: str,
    limit: int = MAX_POINTS,
    periods: Mapping[str, Sequence[Any]] | None = None,
) -> Path:
    """One panel per product: the valid values of a few points (:func:`series_points`)
    by date, each scene a dot and each period's composite a line over the period
    (``periods``: id -> (first, last day); without it a dot at its first day), so a
    point's scenes and their composite are seen together."""
    import pyarrow.parquet as pq

    plt = _pyplot()
    ids = series_points(table, id_column=id_column, limit=limit)
    columns = [id_column, "kind", "source", "date", "product", "value", "valid"]
    rows = (
        pq.read_table(table, columns=columns, filters=[(id_column, "in", ids)]).to_pandas()
        if ids
        else pd.DataFrame(columns=columns)
    )
    rows = rows[rows["valid"].astype(bool)]
    products = list(dict.fromkeys(rows["product"])) or ["(no valid value at any point)"]
    spans = {
        str(k): (pd.Timestamp(str(v[0])), pd.Timestamp(str(v[1])) + pd.Timedelta(days=1))
        for k, v in (periods or {}).items()
    }
    fig, axes = plt.subplots(
        len(products), 1, figsize=(8, 3.2 * len(products) + 0.8), squeeze=False, sharex=True
    )
    for ax, product in zip(axes[:, 0], products, strict=True):
        of = rows[rows["product"] == product]
        for k, point in enumerate(ids):
            color = f"C{k % 10}"
            mine = of[of[id_column] == point]
            scenes = mine[mine["kind"] == "scene"].sort_values("date")
            composites = mine[mine["kind"] == "period"].sort_values("date")
            ax.plot(
                pd.to_datetime(scenes["date"]),
                scenes["value"],
                "o",
                color=color,
                markersize=4,
                alpha=0.8,
                label=f"{point}",
            )
            for source, day, value in zip(
                composites["source"], composites["date"], composites["value"], strict=True
            ):
                start, end = spans.get(str(source), (pd.Timestamp(day),) * 2)
                if end > start:
                    ax.hlines(value, start, end, color=color, linewidth=2, alpha=0.8)
                else:
                    ax.plot([start], [value], "s", color=color, markersize=5)
        ax.set_title(
            f"{product} at {len(ids)} point(s): scenes (dots), composites "
            "(lines over their periods)"
        )
        ax.set_ylabel(product)
        ax.grid(alpha=0.3)
        if ids:
            ax.legend(
                title=id_column, fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5)
            )
    axes[-1, 0].set_xlabel("date")
    fig.autofmt_xdate()
    fig.tight_layout()
    out = _save_png(fig, output)
    plt.close(fig)
    return out


def _table_html(table: pd.DataFrame) -> str:
    shown = table.drop(columns=[c for c in ("geometry",) if c in table.columns])
    return shown.to_html(
        index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, escape=True
    )


def zonal_table_page(
    table_path: str | os.PathLike[str], output: str | os.PathLike[str], *, title: str
) -> Path:
    """An HTML page of one zonal table (GeoParquet or Parquet), geometry left out."""
    table = pd.read_parquet(table_path)
    note = (
        f"<p>{len(table)} zones. Source: <code>{html.escape(str(table_path))}</code> "
        "(also as CSV beside it).</p>"
    )
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
        jobs.append(
            JobBenchmark(rel.as_posix(), rel.parts[0], seconds, rss if np.isfinite(rss) else 0.0)
        )
    return jobs


def per_rule(jobs: Iterable[JobBenchmark]) -> list[JobBenchmark]:
    """One row per rule: summed wall time, largest peak memory."""
    by_rule: dict[str, list[JobBenchmark]] = {}
    for job in jobs:
        by_rule.setdefault(job.rule, []).append(job)
    return [
        JobBenchmark(
            f"{rule} ({len(js)} jobs)",
            rule,
            sum(j.seconds for j in js),
            max(j.max_rss_mb for j in js),
        )
        for rule, js in sorted(by_rule.items())
    ]


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
    fig, (t_ax, m_ax) = plt.subplots(1, 2, sharey=True, figsize=(11, 1.5 + 0.22 * len(rows)))
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


# --- the run's summary -------------------------------------------------------------------

#: How the summary names the folders under ``results`` (others are named as they are).
_PRODUCT_GROUPS = {
    "indices": "Spectral indices per scene",
    "composites": "Composites per tile",
    "mosaics": "Mosaics (VRT and COG)",
    "terrain": "Terrain products",
    "zonal": "Zonal statistics",
    "stac": "STAC catalog",
    "report": "Report figures and pages",
}


def group_products(paths: Iterable[str], *, results: str) -> dict[str, list[str]]:
    """``paths`` by the folder they are in right below ``results`` (``mosaics``,
    ``terrain``...), in first-seen order; paths outside ``results`` under ``other``."""
    base = Path(results)
    groups: dict[str, list[str]] = {}
    for path in dict.fromkeys(paths):
        try:
            key = Path(path).relative_to(base).parts[0]
        except (ValueError, IndexError):
            key = "other"
        groups.setdefault(key, []).append(path)
    return groups


def run_summary_page(
    output: str | os.PathLike[str],
    *,
    jobs: Sequence[JobBenchmark],
    products: Mapping[str, Sequence[str]],
    results: str,
) -> Path:
    """The page a reader starts with: what ran (jobs per rule, their time and memory,
    from the ``benchmark:`` files) and where every product is (one row per folder)."""
    rules = per_rule(jobs)
    counts = {r: sum(1 for j in jobs if j.rule == r) for r in {j.rule for j in jobs}}
    total = sum(j.seconds for j in jobs)
    longest = max(jobs, key=lambda j: j.seconds) if jobs else None
    rows = "".join(
        f"<tr><td style='text-align:left'>{html.escape(r.rule)}</td>"
        f"<td>{counts[r.rule]}</td><td>{r.seconds:.1f}</td>"
        f"<td>{r.max_rss_mb:.0f}</td></tr>"
        for r in rules
    )
    ran = (
        f"<p>{len(jobs)} jobs with a benchmark, {total:.0f} s of job time in total"
        + (
            f"; the longest: <code>{html.escape(longest.job)}</code>, {longest.seconds:.1f} s"
            if longest
            else ""
        )
        + ". The run's timeline is on Snakemake's <i>Statistics</i> page, each job's "
        "time and memory under Run &rarr; Benchmarks.</p>"
        "<table><tr><th>rule</th><th>jobs</th><th>job time (s)</th>"
        f"<th>peak memory, largest job (MB)</th></tr>{rows}</table>"
    )
    where = []
    for key, paths in products.items():
        name = _PRODUCT_GROUPS.get(key, key)
        shown = "<br>".join(f"<code>{html.escape(p)}</code>" for p in paths[:12])
        more = f"<br>... and {len(paths) - 12} more" if len(paths) > 12 else ""
        where.append(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
            f"<td>{len(paths)}</td><td style='text-align:left'>{shown}{more}</td></tr>"
        )
    body = (
        "<h2 id='ran'>What ran, how long</h2>"
        + ran
        + f"<h2 id='where'>Where every product is</h2><p>Paths relative to the folder "
        f"Snakemake ran in; results folder <code>{html.escape(results)}</code>.</p>"
        "<table><tr><th>products</th><th>files</th><th style='text-align:left'>paths</th></tr>"
        + "".join(where)
        + "</table>"
    )
    return _write_page(output, title="Run summary", body=body)


# --- config and versions ---------------------------------------------------------------


def run_info_page(
    output: str | os.PathLike[str],
    *,
    config: Mapping[str, Any],
    versions: Mapping[str, str],
    configfiles: Sequence[str] = (),
) -> Path:
    """An HTML page with the config the run used (every default filled in) and the
    software versions."""
    import yaml

    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in versions.items()
    )
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
