"""Time rasterflow.terrain.run against gdaldem on one synthetic DEM; print medians and ratios.

    python benchmarks/terrain_bench.py --size 4096 --runs 5 --threads 2

Every measurement is one fresh process (``gdaldem ...`` or ``python this_file _run ...``),
timed by benchmarks/_harness.py, so both sides pay their start-up (Python imports
for us). The tools run alternately, in a rotating order, so drifting
load on a shared machine hits all of them alike. Three contenders per product:

* ``gdaldem``          its default output, an uncompressed striped GeoTIFF (no
  compression at all: the cheapest output there is);
* ``gdaldem-deflate``  a tiled DEFLATE GeoTIFF compressed on ``--threads`` threads, as the
  issue measured its peer ("gdaldem slope 8.2 s, 6.4 s with NUM_THREADS=2");
* ``gdaldem-cog``      ``-of COG`` with rasterflow's COG creation options (like for like);
* ``rasterflow``   :func:`rasterflow.terrain.run` inside ``rasterflow.cluster.dask_client``
  (as a heavy job runs it, without the optional performance report), writing a COG,
  and ending as the job's script does (``rasterflow.step.run_step``).

A last row runs all ``--products`` in one rasterflow job (one pass over the DEM), against
the sum of the per-product gdaldem medians. Besides wall time the table has the CPU
seconds (user + system) of each process, which a loaded machine distorts least.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]

GDALDEM_MODE = {
    "slope": "slope",
    "aspect": "aspect",
    "hillshade": "hillshade",
    "tri": "TRI",
    "tpi": "TPI",
    "roughness": "roughness",
}


def make_dem(path: Path, size: int, *, seed: int = 0) -> None:
    """A float32 DEM of ``size`` x ``size`` 30 m pixels (UTM 13N), hills plus noise."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32613",
        "nodata": -9999.0,
        "transform": from_origin(500000, 4500000, 30, 30),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    cols = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, size, 512):  # in strips: memory stays small for any size
            rows = np.arange(top, min(top + 512, size), dtype=np.float32)[:, None]
            z = 1500 + 300 * np.sin(cols / 90) * np.cos(rows / 130)
            z = (z + rng.normal(0, 2, z.shape)).astype(np.float32)
            dst.write(z, 1, window=((top, top + z.shape[0]), (0, size)))


def commands(
    product: str, dem: Path, out: Path, *, threads: int, chunk: int
) -> dict[str, list[str]]:
    from rasterflow.io import COG_OPTIONS

    mode = GDALDEM_MODE[product]
    cog = [
        a
        for k, v in {**COG_OPTIONS, "NUM_THREADS": str(threads)}.items()
        for a in ("-co", f"{k}={v}")
    ]
    return {
        "gdaldem": ["gdaldem", mode, str(dem), str(out / f"gd-{product}.tif"), "-q"],
        "gdaldem-deflate": [
            "gdaldem",
            mode,
            str(dem),
            str(out / f"gddf-{product}.tif"),
            "-q",
            "-co",
            "COMPRESS=DEFLATE",
            "-co",
            "TILED=YES",
            "-co",
            f"NUM_THREADS={threads}",
        ],
        "gdaldem-cog": [
            "gdaldem",
            mode,
            str(dem),
            str(out / f"gdcog-{product}.tif"),
            "-q",
            "-of",
            "COG",
            *cog,
        ],
        "rasterflow": ours(dem, out, [product], threads=threads, chunk=chunk),
    }


def ours(dem: Path, out: Path, products: list[str], *, threads: int, chunk: int) -> list[str]:
    return [
        sys.executable,
        __file__,
        "_run",
        str(dem),
        str(out),
        ",".join(products),
        str(threads),
        str(chunk),
    ]


def _run_once(dem: str, out: str, products: str, threads: int, chunk: int) -> None:
    """One rasterflow job, as a heavy step runs it (the job's Dask cluster)."""
    from rasterflow.cluster import dask_client
    from rasterflow.step import exit_now
    from rasterflow.terrain import run

    outputs = {p: str(Path(out) / f"rf-{p}.tif") for p in products.split(",")}
    with dask_client(threads=threads, mem_mb=4000, settings={"report": False}):
        run(dem=dem, outputs=outputs, chunk=chunk, threads=threads)
    exit_now()  # as scripts/terrain.py ends (rasterflow.step.run_step)


