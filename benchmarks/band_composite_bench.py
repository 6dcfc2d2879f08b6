"""Benchmark rasterflow.band_composite: throughput per core of each band statistic.

Makes a (bands, scenes, size, size) float32 stack of uniform random reflectances with
``--missing`` of the observations gone (NaN in every band), and times
``reduce_bands`` per statistic (medoid, geomedian, quality with a random score) on
this thread: CPU time, best (and median) of ``--repeats`` alternating rounds
(benchmarks/_harness.py), after one small call that compiles the kernel. With
``--geomad`` and the geomad package importable (odc-algo's geometric median; not a
dependency of rasterflow), it times geomad's ``nangeomedian_pcm`` on one
thread with the same eps and maximum iterations, and prints the largest difference
between the two geometric medians.

Prints one row per statistic: ``<name>  <best CPU s>  <Mpx/s per core>``, then the
harness's table of medians.

Measured once on the shared 2-core machine (load ~10), 512^2, 12 scenes, 6 bands:

    medoid      2.5 Mpx/s per core
    geomedian   1.4 Mpx/s per core (geomad 1.0.0: 0.69; largest difference 3e-3)
    quality     5.8 Mpx/s per core
"""

from __future__ import annotations

import argparse

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
import numpy as np

from rasterflow.band_composite import BAND_STATISTICS, BandSpec, reduce_bands


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--bands", type=int, default=6)
    ap.add_argument("--missing", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--geomad", action="store_true")
    h.add_json_argument(ap)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.bands, args.scenes, args.size, args.size)
    stack = rng.random(shape, dtype=np.float32)
    stack[:, rng.random(shape[1:]) < args.missing] = np.nan
    score = rng.random(shape[1:], dtype=np.float32)
    roles = tuple(f"b{i}" for i in range(args.bands))
    px = args.size * args.size
    print(
        f"{args.size}^2 pixels, {args.scenes} scenes, {args.bands} bands, "
        f"{args.missing:.0%} missing; CPU seconds and Mpx/s per core"
    )
    variants = []
    for name in BAND_STATISTICS:
        spec = BandSpec(roles, name, score="s", score_text="b0")
        sc = score if name == "quality" else None
        # compiles the kernel, outside the timings
        reduce_bands(stack[:, :, :4, :4], spec, score=None if sc is None else sc[:, :4, :4])
        variants.append(
            h.Variant(
                name,
                call=lambda _, spec=spec, sc=sc: reduce_bands(stack, spec, score=sc),
                cpu="thread",
            )
        )
    if args.geomad:
        import geomad

        x = np.ascontiguousarray(stack.transpose(2, 3, 0, 1))  # geomad's (y, x, band, time)
        variants.append(
            h.Variant(
                "geomad",
                call=lambda _: geomad.nangeomedian_pcm(x, eps=1e-4, maxiters=1000, num_threads=1),
                cpu="thread",
            )
        )

    def geomedians_agree(result: h.Result) -> str | None:
        if not args.geomad:
            return None
        last = {r.variant: r.value for r in result.runs}
        ours, gm = last["geomedian"][0], np.asarray(last["geomad"]).transpose(2, 0, 1)
        return f"largest difference to geomad: {np.nanmax(np.abs(ours - gm)):.2g}"

    result = h.measure(
        f"{args.size}^2 pixels, {args.scenes} scenes, {args.bands} bands, "
        f"{args.missing:.0%} missing; CPU seconds of this thread",
        variants,
        rounds=args.repeats,
        reference="geomedian" if args.geomad else None,
        rates=[h.Rate("Mpx/s per core", px / 1e6, of="cpu")],
        check=geomedians_agree,
    )
    # the best of the rounds, as this script has always reported: name, CPU s, Mpx/s
    for name in result.names:
        best = min(result.figures(name, "cpu"))
        print(f"{name:10s} {best:.6f} {px / best / 1e6:.2f}")
    print(f"\n{result.report(digits=3)}")
    h.write_json(args.json, [result], args=args)


if __name__ == "__main__":
    main()
