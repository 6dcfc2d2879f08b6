"""Figures and pages for ``snakemake --report``: zonal time series, zonal tables, the
wall time and memory of every job, the Dask performance reports, the config and the
software versions.

Every function takes paths and returns what it wrote; none needs Snakemake. Figures are
PNGs written without time stamps (see :mod:`rasterflow.quicklook`).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rasterflow.atomic import atomic_output, scratch_folder
from rasterflow.errors import InputDataError
from rasterflow.ownership import replace_folder

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


# --- Dask performance reports, config and versions ---------------------------------------


#: A BokehJS file on Bokeh's CDN, as distributed's performance report links it.
_CDN_SCRIPT = re.compile(
    r'<script[^>]*\bsrc="https://cdn\.bokeh\.org/bokeh/release/'
    r'(?P<name>bokeh(?:-[a-z]+)?)-(?P<version>[0-9][^"]*?)\.min\.js"[^>]*>\s*</script>'
)
_DOCS_JSON = re.compile(
    r'<script type="application/json" id="(?P<id>[^"]+)">\s*'
    r"(?P<json>.*?)\s*</script>",
    re.DOTALL,
)
_RENDER_ITEMS = re.compile(r"const render_items = (?P<json>\[.*?\]);\n")


@dataclass(frozen=True)
class DaskReport:
    """One job's Dask performance report, as its Bokeh document.

    ``scripts`` are the BokehJS bundles it needs (``bokeh``, ``bokeh-widgets``),
    ``version`` the Bokeh version that wrote it (the bundle must be the same).
    """

    job: str
    docs_json: str
    render_items: list[dict[str, Any]]
    scripts: tuple[str, ...]
    version: str


def read_dask_report(path: str | os.PathLike[str], *, job: str) -> DaskReport:
    """Parse a page written by ``distributed.performance_report`` (Bokeh's standalone
    HTML: the document as JSON, the items to render, the BokehJS bundles from the CDN)."""
    page = Path(path).read_text(encoding="utf-8")
    scripts = [(m["name"], m["version"]) for m in _CDN_SCRIPT.finditer(page)]
    docs, items = _DOCS_JSON.search(page), _RENDER_ITEMS.search(page)
    if not scripts or docs is None or items is None:
        raise InputDataError(
            f"{path} is not a Dask performance report as distributed writes it (no "
            "BokehJS from the CDN, document or render items); delete it and rerun its job"
        )
    versions = {v for _n, v in scripts}
    return DaskReport(
        job=job,
        docs_json=docs["json"],
        render_items=json.loads(items["json"]),
        scripts=tuple(dict.fromkeys(n for n, _v in scripts)),
        version=versions.pop() if len(versions) == 1 else ",".join(versions),
    )


def bokeh_bundle(name: str) -> Path:
    """The installed Bokeh's minified bundle ``name`` (``bokeh``, ``bokeh-widgets``)."""
    from bokeh.util.paths import bokehjs_path

    path = Path(bokehjs_path()) / "js" / f"{name}.min.js"
    if not path.is_file():
        raise InputDataError(f"Bokeh has no bundle {name!r} ({path}); reinstall bokeh")
    return path


def _check_versions(reports: Sequence[DaskReport], pages: Sequence[Path]) -> str:
    import bokeh

    for report, page in zip(reports, pages, strict=True):
        if report.version != bokeh.__version__:
            raise InputDataError(
                f"{page} was written by Bokeh {report.version}, this environment has "
                f"{bokeh.__version__}: its plots need their own BokehJS. Rerun its job "
                "(snakemake --forcerun) or delete the page"
            )
    return bokeh.__version__


def collect_dask_reports(
    logs: str | os.PathLike[str],
    output: str | os.PathLike[str],
    page: str | os.PathLike[str] | None = None,
) -> Path:
    """Gather every ``*.dask.html`` below ``logs`` so that it draws without a network.

    The folder ``output`` gets each job's page (flat names:
    ``composite/2024-JJA/x000_y000.dask.html`` -> ``composite--2024-JJA--x000_y000.html``)
    with its CDN links pointing at one shared copy of BokehJS in the same folder, taken
    from the installed Bokeh: offline, and 1.8 MB once rather than per page. The folder
    is replaced whole, never left half-filled.

    ``page``, if given, is one HTML file with every job's report and BokehJS inlined
    once: the form ``snakemake --report`` can embed (it shows each result from a
    ``data:`` URL, which cannot reach a shared file beside it).
    """
    source, target = Path(logs), Path(output)
    pages = sorted(source.rglob("*.dask.html"))
    jobs = ["--".join(p.relative_to(source).with_suffix("").with_suffix("").parts) for p in pages]
    reports = [read_dask_report(p, job=j) for p, j in zip(pages, jobs, strict=True)]
    version = _check_versions(reports, pages)
    bundles = list(dict.fromkeys(n for r in reports for n in r.scripts))
    with scratch_folder(target) as scratch:
        for name in bundles:
            shutil.copyfile(bokeh_bundle(name), scratch / f"{name}-{version}.min.js")
        for path, job in zip(pages, jobs, strict=True):
            text = _CDN_SCRIPT.sub(
                lambda m: (
                    f'<script type="text/javascript" src="{m["name"]}-{m["version"]}.min.js">'
                    "</script>"
                ),
                path.read_text(encoding="utf-8"),
            )
            (scratch / f"{job}.html").write_text(text, encoding="utf-8")
        if page is not None:
            dask_reports_page(reports, page, bundles=bundles)
        replace_folder(scratch, target)  # never a file of the user's (rasterflow.ownership)
    return target


