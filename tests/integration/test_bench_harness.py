"""benchmarks/_harness.py, the benchmark scripts' shared harness (issue #20, item 5).

What is checked is the bookkeeping, never a timing against a threshold: the order the
variants run in, that medians and ratios are those of the runs recorded, what a
variant's scale, self-measured figures and hooks do, and the shape of the JSON file.
The calls are told apart by what they record, not by how long they take.
"""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import sys
from pathlib import Path

import pytest
from helpers import REPO


def _load_harness():
    """benchmarks/_harness.py as a module (the scripts import it as ``_harness``)."""
    path = REPO / "benchmarks" / "_harness.py"
    spec = importlib.util.spec_from_file_location("_harness", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_harness", module)
    spec.loader.exec_module(module)
    return module


h = _load_harness()


def _recording(calls: list[tuple[str, int]], name: str):
    def call(number: int) -> str:
        calls.append((name, number))
        return f"{name}{number}"

    return call


def test_rounds_alternate_the_variants_in_each_order() -> None:
    for order, expected in [
        ("alternate", ["A", "B", "C", "A", "B", "C", "A", "B", "C", "A", "B", "C"]),
        ("rotate", ["A", "B", "C", "B", "C", "A", "C", "A", "B", "A", "B", "C"]),
        ("mirror", ["A", "B", "C", "C", "B", "A", "A", "B", "C", "C", "B", "A"]),
    ]:
        calls: list[tuple[str, int]] = []
        variants = [h.Variant(n, call=_recording(calls, n)) for n in "ABC"]
        result = h.measure("order", variants, rounds=4, order=order)
        assert [name for name, _ in calls] == expected, order
        assert [number for _, number in calls] == [r for r in range(4) for _ in "ABC"]
        assert [(r.variant, r.round) for r in result.runs] == calls
        assert [r.value for r in result.runs] == [f"{n}{i}" for n, i in calls]


def _result_with(figures: dict[str, list[tuple[float, float]]], **options):
    """A measurement whose runs report the given (wall, cpu) per round (Measured)."""
    variants = [
        h.Variant(name, call=lambda n, runs=runs: h.Measured(*runs[n], value=n))
        for name, runs in figures.items()
    ]
    rounds = len(next(iter(figures.values())))
    return h.measure("figures", variants, rounds=rounds, **options)


FIGURES = {
    "ref": [(2.0, 1.0), (4.0, 3.0), (3.0, 2.0)],
    "fast": [(1.0, 0.5), (1.0, 0.25), (7.0, 9.0)],
    "slow": [(10.0, 4.0), (6.0, 8.0), (8.0, 6.0)],
}


def test_medians_and_ratios_are_those_of_the_runs() -> None:
    result = _result_with(FIGURES, reference="ref", also=["fast"])
    for name, runs in FIGURES.items():
        assert result.figures(name, "wall") == [w for w, _ in runs]
        assert result.figures(name, "cpu") == [c for _, c in runs]
        assert result.median(name) == statistics.median(w for w, _ in runs)
        assert result.median(name, "cpu") == statistics.median(c for _, c in runs)
    assert result.median("ref") == 3.0 and result.median("slow", "cpu") == 6.0
    assert result.ratio("slow") == 8.0 / 3.0
    assert result.ratio("fast", "cpu") == 0.5 / 2.0
    assert result.ratio("ref") == result.ratio("ref", "cpu") == 1.0
    assert result.ratio("slow", "cpu", to="fast") == 6.0 / 0.5


def test_scale_multiplies_the_figures_and_is_said() -> None:
    variants = [
        h.Variant("whole", call=lambda n: h.Measured(2.0, 1.0)),
        h.Variant("tenth", call=lambda n: h.Measured(0.5, 0.25), scale=10, note="x10"),
    ]
    result = h.measure("scale", variants, rounds=2, reference="whole")
    assert result.figures("tenth") == [5.0, 5.0] and result.figures("tenth", "cpu") == [2.5, 2.5]
    assert result.ratio("tenth") == 2.5
    assert "| tenth (x10) | 2 |" in result.table()


def test_commands_are_timed_as_child_processes(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    script = "import sys; open(sys.argv[1], 'a').write(sys.argv[2])"
    variant = h.Variant("child", command=lambda n: [sys.executable, "-c", script, str(out), str(n)])
    result = h.measure("child", [variant], rounds=3)
    assert out.read_text() == "012"
    for run in result.runs:
        assert math.isfinite(run.wall) and run.wall > 0
        assert math.isfinite(run.cpu) and run.cpu >= 0
        assert run.value.returncode == 0  # the CompletedProcess
        assert run.started > 0


def test_a_failing_command_stops_with_its_output() -> None:
    variant = h.Variant(
        "fails",
        command=[sys.executable, "-c", "import sys; print('why'); sys.exit(3)"],
    )
    with pytest.raises(SystemExit, match=r"(?s)fails failed \(exit 3\).*why"):
        h.measure("failure", [variant], rounds=1)


def test_hooks_run_outside_the_timings_and_keep_what_they_return() -> None:
    events: list[str] = []

    def after(number: int, run) -> dict[str, object]:
        events.append(f"after {run.variant}{number}")
        return {"checked": run.value}

    def check(result) -> str:
        events.append("check")
        return f"{len(result.runs)} runs agree"

    variants = [
        h.Variant("A", call=lambda n: events.append(f"A{n}") or n, after=after),
        h.Variant("B", call=lambda n: events.append(f"B{n}")),
    ]
    result = h.measure(
        "hooks",
        variants,
        rounds=2,
        warmup=True,
        before_round=lambda n: events.append(f"round {n}"),
        check=check,
    )
    assert events == [
        "A-1",
        "B-1",
        "round 0",
        "A0",
        "after A0",
        "B0",
        "round 1",
        "A1",
        "after A1",
        "B1",
        "check",
    ]
    assert [r.extra for r in result.runs] == [{"checked": 0}, {}, {"checked": 1}, {}]
    assert result.agreement == "4 runs agree"
    assert "agreement: 4 runs agree" in result.report()


def test_table_has_a_row_per_variant_with_its_figures() -> None:
    result = _result_with(
        FIGURES, reference="ref", also=["fast"], rates=[h.Rate("Mpx/s", 6.0, of="cpu")]
    )
    lines = result.table().splitlines()
    assert lines[0] == (
        "| variant | runs | wall s | min s | max s | CPU s | Mpx/s | wall vs ref | CPU vs ref "
        "| wall vs fast | CPU vs fast |"
    )
    assert lines[1].startswith("| --- | ---: |")
    # slow: walls 10, 6, 8; CPU 4, 8, 6; rate 6 / 6; ratios 8/3, 6/2; to fast 8/1, 6/0.5
    assert (
        lines[4] == "| slow | 3 | 8.00 | 6.00 | 10.00 | 6.00 | 1.00 | 2.67 | 3.00 | 8.00 | 12.00 |"
    )
    assert len(lines) == 2 + len(FIGURES)


def test_json_holds_every_run_the_machine_and_the_commit(tmp_path: Path) -> None:
    result = _result_with(FIGURES, reference="ref", rates=[h.Rate("Mpx/s", 6.0)])
    result.agreement = "all equal"
    result.notes["rows"] = 12
    path = tmp_path / "deep" / "bench.json"
    h.write_json(path, [result], args={"size": 256, "out": tmp_path})
    doc = json.loads(path.read_text())
    assert doc["schema"] == "rasterflow-benchmark/1"
    assert doc["args"] == {"size": 256, "out": str(tmp_path)}
    assert set(doc["git"]) == {"commit", "dirty"}
    assert doc["git"]["commit"] is None or len(doc["git"]["commit"]) == 40
    machine = doc["machine"]
    assert machine["nproc"] >= 1 and machine["affinity_count"] == len(machine["affinity"]) >= 1
    assert len(machine["loadavg"]) == 3
    (res,) = doc["results"]
    assert res["title"] == "figures" and res["rounds"] == 3 and res["order"] == "alternate"
    assert res["reference"] == "ref" and res["agreement"] == "all equal"
    assert res["notes"] == {"rows": 12}
    assert [v["name"] for v in res["variants"]] == list(FIGURES)
    assert all(v["kind"] == "call" and v["scale"] == 1.0 for v in res["variants"])
    runs = [(r["variant"], r["round"], r["wall"], r["cpu"]) for r in res["runs"]]
    assert runs == [(n, i, *FIGURES[n][i]) for i in range(3) for n in FIGURES]
    for name in FIGURES:
        assert res["medians"][name] == {
            "wall": result.median(name),
            "cpu": result.median(name, "cpu"),
        }
        assert res["ratios"][name]["wall"] == result.median(name) / result.median("ref")
        assert res["rates"]["Mpx/s"][name] == 6.0 / result.median(name)


def test_nothing_is_written_without_a_path(tmp_path: Path) -> None:
    h.write_json(None, [_result_with(FIGURES)])
    assert not list(tmp_path.iterdir())


def test_bad_measurements_are_refused() -> None:
    ok = h.Variant("A", call=lambda n: None)
    with pytest.raises(ValueError, match="exactly one"):
        h.Variant("both", command=["true"], call=lambda n: None)
    with pytest.raises(ValueError, match="repeat"):
        h.measure("x", [ok, ok], rounds=1)
    with pytest.raises(ValueError, match="not a variant"):
        h.measure("x", [ok], rounds=1, reference="B")
    with pytest.raises(ValueError, match="order"):
        h.measure("x", [ok], rounds=1, order="random")
    with pytest.raises(ValueError, match="rounds"):
        h.measure("x", [ok], rounds=0)
