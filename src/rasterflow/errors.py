"""Named exceptions. Every message says what is wrong, where, and how to fix it."""


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


def explain_step_failure(
    exc: BaseException, *, memory_mb: float, workers: int, processes: bool
) -> BaseException:
    """The exception a heavy step should end with: ``exc``, or a StepFailure saying why.

    Dask reports a worker killed for memory, or by anything else, as ``KilledWorker``
    (after ``distributed.scheduler.allowed-failures`` retries), and GDAL a full disk as
    a bare "Write failed" (libtiff prints "No space left on device" on stderr). Both
    are translated into what to change; other exceptions pass through unchanged.
    """
    names = {type(e).__name__ for e in _chain(exc)}
    text = " ".join(str(e) for e in _chain(exc))
    if "KilledWorker" in names:
        kind = "worker processes" if processes else "workers"
        return StepFailure(
            f"a Dask worker died running this step ({exc}). The usual cause is memory: "
            f"each of the {workers} {kind} may use {memory_mb:.0f} MiB (its share of the "
            "job's mem_mb) and is restarted when it goes over. Raise mem_mb for "
            "this rule (profile set-resources: {<rule>: {mem_mb: ...}}), run with "
            "--retries 2 (mem_mb grows with each attempt), or lower the step's chunk size"
        )
    disk_full = any(getattr(e, "errno", None) == 28 for e in _chain(exc))
    if disk_full or "Write failed" in text or "Write error" in text:
        return StepFailure(
            f"writing an output failed ({exc}): the disk is full (look for 'No space left "
            "on device' above) or not writable. Free space there, or set results to a "
            "larger disk; no partial product was left behind"
        )
    return exc
