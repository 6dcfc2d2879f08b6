"""The Dask performance reports of a run's heavy jobs, for ``snakemake --report``.

Each heavy job may keep distributed's performance report beside its log
(``dask.report``); :func:`collect_dask_reports` gathers them into one folder that works
offline (BokehJS copied once, not fetched from Bokeh's CDN) and, with ``page``, one
self-contained page with every report (:func:`dask_reports_page`), the form the report
can embed. Nothing here needs Snakemake.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasterflow.atomic import atomic_output, scratch_folder
from rasterflow.errors import InputDataError
from rasterflow.ownership import replace_folder

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
