"""Smoke run of benchmarks/e2e_bench.py (issue #16, item 1) at a tiny size.

As for the other benchmarks (test_benchmarks_smoke.py, whose helpers this uses): no
time is compared with a threshold. What is checked is that every variant ran, with
positive, finite figures whose medians and ratios the JSON gives (check_result), that the
per-rule split and the job count were read from rasterflow's run, and that the three
implementations' mosaics agree as closely as their methods allow.

Bounds for the agreement, from the smoke run's own numbers (256², 4 scenes):
* rasterflow vs the GDAL pipeline: max |diff| 1.7e-4 (NDVI 0; NBR: gdalwarp keeps the
  bilinear B12 as uint16, so it is rounded to half a DN = 5e-5 reflectance, which moves
  NBR by up to 2 n / (n + s)² x 5e-5 ~ 2e-4 here), no pixel NaN in one only. Asserted:
  max <= 1e-3, mean <= 1e-4, NaN shares within 0.5 percentage points.
* rasterflow vs the Dask script: NDVI equal to float32 rounding; NBR differs at
  0.001 % of the pixels (max 0.05), with ~0.07 % of the pixels NaN in one only, at
  the edges of the no-data corner and clouds where odc-geo's bilinear resampling of the
  20 m band treats NaN neighbours differently. Asserted: max <= 0.2 (an index is in
  [-1, 1]: a wrong band or month gives differences near 1), mean <= 1e-3, pixels above
  1e-4 <= 1 %, NaN in one only <= 1 % of the pixels, NaN shares within 1 point.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from test_benchmarks_smoke import NUMBER, check_result, run_json

VARIANTS = ["rasterflow", "dask-script", "gdal-cli", "io-floor"]
AGREEMENT = re.compile(
    rf"^agreement (?P<a>\S+) vs (?P<b>\S+), (?P<n>\d+) mosaics: max \|diff\| (?P<max>{NUMBER}),"
    rf" mean \|diff\| (?P<mean>{NUMBER}), (?P<above>{NUMBER}) % of pixels > 0\.0001; "
    rf"(?P<one>\d+) pixels NaN in one only; NaN (?P<na>{NUMBER}) % vs (?P<nb>{NUMBER}) %$",
    re.MULTILINE,
)


def test_e2e_bench_runs_every_variant_and_the_mosaics_agree(tmp_path: Path) -> None:
    size, scenes = 256, 4
    out, doc = run_json(
        "e2e_bench.py",
        tmp_path,
        "--size",
        str(size),
        "--scenes",
        str(scenes),
        "--repeats",
        "1",
        timeout=600,
    )
    assert f"end-to-end: {scenes} scenes of {size}^2 px" in out
    (res,) = doc["results"]
    check_result(res, VARIANTS, rounds=1, stdout=out)
    assert res["reference"] == "rasterflow" and list(res["also"]) == ["io-floor"]
    # the split of the round is kept with rasterflow's run
    (rf,) = [r for r in res["runs"] if r["variant"] == "rasterflow"]
    assert rf["extra"]["total"] >= 1 and rf["extra"]["rules"]

    # the per-rule split: every benchmarked rule with jobs, wall, cpu, 4 parts; the
    # parts of a job add up to no more than its wall (rounding aside)
    split = re.findall(rf"^\s+rule (\w+)((?:\s+{NUMBER}){{7}})\s*$", out, re.MULTILINE)
    assert split, f"no per-rule split in:\n{out}"
    benchmarked_jobs = 0
    for rule, numbers in split:
        jobs, wall, cpu, *parts = (float(x) for x in numbers.split())
        assert jobs >= 1 and jobs == int(jobs), rule
        benchmarked_jobs += int(jobs)
        assert math.isfinite(wall) and wall > 0, rule
        assert all(math.isfinite(p) for p in parts), rule
        assert abs(sum(parts) - wall) <= 0.1 * wall + 0.05, (rule, wall, parts)
    total = int(re.search(r"^snakemake jobs (\d+)$", out, re.MULTILINE)[1])
    assert total > benchmarked_jobs, (total, benchmarked_jobs)  # rule all at least

    found = {(m["a"], m["b"]): m for m in AGREEMENT.finditer(out)}
    assert set(found) == {
        ("rasterflow", "dask-script"),
        ("rasterflow", "gdal-cli"),
        ("dask-script", "gdal-cli"),
    }, out
    bounds = {"gdal-cli": (1e-3, 1e-4, 100.0, 0.5), "dask-script": (0.2, 1e-3, 1.0, 1.0)}
    for peer, (max_diff, mean_diff, above, nan_points) in bounds.items():
        m = found["rasterflow", peer]
        assert int(m["n"]) == 4, m[0]  # 2 months x 2 indices
        assert float(m["max"]) <= max_diff and float(m["mean"]) <= mean_diff, m[0]
        assert float(m["above"]) <= above, m[0]
        assert abs(float(m["na"]) - float(m["nb"])) <= nan_points, m[0]
        assert int(m["one"]) <= 0.01 * 4 * _grid_pixels(out), m[0]
        assert 0 < float(m["na"]) < 50, m[0]  # clouds and the footprints' edges, not all


def _grid_pixels(out: str) -> int:
    m = re.search(r"on a (\d+) x (\d+) 10 m grid", out)
    assert m, out
    return int(m[1]) * int(m[2])
