"""Target grid, tiles, tiles touched by scene footprints, and compositing periods."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
import yaml
from helpers import DATA, REPO
from odc.geo import xy_
from odc.geo.geom import BoundingBox
from rasterio.transform import from_origin
from shapely.geometry import box as sbox

from rasterflow import grid, periods
from rasterflow.errors import ConfigError, InputDataError


def _union(tiles):
    return shapely.union_all([t.extent.geom for t in tiles.values()])


def _is_multiple(value, step):
    k = value / step
    return abs(k - round(k)) < 1e-9


# --- target grid and tiles ---------------------------------------------------------


def test_geobox_aligns_to_the_origin_and_covers_the_bounds_tightly():
    aoi = grid.area_of_interest(crs="EPSG:32633", bounds=[1003.0, 2007.0, 5999.0, 8001.0])
    gb = grid.target_geobox(aoi, crs="EPSG:32633", resolution=10, origin=xy_(3.0, 4.0))
    a = gb.affine
    assert (a.a, a.e) == (10, -10)
    assert _is_multiple(a.c - 3.0, 10) and _is_multiple(a.f - 4.0, 10)
    ext = gb.extent.boundingbox
    assert ext.left <= 1003 < ext.left + 10 and ext.right - 10 < 5999 <= ext.right
    assert ext.bottom <= 2007 < ext.bottom + 10 and ext.top - 10 < 8001 <= ext.top


def test_tiles_cover_the_aoi_exactly_once_on_one_grid():
    aoi = grid.area_of_interest(crs="EPSG:32633", bounds=[1003, 2007, 5999, 8001])
    gb = grid.target_geobox(aoi, crs="EPSG:32633", resolution=10, origin=xy_(3, 4))
    tiles = grid.tiles(gb, 16)
    ny, nx = gb.shape.yx
    assert len(tiles) == -(-ny // 16) * -(-nx // 16)
    assert all(re.fullmatch(r"x\d{3}_y\d{3}", t) for t in tiles)
    assert tiles["x000_y000"].affine == gb.affine
    assert tiles["x001_y002"].affine.c == gb.affine.c + 16 * 10
    assert tiles["x001_y002"].affine.f == gb.affine.f - 2 * 16 * 10
    union = _union(tiles)
    assert union.contains(aoi.geom)
    # disjoint: the areas add up to the union's, which is the grid's
    assert sum(t.extent.area for t in tiles.values()) == pytest.approx(union.area)
    assert union.area == pytest.approx(gb.extent.area)
    for t in tiles.values():  # every tile on the grid's pixel edges, none outside
        assert _is_multiple(t.affine.c - 3, 10) and _is_multiple(t.affine.f - 4, 10)
        assert t.extent.geom.intersection(aoi.geom).area > 0
    # edge tiles are cut to the grid
    last = tiles[f"x{(nx - 1) // 16:03d}_y{(ny - 1) // 16:03d}"]
    assert last.shape.yx == ((ny - 1) % 16 + 1, (nx - 1) % 16 + 1)


def test_aoi_from_bounds_in_another_crs_is_densified_and_tiles_outside_dropped():
    lonlat = [12.0, 46.0, 12.9, 46.6]
    aoi = grid.area_of_interest(crs="EPSG:32633", bounds=lonlat, bounds_crs="EPSG:4326")
    gb = grid.target_geobox(aoi, crs="EPSG:32633", resolution=500)
    tiles = grid.tiles(gb, 8, aoi=aoi)
    union = _union(tiles)
    # independent check: points along every edge of the lon/lat box, projected by pyproj
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True)
    t = np.linspace(0, 1, 101)
    x0, y0, x1, y1 = lonlat
    lon = np.concatenate(
        [x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)]
    )
    lat = np.concatenate(
        [np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t]
    )
    xs, ys = to_utm.transform(lon, lat)
    assert shapely.contains_xy(union, xs, ys).all()
    # the box is rotated in UTM 33 west of 15 E: corner tiles of its bbox lie outside
    all_tiles = grid.tiles(gb, 8)
    assert len(tiles) < len(all_tiles)
    outline = shapely.Polygon(np.column_stack([xs, ys]))
    for tid, tile in all_tiles.items():
        inside = tile.extent.geom.intersection(outline).area > 1.0  # m^2; not an edge
        assert (tid in tiles) == inside, tid


def test_aoi_from_a_vector_file_uses_the_union_of_its_polygons(tmp_path):
    # two squares in EPSG:4326 far apart: tiles between them must not exist
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[sbox(10.00, 50.00, 10.05, 50.03), sbox(10.20, 50.00, 10.25, 50.03)],
        crs="EPSG:4326",
    )
    path = tmp_path / "aoi.gpkg"
    frame.to_file(path, driver="GPKG")
    cfg = {"crs": "EPSG:32632", "resolution": 100, "tile_px": 16, "aoi": {"vector": str(path)}}
    spec = grid.grid_from_config(cfg)
    gb = spec.geobox
    tiles = grid.tiles(gb, spec.tile_px, aoi=spec.aoi)
    polys = frame.to_crs("EPSG:32632").geometry
    union = _union(tiles)
    # geopandas' reprojection does not densify; the squares are small enough that the
    # chords differ from the curved edges by far less than a pixel, so test with buffer
    assert all(union.contains(p.buffer(-1)) for p in polys)
    margin = spec.tile_px * spec.resolution  # a tile holding a square's edge reaches out
    gap = sbox(
        polys[0].bounds[2] + margin,
        polys[0].bounds[1],
        polys[1].bounds[0] - margin,
        polys[0].bounds[3],
    )
    assert gap.area > 0
    assert not union.intersects(gap)
    assert len(tiles) < len(grid.tiles(gb, spec.tile_px))


def test_aoi_from_the_real_park_shapefile():
    spec = grid.grid_from_config(
        {
            "crs": "EPSG:32613",
            "resolution": 250,
            "tile_px": 16,
            "aoi": {"vector": str(DATA / "rmnp.shp")},
        }
    )
    tiles = grid.tiles(spec.geobox, spec.tile_px, aoi=spec.aoi)
    park = gpd.read_file(DATA / "rmnp.shp").to_crs("EPSG:32613").geometry[0]
    union = _union(tiles)
    assert union.contains(park.buffer(-1))
    assert all(t.extent.geom.intersection(park).area > 0 for t in tiles.values())
    assert len(tiles) < len(grid.tiles(spec.geobox, spec.tile_px))


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"crs": "EPSG:4326", "resolution": 10, "aoi": {"bounds": [0, 0, 1, 1]}}, "grid.crs"),
        (
            {"crs": "EPSG:32633", "resolution": 0, "aoi": {"bounds": [0, 0, 1, 1]}},
            "grid.resolution",
        ),
        ({"crs": "EPSG:32633", "resolution": 10, "aoi": {}}, "grid.aoi"),
        (
            {"crs": "EPSG:32633", "resolution": 10, "aoi": {"bounds": [5, 0, 1, 1]}},
            "grid.aoi.bounds",
        ),
        (
            {
                "crs": "EPSG:32633",
                "resolution": 10,
                "tile_size": 4,
                "aoi": {"bounds": [0, 0, 1, 1]},
            },
            "tile_size",
        ),
        ({"crs": "nonsense", "resolution": 10, "aoi": {"bounds": [0, 0, 1, 1]}}, "grid.crs"),
    ],
)
def test_config_errors_name_the_key(cfg, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        grid.grid_from_config(cfg)


def test_missing_vector_file_is_an_input_error(tmp_path):
    with pytest.raises(InputDataError, match="not found"):
        grid.area_of_interest(crs="EPSG:32633", vector=tmp_path / "nope.gpkg")


def test_geobox_params_round_trip_through_json():
    aoi = grid.area_of_interest(crs="EPSG:32633", bounds=[0, 0, 1000, 700])
    gb = grid.target_geobox(aoi, crs="EPSG:32633", resolution=10, origin=xy_(5, 5))
    tile = grid.tiles(gb, 32)["x002_y001"]
    back = grid.geobox_from_params(json.loads(json.dumps(grid.geobox_to_params(tile))))
    assert back == tile


# --- tiles touched by scene footprints ------------------------------------------------


def test_footprint_reads_the_header(tmp_path):
    path = tmp_path / "s.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=30,
        height=20,
        count=1,
        dtype="uint8",
        crs="EPSG:32632",
        transform=from_origin(500_000, 5_000_000, 10, 10),
    ) as d:
        d.write(np.zeros((1, 20, 30), np.uint8))
    fp = grid.footprint(path)
    assert tuple(fp) == (500_000, 4_999_800, 500_300, 5_000_000)
    assert fp.crs.epsg == 32632


def test_tiles_touched_keeps_only_tiles_a_footprint_overlaps():
    aoi = grid.area_of_interest(crs="EPSG:32633", bounds=[300_000, 5_000_000, 306_400, 5_004_800])
    gb = grid.target_geobox(aoi, crs="EPSG:32633", resolution=10)
    tiles = grid.tiles(gb, 64)  # 10 x 7.5 -> 10 x 8 tiles of 640 m
    # a footprint in the neighbouring UTM zone, a footprint that only touches a tile
    # edge from outside the grid, and one far away
    zone32 = BoundingBox(
        *BoundingBox(301_000, 5_001_000, 302_500, 5_002_000, "EPSG:32633").to_crs("EPSG:32632"),
        crs="EPSG:32632",
    )
    footprints = {
        "west": zone32,
        "edge": BoundingBox(306_400, 5_000_000, 307_000, 5_004_800, "EPSG:32633"),
        "far": BoundingBox(400_000, 5_100_000, 401_000, 5_101_000, "EPSG:32633"),
        "corner": BoundingBox(299_000, 5_004_000, 300_100, 5_005_000, "EPSG:32633"),
    }
    touched = grid.tiles_touched(tiles, footprints)
    # independent: intersection areas with footprints projected by pyproj (densified)
    expected: dict[str, list[str]] = {}
    for name, fp in footprints.items():
        tr = pyproj.Transformer.from_crs(fp.crs.to_wkt(), "EPSG:32633", always_xy=True)
        ring = shapely.segmentize(sbox(*fp), (fp.right - fp.left) / 50)
        xs, ys = tr.transform(*np.asarray(ring.exterior.coords).T)
        poly = shapely.Polygon(np.column_stack([xs, ys]))
        for tid, tile in tiles.items():
            if tile.extent.geom.intersection(poly).area > 1e-6:
                expected.setdefault(tid, []).append(name)
    assert touched == {t: expected[t] for t in tiles if t in expected}
    assert touched["x000_y000"] == ["corner"]
    assert not any("edge" in v or "far" in v for v in touched.values())
    assert 1 < len(touched) < len(tiles)


def _touched_one_by_one(tiles, footprints):
    """Reference: each footprint projected by odc-geo on its own, tiles tested one by one."""
    out: dict[str, list[str]] = {}
    for tid, tile in tiles.items():
        for name, fp in footprints.items():
            poly = fp.polygon if isinstance(fp, BoundingBox) else fp
            geom = poly.to_crs(tile.crs, resolution="auto").geom
            ext = tile.extent.geom
            if ext.intersects(geom) and not ext.touches(geom):
                out.setdefault(tid, []).append(name)
    return out


def test_bulk_tiles_touched_equals_one_by_one_across_crss():
    aoi = grid.area_of_interest(crs="EPSG:32633", bounds=[300_000, 5_000_000, 340_000, 5_030_000])
    tiles = grid.tiles(grid.target_geobox(aoi, crs="EPSG:32633", resolution=10), 500)
    rng = np.random.default_rng(7)
    footprints: dict[str, BoundingBox | object] = {}
    for i in range(60):
        x, y = rng.uniform(290_000, 345_000), rng.uniform(4_995_000, 5_035_000)
        w, h = rng.uniform(500, 9000, 2)
        bb = BoundingBox(x, y, x + w, y + h, "EPSG:32633")
        if i % 3 == 1:  # the same place in the neighbouring zone and in degrees
            bb = BoundingBox(*bb.to_crs("EPSG:32632"), crs="EPSG:32632")
        elif i % 3 == 2:
            bb = BoundingBox(*bb.to_crs("EPSG:4326"), crs="EPSG:4326")
        footprints[f"s{i:02d}"] = bb
    # exactly on tile edges (grid-aligned boxes), and a non-box footprint
    footprints["aligned"] = BoundingBox(305_000, 5_005_000, 310_000, 5_010_000, "EPSG:32633")
    footprints["poly"] = BoundingBox(
        320_100, 5_010_100, 326_000, 5_016_000, "EPSG:32633"
    ).polygon.buffer(300)
    touched = grid.tiles_touched(tiles, footprints)
    assert touched == _touched_one_by_one(tiles, footprints)
    assert touched and list(touched) == [t for t in tiles if t in touched]
    assert sum(len(v) for v in touched.values()) > len(footprints)  # many span tiles


def test_footprint_that_cannot_be_projected_is_an_input_error():
    gb = grid.target_geobox(
        grid.area_of_interest(crs="EPSG:32633", bounds=[300_000, 5_000_000, 301_000, 5_001_000]),
        crs="EPSG:32633",
        resolution=10,
    )
    broken = BoundingBox(0.0, 80.0, 10.0, 91.0, "EPSG:4326")  # a header with latitude 91
    with pytest.raises(InputDataError, match="cannot be projected into"):
        grid.tiles_touched(grid.tiles(gb, 50), {"broken": broken})


# --- periods ------------------------------------------------------------------------


D = dt.date


def test_yearly_monthly_and_seasonal_ids():
    assert periods.period_of(D(2024, 6, 3), "yearly").id == "2024"
    assert periods.period_of(D(2024, 6, 3), "monthly") == periods.Period(
        "2024-06", D(2024, 6, 1), D(2024, 6, 30)
    )
    assert periods.period_of(D(2024, 2, 29), "monthly").end == D(2024, 2, 29)
    seasons = {
        D(2023, 11, 30): "2023-SON",
        D(2023, 12, 1): "2024-DJF",
        D(2024, 1, 15): "2024-DJF",
        D(2024, 2, 29): "2024-DJF",
        D(2024, 3, 1): "2024-MAM",
        D(2024, 8, 31): "2024-JJA",
        D(2024, 12, 31): "2025-DJF",
    }
    for date, pid in seasons.items():
        assert periods.period_of(date, "seasonal").id == pid, date


def test_djf_spans_the_year_boundary():
    djf = periods.period_by_id("2024-DJF", periods.PeriodSpec("seasonal"))
    assert (djf.start, djf.end) == (D(2023, 12, 1), D(2024, 2, 29))
    assert periods.period_by_id("2023-DJF", periods.PeriodSpec("seasonal")).end == D(2023, 2, 28)


def test_group_by_period_orders_periods_and_scenes():
    dates = {
        "b": D(2024, 1, 5),
        "a": D(2023, 12, 20),
        "c": D(2024, 3, 1),
        "d": D(2023, 12, 20),
        "e": D(2024, 12, 1),
    }
    grouped = periods.group_by_period(dates, periods.PeriodSpec.from_config({"kind": "seasonal"}))
    assert grouped == {"2024-DJF": ["a", "d", "b"], "2024-MAM": ["c"], "2025-DJF": ["e"]}
    assert list(periods.group_by_period(dates, periods.PeriodSpec("yearly"))) == ["2023", "2024"]
    monthly = periods.group_by_period(dates, periods.PeriodSpec("monthly"))
    assert monthly == {"2023-12": ["a", "d"], "2024-01": ["b"], "2024-03": ["c"], "2024-12": ["e"]}


def test_named_ranges_may_overlap_and_leave_scenes_out():
    spec = periods.PeriodSpec.from_config(
        {
            "kind": "ranges",
            "ranges": {
                "summer": ["2024-06-01", "2024-08-31"],
                "growing": ["2024-05-01", "2024-09-30"],
            },
        }
    )
    dates = {
        "may": D(2024, 5, 20),
        "jul": D(2024, 7, 1),
        "aug31": D(2024, 8, 31),
        "nov": D(2024, 11, 2),
    }
    assert periods.group_by_period(dates, spec) == {
        "growing": ["may", "jul", "aug31"],
        "summer": ["jul", "aug31"],
    }
    assert periods.period_by_id("summer", spec).start == D(2024, 6, 1)


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"kind": "weekly"}, "periods.kind"),
        ({"kind": "ranges"}, "periods.ranges"),
        ({"kind": "ranges", "ranges": {"a b": ["2024-01-01", "2024-02-01"]}}, "periods.ranges.a b"),
        ({"kind": "ranges", "ranges": {"x": ["2024-03-01", "2024-02-01"]}}, "periods.ranges.x"),
        ({"kind": "ranges", "ranges": {"x": ["2024-13-01", "2024-12-01"]}}, "periods.ranges.x"),
        ({"kind": "yearly", "ranges": {"x": ["2024-01-01", "2024-12-01"]}}, "periods.ranges"),
        ({"knd": "yearly"}, "knd"),
    ],
)
def test_period_config_errors_name_the_key(cfg, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        periods.PeriodSpec.from_config(cfg)


@pytest.mark.parametrize(
    ("date", "kind", "pid"),
    [
        (D(9999, 12, 31), "yearly", "9999"),
        (D(1, 1, 15), "yearly", "0001"),
        (D(9999, 12, 31), "monthly", "9999-12"),
        (D(1, 1, 15), "monthly", "0001-01"),
        (D(999, 7, 1), "monthly", "0999-07"),
        (D(1, 3, 1), "seasonal", "0001-MAM"),
        (D(9999, 11, 30), "seasonal", "9999-SON"),
        (D(9999, 2, 28), "seasonal", "9999-DJF"),
        (D(1, 12, 1), "seasonal", "0002-DJF"),
    ],
)
def test_periods_at_the_ends_of_the_calendar_have_four_digit_ids(date, kind, pid):
    period = periods.period_of(date, kind)
    assert period.id == pid and date in period
    assert periods.period_by_id(pid, periods.PeriodSpec(kind)) == period


@pytest.mark.parametrize(
    ("date", "pid"), [(D(9999, 12, 31), "10000-DJF"), (D(1, 1, 15), "0001-DJF")]
)
def test_winters_outside_the_calendar_are_refused_clearly(date, pid):
    from rasterflow.errors import InputDataError

    with pytest.raises(InputDataError) as info:
        periods.period_of(date, "seasonal")
    assert str(info.value) == (
        f"season {pid} begins or ends outside the calendar's years 1..9999; use scene "
        "dates of years 1900..2199"
    )


def test_ranges_may_reach_the_ends_of_the_calendar():
    spec = periods.PeriodSpec.from_config(
        {"kind": "ranges", "ranges": {"all": ["0001-01-01", "9999-12-31"]}}
    )
    assert periods.group_by_period({"a": D(2024, 6, 1)}, spec) == {"all": ["a"]}
    assert periods.period_by_id("all", spec).end == D(9999, 12, 31)


def test_a_grid_of_too_many_tiles_is_refused_before_tiling():
    cfg = {
        "crs": "EPSG:32633",
        "resolution": 1e-6,
        "tile_px": 64,
        "aoi": {"bounds": [500000, 5999360, 500640, 6000000]},
    }
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        grid.grid_from_config(cfg)
    assert time.perf_counter() - t0 < 1.0  # tiling this grid would take years
    assert str(info.value) == (
        "grid: grid.aoi at grid.resolution 1e-06 is 640000001 x 640000001 pixels (4.1e+17) "
        "in 1e+14 tiles of 64 px, more than grid.max_tiles (100000); check grid.resolution "
        "(in grid.crs units), raise grid.tile_px, or raise grid.max_tiles"
    )


def test_grid_size_limits_are_config_keys():
    cfg = {
        "crs": "EPSG:32633",
        "resolution": 10,
        "tile_px": 16,
        "aoi": {"bounds": [500000, 5999360, 500640, 6000000]},
    }  # 65 x 65 px, 25 tiles
    grid.grid_from_config(cfg)
    with pytest.raises(ConfigError, match=r"25 tiles of 16 px, more than grid.max_tiles \(24\)"):
        grid.grid_from_config({**cfg, "max_tiles": 24})
    with pytest.raises(ConfigError, match=r"more than grid.max_pixels \(4e\+03\); check"):
        grid.grid_from_config({**cfg, "max_pixels": 4000})
    grid.grid_from_config({**cfg, "max_tiles": 25, "max_pixels": 65 * 65})


def test_grid_size_defaults_match_the_schema():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    keys = schema["properties"]["grid"]["properties"]
    assert keys["max_tiles"]["default"] == grid.MAX_TILES
    assert keys["max_pixels"]["default"] == grid.MAX_PIXELS


@pytest.mark.parametrize(
    "origin, resolution",
    [
        ((500015, 4000005), 30),  # a Landsat-like origin: (origin / 30) % 1 is inexact
        ((15, 15), 30),
        ((0.1, 0.7), 0.3),  # a degree-like resolution with inexact multiples
        ((0, 0), 10),
    ],
)
def test_an_aoi_already_on_the_grid_gets_exactly_its_pixels(origin, resolution):
    # issue #17: odc-geo's fractional anchor gave 101 x 100 for this 100 x 100 AOI
    ox, oy = origin
    left, top = ox + 37 * resolution, oy + 91 * resolution
    right, bottom = left + 100 * resolution, top - 100 * resolution
    spec = grid.grid_from_config(
        {
            "crs": "EPSG:32633",
            "resolution": resolution,
            "origin": list(origin),
            "tile_px": 64,
            "aoi": {"bounds": [left, bottom, right, top]},
        }
    )
    box = spec.geobox
    assert box.shape.yx == (100, 100)
    assert box.affine.c == pytest.approx(left, abs=1e-9 * resolution)
    assert box.affine.f == pytest.approx(top, abs=1e-9 * resolution)


def test_an_aoi_between_grid_lines_grows_to_the_next_ones_and_is_never_trimmed():
    spec = grid.grid_from_config(
        {
            "crs": "EPSG:32633",
            "resolution": 30,
            "origin": [0, 0],
            "tile_px": 64,
            "aoi": {"bounds": [500001, 3997005, 503015, 4000005]},
        }
    )
    box = spec.geobox
    assert (box.affine.c, box.affine.f) == (499980, 4000020)
    assert box.shape.yx == (101, 102)
    b = box.boundingbox
    assert b.left <= 500001 and b.right >= 503015 and b.bottom <= 3997005 and b.top >= 4000005


def _landsat_like(x0: float, y0: float) -> BoundingBox:
    """A Landsat scene's footprint: 30 m pixels, edges at 15 m + k x 30 m."""
    return BoundingBox(x0, y0 - 30 * 200, x0 + 30 * 200, y0, "EPSG:32633")


