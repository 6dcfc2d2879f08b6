"""The demo's report.html in a real browser, offline: Debian's headless Chromium loads it
from a file:// URL with host names resolving to nothing and every request sent to a
proxy that is a socket of this test (so a request that would leave the machine is
seen, and answered by nobody), and the Dask reports and figures embedded in it must
draw with no request of theirs.

Chromium comes from tools/system-deps (Debian's ``chromium``); the test fails, it does
not skip, when it is missing. It writes the screenshots kept in docs/.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO
from PIL import Image

pytestmark = pytest.mark.workflow

#: Screenshots for docs/ (README, "The report"), kept small.
SCREENSHOT_BUDGET = 300_000


#: Chromium's own services (network time, component updates, accounts): headless
#: Chromium calls them whatever the page, even with --disable-background-networking.
#: They reach the proxy too and go nowhere; they are not the report's requests.
_BROWSER_SERVICES = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com")


class _Nowhere:
    """A TCP listener that records what connects to it and answers nothing: Chromium's
    proxy, so every http(s) request (a CONNECT for https) lands here, not outside."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.requests.append(conn.recv(200))
                except OSError:
                    self.requests.append(b"(connected, sent nothing)")

    def page_requests(self) -> list[str]:
        """The hosts asked for, Chromium's own services left out. A connection that sent
        no byte asked for nothing: Chromium opens spare connections to its proxy ahead
        of need (preconnect) and closes them unused at exit, more often on a loaded
        machine (a clean-clone CI run recorded one, b"", in a map's page)."""
        hosts = []
        for request in self.requests:
            if request in (b"", b"(connected, sent nothing)"):
                continue
            line = request.split(b"\r\n", 1)[0].decode("latin-1")
            match = re.match(r"(?:CONNECT (?P<a>[^:\s]+)|[A-Z]+ \w+://(?P<b>[^/:\s]+))", line)
            host = (match["a"] or match["b"]) if match else line
            if not host.endswith(_BROWSER_SERVICES):
                hosts.append(host)
        return hosts

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def nowhere() -> Iterator[_Nowhere]:
    proxy = _Nowhere()
    yield proxy
    proxy.close()


def _js_value(page: str, name: str) -> Any:
    """The JSON literal assigned to ``var <name>`` in the report's script."""
    match = re.search(rf"var {name} = (?=[{{\"])", page)
    assert match, f"report has no 'var {name}'"
    value, _end = json.JSONDecoder().raw_decode(page, match.end())
    return value


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, (
        "headless Chromium is needed to check the report offline: run "
        "tools/system-deps (Debian: apt-get install chromium)"
    )
    return found


def _browse(
    url: str,
    proxy: _Nowhere,
    profile: Path,
    *,
    screenshot: Path | None = None,
    size: tuple[int, int] = (1280, 800),
) -> str:
    """The DOM of ``url`` after scripts ran (virtual time, so no sleeping), or a
    screenshot of it. No request can leave: names resolve to nothing, and everything,
    loopback included, goes through the recording proxy."""
    cmd = [
        _chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        # names resolve to nothing; the proxy's own address stays reachable
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{proxy.port}",
        "--proxy-bypass-list=<-loopback>",
        "--virtual-time-budget=20000",
        f"--window-size={size[0]},{size[1]}",
    ]
    cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def report_file(demo_run: Path) -> Path:
    from helpers import run_snakemake

    target = demo_run / "report.html"
    if not target.exists():  # test_report.py made it already in a whole run
        run_snakemake(demo_run, "--report", str(target))
    return target


@pytest.fixture(scope="module")
def embedded(report_file: Path, tmp_path_factory) -> dict[str, Path]:
    """Every result embedded in report.html, decoded to a file of its own (the bytes the
    report shows in its panel)."""
    folder = tmp_path_factory.mktemp("embedded")
    results = _js_value(report_file.read_text(encoding="utf-8"), "results")
    out = {}
    for name, entry in results.items():
        head, data = entry["data_uri"].split(",", 1)
        assert head.endswith(";base64"), head
        path = folder / name.replace("/", "__")
        path.write_bytes(base64.b64decode(data))
        out[name] = path
    return out


