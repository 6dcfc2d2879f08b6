"""Throughput of the per-pixel trend (rasterflow.trend) in megapixels per second per core.

    .venv/bin/python benchmarks/trend_bench.py --size 1024 --periods 12 --runs 3

Two variants, alternating, each the median of ``--runs`` (benchmarks/_harness.py):
  kernel   rasterflow.trend.trend_block on one thread over a NumPy stack (periods x
           size x size, float32, 20 % NaN, values rounded to 0.01 so ties occur):
           the NumPy arithmetic alone; its figure is CPU seconds of this process
  run      rasterflow.trend.run end to end on one thread (Dask's synchronous
           scheduler): read the period mosaics (float32 ZSTD COGs written here), the
           kernel, write the 3-band COG; its figure is wall seconds
Per core: both run on one thread, so megapixels / second is per core.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
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
    h.add_json_argument(ap)
    args = ap.parse_args()
    import dask
    from rasterio.transform import from_origin

    from rasterflow import trend
    from rasterflow.io import write_cog

    data = stack(args.size, args.periods)
    times = np.arange(args.periods, dtype=np.float64) * 0.25  # seasons, in years
    mpx = args.size**2 / 1e6
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

        def run(r: int) -> None:
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

        result = h.measure(
            f"trend, {args.size}x{args.size} px x {args.periods} periods, one thread, "
            f"median of {args.runs}",
            [
                h.Variant(
                    "kernel",
                    call=lambda _: trend.trend_block(data, times, min_periods=3),
                    note="NumPy arithmetic alone",
                ),
                h.Variant("run", call=run, note="read, kernel, write COG"),
            ],
            rounds=args.runs,
            rates=[h.Rate("Mpx/s per core (CPU)", mpx, of="cpu"), h.Rate("Mpx/s (wall)", mpx)],
        )
    print(result.report())
    h.write_json(args.json, [result], args=args)


if __name__ == "__main__":
    main()
