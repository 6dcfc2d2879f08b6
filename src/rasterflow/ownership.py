"""What rasterflow wrote, so that it never deletes or overwrites what it did not.

Snakemake removes a job's existing outputs before running it, and a ``directory()``
output whole, so a ``results`` folder that also holds the user's data (``results: .``
in the data folder) would lose files. Two records decide what is rasterflow's:

* the **results marker** ``<results>/.rasterflow``, written when a run starts
  (``onstart``, never in a dry run), and the same claim in the project's
  ``.snakemake/rasterflow/results.json`` (signed, :mod:`rasterflow.cache`), which holds
  when the marker could not be written (a full results disk): a folder that exists,
  holds anything, and has neither is not rasterflow's, and the run is refused before
  any job;
* a **folder manifest** ``.rasterflow-files`` inside each folder that a step replaces
  whole (the STAC catalog, the report's Dask pages): a file not listed there is the
  user's, and the folder is neither removed by Snakemake nor replaced by the step.

On top, no input (scene sheet, scene files, DEM, zones, rasters, config files) may lie
inside ``results``: a product path could meet it, and a later clean-up would take it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from rasterflow.atomic import write_atomic
from rasterflow.errors import ConfigError, InputDataError

MARKER = ".rasterflow"
#: the results folders this project's runs claimed (beside the other caches)
CLAIMS = ".snakemake/rasterflow/results.json"
MANIFEST = ".rasterflow-files"
#: what may be in a results folder before rasterflow has claimed it
_IGNORED = {".snakemake"}
#: Snakemake's own file in every directory() output it completed
_SNAKEMAKE_STAMP = ".snakemake_timestamp"


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + os.sep) for r in roots)


def check_results(
    results: str,
    *,
    inputs: Mapping[str, Iterable[str]],
    replaced: Iterable[str] = (),
) -> None:
    """Refuse a ``results`` folder that holds inputs or files rasterflow did not write.

    ``inputs``: config key (``scenes.sheet``, ...) -> the paths it names; compared by
    absolute path against ``results`` and its resolved form (a results folder reached
    through a link). ``replaced``: folders that a step replaces whole; each may hold
    only the files its manifest lists. Nothing is created.
    """
    absolute = os.path.abspath(results)
    roots = tuple(dict.fromkeys((absolute, os.path.realpath(absolute))))
    real_dirs: dict[str, str] = {}  # one realpath per folder: 100,000 scenes share few
    for key, paths in inputs.items():
        for path in paths:
            if not path:
                continue
            where = os.path.abspath(path)
            folder, name = os.path.split(where)
            real = real_dirs.get(folder)
            if real is None:
                real = real_dirs[folder] = os.path.realpath(folder)
            if _inside(where, roots) or _inside(os.path.join(real, name), roots):
                raise ConfigError(
                    f"results: {results} holds {path}, an input ({key}); rasterflow "
                    "replaces what it finds at its product paths, so it never writes "
                    "where your data is. Set results to a folder of its own, e.g. "
                    "results: results"
                )
    if not os.path.isdir(absolute) or _is_ours(absolute):
        for folder in replaced:
            foreign = foreign_files(folder)
            if foreign:
                raise InputDataError(
                    f"results: {folder} holds {', '.join(foreign[:5])}"
                    f"{' and more' if len(foreign) > 5 else ''}, which rasterflow did not "
                    "write, and this folder is replaced whole when its step runs. Move "
                    "those files elsewhere (nothing was changed)"
                )
        return
    entries = sorted(e for e in os.listdir(absolute) if e not in _IGNORED)
    if entries:
        shown = ", ".join(entries[:5]) + (" and more" if len(entries) > 5 else "")
        raise ConfigError(
            f"results: {results} already holds {shown}, and rasterflow did not create it "
            f"(there is no {MARKER} marker), so its files could be overwritten. Set "
            "results to a new or empty folder. If it holds an earlier rasterflow run's "
            f"results, mark it as such: touch {os.path.join(results, MARKER)}"
        )


def _claimed() -> set[str]:
    from rasterflow import cache

    value = cache.load(CLAIMS)
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _is_ours(folder: str) -> bool:
    return os.path.exists(os.path.join(folder, MARKER)) or os.path.realpath(folder) in _claimed()


def claim(results: str) -> None:
    """Create ``results`` if needed and mark it as rasterflow's (a run starts)."""
    from rasterflow import __version__, cache

    with contextlib.suppress(OSError):
        claims = _claimed()
        real = os.path.realpath(results)
        if real not in claims:
            cache.dump(CLAIMS, sorted(claims | {real}))
    marker = Path(results) / MARKER
    try:
        os.makedirs(results, exist_ok=True)
        if not marker.exists():  # written whole or not at all
            write_atomic(
                marker,
                json.dumps({"written_by": "rasterflow", "version": __version__}) + "\n",
                sweep_stale=False,
            )
    except OSError as exc:
        # a full or read-only disk: the jobs will say so in their words (the disk
        # advice); without the marker the folder is only refused again next time
        logging.getLogger(__name__).warning(
            "results: could not mark %s as rasterflow's (%s)", results, exc
        )


def _listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


def foreign_files(folder: str | os.PathLike[str]) -> list[str]:
    """Files under ``folder`` that its manifest does not list (all of them without one)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    try:
        listed = set(json.loads((root / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    return [f for f in _listing(root) if f not in (MANIFEST, _SNAKEMAKE_STAMP) and f not in listed]


def replace_folder(scratch: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the finished folder ``scratch`` to ``target``, recording what it holds.

    An existing ``target`` is removed only when every file in it is one rasterflow
    wrote (its manifest); otherwise nothing changes and InputDataError names the files.
    """
    scratch, target = Path(scratch), Path(target)
    files = [f for f in _listing(scratch) if f != MANIFEST]
    (scratch / MANIFEST).write_text(json.dumps({"files": files}, indent=0) + "\n")
    foreign = foreign_files(target)
    if foreign:
        raise InputDataError(
            f"{target} holds {', '.join(foreign[:5])}, which rasterflow did not write; "
            "move those files elsewhere and run again (nothing was changed)"
        )
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(scratch, target)
