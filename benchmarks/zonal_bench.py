"""Benchmark rasterflow.zonal.run against exactextract and rasterstats on the same data.

The case of issue #6: ``--zones`` star-shaped polygons (default 10,000, 10 to 60
pixels across) over a ``--size`` x ``--size`` float32 GeoTIFF (default 10000; tiled
512, DEFLATE, EPSG:32633, 10 m, a NaN nodata patch), statistics mean, count, min, max.
The script makes its own data (in ``--workdir``, reused when present), then times,
alternately over ``--repeats`` rounds (so drift in machine load hits every engine alike):

* ``ours-coverage``   rasterflow.zonal.run(rule="coverage") on a Dask LocalCluster of
                      ``--threads`` threads (rasterflow.cluster.dask_client, started
                      once, outside the timings, as a heavy step does)
* ``exactextract``    exactextract.exact_extract(path, GeoDataFrame, ...): the plain
                      Python call, single-threaded; our coverage rule's peer
* ``exactextract-rs`` the same with ``strategy="raster-sequential"``
* ``ours-centre``     rasterflow.zonal.run(rule="centre"), same cluster
* ``rasterstats``     rasterstats.zonal_stats(all_touched=False): our centre rule's peer.
                      Minutes at 10,000 zones, so it runs on the first
                      ``--rasterstats-zones`` (default 1,000) and is extrapolated
                      linearly; the output says so.
* ``ee-centre``       (``--ee-centre`` only) the centre rule emulated with exactextract's
                      ``center_x``/``center_y``/``values`` and ``shapely.contains_xy``,
                      the engine considered and rejected for that rule (see
                      rasterflow.zonal.centre's docstring); subsampled like rasterstats.

Every engine reads the zones file inside its timing. Smoke run (seconds):
``benchmarks/zonal_bench.py --size 1000 --zones 200 --repeats 1``.
Figures and the full command: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
import numpy as np

if TYPE_CHECKING:
    import geopandas as gpd

STATS = ["mean", "count", "min", "max"]


def make_raster(path: Path, size: int, *, seed: int = 1) -> None:
    """A smooth float32 field plus noise, with a NaN nodata patch, 10 m in EPSG:32633."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32633",
        "transform": from_origin(500_000.0, 6_000_000.0, 10.0, 10.0),
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "DEFLATE",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            n_rows = min(512, size - row)
            y = np.arange(row, row + n_rows)[:, None] / size
            x = np.arange(size)[None, :] / size
            block = np.sin(6 * x) * np.cos(4 * y) * 100 + rng.normal(0, 5, (n_rows, size))
            block = block.astype(np.float32)
            if row <= size // 2 < row + n_rows:
                block[: min(n_rows, 64), size // 2 : size // 2 + 64] = np.nan
            dst.write(block, 1, window=rasterio.windows.Window(0, row, size, n_rows))


def make_zones(path: Path, n: int, size: int, *, seed: int = 2) -> None:
    """``n`` star-shaped polygons (12 vertices) scattered over the raster, in a GeoPackage."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    extent = size * 10.0
    cx = 500_000.0 + rng.uniform(0, extent, n)
    cy = 6_000_000.0 - rng.uniform(0, extent, n)
    radius = rng.uniform(50, 300, n)  # metres: 10..60 pixels across
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    polys = []
    for i in range(n):
        r = radius[i] * rng.uniform(0.5, 1.0, angles.size)
        polys.append(shapely.Polygon(np.c_[cx[i] + r * np.cos(angles), cy[i] + r * np.sin(angles)]))
    gdf = gpd.GeoDataFrame(
        {"zone": np.arange(n), "name": [f"z{i}" for i in range(n)]},
        geometry=polys,
        crs="EPSG:32633",
    )
    gdf.to_file(path, driver="GPKG", engine="pyogrio")


def ee_centre(raster: Path, gdf: gpd.GeoDataFrame) -> list[dict]:
    """Centre-rule statistics via exactextract cell centres + shapely point-in-polygon."""
    import shapely
    from exactextract import exact_extract

    cells = exact_extract(str(raster), gdf, ["center_x", "center_y", "values"], output="pandas")
    out = []
    for geom, xs, ys, vals in zip(
        gdf.geometry, cells["center_x"], cells["center_y"], cells["values"], strict=True
    ):
        inside = shapely.contains_xy(geom, xs, ys)
        v = np.asarray(vals, dtype=np.float64)[inside]
        v = v[~np.isnan(v)]
        out.append({"count": v.size, "mean": v.mean() if v.size else None})
    return out


def check_agreement(results: dict[str, object], *, subset: int) -> str:
    """Raise SystemExit unless ours gives the peers' statistics; say what was compared.

    rtol 1e-6: the peers average float32 pixels in float32 (rasterstats) or in another
    order (exactextract); the centre rule selects rasterstats' pixels, so counts,
    minima and maxima are exact.
    """
    import pandas as pd

    def compare(ours: pd.DataFrame, ref: pd.DataFrame, *, exact: set[str], what: str) -> None:
        for stat in STATS:
            got = ours[stat].to_numpy(dtype=np.float64)
            want = ref[stat].to_numpy(dtype=np.float64)
            same = (
                len(got) == len(want)
                and np.isclose(
                    got, want, rtol=0 if stat in exact else 1e-6, atol=0, equal_nan=True
                ).all()
            )
            if not same:
                raise SystemExit(f"{what}: {stat} differs: {got[:5]} vs {want[:5]}")

    compare(
        results["ours-coverage"],
        results["exactextract"],
        exact={"min", "max"},
        what="ours-coverage vs exactextract",
    )
    rs = pd.DataFrame(results["rasterstats"], columns=STATS).astype(np.float64)  # None: NaN
    compare(
        pd.DataFrame(results["ours-centre"]).head(subset),
        rs,
        exact={"count", "min", "max"},
        what="ours-centre vs rasterstats",
    )
    return (
        f"ours-coverage = exactextract on all zones, ours-centre = rasterstats on the "
        f"first {subset} (rtol 1e-6, centre counts exact)"
    )


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=10_000, help="raster side in pixels")
    ap.add_argument("--zones", type=int, default=10_000, help="number of polygons")
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    ap.add_argument(
        "--rasterstats-zones",
        type=int,
        default=1000,
        help="polygons rasterstats (and ee-centre) run on; extrapolated",
    )
    ap.add_argument(
        "--threads", type=int, default=2, help="Dask threads for ours (0: no cluster, one thread)"
    )
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--ee-centre", action="store_true", help="also time ee-centre")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the data go (default: a new temporary directory)",
    )
    h.add_json_argument(ap)
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    import geopandas as gpd
    from exactextract import exact_extract
    from rasterstats import zonal_stats

    from rasterflow import zonal

    work = args.workdir or Path(tempfile.mkdtemp(prefix="zonal-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    raster, zones = work / f"r{args.size}.tif", work / f"z{args.zones}_{args.size}.gpkg"
    if not raster.exists():
        make_raster(raster, args.size)
    if not zones.exists():
        make_zones(zones, args.zones, args.size)
    subset = min(args.rasterstats_zones, args.zones)
    scale = args.zones / subset

    def ours(rule: str) -> Callable[[], object]:
        return lambda: zonal.run(
            raster=raster,
            zones=zones,
            id_column="zone",
            outputs={},
            stats=STATS,
            rule=rule,
            batch_size=args.batch_size,
        )

    def ee(strategy: str) -> Callable[[], object]:
        def call() -> object:
            gdf = gpd.read_file(zones, engine="pyogrio")
            return exact_extract(str(raster), gdf, STATS, output="pandas", strategy=strategy)

        return call

    def rs() -> object:
        gdf = gpd.read_file(zones, engine="pyogrio", max_features=subset)
        return zonal_stats(gdf, str(raster), stats=" ".join(STATS), all_touched=False)

    def eec() -> object:
        gdf = gpd.read_file(zones, engine="pyogrio", max_features=subset)
        return ee_centre(raster, gdf)

    extrapolated = f"extrapolated: run on {subset} polygons, x{scale:g}"
    variants = [
        h.Variant("ours-coverage", call=lambda _: ours("coverage")()),
        h.Variant("exactextract", call=lambda _: ee("feature-sequential")()),
        h.Variant("exactextract-rs", call=lambda _: ee("raster-sequential")()),
        h.Variant("ours-centre", call=lambda _: ours("centre")()),
        h.Variant("rasterstats", call=lambda _: rs(), scale=scale, note=extrapolated),
    ]
    if args.ee_centre:
        variants.append(
            h.Variant("ee-centre", call=lambda _: eec(), scale=scale, note=extrapolated)
        )

    def agreement(result: h.Result) -> str:
        last = {r.variant: r.value for r in result.runs}  # each engine's last answer
        return check_agreement(last, subset=subset)

    with contextlib.ExitStack() as stack:
        if args.threads:
            from rasterflow.cluster import dask_client

            stack.enter_context(dask_client(threads=args.threads, mem_mb=4000))
        result = h.measure(
            f"{args.zones} polygons over {args.size}x{args.size} float32 (tiled 512, DEFLATE), "
            f"stats {', '.join(STATS)}; medians of {args.repeats} alternating rounds; ours on "
            f"{args.threads or 1} thread(s), peers single-threaded; data in {work}",
            variants,
            rounds=args.repeats,
            reference="ours-coverage",
            check=agreement,
        )
    print(result.report())

    def ratio(a: str, b: str) -> float:
        return result.ratio(a, to=b)

    ratios = [
        ("ours-coverage / exactextract", ratio("ours-coverage", "exactextract"), "<= 0.5"),
        ("ours-coverage / exactextract-rs", ratio("ours-coverage", "exactextract-rs"), ""),
        ("rasterstats / ours-centre", ratio("rasterstats", "ours-centre"), ">= 20"),
        ("rasterstats / ours-coverage", ratio("rasterstats", "ours-coverage"), ""),
    ]
    if args.ee_centre:
        ratios.append(("ee-centre / ours-centre", ratio("ee-centre", "ours-centre"), ""))
    result.notes["ratios"] = {name: value for name, value, _ in ratios}
    print()
    print(
        h.markdown_table(
            ["wall ratio", "median", "target"], [[n, f"{v:.2f}", t] for n, v, t in ratios]
        )
    )
    h.write_json(args.json, [result], args=args)


if __name__ == "__main__":
    main()
