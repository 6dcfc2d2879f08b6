"""Per-pixel trend (rasterflow.trend) against SciPy's Theil-Sen and Kendall's tau."""

from __future__ import annotations

import datetime as dt
import warnings

import dask
import numpy as np
import pytest
import rasterio
import scipy.stats
from helpers import write_raster
from rio_cogeo.cogeo import cog_validate

from rasterflow import trend
from rasterflow.errors import ConfigError, InputDataError


def random_stack(periods: int, pixels: int, *, seed: int, gaps: float = 0.3) -> np.ndarray:
    """Periods x pixels: a trend per pixel plus noise, rounded (ties), with NaN gaps."""
    rng = np.random.default_rng(seed)
    slope = rng.normal(0, 0.05, pixels)
    y = 0.3 + slope * np.arange(periods)[:, None] + rng.normal(0, 0.05, (periods, pixels))
    y = np.round(y, 2)  # values tie within a pixel's series
    y[rng.random(y.shape) < gaps] = np.nan
    return y


def reference_mk(t: np.ndarray, y: np.ndarray) -> tuple[int, float]:
    """Mann-Kendall S and tie-corrected var(S) of one series, by the textbook loops."""
    n = y.size
    s = sum(int(np.sign(y[j] - y[i])) for i in range(n) for j in range(i + 1, n))
    _values, groups = np.unique(y, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(g * (g - 1) * (2 * g + 5) for g in groups)) / 18
    return s, var


@pytest.mark.parametrize(("periods", "seed"), [(12, 1), (5, 2), (30, 3)])
def test_matches_scipy_per_pixel_on_random_stacks_with_gaps_and_ties(periods, seed):
    y = random_stack(periods, 400, seed=seed)
    t = np.sort(np.random.default_rng(seed).uniform(0, 6, periods))  # uneven spacing
    got = trend.theil_sen_mann_kendall(y, t, min_periods=3)
    plain = trend.theil_sen_mann_kendall(y, t, min_periods=3, continuity=False)
    checked = tied = 0
    for px in range(y.shape[1]):
        ok = np.isfinite(y[:, px])
        tv, yv = t[ok], y[ok, px]
        assert got.n[px] == ok.sum()
        if ok.sum() < 3:
            assert np.isnan(got.slope[px]) and np.isnan(got.p_value[px])
            continue
        ref = scipy.stats.theilslopes(yv, tv)
        assert got.slope[px] == pytest.approx(ref.slope, rel=1e-12, abs=1e-15)
        s, var = reference_mk(tv, yv)
        assert got.s[px] == s and got.var_s[px] == pytest.approx(var, rel=1e-12)
        tied += len(np.unique(yv)) < yv.size
        if var == 0:  # every valid value equal: scipy's tau is undefined
            assert got.p_value[px] == 1.0 and got.slope[px] == 0.0
            continue
        # scipy's asymptotic test: the same S and variance, no continuity correction
        tau = scipy.stats.kendalltau(tv, yv, method="asymptotic")
        assert plain.p_value[px] == pytest.approx(tau.pvalue, rel=1e-9, abs=1e-15)
        # ours: the classical test, (S - sign S) / sqrt(var)
        z = (abs(s) - 1) / np.sqrt(var) if s else 0.0
        assert got.p_value[px] == pytest.approx(2 * scipy.stats.norm.sf(z), rel=1e-9)
        assert got.p_value[px] >= plain.p_value[px]
        checked += 1
    assert checked > 200 and tied > 50  # the stacks exercised gaps and ties


def test_a_linear_series_gives_its_slope_per_year_and_a_small_p_value():
    spans = {f"{y}": (dt.date(y, 1, 1), dt.date(y, 12, 31)) for y in range(2015, 2025)}
    times = trend.period_times(spans)
    assert list(times) == sorted(spans) and times["2015"] == 0.0
    t = np.array(list(times.values()))
    mid = {
        y: (dt.date(y, 1, 1).toordinal() + dt.date(y, 12, 31).toordinal()) / 2
        for y in range(2015, 2025)
    }  # 2 July, 00:00 or (leap years) 12:00
    np.testing.assert_allclose(
        np.diff(t), [(mid[y + 1] - mid[y]) / 365.25 for y in range(2015, 2024)], rtol=0, atol=1e-12
    )
    assert abs(t[-1] - 9) < 0.01  # ten years: nine years from first to last mid date
    y = (0.2 + 0.03 * t)[:, None]
    got = trend.theil_sen_mann_kendall(y, t)
    assert got.slope[0] == pytest.approx(0.03, rel=1e-12)
    assert got.s[0] == 45 and got.p_value[0] < 1e-3


