"""Scenes resolved from the sheet and the ``scenes`` config: each role's file (and band).

A row's ``path`` is either one multiband raster (bands picked by number,
``scenes.bands.<role>.band``) or a directory with one file per band (picked by a glob
``pattern`` matched against the path relative to that directory). A file belongs to one
scene only: the same file (after resolving ``..`` and symbolic links) under two scene
ids would be counted twice in every composite (:func:`check_distinct_files`).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from rasterflow.errors import ConfigError, InputDataError
from rasterflow.remote import is_remote
from rasterflow.scenes.model import BandFile, Scene
from rasterflow.scenes.sheet import (
    SHEET_COLUMNS,
    SheetRow,
    check_no_braces,
    decode_sheet,
    read_sheet,
)

#: lists the files under a directory (relative paths), or None when it is not one
Listing = Callable[[str], list[str] | None]


def filesystem_listing(path: str) -> list[str] | None:
    """Files under directory ``path`` relative to it, or None if it is not a directory."""
    if not os.path.isdir(path):
        return None
    out = []
    for root, _dirs, files in os.walk(path):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), path))
    return sorted(out)


def recording_listing() -> tuple[Listing, list[str]]:
    """:func:`filesystem_listing` that also records every directory it walked.

    A scene folder's resolved band files change only when an entry is added, removed
    or renamed in one of those directories, which changes that directory's mtime: so
    their stamps, with those of the files, tell whether a cached plan still holds.
    """
    walked: list[str] = []

    def listing(path: str) -> list[str] | None:
        if not os.path.isdir(path):
            return None
        out: list[str] = []
        for root, _dirs, files in os.walk(path):
            walked.append(root)
            out.extend(os.path.relpath(os.path.join(root, f), path) for f in files)
        return sorted(out)

    return listing, walked


def planned_listing(files: Iterable[str]) -> tuple[Listing, Callable[[str], bool]]:
    """A listing and an existence test over files that a rule will write (demo data)."""
    planned = {os.path.normpath(f) for f in files}

    def listing(path: str) -> list[str] | None:
        prefix = os.path.normpath(path) + os.sep
        inside = sorted(f[len(prefix) :] for f in planned if f.startswith(prefix))
        return inside or None

    return listing, planned.__contains__


def _locate(
    row: SheetRow, spec: Mapping[str, Any], files: list[str] | None, *, what: str
) -> BandFile:
    """The file of one role; ``files``: the scene folder's listing, None for a file."""
    common: dict[str, Any] = {
        "scale": float(spec.get("scale", 1.0)),
        "offset": float(spec.get("offset", 0.0)),
        "nodata": None if spec.get("nodata") is None else float(spec["nodata"]),
    }
    if files is None:  # one multiband file
        if spec.get("band") is None:
            raise ConfigError(
                f"scene {row.scene_id!r}: {row.path} is a file, but {what} has no 'band' "
                "number; give the band number of this role in the multiband file"
            )
        return BandFile(path=row.path, band=int(spec["band"]), **common)
    pattern = spec.get("pattern")
    if not pattern:
        raise ConfigError(
            f"scene {row.scene_id!r}: {row.path} is a directory, but {what} has no "
            "'pattern'; give a glob that finds this band's file, e.g. '*_B04_10m.jp2'"
        )
    matches = [f for f in files if fnmatch.fnmatch(f, pattern)]
    if len(matches) != 1:
        found = ", ".join(matches[:5]) or "no file"
        raise InputDataError(
            f"scene {row.scene_id!r}: pattern {pattern!r} of {what} matches {found} in "
            f"{row.path}; it must match exactly one file"
        )
    return BandFile(path=os.path.join(row.path, matches[0]), band=1, **common)


def resolve_scene(
    row: SheetRow,
    *,
    bands: Mapping[str, Mapping[str, Any]],
    mask: Mapping[str, Any] | None,
    listing: Listing = filesystem_listing,
    exists: Callable[[str], bool] = os.path.exists,
    product_metadata: bool = True,
) -> Scene:
    """Turn a sheet row and the ``scenes`` config into a :class:`Scene`; with
    ``product_metadata`` a Sentinel-2 SAFE folder's bands are scaled as its metadata
    says (:func:`rasterflow.presets.scaled_by_product`)."""
    # one listing per scene, shared by its roles: a folder's listing walks it on disk
    files = None if is_remote(row.path) else listing(row.path)
    if files is None and not is_remote(row.path) and not exists(row.path):
        raise InputDataError(
            f"scene {row.scene_id!r} (sheet line {row.line}): {row.path} does not exist; "
            "fix the path in the scene sheet (relative paths are relative to the sheet)"
        )
    located = {
        role: _locate(row, spec, files, what=f"scenes.bands.{role}") for role, spec in bands.items()
    }
    if files is not None and product_metadata:
        from rasterflow.presets import scaled_by_product

        located = scaled_by_product(located, row.path)
    mask_file = _locate(row, mask, files, what="scenes.mask") if mask else None
    scene = Scene(row.scene_id, row.date, located, mask_file, **mask_rule(mask))
    if files is not None:  # a folder's band files: names the sheet did not spell out
        for path in scene.files():
            check_no_braces(path, row)
    return scene


