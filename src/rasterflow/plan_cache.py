"""The plan of the last run, reused while nothing it depends on changed.

Planning 100,000 scenes (their sheet, header checks and tiles) took longer than
Snakemake's own planning. :func:`rasterflow.workflow.plan_workflow` saves what it
planned from the sheet, config and scene files as a :class:`CachedPlan` under a key
(:func:`plan_key`: the sheet's bytes, the config, the code, the libraries' versions)
with the size and modification time of every scene file and folder it read; the next
start loads it when the key and all stamps still match (:func:`load_plan`).

The file is signed JSON (:mod:`rasterflow.cache`): loading it runs no code, and a file
that this user's planning did not write is rebuilt, not believed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odc.geo.crs import CRS

#: bumped when :class:`CachedPlan` changes shape, so older cache files are rebuilt
_PLAN_FORMAT = 3

Stamp = tuple[int, int]  # (size, mtime_ns)


@dataclass
class CachedPlan:
    """What the workflow plans from the sheet, config and scene files (rasterflow.workflow)."""

    scenes: dict[str, Any]  # scene id -> rasterflow.scenes.Scene, sheet order
    batches: dict[str, list[str]]
    composites: dict[tuple[str, str], list[str]]  # (tile, period) -> scene ids
    tiles: dict[str, Any]  # tile id -> GeoBox
    grid: Any  # GeoBox of the whole grid, or None without a grid
    composite_indices: list[str]
    outside: list[str]  # scenes outside grid.aoi (a warning at every plan)
    #: path -> stamp of every scene file and scene folder the plan depends on
    stamps: dict[str, Stamp] = field(default_factory=dict)
    #: batch fingerprint path -> its stamp when this plan wrote or checked it
    fingerprints: dict[str, Stamp] = field(default_factory=dict)
    #: batch -> its scenes' ``Scene.to_params`` (the batch job's params), made once
    #: here: 100,000 of them per plan cost more than loading them
    batch_params: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: warnings about the plan, printed at every plan (grid.alignment_warning)
    warnings: list[str] = field(default_factory=list)


def stamps_of(paths: Iterable[str]) -> dict[str, Stamp] | None:
    """Path -> (size, mtime_ns) of each path, or None as soon as one does not exist."""
    out: dict[str, Stamp] = {}
    stat = os.stat
    for p in paths:
        try:
            st = stat(p)
        except OSError:
            return None
        out[p] = (st.st_size, st.st_mtime_ns)
    return out


def planning_code() -> list[Path]:
    """The library's source files, packages' (``zonal/``) included: any change to them
    may change a plan."""
    return sorted(Path(__file__).parent.rglob("*.py"))


def plan_key(
    *,
    sheet: str | os.PathLike[str] | None,
    config: Mapping[str, Any],
    code: Iterable[str | os.PathLike[str]],
    sheet_text: str | None = None,
) -> str:
    """Digest of what a plan depends on besides the scene files' stamps.

    The sheet's bytes (or ``sheet_text``), its absolute path and the working directory
    (relative paths in the sheet and config resolve against them), the whole config
    (every key: a key that planning does not read costs one rebuild, a missed one a
    stale plan), the bytes of the ``code`` files and the versions of the libraries and
    Python that computed tiles and periods.
    """
    import odc.geo
    import pyproj
    import shapely

    h = hashlib.sha256()

    def part(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    part(
        f"{_PLAN_FORMAT} {sys.version} {odc.geo.__version__} {pyproj.__version__} "
        f"{shapely.__version__} {os.getcwd()}".encode()
    )
    part(str(os.path.abspath(sheet) if sheet else "").encode())
    if sheet_text is not None:
        part(sheet_text.encode())
    elif sheet:
        try:
            part(Path(sheet).read_bytes())
        except OSError:
            part(b"<missing>")
    part(json.dumps(config, sort_keys=True, default=repr).encode())
    for f in sorted(map(str, code)):
        part(f.encode())
        part(Path(f).read_bytes())
    return h.hexdigest()


def _plan_to_json(plan: CachedPlan) -> dict[str, Any]:
    from rasterflow.grid import geobox_to_params

    crs_ids: dict[str, int] = {}

    def box(geobox: Any) -> list[Any]:
        p = geobox_to_params(geobox)
        return [crs_ids.setdefault(p["crs"], len(crs_ids)), p["transform"], p["shape"]]

    tiles = {t: box(g) for t, g in plan.tiles.items()}
    grid = None if plan.grid is None else box(plan.grid)
    return {
        "scenes": [sc.to_params() for sc in plan.scenes.values()],
        "batches": plan.batches,
        "composites": [[t, p, ids] for (t, p), ids in plan.composites.items()],
        "crs": list(crs_ids),
        "tiles": tiles,
        "grid": grid,
        "composite_indices": plan.composite_indices,
        "outside": plan.outside,
        "stamps": [[p, *s] for p, s in plan.stamps.items()],
        "fingerprints": [[p, *s] for p, s in plan.fingerprints.items()],
        "batch_params": plan.batch_params,
        "warnings": plan.warnings,
    }


def _plan_from_json(d: Mapping[str, Any]) -> CachedPlan:
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from rasterflow.scenes import SCENE_ID, Scene

    crs = [CRS(c) for c in d["crs"]]  # one CRS object per distinct CRS, shared by tiles

    def box(e: Sequence[Any]) -> GeoBox:
        return GeoBox(tuple(e[2]), Affine(*e[1]), crs[e[0]])

    scenes = {}
    for params in d["scenes"]:
        scene = Scene.from_params(params)
        if not SCENE_ID.match(scene.id):  # ids become paths: never trust them blindly
            raise ValueError(f"scene id {scene.id!r}")
        scenes[scene.id] = scene
    return CachedPlan(
        scenes=scenes,
        batches={b: list(ids) for b, ids in d["batches"].items()},
        composites={(t, p): list(ids) for t, p, ids in d["composites"]},
        tiles={t: box(e) for t, e in d["tiles"].items()},
        grid=None if d["grid"] is None else box(d["grid"]),
        composite_indices=list(d["composite_indices"]),
        outside=list(d["outside"]),
        stamps={p: (int(size), int(m)) for p, size, m in d["stamps"]},
        fingerprints={p: (int(size), int(m)) for p, size, m in d["fingerprints"]},
        batch_params=dict(d["batch_params"]),
        warnings=[str(w) for w in d.get("warnings", [])],
    )


def load_plan(cache: str | os.PathLike[str], *, key: str) -> CachedPlan | None:
    """The plan in ``cache`` if it was made under ``key`` and no scene file or folder
    changed since (size or modification time); None otherwise, also for a missing,
    damaged, unsigned or foreign file: a cache is never worth failing a run for.

    The file is signed JSON (:mod:`rasterflow.cache`): loading it runs no code, and a
    file that this user's planning did not write is rebuilt, not believed.
    """
    from rasterflow import cache as rf_cache

    try:
        stored = rf_cache.load(cache)
        if not isinstance(stored, dict) or stored.get("format") != _PLAN_FORMAT:
            return None
        if stored.get("key") != key:
            return None
        plan = _plan_from_json(stored["plan"])
    except Exception:  # noqa: BLE001 (any damage: a signed file of an older shape)
        return None
    if stamps_of(plan.stamps) != plan.stamps:
        return None
    return plan


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block.

    Planning 100,000 scenes makes a million small objects: the collector walked them
    again and again (1.5 s of the 4.5 s that reading 100,000 STAC items into scenes
    took). Reference counting still frees everything acyclic at once; the cycles made
    inside wait for the next collection. The workflow then freezes the plan
    (``rules/common.smk``: ``gc.freeze``), which lives as long as its process, so that
    Snakemake's full collections while it builds the DAG skip it; a library caller's
    process is left to its own collector.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def save_plan(cache: str | os.PathLike[str], plan: CachedPlan, *, key: str) -> None:
    """Write ``plan`` under ``key`` as signed JSON, atomically."""
    from rasterflow import cache as rf_cache

    rf_cache.dump(cache, {"format": _PLAN_FORMAT, "key": key, "plan": _plan_to_json(plan)})
