"""The ``"coverage"`` rule: each pixel is weighted by the fraction of its area that the
polygon covers.

Engine: exactextract, which computes those fractions exactly and fast; our statistics
are exactextract's own (README "Supported Statistics"): ``count`` is the sum of
coverage fractions, ``sum`` and ``mean`` are coverage-weighted, ``std`` is the
coverage-weighted population standard deviation, ``median`` and percentiles are
coverage-weighted quantiles, ``min``/``max`` are over every cell the polygon touches,
``majority`` and class fractions are coverage-weighted. Zones without valid pixels are
blanked afterwards (:func:`rasterflow.zonal.spec.empty_row`: exactextract says ``sum``
0). Polygons go to exactextract as WKB (:class:`_WkbFeatures`) and held pixels as
plain arrays where unmasked (:class:`_HeldSource`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from exactextract import exact_extract
from exactextract.feature import Feature, FeatureSource
from exactextract.raster import RasterioRasterSource
from rasterio.windows import Window

from rasterflow.zonal.cells import HeldBand, RasterInfo
from rasterflow.zonal.spec import FRACTIONS, ZonalSpec, percentile_column

# exactextract's name of each of our statistics (majority and fractions: see _exactextract_ops)
_EXACTEXTRACT_OP = {
    "count": "count",
    "sum": "sum",
    "mean": "mean",
    "min": "min",
    "max": "max",
    "std": "stdev",
    "median": "median",
}


def _exactextract_ops(spec: ZonalSpec) -> tuple[list[str], list[str]]:
    """exactextract operation strings and, aligned with them, our column names."""
    ops: list[str] = []
    names: list[str] = []
    for stat in spec.stats:
        if stat != "majority":
            ops.append(_EXACTEXTRACT_OP[stat])
            names.append(stat)
    if "count" not in spec.stats:
        ops.append("count")  # needed to blank the statistics of empty zones
        names.append("_count")
    for q in spec.percentiles:
        ops.append(f"quantile(q={q / 100!r})")
        names.append(percentile_column(q))
    if spec.wants_majority:
        ops.append("majority")
        names.append("majority")
    if spec.categorical:
        ops += ["unique", "frac"]
        names += ["_unique", "_frac"]
    return ops, names


def coverage_batch(
    geometries: Sequence[bytes | None], *, src: Any, raster: RasterInfo, spec: ZonalSpec
) -> pd.DataFrame:
    """One row per geometry by exactextract's coverage fractions, read from ``src`` (an
    open dataset, or a :class:`HeldBand` over one); zones without pixels get NaN."""
    present = [i for i, g in enumerate(geometries) if g is not None]
    n = len(geometries)
    table = pd.DataFrame({c: np.full(n, math.nan) for c in spec.columns})
    if "count" in table:
        table["count"] = 0.0
    if spec.categorical:
        table[FRACTIONS] = pd.Series([{} for _ in range(n)], dtype=object)
    if not present:
        return table
    ops, names = _exactextract_ops(spec)
    source = _HeldSource if isinstance(src, HeldBand) else RasterioRasterSource
    result = exact_extract(
        source(src, spec.band),
        _WkbFeatures([g for g in geometries if g is not None], srs_wkt=raster.crs_wkt),
        ops,
        include_cols=["row"],
        output="pandas",
        max_cells_in_memory=spec.max_cells,
    )
    if list(result["row"]) != list(range(len(present))):
        raise AssertionError("exactextract returned features out of order")  # never seen
    result = result.drop(columns="row")
    result.columns = names
    count = result["count" if "count" in names else "_count"].to_numpy()
    empty = count == 0
    rows = np.asarray(present)
    for name in spec.columns:
        values = result[name].to_numpy(dtype=np.float64, copy=True)
        if name != "count":
            values[empty] = math.nan  # exactextract says sum 0 where we say "no data"
        column = table[name].to_numpy(copy=True)
        column[rows] = values
        table[name] = column
    if spec.categorical:
        fractions = table[FRACTIONS].tolist()
        for pos, classes, fracs in zip(present, result["_unique"], result["_frac"], strict=True):
            fractions[pos] = dict(
                zip(np.asarray(classes).tolist(), np.asarray(fracs).tolist(), strict=True)
            )
        table[FRACTIONS] = pd.Series(fractions, dtype=object)
    return table


class _WkbFeature(Feature):
    """One polygon for exactextract: WKB geometry and its position in the batch."""

    def __init__(self, row: int, wkb: bytes) -> None:
        super().__init__()
        self._row, self._wkb = row, wkb

    def get(self, name: str) -> int:
        return self._row

    def fields(self) -> list[str]:
        return ["row"]

    def geometry(self) -> bytes:
        return self._wkb

    def set_geometry_format(self) -> str:
        return "wkb"


class _WkbFeatures(FeatureSource):
    """exactextract feature source over WKB polygons (field ``row``: batch position).

    WKB goes to exactextract's GEOS as-is; its bundled GeoPandas/JSON sources would
    turn every polygon into GeoJSON text and parse it back.
    """

    def __init__(self, wkbs: Sequence[bytes], *, srs_wkt: str) -> None:
        super().__init__()
        self._wkbs, self._srs_wkt = wkbs, srs_wkt

    def count(self) -> int:
        return len(self._wkbs)

    def __iter__(self) -> Iterator[_WkbFeature]:
        for row, wkb in enumerate(self._wkbs):
            yield _WkbFeature(row, wkb)

    def srs_wkt(self) -> str:
        return self._srs_wkt


class _HeldSource(RasterioRasterSource):
    """exactextract's rasterio source over a :class:`HeldBand`.

    Returns a window without masked pixels as a plain array, as the parent does when
    rasterio reports no mask: NumPy's masked-array slicing was a tenth of the run.
    exactextract calls only ``read_window``; its masked reads go to :class:`HeldBand`.
    """

    def read_window(self, x0: int, y0: int, nx: int, ny: int) -> Any:
        if not self.scaled:
            plain = self.ds.read_unmasked(Window(x0, y0, nx, ny))
            if plain is not None:
                return plain
        return super().read_window(x0, y0, nx, ny)
