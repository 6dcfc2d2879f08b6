"""Fixed cost of a heavy job: process start, Dask cluster, first task, shutdown.

    .venv/bin/python benchmarks/fixed_cost_bench.py --runs 5

Each variant is a fresh Python process, timed from outside, alternating:
  import_floor   python -c "import numpy, rasterio, xarray, dask.distributed, dask.array",
                 then os._exit(0): the imports alone, without interpreter shutdown
                 (which costs 0.6-1.4 s after these imports and which the steps skip too)
  step           the same imports, then rasterflow.step.heavy_step (log file + the job's
                 Dask cluster, threads) around one trivial task, then the end of a
                 Snakemake script (rasterflow.step.run_step: no interpreter shutdown)
  step_report    the same with the Dask performance report (dask.report, here with
                 dask.report_min_seconds 0: the default 10 s would skip a step this short)
  step_processes the same with dask.processes: true (worker processes)
  terrain_job    scripts/terrain.py as Snakemake runs it (the preamble's imports, then
                 the script as __main__ with a ``snakemake`` object) on a ``--size``²
                 DEM, slope only, 2 threads, no performance report
  index_job      scripts/index.py the same way: NDVI of a ``--size``² two-band scene
The figure the issue asks for is ``step - import_floor`` (target: within 1 s). For the
two job variants a second table splits each run at the first task a Dask worker starts
and the last one it finishes (wall seconds from process start, and the process's CPU
seconds by then): what comes before the first task and after the last one is the
job's serial start-up and shutdown. After each run the script checks that it did its
work (task result or product, log summary, report).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]

IMPORTS = "import numpy, rasterio, xarray, dask.distributed, dask.array"
REPO = Path(__file__).resolve().parents[1]
JOBS = ("terrain_job", "index_job")


def one_step(log: str, *, report: bool, processes: bool) -> None:
    """A heavy job with nothing to do: what every Snakemake heavy step pays."""
    import dask.array as da

    from rasterflow.step import heavy_step

    smk = SimpleNamespace(
        log=[log],
        threads=2,
        resources=SimpleNamespace(mem_mb=2000),
        # a report whatever the step's length: its cost is what step_report measures
        config={"dask": {"report": report, "report_min_seconds": 0, "processes": processes}},
    )
    with heavy_step(smk):
        total = da.arange(4, chunks=2).sum().compute()
    if total != 6:  # 0 + 1 + 2 + 3: the cluster ran the task, not just started
        raise SystemExit(f"the trivial task returned {total}, not 6")


def job_inputs(work: Path, size: int) -> None:
    """The DEM and the scene the job variants read (made once, before any timing)."""
    from index_bench import make_scene
    from terrain_bench import make_dem

    make_dem(work / "dem.tif", size)
    make_scene(work / "scene.tif", size)


def job_snakemake(variant: str, work: Path, log: Path) -> tuple[Path, Any]:
    """The script and the ``snakemake`` object its rule would give it."""
    common = {
        "threads": 2,
        "resources": SimpleNamespace(mem_mb=2000),
        "log": [str(log)],
        "config": {"dask": {"report": False}},
    }
    if variant == "terrain_job":
        return REPO / "scripts" / "terrain.py", SimpleNamespace(
            input=SimpleNamespace(dem=str(work / "dem.tif")),
            output=[str(work / "slope.tif")],
            params=SimpleNamespace(products=["slope"], options={}, chunk=1024),
            **common,
        )
    from rasterflow import indices
    from rasterflow.scenes import BandFile, Scene

    scene = Scene.from_params(
        {
            "id": "bench",
            "date": "2024-01-01",
            "bands": {
                "red": vars(BandFile(str(work / "scene.tif"), 1, 1e-4, -0.1, 0.0)),
                "nir": vars(BandFile(str(work / "scene.tif"), 2, 1e-4, -0.1, 0.0)),
            },
        }
    )
    # rule index's params: the scene and {index name: expression} (all of a scene's
    # indices in one job), one output per index
    return REPO / "scripts" / "index.py", SimpleNamespace(
        wildcards=SimpleNamespace(scene="bench"),
        output=[str(work / "ndvi.tif")],
        params=SimpleNamespace(
            scene=scene.to_params(),
            expressions={"NDVI": indices.BUILTIN["NDVI"]},
            chunk=1024,
            resampling="bilinear",
        ),
        **common,
    )


def run_job(variant: str, work: Path, log: Path, clock: Path) -> None:
    """Run a job's script as Snakemake does; write when its first and last tasks ran.

    Snakemake's preamble unpickles the job's ``snakemake`` object, which imports
    snakemake's iocontainers and logging: imported here for the same cost. The task
    times come from a scheduler plugin (in threads mode the scheduler runs in this
    process): a task is sent to the worker ("processing") and its result arrives
    ("memory"). They are written by the script's own exit (``rasterflow.step.exit_now``).
    """
    import importlib
    import runpy

    for name in ("snakemake.iocontainers", "snakemake.logging"):  # the preamble's
        importlib.import_module(name)

    import rasterflow.cluster._client
    import rasterflow.step

    script, smk = job_snakemake(variant, work, log)
    seen: dict[str, float] = {}

    from distributed import SchedulerPlugin

    class TaskClock(SchedulerPlugin):  # type: ignore[misc]
        def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
            if finish == "processing":
                seen.setdefault("first_task", time.time())
                seen.setdefault("first_task_cpu", _own_cpu())
            elif start == "processing" and finish == "memory":
                seen["last_task"], seen["last_task_cpu"] = time.time(), _own_cpu()

    monitor, exit_now = rasterflow.cluster._client._monitor, rasterflow.step.exit_now

    def monitor_and_clock(stack: Any, client: Any, *args: Any) -> None:
        monitor(stack, client, *args)
        # added to the object itself: register_plugin would send the scheduler a copy
        client.cluster.scheduler.add_plugin(TaskClock())

    def write_clock_and_exit() -> None:
        clock.write_text(json.dumps({**seen, "exit": time.time(), "exit_cpu": _own_cpu()}))
        exit_now()

    rasterflow.cluster._client._monitor = monitor_and_clock
    rasterflow.step.exit_now = write_clock_and_exit
    runpy.run_path(str(script), init_globals={"snakemake": smk}, run_name="__main__")
    raise SystemExit(f"{script} returned instead of ending the process")


def _own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def check_step(variant: str, log: Path, work: Path) -> None:
    """Raise SystemExit unless the step's log ends in its summary line, the Dask
    performance report exists exactly when the variant asks for one, and a job
    variant wrote its product."""
    from rasterflow.cluster import dask_report_path

    lines = log.read_text().splitlines() if log.exists() else []
    if not lines or "done in" not in lines[-1]:
        raise SystemExit(f"{variant}: {log} does not end in the step's summary: {lines[-3:]}")
    if dask_report_path(log).exists() != (variant == "step_report"):
        raise SystemExit(f"{variant}: performance report present: {dask_report_path(log).exists()}")
    if variant in JOBS:
        from rasterflow.io import check_raster

        product = work / ("slope.tif" if variant == "terrain_job" else "ndvi.tif")
        check_raster(product, what=variant)
        product.unlink()


def command(variant: str, log: Path, work: Path) -> list[str]:
    if variant == "import_floor":
        return [sys.executable, "-c", f"{IMPORTS}; import os; os._exit(0)"]
    return [
        sys.executable,
        __file__,
        "--variant",
        variant,
        "--log",
        str(log),
        "--workdir",
        str(work),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--variants", default="import_floor,step,step_report,step_processes,terrain_job,index_job"
    )
    ap.add_argument(
        "--size",
        type=int,
        default=512,
        help="DEM and scene of the job variants are size x size pixels",
    )
    h.add_json_argument(ap)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant in JOBS:
        run_job(args.variant, args.workdir, Path(args.log), args.workdir / "clock.json")
    if args.variant:
        # the same imports as the floor, before anything of ours
        import dask.array
        import dask.distributed  # noqa: F401
        import numpy  # noqa: F401
        import rasterio  # noqa: F401
        import xarray  # noqa: F401

        from rasterflow.step import run_step

        # ends as a Snakemake script does (scripts/*.py): no interpreter shutdown
        run_step(
            lambda _: one_step(
                args.log,
                report=args.variant == "step_report",
                processes=args.variant == "step_processes",
            ),
            None,
        )
    names = args.variants.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if any(v in JOBS for v in names):
            job_inputs(work, args.size)

        def checked(v: str):
            """After each run: the step did its work; a job's phases from its clock."""

            def after(_number: int, run: h.Run) -> dict[str, float] | None:
                if v != "import_floor":
                    check_step(v, work / f"{v}.log", work)
                if v in JOBS:
                    return job_phases(work / "clock.json", run.started, run.wall, run.cpu)
                return None

            return after

        variants = [
            h.Variant(
                v,
                command=command(v, work / f"{v}.log", work),
                capture=False,
                after=checked(v),
            )
            for v in names
        ]
        result = h.measure(
            f"fixed cost of a heavy job, median of {args.runs} runs",
            variants,
            rounds=args.runs,
            order="rotate",
            reference="import_floor" if "import_floor" in names else None,
        )
    floor = result.median("import_floor") if "import_floor" in names else 0.0
    print(result.report())
    # the issue's figure: a step's wall less the imports' (target: within 1 s)
    print(
        h.markdown_table(
            ["variant", "wall s", "- import floor s"],
            [[v, f"{result.median(v):.2f}", f"{result.median(v) - floor:.2f}"] for v in names],
        )
    )
    phases = {v: [r.extra for r in result.runs if r.variant == v] for v in names if v in JOBS}
    if phases:
        print(f"\njob phases ({args.size}² input), medians: wall s (CPU s of the process)\n")
        rows = []
        for v, runs in phases.items():
            m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            rows.append(
                [v]
                + [f"{m[k]:.2f} ({m[k + '_cpu']:.2f})" for k in ("to_first_task", "tasks", "end")]
            )
        print(h.markdown_table(["variant", "to 1st task", "tasks", "after last"], rows))
    print(
        "\nchecked: each step ran its task, its log ends in the summary, a performance "
        "report only with step_report, the jobs' products are valid rasters"
    )
    h.write_json(args.json, [result], args=args)


def job_phases(clock: Path, start: float, wall: float, cpu: float) -> dict[str, float]:
    """Wall and CPU seconds before the first task, from first to last, after the last
    (``start``: the epoch second the process was started, ``wall``, ``cpu``: its run's)."""
    c = json.loads(clock.read_text())
    clock.unlink()
    return {
        "to_first_task": c["first_task"] - start,
        "to_first_task_cpu": c["first_task_cpu"],
        "tasks": c["last_task"] - c["first_task"],
        "tasks_cpu": c["last_task_cpu"] - c["first_task_cpu"],
        "end": start + wall - c["last_task"],
        "end_cpu": cpu - c["last_task_cpu"],
    }


if __name__ == "__main__":
    main()