# largest |rasterflow - gdaldem| allowed, as tests/unit/test_terrain.py: degrees for
# slope/aspect, grey levels for hillshade (gdaldem approximates 1/sqrt), metres else
TOLERANCE = {
    "slope": 1e-4,
    "aspect": 1e-4,
    "hillshade": 1,
    "tri": 1e-3,
    "tpi": 1e-3,
    "roughness": 1e-3,
}


def check_agreement(work: Path, products: list[str], *, window: int = 1024) -> str:
    """Raise SystemExit unless each rasterflow product equals gdaldem's (same nodata
    cells, values within TOLERANCE) in a window at the centre; say what was compared."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    found = []
    for product in products:
        with (
            rasterio.open(work / f"rf-{product}.tif") as ours,
            rasterio.open(work / f"gd-{product}.tif") as theirs,
        ):
            n = min(window, ours.width, ours.height)
            win = Window((ours.width - n) // 2, (ours.height - n) // 2, n, n)
            a, b = ours.read(1, window=win), theirs.read(1, window=win)
            a_nodata, b_nodata = a == ours.nodata, b == theirs.nodata
        diff = np.abs(a.astype(np.float64) - b)[~a_nodata]
        if product == "aspect":
            diff = np.minimum(diff, 360 - diff)
        worst = float(diff.max()) if diff.size else 0.0
        if (a_nodata != b_nodata).any() or not worst <= TOLERANCE[product]:  # NaN fails
            raise SystemExit(
                f"{product}: rasterflow differs from gdaldem: "
                f"{np.count_nonzero(a_nodata != b_nodata)} nodata cells differ, "
                f"values by up to {worst}"
            )
        found.append(f"{product} {worst:.1e}")
    return f"{n} x {n} cells at the centre, max |diff| " + ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="DEM is size x size pixels")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per contender")
    parser.add_argument("--threads", type=int, default=min(2, len(os.sched_getaffinity(0))))
    parser.add_argument(
        "--chunk", type=int, default=2048, help="rasterflow block size (terrain.chunk's default)"
    )
    parser.add_argument(
        "--products",
        nargs="+",
        default=["slope", "hillshade", "aspect"],
        choices=sorted(GDALDEM_MODE),
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the DEM and outputs go (default: a temporary folder)",
    )
    h.add_json_argument(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        dem = work / "dem.tif"
        make_dem(dem, args.size)
        print(
            f"DEM {args.size} x {args.size} float32, {args.runs} runs, "
            f"{args.threads} thread(s), chunk {args.chunk}, affinity "
            f"{len(os.sched_getaffinity(0))} cpus\n"
        )
        peers = ("gdaldem", "gdaldem-deflate", "gdaldem-cog")
        results = []
        for product in args.products:
            cmds = commands(product, dem, work, threads=args.threads, chunk=args.chunk)
            results.append(
                h.measure(
                    f"{product}: gdaldem's outputs and rasterflow's COG",
                    [h.Variant(name, command=cmd, capture=False) for name, cmd in cmds.items()],
                    rounds=args.runs,
                    order="rotate",
                    reference="gdaldem",
                    also=peers[1:],
                )
            )
            print(results[-1].report(), flush=True)
        if len(args.products) > 1:
            both = "+".join(args.products)
            job = h.measure(
                f"{both}: one rasterflow job against the sums of gdaldem's medians",
                [
                    h.Variant(
                        "rasterflow (one job)",
                        command=ours(
                            dem, work, args.products, threads=args.threads, chunk=args.chunk
                        ),
                        capture=False,
                    )
                ],
                rounds=args.runs,
            )
            sums = {
                f"sum of {p}": {w: sum(r.median(p, w) for r in results) for w in ("wall", "cpu")}
                for p in peers
            }
            rows = {**sums, "rasterflow (one job)": job.medians()["rasterflow (one job)"]}
            job.notes["sums"] = sums
            results.append(job)
            print(f"{job.title}\n")
            print(
                h.markdown_table(
                    ["contender", "wall s", "CPU s", *(f"wall vs {s}" for s in sums)],
                    [
                        [
                            name,
                            f"{m['wall']:.2f}",
                            f"{m['cpu']:.2f}",
                            *(f"{m['wall'] / s['wall']:.2f}" for s in sums.values()),
                        ]
                        for name, m in rows.items()
                    ],
                )
            )
        print(f"\nagreement with gdaldem: {check_agreement(work, args.products)}")
    h.write_json(args.json, results, args=args)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        _run_once(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
