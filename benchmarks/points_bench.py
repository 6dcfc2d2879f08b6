"""Benchmark rasterflow.points: ``--points`` points over ``--scenes`` synthetic scenes.

Issue #19 asks that 100,000 points over 1,000 scenes stay within minutes on 2 cores.
The script makes its own data in ``--workdir`` (reused when present): ``--scenes``
multiband uint16 GeoTIFFs of ``--size`` x ``--size`` pixels (10 m, EPSG:32633, tiled
512, DEFLATE; bands red, nir, swir2 and an SCL-like mask band; every scene over the
same ground, so every point is on every scene: the worst case), and ``--points``
random points over them in a GeoPackage in EPSG:4326 (so each scene reprojects them).
Then it times, in this process, on one thread (Dask's synchronous scheduler, as a
one-thread heavy job runs), alternately over ``--runs`` rounds (default 1;
benchmarks/_harness.py):

* ``ours-sample`` rasterflow.points.run_scenes over all scenes (one job of ``--scenes``
                  scenes: points read, reprojected per scene, every index computed
                  from the bands in the windows of the blocks holding points, the part
                  table written); ``ours-table``: rasterflow.points.write_table (the
                  long table from that part);
* ``decode``      the floor: every band of every scene read whole, once (no index);
* ``rio-sample``  what a user might write instead: ``rasterio.sample`` of the bands
                  of the first scene at the points (then the index), extrapolated to
                  all scenes.

It prints wall and CPU seconds, points x scenes per CPU second (per core), and the
extrapolation to 1,000 scenes on 2 cores (the work is per scene: jobs of
``points.batch`` scenes run side by side). The raw figures go to ``--json`` (default
``points_bench.json`` in the work folder). Smoke run: ``--points 2000 --scenes 3``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
import numpy as np

ORIGIN = (500_000.0, 6_000_000.0)
RES = 10.0
EXPRESSIONS = {"NDVI": "(nir - red) / (nir + red)", "NBR": "(nir - swir2) / (nir + swir2)"}


def make_scene(path: Path, size: int, seed: int) -> None:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "nodata": 0,
        "transform": from_origin(*ORIGIN, RES, RES),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "DEFLATE",
        "interleave": "pixel",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            n_rows = min(512, size - row)
            red = rng.integers(1200, 2500, (n_rows, size), dtype=np.uint16)
            nir = rng.integers(2500, 6000, (n_rows, size), dtype=np.uint16)
            swir = rng.integers(1500, 3500, (n_rows, size), dtype=np.uint16)
            scl = np.where(rng.random((n_rows, size)) < 0.1, 9, 4).astype(np.uint16)
            dst.write(
                np.stack([red, nir, swir, scl]),
                window=rasterio.windows.Window(0, row, size, n_rows),
            )


def make_points(path: Path, n: int, size: int, seed: int = 7) -> None:
    import geopandas as gpd
    from shapely import points

    rng = np.random.default_rng(seed)
    x = ORIGIN[0] + rng.uniform(0, size * RES, n)
    y = ORIGIN[1] - rng.uniform(0, size * RES, n)
    gdf = gpd.GeoDataFrame(
        {"point_id": np.arange(n)}, geometry=points(x, y), crs="EPSG:32633"
    ).to_crs("EPSG:4326")
    gdf.to_file(path, driver="GPKG", engine="pyogrio")


def scene_params(path: Path, sid: str, day: dt.date) -> dict:
    from rasterflow.scenes import BandFile, Scene

    bands = {
        role: BandFile(str(path), band=b, scale=1e-4, offset=-0.1, nodata=0)
        for role, b in (("red", 1), ("nir", 2), ("swir2", 3))
    }
    return Scene(sid, day, bands, BandFile(str(path), band=4), valid_classes=(4, 5, 6)).to_params()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--scenes", type=int, default=50)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--method", choices=["nearest", "bilinear"], default="nearest")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=1, help="alternating rounds (default 1)")
    h.add_json_argument(parser)
    args = parser.parse_args()

    import dask
    import rasterio

    from rasterflow import points as rp
    from rasterflow.io import close_cached

    work = args.workdir or Path(tempfile.gettempdir()) / "rasterflow-points-bench"
    work.mkdir(parents=True, exist_ok=True)
    pfile = work / f"points-{args.points}-{args.size}.gpkg"
    if not pfile.exists():
        make_points(pfile, args.points, args.size)
    scenes = []
    for i in range(args.scenes):
        path = work / f"scene-{args.size}-{i:04d}.tif"
        if not path.exists():
            make_scene(path, args.size, seed=i)
        scenes.append(scene_params(path, f"s{i:04d}", dt.date(2024, 1, 1) + dt.timedelta(i)))

    import geopandas as gpd

    pts = gpd.read_file(pfile, engine="pyogrio").to_crs("EPSG:32633")
    xy = list(zip(pts.geometry.x, pts.geometry.y, strict=True))
    part, rows = work / "part.parquet", {}

    def sample(_: int) -> None:
        with dask.config.set(scheduler="synchronous"):
            rows["rows"] = rp.run_scenes(
                points_file=str(pfile),
                layer=None,
                id_column="point_id",
                scenes=scenes,
                expressions=EXPRESSIONS,
                output=str(part),
                method=args.method,
                window=1,
                outside="keep",
                resampling="bilinear",
            )

    def table(_: int) -> None:
        with dask.config.set(scheduler="synchronous"):
            rp.write_table(
                points_file=str(pfile),
                layer=None,
                id_column="point_id",
                parts=[str(part)],
                outputs={"parquet": str(work / "table.parquet")},
                params={},
            )
        close_cached()

    def decode(_: int) -> None:
        for params in scenes:
            with rasterio.open(params["bands"]["red"]["path"]) as src:
                src.read()

    def rio_sample(_: int) -> None:
        with rasterio.open(scenes[0]["bands"]["red"]["path"]) as src:
            dn = np.array(list(src.sample(xy, indexes=[1, 2, 3, 4])), dtype=np.float64)
        red, nir = dn[:, 0] * 1e-4 - 0.1, dn[:, 1] * 1e-4 - 0.1
        with np.errstate(all="ignore"):
            np.where(np.isin(dn[:, 3], (4, 5, 6)), (nir - red) / (nir + red), np.nan)

    samples = args.points * args.scenes
    result = h.measure(
        f"points {args.points}, scenes {args.scenes} of {args.size}^2 px, "
        f"{len(EXPRESSIONS)} indices, method {args.method}, one thread, "
        f"median of {args.runs}",
        [
            h.Variant("ours-sample", call=sample),
            h.Variant("ours-table", call=table),
            h.Variant("decode", call=decode, note="the floor"),
            h.Variant("rio-sample", call=rio_sample, scale=args.scenes, note="1 scene, x scenes"),
        ],
        rounds=args.runs,
        reference="decode",
        rates=[h.Rate("point-scenes/CPU s", samples, of="cpu")],
    )
    sample_cpu, table_cpu = result.median("ours-sample", "cpu"), result.median("ours-table", "cpu")
    ours = sample_cpu + table_cpu
    # sampling jobs run side by side on the 2 cores; the one table job joins them alone
    sample_s, table_s = sample_cpu / args.scenes, table_cpu / args.scenes
    minutes = (sample_s * 1000 / 2 + table_s * 1000) / 60
    result.notes.update(rows=rows["rows"], minutes_1000_scenes_2_cores=minutes)
    print(f"{result.title}: {rows['rows']} rows\n\n{result.table()}\n")
    print(
        f"ours: {samples / ours:,.0f} point-scenes per CPU second (one core), "
        f"{ours / args.scenes:.2f} CPU s per scene; sampling alone "
        f"{samples / sample_cpu:,.0f}"
    )
    print(
        f"1,000 scenes x {args.points} points on 2 cores, extrapolated from CPU time: "
        f"{minutes:.1f} min (sampling jobs side by side, the table job alone; job "
        "start-up not counted)"
    )
    h.write_json(args.json or work / "points_bench.json", [result], args=args)


if __name__ == "__main__":
    main()