def test_period_times_use_mid_dates_and_refuse_a_tie():
    spans = {
        "2024-JJA": (dt.date(2024, 6, 1), dt.date(2024, 8, 31)),
        "2024-MAM": (dt.date(2024, 3, 1), dt.date(2024, 5, 31)),
    }
    times = trend.period_times(spans)
    assert list(times) == ["2024-MAM", "2024-JJA"]  # by time, not by id
    assert times["2024-JJA"] == pytest.approx(92 / 365.25)  # 15 April 12:00 -> 16 July 12:00
    with pytest.raises(ConfigError, match="same mid date"):
        trend.period_times(
            {
                "a": (dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
                "b": (dt.date(2024, 3, 11), dt.date(2024, 3, 21)),
            }
        )


def test_min_periods_all_nan_and_tied_pixels():
    t = np.arange(6.0)
    y = np.full((6, 5), np.nan)
    y[:, 1] = [1, 2, np.nan, np.nan, np.nan, np.nan]  # 2 valid
    y[:, 2] = [1, 2, 4, np.nan, np.nan, np.nan]  # 3 valid
    y[:, 3] = 0.5  # all tied
    y[:, 4] = [3, np.nan, 1, np.nan, np.nan, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from empty or NaN pixels
        got = trend.theil_sen_mann_kendall(y, t, min_periods=3)
        two = trend.theil_sen_mann_kendall(y, t, min_periods=2)
    assert got.n.tolist() == [0, 2, 3, 6, 3]
    assert np.isnan(got.slope[:2]).all() and np.isnan(got.p_value[:2]).all()
    assert got.slope[2] == 1.5 and got.slope[3] == 0.0 and got.p_value[3] == 1.0
    assert got.slope[4] == scipy.stats.theilslopes([3, 1, 0], [0, 2, 5]).slope
    assert two.slope[1] == 1.0 and two.p_value[1] == 1.0  # n = 2: S = 1, z = 0
    assert np.isnan(two.slope[0])
    with pytest.raises(ValueError, match="at least 2"):
        trend.theil_sen_mann_kendall(y, t, min_periods=1)
    with pytest.raises(ValueError, match="increase strictly"):
        trend.theil_sen_mann_kendall(y, t[::-1])


def test_slabs_do_not_change_a_block():
    y = random_stack(9, 37 * 23, seed=4).reshape(9, 37, 23).astype(np.float32)
    t = np.arange(9) * 0.25
    whole = trend.trend_block(y, t, min_periods=3)
    np.testing.assert_array_equal(trend.trend_block(y, t, min_periods=3, slab_values=36 * 7), whole)
    assert whole.shape == (3, 37, 23) and whole.dtype == np.float32


GRID = {"crs": "EPSG:3067", "res": 20.0, "origin": (380_000.0, 6_700_000.0)}


def _mosaics(tmp_path, stack: np.ndarray) -> list[str]:
    paths = []
    for k, band in enumerate(stack):
        paths.append(
            str(
                write_raster(
                    tmp_path / f"m{k}.tif", band.astype(np.float32), nodata=float("nan"), **GRID
                )
            )
        )
    return paths


def _run(paths, out, *, chunk, times):
    with dask.config.set(scheduler="synchronous"):
        trend.run(
            mosaics={"NDVI": paths},
            periods=[f"p{k}" for k in range(len(paths))],
            times=times,
            outputs={"NDVI": str(out)},
            min_periods=3,
            chunk=chunk,
        )


def test_the_cog_has_three_bands_and_any_chunking_writes_the_same_bytes(tmp_path):
    stack = random_stack(7, 150 * 130, seed=5).reshape(7, 150, 130)
    stack[:, :10, :10] = np.nan  # a corner no period saw
    paths = _mosaics(tmp_path, stack)
    times = [0.25 * k for k in range(7)]
    outs = [tmp_path / f"trend_{c}.tif" for c in (32, 100, 512)]
    for out, chunk in zip(outs, (32, 100, 512), strict=True):
        _run(paths, out, chunk=chunk, times=times)
    first = outs[0].read_bytes()
    assert all(o.read_bytes() == first for o in outs[1:])
    assert cog_validate(str(outs[0]))[0]
    with rasterio.open(outs[0]) as src:
        assert src.count == 3 and src.descriptions == ("slope", "p_value", "n")
        assert src.units == ("index units per year", "probability", "periods")
        assert np.isnan(src.nodata) and src.crs.to_epsg() == 3067 and src.res == (20.0, 20.0)
        assert src.tags()["PRODUCT"] == "trend" and "RASTERFLOW_INPUTS" in src.tags()
        data = src.read()
    expect = trend.trend_block(stack.astype(np.float32), np.array(times), min_periods=3)
    np.testing.assert_array_equal(data, expect)
    assert np.isnan(data[:2, :10, :10]).all() and (data[2, :10, :10] == 0).all()


def test_mosaics_on_other_grids_or_too_few_periods_are_refused(tmp_path):
    stack = random_stack(3, 20 * 20, seed=6).reshape(3, 20, 20)
    paths = _mosaics(tmp_path, stack)
    odd = write_raster(
        tmp_path / "odd.tif", stack[0, :, :15].astype(np.float32), nodata=float("nan"), **GRID
    )
    with pytest.raises(InputDataError, match="odd.tif is 15 x 20 px"):
        _run([*paths[:2], str(odd)], tmp_path / "t.tif", chunk=64, times=[0, 1, 2])
    with pytest.raises(ConfigError, match="trend.min_periods: 3, but only 2 period"):
        _run(paths[:2], tmp_path / "t.tif", chunk=64, times=[0, 1])
    assert not (tmp_path / "t.tif").exists()
