"""What a demo run prints: no noise, and at the end where everything is."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.workflow


def test_the_demo_console_has_no_noise_and_ends_with_the_paths(demo_run):
    console = (demo_run / "console.txt").read_text(encoding="utf-8")
    lines = console.splitlines()
    assert "Shell command: None" not in console  # once after each script job (#21)
    assert sum(line.startswith("Using") and "profile" in line for line in lines) == 1  # not twice
    assert not [line for line in lines if "Warning" in line or "warning" in line]
    results = demo_run / "results"
    tail = [line for line in lines if line.startswith("rasterflow: ")][-4:]
    assert tail == [
        f"rasterflow: products under {results}/ (mosaics/, indices/, terrain/, contours/, "
        "zonal/, points/)",
        f"rasterflow: STAC catalog: {results}/stac/catalog.json",
        f"rasterflow: QGIS project: {results}/rasterflow.qgs",
        "rasterflow: the report: run again with --report results/report.html",
    ]
    # they are the run's last words but Snakemake's own log pointer and timing
    after = lines[lines.index(tail[-1]) + 1 :]
    assert all(line.startswith(("Complete log", "Elapsed time", "[INFO]")) for line in after), after
