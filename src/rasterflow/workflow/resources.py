"""What every job gets besides its inputs: resources that grow on retry, malloc settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def resource_growth(per_attempt: int) -> Callable[[Any, int], int]:
    """A ``resources:`` value that grows by ``per_attempt`` with each attempt, so that
    ``--retries`` recovers a job killed for its memory or time limit."""

    def grow(wildcards: Any, attempt: int) -> int:
        return per_attempt * attempt

    return grow


#: glibc's malloc settings for the jobs' processes (``rules/common.smk`` sets those the
#: user has not, so every job Snakemake starts, locally or through SLURM, inherits
#: them). By default glibc gives an array freed by a Dask worker thread back to the
#: kernel, and the next chunk's arrays come back as fresh pages that the kernel zeroes:
#: a fifth of a composite job's CPU time (perf: ``clear_page_erms`` under page
#: faults). Arrays up to 32 MB (a 2048² float64 chunk; glibc's cap) from heaps that are
#: trimmed only above 4 GB of free top are reused instead: a composite job of the
#: end-to-end benchmark took 0.87-0.91x the CPU time (docs/benchmarks.md). A job then
#: holds on to its peak memory, which ``mem_mb`` bounds anyway.
JOB_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(4 * 2**30),
    "MALLOC_TOP_PAD_": str(256 * 2**20),
}
