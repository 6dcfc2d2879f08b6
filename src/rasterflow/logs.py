"""Logging for heavy steps: one log file per job, the reason for a failure at its end."""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rasterflow.errors import explain_write_failure

logger = logging.getLogger("rasterflow")

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Harmless GDAL/rasterio chatter from odc-geo's warper calls; it buried real warnings.
_NOISE = ("does not support option ALWAYS_YX", "NotGeoreferencedWarning")


def _not_noise(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(n in message for n in _NOISE)


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
    handler.addFilter(_not_noise)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    start = time.perf_counter()
    try:
        yield logger
    except Exception as exc:
        # light steps (tables, STAC, report) write files too: a full disk is said so
        failure = explain_write_failure(exc)
        logger.error("FAILED after %.1f s: %s", time.perf_counter() - start, failure, exc_info=True)
        if failure is exc:
            raise
        raise failure from exc
    else:
        logger.info(
            "done in %.1f s, peak memory %.0f MiB", time.perf_counter() - start, peak_rss_mib()
        )
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
