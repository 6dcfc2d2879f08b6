"""Named exceptions. Every message says what is wrong, where, and how to fix it."""

from __future__ import annotations

import errno
import re


class RasterflowError(Exception):
    """Base class for errors a user can act on (bad config, bad input data)."""


class ConfigError(RasterflowError):
    """A configuration key or value is wrong."""


class ExpressionError(ConfigError):
    """A custom index expression is not valid arithmetic over band names."""


class InputDataError(RasterflowError):
    """An input file (scene sheet, raster, vector) is missing or unusable."""


class StepFailure(RasterflowError):
    """A heavy step failed for a reason of its environment (memory, disk), not its data."""


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


#: What GDAL, libtiff, pyarrow and the OS say when a write hit a full disk. libtiff's
#: own "No space left on device" goes to stderr only; the exception carries one of
#: these (the step and its pass decide which: measured on real tmpfs mounts of several
#: sizes, tests/workflow/test_bad_inputs_files.py).
_WRITE_FAILED = re.compile(
    r"No space left on device|Disk quota exceeded|Write failed|Write error|"
    r"TIFFAppendTo\w*|TIFFWriteDirectory|TIFFRewriteDirectory|IO error writing|"
    r"Failed to write|Error writing|Cannot write|short write",
    re.IGNORECASE,
)
#: rasterflow's own temporaries (``rasterflow.atomic.scratch_beside``: ``.<name>.<pid>.
#: scratch.tif`` / ``.tmp.<ext>``). Any GDAL error about one means a write of ours did
#: not land: an overview pass on a full disk reports it as "TIFFReadDirectory:Failed to
#: read directory at offset ..." of the scratch file it could not finish.
_OWN_TEMPORARY = re.compile(r"\.[^\s/]+\.\d+\.(?:scratch|tmp)\.\w+")
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it came from) says a write did not fit."""
    chain = _chain(exc)
    if any(getattr(e, "errno", None) in _DISK_ERRNOS for e in chain):
        return True
    text = " ".join(str(e) for e in chain)
    return bool(_WRITE_FAILED.search(text) or _OWN_TEMPORARY.search(text))


def explain_step_failure(
    exc: BaseException, *, memory_mb: float, workers: int, processes: bool
) -> BaseException:
    """The exception a heavy step should end with: ``exc``, or a StepFailure saying why.

    Dask reports a worker killed for memory, or by anything else, as ``KilledWorker``
    (after ``distributed.scheduler.allowed-failures`` retries), and GDAL a full disk in
    many words (:func:`is_disk_full`). Both are translated into what to change; other
    exceptions pass through unchanged.
    """
    names = {type(e).__name__ for e in _chain(exc)}
    if "KilledWorker" in names:
        kind = "worker processes" if processes else "workers"
        return StepFailure(
            f"a Dask worker died running this step ({exc}). The usual cause is memory: "
            f"each of the {workers} {kind} may use {memory_mb:.0f} MiB (its share of the "
            "job's mem_mb) and is restarted when it goes over. Raise mem_mb for "
            "this rule (profile set-resources: {<rule>: {mem_mb: ...}}), run with "
            "--retries 2 (mem_mb grows with each attempt), or lower the step's chunk size"
        )
    return explain_write_failure(exc)


def explain_write_failure(exc: BaseException) -> BaseException:
    """A StepFailure with the disk-full advice when ``exc`` is a failed write; else ``exc``.

    For every step, heavy or not (``rasterflow.logs.log_to`` applies it too).
    """
    if isinstance(exc, StepFailure | InputDataError | ConfigError) or not is_disk_full(exc):
        return exc
    return StepFailure(
        f"writing an output failed ({exc}): the disk is full (look for 'No space left "
        "on device' above) or not writable. Free space there, or set results to a "
        "larger disk; no partial product was left behind"
    )
