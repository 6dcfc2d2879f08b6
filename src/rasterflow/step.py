"""The heavy-step contract of every Snakemake script, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rasterflow.cluster import dask_client, dask_report_path
from rasterflow.logs import log_to


@contextmanager
def heavy_step(smk: Any) -> Iterator[Any]:
    """Log to the job's log and run a Dask cluster sized to the job; yield its Client.

    ``smk`` is the ``snakemake`` object of a ``script:``. The cluster gets the job's
    threads and ``mem_mb`` and the ``dask`` config section; the performance report goes
    beside the log. An exception is logged (the log's last lines say why) and re-raised.
    """
    settings = smk.config["dask"]
    with (
        log_to(smk.log[0]),
        dask_client(
            threads=smk.threads,
            mem_mb=smk.resources.mem_mb,
            settings=settings,
            report=dask_report_path(smk.log[0]) if settings.get("report", True) else None,
        ) as client,
    ):
        yield client
