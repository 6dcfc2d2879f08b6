"""Smoke runs of the scripts in benchmarks/ at tiny sizes (issue #6, item 3; issue #20).

Each script runs as a subprocess, as docs/benchmarks.md tells a user to run it, on data
it makes itself, with ``--json``. No figure is compared with a threshold: the machine's
load decides those. What is checked is that every variant ran the rounds asked for
with positive, finite times, that the medians, ratios and rates in the JSON are those
of its raw runs (check_result), that the printed table has a row per variant, and
what the script checks of its own outputs (its agreement line).

The planning benchmark's smoke run stays in tests/workflow/test_batching.py: it plans
with Snakemake several times (about a minute), more than this file's budget.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import REPO

BENCH = REPO / "benchmarks"
NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def run_bench(script: str, *args: str, timeout: float = 300) -> str:
    """Run ``benchmarks/<script> args``; its stdout, or a failure showing both streams."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{script} {' '.join(args)} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-3000:]}\n"
        f"--- stderr ---\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def run_json(
    script: str, tmp_path: Path, *args: str, timeout: float = 300
) -> tuple[str, dict[str, Any]]:
    """Run a script with ``--json``: its stdout and the JSON it wrote."""
    path = tmp_path / f"{Path(script).stem}.json"
    out = run_bench(script, *args, "--json", str(path), timeout=timeout)
    doc = json.loads(path.read_text())
    assert doc["schema"] == "rasterflow-benchmark/1" and doc["script"] == script
    assert doc["machine"]["affinity_count"] >= 1 and len(doc["machine"]["loadavg"]) == 3
    assert "commit" in doc["git"]
    return out, doc


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_result(
    res: dict[str, Any], variants: list[str], *, rounds: int, stdout: str | None = None
) -> dict[str, dict[str, float]]:
    """Check one measurement of the JSON against its raw runs; its medians.

    Every variant ran once per round with a positive, finite wall and a finite CPU;
    each median is the median of its runs, each ratio the quotient of the medians and
    each rate its amount over a median; the table printed has a row for each variant.
    """
    assert [v["name"] for v in res["variants"]] == variants
    assert res["rounds"] == rounds
    runs = res["runs"]
    assert sorted((r["round"], r["variant"]) for r in runs) == sorted(
        (i, v) for i in range(rounds) for v in variants
    )
    medians = res["medians"]
    for v in variants:
        walls = [r["wall"] for r in runs if r["variant"] == v]
        cpus = [r["cpu"] for r in runs if r["variant"] == v]
        assert all(math.isfinite(w) and w > 0 for w in walls), (v, walls)
        assert all(math.isfinite(c) and c >= 0 for c in cpus), (v, cpus)
        assert close(medians[v]["wall"], statistics.median(walls)), v
        assert close(medians[v]["cpu"], statistics.median(cpus)), v
        if stdout is not None:
            assert re.search(rf"^\| {re.escape(v)}(?: \([^|]*\))? \| {rounds} \|", stdout, re.M), (
                f"no table row for {v} in:\n{stdout}"
            )
    ref = res["reference"]
    for v in variants if ref else []:
        for what in ("wall", "cpu"):
            if medians[ref][what] > 0:
                want = medians[v][what] / medians[ref][what]
                assert close(res["ratios"][v][what], want), (v, what)
    for other, ratios in res.get("also", {}).items():
        for v in variants:
            assert close(ratios[v]["wall"], medians[v]["wall"] / medians[other]["wall"])
    return medians


def rate_amount(res: dict[str, Any], label: str, of: str = "wall") -> float:
    """The amount a rate column was computed from (the same for every variant)."""
    amounts = {v: rate * res["medians"][v][of] for v, rate in res["rates"][label].items()}
    first = next(iter(amounts.values()))
    assert all(close(a, first) for a in amounts.values()), amounts
    return first


# --------------------------------------------------------------------------- index


INDEX_VARIANTS = ["threads", "processes", "gdal_calc", "gdal_calc_deflate", "io_floor"]