_DASK_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Dask performance reports</title>
<style>
body {{ font-family: sans-serif; font-size: 14px; margin: 0.5em 1em; }}
.job {{ height: 720px; border: 1px solid #ddd; margin-bottom: 1.5em; }}
nav a {{ margin-right: 0.8em; white-space: nowrap; }}
#dask-status.failed {{ color: #b00; font-weight: bold; }}
</style>
{scripts}
</head><body>
<h1>Dask performance reports</h1>
<p>{intro}</p>
<p id="dask-status" data-reports="{count}" data-drawn="0" data-plots="0">
Drawing {count} report(s)... (if this stays, JavaScript is off or BokehJS failed)</p>
<nav>{links}</nav>
{sections}
<script type="text/javascript">
{embed}
</script>
</body></html>
"""

#: Renders every report, then writes what it drew into #dask-status (light DOM, so a
#: reader and a headless browser both see whether the plots exist: Bokeh draws into
#: shadow roots).
_EMBED = """
(function () {
  const reports = %s;
  const status = document.getElementById("dask-status");
  function count(root, selector) {
    let n = root.querySelectorAll(selector).length;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) n += count(el.shadowRoot, selector);
    }
    return n;
  }
  if (window.Bokeh === undefined) {
    status.className = "failed";
    status.textContent = "BokehJS did not load: the reports cannot be drawn.";
    return;
  }
  const drawn = reports.map(function (r) {
    const docs = document.getElementById(r.docs).textContent;
    return Bokeh.embed.embed_items(docs, r.items);
  });
  Promise.all(drawn).then(function () {
    // a tab's plots are laid out on the next frames: count once they are
    setTimeout(function () {
      const plots = count(document, ".bk-Figure, .bk-Plot");
      const canvases = count(document, "canvas");
      status.dataset.drawn = String(reports.length);
      status.dataset.plots = String(plots);
      status.dataset.canvases = String(canvases);
      status.textContent = reports.length + " of " + reports.length +
        " report(s) drawn offline (" + plots + " plots). Each opens on its task " +
        "stream; the other tabs hold the summary, worker profiles, bandwidth, system.";
    }, 500);
  }, function (err) {
    status.className = "failed";
    status.textContent = "Drawing failed: " + err;
  });
})();
"""


#: The tab each report opens on: where the time went (distributed opens on its summary,
#: which needs no plot; Bokeh draws a tab's plots only when it is shown).
OPEN_TAB = "Task Stream"


def _open_on_tab(docs_json: str, title: str) -> str:
    """The documents with every root ``Tabs`` showing the panel titled ``title``."""
    docs = json.loads(docs_json)
    for doc in docs.values():
        for root in doc.get("roots", []):
            if root.get("name") != "Tabs":
                continue
            tabs = root.get("attributes", {}).get("tabs", [])
            titles = [t.get("attributes", {}).get("title") for t in tabs]
            if title in titles:
                root["attributes"]["active"] = titles.index(title)
    return json.dumps(docs, separators=(",", ":"))


def dask_reports_page(
    reports: Sequence[DaskReport], output: str | os.PathLike[str], *, bundles: Sequence[str]
) -> Path:
    """One self-contained page with every job's Dask report and BokehJS inlined once.

    Each report keeps its own Bokeh document (ids are per document, roots get fresh
    element ids here); the page draws them all on load and says in ``#dask-status``
    how many it drew and how many plot canvases exist.
    """
    scripts = "\n".join(
        f'<script type="text/javascript">\n{bokeh_bundle(n).read_text(encoding="utf-8")}\n</script>'
        for n in bundles
    )
    sections, links, embed = [], [], []
    for i, report in enumerate(reports):
        anchor = f"job-{i}"
        roots = []
        items = []
        for item in report.render_items:
            mapping = {}
            for model_id in item.get("root_ids", []):
                element = f"dask-{i}-{model_id}"
                mapping[model_id] = element
                roots.append(
                    f'<div id="{element}" data-root-id="{html.escape(model_id)}" '
                    'style="display: contents;"></div>'
                )
            items.append({**item, "roots": mapping})
        docs_id = f"dask-docs-{i}"
        safe_json = _open_on_tab(report.docs_json, OPEN_TAB).replace("</", "<\\/")
        sections.append(
            f'<h2 id="{anchor}">{html.escape(report.job)}</h2>'
            f'<div class="job">{"".join(roots)}</div>'
            f'<script type="application/json" id="{docs_id}">{safe_json}</script>'
        )
        links.append(f'<a href="#{anchor}">{html.escape(report.job)}</a>')
        embed.append({"docs": docs_id, "items": items})
    intro = (
        (
            f"{len(reports)} heavy job(s) kept a report (<code>dask.report</code>; jobs "
            "shorter than <code>dask.report_min_seconds</code> are left out). BokehJS is "
            "part of this page: it works offline."
        )
        if reports
        else (
            "No heavy job kept a report: each took less than <code>dask.report_min_seconds</code>."
        )
    )
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = _DASK_PAGE.format(
        scripts=scripts,
        intro=intro,
        count=len(reports),
        links=" ".join(links),
        sections="\n".join(sections),
        embed=_EMBED % json.dumps(embed),
    )
    with atomic_output(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


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
