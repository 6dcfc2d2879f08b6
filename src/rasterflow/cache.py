"""Caches that planning reads back: JSON only, signed with a secret of the user's own.

Planning keeps two caches in the project's ``.snakemake/rasterflow`` folder (the
cached plan and the raster headers). On a cluster that folder is often group-writable,
so what is read back must be (1) unable to run code and (2) unable to mislead: a
planted file that lies about a scene's bounds would silently change products.

(1) Every cache is JSON, parsed with :func:`json.loads`, which builds only dicts,
lists, strings and numbers; never pickle, whose ``load`` runs code before any check.
(2) Each file carries an HMAC-SHA256 of its body under a per-user secret kept in the
user's own cache folder (mode 0600). A file written by anyone else, or edited, fails
the check and is treated as missing: planning rebuilds it and overwrites it. Without a
usable secret (an unwritable home) nothing is cached; planning is then only slower.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from rasterflow.atomic import write_atomic

_MAGIC = b"rasterflow-cache 1\n"
_SECRET_BYTES = 32


def _secret_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rasterflow" / "cache-secret"


def user_secret() -> bytes | None:
    """This user's signing secret, created on first use; None when it cannot be kept.

    A secret that is not the user's own, or that others can read, is refused (anyone
    who can read it could sign a planted cache).
    """
    path = _secret_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(_SECRET_BYTES))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o077:
                return None
            data = fh.read()
    except OSError:
        return None
    return data if len(data) == _SECRET_BYTES else None


def _digest(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).hexdigest().encode()


def dump(path: str | os.PathLike[str], value: Any) -> bool:
    """Write ``value`` as signed JSON to ``path`` atomically; False when not cached."""
    secret = user_secret()
    if secret is None:
        return False
    body = json.dumps(value, separators=(",", ":")).encode()
    # atomic: two dry runs at once leave one whole file (and neither sweeps the other's)
    write_atomic(path, _MAGIC + _digest(secret, body) + b"\n" + body, sweep_stale=False)
    return True


def load(path: str | os.PathLike[str]) -> Any | None:
    """The value :func:`dump` wrote to ``path``; None when missing, damaged, foreign or
    unsigned: a cache is never worth failing a run for, nor trusting."""
    secret = user_secret()
    if secret is None:
        return None
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None
    if not raw.startswith(_MAGIC):
        return None
    digest, _, body = raw[len(_MAGIC) :].partition(b"\n")
    if not hmac.compare_digest(digest, _digest(secret, body)):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
