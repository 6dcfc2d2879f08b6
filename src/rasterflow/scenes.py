"""Scene inputs: the scene sheet, band roles, and reading a scene onto one grid.

A scene sheet is a UTF-8 CSV (with or without a byte-order mark) with columns
``scene_id``, ``date`` (``YYYY-MM-DD``, the UTC day of the acquisition) and ``path``;
spaces around names and values are ignored.
``path`` is either one multiband raster (bands picked by number, ``scenes.bands.<role>
.band``) or a directory with one file per band (picked by a glob ``pattern`` matched
against the path relative to that directory, e.g. ``*_B04_10m.jp2`` in a Sentinel-2
SAFE folder or ``*_B4.TIF`` in a Landsat one). Relative paths are relative to the
sheet's own directory. A file belongs to one scene only: the same file (after resolving
``..`` and symbolic links) under two scene ids would be counted twice in every composite.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import fnmatch
import io
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rasterflow.errors import ConfigError, InputDataError
from rasterflow.remote import is_remote, open_options

if TYPE_CHECKING:
    from rasterflow.planning import RasterHeader

SCENE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: ids become file names (``<id>/<index>.log``, STAC's ``index-<id>-<index>.json``),
#: which hold at most 255 bytes (NAME_MAX); 200 leaves room for the index name
SCENE_ID_MAX = 200
SHEET_COLUMNS = ("scene_id", "date", "path")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: scene dates accepted: the satellite era began in 1972 and aerial photographs go back
#: to the 1900s; later than 2199 is a typo. Inside it every period (and a December's
#: winter, labelled with the next year) stays within datetime's years 1..9999 and has
#: a four-digit id
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)

#: lists the files under a directory (relative paths), or None when it is not one
Listing = Callable[[str], list[str] | None]


@dataclass(frozen=True)
class BandFile:
    """Where one band of a scene is and how to turn its numbers into physical values."""

    path: str
    band: int = 1
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None


@dataclass(frozen=True)
class Scene:
    """One acquisition: an id, a date, and a file (and band) for each role it uses."""

    id: str
    date: dt.date
    bands: dict[str, BandFile]
    mask: BandFile | None = None
    valid_classes: tuple[int, ...] = ()
    known_classes: tuple[int, ...] | None = None
    #: what changes when the scene's data does, where file times cannot tell (a STAC
    #: item's ``updated`` and checksums: rasterflow.stac_scenes); "" for a sheet's scenes
    version: str = ""
    #: instead of valid_classes: clear unless any of these bits of the mask is set
    invalid_bits: tuple[int, ...] = ()
    #: pixels around every unclear one masked too (a square of 2 x dilate + 1)
    dilate: int = 0

    def files(self, roles: Iterable[str] | None = None) -> list[str]:
        """Distinct files holding ``roles`` (all roles when None) and the mask."""
        wanted = self.bands if roles is None else {r: self.bands[r] for r in roles}
        paths = [b.path for b in wanted.values()]
        if self.mask is not None:
            paths.append(self.mask.path)
        return sorted(set(paths))

    def subset(self, roles: Iterable[str]) -> Scene:
        """The same scene with only ``roles``: a job's params then change only with them."""
        return Scene(
            self.id,
            self.date,
            {r: self.bands[r] for r in sorted(roles)},
            self.mask,
            self.valid_classes,
            self.known_classes,
            self.version,
            self.invalid_bits,
            self.dilate,
        )

    def to_params(self) -> dict[str, Any]:
        """Plain, JSON-able dict: Snakemake ``params`` (reruns when it changes)."""
        # field by field, not dataclasses.asdict: its deep copies cost ~35 us a scene,
        # seconds at planning time for 100,000 scenes
        params: dict[str, Any] = {
            "id": self.id,
            "date": self.date.isoformat(),
            "bands": {r: dict(vars(b)) for r, b in self.bands.items()},
            "mask": None if self.mask is None else dict(vars(self.mask)),
            "valid_classes": list(self.valid_classes),
            "known_classes": None if self.known_classes is None else list(self.known_classes),
        }
        # each absent at its default: the jobs of older configs keep the params they had
        if self.version:
            params["version"] = self.version
        if self.invalid_bits:
            params["invalid_bits"] = list(self.invalid_bits)
        if self.dilate:
            params["dilate"] = self.dilate
        return params

    @classmethod
    def from_params(cls, d: Mapping[str, Any]) -> Scene:
        return cls(
            id=d["id"],
            date=dt.date.fromisoformat(d["date"]),
            bands={k: BandFile(**v) for k, v in d["bands"].items()},
            mask=BandFile(**d["mask"]) if d.get("mask") else None,
            valid_classes=tuple(d.get("valid_classes") or ()),
            known_classes=None if d.get("known_classes") is None else tuple(d["known_classes"]),
            version=str(d.get("version", "")),
            invalid_bits=tuple(d.get("invalid_bits") or ()),
            dilate=int(d.get("dilate") or 0),
        )