def test_index_bench_runs_every_variant_and_they_agree(tmp_path: Path) -> None:
    size = 256
    out, doc = run_json("index_bench.py", tmp_path, "--size", str(size), "--runs", "1")
    (res,) = doc["results"]
    assert res["title"] == f"NDVI of a {size} x {size} scene, 2 threads, median of 1 runs"
    check_result(res, INDEX_VARIANTS, rounds=1, stdout=out)
    assert res["reference"] == "threads"
    assert close(rate_amount(res, "Mpx/s"), size * size / 1e6)
    agreement = (
        "threads, processes, gdal_calc, gdal_calc_deflate = NumPy NDVI "
        f"(rtol 1e-6) on {size} x {size} cells at the centre"
    )
    assert res["agreement"] == agreement and f"agreement: {agreement}" in out
    assert doc["args"]["size"] == size and doc["args"]["runs"] == 1


# --------------------------------------------------------------------------- terrain


def test_terrain_bench_times_every_contender_and_the_one_job(tmp_path: Path) -> None:
    products = ["slope", "hillshade"]  # a float32 and the uint8 product, in half the time
    out, doc = run_json(
        "terrain_bench.py",
        tmp_path,
        "--size",
        "256",
        "--runs",
        "1",
        "--threads",
        "2",
        "--products",
        *products,
    )
    assert "DEM 256 x 256 float32, 1 runs, 2 thread(s)" in out
    contenders = ["gdaldem", "gdaldem-deflate", "gdaldem-cog", "rasterflow"]
    *per_product, job = doc["results"]
    medians = []
    for product, res in zip(products, per_product, strict=True):
        assert res["title"].startswith(f"{product}:")
        assert res["reference"] == "gdaldem" and set(res["also"]) == {
            "gdaldem-deflate",
            "gdaldem-cog",
        }
        medians.append(check_result(res, contenders, rounds=1, stdout=out))
    check_result(job, ["rasterflow (one job)"], rounds=1)
    for peer in contenders[:3]:
        for what in ("wall", "cpu"):
            total = sum(m[peer][what] for m in medians)
            assert close(job["notes"]["sums"][f"sum of {peer}"][what], total), (peer, what)
    m = re.search(
        rf"^agreement with gdaldem: 256 x 256 cells at the centre, max \|diff\| "
        rf"slope (?P<slope>{NUMBER}), hillshade (?P<hillshade>{NUMBER})$",
        out,
        re.MULTILINE,
    )
    assert m, out
    assert float(m["slope"]) <= 1e-4 and float(m["hillshade"]) <= 1


# --------------------------------------------------------------------------- composite


def test_composite_bench_times_the_composite_against_its_floor(tmp_path: Path) -> None:
    scenes, threads = 3, 1
    out, doc = run_json(
        "composite_bench.py",
        tmp_path,
        "--sizes",
        "128",
        "256",
        "--scenes",
        str(scenes),
        "--repeats",
        "1",
        "--threads",
        str(threads),
    )
    assert f"{scenes} scenes, {threads} thread(s), chunk auto, two UTM zones" in out
    for size, res in zip((128, 256), doc["results"], strict=True):
        assert res["title"].startswith(f"{size} x {size}: composite")
        check_result(res, ["composite", "io-floor"], rounds=1, stdout=out)
        assert res["reference"] == "io-floor"
        mpix = size * size / 1e6
        assert close(rate_amount(res, "MP/s/core out"), mpix / threads)
        assert close(rate_amount(res, "MP/s/core in"), mpix * scenes / threads)
        assert res["agreement"] == (
            "valid COGs on the tile, count 0..scenes, NaN iff count 0, within input range"
        )


