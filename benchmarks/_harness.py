"""The benchmark scripts' shared harness: variants, alternating rounds, medians, ratios.

A benchmark script describes its variants and makes its data; this module runs them::

    import _harness as h   # benchmarks/ is sys.path[0] when a script runs

    parser = argparse.ArgumentParser(...)
    h.add_json_argument(parser)                       # --json PATH
    variants = [
        h.Variant("ours", command=lambda r: [sys.executable, "x.py", f"out{r}.tif"]),
        h.Variant("gdal", command=lambda r: ["gdal_calc.py", ...]),
        h.Variant("floor", call=lambda r: read_and_write()),   # in this process
    ]
    result = h.measure("NDVI of one scene", variants, rounds=3, reference="gdal",
                       check=lambda res: "ours = gdal (rtol 1e-6)")
    print(result.report())                            # title, Markdown table, agreement
    h.write_json(args.json, [result], args=args)

A ``call`` that times its own work (e.g. a child process that reports the seconds of
its work, not of its start-up) returns ``h.Measured(wall, cpu)``. ``measure`` also
takes ``before_round`` (a fresh folder per round, untimed), ``warmup`` (one untimed
run of each variant first), ``rates`` (columns such as megapixels per second) and
``also`` (more variants to give ratios to); a variant's ``after`` hook checks its
outputs after each run and keeps what it returns with the run.

Rounds alternate the variants (A B C, A B C, ...; ``order="rotate"`` starts each round
one variant later, ``"mirror"`` reverses every other round), so a drift in the load of
a shared machine hits every variant alike. Each run records its wall seconds and its
CPU seconds (user + system): for a ``command``, of the child process and the children
it waited for (``getrusage(RUSAGE_CHILDREN)``); for a ``call``, of this process
(``time.process_time``, every thread) or of this thread (``cpu="thread"``). The
medians over rounds are compared with a named reference variant as ratios (variant /
reference; ``also``: the ratios to more variants). CPU seconds are what a loaded
machine distorts least.

The JSON written by ``write_json`` holds every run's figures, not only the medians,
with the machine (``nproc``, ``os.sched_getaffinity``, load average at the start) and
the git commit: docs/benchmarks/ keeps the last round's beside docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ORDERS = ("alternate", "rotate", "mirror")
SCHEMA = "rasterflow-benchmark/1"


@dataclass(frozen=True)
class Variant:
    """One contender: a ``command`` run as a child process, or a ``call`` in this one.

    ``command`` and ``call`` take the round number (0, 1, ...), so that outputs can go
    to a new path per round. ``options`` are passed to ``subprocess.run`` (``check``
    defaults to True, output is captured unless ``capture=False``). ``scale``
    multiplies the figures measured (e.g. 10 when the variant runs on a tenth of the
    data: the table and JSON say so). ``after(round, run)`` runs after each run,
    outside its timing (checks of the outputs); what it returns (a dict or None) is
    kept with the run as ``extra``.
    """

    name: str
    command: Callable[[int], Sequence[str]] | Sequence[str] | None = None
    call: Callable[[int], object] | None = None
    cpu: str = "process"  # for a call: "process" (every thread) or "thread"
    options: Mapping[str, Any] = field(default_factory=dict)
    capture: bool = True
    scale: float = 1.0
    note: str = ""
    after: Callable[[int, Run], Mapping[str, Any] | None] | None = None

    def __post_init__(self) -> None:
        if (self.command is None) == (self.call is None):
            raise ValueError(f"variant {self.name!r}: give exactly one of command and call")
        if self.cpu not in ("process", "thread"):
            raise ValueError(f"variant {self.name!r}: cpu is 'process' or 'thread'")


@dataclass(frozen=True)
class Measured:
    """What a ``call`` returns when it measures itself (e.g. a child process that times
    its own work, without its start-up): these figures replace the harness's."""

    wall: float
    cpu: float
    value: Any = None


@dataclass
class Run:
    """One timed run: wall and CPU seconds (already multiplied by the variant's scale)."""

    variant: str
    round: int
    wall: float
    cpu: float
    started: float = 0.0  # epoch seconds at the start of the run
    value: Any = None  # a call's return value, a command's CompletedProcess (not in JSON)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = {"variant": self.variant, "round": self.round, "wall": self.wall, "cpu": self.cpu}
        out["started"] = self.started
        return {**out, **({"extra": self.extra} if self.extra else {})}


@dataclass(frozen=True)
class Rate:
    """A throughput column: ``amount`` (e.g. megapixels) per median second of ``of``."""

    label: str
    amount: float
    of: str = "wall"  # or "cpu"


