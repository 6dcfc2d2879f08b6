"""Zonal statistics: each rule against its independent reference, edge cases, scale paths.

References: rasterstats (``all_touched=False``) for the centre rule, exactextract called
directly for the coverage rule, and NumPy on hand-built grid-aligned zones for both
(on a grid-aligned zone both rules select exactly the pixels inside, with weight 1).
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
from cases.zonal import (
    ALL_STATS,
    COLS,
    NODATA,
    PERCENTILES,
    RES,
    ROWS,
    X0,
    Y0,
    random_values,
    star_zones,
    with_cell_zones,
    write_grid_raster,
    write_tiled,
)
from helpers import DATA

from rasterflow import zonal
from rasterflow.errors import ConfigError, InputDataError

DEM = DATA / "rmnp-dem.tif"
COUNTIES = DATA / "colorado-counties.geojson"
PARK = DATA / "rmnp.shp"

RS_STATS = " ".join(ALL_STATS + [f"percentile_{q}" for q in PERCENTILES])
EE_OPS = ["count", "sum", "mean", "min", "max", "stdev", "median"] + [
    f"quantile(q={q / 100!r})" for q in PERCENTILES
]
OURS_COLUMNS = ALL_STATS + [zonal.percentile_column(q) for q in PERCENTILES]


# --------------------------------------------------------------------------- data


def pixel_box(col0: int, row0: int, col1: int, row1: int) -> shapely.Polygon:
    """The polygon covering pixels [col0, col1) x [row0, row1) exactly."""
    return shapely.box(X0 + col0 * RES, Y0 - row1 * RES, X0 + col1 * RES, Y0 - row0 * RES)


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    return random_values()


@pytest.fixture(scope="module")
def float_raster(tmp_path_factory: pytest.TempPathFactory, values: np.ndarray) -> Path:
    return write_grid_raster(tmp_path_factory.mktemp("r") / "float.tif", values, nodata=NODATA)


@pytest.fixture(scope="module")
def zones() -> gpd.GeoDataFrame:
    """30 star polygons of 1 to 12 pixels across, some straddling or beyond the edge."""
    return star_zones()


def rasterstats_table(geoms: list, raster: Path, **kwargs: object) -> pd.DataFrame:
    from rasterstats import zonal_stats

    rows = zonal_stats(geoms, str(raster), stats=RS_STATS, all_touched=False, **kwargs)
    ref = pd.DataFrame(rows).rename(
        columns={f"percentile_{q}": zonal.percentile_column(q) for q in PERCENTILES}
    )
    return ref[OURS_COLUMNS].astype(np.float64)  # None (no pixel) -> NaN


def exactextract_table(gdf: gpd.GeoDataFrame, raster: Path) -> pd.DataFrame:
    from exactextract import exact_extract

    ref = exact_extract(str(raster), gdf, EE_OPS, output="pandas")
    ref.columns = OURS_COLUMNS
    ref.loc[ref["count"] == 0, "sum"] = np.nan  # documented: no valid pixel -> NaN, not 0
    return ref.astype(np.float64)


def assert_matches(
    ours: pd.DataFrame, ref: pd.DataFrame, *, rtol: float, exact_count: bool
) -> None:
    assert len(ours) == len(ref)
    for column in OURS_COLUMNS:
        got = ours[column].to_numpy(dtype=np.float64)
        want = ref[column].to_numpy(dtype=np.float64)
        if column == "count" and exact_count:
            np.testing.assert_array_equal(got, want, err_msg=column)
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True, err_msg=column)


def centre(gdf: gpd.GeoDataFrame, raster: Path, **kwargs: object) -> pd.DataFrame:
    kwargs.setdefault("stats", ALL_STATS)
    kwargs.setdefault("percentiles", PERCENTILES)
    return zonal.zonal_statistics(gdf, raster, id_column="zid", rule="centre", **kwargs)


def coverage(gdf: gpd.GeoDataFrame, raster: Path, **kwargs: object) -> pd.DataFrame:
    kwargs.setdefault("stats", ALL_STATS)
    kwargs.setdefault("percentiles", PERCENTILES)
    return zonal.zonal_statistics(gdf, raster, id_column="zid", rule="coverage", **kwargs)


# --------------------------------------------------------------------------- references


def test_centre_rule_matches_rasterstats(zones: gpd.GeoDataFrame, float_raster: Path) -> None:
    ours = centre(zones, float_raster)
    assert list(ours["zid"]) == list(zones["zid"])
    assert ours["count"].dtype == np.int64
    # the data exercise both outcomes: zones with pixels and zones without
    assert (ours["count"] > 5).sum() >= 10 and (ours["count"] == 0).any()
    ref = rasterstats_table(list(zones.geometry), float_raster)
    assert_matches(ours, ref, rtol=1e-9, exact_count=True)


def test_coverage_rule_matches_exactextract(zones: gpd.GeoDataFrame, float_raster: Path) -> None:
    ours = coverage(zones, float_raster)
    assert list(ours["zid"]) == list(zones["zid"])
    # partial pixels really are weighted: some counts are not whole numbers
    assert (ours["count"] % 1 > 0).sum() >= 10
    assert_matches(ours, exactextract_table(zones, float_raster), rtol=1e-6, exact_count=False)


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return gpd.read_file(COUNTIES)


def test_dem_counties_centre_matches_rasterstats(counties: gpd.GeoDataFrame) -> None:
    ours = zonal.zonal_statistics(
        counties, DEM, id_column="geoid", rule="centre", stats=ALL_STATS, percentiles=PERCENTILES
    )
    assert (ours["count"] > 0).sum() >= 3  # "a few overlap the DEM"
    assert (ours["count"] == 0).sum() >= 50
    assert ours.loc[ours["count"] == 0, "mean"].isna().all()
    assert ours["max"].max() <= 4261 and ours["min"].min() >= 2281  # 65535 is nodata
    assert_matches(
        ours, rasterstats_table(list(counties.geometry), DEM), rtol=1e-9, exact_count=True
    )


def test_dem_counties_coverage_matches_exactextract(counties: gpd.GeoDataFrame) -> None:
    ours = zonal.zonal_statistics(
        counties, DEM, id_column="geoid", rule="coverage", stats=ALL_STATS, percentiles=PERCENTILES
    )
    assert (ours["count"] > 0).sum() >= 3
    assert_matches(ours, exactextract_table(counties, DEM), rtol=1e-6, exact_count=False)


@pytest.mark.parametrize("rule", ["centre", "coverage"])
def test_dem_park_boundary_from_shapefile(rule: str) -> None:
    park = gpd.read_file(PARK)
    table = zonal.run(
        raster=DEM,
        zones=PARK,
        id_column="OBJECTI",
        outputs={},
        stats=ALL_STATS,
        percentiles=PERCENTILES,
        rule=rule,
    )
    assert table["count"].iloc[0] > 1000
    ref = (
        rasterstats_table(list(park.geometry), DEM)
        if rule == "centre"
        else exactextract_table(park, DEM)
    )
    assert_matches(
        table, ref, rtol=1e-9 if rule == "centre" else 1e-6, exact_count=rule == "centre"
    )


# --------------------------------------------------------------------------- edge cases


def test_grid_aligned_hole_and_multipolygon_match_numpy(
    float_raster: Path, values: np.ndarray
) -> None:
    """On pixel-aligned zones both rules select exactly the pixels inside."""
    holed = shapely.Polygon(
        pixel_box(2, 3, 12, 11).exterior.coords, [pixel_box(5, 5, 8, 9).exterior.coords]
    )
    multi = shapely.MultiPolygon([pixel_box(20, 2, 24, 6), pixel_box(30, 20, 33, 31)])
    gdf = gpd.GeoDataFrame({"zid": ["holed", "multi"]}, geometry=[holed, multi], crs="EPSG:32633")
    inside = np.zeros((2, ROWS, COLS), dtype=bool)
    inside[0, 3:11, 2:12] = True
    inside[0, 5:9, 5:8] = False
    inside[1, 2:6, 20:24] = True
    inside[1, 20:31, 30:33] = True
    valid = (values != NODATA) & ~np.isnan(values)
    for rule in ("centre", "coverage"):
        ours = zonal.zonal_statistics(
            gdf,
            float_raster,
            id_column="zid",
            rule=rule,
            stats=["count", "sum", "mean", "min", "max", "std"],
        )
        for k in range(2):
            v = values[inside[k] & valid]
            assert v.size > 20
            np.testing.assert_allclose(
                ours.loc[k, ["count", "sum", "mean", "min", "max", "std"]].to_numpy(float),
                [v.size, v.sum(), v.mean(), v.min(), v.max(), v.std()],
                rtol=1e-6,
                err_msg=f"{rule} {gdf.zid[k]}",
            )


def test_zone_outside_raster_gives_count_zero_not_error(float_raster: Path) -> None:
    far = gpd.GeoDataFrame(
        {"zid": ["far", "near"]},
        geometry=[pixel_box(100, 100, 110, 110), pixel_box(1, 1, 3, 3)],
        crs="EPSG:32633",
    )
    for rule in ("centre", "coverage"):
        ours = zonal.zonal_statistics(
            far, float_raster, id_column="zid", rule=rule, stats=ALL_STATS, percentiles=[50]
        )
        assert ours.loc[0, "count"] == 0
        assert ours.loc[0, ["sum", "mean", "min", "max", "std", "median", "p50"]].isna().all()
        assert ours.loc[1, "count"] > 0


def test_polygon_smaller_than_a_pixel(float_raster: Path, values: np.ndarray) -> None:
    # pixel (row 10, col 20) and a 2 m x 2 m square inside it: around its centre, off it
    cx, cy = X0 + 20.5 * RES, Y0 - 10.5 * RES
    on_centre = shapely.box(cx - 1, cy - 1, cx + 1, cy + 1)
    off_centre = shapely.box(cx + 2, cy + 2, cx + 4, cy + 4)
    gdf = gpd.GeoDataFrame(
        {"zid": ["on", "off"]}, geometry=[on_centre, off_centre], crs="EPSG:32633"
    )
    assert not np.isnan(values[10, 20]) and values[10, 20] != NODATA
    ours = zonal.zonal_statistics(
        gdf, float_raster, id_column="zid", rule="centre", stats=["count", "mean"]
    )
    assert list(ours["count"]) == [1, 0]
    assert ours.loc[0, "mean"] == values[10, 20] and np.isnan(ours.loc[1, "mean"])
    cov = zonal.zonal_statistics(
        gdf, float_raster, id_column="zid", rule="coverage", stats=["count", "mean"]
    )
    np.testing.assert_allclose(cov["count"], [0.04, 0.04], rtol=1e-6)  # 4 m2 of 100 m2
    np.testing.assert_allclose(cov["mean"], [values[10, 20]] * 2, rtol=1e-12)


def test_bow_tie_is_repaired_and_reported(
    float_raster: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x0, y0, x1, y1 = X0 + 50, Y0 - 250, X0 + 250, Y0 - 50
    bow_tie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    assert not bow_tie.is_valid
    mid = ((x0 + x1) / 2, (y0 + y1) / 2)
    triangles = shapely.MultiPolygon(
        [
            shapely.Polygon([(x0, y0), mid, (x0, y1)]),
            shapely.Polygon([(x1, y0), mid, (x1, y1)]),
        ]
    )
    gdf = gpd.GeoDataFrame(
        {"zid": ["tie", "ok"]}, geometry=[bow_tie, pixel_box(1, 1, 3, 3)], crs="EPSG:32633"
    )
    fixed = gdf.set_geometry([triangles, pixel_box(1, 1, 3, 3)], crs="EPSG:32633")
    for rule in ("centre", "coverage"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="rasterflow.zonal"):
            ours = zonal.zonal_statistics(
                gdf, float_raster, id_column="zid", rule=rule, stats=ALL_STATS
            )
        warnings = [r.getMessage() for r in caplog.records if "repaired" in r.getMessage()]
        assert len(warnings) == 1 and "tie" in warnings[0] and "ok" not in warnings[0]
        want = zonal.zonal_statistics(
            fixed, float_raster, id_column="zid", rule=rule, stats=ALL_STATS
        )
        assert ours.loc[0, "count"] > 50  # both triangles counted, not a sliver
        pd.testing.assert_frame_equal(ours, want)


def test_empty_and_null_geometries_are_reported(
    float_raster: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gdf = gpd.GeoDataFrame(
        {"zid": ["empty", "null", "ok"]},
        geometry=[shapely.Polygon(), None, pixel_box(1, 1, 3, 3)],
        crs="EPSG:32633",
    )
    for rule in ("centre", "coverage"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="rasterflow.zonal"):
            ours = zonal.zonal_statistics(
                gdf, float_raster, id_column="zid", rule=rule, stats=["count", "mean"]
            )
        message = " ".join(r.getMessage() for r in caplog.records)
        assert "empty" in message and "null" in message and "2 zone(s)" in message
        assert list(ours["count"] > 0) == [False, False, True]
        assert ours["mean"].isna().tolist() == [True, True, False]


def test_zones_in_another_crs_give_the_same_result(
    zones: gpd.GeoDataFrame, float_raster: Path
) -> None:
    geographic = zones.to_crs("EPSG:4326")
    pre_projected = geographic.to_crs("EPSG:32633")
    for rule in ("centre", "coverage"):
        got = zonal.zonal_statistics(
            geographic, float_raster, id_column="zid", rule=rule, stats=ALL_STATS
        )
        want = zonal.zonal_statistics(
            pre_projected, float_raster, id_column="zid", rule=rule, stats=ALL_STATS
        )
        assert (got["count"] > 0).sum() >= 10  # not all "outside"
        pd.testing.assert_frame_equal(got, want)


def test_nodata_and_nan_are_ignored(tmp_path: Path) -> None:
    data = np.array([[1.0, 2.0], [NODATA, np.nan]])
    raster = write_grid_raster(tmp_path / "small.tif", data, nodata=NODATA)
    gdf = gpd.GeoDataFrame({"zid": ["all"]}, geometry=[pixel_box(0, 0, 2, 2)], crs="EPSG:32633")
    for rule in ("centre", "coverage"):
        ours = zonal.zonal_statistics(
            gdf, raster, id_column="zid", rule=rule, stats=["count", "sum", "min", "max"]
        )
        assert ours.loc[0, ["count", "sum", "min", "max"]].tolist() == [2, 3.0, 1.0, 2.0]


def test_scale_and_offset_are_applied(tmp_path: Path) -> None:
    data = np.arange(1, 17, dtype=np.uint16).reshape(4, 4)
    raster = write_grid_raster(tmp_path / "scaled.tif", data, nodata=0)
    with rasterio.open(raster, "r+") as dst:
        dst.scales, dst.offsets = (0.5,), (10.0,)
    gdf = gpd.GeoDataFrame({"zid": ["all"]}, geometry=[pixel_box(0, 0, 4, 4)], crs="EPSG:32633")
    for rule in ("centre", "coverage"):
        ours = zonal.zonal_statistics(
            gdf, raster, id_column="zid", rule=rule, stats=["mean", "max"]
        )
        assert ours.loc[0, ["mean", "max"]].tolist() == [data.mean() * 0.5 + 10, 18.0]


def write_zones(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    gdf.to_file(path, engine="pyogrio")
    return path


def test_missing_id_column_names_column_and_file(
    tmp_path: Path, float_raster: Path, zones: gpd.GeoDataFrame
) -> None:
    path = write_zones(zones, tmp_path / "zones.gpkg")
    with pytest.raises(InputDataError, match=r"zones\.gpkg has no column 'fid_x'.*zid"):
        zonal.run(raster=float_raster, zones=path, id_column="fid_x", outputs={})


def test_duplicate_ids_name_the_duplicates(
    tmp_path: Path, float_raster: Path, zones: gpd.GeoDataFrame
) -> None:
    dup = zones.copy()
    dup.loc[3, "zid"] = "z01"
    path = write_zones(dup, tmp_path / "dup.geojson")
    with pytest.raises(InputDataError, match=r"'zid' of .*dup\.geojson is not unique: z01"):
        zonal.run(raster=float_raster, zones=path, id_column="zid", outputs={})


def test_bad_parameters_are_config_errors(float_raster: Path, zones: gpd.GeoDataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown statistic 'avg'"):
        zonal.zonal_statistics(zones, float_raster, id_column="zid", stats=["avg"])
    with pytest.raises(ConfigError, match="percentiles go in 'percentiles'"):
        zonal.zonal_statistics(zones, float_raster, id_column="zid", stats=["p90"])
    with pytest.raises(ConfigError, match="unknown rule 'center'"):
        zonal.zonal_statistics(zones, float_raster, id_column="zid", rule="center")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="outside 0..100"):
        zonal.zonal_statistics(zones, float_raster, id_column="zid", percentiles=[0.5, 150])
    with pytest.raises(ConfigError, match="unknown format.*xlsx"):
        zonal.run(
            raster=float_raster,
            zones=DATA / "rmnp.shp",
            id_column="OBJECTI",
            outputs={"xlsx": "t.xlsx"},
        )
    with pytest.raises(InputDataError, match="band 2 does not exist"):
        zonal.zonal_statistics(zones, float_raster, id_column="zid", band=2)


# --------------------------------------------------------------------------- categorical


@pytest.fixture(scope="module")
def classes_raster(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(11)
    data = rng.choice(
        np.array([0, 1, 2, 3, 7], dtype=np.uint8), size=(ROWS, COLS), p=[0.05, 0.4, 0.3, 0.2, 0.05]
    )
    return write_grid_raster(tmp_path_factory.mktemp("c") / "classes.tif", data, nodata=0), data


@pytest.mark.parametrize("rule", ["centre", "coverage"])
def test_categorical_majority_and_fractions_match_numpy(
    rule: str, classes_raster: tuple[Path, np.ndarray]
) -> None:
    raster, data = classes_raster
    blocks = {"a": (0, 0, 9, 7), "b": (10, 5, 30, 25), "c": (40, 30, 50, 40), "d": (2, 30, 5, 33)}
    gdf = gpd.GeoDataFrame(
        {"zid": [*blocks, "out"]},
        geometry=[pixel_box(*b) for b in blocks.values()] + [pixel_box(90, 90, 95, 95)],
        crs="EPSG:32633",
    )
    ours = zonal.zonal_statistics(
        gdf, raster, id_column="zid", rule=rule, stats=["count"], categorical=True
    )
    present = sorted({int(v) for v in np.unique(data)} - {0})
    assert [c for c in ours.columns if c.startswith("frac_")] == [f"frac_{v}" for v in present]
    for k, (c0, r0, c1, r1) in enumerate(blocks.values()):
        block = data[r0:r1, c0:c1]
        keys, counts = np.unique(block[block != 0], return_counts=True)
        assert ours.loc[k, "count"] == counts.sum()
        top = keys[counts == counts.max()]
        # ties: rasterstats keeps the smallest class, exactextract the largest
        assert ours.loc[k, "majority"] == (top.min() if rule == "centre" else top.max())
        want = {f"frac_{v}": 0.0 for v in present}
        want.update({f"frac_{int(v)}": c / counts.sum() for v, c in zip(keys, counts, strict=True)})
        got = ours.loc[k, list(want)].to_numpy(float)
        np.testing.assert_allclose(got, list(want.values()), rtol=1e-6, atol=1e-12)
    out = ours.iloc[-1]
    assert out["count"] == 0 and np.isnan(out["majority"])
    assert out[[c for c in ours.columns if c.startswith("frac_")]].isna().all()


def test_categorical_centre_matches_rasterstats(
    classes_raster: tuple[Path, np.ndarray], zones: gpd.GeoDataFrame
) -> None:
    from rasterstats import zonal_stats

    raster, _ = classes_raster
    ours = zonal.zonal_statistics(
        zones, raster, id_column="zid", rule="centre", stats=["count", "majority"], categorical=True
    )
    ref = zonal_stats(list(zones.geometry), str(raster), categorical=True, stats="count majority")
    assert (ours["count"] > 0).sum() >= 10
    for k, row in enumerate(ref):
        assert ours.loc[k, "count"] == row["count"]
        if row["count"]:
            assert ours.loc[k, "majority"] == row["majority"]
            for cls in (1, 2, 3, 7):
                assert ours.loc[k, f"frac_{cls}"] == pytest.approx(
                    row.get(cls, 0) / row["count"], rel=1e-12
                )


# --------------------------------------------------------------------------- scale paths


@pytest.mark.parametrize("rule", ["centre", "coverage"])
def test_batching_does_not_change_results(
    rule: str, zones: gpd.GeoDataFrame, float_raster: Path
) -> None:
    run = zonal.zonal_statistics
    whole = run(
        zones,
        float_raster,
        id_column="zid",
        rule=rule,
        stats=ALL_STATS,
        percentiles=PERCENTILES,
        batch_size=len(zones),
    )
    for size in (1, 7):
        part = run(
            zones,
            float_raster,
            id_column="zid",
            rule=rule,
            stats=ALL_STATS,
            percentiles=PERCENTILES,
            batch_size=size,
        )
        pd.testing.assert_frame_equal(part, whole)
    assert list(whole["zid"]) == list(zones["zid"])


def test_strips_of_large_windows_match_whole_windows(
    zones: gpd.GeoDataFrame, float_raster: Path
) -> None:
    whole = centre(zones, float_raster)
    strips = centre(zones, float_raster, max_cells=7)  # one or few rows per strip
    pd.testing.assert_frame_equal(
        strips[["zid", "count", "min", "max", "median"]],
        whole[["zid", "count", "min", "max", "median"]],
    )
    pd.testing.assert_frame_equal(strips, whole, check_exact=False, rtol=1e-12)


@pytest.fixture(scope="module")
def tiled_raster(tmp_path_factory: pytest.TempPathFactory, values: np.ndarray) -> Path:
    """The float raster in 16 x 16 blocks, so that cells can be a few blocks small."""
    return write_tiled(tmp_path_factory.mktemp("t") / "tiled.tif", values)


@pytest.fixture(scope="module")
def cell_zones(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The stars, plus zones across a cell corner, larger than a cell, and a box whose
    edges run through pixel centres across a cell edge (with 16-pixel cells)."""
    return with_cell_zones(zones)