def test_composite_bench_times_the_kernel_against_another_copy_of_it(tmp_path: Path) -> None:
    other = tmp_path / "copy_of_warp_kernel.py"
    other.write_bytes((REPO / "src" / "rasterflow" / "_warp_kernel.py").read_bytes())
    out, doc = run_json(
        "composite_bench.py",
        tmp_path,
        "--kernel",
        "--sizes",
        "256",
        "--scenes",
        "3",
        "--repeats",
        "1",
        "--kernel-file",
        str(other),
    )
    assert "3 scenes on 256 x 256, in memory, one thread" in out
    stats = ("median", "percentile", "mean")
    assert len(doc["results"]) == len(stats)
    for stat, res in zip(stats, doc["results"], strict=True):
        assert res["title"].startswith(f"kernel {stat}:")
        check_result(res, ["this", "other"], rounds=1)
        assert res["agreement"] == "same pixels: True"
        assert close(rate_amount(res, "Gsamples/s (CPU)", of="cpu"), 3 * 256 * 256 / 1e9)
        m = re.search(
            rf"^\s*kernel {stat}\s*:\s+(?P<ms>{NUMBER}) ms CPU =\s+(?P<ns>{NUMBER}) "
            rf"ns a sample; other\s+(?P<o>{NUMBER}) ms, x(?P<x>{NUMBER}); "
            r"same pixels: True$",
            out,
            re.MULTILINE,
        )
        assert m, f"no kernel {stat} line in:\n{out}"


# --------------------------------------------------------------------------- fixed cost


def test_fixed_cost_bench_checks_its_steps_and_jobs(tmp_path: Path) -> None:
    # step_processes is left out for time (~5 s); worker processes start the same
    # way in index_bench's processes variant above
    variants = ["import_floor", "step", "step_report", "index_job"]
    out, doc = run_json(
        "fixed_cost_bench.py", tmp_path, "--runs", "1", "--variants", ",".join(variants)
    )
    (res,) = doc["results"]
    medians = check_result(res, variants, rounds=1, stdout=out)
    assert res["reference"] == "import_floor"
    # the difference to the floor, printed in its own table (to 0.01 s)
    for v in variants:
        m = re.search(rf"^\| {v} \| {NUMBER} \| (?P<d>{NUMBER}) \|$", out, re.M)
        assert m, f"no difference row for {v} in:\n{out}"
        diff = medians[v]["wall"] - medians["import_floor"]["wall"]
        assert abs(float(m["d"]) - diff) <= 0.005 + 1e-9, (v, diff, m[0])
    # the index job (scripts/index.py run as Snakemake does): its phases were clocked
    (job,) = [r for r in res["runs"] if r["variant"] == "index_job"]
    phases = job["extra"]
    assert set(phases) == {
        f"{k}{cpu}" for k in ("to_first_task", "tasks", "end") for cpu in ("", "_cpu")
    }
    assert abs(phases["to_first_task"] + phases["tasks"] + phases["end"] - job["wall"]) < 1e-6
    assert (
        "checked: each step ran its task, its log ends in the summary, a performance "
        "report only with step_report, the jobs' products are valid rasters"
    ) in out


# --------------------------------------------------------------------------- out-of-core


def test_outofcore_bench_output_is_a_valid_cog_equal_to_gdaldem_slope(tmp_path: Path) -> None:
    out, doc = run_json("outofcore_bench.py", tmp_path, "--size", "256", "--mem-mb", "1024")
    (res,) = doc["results"]
    check_result(res, ["terrain job"], rounds=1)
    m = re.search(
        rf"^slope of dem\.tif: (?P<wall>{NUMBER}) s, peak RSS (?P<rss>{NUMBER}) GiB "
        rf"with a 1024 MB job \(2 threads\); output (?P<mib>\d+) MiB$",
        out,
        re.MULTILINE,
    )
    assert m, out
    # 0.00 GiB would mean the child's usage was not read (Python alone takes more)
    assert float(m["rss"]) > 0 and res["runs"][0]["extra"]["peak_rss_kib"] > 0
    m = re.search(
        rf"^output: a valid COG on the DEM's grid; 254 x 254 cells at the centre, "
        rf"max \|ours - gdaldem slope\| (?P<diff>{NUMBER}) degrees$",
        out,
        re.MULTILINE,
    )
    assert m, out
    assert float(m["diff"]) <= 1e-4