@dataclass
class Result:
    """The runs of one measurement, in the order they ran, and what describes them."""

    title: str
    variants: list[Variant]
    reference: str | None
    runs: list[Run]
    rounds: int
    order: str
    rates: list[Rate] = field(default_factory=list)
    also: list[str] = field(default_factory=list)  # more variants to give ratios to
    agreement: str | None = None
    started: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]

    def figures(self, name: str, what: str = "wall") -> list[float]:
        """Every run's ``what`` ("wall" or "cpu") for variant ``name``, in round order."""
        return [getattr(r, what) for r in self.runs if r.variant == name]

    def median(self, name: str, what: str = "wall") -> float:
        return statistics.median(self.figures(name, what))

    def ratio(self, name: str, what: str = "wall", *, to: str | None = None) -> float:
        """Median of ``name`` over the median of ``to`` (default: the reference)."""
        ref = to or self.reference
        if ref is None:
            raise ValueError(f"{self.title}: no reference variant to compare with")
        den = self.median(ref, what)
        return self.median(name, what) / den if den > 0 else math.inf

    def medians(self) -> dict[str, dict[str, float]]:
        return {n: {w: self.median(n, w) for w in ("wall", "cpu")} for n in self.names}

    def table(self, *, digits: int = 2) -> str:
        """A Markdown table: per variant the runs, median/min/max wall, median CPU, the
        rates, and the wall and CPU ratios to the reference."""
        ref = f" vs {self.reference}" if self.reference else ""
        head = ["variant", "runs", "wall s", "min s", "max s", "CPU s"]
        head += [r.label for r in self.rates]
        if self.reference:
            head += [f"wall{ref}", f"CPU{ref}"]
        head += [f"{w} vs {other}" for other in self.also for w in ("wall", "CPU")]
        lines = [_row(head), _row(["---"] + ["---:"] * (len(head) - 1))]
        for v in self.variants:
            walls = self.figures(v.name)
            cells = [v.name + (f" ({v.note})" if v.note else ""), str(len(walls))]
            cells += [f"{x:.{digits}f}" for x in (statistics.median(walls), min(walls), max(walls))]
            cells.append(f"{self.median(v.name, 'cpu'):.{digits}f}")
            for rate in self.rates:
                sec = self.median(v.name, rate.of)
                cells.append(f"{rate.amount / sec:.{digits}f}" if sec > 0 else "inf")
            if self.reference:
                cells += [f"{self.ratio(v.name, w):.{digits}f}" for w in ("wall", "cpu")]
            cells += [
                f"{self.ratio(v.name, w, to=other):.{digits}f}"
                for other in self.also
                for w in ("wall", "cpu")
            ]
            lines.append(_row(cells))
        return "\n".join(lines)

    def report(self, *, digits: int = 2) -> str:
        """The title, the table and the agreement line, as the scripts print them."""
        text = f"{self.title}\n\n{self.table(digits=digits)}\n"
        if self.agreement:
            text += f"\nagreement: {self.agreement}\n"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "started": self.started,
            "machine": self.machine,
            "rounds": self.rounds,
            "order": self.order,
            "reference": self.reference,
            "variants": [
                {
                    "name": v.name,
                    "kind": "command" if v.command is not None else "call",
                    "scale": v.scale,
                    **({"note": v.note} if v.note else {}),
                }
                for v in self.variants
            ],
            "runs": [r.as_json() for r in self.runs],
            "medians": self.medians(),
            "ratios": (
                {n: {w: self.ratio(n, w) for w in ("wall", "cpu")} for n in self.names}
                if self.reference
                else {}
            ),
            "also": {
                other: {
                    n: {w: self.ratio(n, w, to=other) for w in ("wall", "cpu")} for n in self.names
                }
                for other in self.also
            },
            "rates": {
                r.label: {n: r.amount / self.median(n, r.of) for n in self.names}
                for r in self.rates
            },
            "agreement": self.agreement,
            **({"notes": self.notes} if self.notes else {}),
        }


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def round_order(names: Sequence[str], number: int, order: str = "alternate") -> list[str]:
    """The variants of round ``number`` in the order they run."""
    names = list(names)
    if order == "alternate":
        return names
    if order == "rotate":
        k = number % len(names) if names else 0
        return names[k:] + names[:k]
    if order == "mirror":
        return names if number % 2 == 0 else names[::-1]
    raise ValueError(f"order {order!r}: one of {', '.join(ORDERS)}")