@pytest.mark.parametrize("rule", ["centre", "coverage"])
def test_cells_seams_and_large_zones_match_references(
    rule: str,
    tiled_raster: Path,
    cell_zones: gpd.GeoDataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Zones inside one cell, across two or four cells, or larger than a cell, all give
    the reference's statistics and the same bytes as with one cell for the raster."""
    one_cell = zonal.zonal_statistics(
        cell_zones,
        tiled_raster,
        id_column="zid",
        rule=rule,
        stats=ALL_STATS,
        percentiles=PERCENTILES,
    )
    monkeypatch.setattr(zonal.cells, "CELL_PIXELS", 256)  # 16 x 16 pixels: 3 x 4 cells
    info = zonal.raster_info(tiled_raster, band=1)
    geometries = zonal.prepare_geometries(
        cell_zones, crs=rasterio.crs.CRS.from_epsg(32633), id_column="zid", source="cells"
    )
    grid, tasks = zonal.plan_tasks(geometries, raster=info, batch_size=5)
    assert (grid.cell_rows, grid.cell_cols) == (16, 16)
    spans = {len(task.cells) for task in tasks}
    assert spans == {0, 1, 2, 4}  # by path, one cell, across an edge, across a corner
    by_path = [cell_zones.zid[p] for t in tasks if not t.cells for p in t.positions]
    assert {"large", "band"} <= set(by_path)
    ours = zonal.zonal_statistics(
        cell_zones,
        tiled_raster,
        id_column="zid",
        rule=rule,
        stats=ALL_STATS,
        percentiles=PERCENTILES,
        batch_size=5,
    )
    pd.testing.assert_frame_equal(ours, one_cell)
    if rule == "centre":
        ref = rasterstats_table(list(cell_zones.geometry), tiled_raster)
        assert ours.loc[ours.zid == "centres", "count"].item() > 0
    else:
        ref = exactextract_table(cell_zones, tiled_raster)
    assert_matches(ours, ref, rtol=1e-9 if rule == "centre" else 1e-6, exact_count=rule == "centre")


# --------------------------------------------------------------------------- outputs


def test_run_writes_geoparquet_csv_and_geopackage(
    tmp_path: Path, float_raster: Path, zones: gpd.GeoDataFrame
) -> None:
    source = write_zones(zones.to_crs("EPSG:4326"), tmp_path / "zones.geojson")
    outputs = {
        k: tmp_path / "out" / f"zonal.{ext}"
        for k, ext in (("parquet", "parquet"), ("csv", "csv"), ("gpkg", "gpkg"))
    }
    table = zonal.run(
        raster=float_raster,
        zones=source,
        id_column="zid",
        outputs=outputs,
        stats=["count", "mean"],
        percentiles=[90],
        rule="centre",
    )

    parquet = gpd.read_parquet(outputs["parquet"])
    assert list(parquet.columns) == ["zid", "name", "count", "mean", "p90", "geometry"]
    assert parquet.crs.equals(zones.to_crs("EPSG:4326").crs)  # zones' own CRS kept
    assert list(parquet["name"]) == list(zones["name"])
    pd.testing.assert_series_equal(parquet["mean"], table["mean"])
    meta = pq.read_schema(outputs["parquet"]).metadata
    assert b"RASTERFLOW_PARAMS" in meta[b"PANDAS_ATTRS"] and b"geo" in meta

    csv = pd.read_csv(outputs["csv"])
    assert list(csv.columns) == ["zid", "name", "count", "mean", "p90"]
    np.testing.assert_allclose(csv["mean"], table["mean"], rtol=1e-15, equal_nan=True)
    assert list(csv["count"]) == list(table["count"])

    gpkg = gpd.read_file(outputs["gpkg"], layer="zonal")
    assert list(gpkg["zid"]) == list(zones["zid"]) and "geometry" in gpkg
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "zonal.csv",
        "zonal.gpkg",
        "zonal.parquet",
    ]  # no temporary files left


