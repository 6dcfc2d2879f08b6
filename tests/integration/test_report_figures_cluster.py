"""The report's Dask pages, gathered from real performance reports (a LocalCluster's)."""

from __future__ import annotations

import json
import re

import pytest

from rasterflow import dask_reports
from rasterflow.errors import InputDataError


@pytest.fixture(scope="module")
def dask_logs(tmp_path_factory):
    """Two real performance reports (distributed's own pages, CDN links and all), laid
    out as the jobs leave them beside their logs."""
    import dask.array as da
    from distributed import Client, LocalCluster, performance_report

    logs = tmp_path_factory.mktemp("dask") / "logs"
    pages = [logs / "composite" / "2024-JJA" / "x000_y000.dask.html", logs / "terrain.dask.html"]
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        for page in pages:
            page.parent.mkdir(parents=True, exist_ok=True)
            with performance_report(filename=str(page)):
                da.ones((200, 200), chunks=50).sum().compute()
    (logs / "terrain.log").write_text("not a report")
    return logs


def test_dask_reports_are_gathered_with_flat_names(tmp_path, dask_logs):
    import shutil

    logs = tmp_path / "logs"
    shutil.copytree(dask_logs, logs)
    out = tmp_path / "report" / "dask"
    shutil.copyfile(logs / "terrain.dask.html", logs / "gone.dask.html")  # an old run's
    dask_reports.collect_dask_reports(logs, out)
    (logs / "gone.dask.html").unlink()
    dask_reports.collect_dask_reports(logs, out)  # what it wrote itself, it replaces
    bokeh = [p.name for p in out.glob("bokeh*.js")]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [".rasterflow-files", "composite--2024-JJA--x000_y000.html", "terrain.html", *bokeh]
    )
    (out / "mine.txt").write_text("the user's")  # what it did not, it keeps
    with pytest.raises(InputDataError, match="holds mine.txt, which rasterflow did not write"):
        dask_reports.collect_dask_reports(logs, out)
    assert (out / "mine.txt").read_text() == "the user's"


def test_gathered_dask_pages_share_one_copy_of_bokehjs(tmp_path, dask_logs):
    import bokeh

    out = dask_reports.collect_dask_reports(dask_logs, tmp_path / "dask")
    shared = sorted(p.name for p in out.glob("*.js"))
    assert shared == [
        f"bokeh-{bokeh.__version__}.min.js",
        f"bokeh-widgets-{bokeh.__version__}.min.js",
    ]
    for name in shared:  # the installed Bokeh's own bundles, byte for byte
        assert (out / name).read_bytes() == dask_reports.bokeh_bundle(
            name.removesuffix(f"-{bokeh.__version__}.min.js")
        ).read_bytes()
    for page in out.glob("*.html"):
        text = page.read_text()
        assert "cdn.bokeh.org" not in text
        assert all(f'src="{name}"' in text for name in shared)


def test_one_dask_page_inlines_bokehjs_once_and_every_report(tmp_path, dask_logs):
    page = tmp_path / "dask_reports.html"
    dask_reports.collect_dask_reports(dask_logs, tmp_path / "dask", page=page)
    text = page.read_text()
    core = dask_reports.bokeh_bundle("bokeh").read_text()
    assert text.count(core[:2000]) == 1  # BokehJS once, whatever the number of jobs
    assert "cdn.bokeh.org" not in text and not re.search(r"<script[^>]+src=", text)
    assert 'data-reports="2"' in text
    for job in ("composite--2024-JJA--x000_y000", "terrain"):
        assert f">{job}</h2>" in text
    # each report's document, opening on its task stream
    docs = [
        json.loads(m)
        for m in re.findall(
            r'<script type="application/json" id="dask-docs-\d+">(.*?)</script>', text, re.DOTALL
        )
    ]
    assert len(docs) == 2
    for doc in docs:
        (root,) = next(iter(doc.values()))["roots"]
        titles = [t["attributes"]["title"] for t in root["attributes"]["tabs"]]
        assert titles[root["attributes"]["active"]] == dask_reports.OPEN_TAB
    # jobs' pages inline would repeat BokehJS per job: this page is smaller than two
    assert page.stat().st_size < 2 * len(core)


def test_dask_page_errors_name_the_file(tmp_path, dask_logs):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "odd.dask.html").write_text("<html>not a report</html>")
    with pytest.raises(InputDataError, match=r"odd\.dask\.html is not a Dask performance"):
        dask_reports.collect_dask_reports(logs, tmp_path / "dask")
    old = (
        (dask_logs / "terrain.dask.html")
        .read_text()
        .replace("bokeh-3.", "bokeh-2.")
        .replace("bokeh-widgets-3.", "bokeh-widgets-2.")
    )
    (logs / "odd.dask.html").write_text(old)
    with pytest.raises(InputDataError, match=r"odd\.dask\.html was written by Bokeh 2\."):
        dask_reports.collect_dask_reports(logs, tmp_path / "dask")
    assert not (tmp_path / "dask").exists()  # nothing half-written
