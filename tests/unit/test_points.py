"""Point sampling (rasterflow.points) against rasterio.sample, SciPy and the index rasters
the index stage writes (against gdallocationinfo: tests/integration/test_points_reference.py)."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rasterio
from cases.points import ORIGIN, RES, pointset, random_points, raster
from helpers import write_raster
from rasterio.transform import from_origin
from scipy import ndimage
from shapely.geometry import LineString, Point

from rasterflow import points as rp
from rasterflow.errors import ConfigError, InputDataError


def _rasterio_sample(path, x, y):
    """rasterio.sample's value and validity (masked: nodata or off the raster)."""
    with rasterio.open(path) as src:
        got = np.ma.array(list(src.sample(zip(x, y, strict=True), masked=True)))[:, 0]
        inside = np.array(
            [
                0 <= c < src.width and 0 <= r < src.height
                for r, c in (src.index(a, b) for a, b in zip(x, y, strict=True))
            ]
        )
    return np.ma.filled(got.astype(np.float64), np.nan), inside


def test_nearest_equals_rasterio_sample_with_nodata_and_points_outside(tmp_path):
    path, _data = raster(tmp_path)
    x, y = random_points(5000, (300, 700), margin=0.2)
    got = rp.sample_raster(str(path), pointset(x, y), spec=rp.SampleSpec("nearest"))
    want, inside = _rasterio_sample(path, x, y)
    assert (~inside).sum() > 1000 and np.isnan(want[inside]).sum() > 100  # both cases occur
    np.testing.assert_array_equal(got.values[0], want)  # NaN where nodata or outside
    np.testing.assert_array_equal(got.inside, inside)
    np.testing.assert_array_equal(got.valid[0], np.isfinite(want))


def test_nearest_reads_only_the_blocks_that_hold_points(tmp_path):
    _path, data = raster(tmp_path, shape=(2048, 2048), holes=False)
    # two clusters of points, far apart: two small windows, not the raster
    x = ORIGIN[0] + np.r_[np.linspace(100, 200, 50), np.linspace(15000, 15100, 50)]
    y = ORIGIN[1] - np.r_[np.linspace(100, 200, 50), np.linspace(18000, 18100, 50)]
    windows = []

    def read(window):
        windows.append(window)
        x0, y0, w, h = window
        return data[None, y0 : y0 + h, x0 : x0 + w]

    got = rp.sample(
        x,
        y,
        shape=data.shape,
        affine=from_origin(*ORIGIN, RES, RES),
        read=read,
        products=1,
        spec=rp.SampleSpec(),
    )
    assert len(windows) == 2 and sum(w * h for _x, _y, w, h in windows) < 2 * 12 * 12
    cols, rows = ((x - ORIGIN[0]) // RES).astype(int), ((ORIGIN[1] - y) // RES).astype(int)
    np.testing.assert_array_equal(got.values[0], data[rows, cols])


def test_bilinear_equals_scipy_with_gdal_pixel_centres(tmp_path):
    path, data = raster(tmp_path, holes=False)
    x, y = random_points(5000, data.shape, margin=0.05)
    got = rp.sample_raster(str(path), pointset(x, y), spec=rp.SampleSpec("bilinear"))
    col, row = (x - ORIGIN[0]) / RES, (ORIGIN[1] - y) / RES
    inside = (col >= 0) & (col < data.shape[1]) & (row >= 0) & (row < data.shape[0])
    # pixel (r, c)'s value sits at its centre, (c + 0.5, r + 0.5) in pixel coordinates;
    # within half a pixel of the edge the edge pixel stands in (mode="nearest")
    want = ndimage.map_coordinates(
        data.astype(np.float64), [row[inside] - 0.5, col[inside] - 0.5], order=1, mode="nearest"
    )
    # to rounding: the pixel coordinates (~5e4 from metres ~5e5) are computed apart; a
    # half-pixel convention error would differ by ~0.5 (the values are N(0, 1))
    np.testing.assert_allclose(got.values[0, inside], want, rtol=0, atol=1e-9)
    assert np.isnan(got.values[0, ~inside]).all() and (~inside).sum() > 100


def test_bilinear_by_hand_and_at_pixel_centres_equals_nearest(tmp_path):
    data = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]], dtype=np.float32)
    path = write_raster(tmp_path / "s.tif", data, origin=ORIGIN, res=RES, nodata=-1.0)
    # a quarter pixel right of and below the centre of pixel (0, 0), (0.75, 0.75) in
    # pixel coordinates: 0.75 * 0.75 * 1 + 0.25 * 0.75 * 2 + 0.75 * 0.25 * 3 + 1/16 * 5
    x, y = ORIGIN[0] + 7.5, ORIGIN[1] - 7.5
    centres_x = ORIGIN[0] + (np.arange(3) + 0.5) * RES
    got = rp.sample_raster(
        str(path),
        pointset([x, *centres_x], [y, *[ORIGIN[1] - 15] * 3]),
        spec=rp.SampleSpec("bilinear"),
    )
    assert got.values[0, 0] == pytest.approx(0.5625 + 0.375 + 0.5625 + 0.3125)
    np.testing.assert_array_equal(got.values[0, 1:], data[1])


