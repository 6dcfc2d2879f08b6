"""The scene sheet: a CSV of scene ids, dates and paths, decoded, parsed and checked.

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
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from rasterflow.errors import InputDataError
from rasterflow.remote import is_remote

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
