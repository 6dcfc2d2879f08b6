"""Benchmark rasterflow.composite.run: throughput per core, and its I/O floor.

For each tile size in ``--sizes`` (default 512 and 1024 pixels, 10 m, EPSG:32633) it
writes ``--scenes`` index COGs (default 6; float32, NaN clouds, DEFLATE, written by
rasterflow.io.write_cog like the index stage's), each a little larger than the tile
and shifted off its grid; with ``--zones 2`` (default) every other scene is in UTM 32,
so half the warps cross CRSs. Then, alternately over ``--repeats`` rounds (so that
drift in machine load hits both alike), it times:

* ``composite``  composite.run: median + count, bilinear, chunk ``--chunk`` (default:
                 none, so composite.auto_chunk sizes it, as in a job), on a Dask
                 LocalCluster of ``--threads`` threads (rasterflow.cluster.dask_client,
                 started once, outside the timing)
* ``io-floor``   what any implementation must do: read every input in full (decode)
                 and write the composite's own two products with write_cog and the
                 same creation options, from arrays already in memory

and prints medians, megapixels per second per core (output pixels; x scenes for input
pixels), and composite / io-floor. ``--gdal-too`` also times the composite with every
scene through GDAL's warper instead of the compiled kernel (rasterflow._warp_kernel;
as before it existed) and compares the two composites (equal counts; the statistic's
largest difference and share of differing pixels); ``--exact-too`` times it with GDAL's
warper and exact transformer (one PROJ call per pixel, as before warp.polynomial_vrt);
``--parts`` times the parts alone (headers, GDAL's and the kernel's warp per kind of
scene, reading one input, a fused block, NumPy's reduction). ``--kernel`` times the
compiled kernel alone (rasterflow._warp_kernel.composite_chunk, CPU time of this thread)
on in-memory scenes with clouds, per statistic, and, with ``--kernel-file OLD.py``, a
copy of another version of that module beside it, checking that both give the same
pixels (e.g. ``git show REV:src/rasterflow/_warp_kernel.py > /tmp/old_kernel.py``).

Measured on the quiet 2-core machine, 6 scenes, two UTM zones, medians of 5 (3)
rounds, chunk auto (docs/benchmarks.md has the tables):

    512^2, 1 thread:    0.097 s, io-floor 0.043 s, x2.2
    1024^2, 1 thread:   0.208 s, io-floor 0.119 s, x1.7
    2048^2, 2 threads:  0.463 s, io-floor 0.341 s, x1.4 (the default composite job)

The kernel warps a scene's 512^2 block in ~7 ms with its window read cold (GDAL's
warper 15-17 ms), ~7 ns of CPU a sample; it, the headers (~9 ms a job) and Dask's
per-task cost are what separate the composite from its floor. Absolute times on a
loaded machine mean little; the ratio to the I/O floor is what to compare.

Run: ``.venv/bin/python benchmarks/composite_bench.py [--sizes 512 1024] [--scenes 6]
[--threads 1] [--repeats 5] [--chunk N] [--zones 2] [--gdal-too] [--exact-too]
[--parts] [--kernel [--kernel-file OLD.py]]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
import numpy as np


def make_scenes(root: Path, tile, *, scenes: int, zones: int, seed: int = 1) -> list[str]:
    """``scenes`` float32 index COGs around ``tile`` with cloud blobs, DATE/SCENE tags."""
    from odc.geo.geobox import GeoBox
    from rasterio.transform import from_origin

    from rasterflow.io import write_cog

    rng = np.random.default_rng(seed)
    ny, nx = tile.shape.yx
    paths = []
    for i in range(scenes):
        crs = "EPSG:32632" if zones == 2 and i % 2 else "EPSG:32633"
        ext = tile.extent.to_crs(crs).boundingbox
        # 5 % larger than the tile on each side, off its pixel grid by a few metres
        x0, y0 = ext.left - 0.05 * nx * 10 + 3.3 * (i + 1), ext.top + 0.05 * ny * 10 - 1.7 * i
        height, w = int(ny * 1.1) + 8, int(nx * 1.1) + 8
        box = GeoBox((height, w), from_origin(x0, y0, 10, 10), crs)
        rows, cols = np.mgrid[:height, :w]
        data = (
            0.4
            + 0.3 * np.sin(7 * cols / w + i) * np.cos(5 * rows / height)
            + rng.normal(0, 0.05, (height, w))
        ).astype(np.float32)
        for _ in range(6):  # clouds
            cy, cx, r = (
                rng.integers(0, height),
                rng.integers(0, w),
                rng.integers(height // 20, height // 6),
            )
            data[(rows - cy) ** 2 + (cols - cx) ** 2 < r**2] = np.nan
        path = root / f"scene{i}.tif"
        write_cog(
            data,
            path,
            crs=box.crs.to_wkt(),
            transform=box.affine,
            nodata=np.nan,
            tags={"DATE": f"2024-06-{i + 1:02d}", "SCENE": f"S{i}"},
            band_names=["NDVI"],
        )
        paths.append(str(path))
    return paths


def time_composite(
    paths: list[str],
    tile,
    out: Path,
    *,
    chunk: int | None,
    threads: int,
    exact: bool = False,
    gdal: bool = False,
) -> h.Measured:
    """composite.run, timed (wall, CPU of this process); ``gdal``: every scene through
    GDAL's warper (no compiled kernel), as before rasterflow._warp_kernel; ``exact``:
    that, and GDAL's exact transformer, as before the polynomial one
    (warp.polynomial_vrt) existed."""
    from contextlib import ExitStack
    from unittest import mock

    from rasterflow import composite

    with ExitStack() as patches:
        if gdal or exact:
            patches.enter_context(
                mock.patch("rasterflow.composite._sources._kernel_warp", return_value=None)
            )
        if exact:
            patches.enter_context(mock.patch("rasterflow.warp.polynomial_vrt", return_value=None))
        start, cpu = time.perf_counter(), time.process_time()
        composite.run(
            inputs=paths,
            tile=tile,
            output=str(out / "c.tif"),
            count_output=str(out / "n.tif"),
            statistic="median",
            resampling="bilinear",
            chunk=chunk,
            threads=threads,
        )
        return h.Measured(time.perf_counter() - start, time.process_time() - cpu)


def time_io_floor(paths: list[str], tile, out: Path, *, threads: int) -> h.Measured:
    """Read every input in full, write the composite's own two products (already made),
    timed (loading those products is not)."""
    import rasterio

    from rasterflow.io import write_cog

    # the very pixels the composite wrote: random values would compress differently
    # (they took ~10 % longer to write than the real products here)
    with rasterio.open(out / "c.tif") as a, rasterio.open(out / "n.tif") as b:
        stat, count = a.read(1), b.read(1)
    start, cpu = time.perf_counter(), time.process_time()
    for p in paths:
        with rasterio.open(p) as src:
            src.read(1)
    write_cog(
        stat,
        out / "f.tif",
        crs=tile.crs.to_wkt(),
        transform=tile.affine,
        nodata=np.nan,
        threads=threads,
    )
    write_cog(
        count,
        out / "g.tif",
        crs=tile.crs.to_wkt(),
        transform=tile.affine,
        nodata=None,
        threads=threads,
    )
    return h.Measured(time.perf_counter() - start, time.process_time() - cpu)


def time_parts(paths: list[str], tile, *, chunk: int, repeats: int) -> dict[str, float]:
    """Medians of what one composite is made of, each part alone, on this thread.

    ``headers`` is inspect_sources (headers, footprints, GCP lattices, polynomials);
    ``GDAL warp ...`` is GDAL's warper (read_onto, what sources the kernel cannot take
    go through) and ``kernel warp ...`` the compiled kernel with its window read, per
    scene and chunk-sized block; ``fused block`` is what a task of the default path
    does for one block of all scenes (windows read, warped and reduced in one pass);
    ``reduce`` is NumPy's median + count of one block's stack (the fallback path).
    """
    import rasterio

    from rasterflow.composite import inspect_sources, parse_statistic, reduce_stack
    from rasterflow.composite._blocks import _fused_block, _kernel_warp_one
    from rasterflow.io import close_cached
    from rasterflow.warp import read_onto

    def median_time(fn) -> float:
        times = []
        for _ in range(repeats):
            # cold, as in a job: no source left open from the last call, so none of its
            # decoded blocks are still in GDAL's cache
            close_cached()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    block = tile[:chunk, :chunk]
    rows, cols = (0, min(chunk, tile.shape.y)), (0, min(chunk, tile.shape.x))
    sources = inspect_sources(paths, tile)
    parts = {"headers": median_time(lambda: inspect_sources(paths, tile))}
    for kind, wanted in (("same CRS", False), ("other CRS", True)):
        picked = [s for s in sources if (s.vrt is not None) == wanted]
        if picked:
            s = picked[0]
            parts[f"GDAL warp {kind}"] = median_time(
                lambda s=s: read_onto(
                    s.path,
                    block,
                    resampling="bilinear",
                    dtype=np.float32,
                    fill=np.nan,
                    scale=s.scale,
                    vrt=s.vrt,
                )
            )
            if s.kernel is not None:
                parts[f"kernel warp {kind}"] = median_time(
                    lambda s=s: _kernel_warp_one(s, tile, rows, cols)
                )

    def read_one() -> None:
        with rasterio.open(sources[0].path) as src:
            src.read(1)

    parts["read one input"] = median_time(read_one)
    median = parse_statistic("median")
    if all(s.kernel is not None for s in sources):
        parts["fused block"] = median_time(
            lambda: _fused_block(tuple(sources), tile, median, rows, cols)
        )
    stack = np.stack(
        [
            read_onto(
                s.path,
                block,
                resampling="bilinear",
                dtype=np.float32,
                fill=np.nan,
                scale=s.scale,
                vrt=s.vrt,
            )[0]
            for s in sources
        ]
    )
    parts["reduce"] = median_time(lambda: reduce_stack(stack, median))
    return parts


def check_outputs(paths: list[str], tile, out: Path) -> str:
    """Raise SystemExit unless the composite and its count are valid COGs on the tile's
    grid, the count is 0..scenes, the composite is NaN exactly where the count is 0 and
    within the inputs' range elsewhere (a median of bilinear samples cannot leave it)."""
    import rasterio
    from rio_cogeo.cogeo import cog_validate

    low, high = np.inf, -np.inf
    for p in paths:
        with rasterio.open(p) as src:
            data = src.read(1)
        low, high = min(low, np.nanmin(data)), max(high, np.nanmax(data))
    arrays = []
    for name in ("c.tif", "n.tif"):
        valid, errors, _ = cog_validate(str(out / name), quiet=True)
        with rasterio.open(out / name) as src:
            if not valid or (src.shape, src.transform) != (tile.shape.yx, tile.affine):
                raise SystemExit(f"{name}: not a valid COG on the tile's grid: {errors}")
            arrays.append(src.read(1))
    stat, count = arrays
    empty = count == 0
    problems = {
        "count outside 0..scenes": ((count < 0) | (count > len(paths))).any(),
        "NaN not exactly where the count is 0": (np.isnan(stat) != empty).any(),
        "values outside the inputs' range": ((stat[~empty] < low) | (stat[~empty] > high)).any(),
        "no pixel seen by every scene": not (count == len(paths)).any(),
    }
    wrong = [k for k, v in problems.items() if v]
    if wrong:
        raise SystemExit(f"composite outputs in {out}: {', '.join(wrong)}")
    return "valid COGs on the tile, count 0..scenes, NaN iff count 0, within input range"


