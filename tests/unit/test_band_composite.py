"""Multi-band composites: medoid, geometric median, best-available pixel.

The kernels against NumPy references of each definition (ties and all-invalid pixels
included), the geometric median against SciPy's minimiser of the summed distances, and
the plan's band products. The products of the demo scenes (the same bytes in any
chunking, tiles mosaicked equal to one tile, index products unchanged by adding bands)
are in tests/integration/test_band_composite_demo.py.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from rasterflow import band_composite as bc
from rasterflow import indices
from rasterflow.errors import ConfigError

ROLES = ("red", "nir", "swir2")


def _stack(seed: int, n: int = 7, shape: tuple[int, int] = (23, 19)) -> np.ndarray:
    """(bands, time, y, x) with gaps in single bands, whole observations missing,
    all-invalid pixels and exact duplicates of observations (medoid ties)."""
    rng = np.random.default_rng(seed)
    st = rng.random((len(ROLES), n, *shape), dtype=np.float32)
    st[:, 3] = st[:, 1]  # observation 3 repeats 1: equal distance sums
    gaps = rng.random((len(ROLES), n, *shape)) < 0.08  # one band missing: obs invalid
    st[gaps] = np.nan
    st[:, :, :3, :4] = np.nan  # no valid observation
    st[:, 1:, 5, :] = np.nan  # a single valid observation
    return st


def _valid(st: np.ndarray) -> np.ndarray:
    return ~np.isnan(st).any(axis=0)  # (time, y, x)


def _numpy_medoid(st: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise distances over all pairs at once; invalid observations never chosen and
    not counted; argmin's first hit (earliest) on ties."""
    x = st.astype(np.float64)
    ok = _valid(st)
    d = np.sqrt(((x[:, :, None] - x[:, None, :]) ** 2).sum(axis=0))  # (t, t, y, x)
    d = np.where(ok[None] & ok[:, None], d, 0.0)
    total = np.where(ok, d.sum(axis=1), np.inf)
    pick = np.argmin(total, axis=0)
    pick = np.where(ok.any(axis=0), pick, -1)
    return pick, ok.sum(axis=0)


def _take(st: np.ndarray, pick: np.ndarray) -> np.ndarray:
    out = np.take_along_axis(st, np.clip(pick, 0, None)[None, None], axis=1)[:, 0]
    out[:, pick < 0] = np.nan
    return out


