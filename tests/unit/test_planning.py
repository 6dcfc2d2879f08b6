"""Planning helpers: the footprint cache, scene batches, manifests, composite job plans."""

from __future__ import annotations

import datetime as dt
import json
import os
import random

import numpy as np
import pytest
import rasterio
from helpers import write_raster

from rasterflow import composite, plan_cache, planning, workflow, zonal
from rasterflow.errors import ConfigError, InputDataError
from rasterflow.scenes import BandFile, Scene
from rasterflow.zonal import zones as zonal_zones


def _scenes(tmp_path, n):
    files = {}
    for i in range(n):
        path = write_raster(
            tmp_path / f"s{i}.tif",
            np.ones((2, 3, 4), np.uint16),
            origin=(500_000.0 + 100 * i, 6_000_000.0),
            res=10.0 + i,
        )
        files[f"s{i}"] = str(path)
    return files


def _same(a, b):
    return (tuple(a.bounds), a.bounds.crs, a.count, a.dtypes) == (
        tuple(b.bounds),
        b.bounds.crs,
        b.count,
        b.dtypes,
    )


def test_cached_headers_equal_the_files_and_are_not_read_twice(tmp_path, monkeypatch):
    files = _scenes(tmp_path, 3)
    cache = tmp_path / "cache" / "headers.json"
    first = planning.cached_headers(files.values(), cache=cache)
    for path in files.values():
        with rasterio.open(path) as src:
            assert tuple(first[path].bounds) == tuple(src.bounds)
            assert first[path].bounds.crs == src.crs.to_wkt()
            assert (first[path].count, first[path].dtypes) == (src.count, src.dtypes)
    assert cache.exists()

    def no_header_reads(path):
        raise AssertionError(f"header of {path} read although cached")

    monkeypatch.setattr(planning, "read_header", no_header_reads)
    again = planning.cached_headers(files.values(), cache=cache)
    assert all(_same(again[p], first[p]) for p in files.values())
    fps = planning.footprints_of(files, again)
    assert all(fps[s] is again[p].bounds for s, p in files.items())


def test_a_changed_file_is_read_again(tmp_path, monkeypatch):
    files = _scenes(tmp_path, 2)
    cache = tmp_path / "headers.json"
    planning.cached_headers(files.values(), cache=cache)
    write_raster(
        tmp_path / "s1.tif",
        np.ones((3, 3, 4), np.uint16),
        origin=(600_000.0, 6_100_000.0),
        res=20.0,
    )
    stamp = os.stat(tmp_path / "s0.tif").st_mtime_ns
    os.utime(tmp_path / "s1.tif", ns=(stamp + 10**9, stamp + 10**9))
    read = []
    real = planning.read_header
    monkeypatch.setattr(planning, "read_header", lambda p: read.append(p) or real(p))
    headers = planning.cached_headers(files.values(), cache=cache)
    assert read == [files["s1"]]
    assert tuple(headers[files["s1"]].bounds) == (600_000.0, 6_099_940.0, 600_080.0, 6_100_000.0)
    assert headers[files["s1"]].count == 3


def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path):
    files = _scenes(tmp_path, 2)
    cache = tmp_path / "headers.json"
    cache.write_text('{"version": 2, "crs": [], "entries": {"x": [1')
    headers = planning.cached_headers(files.values(), cache=cache)
    assert _same(headers[files["s0"]], planning.read_header(files["s0"]))
    from rasterflow import cache as rf_cache

    assert set(rf_cache.load(cache)["entries"]) == {os.path.abspath(p) for p in files.values()}


def test_missing_and_broken_files_are_left_to_the_callers_check(tmp_path):
    files = _scenes(tmp_path, 1)
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00 not a tiff")
    paths = [files["s0"], str(tmp_path / "nope.tif"), str(broken)]
    headers = planning.cached_headers(paths, cache=tmp_path / "headers.json")
    assert list(headers) == [files["s0"]]
    with pytest.raises(InputDataError, match="nope.tif"):
        planning.read_header(tmp_path / "nope.tif")


