"""Atomic outputs: written under a temporary name beside the target, synced, renamed.

Every file rasterflow writes, from a job's product to a planning cache, goes through
:func:`atomic_output` (or :func:`write_atomic` for a string or bytes, or
:func:`scratch_folder` for a folder), which keep these promises:

* A reader sees the previous file or the complete new one, never a part: the content is
  written to a temporary name in the target's own folder (one file system, so the
  rename is atomic), flushed to disk (``fsync``) and renamed over the target with
  :func:`os.replace`; the folder is synced too, so the rename survives a crash.
* An error leaves nothing behind and the target as it was: the temporary is removed
  whatever happens.
* A rename replaces a symbolic link at the target, never the file it points to, so a
  user's file linked into the results is not written through.
* Temporary names start with a dot and carry the process id
  (``.<name>.<pid>.tmp<suffix>``): concurrent writers never collide, Snakemake never
  takes one for a product, and :mod:`rasterflow.errors` recognises them in GDAL's
  messages.

Whether a target may be replaced at all is the caller's business: a job's outputs are
Snakemake's to replace, a folder is replaced only through
:func:`rasterflow.ownership.replace_folder`. This module imports nothing beyond the
standard library, so planning code uses it without loading rasterio.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_beside(
    path: str | os.PathLike[str], *, suffix: str, sweep_stale: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that is always removed afterwards.

    With ``sweep_stale``, same-suffix leftovers of a writer killed with SIGKILL (no
    ``finally`` ran) are removed first: that is right for a job's outputs, since
    Snakemake never runs two jobs for one output, so any found now is stale. Files that
    several processes may write at once (planning caches) pass False: a leftover there
    may be another writer's file in progress. Other suffixes are other writers' and are
    always left alone.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if sweep_stale:
        for stale in target.parent.glob(f".{glob.escape(target.name)}.*{glob.escape(suffix)}"):
            stale.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}{suffix}")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_output(
    path: str | os.PathLike[str], *, sweep_stale: bool = True, sync: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; sync and rename it to ``path`` on success.

    The temporary keeps ``path``'s suffix (``.x.tif.<pid>.tmp.tif``), so GDAL, pandas
    and matplotlib pick the format from it as from ``path``. On an exception nothing is
    renamed and the temporary is removed. ``sweep_stale``: see :func:`scratch_beside`.
    ``sync`` False renames without waiting for the disk: for a job's raster products
    (rasterflow.io), hundreds of MB each, whose sync cost a composite job ~1 s of 15
    (the end-to-end benchmark, issue #16) and waits for the servers of a parallel file
    system; readers still never see a part, and a job cut short by a crash is one
    Snakemake reruns.
    """
    target = Path(path)
    with scratch_beside(target, suffix=f".tmp{target.suffix}", sweep_stale=sweep_stale) as tmp:
        yield tmp
        if sync:
            _fsync(tmp)
        os.replace(tmp, target)
        if sync:
            _fsync_folder(target.parent)


def write_atomic(
    path: str | os.PathLike[str],
    content: str | bytes,
    *,
    encoding: str = "utf-8",
    sweep_stale: bool = True,
    mtime_ns: int | None = None,
) -> Path:
    """Write ``content`` (text in ``encoding``, or bytes) to ``path`` atomically.

    ``mtime_ns`` sets the file's modification (and access) time before the rename, so
    the file never shows another one. Returns ``path``.
    """
    target = Path(path)
    data = content.encode(encoding) if isinstance(content, str) else content
    with atomic_output(target, sweep_stale=sweep_stale) as tmp:
        tmp.write_bytes(data)
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
    return target


@contextmanager
def scratch_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new, empty folder beside ``path`` (``.<name>.<pid>.tmp``), removed afterwards.

    The caller fills it and moves it into place with
    :func:`rasterflow.ownership.replace_folder`, which decides whether ``path`` may be
    replaced; whatever is left (after an error, or a refused replacement) is removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    # not every file system lets a folder be opened or synced (some network ones): the
    # rename is atomic either way, only its durability across a crash is then the OS's
    with contextlib.suppress(OSError):
        _fsync(folder)
