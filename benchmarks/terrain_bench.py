"""Time rasterflow.terrain.run against gdaldem on one synthetic DEM; print medians and ratios.

    python benchmarks/terrain_bench.py --size 4096 --runs 5 --threads 2

Every measurement is one fresh process (``gdaldem ...`` or ``python this_file _run ...``),
timed with time.perf_counter around subprocess.run, so both sides pay their start-up
(Python imports for us). The tools run alternately, in a rotating order, so drifting
load on a shared machine hits all of them alike. Three contenders per product:

* ``gdaldem``      its default output, an uncompressed striped GeoTIFF;
* ``gdaldem-cog``  ``-of COG`` with rasterflow's COG creation options (like for like);
* ``rasterflow``   :func:`rasterflow.terrain.run` on the threaded Dask scheduler with
  ``--threads`` workers, writing a COG via rasterflow.io.write_cog.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GDALDEM_MODE = {"slope": "slope", "aspect": "aspect", "hillshade": "hillshade",
                "tri": "TRI", "tpi": "TPI", "roughness": "roughness"}


def make_dem(path: Path, size: int, *, seed: int = 0) -> None:
    """A float32 DEM of ``size`` x ``size`` 30 m pixels (UTM 13N), hills plus noise."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1,
               "dtype": "float32", "crs": "EPSG:32613", "nodata": -9999.0,
               "transform": from_origin(500000, 4500000, 30, 30), "tiled": True,
               "blockxsize": 512, "blockysize": 512}
    cols = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, size, 512):  # in strips: memory stays small for any size
            rows = np.arange(top, min(top + 512, size), dtype=np.float32)[:, None]
            z = 1500 + 300 * np.sin(cols / 90) * np.cos(rows / 130)
            z = (z + rng.normal(0, 2, z.shape)).astype(np.float32)
            dst.write(z, 1, window=((top, top + z.shape[0]), (0, size)))


def commands(product: str, dem: Path, out: Path, *, threads: int,
             chunk: int) -> dict[str, list[str]]:
    from rasterflow.io import COG_OPTIONS

    mode = GDALDEM_MODE[product]
    cog = [a for k, v in {**COG_OPTIONS, "NUM_THREADS": str(threads)}.items()
           for a in ("-co", f"{k}={v}")]
    return {
        "gdaldem": ["gdaldem", mode, str(dem), str(out / f"gd-{product}.tif"), "-q"],
        "gdaldem-cog": ["gdaldem", mode, str(dem), str(out / f"gdcog-{product}.tif"), "-q",
                        "-of", "COG", *cog],
        "rasterflow": [sys.executable, __file__, "_run", str(dem),
                       str(out / f"rf-{product}.tif"), product, str(threads), str(chunk)],
    }


def _run_once(dem: str, output: str, product: str, threads: int, chunk: int) -> None:
    """One rasterflow job, as a heavy step would run it (threaded Dask scheduler)."""
    from multiprocessing.pool import ThreadPool

    import dask

    from rasterflow.terrain import run

    with ThreadPool(threads) as pool, dask.config.set(scheduler="threads", pool=pool):
        run(dem=dem, outputs={product: output}, chunk=chunk, threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="DEM is size x size pixels")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per contender")
    parser.add_argument("--threads", type=int, default=min(2, len(os.sched_getaffinity(0))))
    parser.add_argument("--chunk", type=int, default=1024, help="rasterflow block size")
    parser.add_argument("--products", nargs="+", default=["slope", "hillshade", "aspect"],
                        choices=sorted(GDALDEM_MODE))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the DEM and outputs go (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        dem = work / "dem.tif"
        make_dem(dem, args.size)
        print(f"DEM {args.size} x {args.size} float32, {args.runs} runs, "
              f"{args.threads} thread(s), chunk {args.chunk}, affinity "
              f"{len(os.sched_getaffinity(0))} cpus")
        print(f"{'product':10s} {'contender':12s} {'median s':>9s} {'min s':>7s} "
              f"{'/gdaldem':>9s} {'/gdaldem-cog':>13s}")
        for product in args.products:
            cmds = commands(product, dem, work, threads=args.threads, chunk=args.chunk)
            times: dict[str, list[float]] = {name: [] for name in cmds}
            names = list(cmds)
            for i in range(args.runs):
                for name in names[i % len(names):] + names[: i % len(names)]:
                    start = time.perf_counter()
                    subprocess.run(cmds[name], check=True)
                    times[name].append(time.perf_counter() - start)
            medians = {name: statistics.median(t) for name, t in times.items()}
            for name, t in times.items():
                print(f"{product:10s} {name:12s} {medians[name]:9.2f} {min(t):7.2f} "
                      f"{medians[name] / medians['gdaldem']:9.2f} "
                      f"{medians[name] / medians['gdaldem-cog']:13.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        _run_once(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
