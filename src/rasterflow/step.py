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
    from rasterflow.io import explain_read_failure
    from rasterflow.remote import use_http_options

    settings = smk.config["dask"]
    use_http_options()  # before the cluster: its workers inherit the environment
    with (
        log_to(smk.log[0]),
        dask_client(
            threads=smk.threads,
            mem_mb=smk.resources.mem_mb,
            settings=settings,
            report=dask_report_path(smk.log[0]) if settings.get("report", False) else None,
            rule=getattr(smk, "rule", None),  # absent outside Snakemake (benchmarks)
        ) as client,
    ):
        try:
            yield client
        except Exception as exc:
            # a block that fails to decode reaches here as "Read failed. See previous
            # exception", its cause (file, block) lost on the way back from the worker
            failure = explain_read_failure(exc, inputs=job_inputs(smk))
            if failure is exc:
                raise
            raise failure from exc


def job_inputs(smk: Any) -> dict[str, str]:
    """Path -> what it is in messages, for every file a job reads.

    Scene files (``params.scene``, ``params.scenes``: ``Scene.to_params`` form) are
    named by their scene, the job's declared inputs by their path alone.
    """
    out: dict[str, str] = {}
    params = getattr(smk, "params", None)
    scenes: list[Any] = []
    for name in ("scene", "scenes"):
        value = getattr(params, name, None) if params is not None else None
        if isinstance(value, dict):
            scenes.append(value)
        elif isinstance(value, list):
            scenes += [v for v in value if isinstance(v, dict)]
    for scene in scenes:
        files = [*(scene.get("bands") or {}).values(), scene.get("mask")]
        for bf in files:
            if isinstance(bf, dict) and bf.get("path"):
                out.setdefault(str(bf["path"]), f"scene {scene.get('id')!r}")
    for path in getattr(smk, "input", None) or ():
        if isinstance(path, str):
            out.setdefault(path, "job input")
    return out


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