LANDSAT_GRID = {
    "crs": "EPSG:32633",
    "resolution": 30,
    "tile_px": 64,
    "aoi": {"bounds": [300015, 4990005, 306015, 4996005]},
}


def test_by_default_the_grid_is_the_scenes_own_pixel_grid():
    phases = grid.scene_phases(
        {"a": _landsat_like(300015, 4996005), "b": _landsat_like(303015.0000000001, 4993005)},
        "EPSG:32633",
        30,
    )
    assert phases == {(15.0, 15.0): ["a", "b"]}
    spec = grid.grid_from_config({**LANDSAT_GRID, "origin": None}, phases=phases)
    assert (spec.origin.x, spec.origin.y) == (15.0, 15.0)
    assert spec.geobox.affine.c == 300015 and spec.geobox.shape == (200, 200)
    assert grid.alignment_warning(spec, phases, configured=False) is None
    # the old default, [0, 0], is half a pixel off: said, with the origin that aligns
    off = grid.grid_from_config({**LANDSAT_GRID, "origin": [0, 0]}, phases=phases)
    assert off.geobox.shape == (201, 201)  # every pixel straddles four of the scenes'
    msg = grid.alignment_warning(off, phases, configured=True)
    assert msg is not None and "15 (x) and 15 (y)" in msg
    assert "set grid.origin: [15, 15]" in msg and "a, b" in msg