def test_batches_follow_the_dates_and_invert():
    d = dt.date(2024, 6, 1)
    dates = {
        "s0": d,
        "s1": d - dt.timedelta(days=9),
        "s2": d,
        "s3": d + dt.timedelta(days=3),
        "s4": d - dt.timedelta(days=1),
        "s5": d,
        "s6": d - dt.timedelta(days=30),
    }
    groups = planning.batches(dates, size=3)
    # date order, scene id within a day: s6 s1 s4 | s0 s2 s5 | s3
    assert groups == {"b00000": ["s6", "s1", "s4"], "b00001": ["s0", "s2", "s5"], "b00002": ["s3"]}
    assert planning.batch_of(groups) == {s: b for b, members in groups.items() for s in members}
    assert sorted(planning.batch_of(groups)) == sorted(dates)
    # later scenes leave the earlier batches as they were
    later = {**dates, "t0": d + dt.timedelta(days=40), "t1": d + dt.timedelta(days=41)}
    assert planning.batches(later, size=3)["b00001"] == groups["b00001"]
    assert list(planning.batches(dates, size=1)) == [f"b0000{i}" for i in range(7)]


@pytest.mark.parametrize("size", [0, -2, 1.5, True])
def test_batch_size_must_be_a_positive_integer(size):
    with pytest.raises(ConfigError, match="scenes.batch"):
        planning.batches({"a": dt.date(2024, 1, 1)}, size=size)


def _plan_reference(touched, periods):
    """The obvious double loop over tiles and periods."""
    jobs = {}
    for tile, on_tile in touched.items():
        for period, scenes in periods.items():
            chosen = [s for s in scenes if s in set(on_tile)]
            if chosen:
                jobs[(tile, period)] = chosen
    return jobs


def test_plan_jobs_equals_the_double_loop_on_random_plans():
    rnd = random.Random(3)
    scenes = [f"s{i:03d}" for i in range(300)]
    for _ in range(20):
        periods = {}
        for p in rnd.sample(range(12), 6):  # periods in any order; ranges may overlap
            periods[f"p{p:02d}"] = rnd.sample(scenes, rnd.randint(0, 60))
        touched = {f"x{t:03d}_y000": rnd.sample(scenes, rnd.randint(1, 80)) for t in range(15)}
        plan = composite.plan_jobs(touched, periods)
        assert plan == _plan_reference(touched, periods)
        assert list(plan) == list(_plan_reference(touched, periods))


def _mtime(path):
    return os.stat(path).st_mtime_ns


