"""Compositing periods: which scenes, by date, go into which composite.

Four kinds, chosen by ``periods.kind``:

* ``yearly``: id ``"2024"``, 1 January to 31 December.
* ``seasonal``: meteorological seasons, ids ``"2024-DJF"``, ``"2024-MAM"``, ``"2024-JJA"``,
  ``"2024-SON"``. A DJF season is labelled with the year of its January and February:
  ``"2024-DJF"`` runs from 1 December 2023 to 29 February 2024, so a scene of
  2023-12-15 belongs to ``"2024-DJF"``. (This keeps a winter in one composite; labelling
  by the December year would be as valid, but this one is the climatological habit.)
* ``monthly``: id ``"2024-06"``.
* ``ranges``: named, inclusive date ranges from the config, e.g.
  ``{"spring_2024": ["2024-03-01", "2024-05-31"]}``. Ranges may overlap; a scene then
  goes into every range that holds its date. A scene outside all ranges is unused.

Ids are file-name safe: they become part of product paths (Snakemake wildcards). Years
are written with four digits (``"0999"``), as :func:`period_by_id` reads them. A winter
that would begin before year 1 or end after 9999 (``datetime``'s calendar) is refused;
scene sheets accept only 1900..2199 (:mod:`rasterflow.scenes`), far inside it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rasterflow.errors import ConfigError, InputDataError

KINDS = ("yearly", "seasonal", "monthly", "ranges")
SEASONS = ("DJF", "MAM", "JJA", "SON")
#: names of user ranges: like scene ids, letters, digits, '.', '_', '-'
RANGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_SEASON_OF_MONTH = {
    12: "DJF",
    1: "DJF",
    2: "DJF",
    3: "MAM",
    4: "MAM",
    5: "MAM",
    6: "JJA",
    7: "JJA",
    8: "JJA",
    9: "SON",
    10: "SON",
    11: "SON",
}


@dataclass(frozen=True)
class Period:
    """One compositing period: an id and its first and last day (both inclusive)."""

    id: str
    start: dt.date
    end: dt.date

    def __contains__(self, date: dt.date) -> bool:
        return self.start <= date <= self.end


@dataclass(frozen=True)
class PeriodSpec:
    """The ``periods`` config section, checked."""

    kind: str
    ranges: tuple[Period, ...] = ()

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> PeriodSpec:
        """Check ``{kind: ..., ranges: {...}}``; errors name the offending key."""
        unknown = set(cfg) - {"kind", "ranges"}
        if unknown:
            raise ConfigError(f"periods: unknown key(s) {', '.join(sorted(unknown))}")
        kind = cfg.get("kind", "yearly")
        if kind not in KINDS:
            raise ConfigError(f"periods.kind: {kind!r} is not one of {', '.join(KINDS)}")
        raw = cfg.get("ranges") or {}
        if kind != "ranges":
            if raw:
                raise ConfigError(
                    f"periods.ranges is set but periods.kind is {kind!r}; set kind: ranges "
                    "to use the named ranges, or remove them"
                )
            return cls(kind)
        if not raw:
            raise ConfigError(
                "periods.ranges: empty; with kind: ranges give e.g. "
                "{spring_2024: ['2024-03-01', '2024-05-31']}"
            )
        ranges = []
        for name, span in raw.items():
            key = f"periods.ranges.{name}"
            if not RANGE_NAME.match(str(name)):
                raise ConfigError(
                    f"{key}: the name is not valid; use letters, digits, '.', '_' and '-' "
                    "(it becomes part of file names)"
                )
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise ConfigError(f"{key}: must be [first_day, last_day], got {span!r}")
            try:
                start, end = (
                    d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in span
                )
            except ValueError:
                raise ConfigError(
                    f"{key}: {span!r} does not parse; write dates as YYYY-MM-DD"
                ) from None
            if start > end:
                raise ConfigError(f"{key}: starts ({start}) after it ends ({end})")
            ranges.append(Period(str(name), start, end))
        return cls(kind, tuple(ranges))


def period_of(date: dt.date, kind: str) -> Period:
    """The period of kind ``yearly``, ``seasonal`` or ``monthly`` that holds ``date``."""
    if kind == "yearly":
        return Period(f"{date.year:04d}", dt.date(date.year, 1, 1), dt.date(date.year, 12, 31))
    if kind == "monthly":
        last = calendar.monthrange(date.year, date.month)[1]
        return Period(
            f"{date.year:04d}-{date.month:02d}", date.replace(day=1), date.replace(day=last)
        )
    if kind == "seasonal":
        season = _SEASON_OF_MONTH[date.month]
        year = date.year + 1 if date.month == 12 else date.year  # DJF: the January's year
        return season_period(year, season)
    raise ConfigError(
        f"periods.kind: {kind!r} has no calendar rule; use one of yearly, seasonal, monthly"
    )


def season_period(year: int, season: str) -> Period:
    """The meteorological ``season`` labelled ``year`` (DJF: December of ``year - 1``)."""
    first_year = year - 1 if season == "DJF" else year
    if not (dt.MINYEAR <= first_year and year <= dt.MAXYEAR):
        # 9999-12-31 is in 10000-DJF and 0001-01-15 in a winter from December of year 0
        raise InputDataError(
            f"season {year:04d}-{season} begins or ends outside the calendar's years "
            f"{dt.MINYEAR}..{dt.MAXYEAR}; use scene dates of years 1900..2199"
        )
    if season == "DJF":
        start = dt.date(year - 1, 12, 1)
        end = dt.date(year, 2, calendar.monthrange(year, 2)[1])
    else:
        first = {"MAM": 3, "JJA": 6, "SON": 9}[season]
        start = dt.date(year, first, 1)
        end = dt.date(year, first + 2, calendar.monthrange(year, first + 2)[1])
    return Period(f"{year:04d}-{season}", start, end)


def periods_of(date: dt.date, spec: PeriodSpec) -> list[Period]:
    """Every period of ``spec`` holding ``date``: one for calendar kinds, 0..n for ranges."""
    if spec.kind == "ranges":
        return [p for p in spec.ranges if date in p]
    return [period_of(date, spec.kind)]


def group_by_period(dates: Mapping[str, dt.date], spec: PeriodSpec) -> dict[str, list[str]]:
    """Period id -> ids of the scenes dated in it (``dates`` maps scene id -> date).

    Periods come in chronological order (ranges: by start, then name), scenes by date
    then id; periods without a scene are absent.
    """
    found: dict[str, tuple[Period, list[str]]] = {}
    of_day: dict[dt.date, list[Period]] = {}  # 100,000 scenes fall on a few hundred days
    for scene in sorted(dates, key=lambda s: (dates[s], s)):
        day = dates[scene]
        if (periods := of_day.get(day)) is None:
            periods = of_day[day] = periods_of(day, spec)
        for period in periods:
            found.setdefault(period.id, (period, []))[1].append(scene)
    ordered = sorted(found.values(), key=lambda pv: (pv[0].start, pv[0].id))
    return {p.id: scenes for p, scenes in ordered}


def period_by_id(period_id: str, spec: PeriodSpec) -> Period:
    """The :class:`Period` with id ``period_id`` (for tags and logs in a job)."""
    if spec.kind == "ranges":
        for p in spec.ranges:
            if p.id == period_id:
                return p
    elif spec.kind == "yearly" and re.fullmatch(r"\d{4}", period_id):
        return period_of(dt.date(int(period_id), 1, 1), "yearly")
    elif spec.kind == "monthly" and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period_id):
        return period_of(dt.date.fromisoformat(f"{period_id}-01"), "monthly")
    elif spec.kind == "seasonal" and (m := re.fullmatch(r"(\d{4})-(DJF|MAM|JJA|SON)", period_id)):
        return season_period(int(m[1]), m[2])
    raise ConfigError(f"period {period_id!r} is not a {spec.kind} period id")
