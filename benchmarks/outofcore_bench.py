"""Out-of-core: slope of a DEM larger than the job's memory, and the job's peak RSS.

    .venv/bin/python benchmarks/outofcore_bench.py --size 32768 --mem-mb 1024

Writes a ``--size`` x ``--size`` float32 DEM (4 GiB uncompressed at 32768; pass
``--dem`` to reuse one made by ``benchmarks/terrain_bench.make_dem``), then runs one
terrain job (slope) in a child process, as a heavy step runs it: Dask cluster sized to
2 threads and ``--mem-mb``, COG written through rasterflow.io. Prints wall time and the
child's peak resident memory (getrusage of the child, which includes GDAL's cache and
the scratch file's pages that were mapped, not the OS page cache).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def child(dem: str, out: str, mem_mb: int, threads: int) -> None:
    from rasterflow.cluster import dask_client
    from rasterflow.terrain import run

    with dask_client(threads=threads, mem_mb=mem_mb, settings={"report": False}):
        run(dem=dem, outputs={"slope": out}, chunk=1024, threads=threads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=32768)
    ap.add_argument("--mem-mb", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dem", type=Path, help="an existing DEM instead of making one")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
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
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", str(dem), str(out),
                        "--mem-mb", str(args.mem_mb), "--threads", str(args.threads)],
                       check=True)
        wall = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = out.stat().st_size
    print(f"slope of {dem.name}: {wall:.1f} s, peak RSS {peak_kib / 2**20:.2f} GiB "
          f"with a {args.mem_mb} MB job ({args.threads} threads); output {size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