def test_a_fingerprint_is_rewritten_only_when_a_file_changes(tmp_path):
    files = [str(p) for p in (tmp_path / "a.tif", tmp_path / "b.tif")]
    for i, f in enumerate(files):
        with open(f, "wb") as fh:
            fh.write(b"x" * (10 + i))
        os.utime(f, ns=(1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_000 + i))
    fp = tmp_path / "batches" / "b00000.inputs.json"
    assert planning.write_fingerprint(fp, files, now_ns=2_000_000_000_000_000_000)
    # new: as old as the newest file, so a lost fingerprint reruns nothing
    assert _mtime(fp) == 1_700_000_000_000_000_001
    assert json.loads(fp.read_text()) == {
        "files": [
            [files[0], 10, 1_700_000_000_000_000_000],
            [files[1], 11, 1_700_000_000_000_000_001],
        ]
    }
    before = fp.read_bytes()
    os.utime(fp, ns=(5, 5))
    assert planning.write_fingerprint(fp, reversed(files))  # same record: left alone
    assert _mtime(fp) == 5 and fp.read_bytes() == before
    # a file replaced by an older one still changes the record: the fingerprint is "now"
    os.utime(files[1], ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    assert planning.write_fingerprint(fp, files, now_ns=1_800_000_000_000_000_000)
    assert _mtime(fp) == 1_800_000_000_000_000_000
    assert json.loads(fp.read_text())["files"][1] == [files[1], 11, 1_600_000_000_000_000_000]
    # a file newer than now (clock skew, a touched file): the newest file's time
    with open(files[0], "ab") as fh:
        fh.write(b"y")
    os.utime(files[0], ns=(1_900_000_000_000_000_000, 1_900_000_000_000_000_000))
    assert planning.write_fingerprint(fp, files, now_ns=1_850_000_000_000_000_000)
    assert _mtime(fp) == 1_900_000_000_000_000_000
    assert [e[1] for e in json.loads(fp.read_text())["files"]] == [11, 11]
    assert sorted(p.name for p in fp.parent.iterdir()) == ["b00000.inputs.json"]


def test_no_fingerprint_while_a_file_is_missing(tmp_path):
    present = tmp_path / "a.tif"
    present.write_bytes(b"x")
    fp = tmp_path / "b00000.inputs.json"
    assert not planning.write_fingerprint(fp, [str(present), str(tmp_path / "later.tif")])
    assert not fp.exists()


def _plan(tmp_path, files):
    scenes = {s: Scene(s, dt.date(2024, 6, 1), {"red": BandFile(p, 1)}) for s, p in files.items()}
    return plan_cache.CachedPlan(
        scenes=scenes,
        batches=planning.batches({s: dt.date(2024, 6, 1) for s in files}, size=2),
        composites={("x000_y000", "2024-06"): sorted(files)},
        tiles={},
        grid=None,
        composite_indices=["NDVI"],
        outside=[],
        stamps=plan_cache.stamps_of(files.values()),
    )


def _key(tmp_path, **config):
    sheet = tmp_path / "scenes.csv"
    if not sheet.exists():
        sheet.write_text("scene_id,date,path\ns0,2024-06-01,s0.tif\n")
    code = tmp_path / "code.py"
    if not code.exists():
        code.write_text("x = 1\n")
    return plan_cache.plan_key(sheet=sheet, config={"scenes": {"batch": 1}, **config}, code=[code])


def test_a_saved_plan_loads_equal_and_leaves_no_temporary_file(tmp_path):
    files = _scenes(tmp_path, 3)
    plan = _plan(tmp_path, files)
    cache = tmp_path / "rf" / "plan.json"
    plan_cache.save_plan(cache, plan, key="k1")
    assert sorted(p.name for p in cache.parent.iterdir()) == ["plan.json"]
    assert plan_cache.load_plan(cache, key="k1") == plan
    assert plan_cache.load_plan(cache, key="k2") is None  # made under another key
    assert plan_cache.load_plan(tmp_path / "none.json", key="k1") is None


def test_planning_pauses_the_collector_and_leaves_it_as_it_was():
    import gc

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with plan_cache.collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    # a failed plan too; nothing is frozen by the library (the workflow freezes its plan)
    with pytest.raises(ConfigError), plan_cache.collector_paused():
        raise ConfigError("bad config")
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()
    with plan_cache.collector_paused():
        pass
    assert not gc.isenabled()  # a caller's own choice stays
    gc.enable()


@pytest.mark.parametrize("change", ["size", "mtime", "removed"])
def test_a_changed_scene_file_invalidates_the_plan(tmp_path, change):
    files = _scenes(tmp_path, 2)
    cache = tmp_path / "plan.json"
    plan_cache.save_plan(cache, _plan(tmp_path, files), key="k")
    path = files["s1"]
    if change == "size":  # a byte more, the modification time kept
        old = os.stat(path).st_mtime_ns
        with open(path, "ab") as fh:
            fh.write(b"\0")
        os.utime(path, ns=(old, old))
    elif change == "mtime":  # same bytes, an older copy
        os.utime(path, ns=(10**18, 10**18))
    else:
        os.remove(path)
    assert plan_cache.load_plan(cache, key="k") is None
    assert plan_cache.load_plan(cache, key="k") is None  # and stays so until rewritten


@pytest.mark.parametrize("damage", [b"", b"\x80\x05garbage", b"not json at all"])
def test_a_damaged_plan_file_is_ignored(tmp_path, damage):
    files = _scenes(tmp_path, 1)
    cache = tmp_path / "plan.json"
    plan_cache.save_plan(cache, _plan(tmp_path, files), key="k")
    whole = cache.read_bytes()
    cache.write_bytes(damage or whole[: len(whole) // 2])  # b"": a truncated file
    assert plan_cache.load_plan(cache, key="k") is None


def test_the_plan_key_follows_sheet_config_code_and_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = _key(tmp_path)
    assert _key(tmp_path) == base
    assert _key(tmp_path, grid={"crs": "EPSG:3067"}) != base
    (tmp_path / "scenes.csv").write_text("scene_id,date,path\ns0,2024-06-02,s0.tif\n")
    after_sheet = _key(tmp_path)
    assert after_sheet != base
    (tmp_path / "code.py").write_text("x = 2\n")
    after_code = _key(tmp_path)
    assert after_code not in (base, after_sheet)
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)  # relative paths in sheet and config resolve elsewhere
    assert _key(tmp_path) != after_code
    code = {str(p) for p in plan_cache.planning_code()}
    assert code >= {planning.__file__, workflow.__file__}
    # a package's modules count too: zonal/ holds check_zones, which planning calls
    assert code >= {zonal.__file__, zonal_zones.__file__}


# --- caches read back run no code and believe no one else ---------------------------


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", ["plan.json", "plan.pickle"])
def test_a_planted_pickle_runs_no_code_and_is_rebuilt(tmp_path, name):
    import pickle

    marker = tmp_path / "pwned"
    bomb = _Exploit()
    bomb.marker = marker
    cache = tmp_path / name
    # what the old loader ran: (format, key, plan) with the code in it
    cache.write_bytes(pickle.dumps((2, "k", bomb)))
    assert plan_cache.load_plan(cache, key="k") is None
    assert not marker.exists()
    files = _scenes(tmp_path, 1)
    plan_cache.save_plan(cache, _plan(tmp_path, files), key="k")  # rebuilt over it
    assert plan_cache.load_plan(cache, key="k") == _plan(tmp_path, files)


def test_a_cache_not_signed_by_this_user_is_not_believed(tmp_path, monkeypatch):
    from rasterflow import cache as rf_cache

    files = _scenes(tmp_path, 2)
    plan = _plan(tmp_path, files)
    mine = tmp_path / "plan.json"
    plan_cache.save_plan(mine, plan, key="k")
    # well-formed JSON with the right key, but edited: a scene id that escapes results
    forged = mine.read_bytes().replace(b'"s1"', b'"../../s1"')
    (tmp_path / "forged.json").write_bytes(forged)
    assert plan_cache.load_plan(tmp_path / "forged.json", key="k") is None
    # another user's file: signed, but with their secret
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-user"))
    assert plan_cache.load_plan(mine, key="k") is None
    assert rf_cache.user_secret() is not None
    plan_cache.save_plan(mine, plan, key="k")
    assert plan_cache.load_plan(mine, key="k") == plan
    # a header cache edited to lie about a scene's bounds is read again from the file
    headers = tmp_path / "headers.json"
    first = planning.cached_headers(files.values(), cache=headers)
    raw = headers.read_bytes()
    lie = raw.replace(b"500000.0", b"900000.0")
    assert lie != raw
    headers.write_bytes(lie)
    again = planning.cached_headers(files.values(), cache=headers)
    assert all(_same(first[p], again[p]) for p in files.values())


def test_a_secret_others_can_read_is_refused(tmp_path, monkeypatch):
    from rasterflow import cache as rf_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert rf_cache.user_secret() is not None
    secret = tmp_path / "rasterflow" / "cache-secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    secret.chmod(0o644)
    assert rf_cache.user_secret() is None
    assert not rf_cache.dump(tmp_path / "x.json", {"a": 1})  # nothing cached then
    assert rf_cache.load(tmp_path / "x.json") is None


def test_cached_headers_keep_the_size_in_pixels(tmp_path, monkeypatch):
    """The extent check of a scene's band files needs their resolutions (issue 15)."""
    files = _scenes(tmp_path, 2)
    cache = tmp_path / "headers.json"
    first = planning.cached_headers(files.values(), cache=cache)
    monkeypatch.setattr(planning, "read_header", lambda p: pytest.fail(f"{p} read again"))
    again = planning.cached_headers(files.values(), cache=cache)
    for path in files.values():
        assert (first[path].width, first[path].height) == (4, 3)
        assert (again[path].width, again[path].height) == (4, 3)


def test_headers_only_from_the_cache_open_nothing_and_write_nothing(tmp_path):
    files = _scenes(tmp_path, 3)
    cache = tmp_path / "headers.json"
    first = list(files.values())[:2]
    assert set(planning.cached_headers(first, cache=cache)) == set(first)
    stamp = cache.stat().st_mtime_ns
    got = planning.cached_headers(list(files.values()), cache=cache, open_missing=False)
    assert set(got) == set(first)  # the third is not in the cache: not opened
    assert cache.stat().st_mtime_ns == stamp
