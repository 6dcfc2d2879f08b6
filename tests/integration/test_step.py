"""rasterflow.step.run_step: a finished step leaves at once, with its output flushed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import logging, sys
    from rasterflow.step import run_step

    def main(out):
        logging.basicConfig(filename=out + ".log", level=logging.INFO)
        logging.getLogger("step").info("logged before exit")
        print("printed before exit", end="")  # no newline: stays in the buffer
        sys.stderr.write("to stderr")
        with open(out, "w") as f:
            f.write("done")
        if out.endswith("fail"):
            raise ValueError("the step failed")

    import atexit
    atexit.register(lambda: open(sys.argv[1] + ".atexit", "w").close())
    run_step(main, sys.argv[1])
""")


def run(tmp_path: Path, name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / name
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc, out


def test_success_exits_0_with_streams_and_log_flushed_and_no_shutdown(tmp_path):
    proc, out = run(tmp_path, "ok")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "printed before exit"
    assert "to stderr" in proc.stderr
    assert out.read_text() == "done"
    assert "logged before exit" in Path(f"{out}.log").read_text()
    # interpreter shutdown (atexit handlers, final garbage collection) was skipped
    assert not Path(f"{out}.atexit").exists()


def test_failure_raises_as_usual(tmp_path):
    proc, out = run(tmp_path, "fail")
    assert proc.returncode == 1
    assert "ValueError: the step failed" in proc.stderr
    assert Path(f"{out}.atexit").exists()  # the normal shutdown path