def test_scenes_on_different_grids_or_crss_keep_origin_0_0_and_are_named():
    phases = grid.scene_phases(
        {
            "a": _landsat_like(300015, 4996005),
            "b": _landsat_like(300000, 4995990),
            "other": BoundingBox(0, 0, 10, 10, "EPSG:32634"),
        },
        "EPSG:32633",
        30,
    )
    assert phases == {(15.0, 15.0): ["a"], (0.0, 0.0): ["b"]}  # another CRS: warped anyway
    spec = grid.grid_from_config({**LANDSAT_GRID, "origin": None}, phases=phases)
    assert (spec.origin.x, spec.origin.y) == (0.0, 0.0)
    msg = grid.alignment_warning(spec, phases, configured=False)
    assert msg is not None and "2 different pixel grids" in msg and "[15, 15]: a" in msg


def test_a_landsat_like_index_composited_on_the_default_grid_keeps_its_pixels(tmp_path):
    """No resampling where none is needed: on the default grid (aligned to the scene)
    the composite of one scene is its index, pixel for pixel."""
    from rasterflow import composite

    rng = np.random.default_rng(3)
    data = rng.uniform(-1, 1, (200, 200)).astype(np.float32)
    data[:20, :30] = np.nan
    path = tmp_path / "ndvi.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=200,
        height=200,
        count=1,
        dtype="float32",
        crs="EPSG:32633",
        nodata=np.nan,
        transform=from_origin(300015, 4996005, 30, 30),
    ) as dst:
        dst.write(data, 1)
    phases = grid.scene_phases({"s": grid.footprint(path)}, "EPSG:32633", 30)
    spec = grid.grid_from_config({**LANDSAT_GRID, "origin": None}, phases=phases)
    out = tmp_path / "c.tif"
    composite.run(inputs=[str(path)], tile=spec.geobox, output=str(out), statistic="median")
    with rasterio.open(out) as src:
        np.testing.assert_array_equal(src.read(1), data)