def test_bilinear_next_to_nodata_is_nodata_unless_its_weight_is_zero(tmp_path):
    data = np.ones((4, 4), dtype=np.float32)
    data[1, 2] = -9999.0
    path = write_raster(tmp_path / "n.tif", data, origin=ORIGIN, res=RES, nodata=-9999.0)
    # pixel coordinates: between centres of (1,1) and (1,2); on the centre of (1,1);
    # between (2,0) and (3,1), far from the hole
    cols, rows = np.array([2.0, 1.5, 1.0]), np.array([1.5, 1.5, 3.0])
    got = rp.sample_raster(
        str(path),
        pointset(ORIGIN[0] + cols * RES, ORIGIN[1] - rows * RES),
        spec=rp.SampleSpec("bilinear"),
    )
    assert np.isnan(got.values[0, 0]) and got.values[0, 1] == 1.0 and got.values[0, 2] == 1.0
    np.testing.assert_array_equal(got.valid[0], [False, True, True])
    assert got.inside.all()


def test_window_mean_equals_scipy_nanmean_filter(tmp_path):
    path, _data = raster(tmp_path, holes=True)
    with rasterio.open(path) as src:
        data = src.read(1, masked=True).filled(np.nan).astype(np.float64)
    x, y = random_points(3000, data.shape)
    got = rp.sample_raster(str(path), pointset(x, y), spec=rp.SampleSpec("nearest", 5))
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
            mean = ndimage.generic_filter(data, np.nanmean, size=5, mode="constant", cval=np.nan)
    cols, rows = ((x - ORIGIN[0]) // RES).astype(int), ((ORIGIN[1] - y) // RES).astype(int)
    np.testing.assert_allclose(got.values[0], mean[rows, cols], rtol=1e-12, atol=1e-12)


def test_the_sampled_index_is_the_index_rasters_pixel(tmp_path, demo_data):
    """A scene's sampled indices (computed where the points are, from its bands: a 10 m
    nir, a 20 m swir2 warped, a 20 m mask) are the pixels indices.run_all writes."""
    import yaml
    from helpers import REPO

    from rasterflow import indices
    from rasterflow.scenes import load_scenes

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    scenes = load_scenes(
        demo_data / "scenes.csv", bands=cfg["scenes"]["bands"], mask=cfg["scenes"]["mask"]
    )
    exprs = list(
        indices.resolve(
            ["NDVI", "NBR", "MSAVI"], cfg["custom_indices"], roles=set(cfg["scenes"]["bands"])
        ).values()
    )
    for sid in ("A_20240512", "B_20240517"):  # a multiband file; a SAFE-like folder
        scene = scenes[sid]
        outputs = [str(tmp_path / f"{sid}_{e.name}.tif") for e in exprs]
        indices.run_all(scene=scene, exprs=exprs, outputs=outputs, chunk=128)
        with rasterio.open(outputs[0]) as src:
            bounds = src.bounds
        rng = np.random.default_rng(3)
        x = rng.uniform(bounds.left - 500, bounds.right + 500, 2000)
        y = rng.uniform(bounds.bottom - 500, bounds.top + 500, 2000)
        got = rp.sample_scene(
            scene,
            exprs,
            pointset(x, y, "EPSG:3067"),
            spec=rp.SampleSpec(),
            resampling="bilinear",
            block=64,
        )
        for i, out in enumerate(outputs):
            want, inside = _rasterio_sample(out, x, y)
            assert np.isfinite(want).sum() > 500 and np.isnan(want[inside]).sum() > 50
            np.testing.assert_array_equal(got.values[i], want)  # bit for bit
            np.testing.assert_array_equal(got.inside, inside)
        # bilinear and window means of the scene in 64 px blocks (neighbours across
        # blocks, 20 m bands warped per window): those of its index rasters, whose
        # bilinear and window means are checked against SciPy above
        for spec in (rp.SampleSpec("bilinear"), rp.SampleSpec("nearest", 3)):
            got = rp.sample_scene(
                scene,
                exprs,
                pointset(x, y, "EPSG:3067"),
                spec=spec,
                resampling="bilinear",
                block=64,
            )
            for i, out in enumerate(outputs):
                want = rp.sample_raster(out, pointset(x, y, "EPSG:3067"), spec=spec)
                np.testing.assert_array_equal(got.values[i], want.values[0])


def _points_file(tmp_path, geoms, ids, crs="EPSG:4326", name="p.gpkg", **columns):
    gdf = gpd.GeoDataFrame({"point_id": ids, **columns}, geometry=geoms, crs=crs)
    path = tmp_path / name
    gdf.to_file(path, engine="pyogrio")
    return path


def test_read_points_errors_name_the_key_and_the_fix(tmp_path):
    good = _points_file(tmp_path, [Point(24, 60), Point(25, 61)], [1, 2])
    with pytest.raises(
        InputDataError,
        match=r"points.id_column: .* has no column 'pid' "
        r"\(columns: point_id\)\. Set points.id_column to one of these",
    ):
        rp.read_points(good, id_column="pid")
    dup = _points_file(tmp_path, [Point(24, 60), Point(25, 61)], [1, 1], name="d.gpkg")
    with pytest.raises(InputDataError, match=r"is not unique: 1 occur more than once"):
        rp.read_points(dup)
    line = _points_file(
        tmp_path, [Point(24, 60), LineString([(0, 0), (1, 1)])], [1, 2], name="l.geojson"
    )
    with pytest.raises(
        InputDataError,
        match=r"1 feature\(s\) of .* are not points "
        r"\(LineString; ids 2\)",
    ):
        rp.read_points(line)
    clash = _points_file(tmp_path, [Point(24, 60)], [1], name="c.gpkg", value=[3.0])
    with pytest.raises(
        InputDataError,
        match=r"has column\(s\) value, which the long table "
        r"uses itself",
    ):
        rp.read_points(clash)
    with pytest.raises(InputDataError, match=r"points.file: .*nowhere.gpkg not found"):
        rp.read_points(tmp_path / "nowhere.gpkg")


def test_window_and_method_are_checked_in_the_config():
    from rasterflow.settings import check_points

    with pytest.raises(ConfigError, match=r"points.window: 4 is even.*use an odd side"):
        check_points({"window": 4, "method": "nearest"})
    with pytest.raises(ConfigError, match=r"needs points.method: nearest"):
        check_points({"window": 3, "method": "bilinear"})
    check_points({"window": 3, "method": "nearest"})


def test_long_table_keeps_every_point_with_attributes_and_geometry(tmp_path):
    path, _data = raster(tmp_path)
    inside = Point(ORIGIN[0] + 55, ORIGIN[1] - 55)
    outside = Point(ORIGIN[0] - 5000, ORIGIN[1])
    pfile = _points_file(
        tmp_path,
        [inside, outside],
        ["a", "b"],
        crs="EPSG:32633",
        name="pts.gpkg",
        name_=["in", "out"],
    )
    parts = []
    for keep in ("keep", "drop"):
        part = tmp_path / f"part-{keep}.parquet"
        rp.run_rasters(
            points_file=str(pfile),
            layer=None,
            id_column="point_id",
            rasters={"X": str(path), "Y": str(path)},
            kind="period",
            source="2024-JJA",
            date="2024-06-01",
            output=str(part),
            method="nearest",
            window=1,
            outside=keep,
        )
        parts.append(part)
    assert len(pq.read_table(parts[0])) == 4 and len(pq.read_table(parts[1])) == 2
    outputs = {"parquet": str(tmp_path / "t.parquet"), "csv": str(tmp_path / "t.csv")}
    rows = rp.write_table(
        points_file=str(pfile),
        layer=None,
        id_column="point_id",
        parts=[str(parts[0])],
        outputs=outputs,
        params={"method": "nearest"},
    )
    table = gpd.read_parquet(outputs["parquet"])
    assert rows == 4 and table.crs.to_epsg() == 32633
    assert list(table.columns) == ["point_id", "name_", *rp.COLUMNS, "geometry"]
    want, _inside = _rasterio_sample(path, [inside.x, outside.x], [inside.y, outside.y])
    assert table["point_id"].tolist() == ["a", "b", "a", "b"]
    np.testing.assert_array_equal(table["value"], np.r_[want, want])
    assert table["valid"].tolist() == [True, False, True, False]
    assert table.geometry.iloc[1].equals(outside)
    assert table["date"].iloc[0] == dt.date(2024, 6, 1)
    csv = pd.read_csv(outputs["csv"], dtype={"point_id": str})
    assert csv.shape == (4, 2 + len(rp.COLUMNS)) and csv["value"].isna().sum() == 2


def test_report_figure_and_stac_item_of_the_table(tmp_path):
    from rasterflow import report, stac

    path, _data = raster(tmp_path)
    pfile = _points_file(
        tmp_path,
        [Point(ORIGIN[0] + 55 + 40 * i, ORIGIN[1] - 55) for i in range(3)],
        [1, 2, 3],
        crs="EPSG:32633",
    )
    parts = []
    for i, period in enumerate(("2024-MAM", "2024-JJA")):
        parts.append(str(tmp_path / f"{period}.parquet"))
        rp.run_rasters(
            points_file=str(pfile),
            layer=None,
            id_column="point_id",
            rasters={"X": str(path)},
            kind="period",
            source=period,
            date=f"2024-0{3 + 3 * i}-01",
            output=parts[-1],
            method="nearest",
            window=1,
            outside="keep",
        )
    table = tmp_path / "t.parquet"
    rp.write_table(
        points_file=str(pfile),
        layer=None,
        id_column="point_id",
        parts=parts,
        outputs={"parquet": str(table)},
        params={},
    )
    assert report.series_points(table, id_column="point_id", limit=2) == [1, 2]
    png = report.plot_point_series(table, tmp_path / "fig.png", id_column="point_id")
    lines = report.plot_point_series(
        table,
        tmp_path / "lines.png",
        id_column="point_id",
        periods={
            "2024-MAM": ("2024-03-01", "2024-05-31"),
            "2024-JJA": ("2024-06-01", "2024-08-31"),
        },
    )
    assert png.stat().st_size > 10_000 and lines.read_bytes() != png.read_bytes()
    item = stac.make_table_item(
        stac.Product(
            str(table), "points-samples", dt.date(2024, 3, 1), dt.date(2024, 8, 31), "points"
        )
    )
    west, south, east, north = item.bbox
    assert 14 < west < east < 16 and 54 < south <= north < 55  # UTM 33N, 6000 km north
    assert item.assets["data"].media_type == "application/vnd.apache.parquet"
    assert item.properties["start_datetime"].startswith("2024-03-01")


def test_the_plan_has_point_jobs_and_the_estimate_counts_their_values(tmp_path):
    """The demo: 6 scenes in batches of points.batch, a part per period, one table; the
    estimate's units are the values sampled (points x scenes or periods x indices)."""
    import copy

    import yaml
    from helpers import REPO

    from rasterflow import demo, estimate, settings
    from rasterflow.workflow import plan_workflow

    config = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    config["results"] = str(tmp_path / "results")
    config["points"]["batch"] = 4
    config["points"]["formats"] = ["csv"]
    settings.check_config(config, REPO / "config" / "schema.yaml")
    plan = plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))
    assert plan.points.endswith("demo/points.geojson") and plan.point_count == len(demo.POINTS)
    assert [len(m) for m in plan.point_batches.values()] == [4, 2]
    assert plan.point_indices == ["NDVI", "NBR", "MSAVI"] and plan.point_formats == [
        "parquet",
        "csv",
    ]  # GeoParquet always: the figure and the STAC item read it
    results = tmp_path / "results"
    assert plan.point_parts() == [
        f"{results}/points/_parts/scenes/{b}.parquet" for b in plan.point_batches
    ] + [f"{results}/points/_parts/periods/{p}.parquet" for p in ("2024-MAM", "2024-JJA")]
    assert {f"{results}/points/points.parquet", f"{results}/points/points.csv"} <= set(
        plan.product_outputs()
    )
    jobs = [j for j in estimate.planned_jobs(plan, mem_mb=2000) if j.rule.startswith("points")]
    units = {
        r: [j.units for j in jobs if j.rule == r]
        for r in ("points_scenes", "points_periods", "points_table")
    }
    n = len(demo.POINTS) / 1e6
    assert units["points_scenes"] == pytest.approx([n * 4 * 3, n * 2 * 3])
    assert units["points_periods"] == pytest.approx([n * 1, n * 1])
    assert units["points_table"] == pytest.approx([n * (6 * 3 + 2)])
    # off: no file and not the demo
    config["demo"], config["scenes"]["sheet"] = False, ""
    config["terrain"]["dem"] = str(write_raster(tmp_path / "dem.tif", np.ones((8, 8), np.float32)))
    plan = plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache2"))
    assert not plan.points and plan.point_parts() == [] and plan.point_count == 0
