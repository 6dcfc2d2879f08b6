"""Time rasterflow.terrain.run against gdaldem on one synthetic DEM; print medians and ratios.

    python benchmarks/terrain_bench.py --size 4096 --runs 5 --threads 2

Every measurement is one fresh process (``gdaldem ...`` or ``python this_file _run ...``),
timed with time.perf_counter around subprocess.run, so both sides pay their start-up
(Python imports for us). The tools run alternately, in a rotating order, so drifting
load on a shared machine hits all of them alike. Three contenders per product:

* ``gdaldem``      its default output, an uncompressed striped GeoTIFF;
* ``gdaldem-cog``  ``-of COG`` with rasterflow's COG creation options (like for like);
* ``rasterflow``   :func:`rasterflow.terrain.run` inside ``rasterflow.cluster.dask_client``
  (as a heavy job runs it, without the optional performance report), writing a COG.

A last row runs all ``--products`` in one rasterflow job (one pass over the DEM), against
the sum of the per-product gdaldem medians.
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
        "rasterflow": ours(dem, out, [product], threads=threads, chunk=chunk),
    }


def ours(dem: Path, out: Path, products: list[str], *, threads: int, chunk: int) -> list[str]:
    return [sys.executable, __file__, "_run", str(dem), str(out), ",".join(products),
            str(threads), str(chunk)]


def _run_once(dem: str, out: str, products: str, threads: int, chunk: int) -> None:
    """One rasterflow job, as a heavy step runs it (the job's Dask cluster)."""
    from rasterflow.cluster import dask_client
    from rasterflow.terrain import run

    outputs = {p: str(Path(out) / f"rf-{p}.tif") for p in products.split(",")}
    with dask_client(threads=threads, mem_mb=4000, settings={"report": False}):
        run(dem=dem, outputs=outputs, chunk=chunk, threads=threads)


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
        print(f"{'product':24s} {'contender':20s} {'median s':>9s} "
              f"{'/gdaldem':>9s} {'/gdaldem-cog':>13s}")
        sums = {"gdaldem": 0.0, "gdaldem-cog": 0.0}
        for product in args.products:
            cmds = commands(product, dem, work, threads=args.threads, chunk=args.chunk)
            medians = timed(cmds, args.runs)
            for name in sums:
                sums[name] += medians[name]
            report(product, medians, medians["gdaldem"], medians["gdaldem-cog"])
        if len(args.products) > 1:
            both = timed({"rasterflow": ours(dem, work, args.products, threads=args.threads,
                                             chunk=args.chunk)}, args.runs)
            report("+".join(args.products), {"sum of gdaldem": sums["gdaldem"],
                                              "sum of gdaldem-cog": sums["gdaldem-cog"],
                                              "rasterflow (one job)": both["rasterflow"]},
                   sums["gdaldem"], sums["gdaldem-cog"])


def timed(cmds: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command, run alternately in a rotating order."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    names = list(cmds)
    for i in range(runs):
        for name in names[i % len(names):] + names[: i % len(names)]:
            start = time.perf_counter()
            subprocess.run(cmds[name], check=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def report(label: str, medians: dict[str, float], gdaldem: float, gdaldem_cog: float) -> None:
    for name, median in medians.items():
        print(f"{label:24s} {name:20s} {median:9.2f} {median / gdaldem:9.2f} "
              f"{median / gdaldem_cog:13.2f}", flush=True)

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        _run_once(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