def test_output_bytes_do_not_depend_on_batching(
    tmp_path: Path, float_raster: Path, zones: gpd.GeoDataFrame
) -> None:
    source = write_zones(zones, tmp_path / "zones.gpkg")
    digests = []
    for size in (1, 1000):
        outputs = {"parquet": tmp_path / f"b{size}.parquet", "csv": tmp_path / f"b{size}.csv"}
        zonal.run(
            raster=float_raster,
            zones=source,
            id_column="zid",
            outputs=outputs,
            stats=ALL_STATS,
            rule="coverage",
            batch_size=size,
        )
        digests.append([p.read_bytes() for p in outputs.values()])
    assert digests[0] == digests[1]


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp", ".parquet"])
def test_every_zones_format_gives_the_same_table(
    suffix: str, tmp_path: Path, float_raster: Path, zones: gpd.GeoDataFrame
) -> None:
    path = tmp_path / f"zones{suffix}"
    if suffix == ".parquet":
        zones.to_parquet(path)
    else:
        write_zones(zones, path)
    table = zonal.run(
        raster=float_raster,
        zones=path,
        id_column="zid",
        outputs={},
        stats=["count", "mean"],
        rule="centre",
    )
    want = centre(zones, float_raster, stats=["count", "mean"], percentiles=[])
    pd.testing.assert_frame_equal(
        pd.DataFrame(table[["zid", "count", "mean"]]),
        want,
        check_dtype=False,
        check_exact=False,
        rtol=1e-12,
    )


