"""Per-pixel trend over the composite periods: Theil-Sen slope and Mann-Kendall test.

For each pixel of an index, the values of its period mosaics (NaN = no data) form a
short time series, one value per period. Over the *valid* periods only:

* **time** of a period is its mid date (halfway between its first and last day), in
  years of 365.25 days from the mid date of the earliest period
  (:func:`period_times`). The slope is therefore in *index units per year*, whatever
  the periods' kind; a monthly and a yearly run of the same data agree on it.
* **Theil-Sen slope**: the median of the slopes ``(y_j - y_i) / (t_j - t_i)`` over
  every pair of valid periods ``i < j`` (an even number of pairs: the mean of the two
  middle ones), as :func:`scipy.stats.theilslopes` computes it.
* **Mann-Kendall** ``S = sum sign(y_j - y_i)`` over the same pairs, its variance
  under no trend with the tie correction
  ``var(S) = [n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18`` (``t_g``: the size of
  each group of equal values), and the two-sided p-value of the classical test,
  the normal approximation *with continuity correction*:
  ``z = (S - sign(S)) / sqrt(var(S))``, ``p = 2 (1 - Phi(|z|))``. A pixel whose valid
  values are all equal (``var(S) = 0``, so ``S = 0``) gets ``p = 1``: no evidence of
  a trend.

How that relates to SciPy: ``scipy.stats.kendalltau(t, y, method="asymptotic")``
tests the same ``S`` (its ``con_minus_dis``) with the same variance (times never tie,
so its x-tie terms vanish), but computes ``z = S / sqrt(var(S))`` *without* the
continuity correction (scipy 1.18 ``_stats_py._kendalltau``). Its p-value is ours
with ``continuity=False`` (:func:`mann_kendall`); with the correction ours is larger,
``2 (1 - Phi((|S| - 1) / sqrt(var(S))))`` (tests/unit/test_trend.py checks both).

A pixel with fewer than ``min_periods`` valid periods gets NaN slope and p-value; its
count of valid periods is written all the same (0 where no period saw it).

The kernel is vectorised NumPy over the pixels of a block, in slabs of pixels so the
pairwise arrays stay near :data:`SLAB_VALUES` values whatever the chunk; every
operation is per pixel, so any chunking writes the same bytes. With 12 periods it
runs at about 1.3 megapixels per second per core, and the whole step (read 12 mosaics,
fit, write the COG) at 0.6 (benchmarks/trend_bench.py): a Sentinel-2 tile's 120
megapixels in under 2 core-minutes, so there is no compiled kernel.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rasterflow.errors import ConfigError, InputDataError

logger = logging.getLogger(__name__)

#: the bands of a trend COG, in order
BANDS = ("slope", "p_value", "n")
#: their units (GDAL unit type and a UNITS tag)
UNITS = {"slope": "index units per year", "p_value": "probability", "n": "periods"}
#: days in the year of the slope's time axis
DAYS_PER_YEAR = 365.25
#: pairwise values (pixels x pairs) held at once per slab inside a block: 4 Mi x 8 bytes
#: = 32 MiB per array, a few arrays per thread
SLAB_VALUES = 2**22


@dataclass(frozen=True)
class Trend:
    """Per-pixel results of :func:`theil_sen_mann_kendall` (1-D arrays over pixels)."""

    slope: np.ndarray  # Theil-Sen, per unit of ``times``; NaN below min_periods
    p_value: np.ndarray  # two-sided Mann-Kendall p-value; NaN below min_periods
    n: np.ndarray  # valid periods (int)
    s: np.ndarray  # Mann-Kendall S (int)
    var_s: np.ndarray  # variance of S with the tie correction


def period_times(spans: Mapping[str, tuple[dt.date, dt.date]]) -> dict[str, float]:
    """Period -> its mid date in years (365.25 days) after the earliest period's mid date.

    Periods in chronological order of their mid dates. Two periods with one mid date
    (overlapping ranges) would give a pair without a slope: refused, naming them.
    """
    if not spans:
        return {}
    mids = {p: (a.toordinal() + b.toordinal()) / 2 for p, (a, b) in spans.items()}
    order = sorted(mids, key=lambda p: (mids[p], p))
    for a, b in itertools.pairwise(order):
        if mids[a] == mids[b]:
            raise ConfigError(
                f"trend: periods {a} and {b} have the same mid date, so the trend has no "
                "slope between them; make the periods' ranges distinct (periods.ranges) "
                "or set trend.enabled: false"
            )
    origin = mids[order[0]]
    return {p: (mids[p] - origin) / DAYS_PER_YEAR for p in order}


def _tie_sum(values: np.ndarray) -> np.ndarray:
    """Per pixel (column), ``sum_g t_g (t_g - 1)(2 t_g + 5)`` over groups of equal
    finite values.

    Columns sorted with NaN last; a run growing from m to m + 1 equal values adds
    f(m + 1) - f(m) = 6 m (m + 2) to the sum, so one pass over the (few) periods.
    """
    s = np.sort(values, axis=0)
    total = np.zeros(s.shape[1], dtype=np.int64)
    run = np.ones(s.shape[1], dtype=np.int64)
    for k in range(1, s.shape[0]):
        same = s[k] == s[k - 1]  # NaN never equals: runs stay among valid values
        total += np.where(same, 6 * run * (run + 2), 0)
        run = np.where(same, run + 1, 1)
    return total


def theil_sen_mann_kendall(
    values: np.ndarray,
    times: Sequence[float] | np.ndarray,
    *,
    min_periods: int = 3,
    continuity: bool = True,
) -> Trend:
    """Trend of each pixel (column) of ``values`` (periods x pixels, NaN = no data).

    ``times`` (one per period, row) must increase strictly. ``continuity=False`` drops
    the continuity correction (then the p-value is scipy's ``kendalltau`` asymptotic
    one). Periods first, as the mosaics stack: each pair of periods is two contiguous
    rows, so the pairs are a loop of whole-row operations.
    """
    y = np.asarray(values, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if y.ndim != 2 or t.shape != (y.shape[0],):
        raise ValueError(
            f"values must be periods x pixels with one time per period; got {y.shape} and {t.shape}"
        )
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"times must increase strictly, got {t.tolist()}")
    if min_periods < 2:
        raise ValueError(f"min_periods must be at least 2 (a slope needs two), got {min_periods}")
    periods, pixels = y.shape
    n = np.isfinite(y).sum(axis=0)
    pairs = periods * (periods - 1) // 2
    slopes = np.empty((pairs, pixels))
    s = np.zeros(pixels, dtype=np.int64)
    row = 0
    for i in range(periods):
        for j in range(i + 1, periods):
            dy = y[j] - y[i]  # NaN where either period has no data
            np.divide(dy, t[j] - t[i], out=slopes[row])  # as scipy: no reciprocal
            s += dy > 0  # NaN compares False: missing pairs add nothing
            s -= dy < 0
            row += 1
    # times never tie, so a pixel's valid pairs are all pairs of its n valid periods
    k = n * (n - 1) // 2
    if pairs:
        ordered = np.sort(slopes.T, axis=1)  # per pixel, NaN last: its k slopes first
        lo = np.take_along_axis(ordered, (np.maximum(k - 1, 0) // 2)[:, None], axis=1)[:, 0]
        hi = np.take_along_axis(ordered, np.minimum(k // 2, pairs - 1)[:, None], axis=1)[:, 0]
        median = np.where(k > 0, (lo + hi) / 2, np.nan)
    else:  # one period: no pair
        median = np.full(pixels, np.nan)
    var_s = (n * (n - 1) * (2 * n + 5) - _tie_sum(y)) / 18.0
    from scipy.special import ndtr

    shift = np.sign(s) if continuity else 0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, (s - shift) / np.sqrt(var_s), 0.0)
    p = 2 * ndtr(-np.abs(z))
    enough = n >= min_periods
    return Trend(
        slope=np.where(enough, median, np.nan),
        p_value=np.where(enough, p, np.nan),
        n=n,
        s=s,
        var_s=var_s,
    )


def trend_block(
    stack: np.ndarray, times: np.ndarray, *, min_periods: int, slab_values: int = SLAB_VALUES
) -> np.ndarray:
    """(periods, y, x) values -> (3, y, x) float32: slope, p-value, valid periods.

    Pixels go through :func:`theil_sen_mann_kendall` in slabs of about ``slab_values``
    pairwise values, so memory is bounded whatever the block's size.
    """
    periods, height, width = stack.shape
    flat = stack.reshape(periods, -1)  # periods x pixels
    out = np.empty((len(BANDS), flat.shape[1]), dtype=np.float32)
    pairs = max(1, periods * (periods - 1) // 2)
    step = max(1, slab_values // pairs)
    for start in range(0, flat.shape[1], step):
        part = theil_sen_mann_kendall(flat[:, start : start + step], times, min_periods=min_periods)
        out[0, start : start + step] = part.slope
        out[1, start : start + step] = part.p_value
        out[2, start : start + step] = part.n
    return out.reshape(len(BANDS), height, width)


def _open_mosaic(path: str, chunk: int):
    """A mosaic's band 1 as a lazy float array, NaN where it has no data, and its header."""
    import dask.array as da
    import rioxarray
    import xarray

    from rasterflow.io import open_raster

    with open_raster(path, what="trend input mosaic", where="the trend rule's inputs") as src:
        header = (src.width, src.height, src.crs, src.transform)
        nodata = src.nodata
    opened = rioxarray.open_rasterio(
        path, chunks={"band": 1, "y": chunk, "x": chunk}, lock=False, masked=False, cache=False
    )
    assert isinstance(opened, xarray.DataArray)  # one raster file opens as one DataArray
    band = opened.data[0].astype(np.float32)
    if nodata is not None and not math.isnan(nodata):
        band = da.where(band == nodata, np.float32(np.nan), band)
    return band, header


