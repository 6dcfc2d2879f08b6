"""Real servers on loopback for the tests: nginx (Debian's nginx-light) serving files,
moto's S3 server holding objects and rustac's STAC API server (both PyPI,
tools/test-servers), the latter also over pgstac in Debian's PostgreSQL with PostGIS
(tools/system-deps; pgstac's schema from PyPI's pypgstac)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
#: the path the fixture asks for to see that nginx is up (left out of Served.requests)
PROBE = "/__started__"


@dataclass(frozen=True)
class Served:
    url: str  # base URL, no trailing slash
    access_log: Path  # one line per request: method path status range bytes

    def requests(self) -> list[tuple[str, str, int, str, int]]:
        """(method, path, status, Range header or "-", body bytes) of each request."""
        out = []
        for line in self.access_log.read_text().splitlines():
            method, path, status, rng, size = line.split("\t")
            if path != PROBE:  # the fixture's, not the test's
                out.append((method, path, int(status), rng, int(size)))
        return out


def _wait_for(
    url: str, proc: subprocess.Popen[bytes], *, name: str, log: Path, seconds: float = 30
) -> None:
    """Return once ``url`` answers (any HTTP status); fail with the server's log if it
    exits or does not answer within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answers (403, 404 for the root)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else ""
                raise RuntimeError(f"{name} did not start: {text}") from None
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def nginx(root: Path, workdir: Path, *, busy_above: float | None = None) -> Iterator[Served]:
    """nginx serving ``root`` on a free loopback port (HTTP/1.1 with range requests,
    as object stores and data portals serve COGs) until the block ends.

    ``busy_above``: requests per second above which it answers 503 (nginx's own rate
    limit, no queue), as a busy object store does."""
    if not os.path.exists(NGINX):
        raise RuntimeError(
            "nginx is not installed: apt-get install nginx-light (tools/system-deps installs it)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = workdir / "access.log"
    temps = "\n".join(
        f"  {kind}_temp_path {workdir}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # as root the workers would drop to nobody, who cannot read pytest's 0700 folders
    user = "user root;\n" if os.geteuid() == 0 else ""
    limit_zone = limit = ""
    if busy_above is not None:
        limit_zone = f"  limit_req_zone $binary_remote_addr zone=busy:1m rate={busy_above}r/s;"
        limit = "    limit_req zone=busy;\n    limit_req_status 503;"
    (workdir / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{ worker_connections 64; }}
http {{
  log_format ranges "$request_method\\t$uri\\t$status\\t$http_range\\t$body_bytes_sent";
  access_log {log} ranges;
{temps}
{limit_zone}
  server {{
    listen 127.0.0.1:{port};
    root {root};
{limit}
  }}
}}
""")
    proc = subprocess.Popen(
        [NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + PROBE, proc, name="nginx", log=workdir / "error.log")
        yield Served(url, log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


MOTO = Path(__file__).resolve().parents[1] / ".venv-servers" / "bin" / "moto_server"


@dataclass(frozen=True)
class S3:
    endpoint: str  # host:port
    #: what GDAL needs to reach it (and a user sets for their own endpoint)
    env: dict[str, str]

    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Store ``data`` (creating ``bucket``); returns the object's s3:// URL."""
        base = f"http://{self.endpoint}/{bucket}"
        for url, body in ((base, b""), (f"{base}/{key}", data)):
            # not urllib's default form type: the server would parse the body as a form
            request = urllib.request.Request(
                url, data=body, method="PUT", headers={"Content-Type": "application/octet-stream"}
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except urllib.error.HTTPError as exc:
                if exc.code != 409:  # the bucket exists already
                    raise
        return f"s3://{bucket}/{key}"


@contextmanager
def moto_s3(workdir: Path) -> Iterator[S3]:
    """moto's S3 server (PyPI moto[server], installed by tools/test-servers) on a free
    loopback port until the block ends."""
    if not MOTO.exists():
        raise RuntimeError(f"{MOTO} is missing: run tools/test-servers (make test does)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = (workdir / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"127.0.0.1:{port}"
    try:
        _wait_for(f"http://{endpoint}/", proc, name="moto_server", log=workdir / "moto.log")
        yield S3(
            endpoint,
            {
                "AWS_S3_ENDPOINT": endpoint,
                "AWS_HTTPS": "NO",
                "AWS_VIRTUAL_HOSTING": "FALSE",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
            },
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


RUSTAC = MOTO.with_name("rustac")


@contextmanager
def stac_api(items: Path, workdir: Path, *, pgstac: str | None = None) -> Iterator[str]:
    """A STAC API (rustac's server, stac-rs; PyPI rustac, installed by
    tools/test-servers) serving the item collection ``items`` until the block ends;
    yields its root URL. In memory it answers collections, bbox and datetime searches
    (not the query and filter extensions); over ``pgstac`` (a connection string, see
    :func:`pgstac_api`) those too."""
    if not RUSTAC.exists():
        raise RuntimeError(f"{RUSTAC} is missing: run tools/test-servers (make test does)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "rustac.log").open("wb")
    backend = ["--pgstac", pgstac] if pgstac else []
    proc = subprocess.Popen(
        [str(RUSTAC), "serve", *backend, "--create-collections", "-a", f"127.0.0.1:{port}",
         str(items)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for(url + "/", proc, name="rustac serve", log=workdir / "rustac.log")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


PG_BIN = Path("/usr/lib/postgresql/15/bin")
PYPGSTAC = MOTO.with_name("pypgstac")


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL 15 cluster (Debian's, with PostGIS) of its own in a scratch folder,
    on a free loopback port, trusting local connections; yields the DSN of its
    ``postgres`` database. As root, the server runs as Debian's ``postgres`` user
    (PostgreSQL refuses root)."""
    import tempfile

    if not (PG_BIN / "initdb").exists():
        raise RuntimeError("PostgreSQL 15 is missing: run tools/system-deps (make test does)")
    root = Path(tempfile.mkdtemp(prefix="rasterflow-pg-"))
    data, port = root / "data", _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, cwd=root)

    run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "start",
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def pgstac_api(items: Path, workdir: Path, *, postgres_dsn: str) -> Iterator[str]:
    """rustac's STAC API server over pgstac (the query and filter extensions, CQL2 text
    and JSON, as stac-fastapi-pgstac answers them): a new database in the cluster of
    ``postgres_dsn`` with pgstac's schema, loaded with ``items``; yields the root URL."""
    import uuid

    if not PYPGSTAC.exists():
        raise RuntimeError(f"{PYPGSTAC} is missing: run tools/test-servers (make test does)")
    name = f"stac_{uuid.uuid4().hex[:12]}"
    server = postgres_dsn.rsplit("/", 1)[0]
    psql = PG_BIN / "psql"
    subprocess.run([str(psql), postgres_dsn, "-qc", f"CREATE DATABASE {name}"], check=True)
    dsn = f"{server}/{name}"
    subprocess.run([str(PYPGSTAC), "migrate", "--dsn", dsn], check=True, capture_output=True)
    # pgstac's functions find their tables through the search path
    with stac_api(items, workdir, pgstac=f"{dsn}?options=-csearch_path%3Dpgstac,public") as url:
        yield url


@dataclass
class Flaky:
    url: str  # the file's URL
    resets: list[str]  # the Range of each response cut short, in order
    requests: list[str]  # the Range of every GET (the file's header included)


@contextmanager
def flaky_http(path: Path, *, resets: int = 1) -> Iterator[Flaky]:
    """An HTTP server on loopback (Python's own, in a thread) serving ``path`` with
    range requests, whose first ``resets`` responses after the header's drop the
    connection half way through the body: a connection reset mid-transfer, which GDAL
    does not retry by itself (it retries HTTP status codes, not short bodies)."""
    import http.server
    import re
    import threading

    data = path.read_bytes()
    seen = Flaky("", [], [])
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _head(self, status: int, length: int, first: int = 0) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {first}-{first + length - 1}/{len(data)}")
            self.end_headers()

        def do_HEAD(self) -> None:
            self._head(200, len(data))

        def do_GET(self) -> None:
            rng = self.headers.get("Range", "")
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            first = int(m[1]) if m else 0
            last = min(int(m[2]) if m and m[2] else len(data) - 1, len(data) - 1)
            body = data[first : last + 1]
            with lock:
                seen.requests.append(rng)
                cut = first > 0 and len(seen.resets) < resets
                if cut:
                    seen.resets.append(rng)
            self._head(206 if m else 200, len(body), first)
            if cut:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