def test_random_grids_cover_their_aoi_tightly_on_the_origins_lattice():
    """Property test (seeded): any origin, resolution and AOI, negative and degree-like
    values included; AOIs on grid lines get exactly their pixels."""
    rng = np.random.default_rng(17)
    for _ in range(400):
        res = float(rng.choice([0.0001, 0.3, 1, 10, 20, 28.5, 30, 60, 1000])) * float(
            rng.choice([1, 1, 1, 1 + 1e-12])
        )
        origin = rng.uniform(-1e6, 1e6, 2) * rng.choice([0, 1e-3, 1])
        ox, oy = float(origin[0]), float(origin[1])
        kx, ky = int(rng.integers(-50_000, 50_000)), int(rng.integers(-50_000, 50_000))
        nx, ny = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        on_grid = bool(rng.integers(0, 2))
        fx, fy = (0.0, 0.0) if on_grid else tuple(rng.uniform(0.01, 0.99, 2))
        left, top = ox + (kx + fx) * res, oy + (ky + fy) * res
        right, bottom = left + nx * res, top - ny * res
        spec = grid.grid_from_config(
            {
                "crs": "EPSG:32633",
                "resolution": res,
                "origin": [ox, oy],
                "tile_px": 64,
                "aoi": {"bounds": [left, bottom, right, top]},
            }
        )
        g = spec.geobox
        b = g.boundingbox
        tol = 1e-6 * res + 1e-9 * max(abs(left), abs(top), 1.0)
        case = (ox, oy, res, left, bottom, right, top)
        # covers the AOI, never more than one pixel beyond it on any side
        assert b.left <= left + tol and b.right >= right - tol, case
        assert b.bottom <= bottom + tol and b.top >= top - tol, case
        assert left - b.left < res + tol and b.right - right < res + tol, case
        assert b.top - top < res + tol and bottom - b.bottom < res + tol, case
        # pixel edges on the origin's lattice
        assert (
            _is_multiple(g.affine.c - ox, res)
            or abs(round((g.affine.c - ox) / res) * res + ox - g.affine.c) <= tol
        ), case
        if on_grid:
            assert g.shape.yx == (ny, nx), case
        else:
            assert g.shape.yx == (ny + 1, nx + 1), case