def _no_external_references(page: str) -> list[str]:
    """Scripts, styles, images or frames the page would fetch from a network."""
    return re.findall(
        r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?"""
        r"""((?:https?:)?//[^"'\s>]+)""",
        page,
    )


def test_the_proxy_sees_a_request_that_would_leave(tmp_path):
    """The check below is not vacuous: a page that loads BokehJS from its CDN (as
    distributed's reports do) reaches this test's proxy and nothing else."""
    proxy = _Nowhere()
    try:
        page = tmp_path / "cdn.html"
        page.write_text(
            '<!DOCTYPE html><html><body><script src="https://cdn.bokeh.org/'
            'bokeh/release/bokeh-3.0.0.min.js"></script></body></html>'
        )
        _browse(page.as_uri(), proxy, tmp_path / "profile")
        assert set(proxy.page_requests()) == {"cdn.bokeh.org"}, proxy.requests
    finally:
        proxy.close()


def test_report_opens_offline_and_lists_every_section(report_file, nowhere, tmp_path):
    page = report_file.read_text(encoding="utf-8")
    assert _no_external_references(page) == []
    assert "cdn.bokeh.org" not in page
    dom = _browse(report_file.as_uri(), nowhere, tmp_path / "profile")
    # React drew the app (without its scripts the body says to enable JavaScript)
    assert "rasterflow run" in dom and "Maps" in dom and "Zonal statistics" in dom
    assert ">Run<" in dom and "Start with the run's summary" in dom
    assert nowhere.page_requests() == []


def test_every_dask_report_draws_offline(embedded, demo_run, nowhere, tmp_path):
    page = embedded["results/report/dask_reports.html"]
    assert _no_external_references(page.read_text(encoding="utf-8")) == []
    jobs = len(list((demo_run / "results" / "logs").rglob("*.dask.html")))
    assert jobs >= 20  # the demo keeps every heavy job's (dask.report_min_seconds: 0)
    dom = _browse(page.as_uri(), nowhere, tmp_path / "profile")
    status = re.search(r'<p id="dask-status"([^>]*)>', dom)
    assert status, dom[-3000:]
    attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', status[1]))
    # every report drawn by the inlined BokehJS: each one's task stream is a Bokeh plot
    # with its canvases (the page counts them inside Bokeh's shadow roots)
    assert int(attrs["reports"]) == int(attrs["drawn"]) == jobs
    assert int(attrs["plots"]) >= jobs and int(attrs["canvases"]) >= jobs
    assert dom.count('class="job"') == jobs
    assert nowhere.page_requests() == []


def test_every_map_and_figure_draws_offline(embedded, nowhere, tmp_path):
    maps = {n: p for n, p in embedded.items() if n.startswith("results/report/maps/")}
    # two periods x (NDVI, count, band composite, count); four terrain products; the
    # NDVI trend; the DEM's contours; two scenes x (NBR, MSAVI)
    assert len(maps) == 8 + 4 + 1 + 1 + 4
    for name, path in maps.items():
        dom = _browse(path.as_uri(), nowhere, tmp_path / "profile")
        drawn = re.search(r'<img id="map"[^>]*data-drawn="(\d+)x(\d+)"', dom)
        assert drawn, f"{name}: the map did not load"
        assert int(drawn[1]) >= 1200, name  # full resolution, fitted until clicked
    # the PNG figures, shown by the report as images: one page that loads them all
    figures = [p for n, p in embedded.items() if n.endswith(".png")]
    assert len(figures) == 3  # the zonal and the points' time series, the benchmark chart
    imgs = "".join(
        f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" '
        'onload="this.dataset.drawn = this.naturalWidth">'
        for p in figures
    )
    page = tmp_path / "figures.html"
    page.write_text(f"<!DOCTYPE html><html><body>{imgs}</body></html>")
    dom = _browse(page.as_uri(), nowhere, tmp_path / "profile")
    assert len(re.findall(r'data-drawn="[1-9]\d+"', dom)) == len(figures)
    assert nowhere.page_requests() == []


def _small_png(source: Path, target: Path) -> None:
    """The screenshot as an optimised RGB PNG; a palette one (dithered, so colour bars
    keep their gradient) only if that is still over the budget."""
    image = Image.open(source).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    if buffer.tell() >= SCREENSHOT_BUDGET:
        buffer = io.BytesIO()
        image.quantize(colors=256, dither=Image.Dither.FLOYDSTEINBERG).save(
            buffer, format="PNG", optimize=True
        )
    target.write_bytes(buffer.getvalue())


def test_screenshots_of_the_first_page_and_a_map(report_file, embedded, nowhere, tmp_path):
    """docs/report-first-page.png and docs/report-map.png, as a reader sees them.

    Written into docs/ only with RASTERFLOW_SCREENSHOTS=1 (to renew the kept ones), else
    beside the test: every run would otherwise leave the working tree modified."""
    docs = REPO / "docs" if os.environ.get("RASTERFLOW_SCREENSHOTS") == "1" else tmp_path
    shots = {
        "report-first-page.png": (report_file, (1280, 800)),
        "report-map.png": (
            embedded["results/report/maps/mosaics/2024-JJA/NDVI.html"],
            (1100, 1000),
        ),
    }
    for name, (path, size) in shots.items():
        raw = tmp_path / name
        _browse(path.as_uri(), nowhere, tmp_path / "profile", screenshot=raw, size=size)
        image = Image.open(raw)
        assert image.size == size
        # something drawn: not a blank page (a failed load is one colour)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50
        _small_png(raw, docs / name)
        assert (docs / name).stat().st_size < SCREENSHOT_BUDGET
    assert nowhere.page_requests() == []
