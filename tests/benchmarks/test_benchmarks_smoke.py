"""Smoke runs of the scripts in benchmarks/ at tiny sizes (issue #6, item 3).

Each script runs as a subprocess, as docs/benchmarks.md tells a user to run it, on data
it makes itself. No figure is compared with a threshold: the machine's load decides
those. What is checked is that every variant prints a positive, finite time, that the
ratios and rates printed agree with the medians printed beside them (each printed
number is rounded, so the check allows for the rounding), and what the script checks
of its own outputs.

The planning benchmark's smoke run stays in tests/workflow/test_batching.py: it plans
with Snakemake several times (about a minute), more than this file's budget.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

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


def row(stdout: str, label: str) -> list[float]:
    """The numbers of the one line made of ``label`` (any spacing) and numbers only."""
    words = r"\s+".join(map(re.escape, label.split()))
    found = re.findall(rf"^\s*{words}((?:\s+{NUMBER})+)\s*$", stdout, re.MULTILINE)
    assert len(found) == 1, f"expected one row {label!r}, found {len(found)} in:\n{stdout}"
    return [float(x) for x in found[0].split()]


def positive(value: float, what: str) -> float:
    assert math.isfinite(value) and value > 0, f"{what}: {value}"
    return value


def places(number: str) -> int:
    return len(number.partition(".")[2])


def assert_quotient(
    printed: float, num: float, den: float, *, digits: tuple[int, int, int], what: str
) -> None:
    """``printed`` is num / den, each of the three rounded to its ``digits`` decimals.

    The exact quotient lies between the quotients of the rounding intervals' ends, so
    a printed value outside that range (widened by its own rounding) was not computed
    from those medians.
    """
    hn, hd, hp = (0.5 * 10.0**-d + 1e-12 for d in digits)
    low = (num - hn) / (den + hd)
    high = (num + hn) / (den - hd) if den > hd else math.inf
    assert low - hp <= printed <= high + hp, (
        f"{what}: printed {printed}, but {num} / {den} gives {low:.4f}..{high:.4f}"
    )


def assert_difference(printed: float, a: float, b: float, *, digits: int, what: str) -> None:
    """``printed`` is a - b, all three rounded to ``digits`` decimals."""
    assert abs(printed - (a - b)) <= 1.5 * 10.0**-digits + 1e-9, (
        f"{what}: printed {printed}, but {a} - {b} = {a - b:.4f}"
    )


# --------------------------------------------------------------------------- index


INDEX_VARIANTS = ["threads", "processes", "gdal_calc", "gdal_calc_deflate", "io_floor"]


def test_index_bench_prints_every_variant_with_consistent_ratios() -> None:
    size = 256
    out = run_bench("index_bench.py", "--size", str(size), "--runs", "1")
    assert f"NDVI of a {size} x {size} scene, 2 threads, median of 1 runs" in out
    rows = {v: row(out, v) for v in INDEX_VARIANTS}
    # columns: median, min, max, ..., Mpx/s, vs threads (the first and last two are read)
    threads = rows["threads"][0]
    for variant, numbers in rows.items():
        median, low, high = numbers[:3]
        positive(median, f"{variant} median")
        assert low <= median <= high, f"{variant}: min {low}, median {median}, max {high}"
        assert_quotient(
            numbers[-1], median, threads, digits=(2, 2, 2), what=f"{variant} vs threads"
        )
        assert_quotient(
            numbers[-2], size * size / 1e6, median, digits=(12, 2, 1), what=f"{variant} Mpx/s"
        )
    assert rows["threads"][-1] == 1.0
    assert (
        "agreement: threads, processes, gdal_calc, gdal_calc_deflate = NumPy NDVI "
        f"(rtol 1e-6) on {size} x {size} cells at the centre"
    ) in out


# --------------------------------------------------------------------------- terrain


def test_terrain_bench_prints_every_contender_and_the_one_job_row() -> None:
    products = ["slope", "hillshade"]  # a float32 and the uint8 product, in half the time
    out = run_bench(
        "terrain_bench.py",
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
    # the header names the peers, one "/peer" ratio column each, the last columns
    header = next(line for line in out.splitlines() if line.startswith("product"))
    peers = [word[1:] for word in header.split() if word.startswith("/")]
    assert {"gdaldem", "gdaldem-cog"} <= set(peers), header

    def check(label: str, contender: str, peer_medians: dict[str, float]) -> float:
        numbers = row(out, f"{label} {contender}")
        median = positive(numbers[0], f"{label} {contender}")
        for (peer, peer_median), ratio in zip(
            peer_medians.items(), numbers[-len(peers) :], strict=True
        ):
            assert_quotient(
                ratio, median, peer_median, digits=(2, 2, 2), what=f"{label} {contender} / {peer}"
            )
        return median

    medians: dict[str, dict[str, float]] = {}
    for product in products:
        medians[product] = {p: row(out, f"{product} {p}")[0] for p in peers}
        for contender in [*peers, "rasterflow"]:
            check(product, contender, medians[product])
    both = "+".join(products)
    sums = {p: row(out, f"{both} sum of {p}")[0] for p in peers}
    # a sum of unrounded medians: each printed median and the sum are off by <= 0.005
    slack = 0.005 * (len(products) + 1) + 1e-9
    for peer, total in sums.items():
        assert abs(total - sum(medians[p][peer] for p in products)) <= slack, (peer, total)
    for contender in [*(f"sum of {p}" for p in peers), "rasterflow (one job)"]:
        check(both, contender, sums)
    m = re.search(
        rf"^agreement with gdaldem: 256 x 256 cells at the centre, max \|diff\| "
        rf"slope (?P<slope>{NUMBER}), hillshade (?P<hillshade>{NUMBER})$",
        out,
        re.MULTILINE,
    )
    assert m, out
    assert float(m["slope"]) <= 1e-4 and float(m["hillshade"]) <= 1


# --------------------------------------------------------------------------- composite


def test_composite_bench_prints_rates_and_ratio_consistent_with_its_times() -> None:
    scenes, threads = 3, 1
    out = run_bench(
        "composite_bench.py",
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
    for size in (128, 256):
        m = re.search(
            rf"^\s*{size} x {size}: composite\s+(?P<c>{NUMBER}) s =\s+(?P<out>{NUMBER}) "
            rf"MP/s/core out \(\s*(?P<inp>{NUMBER}) in\); io-floor\s+(?P<f>{NUMBER}) s; "
            rf"ratio\s+(?P<r>{NUMBER})$",
            out,
            re.MULTILINE,
        )
        assert m, f"no {size} x {size} line in:\n{out}"
        c, f = positive(float(m["c"]), "composite"), positive(float(m["f"]), "io-floor")
        mpix = size * size / 1e6
        digits = (12, places(m["c"]), places(m["out"]))
        assert_quotient(float(m["out"]), mpix / threads, c, digits=digits, what="MP/s out")
        assert_quotient(
            float(m["inp"]),
            mpix * scenes / threads,
            c,
            digits=(12, places(m["c"]), places(m["inp"])),
            what="MP/s in",
        )
        assert_quotient(
            float(m["r"]),
            c,
            f,
            digits=(places(m["c"]), places(m["f"]), places(m["r"])),
            what="ratio",
        )
        assert (
            f"  {size} x {size} outputs: valid COGs on the tile, count 0..scenes, "
            "NaN iff count 0, within input range"
        ) in out


def test_composite_bench_times_the_kernel_against_another_copy_of_it(tmp_path) -> None:
    other = tmp_path / "copy_of_warp_kernel.py"
    other.write_bytes((REPO / "src" / "rasterflow" / "_warp_kernel.py").read_bytes())
    out = run_bench(
        "composite_bench.py",
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
    for stat in ("median", "percentile", "mean"):
        m = re.search(
            rf"^\s*kernel {stat}\s*:\s+(?P<ms>{NUMBER}) ms CPU =\s+(?P<ns>{NUMBER}) "
            rf"ns a sample; other\s+(?P<o>{NUMBER}) ms, x(?P<x>{NUMBER}); "
            r"same pixels: True$",
            out,
            re.MULTILINE,
        )
        assert m, f"no kernel {stat} line in:\n{out}"
        ms = positive(float(m["ms"]), stat)
        # ns = ms * 1e6 / samples: the printed ms, in ns, is rounded to 6 places fewer
        assert_quotient(
            float(m["ns"]),
            ms * 1e6,
            3 * 256 * 256,
            digits=(places(m["ms"]) - 6, 12, places(m["ns"])),
            what="ns a sample",
        )
        assert_quotient(
            float(m["x"]),
            positive(float(m["o"]), "other"),
            ms,
            digits=(places(m["o"]), places(m["ms"]), places(m["x"])),
            what="x",
        )


# --------------------------------------------------------------------------- fixed cost


def test_fixed_cost_bench_checks_its_steps_and_prints_the_difference_to_the_floor() -> None:
    # step_processes is left out for time (~5 s); worker processes start the same
    # way in index_bench's processes variant above
    variants = ["import_floor", "step", "step_report"]
    out = run_bench("fixed_cost_bench.py", "--runs", "1", "--variants", ",".join(variants))
    rows = {v: row(out, v) for v in variants}
    floor = rows["import_floor"][0]
    for variant, (median, low, minus_floor) in rows.items():
        positive(median, variant)
        assert low <= median, variant
        assert_difference(minus_floor, median, floor, digits=2, what=f"{variant} - floor")
    assert rows["import_floor"][2] == 0.0
    assert (
        "checked: each step ran its task, its log ends in the summary, a performance "
        "report only with step_report"
    ) in out


# --------------------------------------------------------------------------- out-of-core


def test_outofcore_bench_output_is_a_valid_cog_equal_to_gdaldem_slope() -> None:
    out = run_bench("outofcore_bench.py", "--size", "256", "--mem-mb", "1024")
    m = re.search(
        rf"^slope of dem\.tif: (?P<wall>{NUMBER}) s, peak RSS (?P<rss>{NUMBER}) GiB "
        rf"with a 1024 MB job \(2 threads\); output (?P<mib>\d+) MiB$",
        out,
        re.MULTILINE,
    )
    assert m, out
    positive(float(m["wall"]), "wall time")
    # 0.00 GiB would mean the child's usage was not read (Python alone takes more)
    positive(float(m["rss"]), "peak RSS")
    m = re.search(
        rf"^output: a valid COG on the DEM's grid; 254 x 254 cells at the centre, "
        rf"max \|ours - gdaldem slope\| (?P<diff>{NUMBER}) degrees$",
        out,
        re.MULTILINE,
    )
    assert m, out
    assert float(m["diff"]) <= 1e-4


# --------------------------------------------------------------------------- zonal


ZONAL_ENGINES = ["ours-coverage", "exactextract", "exactextract-rs", "ours-centre"]


def test_zonal_bench_prints_every_engine_with_consistent_ratios(tmp_path: Path) -> None:
    out = run_bench(
        "zonal_bench.py",
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
        str(tmp_path),
    )
    t = {}
    for engine in ZONAL_ENGINES:
        m = re.search(rf"^\s*{engine}\s+(?P<s>{NUMBER}) s$", out, re.MULTILINE)
        assert m, f"no {engine} row in:\n{out}"
        t[engine] = positive(float(m["s"]), engine)
    m = re.search(
        rf"^\s*rasterstats\s+(?P<s>{NUMBER}) s  \(extrapolated: run on 10 polygons, "
        rf"x3\)$",
        out,
        re.MULTILINE,
    )
    assert m, out
    t["rasterstats"] = positive(float(m["s"]), "rasterstats")
    for num, den in [
        ("ours-coverage", "exactextract"),
        ("ours-coverage", "exactextract-rs"),
        ("rasterstats", "ours-centre"),
        ("rasterstats", "ours-coverage"),
    ]:
        label = f"{num} / {den}"
        m = re.search(rf"^\s*{re.escape(label)}\s+(?P<r>{NUMBER})x?\b", out, re.MULTILINE)
        assert m, f"no {label} line in:\n{out}"
        assert_quotient(float(m["r"]), t[num], t[den], digits=(2, 2, places(m["r"])), what=label)
    assert (
        "agreement: ours-coverage = exactextract on all zones, ours-centre = rasterstats "
        "on the first 10 (rtol 1e-6, centre counts exact)"
    ) in out
    assert {p.name for p in tmp_path.iterdir()} == {"r600.tif", "z30_600.gpkg"}


# --------------------------------------------------------------------- band composite


def test_band_composite_bench_prints_each_statistic_with_a_consistent_rate() -> None:
    out = run_bench("band_composite_bench.py", "--size", "24", "--scenes", "5", "--repeats", "1")
    px = 24 * 24
    for name in ("medoid", "geomedian", "quality"):
        seconds, rate = row(out, name)
        positive(seconds, name)
        # rate = px / seconds / 1e6, each printed rounded: seconds to 6 places, rate to 2
        assert_quotient(rate, px / 1e6, seconds, digits=(12, 6, 2), what=name)