@dataclass(frozen=True)
class SheetRow:
    """One scene of the sheet as written: id, date, path and its line (for messages)."""

    scene_id: str
    date: dt.date
    path: str
    line: int


def decode_sheet(data: bytes, *, source: str) -> str:
    """The text of a scene sheet's bytes: UTF-8, with or without a byte-order mark."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # refused, not decoded: one encoding for every sheet, and what saves UTF-16
        # (Excel's "Unicode Text") separates by tabs anyway
        raise InputDataError(
            f"scene sheet {source} is saved as UTF-16, but a sheet "
            f"must be UTF-8; {_convert(source, 'utf-16')}"
        )
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputDataError(
            f"scene sheet {source}, line {_line_of(data, nul)}: a NUL byte (0x00), so the "
            "sheet is UTF-16 without a byte-order mark, or not text; "
            f"{_convert(source, 'utf-16le')}"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        label, codec = _guess_encoding(data)
        raise InputDataError(
            f"scene sheet {source}, line {_line_of(data, e.start)}: byte 0x{data[e.start]:02x}"
            f" is not UTF-8 (the sheet looks saved as {label}); {_convert(source, codec)}"
        ) from None


def _convert(source: str, codec: str) -> str:
    name = os.path.basename(source)
    return (
        f"save it as 'CSV UTF-8', or convert it: iconv -f {codec} -t utf-8 {name} > "
        f"{os.path.splitext(name)[0]}-utf8.csv and set scenes.sheet to the new file"
    )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _guess_encoding(data: bytes) -> tuple[str, str]:
    """How to name, and how to tell iconv, the encoding of non-UTF-8 ``data``."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "another encoding", "<its encoding>"
    return "Latin-1/cp1252", "cp1252"


def parse_date(raw: str) -> dt.date:
    """A sheet's ``YYYY-MM-DD`` date; ValueError says what is wrong and how to fix it."""
    if not DATE.fullmatch(raw):
        raise ValueError(_bad_date(raw))
    try:
        date = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(_bad_date(raw)) from None
    if not FIRST_DATE <= date <= LAST_DATE:
        raise ValueError(
            f"is outside {FIRST_DATE}..{LAST_DATE}, the dates rasterflow accepts; fix the "
            "date (a year before 1900 or after 2199 is taken for a typo)"
        )
    return date


def _bad_date(raw: str) -> str:
    """The end of the message for a date that is not ``YYYY-MM-DD``."""
    if not re.match(r"\d{4}-\d{2}-\d{2}[T ]\d", raw, re.ASCII):
        return "does not parse; write it as YYYY-MM-DD"
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        return "does not parse; write it as YYYY-MM-DD"
    # times are refused, not cut off: 2024-06-30T23:30-05:00 is July 1 in UTC
    return (
        "has a time of day, but scene dates are days; write the acquisition's UTC "
        f"date as YYYY-MM-DD{_utc_hint(when)}"
    )