def _numpy_weiszfeld(st: np.ndarray, tol: float, maxit: int) -> np.ndarray:
    """Weiszfeld with the Vardi-Zhang step, vectorised over pixels (float64)."""
    x = st.astype(np.float64)
    ok = _valid(st)
    k = ok.sum(axis=0)
    w0 = np.where(ok, 1.0, 0.0)
    y = (np.where(ok[None], x, 0.0) * w0).sum(axis=1) / np.maximum(k, 1)
    active = k > 1
    for _ in range(maxit):
        if not active.any():
            break
        d = np.sqrt(((x - y[:, None]) ** 2).sum(axis=0))
        pos = ok & (d > 0)
        w = np.where(pos, 1.0 / np.where(pos, d, 1.0), 0.0)
        dinvs = w.sum(axis=0)
        zeros = (ok & (d == 0)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (np.where(ok[None], x, 0.0) * w).sum(axis=1) / dinvs
            r = np.sqrt((((t - y) * dinvs) ** 2).sum(axis=0))
            rinv = np.where(r > 0, zeros / r, 0.0)
        vz = np.maximum(0, 1 - rinv) * t + np.minimum(1, rinv) * y
        y1 = np.where(zeros > 0, vz, t)
        step = np.sqrt(((y1 - y) ** 2).sum(axis=0))
        move = active & (dinvs > 0)
        y = np.where(move, y1, y)
        active = move & ~(step < tol)
    y[:, k == 0] = np.nan
    return y.astype(np.float32)


def _summed_distance(st: np.ndarray, point: np.ndarray) -> np.ndarray:
    ok = _valid(st)
    d = np.sqrt(((st.astype(np.float64) - point[:, None]) ** 2).sum(axis=0))
    return np.where(ok, d, 0.0).sum(axis=0)


def _spec(statistic: str, **kw) -> bc.BandSpec:
    return bc.BandSpec(ROLES, statistic, score="S", score_text="nir", **kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_medoid_equals_numpy_with_ties_and_empty_pixels(seed):
    st = _stack(seed)
    values, chosen, count = bc.reduce_bands(st, _spec("medoid"))
    pick, n = _numpy_medoid(st)
    # the kernel sums distances in another order than NumPy: a near-tie could flip; none
    # here, and the exact ties (observation 3 = 1) go to the earliest
    np.testing.assert_array_equal(chosen, pick)
    np.testing.assert_array_equal(count, n)
    np.testing.assert_array_equal(values, _take(st, pick))
    tied = _valid(st)[1] & _valid(st)[3] & (pick == 1)
    assert tied.any() and not ((chosen == 3) & _valid(st)[1]).any()
    assert np.isnan(values[:, :3, :4]).all() and (count[:3, :4] == 0).all()
    assert (chosen[:3, :4] == -1).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_quality_is_numpy_argmax_earliest_on_ties(seed):
    st = _stack(seed)
    rng = np.random.default_rng(seed + 10)
    # few distinct scores: many ties; NaN scores drop an observation
    score = rng.integers(0, 4, size=st.shape[1:]).astype(np.float32)
    score[rng.random(score.shape) < 0.1] = np.nan
    values, chosen, count = bc.reduce_bands(st, _spec("quality"), score=score)
    ok = _valid(st) & ~np.isnan(score)
    ref = np.argmax(np.where(ok, score, -np.inf), axis=0)  # first maximum: earliest
    ref = np.where(ok.any(axis=0), ref, -1)
    np.testing.assert_array_equal(chosen, ref)
    np.testing.assert_array_equal(count, ok.sum(axis=0))
    np.testing.assert_array_equal(values, _take(st, ref))
    assert (chosen == -1).sum() >= 12  # the empty corner at least


def test_quality_with_a_target_day_is_numpy_argmax_of_index_plus_day_score():
    st = _stack(5, n=6)
    rng = np.random.default_rng(7)
    index = (rng.random(st.shape[1:], dtype=np.float32) * 0.2).astype(np.float32)
    dates = ["2023-12-20", "2024-01-05", "2024-03-01", "2024-06-10", "2024-06-30", "2024-12-28"]
    days = bc.day_numbers(dates)
    spec = bc.BandSpec(
        ROLES, "quality", score="S", score_text="nir", target_day=5, day_weight=0.5, day_sigma=20.0
    )
    out = bc.band_block(np.concatenate([st, index[None]]), spec, days)
    doy = np.array([dt.date.fromisoformat(d).timetuple().tm_yday for d in dates])
    dist = np.minimum(np.abs(doy - 5), 365 - np.abs(doy - 5))  # across the new year
    assert dist.tolist() == [16, 0, 56, 157, 177, 7]  # 2024 is a leap year: 12-28 is 363
    term = (0.5 * np.exp(-(dist**2) / (2 * 20.0**2))).astype(np.float32)
    score = index + term[:, None, None]
    ok = _valid(st)
    ref = np.where(ok.any(axis=0), np.argmax(np.where(ok, score, -np.inf), axis=0), -1)
    nb = len(ROLES)
    np.testing.assert_array_equal(out[:nb], _take(st, ref))
    np.testing.assert_array_equal(out[nb], np.where(ref >= 0, days[ref], np.nan).astype(np.float32))


def test_quality_with_force_terms_is_numpy_argmax_of_the_weighted_sum():
    """index + day score + cloud_weight x sigmoid(distance to cloud) + valid_weight x the
    scene's clear fraction (FORCE's terms), the distance a layer after the index."""
    st = _stack(8, n=5)
    rng = np.random.default_rng(9)
    index = (rng.random(st.shape[1:], dtype=np.float32) * 0.3).astype(np.float32)
    distance = (rng.random(st.shape[1:]) * 400).astype(np.float32)  # metres, some > D
    dates = ["2024-05-01", "2024-06-01", "2024-06-21", "2024-07-11", "2024-08-01"]
    fractions = np.array([0.9, 0.2, 0.5, 1.0, 0.7])
    spec = bc.BandSpec(
        ROLES,
        "quality",
        score="S",
        score_text="nir",
        target_day=173,
        day_weight=0.2,
        cloud_distance=300.0,
        cloud_weight=0.8,
        valid_weight=0.4,
    )
    assert spec.layers == len(ROLES) + 2 and spec.cloud_layers == 1
    days = bc.day_numbers(dates)
    out = bc.band_block(np.concatenate([st, index[None], distance[None]]), spec, days, fractions)
    doy = np.array([dt.date.fromisoformat(d).timetuple().tm_yday for d in dates])
    day = 0.2 * np.exp(-((doy - 173.0) ** 2) / (2 * 30.0**2))
    d = np.minimum(distance.astype(np.float64), 300.0)
    cloud = (0.8 / (1 + np.exp(-10 / 300.0 * (d - 150.0)))).astype(np.float32)
    assert cloud.min() < 0.01 and cloud.max() > 0.79  # the sigmoid spans its range (x 0.8)
    score = (index + (day + 0.4 * fractions).astype(np.float32)[:, None, None]) + cloud
    ok = _valid(st)
    ref = np.where(ok.any(axis=0), np.argmax(np.where(ok, score, -np.inf), axis=0), -1)
    nb = len(ROLES)
    np.testing.assert_array_equal(out[:nb], _take(st, ref))
    # each term decides some pixels: without it the choice differs somewhere
    for drop in ("cloud", "valid"):
        other = score - (cloud if drop == "cloud" else (0.4 * fractions)[:, None, None])
        alt = np.where(ok.any(axis=0), np.argmax(np.where(ok, other, -np.inf), axis=0), -1)
        assert (alt != ref).any(), drop
    # the cloud distance alone (no index): the observation farthest from cloud, up to D
    alone = bc.BandSpec(ROLES, "quality", cloud_distance=300.0)
    assert alone.layers == len(ROLES) + 1
    picked = bc.band_block(np.concatenate([st, distance[None]]), alone, days)
    far = np.where(ok, np.minimum(distance, 300.0), -1.0)
    best = np.take_along_axis(far, np.clip(_chosen(picked, days), 0, None)[None], axis=0)[0]
    has = ok.any(axis=0)
    np.testing.assert_allclose(best[has], far.max(axis=0)[has], atol=1e-3)


def _chosen(out: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The chosen observation's index from a band block's date band."""
    date = out[len(ROLES)]
    pick = np.full(date.shape, -1)
    for i, d in enumerate(days):
        pick = np.where(date == np.float32(d), i, pick)
    return pick


def test_quality_by_day_alone_takes_the_valid_observation_nearest_the_target():
    st = _stack(6, n=5)
    dates = ["2024-05-01", "2024-06-01", "2024-06-21", "2024-07-11", "2024-08-01"]
    spec = bc.BandSpec(ROLES, "quality", target_day=173)  # 2024-06-21 is day 173
    assert spec.layers == len(ROLES)  # no index layer to read
    _, chosen, _ = bc.reduce_bands(
        st, spec, score=bc.quality_score(st, spec, bc.day_numbers(dates))
    )
    ok = _valid(st)
    # by distance: 2 (0 days), 1 and 3 (20 each: the earliest, 1, wins), 4 (41), 0 (51)
    order = [2, 1, 3, 4, 0]
    ref = np.full(chosen.shape, -1)
    for i in reversed(order):
        ref = np.where(ok[i], i, ref)
    np.testing.assert_array_equal(chosen, ref)
    assert ((chosen == 1) & ok[3]).any()  # ties between 1 and 3 occur, 1 wins them


def test_quality_date_band_and_all_invalid_pixels():
    st = _stack(3, n=4)
    score = np.arange(4, dtype=np.float32)[:, None, None] * np.ones(st.shape[2:], np.float32)
    days = bc.day_numbers(["2024-06-01", "2024-06-11", "2024-06-21", "2024-07-01"])
    out = bc.band_block(np.concatenate([st, score[None]]), _spec("quality"), days)
    _, chosen, count = bc.reduce_bands(st, _spec("quality"), score=score)
    assert out.shape == (len(ROLES) + 2, *st.shape[2:])
    expect = np.where(chosen >= 0, days[np.clip(chosen, 0, None)], np.nan)
    np.testing.assert_array_equal(out[len(ROLES)], expect.astype(np.float32))
    np.testing.assert_array_equal(out[len(ROLES) + 1], count)
    assert np.isnan(out[: len(ROLES) + 1, :3, :4]).all()
    assert days[0] == 19875  # 2024-06-01: days since 1970-01-01


@pytest.mark.parametrize("seed", [0, 1])
def test_geomedian_equals_numpy_weiszfeld_within_the_tolerance(seed):
    st = _stack(seed, n=9)
    tol = bc.GEOMEDIAN_TOLERANCE
    values, chosen, count = bc.reduce_bands(st, _spec("geomedian"))
    ref = _numpy_weiszfeld(st, tol, bc.GEOMEDIAN_MAX_ITERATIONS)
    assert (chosen == -1).all()
    np.testing.assert_array_equal(np.isnan(values), np.isnan(ref))
    # both stop once a step is below tol; the iterates then lie within a few steps of
    # each other (the same recurrence, summed in another order)
    assert np.nanmax(np.abs(values - ref)) < 10 * tol
    # a geometric median: no observation (the medoid) has a smaller summed distance;
    # with tol 1e-4 Weiszfeld (linear convergence) may stop ~1e-4 short: check tighter
    tight, _, _ = bc.reduce_bands(st, _spec("geomedian", tolerance=1e-9))
    ok = count > 0
    pick, _ = _numpy_medoid(st)
    gm = _summed_distance(st, tight.astype(np.float64))
    md = _summed_distance(st, _take(st, pick).astype(np.float64))
    assert (gm[ok] <= md[ok] + 1e-5).all()
    single = count == 1  # one observation: itself
    np.testing.assert_array_equal(values[:, single], _take(st, pick)[:, single])


def test_geomedian_reaches_scipys_minimum():
    from scipy.optimize import minimize

    st = _stack(4, n=8, shape=(8, 9))
    values, _, count = bc.reduce_bands(st, _spec("geomedian", tolerance=1e-7))
    for r, c in zip(*np.nonzero(count > 2), strict=True):
        pts = st[:, _valid(st)[:, r, c], r, c].T.astype(np.float64)

        def f(p, pts=pts):
            return np.sqrt(((pts - p) ** 2).sum(axis=1)).sum()

        best = minimize(
            f,
            pts.mean(axis=0),
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000},
        )
        assert f(values[:, r, c].astype(np.float64)) <= best.fun + 1e-6


def test_bad_band_specs_name_the_key():
    with pytest.raises(ConfigError, match="composite.band_statistic"):
        bc.BandSpec(ROLES, "mean")
    with pytest.raises(ConfigError, match="composite.quality.index"):
        bc.BandSpec(ROLES, "quality")
    with pytest.raises(ConfigError, match="composite.bands"):
        bc.BandSpec((), "medoid")


# --- planning (rasterflow.workflow) -------------------------------------------------


def _planned(tmp_path, **composite_changes):
    import copy

    import yaml
    from helpers import REPO

    from rasterflow import settings
    from rasterflow.workflow import plan_workflow

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = copy.deepcopy(config)
    config["results"] = str(tmp_path / "results")
    scene_indices = composite_changes.pop("scene_indices", False)
    config["scene_indices"] = scene_indices
    # from the demo's composite without its band composite: each test says its own
    for key in ("bands", "band_statistic", "quality"):
        config["composite"].pop(key, None)
    config["composite"].update(composite_changes)
    settings.check_config(config, REPO / "config" / "schema.yaml")
    return plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))


def test_plan_adds_the_band_product_to_each_composite_job_and_mosaic(tmp_path):
    plan = _planned(
        tmp_path, bands=["red", "nir", "swir1"], band_statistic="quality", quality={"index": "EVI"}
    )  # EVI: not in indices, reads blue too
    results = tmp_path / "results"
    assert plan.band_spec == {
        "roles": ["red", "nir", "swir1"],
        "statistic": "quality",
        "tolerance": 1e-4,
        "max_iterations": 1000,
        "score": "EVI",
        "score_text": indices.BUILTIN["EVI"],
    }
    assert plan.composite_roles == ["blue", "nir", "red", "swir1"]
    assert plan.mosaic_products == ["NDVI", "bands"]
    assert f"{results}/mosaics/2024-JJA/bands.tif" in plan.mosaic_outputs()
    tile, period = next(iter(plan.composites))
    assert plan.band_outputs(period, tile) == [
        f"{results}/composites/{period}/bands/{tile}.tif",
        f"{results}/composites/{period}/bands/{tile}_count.tif",
    ]
    none = _planned(tmp_path / "none")
    assert none.band_spec is None and none.mosaic_products == ["NDVI"]
    assert none.composite_roles == ["nir", "red"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bands": ["red", "thermal"]}, r"composite.bands: thermal not in scenes.bands"),
        ({"bands": ["red", "red"]}, r"composite.bands: .* lists a band twice"),
        ({"bands": ["red"], "scene_indices": True}, r"composite.bands: .*scene_indices: false"),
        (
            {"bands": ["red"], "band_statistic": "quality"},
            r"composite.quality.index: .*NDVI.*target_day",
        ),
        (
            {"bands": ["red"], "band_statistic": "quality", "quality": {"index": "NOPE"}},
            r"composite.quality.index: .*unknown index 'NOPE'",
        ),
    ],
)
def test_bad_band_settings_name_the_key(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        _planned(tmp_path, **changes)


def test_plan_of_a_day_score_alone(tmp_path):
    plan = _planned(
        tmp_path,
        bands=["red", "nir"],
        band_statistic="quality",
        quality={"target_day": 180, "day_sigma": 15},
    )
    assert plan.band_spec["target_day"] == 180 and "score" not in plan.band_spec
    assert plan.band_spec["day_sigma"] == 15.0 and plan.band_spec["day_weight"] == 1.0
    assert plan.composite_roles == ["nir", "red"]


def test_plan_of_force_terms_alone(tmp_path):
    plan = _planned(
        tmp_path,
        bands=["red", "nir"],
        band_statistic="quality",
        quality={"cloud_distance": 3000, "valid_weight": 0.5},
    )
    spec = plan.band_spec
    assert (spec["cloud_distance"], spec["cloud_weight"], spec["valid_weight"]) == (
        3000.0,
        1.0,
        0.5,
    )
    assert "score" not in spec and "target_day" not in spec
    assert bc.BandSpec(**{**spec, "roles": tuple(spec["roles"])}).layers == 3  # + distance


def test_schema_refuses_an_unknown_band_statistic(tmp_path):
    with pytest.raises(ConfigError, match="band_statistic"):
        _planned(tmp_path, bands=["red"], band_statistic="median")
