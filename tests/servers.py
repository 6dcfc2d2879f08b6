"""Real servers on loopback for the tests: nginx (Debian's nginx-light) serving files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass(frozen=True)
class Served:
    url: str  # base URL, no trailing slash
    access_log: Path  # one line per request: method path status range bytes

    def requests(self) -> list[tuple[str, str, int, str, int]]:
        """(method, path, status, Range header or "-", body bytes) of each request."""
        out = []
        for line in self.access_log.read_text().splitlines():
            method, path, status, rng, size = line.split("\t")
            out.append((method, path, int(status), rng, int(size)))
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def nginx(root: Path, workdir: Path) -> Iterator[Served]:
    """nginx serving ``root`` on a free loopback port (HTTP/1.1 with range requests,
    as object stores and data portals serve COGs) until the block ends."""
    if not os.path.exists(NGINX):
        raise RuntimeError("nginx is not installed: apt-get install nginx-light "
                           "(tools/system-deps installs it)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = workdir / "access.log"
    temps = "\n".join(f"  {kind}_temp_path {workdir}/{kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # as root the workers would drop to nobody, who cannot read pytest's 0700 folders
    user = "user root;\n" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{ worker_connections 64; }}
http {{
  log_format ranges "$request_method\\t$uri\\t$status\\t$http_range\\t$body_bytes_sent";
  access_log {log} ranges;
{temps}
  server {{
    listen 127.0.0.1:{port};
    root {root};
  }}
}}
""")
    proc = subprocess.Popen([NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answers (403/404 for the folder)
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"nginx did not start: {err}") from None
                time.sleep(0.05)
        log.write_text("")  # the start-up probe is not the test's
        yield Served(url, log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