def _utc_hint(when: dt.datetime) -> str:
    if when.tzinfo is None:
        return f", {when.date()} if that time is UTC"
    try:
        return f", here {when.astimezone(dt.UTC).date()} (UTC)"
    except OverflowError:  # 9999-12-31T23:00-05:00: no UTC date in the calendar
        return ""


def read_sheet(text: str, *, source: str, base: str | os.PathLike[str]) -> list[SheetRow]:
    """Parse scene-sheet CSV ``text`` (from ``source``); resolve paths against ``base``."""
    # a StringIO, not splitlines(): quoted fields may hold newlines (file names can);
    # skipinitialspace: `a, "b,c"` is two fields, as a user who typed it meant
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [c for c in SHEET_COLUMNS if c not in header]
    if missing:
        raise InputDataError(
            f"scene sheet {source}: missing column(s) {', '.join(missing)}; "
            f"the header must name {', '.join(SHEET_COLUMNS)} "
            f"(found: {', '.join(header) or 'none'})"
        )
    rows: list[SheetRow] = []
    seen: dict[str, int] = {}
    for rec in reader:
        line = reader.line_num
        sid = _scene_id(rec, line=line, source=source)
        if sid in seen:
            raise InputDataError(
                f"scene sheet {source}, line {line}: duplicate scene_id {sid!r} "
                f"(first on line {seen[sid]}); scene ids must be unique"
            )
        seen[sid] = line
        raw_date = (rec["date"] or "").strip()
        try:
            date = parse_date(raw_date)
        except ValueError as e:
            raise InputDataError(
                f"scene sheet {source}, line {line}: date {raw_date!r} of scene {sid!r} {e}"
            ) from None
        raw_path = (rec["path"] or "").strip()
        if not raw_path:
            raise InputDataError(f"scene sheet {source}, line {line}: scene {sid!r} has no path")
        # strings, not Path objects: pathlib was 2/3 of reading a 100,000-line sheet (1.3 s)
        # (join keeps an absolute raw_path as it is)
        path = raw_path if is_remote(raw_path) else os.path.normpath(os.path.join(base, raw_path))
        row = SheetRow(sid, date, path, line)
        check_no_braces(row.path, row)
        rows.append(row)
    if not rows:
        raise InputDataError(f"scene sheet {source}: no scenes; add one line per scene")
    return rows


def _scene_id(rec: Mapping[str, str | None], *, line: int, source: str) -> str:
    sid = (rec["scene_id"] or "").strip()
    if not SCENE_ID.match(sid):
        raise InputDataError(
            f"scene sheet {source}, line {line}: scene_id {sid!r} is not valid; use "
            "letters, digits, '.', '_' and '-' only (it becomes part of file names)"
        )
    if len(sid) > SCENE_ID_MAX:
        raise InputDataError(
            f"scene sheet {source}, line {line}: scene_id {sid[:24]!r}... is {len(sid)} "
            f"characters long; shorten it to at most {SCENE_ID_MAX} (it becomes part of "
            "file names, which hold at most 255 bytes)"
        )
    if tail := periodic_tail(sid):
        times = 20
        while sid.endswith(tail * (times + 1)):
            times += 1
        raise InputDataError(
            f"scene sheet {source}, line {line}: scene_id {sid!r} ends in {tail!r} repeated "
            f"{times} times, which Snakemake refuses as a wildcard value (it suspects an "
            "endless recursion); shorten the repetition"
        )
    return sid


