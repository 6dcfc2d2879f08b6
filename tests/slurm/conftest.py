"""The real Slurm cluster of .ci/slurm-up for every test in tests/slurm.

When it is not up the session starts it (``bash .ci/slurm-up``, as root) and fails
loudly when it cannot: these tests never skip, so a CI run without Slurm is red, not
silently green.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from slurmtest import FIGURES, SLURM_UP, Node, cluster_problem, sh


@pytest.fixture(scope="session", autouse=True)
def slurm_cluster() -> dict[str, Node]:
    """Start the cluster when needed; the nodes it has (name -> Node)."""
    problem = cluster_problem()
    if problem is not None:
        if os.geteuid() != 0:
            pytest.fail(
                f"the Slurm test cluster is not up ({problem}) and this is not root: "
                f"run `sudo bash {SLURM_UP}` first",
                pytrace=False,
            )
        start = time.perf_counter()
        proc = subprocess.run(
            ["bash", str(SLURM_UP)], capture_output=True, text=True, check=False, timeout=900
        )
        if proc.returncode != 0:
            pytest.fail(
                f"{SLURM_UP} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
                pytrace=False,
            )
        print(f"\nslurm-up took {time.perf_counter() - start:.1f} s")
        problem = cluster_problem()
        if problem is not None:
            pytest.fail(f"{SLURM_UP} ran but the cluster is not usable: {problem}", pytrace=False)
    nodes = {}
    out = sh("scontrol", "-o", "show", "node").stdout
    for line in out.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        nodes[fields["NodeName"]] = Node(
            fields["NodeName"], int(fields["CPUTot"]), int(fields["RealMemory"])
        )
    return nodes


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if FIGURES:
        terminalreporter.section("slurm figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