# --------------------------------------------------------------------------- zonal


ZONAL_ENGINES = ["ours-coverage", "exactextract", "exactextract-rs", "ours-centre", "rasterstats"]


def test_zonal_bench_runs_every_engine_and_they_agree(tmp_path: Path) -> None:
    work = tmp_path / "work"
    out, doc = run_json(
        "zonal_bench.py",
        tmp_path,
        "--size",
        "600",
        "--zones",
        "30",
        "--repeats",
        "1",
        "--rasterstats-zones",
        "10",
        "--threads",
        "2",
        "--workdir",
        str(work),
    )
    (res,) = doc["results"]
    medians = check_result(res, ZONAL_ENGINES, rounds=1, stdout=out)
    (rs,) = [v for v in res["variants"] if v["name"] == "rasterstats"]
    assert rs["scale"] == 3.0 and rs["note"] == "extrapolated: run on 10 polygons, x3"
    for label, value in res["notes"]["ratios"].items():
        num, den = label.split(" / ")
        assert close(value, medians[num]["wall"] / medians[den]["wall"]), label
    assert res["agreement"] == (
        "ours-coverage = exactextract on all zones, ours-centre = rasterstats "
        "on the first 10 (rtol 1e-6, centre counts exact)"
    )
    assert {p.name for p in work.iterdir()} == {"r600.tif", "z30_600.gpkg"}


# --------------------------------------------------------------------- band composite


def test_band_composite_bench_times_each_statistic(tmp_path: Path) -> None:
    out, doc = run_json(
        "band_composite_bench.py", tmp_path, "--size", "24", "--scenes", "5", "--repeats", "2"
    )
    (res,) = doc["results"]
    names = ["medoid", "geomedian", "quality"]
    check_result(res, names, rounds=2, stdout=out)
    for name in names:
        best = min(r["cpu"] for r in res["runs"] if r["variant"] == name)
        m = re.search(rf"^{name}\s+(?P<s>{NUMBER}) (?P<rate>{NUMBER})$", out, re.M)
        assert m, out
        assert abs(float(m["s"]) - best) <= 5e-7, (name, best)


# --------------------------------------------------------------------------- trend


def test_trend_bench_times_the_kernel_and_the_run(tmp_path: Path) -> None:
    out, doc = run_json(
        "trend_bench.py", tmp_path, "--size", "128", "--periods", "6", "--runs", "1"
    )
    (res,) = doc["results"]
    check_result(res, ["kernel", "run"], rounds=1, stdout=out)
    assert close(rate_amount(res, "Mpx/s (wall)"), 128 * 128 / 1e6)


# --------------------------------------------------------------------------- contours


def test_contours_bench_finds_the_lines_gdal_contour_finds(tmp_path: Path) -> None:
    out, doc = run_json("contours_bench.py", tmp_path, "--size", "256", "--runs", "2")
    (res,) = doc["results"]
    check_result(res, ["gdal_contour", "rasterflow"], rounds=2, stdout=out)
    assert res["order"] == "mirror" and res["reference"] == "gdal_contour"
    order = [r["variant"] for r in res["runs"]]
    assert order == ["gdal_contour", "rasterflow", "rasterflow", "gdal_contour"]
    assert re.fullmatch(r"\d+ levels, \d+ lines, the same in both", res["agreement"])


# --------------------------------------------------------------------------- points


def test_points_bench_samples_every_point_on_every_scene(tmp_path: Path) -> None:
    work = tmp_path / "work"
    out, doc = run_json(
        "points_bench.py",
        tmp_path,
        "--points",
        "2000",
        "--scenes",
        "3",
        "--size",
        "256",
        "--workdir",
        str(work),
    )
    (res,) = doc["results"]
    check_result(res, ["ours-sample", "ours-table", "decode", "rio-sample"], rounds=1, stdout=out)
    assert res["notes"]["rows"] == 2000 * 3 * 2  # points x scenes x indices (long table)
    assert "1,000 scenes x 2000 points on 2 cores, extrapolated from CPU time:" in out
