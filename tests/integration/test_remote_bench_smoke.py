"""Smoke run of benchmarks/remote_bench.py (issue #18's bytes per windowed composite job)
at a small size, against a real nginx the script starts.

No figure is compared with a threshold of time. What is checked: planning from items
that state their headers sends no request; the job asks for ranges only (no whole-file
answer) and reads less than the files but at least the blocks its window touches; the
products over HTTP equal those from disk; the table and the JSON agree.
"""

from __future__ import annotations

import re
from pathlib import Path

from test_benchmarks_smoke import run_json


def test_remote_bench_reads_windows_and_matches_the_run_from_disk(tmp_path: Path) -> None:
    out, doc = run_json(
        "remote_bench.py",
        tmp_path,
        "--size",
        "1024",
        "--tile-px",
        "256",
        "--workdir",
        str(tmp_path / "work"),
        timeout=600,
    )
    got = doc["extra"]
    assert got["same_products"] is True
    assert got["plan_requests"] == 0 and got["whole_file_answers"] == 0
    # red, nir, swir2 and SCL of each June scene the tile lies in (two footprints)
    assert got["assets"] == 8
    assert got["bytes_needed"] <= got["bytes_sent"] < got["bytes_files"]
    assert got["bytes_sent"] <= 2 * got["bytes_needed"]
    total = re.search(r"^\| all \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", out, re.M)
    assert total, out
    assert int(total[1]) == got["requests"]
    assert abs(float(total[2]) * 1e3 - got["bytes_sent"]) <= 50
    assert "products equal to the run from disk: True" in out
