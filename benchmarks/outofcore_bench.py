"""Out-of-core: slope of a DEM larger than the job's memory, and the job's peak RSS.

    .venv/bin/python benchmarks/outofcore_bench.py --size 32768 --mem-mb 1024

Writes a ``--size`` x ``--size`` float32 DEM (4 GiB uncompressed at 32768; pass
``--dem`` to reuse one made by ``benchmarks/terrain_bench.make_dem``), then runs one
terrain job (slope) in a child process, as a heavy step runs it: Dask cluster sized to
2 threads and ``--mem-mb``, COG written through rasterflow.io. Prints wall time and the
child's peak resident memory (getrusage of the child, which includes GDAL's cache and
the scratch file's pages that were mapped, not the OS page cache), then checks the
output: a valid COG on the DEM's grid, equal to ``gdaldem slope`` in a window.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]


def child(dem: str, out: str, mem_mb: int, threads: int) -> None:
    from rasterflow.cluster import dask_client
    from rasterflow.terrain import run

    # terrain.run's default chunk, as the workflow's terrain.chunk default
    with dask_client(threads=threads, mem_mb=mem_mb, settings={"report": False}):
        run(dem=dem, outputs={"slope": out}, threads=threads)


def check_output(dem: Path, out: Path, work: Path, *, window: int = 512) -> str:
    """Raise SystemExit unless ``out`` is a valid COG on the DEM's grid whose slope
    matches ``gdaldem slope`` in a window at the centre; return what was checked.

    gdaldem runs on a crop (a VRT) one pixel wider than the window on each side, so
    the check costs the same at any DEM size and the comparison is of interior cells.
    """

    import numpy as np
    import rasterio
    from rasterio.windows import Window
    from rio_cogeo.cogeo import cog_validate

    valid, errors, _ = cog_validate(str(out), quiet=True)
    with rasterio.open(dem) as d, rasterio.open(out) as o:
        grid = (d.width, d.height, d.transform, d.crs)
        if not valid or (o.width, o.height, o.transform, o.crs) != grid:
            raise SystemExit(f"{out}: not a valid COG on the grid of {dem}: {errors}")
        n = min(window, d.width - 2, d.height - 2)
        x0, y0 = (d.width - n) // 2 - 1, (d.height - n) // 2 - 1
        ours = o.read(1, window=Window(x0 + 1, y0 + 1, n, n))
    crop, ref = work / "crop.vrt", work / "crop-slope.tif"
    subprocess.run(
        [
            "gdal_translate",
            "-q",
            "-of",
            "VRT",
            "-srcwin",
            str(x0),
            str(y0),
            str(n + 2),
            str(n + 2),
            str(dem),
            str(crop),
        ],
        check=True,
    )
    subprocess.run(["gdaldem", "slope", str(crop), str(ref), "-q"], check=True)
    with rasterio.open(ref) as r:
        theirs = r.read(1)[1:-1, 1:-1]
    diff = float(np.abs(ours.astype(np.float64) - theirs).max())
    if not diff <= 1e-4:  # degrees, as tests/unit/test_terrain.py allows; NaN fails too
        raise SystemExit(f"slope differs from gdaldem slope by up to {diff} degrees")
    return f"{n} x {n} cells at the centre, max |ours - gdaldem slope| {diff:.1e} degrees"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=int, default=32768)
    ap.add_argument("--mem-mb", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dem", type=Path, help="an existing DEM instead of making one")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    h.add_json_argument(ap)
    args = ap.parse_args()
    if args.child:
        child(*args.child, mem_mb=args.mem_mb, threads=args.threads)
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        dem = args.dem
        if dem is None:
            from terrain_bench import make_dem

            dem = Path(tmp) / "dem.tif"
            make_dem(dem, args.size)
        out = Path(tmp) / "slope.tif"
        job = [sys.executable, __file__, "--child", str(dem), str(out)]
        job += ["--mem-mb", str(args.mem_mb), "--threads", str(args.threads)]

        def peak_rss(_number: int, _run: h.Run) -> dict[str, float]:
            # the largest child so far: the job (no other child has run yet)
            return {"peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}

        result = h.measure(
            f"slope of {dem.name} in one terrain job of {args.mem_mb} MB, {args.threads} threads",
            [h.Variant("terrain job", command=job, capture=False, after=peak_rss)],
            rounds=1,
            check=lambda _: check_output(dem, out, Path(tmp)),
        )
        size = out.stat().st_size
    run = result.runs[0]
    peak_kib = run.extra["peak_rss_kib"]
    result.notes["output_bytes"] = size
    print(
        f"slope of {dem.name}: {run.wall:.1f} s, peak RSS {peak_kib / 2**20:.2f} GiB "
        f"with a {args.mem_mb} MB job ({args.threads} threads); output {size / 2**20:.0f} MiB"
    )
    print(f"output: a valid COG on the DEM's grid; {result.agreement}")
    h.write_json(args.json, [result], args=args)


if __name__ == "__main__":
    main()