SMALL_SCENE = BoundingBox(500_000, 3_990_000, 510_000, 4_000_000, "EPSG:32633")


def test_without_an_aoi_the_grid_spans_the_scenes():
    spec = grid.grid_from_config(
        {"crs": "EPSG:32633", "resolution": 30, "origin": [0, 0], "tile_px": 64},
        footprints={"a": SMALL_SCENE},
    )
    assert spec.geobox.boundingbox == BoundingBox(
        499_980, 3_990_000, 510_000, 4_000_020, "EPSG:32633"
    )
    with pytest.raises(ConfigError, match="grid.aoi: give bounds"):
        grid.grid_from_config({"crs": "EPSG:32633", "resolution": 30, "tile_px": 64})


def test_an_aoi_is_bounded_by_the_data_and_empty_when_no_scene_meets_it():
    def spec(bounds, crs=None):
        return grid.grid_from_config(
            {
                "crs": "EPSG:32633",
                "resolution": 10,
                "origin": [0, 0],
                "tile_px": 64,
                "aoi": {"bounds": bounds, "crs": crs},
            },
            footprints={"a": SMALL_SCENE},
        )

    # a part of the scene: the AOI's part
    assert spec([505_000, 3_995_000, 520_000, 4_010_000]).geobox.boundingbox == BoundingBox(
        505_000, 3_995_000, 510_000, 4_000_000, "EPSG:32633"
    )
    # a continent in degrees: the scene's bounds
    assert spec([-20, 30, 60, 40], "EPSG:4326").geobox.boundingbox == BoundingBox(
        *SMALL_SCENE, "EPSG:32633"
    )
    # far away: nothing to grid (the plan then has no tiles, and warns)
    assert spec([0, 0, 10, 10]).aoi.is_empty
    assert spec([-20, 10, 60, 30], "EPSG:4326").aoi.is_empty