def test_zone_attribute_clashing_with_a_statistic_is_an_error(
    tmp_path: Path, float_raster: Path, zones: gpd.GeoDataFrame
) -> None:
    path = write_zones(zones.assign(mean=1.0), tmp_path / "clash.gpkg")
    with pytest.raises(
        InputDataError, match=r"clash.gpkg has attribute column\(s\) mean, named like"
    ):
        zonal.run(raster=float_raster, zones=path, id_column="zid", outputs={}, stats=["mean"])


def test_long_table_stacks_products_and_periods(
    tmp_path: Path, float_raster: Path, zones: gpd.GeoDataFrame
) -> None:
    source = write_zones(zones, tmp_path / "zones.gpkg")
    tables = {}
    for period in ("2024-05", "2024-06"):
        out = tmp_path / f"ndvi_{period}.csv"
        zonal.run(
            raster=float_raster,
            zones=source,
            id_column="zid",
            outputs={"csv": out},
            stats=["count", "mean"],
            rule="coverage",
        )
        tables[("NDVI", period)] = out
    tables[("DEM", "static")] = zonal.run(
        raster=float_raster,
        zones=source,
        id_column="zid",
        outputs={},
        stats=["mean", "max"],
        rule="centre",
    )
    long = zonal.long_table(tables, id_column="zid")
    assert list(long.columns) == ["zid", "product", "period", "mean", "max", "count"]
    assert len(long) == 3 * len(zones)
    assert list(long["product"].drop_duplicates()) == ["DEM", "NDVI"]
    dem = long[long["product"] == "DEM"]
    assert dem["count"].isna().all() and list(dem["zid"]) == list(zones["zid"])
    ndvi = long[(long["product"] == "NDVI") & (long["period"] == "2024-06")]
    want = coverage(zones, float_raster, stats=["mean"], percentiles=[])["mean"]
    np.testing.assert_allclose(ndvi["mean"], want, rtol=1e-15, equal_nan=True)


