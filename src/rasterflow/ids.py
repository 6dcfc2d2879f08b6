"""Id columns of vector layers (zones, points): present, never empty, unique, with
messages that name the file, the column and the key to change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from rasterflow.errors import InputDataError


def some(values: Iterable[Any], limit: int = 10) -> str:
    """The first ``limit`` values for a message, and how many more there are."""
    items = list(values)
    shown = ", ".join(str(v) for v in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_id_column(
    frame: Any, id_column: str, *, source: str, what: str, key: str, noun: str
) -> None:
    """Raise InputDataError unless ``frame`` (a GeoDataFrame or DataFrame read from
    ``source``) has column ``id_column``, never empty and unique. Messages start with
    ``what`` (``zones``, ``points``) and name the config ``key`` that picks the column;
    ``noun`` is what one row is (``zone``, ``point``)."""
    if id_column not in frame.columns:
        geometry = getattr(getattr(frame, "geometry", None), "name", None)
        columns = ", ".join(str(c) for c in frame.columns if c != geometry)
        raise InputDataError(
            f"{what}: {source} has no column {id_column!r} (columns: {columns or 'none'}). "
            f"Set {key} to one of these."
        )
    ids = frame[id_column]
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())
        raise InputDataError(
            f"{what}: column {id_column!r} of {source} is empty in {len(rows)} feature(s) "
            f"(rows {some(rows)}). Give every {noun} an id, or pick another id column."
        )
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InputDataError(
            f"{what}: column {id_column!r} of {source} is not unique: {some(duplicated)} "
            "occur more than once. Pick a unique id column, or make the ids unique."
        )
