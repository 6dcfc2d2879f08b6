"""What a step's cluster reports while it runs: progress lines in the job's log and the
Dask performance report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

# the package's name, as before the split: log lines keep their logger
logger = logging.getLogger("rasterflow.cluster")


def _task_states(dask_scheduler: Any) -> dict[str, int]:
    return dict(Counter(ts.state for ts in dask_scheduler.tasks.values()))


def _log_progress(client: Any, interval: float, stop: threading.Event) -> None:
    """Log the scheduler's task counts every ``interval`` seconds (log-file friendly)."""
    while not stop.wait(interval):
        try:
            states = client.run_on_scheduler(_task_states)
        except Exception:  # the cluster is closing; progress is best effort
            return
        total = sum(states.values())
        if total:
            done = states.get("memory", 0) + states.get("released", 0) + states.get("forgotten", 0)
            logger.info(
                "progress: %d/%d tasks done (%s)",
                done,
                total,
                ", ".join(f"{k} {v}" for k, v in sorted(states.items())),
            )


def _monitor(stack: ExitStack, client: Any, opts: Mapping[str, Any], report: Any) -> None:
    """Performance report and progress lines, as for the local cluster."""
    if opts["dashboard"]:
        logger.info("dask dashboard: %s", client.dashboard_link)
    if report:
        stack.enter_context(_performance_report(report, float(opts["report_min_seconds"])))
    stop = threading.Event()
    progress = threading.Thread(
        target=_log_progress,
        args=(client, float(opts["progress_interval"]), stop),
        daemon=True,
    )
    progress.start()
    stack.callback(progress.join)
    stack.callback(stop.set)


@contextmanager
def _performance_report(path: str | os.PathLike[str], min_seconds: float) -> Iterator[None]:
    """Distributed's performance report of the block, written only if the block took
    ``min_seconds`` or more (``dask.report_min_seconds``).

    Nearly all of a report's cost is at the end (its plots and HTML: 0.4-0.65 s
    measured, bokeh's import included), so a short block skips it: its report would show
    a second of start-up, not where the time went. The page loads BokehJS from the CDN;
    :func:`rasterflow.dask_reports.collect_dask_reports` makes the pages work offline (one
    shared copy of BokehJS), which costs a job nothing. A skipped job's page from an
    earlier run (rasterflow's own file beside the job's log) is removed, so the report
    never shows a stale run.
    """
    from distributed import performance_report

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = performance_report(filename=str(target))
    start = time.monotonic()
    report.__enter__()
    failed = True
    try:
        yield
        failed = False
    finally:
        took = time.monotonic() - start
        if failed or took >= min_seconds:  # a failure's report helps most: always kept
            report.__exit__(None, None, None)
        else:
            logger.info(
                "no Dask performance report: the Dask work took %.1f s, less than "
                "dask.report_min_seconds (%g s)",
                took,
                min_seconds,
            )
            target.unlink(missing_ok=True)