def children_cpu() -> float:
    """User + system seconds of the children this process waited for, so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(cmd: Sequence[str], **run_options: Any) -> tuple[float, float, Any]:
    """Run ``cmd`` (``subprocess.run`` with ``run_options``); its wall and CPU seconds
    (user + system of the child and its waited-for children) and the completed process."""
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(list(cmd), **run_options)  # noqa: PLW1510 - the caller chooses check
    return time.perf_counter() - t0, children_cpu() - cpu0, proc


def run_once(variant: Variant, number: int) -> Run:
    """One timed run of ``variant`` in round ``number`` (its ``after`` hook not run)."""
    started = time.time()
    if variant.command is not None:
        cmd = variant.command(number) if callable(variant.command) else variant.command
        options = {"check": True, **variant.options}
        if variant.capture and not {"stdout", "stderr", "capture_output"} & set(options):
            options["capture_output"] = True
        try:
            wall, cpu, value = timed_run(cmd, **options)
        except subprocess.CalledProcessError as err:
            raise SystemExit(
                f"{variant.name} failed (exit {err.returncode}): {' '.join(map(str, cmd))}\n"
                f"{_tail(err.stdout)}{_tail(err.stderr)}"
            ) from err
    else:
        assert variant.call is not None
        clock = time.thread_time if variant.cpu == "thread" else time.process_time
        c0, t0 = clock(), time.perf_counter()
        value = variant.call(number)
        wall, cpu = time.perf_counter() - t0, clock() - c0
        if isinstance(value, Measured):
            wall, cpu, value = value.wall, value.cpu, value.value
    scale = variant.scale
    return Run(variant.name, number, wall * scale, cpu * scale, started=started, value=value)


def _tail(stream: object, n: int = 3000) -> str:
    if not stream:
        return ""
    text = stream.decode(errors="replace") if isinstance(stream, bytes) else str(stream)
    return text[-n:] + "\n"


def measure(
    title: str,
    variants: Sequence[Variant],
    *,
    rounds: int,
    reference: str | None = None,
    order: str = "alternate",
    rates: Sequence[Rate] = (),
    also: Sequence[str] = (),
    check: Callable[[Result], str | None] | None = None,
    warmup: bool = False,
    before_round: Callable[[int], None] | None = None,
    progress: bool = False,
) -> Result:
    """Run every variant ``rounds`` times, alternating (see round_order), and return
    the runs. ``warmup`` runs each variant once first, untimed (e.g. a compile or a
    cold cache that a job would not see twice). ``check(result)`` runs after the last
    round: it raises (SystemExit) when the variants disagree and returns a sentence
    saying what was compared, kept as ``result.agreement``. ``before_round(number)``
    runs before each round, untimed (a fresh folder); ``progress`` prints each round's
    figures as it ends."""
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names repeat: {names}")
    for ref in (reference, *also):
        if ref is not None and ref not in names:
            raise ValueError(f"reference {ref!r} is not a variant: {names}")
    if order not in ORDERS:
        raise ValueError(f"order {order!r}: one of {', '.join(ORDERS)}")
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    by_name = {v.name: v for v in variants}
    result = Result(
        title=title,
        variants=list(variants),
        reference=reference,
        runs=[],
        rounds=rounds,
        order=order,
        rates=list(rates),
        also=list(also),
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=machine(),
    )
    if warmup:
        for v in variants:
            run_once(v, -1)
    for number in range(rounds):
        if before_round is not None:
            before_round(number)
        for name in round_order(names, number, order):
            variant = by_name[name]
            run = run_once(variant, number)
            if variant.after is not None:
                run.extra = dict(variant.after(number, run) or {})
            result.runs.append(run)
        if progress:
            got = [r for r in result.runs if r.round == number]
            print(
                f"  round {number + 1}: "
                + ", ".join(f"{r.variant} {r.wall:.2f} s (cpu {r.cpu:.2f} s)" for r in got),
                flush=True,
            )
    if check is not None:
        result.agreement = check(result)
    return result


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, the affinity, the load average now."""
    affinity = sorted(os.sched_getaffinity(0))
    return {
        "nproc": os.cpu_count(),
        "affinity": affinity,
        "affinity_count": len(affinity),
        "loadavg": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
    }


def git_commit(repo: Path = REPO) -> dict[str, Any]:
    """The checkout's commit and whether its tracked files differ from it."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
            )
        except OSError:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """``--json PATH``: where write_json puts the raw figures."""
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write every run's figures, the machine and the git commit here (JSON)",
    )


def write_json(
    path: Path | None,
    results: Sequence[Result],
    *,
    args: argparse.Namespace | Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``results`` with the script, its arguments, the machine and the commit to
    ``path`` (nothing when ``path`` is None)."""
    if path is None:
        return
    options = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    doc = {
        "schema": SCHEMA,
        "script": Path(sys.argv[0]).name,
        "argv": sys.argv[1:],
        "args": {k: _jsonable(v) for k, v in options.items()},
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": git_commit(),
        "machine": results[0].machine if results else machine(),
        "results": [r.as_json() for r in results],
        **({"extra": _jsonable(extra)} if extra else {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A small Markdown table for a script's own figures (numbers right-aligned)."""
    lines = [_row([str(h) for h in head])]
    lines.append(_row(["---"] + ["---:"] * (len(head) - 1)))
    lines += [_row([str(c) for c in r]) for r in rows]
    return "\n".join(lines)