def test_a_countries_sized_vector_aoi_is_clipped_to_small_scenes_in_its_own_crs(tmp_path):
    """The README's aoi: {vector: ...} with a layer far larger than the data: the grid
    and the mosaics span the scenes, and the layer is cut before it is reprojected
    (its far side, outside any UTM zone's domain, is never projected)."""
    lon = np.linspace(-170, 170, 20_000)  # a dense outline, as a countries layer
    ring = np.concatenate(
        [np.c_[lon, np.full_like(lon, -60)], np.c_[lon[::-1], np.full_like(lon, 75)]]
    )
    countries = gpd.GeoDataFrame(
        {"name": ["world"]}, geometry=[shapely.Polygon(ring)], crs="EPSG:4326"
    )
    path = tmp_path / "countries.gpkg"
    countries.to_file(path)
    cfg = {
        "crs": "EPSG:32633",
        "resolution": 10,
        "origin": [0, 0],
        "tile_px": 2048,
        "aoi": {"vector": str(path)},
    }
    with pytest.raises(ConfigError, match="more than grid.max_tiles"):
        grid.grid_from_config(cfg)  # the layer alone: refused with its size
    spec = grid.grid_from_config(cfg, footprints={"a": SMALL_SCENE})
    assert spec.geobox.boundingbox == BoundingBox(*SMALL_SCENE, "EPSG:32633")
    assert spec.geobox.shape.yx == (1000, 1000)
    assert len(grid.tiles(spec.geobox, spec.tile_px, aoi=spec.aoi)) == 1


def test_describe_gives_the_grid_tiles_and_mosaic_sizes():
    spec = grid.grid_from_config(
        {"crs": "EPSG:32633", "resolution": 10, "origin": [0, 0], "tile_px": 512},
        footprints={"a": SMALL_SCENE},
    )
    assert grid.describe(spec.geobox, tiles=4, tile_px=512, mosaics=2) == (
        "grid: 1000 x 1000 px of 10 m in EPSG:32633, [500000, 3990000, 510000, 4000000]; "
        "4 tile(s) of 512 px with data; 2 mosaic(s) (each with its count) of 1000 x 1000 "
        "px, 4.0 MB each as uncompressed float32"
    )
