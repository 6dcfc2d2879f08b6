"""rasterflow.estimate: the cost model, its refit from benchmark files, the table."""

from __future__ import annotations

import pytest

from rasterflow import estimate
from rasterflow.estimate import Job, Rate


def _tsv(path, cpu, rss):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load"
        f"\tcpu_time\n9.0\t0:00:09\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n"
    )


def test_estimate_is_fixed_plus_rate_times_units_per_rule():
    rates = {"index": Rate(fixed=2.0, per_unit=0.5, write_per_unit=1e6)}
    jobs = [
        Job("index", 10.0, "a.tsv", (), 2000, reads=3_000_000),
        Job("index", 30.0, "b.tsv", (), 4000, reads=1_000_000),
        Job("index", None, "c.tsv", (), 2000),
    ]
    (row,) = estimate.estimate(jobs, rates)
    assert row.jobs == 3 and row.unknown == 1
    assert row.cpu_s == pytest.approx(3 * 2.0 + 0.5 * 40)
    assert row.read_bytes == 4_000_000 and row.write_bytes == pytest.approx(40e6)
    assert row.mem_mb == 4000


def test_calibrate_refits_from_the_jobs_that_ran(tmp_path):
    out = tmp_path / "o.tif"
    out.write_bytes(b"x" * 5000)
    _tsv(tmp_path / "a.tsv", cpu=12.0, rss=700)
    jobs = [
        Job("composite", 4.0, str(tmp_path / "a.tsv"), (str(out),), 2000),
        Job("composite", 4.0, str(tmp_path / "never-ran.tsv"), (), 2000),
    ]
    base = {"composite": Rate(fixed=2.0, per_unit=99.0, write_per_unit=1.0)}
    rate = estimate.calibrate(jobs, base)["composite"]
    assert rate.per_unit == pytest.approx((12.0 - 2.0) / 4.0)
    assert rate.write_per_unit == pytest.approx(5000 / 4.0)
    assert rate.peak_mb == 700 and rate.calibrated_jobs == 1
    # nothing ran: the defaults stay, and the table says so
    assert estimate.calibrate(jobs[1:], base) == base
    text = estimate.format_estimate(estimate.estimate(jobs, base), base)
    assert "default rates of the 2-core benchmark machine" in text
    assert "total: 2 heavy jobs" in text
