"""Logging for heavy steps: one log file per job, the reason for a failure at its end."""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger("rasterflow")

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def peak_rss_mib() -> float:
    """Peak resident memory of this process and its finished children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # ru_maxrss is KiB on Linux


@contextmanager
def log_to(path: str | Path | None, *, level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Send rasterflow's and Dask's log records to ``path`` (stderr when None).

    An exception escaping the block is logged with its traceback, so the last lines of
    the job's log say why it failed (what ``snakemake --show-failed-logs`` prints), and
    then re-raised so the job exits non-zero.
    """
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    # distributed logs every worker start/stop at INFO: noise in a per-job log
    logging.getLogger("distributed").setLevel(max(level, logging.WARNING))
    start = time.perf_counter()
    try:
        yield logger
    except Exception as exc:
        logger.error("FAILED after %.1f s: %s", time.perf_counter() - start, exc, exc_info=True)
        raise
    else:
        logger.info(
            "done in %.1f s, peak memory %.0f MiB", time.perf_counter() - start, peak_rss_mib()
        )
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
