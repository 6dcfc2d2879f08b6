"""Index step vs peers on one synthetic scene, alternating runs, medians and ratios.

    .venv/bin/python benchmarks/index_bench.py --size 4096 --runs 3

Variants (each a fresh process, so start-up cost counts as it does in a Snakemake job):
  threads      rasterflow index (NDVI), Dask LocalCluster with threads (the default)
  threads_1    the same on one thread: scaling from the same alternating runs
  processes    the same with dask.processes: true
  gdal_calc    GDAL's gdal_calc.py, same formula, our compression (ZSTD 1, predictor,
               512 tiles, NUM_THREADS); it cannot write overviews, ours does
  gdal_calc_deflate  gdal_calc.py as the issue measured it: DEFLATE, tiled, one thread
  io_floor     read both bands (one rasterio call) + write the float32 output with
               rasterflow.io.write_cog from NumPy: the same file, no math, no Dask
  chunk_1024   threads, with 1024² chunks (scenes.chunk's default before 2048)
  no_cluster   threads, on Dask's own threaded scheduler instead of the job's
               in-process distributed cluster (and GDAL's cache at its default):
               what the cluster costs
Our variants and the floor end as a job's script does (rasterflow.step.run_step: no
interpreter shutdown, which costs 0.6-1.4 s after these imports); gdal_calc.py ends as
it does. The scene: two uint16 DEFLATE bands tiled 512, pixel-interleaved (a Sentinel-2 tile is
10980 px). Besides wall times it prints each variant's median CPU seconds (user +
system of the child process), which a machine loaded by other work distorts least.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
import numpy as np

HERE = Path(__file__).resolve()
DEFLATE = ["COMPRESS=DEFLATE", "TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "BIGTIFF=IF_SAFER"]


def ours_as_gtiff(threads: int) -> list[str]:
    """Our COG creation options, spelled for the GTiff driver that gdal_calc.py uses."""
    from rasterflow.io import COG_OPTIONS

    return [
        f"COMPRESS={COG_OPTIONS['COMPRESS']}",
        f"ZSTD_LEVEL={COG_OPTIONS['LEVEL']}",
        "PREDICTOR=3",
        "TILED=YES",
        "BLOCKXSIZE=512",
        "BLOCKYSIZE=512",
        "BIGTIFF=IF_SAFER",
        f"NUM_THREADS={threads}",
    ]


def make_scene(path: Path, size: int) -> None:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=2,
        dtype="uint16",
        crs="EPSG:32633",
        nodata=0,
        transform=from_origin(300000, 6000000, 10, 10),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    ) as dst:
        for row in range(0, size, 512):
            n_rows = min(512, size - row)
            base = rng.integers(500, 4000, (n_rows, size), dtype=np.uint16)
            win = ((row, row + n_rows), (0, size))
            dst.write(base, 1, window=win)
            dst.write(base + rng.integers(0, 3000, (n_rows, size), dtype=np.uint16), 2, window=win)


def run_variant(variant: str, scene: Path, out: Path, threads: int) -> None:
    """Executed in a child process: one timed unit of work."""
    if variant in ("threads", "processes", "chunk_1024", "no_cluster"):
        import datetime as dt
        from concurrent.futures import ThreadPoolExecutor
        from contextlib import nullcontext

        import dask

        from rasterflow import indices
        from rasterflow.cluster import dask_client
        from rasterflow.scenes import BandFile, Scene

        sc = Scene(
            "bench",
            dt.date(2024, 1, 1),
            {
                "red": BandFile(str(scene), 1, 1e-4, -0.1, 0.0),
                "nir": BandFile(str(scene), 2, 1e-4, -0.1, 0.0),
            },
        )
        # the index rule's first attempt: 2000 MB, so GDAL's cache is the job's (250 MB)
        scheduler = (
            dask.config.set(scheduler="threads", pool=ThreadPoolExecutor(threads))
            if variant == "no_cluster"
            else nullcontext()
        )
        cluster = (
            nullcontext()
            if variant == "no_cluster"
            else dask_client(
                threads=threads, mem_mb=2000, settings={"processes": variant == "processes"}
            )
        )
        with scheduler, cluster:
            indices.run(
                scene=sc,
                expr=indices.parse("NDVI", indices.BUILTIN["NDVI"]),
                output=str(out),
                threads=threads,
                **({"chunk": 1024} if variant == "chunk_1024" else {}),
            )
    elif variant == "io_floor":
        import rasterio

        from rasterflow.io import write_cog

        with rasterio.open(scene) as src:
            data = src.read()
            crs, transform = src.crs, src.transform
        write_cog(
            data[0].astype(np.float32),
            out,
            crs=crs,
            transform=transform,
            nodata=float("nan"),
            threads=threads,
        )
    else:
        raise SystemExit(f"unknown variant {variant}")


def command(variant: str, scene: Path, out: Path, threads: int) -> list[str]:
    if variant.startswith("gdal_calc"):
        creation = DEFLATE if variant == "gdal_calc_deflate" else ours_as_gtiff(threads)
        return [
            "gdal_calc.py",
            "--quiet",
            "--overwrite",
            "-A",
            str(scene),
            "--A_band=2",
            "-B",
            str(scene),
            "--B_band=1",
            "--type=Float32",
            "--NoDataValue=-9999",
            "--calc=(A*1e-4-B*1e-4)/(A*1e-4+B*1e-4-0.2)",
            f"--outfile={out}",
            *[f"--co={c}" for c in creation],
        ]
    if variant == "threads_1":
        variant, threads = "threads", 1
    return [
        sys.executable,
        str(HERE),
        "--variant",
        variant,
        "--scene",
        str(scene),
        "--out",
        str(out),
        "--threads",
        str(threads),
    ]


def check_agreement(scene: Path, outputs: dict[str, Path], *, window: int = 1024) -> str:
    """Raise SystemExit unless every NDVI output equals NumPy's float64 NDVI, rounded to
    float32, in a window at the centre; say what was compared.

    Ours is NaN exactly where NumPy's is not finite; gdal_calc.py writes inf there (and
    where float32 overflows), so its values are compared where both are finite.
    """
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(scene) as src:
        n = min(window, src.width, src.height)
        win = Window((src.width - n) // 2, (src.height - n) // 2, n, n)
        red, nir = (b * 1e-4 - 0.1 for b in src.read(window=win).astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        want = (nir - red) / (nir + red)
    for variant, path in outputs.items():
        with rasterio.open(path) as src:
            got = src.read(1, window=win).astype(np.float64)
        both = np.isfinite(got) & np.isfinite(want)
        if not variant.startswith("gdal_calc") and (both != np.isfinite(want)).any():
            raise SystemExit(f"{variant}: NaN cells are not where NumPy's NDVI is not finite")
        rel = np.abs(got[both] - want[both]) / np.maximum(1, np.abs(want[both]))
        if both.mean() < 0.99 or rel.max() > 1e-6:  # float32 rounds to 6e-8
            raise SystemExit(
                f"{variant}: differs from NumPy's NDVI by up to {rel.max():.1e} "
                f"(relative), {both.mean():.1%} of cells compared"
            )
    return f"{', '.join(outputs)} = NumPy NDVI (rtol 1e-6) on {n} x {n} cells at the centre"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="threads,processes,gdal_calc,gdal_calc_deflate,io_floor")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument(
        "--scene",
        type=Path,
        help="input scene: made at this path if missing, else reused "
        "(must have been made with the same --size)",
    )
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    h.add_json_argument(ap)
    args = ap.parse_args()
    if args.variant:
        run_variant(args.variant, args.scene, args.out, args.threads)
        from rasterflow.step import exit_now

        exit_now()  # as a job's script ends (rasterflow.step.run_step), floor included
    names = args.variants.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        scene = args.scene or Path(tmp) / "scene.tif"
        if not scene.exists():
            make_scene(scene, args.size)

        def output(name: str, number: int) -> Path:
            return Path(tmp) / f"{name}-{number}.tif"

        def keep_first(name: str):  # the first round's outputs: the agreement check's
            return lambda number, _run: None if number == 0 else output(name, number).unlink()

        variants = [
            h.Variant(
                v,
                command=lambda n, v=v: command(v, scene, output(v, n), args.threads),
                after=keep_first(v),
            )
            for v in names
        ]
        ndvi = {v: output(v, 0) for v in names if v != "io_floor"}
        result = h.measure(
            f"NDVI of a {args.size} x {args.size} scene, {args.threads} threads, "
            f"median of {args.runs} runs",
            variants,
            rounds=args.runs,
            reference="threads" if "threads" in names else names[0],
            rates=[h.Rate("Mpx/s", args.size * args.size / 1e6)],
            check=lambda _: check_agreement(scene, ndvi) if ndvi else "no NDVI variant",
        )
    print(result.report())
    h.write_json(args.json, [result], args=args)


if __name__ == "__main__":
    main()
