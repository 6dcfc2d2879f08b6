"""The jobs' malloc settings, measured in a child Python process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from rasterflow import workflow as rf_workflow


def test_the_jobs_malloc_settings_keep_freed_arrays_for_reuse() -> None:
    """With JOB_MALLOC_ENV a process that frees and allocates chunk-sized arrays of
    growing size (a job's temporaries vary) faults the pages of the largest one in
    about once; by default glibc maps every one afresh (its dynamic threshold follows
    the last array freed, never the next, larger one). glibc ignores values beyond its
    caps silently, so the effect is what is checked. One thread: deterministic."""
    code = textwrap.dedent("""
        import resource
        import numpy as np

        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for mb in range(17, 32):
            a = np.ones(mb * 2**20 // 8)
            del a
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """)

    def faults(env: dict[str, str]) -> int:
        base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        base["NUMPY_MADVISE_HUGEPAGE"] = "0"  # count 4 KB pages, not huge pages
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**base, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(out)

    largest = 31 * 2**20 // 4096  # pages of the largest array
    everything = sum(range(17, 32)) * 2**20 // 4096  # of all 15
    assert faults({}) > 0.9 * everything  # fresh pages for each array...
    assert faults(rf_workflow.JOB_MALLOC_ENV) < 1.2 * largest  # ...or the same ones
