"""rasterflow.contours: tiled against whole, files, bad config.

The comparison with gdal_contour (GDAL's own program) is in
tests/integration/test_contours_reference.py; the DEMs are in tests/cases/contours.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
from cases.contours import RMNP, synthetic_dem, to_pixels
from helpers import DATA, REPO

from rasterflow import contours, settings
from rasterflow.contours import ContourParams
from rasterflow.errors import ConfigError


def test_no_line_crosses_a_nodata_pixel(tmp_path):
    src = synthetic_dem(tmp_path)
    lines = contours.contour_raster(src, ContourParams(interval=25))
    with rasterio.open(src) as ds:
        nodata = ds.read(1) == ds.nodata
        transform = ds.transform
    rows, cols = np.nonzero(nodata)
    # the inner half of each nodata pixel (gdal_contour's lines stop at its edge midpoints)
    cores = shapely.box(cols + 0.25, rows + 0.25, cols + 0.75, rows + 0.75)
    drawn = shapely.union_all(to_pixels(lines.geometry.to_numpy(), transform))
    assert not shapely.intersects(cores, drawn).any()


# ------------------------------------------------------------------ tiled against whole


def _segments(lines) -> Counter:
    out: Counter = Counter()
    for level, line in lines:
        xy = shapely.get_coordinates(line)
        for p, q in zip(map(tuple, xy[:-1]), map(tuple, xy[1:]), strict=True):
            out[(level, min(p, q), max(p, q))] += 1
    return out


@pytest.mark.parametrize("dem", ["rmnp", "synthetic"])
def test_tiles_give_the_whole_raster_lines(dem, tmp_path):
    src = RMNP if dem == "rmnp" else synthetic_dem(tmp_path)
    with rasterio.open(src) as ds:
        z, nodata = ds.read(1), ds.nodata
        height, width = z.shape
    params = ContourParams(interval=50)
    whole = contours.contour_array(z, params, nodata=nodata)
    for chunk in (7, 16, 64):
        tiled = contours.contour_array(z, params, nodata=nodata, chunk=chunk)
        assert [lv for lv, _ in tiled] == [lv for lv, _ in whole], chunk
        # the same lines, vertex for vertex, in the same order and orientation
        assert all(
            shapely.equals_exact(a, b, tolerance=0)
            for (_, a), (_, b) in zip(tiled, whole, strict=True)
        ), chunk
        # no segment drawn twice at a tile border
        assert max(_segments(tiled).values()) == 1
        # no break: an open line ends on the raster's edge or beside nodata, never on an
        # inner tile border
        for _level, line in tiled:
            if line.is_closed:
                continue
            for x, y in shapely.get_coordinates(line)[[0, -1]]:
                on_edge = x in (0, width) or y in (0, height)
                if nodata is None or dem == "rmnp":
                    assert on_edge, (chunk, x, y)
                else:
                    near = z[max(int(y) - 1, 0) : int(y) + 2, max(int(x) - 1, 0) : int(x) + 2]
                    assert on_edge or (near == nodata).any(), (chunk, x, y)


def test_files_are_the_same_for_any_tile_size(tmp_path):
    src = synthetic_dem(tmp_path)
    params = ContourParams(interval=25, base=5)
    files = {}
    for chunk in (32, 2048):
        out = {
            "gpkg": str(tmp_path / f"c{chunk}.gpkg"),
            "parquet": str(tmp_path / f"c{chunk}.parquet"),
        }
        contours.run(raster=str(src), outputs=out, params=params, chunk=chunk)
        files[chunk] = out
    # the same bytes: the same lines, and nothing of the tiling or the time of the run
    for fmt in ("gpkg", "parquet"):
        assert Path(files[32][fmt]).read_bytes() == Path(files[2048][fmt]).read_bytes(), fmt
    b = gpd.read_parquet(files[2048]["parquet"])
    assert len(b) > 50
    gpkg = gpd.read_file(files[2048]["gpkg"], layer="contour", engine="pyogrio")
    assert list(gpkg.columns) == ["id", "elev", "geometry"] and len(gpkg) == len(b)
    assert gpkg.crs == b.crs == rasterio.open(src).crs
    assert (gpkg.geom_type == "LineString").all()
    # provenance in the GeoParquet metadata, as the zonal tables carry it
    meta = pq.read_schema(files[2048]["parquet"]).metadata
    assert b"RASTERFLOW_PARAMS" in meta[b"PANDAS_ATTRS"]
    # nothing left beside the outputs
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ----------------------------------------------------------------------------- refine


def test_refine_puts_gdal_split_square_values_on_the_fine_grid():
    nan = np.nan
    block = np.array(
        [[nan, nan, nan, nan], [nan, 1.0, 3.0, nan], [nan, nan, 5.0, nan], [nan, nan, nan, nan]]
    )
    fine = contours.refine(block)
    assert fine.shape == (5, 5)
    assert fine[1, 1] == 1 and fine[1, 3] == 3 and fine[3, 3] == 5 and np.isnan(fine[3, 1])
    assert fine[1, 2] == 2  # the mean of the edge's two valid ends
    assert fine[2, 1] == 1  # one end is nodata: the valid one
    assert fine[2, 2] == 3  # the mean of the three valid pixels around the corner
    assert fine[0, 0] == 1 and fine[4, 4] == 5  # outer corners: their one pixel
    assert np.isnan(fine[4, 0])  # no valid pixel around


# ------------------------------------------------------------------------- bad config


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"interval": 0}, "contours.interval"),
        ({"interval": -10}, "contours.interval"),
        ({"interval": float("nan")}, "contours.interval"),
        ({"interval": 10, "base": float("inf")}, "contours.base"),
    ],
)
def test_bad_levels_are_refused_by_name(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        ContourParams(**kwargs)


def test_an_interval_far_too_small_for_the_heights_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"contours.interval: 0.1 gives 19,801 levels"):
        contours.contour_raster(RMNP, ContourParams(interval=0.1))


def test_levels_are_base_plus_multiples_of_the_interval():
    assert list(ContourParams(interval=10, base=5).levels(-3, 27)) == [5, 15, 25]
    assert list(ContourParams(interval=100).levels(2281, 2299)) == []


def _demo_config(tmp_path, contours_section, **sections):
    import copy

    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = copy.deepcopy(config)
    config["results"] = str(tmp_path / "results")
    config["contours"] = contours_section
    config.update(sections)
    settings.check_config(config, REPO / "config" / "schema.yaml")
    return config


def test_schema_refuses_a_zero_interval_and_an_unknown_format(tmp_path):
    with pytest.raises(ConfigError, match="contours.interval"):
        _demo_config(tmp_path, {"interval": 0})
    with pytest.raises(ConfigError, match="contours.formats"):
        _demo_config(tmp_path, {"interval": 10, "formats": ["shp"]})


def test_plan_refuses_contours_of_a_product_the_run_does_not_make(tmp_path):
    from rasterflow.workflow import plan_workflow

    config = _demo_config(tmp_path, {"interval": 10, "products": ["dem", "tpi"]})
    with pytest.raises(ConfigError, match=r"contours.products: tpi .*terrain.products"):
        plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))


def test_plan_without_a_dem_warns_and_makes_no_contours(tmp_path):
    # as terrain.products: a config built on the demo's (which sets both) stays valid
    from rasterflow.workflow import plan_workflow

    config = _demo_config(
        tmp_path,
        {"interval": 100},
        demo=False,
        zonal={
            "zones": str(DATA / "rmnp.shp"),
            "id_column": "OBJECTI",
            "rasters": {"elevation": str(RMNP)},
        },
    )
    plan = plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))
    assert plan.contour_rasters == {}
    assert any(
        w.startswith("contours.interval is set but there is no DEM") and "terrain.dem" in w
        for w in plan.warnings
    )


def test_the_demo_plans_contours_of_its_dem_and_off_by_default(tmp_path):
    from rasterflow.workflow import plan_workflow

    plan = plan_workflow(
        _demo_config(tmp_path, {"interval": 10}),
        basedir=str(REPO),
        cache_dir=str(tmp_path / "cache"),
    )
    results = tmp_path / "results"
    assert plan.contour_rasters == {"dem": f"{results}/demo/dem.tif"}
    files = [f"{results}/contours/dem.gpkg", f"{results}/contours/dem.parquet"]
    assert plan.contour_outputs("dem") == files
    assert set(files) <= set(plan.product_outputs()) and set(files) <= set(plan.stac_inputs())
    item = next(p for p in plan.stac_products if p.id == "contours-dem")
    assert item.vectors == {"gpkg": files[0], "parquet": files[1]}
    off = plan_workflow(
        _demo_config(tmp_path, {}), basedir=str(REPO), cache_dir=str(tmp_path / "cache")
    )
    assert off.contour_rasters == {}
    assert not any(f.startswith(f"{results}/contours/") for f in off.product_outputs())


def test_terrain_products_are_contoured_from_their_terrain_file(tmp_path):
    from rasterflow.workflow import plan_workflow

    config = _demo_config(
        tmp_path, {"interval": 5, "products": ["dem", "slope"], "formats": ["parquet"]}
    )
    plan = plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))
    results = tmp_path / "results"
    assert plan.contour_rasters == {
        "dem": f"{results}/demo/dem.tif",
        "slope": f"{results}/terrain/slope.tif",
    }
    assert plan.contour_outputs("slope") == [f"{results}/contours/slope.parquet"]


def test_mosaics_of_a_composited_index_are_contoured_per_period_at_their_own_interval(tmp_path):
    from rasterflow.workflow import plan_workflow

    config = _demo_config(
        tmp_path, {"interval": 10, "products": ["dem", "NDVI"], "intervals": {"NDVI": 0.1}}
    )
    plan = plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))
    results = tmp_path / "results"
    assert plan.contour_rasters == {
        "dem": f"{results}/demo/dem.tif",
        **{f"NDVI-{p}": f"{results}/mosaics/{p}/NDVI.tif" for p in plan.periods},
    }
    assert plan.contour_options["dem"] == {"interval": 10, "base": 0}
    assert plan.contour_options["NDVI-2024-JJA"] == {"interval": 0.1, "base": 0}
    item = next(p for p in plan.stac_products if p.id == "contours-NDVI-2024-JJA")
    assert (item.start, item.end) == (dt.date(2024, 6, 1), dt.date(2024, 8, 31))  # its period
    assert item.dated_by is None and item.path == f"{results}/mosaics/2024-JJA/NDVI.tif"
    with pytest.raises(ConfigError, match=r"contours.intervals: NBR not in contours.products"):
        plan_workflow(
            _demo_config(tmp_path, {"interval": 10, "intervals": {"NBR": 0.1}}),
            basedir=str(REPO),
            cache_dir=str(tmp_path / "cache"),
        )
    with pytest.raises(ConfigError, match=r"contours.products: NVDI is not made by this run"):
        plan_workflow(
            _demo_config(tmp_path, {"interval": 10, "products": ["NVDI"]}),
            basedir=str(REPO),
            cache_dir=str(tmp_path / "cache"),
        )


def test_a_mosaics_contours_are_labelled_with_its_period(tmp_path):
    from rasterflow.workflow import plan_workflow

    config = _demo_config(tmp_path, {"interval": 10, "products": ["dem", "NDVI"]})
    plan = plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))
    assert plan.contour_period("NDVI-2024-MAM") == "2024-MAM"
    assert plan.contour_period("dem") == "static"