def periodic_tail(value: str) -> str | None:
    """The shortest substring that ``value`` ends with 20 times in a row, if any.

    Snakemake refuses such a wildcard value (PeriodicWildcardError; the defaults of
    snakemake.io.PeriodicityDetector). Its regex took 60 us for a 60-character id with
    many zeros, 6 s for 100,000; these slices take 1 us.
    """
    for n in range(1, len(value) // 20 + 1):
        if value[-20 * n :] == value[-n:] * 20:
            return value[-n:]
    return None


def check_no_braces(path: str, row: SheetRow) -> None:
    """Refuse ``path`` (a file of ``row``'s scene) if it holds ``{`` or ``}``."""
    # Snakemake formats the paths input functions return: {x} is taken for a wildcard
    # (WildcardError) or, as {scene}, silently replaced; it has no escape for them
    if "{" in path or "}" in path:
        raise InputDataError(
            f"scene {row.scene_id!r} (sheet line {row.line}): {path} has a brace ('{{' or "
            "'}'), which Snakemake reads as a wildcard; rename the file or folder without "
            "braces, or link it under such a name (ln -s) and list the link"
        )


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
    return {
        "valid_classes": tuple(int(v) for v in mask.get("valid") or ()),
        "known_classes": None
        if mask.get("classes") is None
        else tuple(int(c) for c in mask["classes"]),
        "invalid_bits": tuple(int(b) for b in mask.get("invalid_bits") or ()),
        "dilate": int(mask.get("dilate") or 0),
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


def check_headers(
    scenes: Mapping[str, Scene],
    *,
    known: Mapping[str, RasterHeader] | None = None,
) -> None:
    """Check every scene file's header against the config, before any job starts.

    Each file is opened once (no pixels read): it must be a whole, georeferenced
    raster (:func:`rasterflow.io.open_raster`) that has the configured band numbers, a
    configured ``nodata`` its data type can hold, and an integer mask band; the band
    files of one scene must cover one area (:func:`_check_extents`). ``known``: path ->
    header of files that already passed ``open_raster``
    (:func:`rasterflow.planning.cached_headers`), which are not opened again.
    """
    from odc.geo.geom import BoundingBox

    from rasterflow.io import open_raster
    from rasterflow.planning import RasterHeader

    headers: dict[str, RasterHeader] = dict(known or {})
    for scene in scenes.values():
        roles: list[tuple[str, BandFile]] = [
            (f"scenes.bands.{r}", b) for r, b in scene.bands.items()
        ]
        if scene.mask is not None:
            roles.append(("scenes.mask", scene.mask))
        for key, bf in roles:
            if bf.path not in headers:
                with open_raster(bf.path, what=f"scene {scene.id!r}") as src:
                    b = src.bounds
                    box = BoundingBox(b.left, b.bottom, b.right, b.top, crs=src.crs.to_wkt())
                    headers[bf.path] = RasterHeader(
                        box, src.count, tuple(src.dtypes), src.width, src.height
                    )
            h = headers[bf.path]
            _check_band(scene.id, key, bf, count=h.count, dtypes=h.dtypes)
        _check_extents(scene.id, roles, headers)


def _check_extents(
    sid: str, roles: list[tuple[str, BandFile]], headers: Mapping[str, RasterHeader]
) -> None:
    """Refuse band files of one scene whose bounds differ by more than half a pixel of
    the coarser of the two.

    A scene is read onto the grid of its finest band and the others are warped onto it
    (:func:`open_scene`), so a band covering another area would be silently cut or
    padded with nodata. Resolutions may differ (Sentinel-2's 10 m and 20 m bands cover
    the same 109.8 km); files in different CRSs are compared only when their boxes are
    in one CRS (warping handles the rest).
    """
    first: tuple[str, BandFile, RasterHeader] | None = None
    for key, bf in sorted(roles, key=lambda kb: kb[0]):  # the same message for any key order
        h = headers[bf.path]
        if first is None:
            first = (key, bf, h)
            continue
        key0, bf0, h0 = first
        # identity first: cached headers share one CRS object per WKT, and comparing
        # two costs ~13 us (100,000 scenes)
        if bf.path == bf0.path or not (
            h.bounds.crs is h0.bounds.crs or h.bounds.crs == h0.bounds.crs
        ):
            continue
        a, b = h0.bounds, h.bounds  # by attribute: a BoundingBox iterates slowly
        shift = max(
            abs(a.left - b.left),
            abs(a.bottom - b.bottom),
            abs(a.right - b.right),
            abs(a.top - b.top),
        )
        if shift and shift > 0.5 * max(_pixel_size(h0), _pixel_size(h)):
            raise InputDataError(
                f"scene {sid!r}: its band files cover different areas: {bf0.path} ({key0}) "
                f"spans {_box_text(h0)} but {bf.path} ({key}) spans {_box_text(h)} "
                f"(left, bottom, right, top in {_crs_text(h.bounds.crs)}); every band of a "
                "scene must cover the same area (resolutions may differ). Use band files "
                "of one product, or cut them to one extent (gdalwarp -te)"
            )


def _pixel_size(h: RasterHeader) -> float:
    """The larger pixel side of a header; 0 when its size in pixels is unknown."""
    if not h.width or not h.height:
        return 0.0
    b = h.bounds
    return max(abs(b.right - b.left) / h.width, abs(b.top - b.bottom) / h.height)


def _crs_text(crs: Any) -> str:
    """``EPSG:32633`` where the CRS has a code, its WKT otherwise."""
    from odc.geo.crs import CRS

    code = CRS(crs).epsg
    return f"EPSG:{code}" if code else str(crs)


def _box_text(h: RasterHeader) -> str:
    return ", ".join(f"{v:.10g}" for v in h.bounds)


def _check_band(sid: str, key: str, bf: BandFile, *, count: int, dtypes: tuple[str, ...]) -> None:
    import numpy as np

    if not 1 <= bf.band <= count:
        raise InputDataError(
            f"scene {sid!r}: {bf.path} has {count} band(s), but {key}.band is {bf.band}; "
            f"set {key}.band to a band between 1 and {count}"
        )
    dtype = np.dtype(dtypes[bf.band - 1])
    if key == "scenes.mask":
        if dtype.kind not in "iu":
            raise InputDataError(
                f"scene {sid!r}: mask band {bf.band} of {bf.path} is {dtype.name}, but a mask "
                "holds integer classes; point scenes.mask at the classification band"
            )
        return
    if bf.nodata is None or dtype.kind not in "iu":
        return
    info = np.iinfo(dtype)
    if not (float(bf.nodata).is_integer() and info.min <= bf.nodata <= info.max):
        raise InputDataError(
            f"scene {sid!r}: {key}.nodata is {bf.nodata:g}, but band {bf.band} of {bf.path} is "
            f"{dtype.name} (whole numbers {info.min}..{info.max}) and can never hold it; set "
            f"{key}.nodata to the file's no-data value"
        )


def require_data(bf: BandFile, *, what: str, key: str) -> None:
    """Raise InputDataError when every pixel of ``bf`` is its configured nodata (or NaN).

    Blocks are read in file order until one holds data, so a normal scene costs one
    block; only an empty one is read whole (and then fails before any product exists).
    A scene whose pixels are all masked (clouds) is not empty: its product is all NaN.
    """
    import numpy as np
    import rasterio

    with rasterio.Env(**open_options(bf.path)), rasterio.open(bf.path) as src:
        floating = np.dtype(src.dtypes[bf.band - 1]).kind == "f"
        if bf.nodata is None and not floating:
            return
        for _ij, window in src.block_windows(bf.band):
            block = src.read(bf.band, window=window)
            data = np.isfinite(block) if floating else np.ones(block.shape, dtype=bool)
            if bf.nodata is not None:
                data &= block != bf.nodata
            if data.any():
                return
    nodata = "NaN" if bf.nodata is None else f"{bf.nodata:g}"
    raise InputDataError(
        f"{what}: every pixel of band {bf.band} of {bf.path} is no-data ({nodata}); the file "
        f"is empty or {key}.nodata is wrong: fix {key}.nodata, or remove the scene from "
        "the scene sheet"
    )


def _check_band_number(src: Any, bf: BandFile, *, what: str) -> None:
    if not 1 <= bf.band <= src.count:
        raise InputDataError(
            f"{what}: {bf.path} has {src.count} band(s), but band {bf.band} is "
            "configured; fix the band number under scenes.bands"
        )


def scene_grid(scene: Scene, roles: Iterable[str]) -> Any:
    """The GeoBox of the finest of ``scene``'s bands ``roles``: the grid its indices are on.

    Checks on the way that every file (the mask's too) is a whole raster with the band
    configured for it, and that no band is all no-data (:func:`require_data`), so a bad
    scene fails before any product is written.
    """
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_raster

    grid = None
    for role in sorted(set(roles)):
        bf = scene.bands[role]
        what = f"scene {scene.id!r}, band {role}"
        with open_raster(bf.path, what=what) as src:
            _check_band_number(src, bf, what=what)
            box = GeoBox.from_rio(src)
        require_data(bf, what=what, key=f"scenes.bands.{role}")
        if grid is None or abs(box.resolution.x) < abs(grid.resolution.x):
            grid = box
    if scene.mask is not None:
        what = f"scene {scene.id!r}, mask"
        with open_raster(scene.mask.path, what=what) as src:
            _check_band_number(src, scene.mask, what=what)
    return grid


def read_window(
    scene: Scene,
    roles: Sequence[str],
    grid: Any,
    window: tuple[int, int, int, int],
    *,
    resampling: str,
) -> tuple[list[Any], Any | None]:
    """Bands ``roles`` of ``scene`` and its valid-pixel mask in ``window`` (x0, y0, width,
    height) of ``grid`` (:func:`scene_grid`): ([one (height, width) array per role], bool
    array or None).

    Bands on ``grid`` come as the file's digital numbers, the bands of one file in one
    read (in a pixel-interleaved file every compressed block holds all bands: band by
    band would decode each block once per band). Bands on other grids (Sentinel-2's
    20 m SWIR next to 10 m red) are warped onto the window with ``resampling`` and
    GDAL's exact transformer (bilinear through :func:`_kernel_upsample` where it gives
    GDAL's bits, else by GDAL), as float32 with NaN for nodata so that nodata never
    blends into valid pixels (``to_reflectance`` keeps NaN as NaN); the mask always with
    nearest, since its values are classes (:func:`_kernel_nearest`, GDAL's classes, or
    GDAL), and -1 where it does not reach (:func:`_clear`). A pixel's
    value does not depend on the window (the warper places it by the source's own
    geotransform), so the blocks of a per-scene index raster and the windows a
    composite reads give the same bits.
    """
    import numpy as np
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_cached

    x0, y0, width, height = window
    box = grid[y0 : y0 + height, x0 : x0 + width]
    out: dict[str, Any] = {}
    on_grid: dict[str, list[str]] = {}  # path -> roles read as they are
    for role in roles:
        bf = scene.bands[role]
        src = open_cached(bf.path)
        if GeoBox.from_rio(src) == grid:
            on_grid.setdefault(bf.path, []).append(role)
            continue
        band = np.full((height, width), np.nan, dtype=np.float32)
        if not (
            resampling == "bilinear" and _kernel_upsample(src, bf.band, band, box, nodata=bf.nodata)
        ):
            _warp_into(
                src,
                bf.band,
                band,
                box,
                resampling=resampling,
                src_nodata=bf.nodata,
                dst_nodata=np.nan,
            )
        out[role] = band
    for path, group in on_grid.items():
        data = open_cached(path).read([scene.bands[r].band for r in group], window=_window(window))
        out.update(zip(group, data, strict=True))
    valid = None if scene.mask is None else _clear(scene, grid, window)
    return [out[r] for r in roles], valid


def _clear(scene: Scene, grid: Any, window: tuple[int, int, int, int]) -> Any:
    """Clear pixels of ``window`` of ``grid`` by the scene's mask rule (a bool array).

    The mask comes as it is where it is on ``grid``, else by nearest (classes), -1
    where it does not reach. With ``dilate`` it is read that many pixels around the
    window (-1 beyond the raster), and every unclear pixel inside the raster grows to
    a square of 2 x dilate + 1: so a window's pixels are those of the whole raster's
    dilated mask, whatever the window.
    """
    import numpy as np
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_cached

    m = scene.mask
    assert m is not None
    pad = scene.dilate
    x0, y0, width, height = window
    px0, py0, pw, ph = x0 - pad, y0 - pad, width + 2 * pad, height + 2 * pad
    src = open_cached(m.path)
    on_grid = GeoBox.from_rio(src) == grid
    if on_grid and not pad:
        classes = src.read(m.band, window=_window(window))
    elif on_grid:
        classes = np.full((ph, pw), -1, dtype=np.int64)
        cx0, cy0 = max(px0, 0), max(py0, 0)
        cx1, cy1 = min(px0 + pw, src.width), min(py0 + ph, src.height)
        classes[cy0 - py0 : cy1 - py0, cx0 - px0 : cx1 - px0] = src.read(
            m.band, window=_window((cx0, cy0, cx1 - cx0, cy1 - cy0))
        )
    else:
        from affine import Affine

        box = (
            grid[y0 : y0 + height, x0 : x0 + width]
            if not pad
            else GeoBox((ph, pw), grid.affine * Affine.translation(px0, py0), grid.crs)
        )
        classes = np.full((ph, pw), -1, dtype=np.int32)
        if not _kernel_nearest(src, m.band, classes, box):
            _warp_into(
                src, m.band, classes, box, resampling="nearest", src_nodata=None, dst_nodata=-1
            )
    if scene.invalid_bits:
        flags = sum(1 << b for b in scene.invalid_bits)
        clear = (classes != -1) & ((classes & flags) == 0)
    else:
        clear = _valid_block(
            classes, valid=scene.valid_classes, known=scene.known_classes, path=m.path
        )
    if not pad:
        return clear
    from scipy import ndimage

    unclear = ((classes != -1) & ~clear).astype(np.uint8)
    grown = ndimage.maximum_filter(unclear, size=2 * pad + 1, mode="constant", cval=0)
    return (clear & (grown == 0))[pad : pad + height, pad : pad + width]


def _window(window: tuple[int, int, int, int]) -> Any:
    from rasterio.windows import Window

    return Window(*window)


def _kernel_upsample(src: Any, band: int, out: Any, box: Any, *, nodata: float | None) -> bool:
    """Bilinear ``band`` of ``src`` onto ``box`` into ``out`` through the compiled kernel
    of :mod:`rasterflow._warp_kernel`, GDAL's pixels bit for bit (its rule, the exact
    transformer of one CRS, source window and nodata as GDAL's warper sees them);
    False, with ``out`` untouched, where only GDAL gives GDAL's pixels (another CRS,
    validity in a mask band, a rotated grid, a finer source...).

    The GDAL warper set up per band and window was the largest single cost of a
    composite reading Sentinel-2's 20 m bands onto 10 m windows (30 % of its CPU,
    profiled in docs/benchmarks.md, third round).
    """
    import numpy as np
    from rasterio.enums import MaskFlags

    from rasterflow._warp_kernel import warp

    flags = src.mask_flag_enums[band - 1]
    if MaskFlags.nodata not in flags and MaskFlags.all_valid not in flags:
        return False
    if nodata is None:
        nodata = src.nodatavals[band - 1]
    reach = _kernel_reach(src, box, nodata=nodata)
    if reach is None:
        return False
    kernel, gt, window = reach
    if window is None:
        return True  # no source pixel reaches: all NaN, as GDAL leaves it
    values = src.read(band, window=_window(window), out_dtype=np.float32)
    warp(
        values.ravel(),
        np.asarray(window, dtype=np.int64),
        kernel.size[0],
        kernel.size[1],
        kernel.kind,
        np.asarray(kernel.params, dtype=np.float64),
        np.nan if nodata is None else float(nodata),
        nodata is not None,
        gt,
        0,
        0,
        out,
    )
    return True


def _kernel_nearest(src: Any, band: int, out: Any, box: Any) -> bool:
    """The mask ``band`` of ``src`` onto ``box`` by nearest neighbour into ``out`` (-1
    where it does not reach) through the compiled kernel, GDAL's pixels bit for bit;
    False, ``out`` untouched, where only GDAL gives them (another CRS, a rotated grid).
    The mask's GDAL warper was the last one set up per window of a composite."""
    import numpy as np
    from odc.geo import xy_

    from rasterflow._warp_kernel import nearest
    from rasterflow.warp import FOUR_SAMPLE_SCALE

    # the scale only picks bilinear's kernel width: nearest has one rule at any scale
    reach = _kernel_reach(src, box, nodata=None, scale=xy_(FOUR_SAMPLE_SCALE, FOUR_SAMPLE_SCALE))
    if reach is None:
        return False
    kernel, gt, window = reach
    if window is None:
        return True  # no source pixel reaches: all -1, as GDAL leaves it
    values = src.read(band, window=_window(window)).astype(np.int32)
    nearest(
        values.ravel(),
        np.asarray(window, dtype=np.int64),
        kernel.size[0],
        kernel.size[1],
        kernel.kind,
        np.asarray(kernel.params, dtype=np.float64),
        gt,
        0,
        0,
        -1,
        out,
    )
    return True


def _kernel_reach(
    src: Any, box: Any, *, nodata: float | None, scale: Any = None
) -> tuple[Any, Any, tuple[int, int, int, int] | None] | None:
    """(the kernel's view of ``src``, ``box``'s geotransform, the source window its
    samples can touch or None) for a source in ``box``'s CRS; None where the kernel does
    not give GDAL's pixels (another CRS, a rotated grid, a source one pixel wide...).
    ``scale``: GDAL's XSCALE/YSCALE, by default ``warp.warp_scale`` of the two."""
    from odc.geo.geobox import GeoBox

    from rasterflow.composite import _kernel_for, _kernel_window, _tile_gt
    from rasterflow.warp import warp_scale

    source = GeoBox.from_rio(src)
    if source.crs != box.crs:
        return None
    kernel = _kernel_for(source, box, scale or warp_scale(source, box), nodata=nodata)
    if kernel is None:
        return None
    height, width = box.shape.yx
    gt = _tile_gt(box)
    return kernel, gt, _kernel_window(kernel, gt, (0, height), (0, width))


def _warp_into(
    src: Any,
    band: int,
    out: Any,
    box: Any,
    *,
    resampling: str,
    src_nodata: float | None,
    dst_nodata: float,
) -> None:
    import rasterio
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import Resampling, reproject

    reproject(
        source=rasterio.band(src, band),
        destination=out,
        src_nodata=src_nodata,
        dst_transform=box.affine,
        dst_crs=RioCRS.from_wkt(box.crs.to_wkt()),
        dst_nodata=dst_nodata,
        init_dest_nodata=False,
        resampling=Resampling[resampling],
        tolerance=0.0,  # exact: GDAL's approximation differs from window to window
        num_threads=1,  # Dask runs one task per core already
    )


def _valid_block(
    block: Any, *, valid: tuple[int, ...], known: tuple[int, ...] | None, path: str
) -> Any:
    import numpy as np

    if known is not None:
        unknown = np.setdiff1d(np.unique(block), np.asarray([*known, -1]))
        if unknown.size:
            raise InputDataError(
                f"mask {path}: class value(s) {', '.join(map(str, unknown[:10]))} are not "
                "among scenes.mask.classes; add them there (and to scenes.mask.valid if "
                "they are clear pixels)"
            )
    return np.isin(block, np.asarray(valid))
