"""Throughput of the per-pixel trend (rasterflow.trend) in megapixels per second per core.

    .venv/bin/python benchmarks/trend_bench.py --size 1024 --periods 12 --runs 3

Two figures, each the median of ``--runs``:
  kernel   rasterflow.trend.trend_block on one thread over a NumPy stack (periods x
           size x size, float32, 20 % NaN, values rounded to 0.01 so ties occur):
           the NumPy arithmetic alone, CPU seconds of this process
  run      rasterflow.trend.run end to end on one thread (Dask's synchronous
           scheduler): read the period mosaics (float32 ZSTD COGs written here), the
           kernel, write the 3-band COG; wall seconds
Per core: both run on one thread, so megapixels / second is per core.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def stack(size: int, periods: int, seed: int = 19) -> np.ndarray:
    rng = np.random.default_rng(seed)
    trend = rng.normal(0.0, 0.02, (size, size)).astype(np.float32)
    values = 0.4 + trend[None] * np.arange(periods, dtype=np.float32)[:, None, None]
    values = np.round(values + rng.normal(0, 0.05, values.shape), 2).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    return values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--periods", type=int, default=12)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import dask
    from rasterio.transform import from_origin

    from rasterflow import trend
    from rasterflow.io import write_cog

    data = stack(args.size, args.periods)
    times = np.arange(args.periods, dtype=np.float64) * 0.25  # seasons, in years
    mpx = args.size**2 / 1e6
    kernel = []
    for _ in range(args.runs):
        t0 = time.process_time()
        trend.trend_block(data, times, min_periods=3)
        kernel.append(time.process_time() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k in range(args.periods):
            paths.append(str(Path(tmp) / f"p{k}.tif"))
            write_cog(
                data[k],
                paths[-1],
                crs="EPSG:3067",
                transform=from_origin(380000.0, 6700000.0, 10.0, 10.0),
                nodata=np.nan,
            )
        full = []
        for r in range(args.runs):
            t0 = time.perf_counter()
            with dask.config.set(scheduler="synchronous"):
                trend.run(
                    mosaics={"X": paths},
                    periods=[f"p{k}" for k in range(args.periods)],
                    times=list(times),
                    outputs={"X": str(Path(tmp) / f"trend{r}.tif")},
                    min_periods=3,
                    chunk=512,
                    threads=1,
                )
            full.append(time.perf_counter() - t0)
    k, f = statistics.median(kernel), statistics.median(full)
    print(
        f"trend, {args.size}x{args.size} px x {args.periods} periods, one thread, "
        f"median of {args.runs}"
    )
    print(f"  kernel: {k:.2f} s CPU = {mpx / k:.2f} Mpx/s per core")
    print(f"  run (read, kernel, write COG): {f:.2f} s wall = {mpx / f:.2f} Mpx/s per core")


if __name__ == "__main__":
    main()
