"""What Snakemake needs to plan many scenes quickly: cached footprints and scene batches.

Headers. Tiling a run needs every scene's bounds, and checking scene files needs their
band counts and types; opening a raster header costs ~1-3 ms (more on a network file
system), which was most of a 10,000-scene dry run. :func:`cached_headers` keeps them
in a JSON file keyed by each file's absolute path, size and modification time (ns), so
only new or changed files are opened again.

Batches. With ``scenes.batch: N`` > 1 one ``index_batch`` job computes an index for N
scenes consecutive in time (:func:`batches`) and writes the usual
``indices/<scene>/<index>.tif`` files plus a *manifest*
(:func:`rasterflow.indices.write_manifest`, written by the job, not by planning), the
job's only declared output. Composites depend on the manifests of the batches that hold
their scenes and read the rasters by their usual paths, so products are the same bytes
as without batching; Snakemake plans N times fewer index jobs.

Batch inputs. A batch job declares one input, its *fingerprint*
(:func:`write_fingerprint`): the size and modification time of each scene file it
reads, written at planning time only when one of them changed. Declaring the N scene
files instead cost Snakemake most of a batched plan (it resolves and compares every
input of every job); the fingerprint keeps its rerun rule: a batch reruns when a file
it reads changed, and only that batch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odc.geo.crs import CRS
from odc.geo.geom import BoundingBox

from rasterflow.atomic import write_atomic
from rasterflow.errors import ConfigError, InputDataError
from rasterflow.remote import is_remote

_CACHE_VERSION = 4


@dataclass(frozen=True)
class RasterHeader:
    """What planning needs from a raster's header: its footprint and its bands' types."""

    bounds: BoundingBox  # with its CRS
    count: int
    dtypes: tuple[str, ...]
    #: pixels across and down (0 when unknown): with ``bounds`` they give the resolution
    width: int = 0
    height: int = 0
    #: (size, mtime_ns) of the file this header is of, when known (``cached_headers``)
    stamp: tuple[int, int] | None = None


def read_header(path: str | os.PathLike[str]) -> RasterHeader:
    """The header of ``path``, after :func:`rasterflow.io.open_raster` checked it."""
    from rasterflow.io import open_raster

    with open_raster(path, what="scene file") as src:
        b = src.bounds
        box = BoundingBox(b.left, b.bottom, b.right, b.top, crs=src.crs.to_wkt())
        return RasterHeader(box, src.count, tuple(src.dtypes), src.width, src.height)


def _stat_key(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _read_cache(cache: Path) -> dict[str, list[Any]]:
    """Entries of a cache file, or none when it is missing, damaged, unsigned or of
    another version (:mod:`rasterflow.cache`: a planted file could lie about bounds).

    An entry is [size, mtime_ns, crs, left, bottom, right, top, count, width, height,
    *dtypes].
    """
    from rasterflow import cache as rf_cache

    try:
        data = rf_cache.load(cache)
        if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
            return {}
        crs = data["crs"]
        return {p: [e[0], e[1], crs[e[2]], *e[3:]] for p, e in data["entries"].items()}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return {}  # a cache is never worth failing a run for: read the headers again


def _write_cache(cache: Path, entries: Mapping[str, list[Any]]) -> None:
    from rasterflow import cache as rf_cache

    crs_ids: dict[str, int] = {}
    packed = {}
    for path, (size, mtime, crs, *rest) in entries.items():
        packed[path] = [size, mtime, crs_ids.setdefault(crs, len(crs_ids)), *rest]
    rf_cache.dump(cache, {"version": _CACHE_VERSION, "crs": list(crs_ids), "entries": packed})


def cached_headers(
    paths: Iterable[str], *, cache: str | os.PathLike[str], open_missing: bool = True
) -> dict[str, RasterHeader]:
    """Path -> :class:`RasterHeader` of each raster, from ``cache`` where still valid.

    A file whose size or modification time differs from the cached one is opened again
    (:func:`read_header`); the cache is rewritten only when something changed. A file
    that is missing or fails :func:`rasterflow.io.check_raster` is left out, so that the
    caller's own check reports it in its words (``rasterflow.scenes.check_headers``).
    ``open_missing=False``: only what the cache holds, nothing opened or written (the
    dry run's estimate: 100,000 header reads are not worth a guess).
    """
    cache = Path(cache)
    known = _read_cache(cache)
    crs_of: dict[str, CRS] = {}  # one CRS per distinct WKT: parsing it per box was half their cost
    out: dict[str, RasterHeader] = {}
    fresh: dict[str, list[Any]] = {}
    for given in paths:
        if is_remote(given):
            if not open_missing:
                continue
            # read each time: no size and mtime to tell a stale entry (rasterflow.remote)
            try:
                out[given] = read_header(given)
            except InputDataError:
                pass
            continue
        path = os.path.abspath(given)
        key = _stat_key(path)
        entry = known.get(path)
        if key is None:
            continue
        if entry is None or entry[:2] != key:
            if not open_missing:
                continue
            try:
                h = read_header(given)
            except InputDataError:
                continue
            assert h.bounds.crs is not None  # read_header's open_raster refuses none
            entry = [
                *key,
                h.bounds.crs.to_wkt(),
                *map(float, h.bounds),
                h.count,
                h.width,
                h.height,
                *h.dtypes,
            ]
        fresh[path] = entry
        crs = crs_of.get(entry[2])
        if crs is None:
            crs = crs_of[entry[2]] = CRS(entry[2])
        left, bottom, right, top = entry[3:7]
        out[given] = RasterHeader(
            BoundingBox(left, bottom, right, top, crs=crs),
            int(entry[7]),
            tuple(entry[10:]),
            int(entry[8]),
            int(entry[9]),
            stamp=(key[0], key[1]),
        )
    if fresh != known and open_missing:
        _write_cache(cache, fresh)
    return out


def footprints_of(
    files: Mapping[str, str], headers: Mapping[str, RasterHeader]
) -> dict[str, BoundingBox]:
    """Scene id -> bounds of its raster ``files[scene]`` (headers from :func:`cached_headers`)."""
    return {scene: headers[path].bounds for scene, path in files.items()}


def batch_id(number: int) -> str:
    """``"b00012"``: the 13th batch of the sheet (0-based)."""
    return f"b{number:05d}"


def batches(dates: Mapping[str, dt.date], *, size: int) -> dict[str, list[str]]:
    """Batch id -> ``size`` scene ids, consecutive in date (then id) order.

    ``dates`` maps scene id -> acquisition date. Date order keeps a batch within one or
    a few compositing periods, so a composite depends on few batches (in sheet order a
    composite could depend on every batch, and Snakemake's cost grows with batches x
    their inputs) and a changed scene reruns composites of its own time only. Adding
    scenes later than all others leaves earlier batches (and their jobs) unchanged;
    inserting one in between shifts every later batch, which then runs again.
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"scenes.batch: must be an integer >= 1, got {size!r}")
    ids = sorted(dates, key=lambda s: (dates[s], s))
    return {batch_id(i // size): ids[i : i + size] for i in range(0, len(ids), size)}


def batch_of(groups: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Scene id -> its batch id (the inverse of :func:`batches`)."""
    return {scene: b for b, members in groups.items() for scene in members}


def _fingerprint_text(stats: Mapping[str, tuple[int, int]]) -> str:
    # no indent: json's C encoder does not indent (the Python one took 7 of 15 s profiled
    # writing 100,000 scenes' fingerprints)
    return json.dumps({"files": [[p, *stats[p]] for p in sorted(stats)]}) + "\n"


def write_fingerprint(
    path: str | os.PathLike[str],
    files: Iterable[str],
    *,
    stamps: Mapping[str, tuple[int, int] | None] | None = None,
    now_ns: int | None = None,
) -> bool:
    """Record ``files``' sizes and modification times in ``path`` if they changed.

    The file is the one input of a batch job, so its modification time decides, as for
    any input, whether the batch runs again:

    * unchanged record: the file is left alone (not even touched);
    * new record (no file yet): its time is that of the newest of ``files``, so a lost
      fingerprint next to a batch made after those files reruns nothing, as the files
      themselves would not;
    * changed record: its time is now (``now_ns``), or the newest file's if later, so
      the batch runs again even when a file was replaced by an older one.

    ``stamps``: path -> (size, mtime_ns) already known (:attr:`RasterHeader.stamp`),
    so that planning stats each scene file once; other files are looked up here.
    Returns False, writing nothing, when one of ``files`` does not exist (yet): the
    demo's scenes are written by a rule, which then writes the fingerprint itself.
    Written atomically: two plans at once leave one whole file.
    """
    known = stamps or {}
    stats: dict[str, tuple[int, int]] = {}
    for f in files:
        stamp = known.get(f)
        if stamp is None:
            key = _stat_key(f)
            if key is None:
                return False
            stamp = (key[0], key[1])
        stats[f] = stamp
    text = _fingerprint_text(stats)
    path = Path(path)
    try:
        old: str | None = path.read_text()
    except OSError:
        old = None
    if old == text:
        return True
    newest = max((m for _size, m in stats.values()), default=0)
    if old is not None:
        newest = max(newest, time.time_ns() if now_ns is None else now_ns)
    write_atomic(path, text, sweep_stale=False, mtime_ns=newest)  # other plans may write it too
    return True