def mask_rule(mask: Mapping[str, Any] | None) -> dict[str, Any]:
    """:class:`Scene`'s mask fields from the ``scenes.mask`` config (None: no mask)."""
    if not mask:
        return {}
    fill = tuple(int(v) for v in mask.get("fill") or ())
    return {
        "valid_classes": tuple(int(v) for v in mask.get("valid") or ()),
        # a fill value is one the mask may hold
        "known_classes": None
        if mask.get("classes") is None
        else tuple(sorted({*(int(c) for c in mask["classes"]), *fill})),
        "invalid_bits": tuple(int(b) for b in mask.get("invalid_bits") or ()),
        "dilate": int(mask.get("dilate") or 0),
        "fill_classes": fill,
    }


def load_scenes(
    sheet: str | os.PathLike[str],
    *,
    bands: Mapping[str, Mapping[str, Any]],
    mask: Mapping[str, Any] | None,
    listing: Listing = filesystem_listing,
    exists: Callable[[str], bool] = os.path.exists,
    text: str | None = None,
    product_metadata: bool = True,
) -> dict[str, Scene]:
    """Read a scene sheet and resolve every scene, keyed by scene id (sheet order)."""
    sheet = Path(sheet)
    if text is None:
        if not sheet.is_file():
            raise InputDataError(
                f"scene sheet {sheet} not found; set scenes.sheet to a CSV with columns "
                f"{', '.join(SHEET_COLUMNS)}"
            )
        text = decode_sheet(sheet.read_bytes(), source=str(sheet))
    rows = read_sheet(text, source=str(sheet), base=sheet.parent)
    scenes = {
        r.scene_id: resolve_scene(
            r,
            bands=bands,
            mask=mask,
            listing=listing,
            exists=exists,
            product_metadata=product_metadata,
        )
        for r in rows
    }
    check_distinct_files(scenes, rows, source=str(sheet))
    return scenes


def check_distinct_files(
    scenes: Mapping[str, Scene], rows: Iterable[SheetRow], *, source: str
) -> None:
    """Refuse a file (after resolving ``..`` and links) that two scenes share.

    It would be counted twice on every pixel (``s1`` and ``s1_copy`` at ``./scene.tif``,
    or one folder under two ids). One scene may use one file for several roles.
    """
    lines = {r.scene_id: r.line for r in rows}
    if found := shared_file(scenes, lines):
        first, sid, shared = found
        raise InputDataError(
            f"scene sheet {source}, lines {lines[first]} and {lines[sid]}: scenes "
            f"{first!r} and {sid!r} both use {shared}, which would count twice in "
            "every composite; remove one of the two lines"
        )


def shared_file(
    scenes: Mapping[str, Scene], rank: Mapping[str, int]
) -> tuple[str, str, str] | None:
    """(first scene, second scene, file) for a file (after resolving ``..`` and links;
    a URL as it is) that two scenes share, else None: the scene of lowest ``rank``
    (sheet line, catalog position) and the first such file, whatever the sets' order."""
    # sets, not Scene.files(): its sorting was 40 % of this check
    files = {
        sid: {b.path for b in (*sc.bands.values(), *([sc.mask] if sc.mask else []))}
        for sid, sc in scenes.items()
    }
    real = real_paths(f for fs in files.values() for f in fs)
    owner: dict[str, str] = {}
    for sid, paths in files.items():
        taken = [p for p in {real[f] for f in paths} if owner.setdefault(p, sid) != sid]
        if taken:
            first = min((owner[p] for p in taken), key=rank.__getitem__)
            return first, sid, min(p for p in taken if owner[p] == first)
    return None


def real_paths(paths: Iterable[str]) -> dict[str, str]:
    """Normalised path (:func:`os.path.normpath`) -> :func:`os.path.realpath` of it.

    For many files in few folders: realpath lstat()s every component of every path
    (0.9 s for 100,000 scenes, half of reading their sheet); here each folder is
    resolved once, and a file only when its folder's listing says that it is a link.
    String splits, not os.path: those were most of the rest.
    """
    by_folder: dict[str, list[tuple[str, str]]] = {}
    out: dict[str, str] = {}
    for path in paths:
        if is_remote(path):  # a URL names itself
            out[path] = path
            continue
        folder, sep, name = path.rpartition(os.sep)
        folder = (folder or os.sep) if sep else "."
        by_folder.setdefault(folder, []).append((path, name))
    for folder, members in by_folder.items():
        prefix = os.path.realpath(folder).rstrip(os.sep) + os.sep
        links = _links_among(folder, members)
        for path, name in members:
            out[path] = os.path.realpath(path) if name in links else prefix + name
    return out


def _links_among(folder: str, members: list[tuple[str, str]]) -> set[str]:
    """Names of ``members`` ((path, name) in ``folder``) that are symbolic links."""
    if len(members) < 32:  # cheaper than listing a large folder for a few files
        return {name for path, name in members if os.path.islink(path)}
    try:
        with os.scandir(folder) as entries:
            return {e.name for e in entries if e.is_symlink()}
    except OSError:  # not there yet (the demo's planned files)
        return set()