# --- zones files that would be read wrongly (issue 15) -------------------------------


def _two_layers(path: Path, zones: gpd.GeoDataFrame) -> Path:
    zones.to_file(path, layer="parcels", engine="pyogrio")
    zones.iloc[:2].to_file(path, layer="roads", engine="pyogrio")
    return path


def test_a_geopackage_of_several_layers_needs_zonal_layer(
    tmp_path: Path, zones: gpd.GeoDataFrame
) -> None:
    path = _two_layers(tmp_path / "z.gpkg", zones)
    with pytest.raises(InputDataError) as err:
        zonal.check_zones(path, layer=None, id_column="zid")
    assert str(err.value) == (
        f"zonal.layer: {path} holds 2 layers (parcels, roads) and zonal.layer is empty, "
        "so which one to use is unclear; set zonal.layer to one of them"
    )
    zonal.check_zones(path, layer="roads", id_column="zid")
    with pytest.raises(InputDataError, match=r"has no layer 'lakes' \(it has parcels, roads\)"):
        zonal.check_zones(path, layer="lakes", id_column="zid")


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_attributes_named_like_statistics_are_refused(
    tmp_path: Path, suffix: str, zones: gpd.GeoDataFrame
) -> None:
    named = zones.assign(p5=1.0, frac_forest=0.5, mean=2.0, population=3)
    path = tmp_path / f"z{suffix}"
    if suffix == ".parquet":
        named.to_parquet(path)
    else:
        named.to_file(path, engine="pyogrio")
    with pytest.raises(InputDataError) as err:
        zonal.check_zones(path, layer=None, id_column="zid")
    assert str(err.value) == (
        f"zones: {path} has attribute column(s) p5, frac_forest, mean, named like the "
        "statistic columns of the zonal tables (count, sum, mean, min, max, std, median, "
        "majority, p<q>, frac_<class>), which they would be mixed up with. Rename them in "
        "the zones file (e.g. p5 -> attr_p5, in QGIS's field editor or with ogr2ogr -sql), "
        "or drop them"
    )
    zonal.check_zones(
        write_zones(zones.assign(population=3, frac=1, mean_ndvi=0.2), tmp_path / "ok.gpkg"),
        layer=None,
        id_column="zid",
    )


