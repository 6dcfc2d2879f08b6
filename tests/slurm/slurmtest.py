"""Helpers of the SLURM tests: the cluster's state, running Snakemake, reading sacct.

(A module of its own, not conftest.py: tests/conftest.py has that module name too.)
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from helpers import REPO, SNAKEMAKE

SLURM_UP = REPO / ".ci" / "slurm-up"
HERE = Path(__file__).resolve().parent

#: the project's SLURM profile, polling job states sooner than its 5 s: the plugin
#: then adds 10 s per poll that sees no job finish, so a short job is noticed ~12 s
#: after submission instead of ~20 s (docs/slurm.md, "Overhead")
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "1")
SLURM_PROFILE = ("--profile", str(REPO / "profiles" / "slurm"), *FAST_POLL)

#: repository entries a copy of the workflow does not need
_NOT_WORKFLOW = (
    ".git",
    ".venv",
    ".snakemake",
    "results",
    "tests",
    "benchmarks",
    "docs",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ci",
    "tools",
)


def sh(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def cluster_problem() -> str | None:
    """Why the test cluster cannot take jobs right now, or None when it can."""
    if shutil.which("sbatch") is None:
        return "sbatch is not installed"
    try:
        ping = sh("scontrol", "ping")
        if "UP" not in ping.stdout:
            return f"slurmctld is not answering: {ping.stdout.strip()} {ping.stderr.strip()}"
        nodes = sh("sinfo", "-h", "-N", "-t", "idle,mix,alloc", "-o", "%N").stdout.split()
        if len(set(nodes)) < 2:
            return f"fewer than 2 usable nodes: {sorted(set(nodes))}"
        acct = sh("sacct", "-n", "-X", "-S", "now-1minutes")
        if acct.returncode != 0:
            return f"accounting (sacct) does not work: {acct.stderr.strip()}"
    except subprocess.TimeoutExpired as exc:
        return f"{exc.cmd} timed out"
    return None


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    memory_mb: int


# ----------------------------------------------------------------------- running ----


@dataclass
class Run:
    """One finished Snakemake run: its output, and the SLURM jobs it submitted."""

    proc: subprocess.CompletedProcess[str]
    seconds: float
    jobs: list[PlannedJob] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    @property
    def run_id(self) -> str:
        m = re.search(r"SLURM run ID: (\S+)", self.output)
        assert m, f"no 'SLURM run ID' in the output:\n{self.output[-3000:]}"
        return m.group(1)


@dataclass
class PlannedJob:
    """A job as Snakemake printed it: rule, resources, and its SLURM job id."""

    rule: str
    jobid: int
    threads: int = 1
    resources: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    wildcards: str = ""
    slurm_ids: list[str] = field(default_factory=list)


def planned_jobs(output: str) -> list[PlannedJob]:
    """Parse Snakemake's job blocks and 'Job N has been submitted with SLURM jobid M'.

    A job retried after a failure is printed (and submitted) again: each block is one
    submission, in order, so resources of attempt 2 come with the second SLURM id.
    """
    blocks: list[PlannedJob] = []
    current: PlannedJob | None = None
    pending: dict[int, list[PlannedJob]] = {}
    for line in output.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            current = PlannedJob(rule=m.group(1), jobid=-1)
            blocks.append(current)
        elif current is not None and (m := re.match(r"^    (\w+): (.*)$", line)):
            key, value = m.groups()
            if key == "jobid":
                current.jobid = int(value)
                pending.setdefault(current.jobid, []).append(current)
            elif key == "threads":
                current.threads = int(value)
            elif key == "resources":
                current.resources = dict(re.findall(r"(\w+)=([^,]*)", value))
            elif key == "log":
                current.log = [v.strip() for v in value.split(",")]
            elif key == "wildcards":
                current.wildcards = value
        elif m := re.search(r"Job (\d+) has been submitted with SLURM jobid (\d+)", line):
            queue = pending.get(int(m.group(1)))
            assert queue, f"submission of unknown job {m.group(1)}"
            job = next((j for j in queue if not j.slurm_ids), queue[-1])
            job.slurm_ids.append(m.group(2))
    return [b for b in blocks if b.slurm_ids]


def run_snakemake(workdir: Path, *args: str, timeout: float = 600, check: bool = True) -> Run:
    """``snakemake *args`` with ``workdir`` as working directory (like a user would)."""
    env = {**os.environ, "PATH": f"{Path(SNAKEMAKE).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    proc = subprocess.run(
        [SNAKEMAKE, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
    )
    run = Run(proc, time.perf_counter() - start)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}) in {workdir}:\n"
            f"{run.output[-8000:]}"
        )
    run.jobs = planned_jobs(run.output)
    return run


def copy_workflow(dest: Path) -> Path:
    """The workflow (Snakefile, rules, scripts, config, profiles, ...) copied to ``dest``."""
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*_NOT_WORKFLOW))
    return dest


# ----------------------------------------------------------------------- sacct ------

SACCT_FIELDS = (
    "JobIDRaw",
    "JobName",
    "State",
    "ExitCode",
    "AllocCPUS",
    "ReqMem",
    "NNodes",
    "NodeList",
    "Timelimit",
    "Elapsed",
    "Submit",
    "Start",
    "End",
    "Comment",
    "Account",
    "Partition",
)


def sacct(*selection: str) -> list[dict[str, str]]:
    """Allocation rows (no steps) of the jobs selected, e.g. ``sacct("--name", run_id)``."""
    out = subprocess.run(
        [
            "sacct",
            "-X",
            "-P",
            "-S",
            "now-1days",
            "-E",
            "now",
            "--format",
            ",".join(SACCT_FIELDS),
            *selection,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return list(csv.DictReader(io.StringIO(out), delimiter="|"))


def sacct_until_final(
    selection: Sequence[str], count: int, timeout: float = 60
) -> list[dict[str, str]]:
    """sacct rows once ``count`` jobs are recorded and none is pending or running."""
    deadline = time.monotonic() + timeout
    while True:
        rows = sacct(*selection)
        if len(rows) >= count and not any(
            r["State"] in ("PENDING", "RUNNING", "COMPLETING") for r in rows
        ):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"sacct {selection}: jobs not final after {timeout} s: {rows}")
        time.sleep(1)


def minutes(timelimit: str) -> int:
    """SLURM's [D-]HH:MM:SS as minutes."""
    days, _, hms = timelimit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (1 if s else 0)


def megabytes(reqmem: str) -> int:
    """sacct's ReqMem (e.g. 2000M, 4G) as MB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT])n?c?", reqmem)
    assert m, f"unexpected ReqMem {reqmem!r}"
    return round(float(m.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[m.group(2)])


def seconds(value: str) -> int:
    """SLURM's [D-]HH:MM:SS as seconds."""
    days, _, hms = value.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


# ----------------------------------------------------------------------- figures ----

FIGURES: list[str] = []


def report_figure(text: str) -> None:
    """A measured figure, printed in the terminal summary of the session."""
    FIGURES.append(text)
