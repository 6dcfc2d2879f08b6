"""The heavy-step contract of every Snakemake script, in one place."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from rasterflow.logs import log_to


@contextmanager
def heavy_step(smk: Any) -> Iterator[Any]:
    """Log to the job's log and run a Dask cluster sized to the job; yield its Client.

    ``smk`` is the ``snakemake`` object of a ``script:``. The cluster gets the job's
    threads and ``mem_mb`` and the ``dask`` config section; the performance report goes
    beside the log. An exception is logged (the log's last lines say why) and re-raised.
    """
    from rasterflow.cluster import dask_client, dask_report_path  # not for exit_now's users

    settings = smk.config["dask"]
    with (
        log_to(smk.log[0]),
        dask_client(
            threads=smk.threads,
            mem_mb=smk.resources.mem_mb,
            settings=settings,
            report=dask_report_path(smk.log[0]) if settings.get("report", True) else None,
            rule=getattr(smk, "rule", None),  # absent outside Snakemake (benchmarks)
        ) as client,
    ):
        yield client


def run_step(main: Callable[[Any], None], smk: Any) -> NoReturn:
    """Run a script's ``main(smk)``, then end the process at once if it succeeded.

    A heavy job's interpreter spends 0.6-1.4 s shutting down (mostly the final garbage
    collection over every object numpy, dask, distributed, xarray, numba and GDAL's
    bindings created; measured with benchmarks/fixed_cost_bench.py), and by then
    every output, the log and the Dask cluster are closed: nothing is left to clean.
    A failure propagates as usual (traceback, exit status 1).
    """
    main(smk)
    exit_now()


def exit_now() -> NoReturn:
    """Flush the log and the standard streams, then leave without interpreter shutdown."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