def test_whole_number_float_ids_become_integers_and_strings_stay(
    tmp_path: Path, float_raster: Path, zones: gpd.GeoDataFrame
) -> None:
    """Issue #17: a Shapefile Real id field gave 28801.0 in every table."""
    real = zones.copy()
    real["zid"] = [28801.0 + i for i in range(len(real))]
    path = write_zones(real, tmp_path / "real.shp")
    assert gpd.read_file(path)["zid"].dtype.kind == "f"  # as a Shapefile Real reads
    outputs = {"csv": str(tmp_path / "t.csv"), "parquet": str(tmp_path / "t.parquet")}
    table = zonal.run(
        raster=float_raster, zones=path, id_column="zid", outputs=outputs, stats=["count"]
    )
    assert table["zid"].dtype == np.int64
    assert list(table["zid"]) == [28801 + i for i in range(len(real))]
    assert (tmp_path / "t.csv").read_text().splitlines()[1].startswith("28801,")
    meta = pq.read_schema(outputs["parquet"]).metadata[b"PANDAS_ATTRS"]
    assert b'\\"id_dtype\\": \\"int64\\"' in meta or b'"id_dtype": "int64"' in meta
    # true fractions and text are left as they are
    assert zonal.zone_ids(pd.Series([1.5, 2.0])).tolist() == [1.5, 2.0]
    assert zonal.zone_ids(pd.Series(["08035", "1"])).tolist() == ["08035", "1"]
