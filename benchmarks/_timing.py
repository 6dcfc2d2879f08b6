"""Wall and CPU time of one child process, shared by the benchmark scripts.

CPU time (user + system of the child) is printed beside wall time because the machine
is shared: a loaded machine makes a process wait for a core, which its wall time
counts and its CPU time does not.
"""

from __future__ import annotations

import resource
import subprocess
import time
from typing import Any


def timed_run(cmd: list[str], **run_options: Any) -> tuple[float, float, Any]:
    """Run ``cmd`` (``subprocess.run`` with ``run_options``); its wall and CPU seconds
    and the completed process."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, **run_options)  # noqa: PLW1510 - the caller chooses check
    return time.perf_counter() - t0, _children_cpu() - cpu0, proc


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