def agreement_with_gdal(paths: list[str], tile, out: Path, *, chunk: int | None) -> str:
    """The kernel's composite (``out``/c.tif, n.tif) against one made with GDAL's warper
    for every scene: the counts must be equal; the statistic's largest difference and
    share of differing pixels are reported."""
    import rasterio

    ref = out / "gdal"
    ref.mkdir(exist_ok=True)
    time_composite(paths, tile, ref, chunk=chunk, threads=1, gdal=True)
    arrays = {}
    for where in (out, ref):
        for name in ("c.tif", "n.tif"):
            with rasterio.open(where / name) as src:
                arrays[where, name] = src.read(1)
    if not np.array_equal(arrays[out, "n.tif"], arrays[ref, "n.tif"]):
        raise SystemExit("composite: the kernel's count differs from GDAL's warper's")
    ours, theirs = arrays[out, "c.tif"], arrays[ref, "c.tif"]
    valid = ~np.isnan(theirs)
    diff = np.abs(ours[valid] - theirs[valid])
    return (
        f"max |diff| {diff.max():.3g}, {(diff > 0).mean() * 100:.4f} % of "
        "pixels differ, counts equal"
    )


def time_kernel(
    size: int, scenes: int, *, repeats: int, other: str | None
) -> tuple[list[str], list[h.Result]]:
    """Lines of CPU times of composite_chunk on ``scenes`` in-memory float32 scenes with
    NaN clouds, same CRS, shifted off a ``size``² grid by a fraction of a pixel; per
    statistic, the best of ``repeats`` alternating rounds (and the harness's results);
    with ``other`` (a copy of another version of
    rasterflow/_warp_kernel.py) that version beside it and whether the pixels agree."""
    import importlib.util

    from rasterflow import _warp_kernel

    kernels = {"this": _warp_kernel}
    if other:
        # by its own name: numba's cache beside the file refers to the module so
        name = Path(other).stem
        spec = importlib.util.spec_from_file_location(name, other)
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        kernels["other"] = module
    rng = np.random.default_rng(0)
    ny = w = int(size * 1.1) + 8
    rows, cols = np.mgrid[:ny, :w]
    bufs, params = [], np.zeros((scenes, _warp_kernel.N_PARAMS))
    for s in range(scenes):
        data = (0.4 + rng.normal(0, 0.1, (ny, w))).astype(np.float32)
        for _ in range(6):
            cy, cx, r = rng.integers(0, ny), rng.integers(0, w), rng.integers(ny // 20, ny // 6)
            data[(rows - cy) ** 2 + (cols - cx) ** 2 < r * r] = np.nan
        bufs.append(data.ravel())
        # inverse geotransform of a source 5 % larger, shifted by 0.33 / 0.17 pixel * s
        ox, oy = -0.05 * size * 10 + 3.3 * (s + 1), 0.05 * size * 10 - 1.7 * s
        params[s, :6] = [-ox / 10, 0.1, 0.0, oy / 10, 0.0, -0.1]
    gt = np.array([0.0, 10.0, 0.0, 0.0, 0.0, -10.0])
    args = (
        np.concatenate(bufs),
        np.arange(scenes, dtype=np.int64) * ny * w,
        np.tile(np.array([0, 0, w, ny], dtype=np.int64), (scenes, 1)),
        np.tile(np.array([w, ny], dtype=np.int64), (scenes, 1)),
        np.zeros(scenes, dtype=np.int64),
        params,
        np.full(scenes, np.nan),
        np.ones(scenes, dtype=np.bool_),
        gt,
        0,
        0,
    )
    lines, results = [], []
    samples = scenes * size * size
    for stat in ("median", "percentile", "mean"):
        code, outputs = _warp_kernel.STAT_CODES[stat], {}
        variants = []
        for name, k in kernels.items():
            out = outputs[name] = (
                np.empty((size, size), np.float32),
                np.empty((size, size), np.uint16),
            )
            k.composite_chunk(*args, code, 90.0, *out)  # compiles on first use
            variants.append(
                h.Variant(
                    name,
                    call=lambda _, k=k, out=out, c=code: k.composite_chunk(*args, c, 90.0, *out),
                    cpu="thread",
                )
            )

        def same_pixels(_: h.Result, outputs=outputs) -> str | None:
            if "other" not in outputs:
                return None
            same = all(
                np.array_equal(a, b, equal_nan=True)
                for a, b in zip(outputs["this"], outputs["other"], strict=True)
            )
            return f"same pixels: {same}"

        result = h.measure(
            f"kernel {stat}: {scenes} scenes on {size} x {size}, in memory, one thread",
            variants,
            rounds=repeats,
            reference="this",
            rates=[h.Rate("Gsamples/s (CPU)", samples / 1e9, of="cpu")],
            check=same_pixels,
        )
        results.append(result)
        best = {n: min(result.figures(n, "cpu")) for n in result.names}
        line = (
            f"  kernel {stat:10s}: {best['this'] * 1e3:7.1f} ms CPU = "
            f"{best['this'] / samples * 1e9:5.2f} ns a sample"
        )
        if other:
            line += (
                f"; other {best['other'] * 1e3:7.1f} ms, "
                f"x{best['other'] / best['this']:.2f}; {result.agreement}"
            )
        lines.append(line)
    return lines, results


def measure_size(
    paths: list[str], tile, work: Path, *, size: int, args: argparse.Namespace
) -> h.Result:
    """The composite of one tile size against its I/O floor (and the GDAL variants
    asked for), alternating over ``args.repeats`` rounds; its outputs checked."""
    options = {"chunk": args.chunk, "threads": args.threads}
    variants = []
    if args.exact_too:
        variants.append(
            h.Variant(
                "exact-transformer",
                call=lambda _: time_composite(paths, tile, work, **options, exact=True),
                note="GDAL's warper and exact transformer",
            )
        )
    if args.gdal_too:
        variants.append(
            h.Variant(
                "gdal-warper",
                call=lambda _: time_composite(paths, tile, work, **options, gdal=True),
                note="GDAL's warper for every scene",
            )
        )
    variants += [
        h.Variant("composite", call=lambda _: time_composite(paths, tile, work, **options)),
        h.Variant(
            "io-floor",
            call=lambda _: time_io_floor(paths, tile, work, threads=args.threads),
        ),
    ]
    mpix = size * size / 1e6

    def outputs(_: h.Result) -> str:
        text = check_outputs(paths, tile, work)
        if args.gdal_too:
            text += "; the kernel's composite vs GDAL's warper's: " + agreement_with_gdal(
                paths, tile, work, chunk=args.chunk
            )
        return text

    result = h.measure(
        f"{size} x {size}: composite vs its I/O floor, median of {args.repeats} rounds",
        variants,
        rounds=args.repeats,
        reference="io-floor",
        rates=[
            h.Rate("MP/s/core out", mpix / args.threads),
            h.Rate("MP/s/core in", mpix * args.scenes / args.threads),
        ],
        check=outputs,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="chunk side (default: composite.auto_chunk's, as in a job)",
    )
    parser.add_argument("--zones", type=int, choices=[1, 2], default=2)
    parser.add_argument(
        "--exact-too",
        action="store_true",
        help="also time the composite with GDAL's exact transformer only",
    )
    parser.add_argument(
        "--gdal-too",
        action="store_true",
        help="also time the composite with GDAL's warper for every scene",
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="also time the parts of one composite (headers, warps, reduce)",
    )
    parser.add_argument(
        "--kernel",
        action="store_true",
        help="time the compiled kernel alone, per statistic, instead",
    )
    parser.add_argument(
        "--kernel-file",
        default=None,
        help="with --kernel: another version of _warp_kernel.py to compare",
    )
    h.add_json_argument(parser)
    args = parser.parse_args()
    if args.kernel:
        kernel_results = []
        for size in args.sizes:
            print(f"{args.scenes} scenes on {size} x {size}, in memory, one thread")
            lines, got = time_kernel(
                size, args.scenes, repeats=args.repeats, other=args.kernel_file
            )
            print("\n".join(lines))
            kernel_results += got
        print("\n" + "\n".join(r.report(digits=4) for r in kernel_results))
        h.write_json(args.json, kernel_results, args=args)
        return

    from odc.geo.geobox import GeoBox
    from rasterio.transform import from_origin

    from rasterflow.cluster import dask_client

    with (
        tempfile.TemporaryDirectory() as tmp,
        dask_client(threads=args.threads, mem_mb=4000, settings={"processes": False}),
    ):
        root = Path(tmp)
        print(
            f"{args.scenes} scenes, {args.threads} thread(s), chunk {args.chunk or 'auto'}, "
            f"{'two UTM zones' if args.zones == 2 else 'one UTM zone'}, "
            f"medians of {args.repeats} rounds\n"
        )
        results = []
        for size in args.sizes:
            tile = GeoBox((size, size), from_origin(300_000, 5_000_000, 10, 10), "EPSG:32633")
            work = root / str(size)
            work.mkdir()
            paths = make_scenes(work, tile, scenes=args.scenes, zones=args.zones)
            time_composite(paths, tile, work, chunk=args.chunk, threads=args.threads)  # warm
            result = measure_size(paths, tile, work, size=size, args=args)
            if args.parts:
                parts = time_parts(paths, tile, chunk=args.chunk or 512, repeats=args.repeats)
                result.notes["parts"] = parts
            results.append(result)
            print(result.report(digits=3))
            if args.parts:
                print("parts: " + ", ".join(f"{k} {v:.4f} s" for k, v in parts.items()) + "\n")
    h.write_json(args.json, results, args=args)


if __name__ == "__main__":
    main()
