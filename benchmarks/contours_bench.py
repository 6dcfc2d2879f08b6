"""Time rasterflow.contours.run against gdal_contour on one synthetic DEM; print both.

    python benchmarks/contours_bench.py --size 4096 --interval 20 --runs 3 --threads 1

Every measurement is one fresh process (``gdal_contour ...`` or ``python this_file _run
...``), timed by benchmarks/_harness.py, so both pay their start-up (Python imports
for us); the two alternate (A B, B A, ...), so drifting load on a shared machine hits
both alike. Both write a GeoPackage of the same lines (rasterflow inside
``rasterflow.cluster.dask_client`` with ``--threads`` threads, as a heavy job runs it);
the script checks they found the same levels and the same number of lines, then prints
wall and CPU seconds and megapixels per second per core (pixels / CPU seconds).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
from terrain_bench import make_dem  # the same synthetic DEM: hills plus 2 m noise


def _run_once(dem: str, out: str, interval: float, threads: int, chunk: int) -> None:
    from rasterflow.cluster import dask_client
    from rasterflow.contours import ContourParams, run
    from rasterflow.step import exit_now

    with dask_client(threads=threads, mem_mb=4000, settings={"report": False}):
        run(raster=dem, outputs={"gpkg": out}, params=ContourParams(interval), chunk=chunk)
    exit_now()  # as scripts/contours.py ends (rasterflow.step.run_step)


def _levels_and_lines(path: Path) -> dict[float, int]:
    import geopandas as gpd

    frame = gpd.read_file(path, engine="pyogrio")
    return frame.groupby("elev").size().to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--interval", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=1024)
    h.add_json_argument(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="contours-bench-") as tmp:
        work = Path(tmp)
        dem = work / "dem.tif"
        make_dem(dem, args.size)
        variants = [
            h.Variant(
                "gdal_contour",
                command=lambda i: [
                    "gdal_contour",
                    "-q",
                    "-a",
                    "elev",
                    "-i",
                    str(args.interval),
                    str(dem),
                    str(work / f"g{i}.gpkg"),
                ],
                capture=False,
            ),
            h.Variant(
                "rasterflow",
                command=lambda i: [
                    sys.executable,
                    __file__,
                    "_run",
                    str(dem),
                    str(work / f"r{i}.gpkg"),
                    str(args.interval),
                    str(args.threads),
                    str(args.chunk),
                ],
                capture=False,
            ),
        ]
        found: dict[str, dict[float, int]] = {}

        def same_lines(_: h.Result) -> str:
            theirs = _levels_and_lines(work / "g0.gpkg")
            ours = found["ours"] = _levels_and_lines(work / "r0.gpkg")
            if theirs != ours:
                raise SystemExit(f"levels or line counts differ: gdal {theirs} rasterflow {ours}")
            return f"{len(ours)} levels, {sum(ours.values())} lines, the same in both"

        mpx = args.size * args.size / 1e6
        result = h.measure(
            f"{args.size}x{args.size} DEM ({mpx:.1f} Mpx), interval {args.interval}, "
            f"rasterflow on {args.threads} thread(s), median of {args.runs} runs",
            variants,
            rounds=args.runs,
            order="mirror",
            reference="gdal_contour",
            rates=[h.Rate("Mpx/s/core", mpx, of="cpu")],
            check=same_lines,
        )
    print(result.report())
    h.write_json(args.json, [result], args=args)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        _run_once(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