def trend_array(
    paths: Sequence[str], times: Sequence[float], *, min_periods: int, chunk: int = 512
):
    """The lazy (3, y, x) trend of the mosaics ``paths`` (one per time), and its grid.

    Mosaics must share one grid (the workflow's do); another raster names the file.
    """
    import dask.array as da

    if len(paths) != len(times):
        raise ValueError("one time per mosaic")
    if len(paths) < min_periods:
        raise ConfigError(
            f"trend.min_periods: {min_periods}, but only {len(paths)} period(s) to fit; "
            "lower trend.min_periods (at least 2) or use more, shorter periods"
        )
    bands, header = [], None
    for path in paths:
        band, this = _open_mosaic(path, chunk)
        if header is not None and this != header:
            raise InputDataError(
                f"trend: mosaic {path} is {this[0]} x {this[1]} px on {this[2]}, "
                f"{this[3]}; {paths[0]} is {header[0]} x {header[1]} on {header[2]}, "
                f"{header[3]}. The trend needs every period on one grid: remake the mosaics"
            )
        header = this
        bands.append(band)
    stack = da.stack(bands).rechunk({0: -1})  # every period of a pixel in one block
    t = np.asarray(times, dtype=np.float64)
    out = da.map_blocks(
        trend_block,
        stack,
        t,
        min_periods=min_periods,
        chunks=((len(BANDS),), *stack.chunks[1:]),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), dtype=np.float32),
    )
    return out, header


