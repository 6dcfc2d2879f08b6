"""What to compute per zone (:class:`ZonalSpec`) and the names of the statistic columns.

Both pixel rules (``"centre"``: :mod:`rasterflow.zonal.centre`, ``"coverage"``:
:mod:`rasterflow.zonal.coverage`):

* ignore pixels that are nodata (the band's mask, i.e. its nodata value, alpha or
  per-dataset mask) or NaN, and apply the band's scale/offset (as exactextract does;
  rasterstats ignores scale/offset, so the two agree only on unscaled rasters);
* give a zone with no valid pixel (outside the raster, all nodata, empty geometry)
  ``count`` 0 and NaN for every other statistic (exactextract alone would say
  ``sum`` 0): :func:`empty_row`;
* break ``majority`` ties like their reference: the smallest class for ``"centre"``
  (rasterstats), the largest for ``"coverage"`` (exactextract).

Column names live here because the zones' checks (:mod:`rasterflow.zonal.zones`) and
the long table (:mod:`rasterflow.zonal.tables`) must tell statistics from attributes
by name, whichever statistics a run computes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from rasterflow.errors import ConfigError

Rule = Literal["centre", "coverage"]

#: Statistics a caller may ask for by name (percentiles go in ``percentiles``).
STATS: tuple[str, ...] = ("count", "sum", "mean", "min", "max", "std", "median", "majority")
DEFAULT_STATS: tuple[str, ...] = ("count", "mean", "min", "max")
#: More distinct classes than this in a categorical zonal run is almost surely a
#: continuous raster passed with ``categorical=True``: one column per class would explode.
MAX_CLASSES = 1000

#: Internal per-batch column of categorical runs: {class: fraction} per zone, expanded
#: into ``frac_<class>`` columns once every batch is in (all classes known).
FRACTIONS = "_fractions"
_STAT_PATTERN = re.compile(r"^(count|sum|mean|min|max|std|median|majority|p\d+(\.\d+)?|frac_.+)$")


@dataclass(frozen=True)
class ZonalSpec:
    """What to compute for every zone: validated, immutable, cheap to pickle."""

    stats: tuple[str, ...] = DEFAULT_STATS
    percentiles: tuple[float, ...] = ()
    rule: Rule = "coverage"
    categorical: bool = False
    band: int = 1
    max_cells: int = 2**24

    def __post_init__(self) -> None:
        if self.rule not in get_args(Rule):
            raise ConfigError(
                f"zonal rule: unknown rule {self.rule!r}; use 'centre' (pixel centre inside "
                "the polygon, like rasterstats) or 'coverage' (weighted by covered fraction, "
                "like exactextract)"
            )
        for stat in self.stats:
            if stat not in STATS:
                hint = (
                    " (percentiles go in 'percentiles', e.g. [10, 90])"
                    if stat.startswith(("p", "percentile", "quantile"))
                    else ""
                )
                raise ConfigError(
                    f"zonal stats: unknown statistic {stat!r}; choose from {', '.join(STATS)}{hint}"
                )
        if len(set(self.stats)) != len(self.stats):
            raise ConfigError(f"zonal stats: {list(self.stats)} names a statistic twice")
        for q in self.percentiles:
            if not 0 <= q <= 100:
                raise ConfigError(f"zonal percentiles: {q} is outside 0..100")
        names = [percentile_column(q) for q in self.percentiles]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"zonal percentiles: {list(self.percentiles)} give duplicate columns {names}"
            )
        if self.band < 1:
            raise ConfigError(f"zonal band: bands count from 1, got {self.band}")
        if self.max_cells < 1:
            raise ConfigError(f"zonal max_cells: must be >= 1, got {self.max_cells}")

    @property
    def wants_majority(self) -> bool:
        return self.categorical or "majority" in self.stats

    @property
    def columns(self) -> list[str]:
        """Statistic columns in output order (class fractions follow, known only later)."""
        cols = [s for s in self.stats if s != "majority"]
        cols += [percentile_column(q) for q in self.percentiles]
        if self.wants_majority:
            cols.append("majority")
        return cols


def percentile_column(q: float) -> str:
    """Column name of percentile ``q`` (0..100): ``p10``, ``p2.5``."""
    return f"p{q:g}"


def fraction_column(value: float) -> str:
    """Column name of the fraction of class ``value``: ``frac_3``, ``frac_0.25``."""
    return f"frac_{value}"


def is_stat_column(name: str) -> bool:
    """True for the names of the columns this package computes (not zone attributes)."""
    return bool(_STAT_PATTERN.match(str(name)))


def batch_columns(spec: ZonalSpec) -> list[str]:
    """The columns of one batch's table: the statistics, then :data:`FRACTIONS`."""
    return spec.columns + ([FRACTIONS] if spec.categorical else [])


def empty_row(spec: ZonalSpec) -> dict[str, Any]:
    """The row of a zone without valid pixels: count 0, NaN elsewhere, no classes."""
    row: dict[str, Any] = {c: math.nan for c in spec.columns}
    if "count" in row:
        row["count"] = 0
    if spec.categorical:
        row[FRACTIONS] = {}
    return row


def check_classes(n: int) -> None:
    """Refuse a categorical run with more than :data:`MAX_CLASSES` classes."""
    if n > MAX_CLASSES:
        raise ConfigError(
            f"zonal categorical: the raster has {n} distinct values in the zones (more "
            f"than {MAX_CLASSES}); it looks continuous. Set categorical: false, or "
            "classify it first."
        )
