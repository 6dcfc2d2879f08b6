"""Fixtures shared by the workflow tests."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import run_snakemake


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full demo run per session, shared by test_workflow and test_report.

    Tests that change its inputs (reruns, kills) run in test_workflow.py, after
    test_report.py (files run in name order), which reads the run as made.
    """
    workdir = tmp_path_factory.mktemp("demo-run")
    t0 = time.perf_counter()
    proc = run_snakemake(workdir)
    # what the user saw, for tests/workflow/test_console.py
    (workdir / "console.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    print(f"demo workflow: {time.perf_counter() - t0:.1f} s")
    return workdir