def run(
    *,
    mosaics: Mapping[str, Sequence[str]],
    periods: Sequence[str],
    times: Sequence[float],
    outputs: Mapping[str, str],
    min_periods: int = 3,
    chunk: int = 512,
    threads: int = 1,
) -> None:
    """Write one trend COG per index: bands slope, p_value, n (:data:`BANDS`).

    ``mosaics``: index -> its mosaics, one per period of ``periods`` (with ``times``,
    :func:`period_times`); ``outputs``: index -> COG path. All indices in one pass of
    the active Dask scheduler; ``threads`` goes to GDAL for compression.
    """
    from rasterflow.io import Cog, provenance_tags, write_cogs

    cogs = []
    for index, path in outputs.items():
        data, (width, height, crs, transform) = trend_array(
            mosaics[index], times, min_periods=min_periods, chunk=chunk
        )
        params = {
            "index": index,
            "periods": list(periods),
            "times_years": list(times),
            "min_periods": min_periods,
            "method": "theil-sen, mann-kendall",
        }
        tags = {
            **provenance_tags(inputs=list(mosaics[index]), params=params),
            "PRODUCT": "trend",
            "INDEX": index,
            "TREND_PERIODS": json.dumps(list(periods)),
            "TREND_TIME": f"years of {DAYS_PER_YEAR} days from the mid date of "
            f"{periods[0] if periods else ''}",
        }
        band_tags = [{"PRODUCT": f"trend_{b}", "UNITS": UNITS[b]} for b in BANDS]
        cogs.append(
            Cog(
                data,
                path,
                crs=crs,
                transform=transform,
                nodata=np.nan,
                tags=tags,
                band_names=list(BANDS),
                band_tags=band_tags,
            )
        )
        logger.info(
            "trend %s: %d periods (%s), %d x %d px, min_periods %d",
            index,
            len(periods),
            ", ".join(periods),
            width,
            height,
            min_periods,
        )
    write_cogs(cogs, threads=threads)
    for cog in cogs:
        logger.info("trend written to %s", cog.path)
