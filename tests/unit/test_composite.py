"""Composites: against NumPy over an explicitly reprojected stack, across tile borders."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
from cases.composite import TILE, read_band, write_scene, write_scenes
from helpers import digest
from odc.geo.geobox import GeoBox
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject
from rio_cogeo.cogeo import cog_validate

from rasterflow import composite, grid, mosaic, warp
from rasterflow.errors import ConfigError, InputDataError

STATS = ["median", "mean", "min", "max", "p10", "p90"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> list[str]:
    """Five index rasters in two UTM zones, partly overlapping the tile, with gaps.

    Returned in date order, which is the order the composite stacks them in.
    """
    return write_scenes(tmp_path_factory.mktemp("scenes"))


def _gcps(src) -> list[GroundControlPoint]:
    """The georeferencing the composite gives a source in another CRS, built from its
    definition (rasterflow.warp.polynomial_vrt): the exact EPSG:32633 coordinates of
    GCP_NODES x GCP_NODES evenly spaced pixel corners of the source, edges included."""
    n = warp.GCP_NODES
    cols, rows = np.meshgrid(np.linspace(0, src.width, n), np.linspace(0, src.height, n))
    x, y = Transformer.from_crs(src.crs.to_wkt(), "EPSG:32633", always_xy=True).transform(
        *(src.transform * (cols, rows))
    )
    return [
        GroundControlPoint(row=r, col=c, x=xx, y=yy)
        for r, c, xx, yy in zip(
            rows.ravel().tolist(),
            cols.ravel().tolist(),
            np.ravel(x).tolist(),
            np.ravel(y).tolist(),
            strict=True,
        )
    ]


def _reference_stack(paths: list[str], resampling: str, *, exact: bool = False) -> np.ndarray:
    """Each input reprojected in one call onto the whole tile, stacked in date order.

    GDAL estimates the kernel scale of bilinear/cubic anew for every chunk it warps (see
    rasterflow.warp.read_onto); the reference states it, as the plain ratio of the
    resolutions, so that it is the scale of the warp, not of the warper's chunking.
    Sources in the tile's CRS are warped with their geotransform, the others with GDAL's
    third-order polynomial through their GCPs (``exact``: PROJ per pixel), each
    evaluated per pixel (tolerance=0). Everything else is GDAL's default.
    """
    layers = []
    for p in paths:
        with rasterio.open(p) as src:
            dst = np.full(TILE.shape.yx, np.nan, dtype=np.float32)
            ratio = str(src.res[0] / 10)
            if exact or src.crs == "EPSG:32633":
                where = {"src_transform": src.transform, "src_crs": src.crs}
            else:
                where = {"gcps": _gcps(src), "src_crs": "EPSG:32633", "MAX_GCP_ORDER": "3"}
            with warnings.catch_warnings():
                # rasterio's in-memory copy of a GCP-georeferenced array claims it has none
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                reproject(
                    src.read(1),
                    dst,
                    src_nodata=src.nodata,
                    dst_transform=TILE.affine,
                    dst_crs="EPSG:32633",
                    dst_nodata=np.nan,
                    resampling=Resampling[resampling],
                    tolerance=0,
                    XSCALE=ratio,
                    YSCALE=ratio,
                    **where,
                )
            layers.append(dst)
    return np.stack(layers)


def _numpy_statistic(stack: np.ndarray, stat: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        if stat.startswith("p"):
            return np.nanpercentile(stack, float(stat[1:]), axis=0).astype(np.float32)
        return getattr(np, f"nan{stat}")(stack, axis=0).astype(np.float32)


@pytest.fixture(scope="module")
def reference(scenes):
    cache: dict[str, np.ndarray] = {}

    def get(resampling: str) -> np.ndarray:
        if resampling not in cache:
            cache[resampling] = _reference_stack(scenes, resampling)
        return cache[resampling]

    return get


def test_the_test_data_has_clouds_nodata_and_partial_overlaps(reference):
    count = (~np.isnan(reference("bilinear"))).sum(axis=0)
    # every observation count occurs, from none to all five
    assert set(np.unique(count)) == {0, 1, 2, 3, 4, 5}
    per_scene = (~np.isnan(reference("bilinear"))).mean(axis=(1, 2))
    assert ((per_scene > 0.1) & (per_scene < 0.9)).all()


@pytest.mark.parametrize("stat", STATS)
def test_composite_equals_numpy_over_the_reprojected_stack(scenes, reference, tmp_path, stat):
    out, cnt = tmp_path / "c.tif", tmp_path / "n.tif"
    composite.run(
        inputs=scenes[::-1],
        tile=grid.geobox_to_params(TILE),
        output=str(out),
        count_output=str(cnt),
        statistic=stat,
        resampling="bilinear",
        chunk=48,
    )
    stack = reference("bilinear")
    np.testing.assert_array_equal(read_band(out), _numpy_statistic(stack, stat))
    np.testing.assert_array_equal(read_band(cnt), (~np.isnan(stack)).sum(axis=0))


def test_only_sources_in_another_crs_are_warped_through_the_polynomial(scenes):
    # the reference above builds its GCPs itself; this checks the composite used them
    for source in composite.inspect_sources(scenes, TILE):
        with rasterio.open(source.path) as src:
            other_crs = src.crs != "EPSG:32633"
        assert (source.vrt is not None) == other_crs
        if other_crs:
            with rasterio.open(source.vrt) as vrt:
                assert len(vrt.gcps[0]) == warp.GCP_NODES**2 and vrt.transform.is_identity


@pytest.mark.parametrize("resampling", ["nearest", "cubic", "average"])
def test_composite_equals_numpy_for_other_resampling(scenes, reference, tmp_path, resampling):
    out = tmp_path / "c.tif"
    composite.run(
        inputs=scenes,
        tile=TILE,
        output=str(out),
        statistic="median",
        resampling=resampling,
        chunk=64,
    )
    np.testing.assert_array_equal(read_band(out), _numpy_statistic(reference(resampling), "median"))


def test_nan_does_not_bleed_into_valid_pixels(tmp_path):
    # a source a quarter pixel off the tile grid
    rng = np.random.default_rng(7)
    src = rng.uniform(0, 1, (40, 40)).astype(np.float32)
    src[10:20, 12:25] = np.nan
    src[30, 30] = np.nan
    path = write_scene(
        tmp_path / "s.tif", src, crs="EPSG:32633", x0=-2.5, y0=402.5, res=10, date="2024-01-01"
    )
    tile = GeoBox((38, 38), from_origin(0, 400, 10, 10), "EPSG:32633")
    out = tmp_path / "c.tif"
    composite.run(
        inputs=[path], tile=tile, output=str(out), statistic="mean", resampling="bilinear"
    )
    got = read_band(out).astype(np.float64)
    # by hand: the dst centre (j + 0.5) * 10 lies 0.75 into source pixel j, a quarter
    # pixel from its centre towards j + 1, so along each axis j weighs 3/4 and j + 1
    # 1/4; NaN neighbours drop out and the rest renormalise; the pixel is NaN only if
    # the source pixel under its centre is
    expected = np.full((38, 38), np.nan)
    for i in range(38):
        for j in range(38):
            if np.isnan(src[i, j]):
                continue
            w = np.outer([0.75, 0.25], [0.75, 0.25])
            block = src[i : i + 2, j : j + 2].astype(np.float64)
            ok = ~np.isnan(block)
            expected[i, j] = (w[ok] * block[ok]).sum() / w[ok].sum()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=2e-6)
    # next to the blob there are valid pixels whose kernel held NaN: the rule applied
    assert np.isfinite(got[9, 12:24]).all() and np.isnan(src[10, 12:24]).all()


def test_tiles_then_mosaic_equal_one_whole_tile_pixel_for_pixel(scenes, tmp_path):
    whole, whole_n = tmp_path / "whole.tif", tmp_path / "whole_n.tif"
    composite.run(
        inputs=scenes,
        tile=TILE,
        output=str(whole),
        count_output=str(whole_n),
        statistic="median",
        resampling="bilinear",
        chunk=512,
    )
    tiles = grid.tiles(TILE, 64)
    assert len(tiles) == 9  # 3 x 3, the last row and column cut short
    touched = grid.tiles_touched(tiles, {p: grid.footprint(p) for p in scenes})
    outs, counts = [], []
    for tid, on_tile in touched.items():
        outs.append(str(tmp_path / "tiles" / f"{tid}.tif"))
        counts.append(str(tmp_path / "tiles" / f"{tid}_n.tif"))
        composite.run(
            inputs=on_tile,
            tile=grid.geobox_to_params(tiles[tid]),
            output=outs[-1],
            count_output=counts[-1],
            statistic="median",
            resampling="bilinear",
            chunk=32,
            tags={"TILE": tid, "PERIOD": "2024"},
        )
    params = grid.geobox_to_params(TILE)
    mosaic.run(
        inputs=outs,
        vrt=str(tmp_path / "m.vrt"),
        cog=str(tmp_path / "m.tif"),
        geobox=params,
        chunk=100,
    )
    mosaic.run(
        inputs=counts, vrt=str(tmp_path / "n.vrt"), cog=str(tmp_path / "n.tif"), geobox=params
    )
    for product in ("m.vrt", "m.tif"):
        np.testing.assert_array_equal(read_band(tmp_path / product), read_band(whole))
    for product in ("n.vrt", "n.tif"):
        np.testing.assert_array_equal(read_band(tmp_path / product), read_band(whole_n))
    with rasterio.open(tmp_path / "m.tif") as src:
        assert src.tags()["PERIOD"] == "2024" and "TILE" not in src.tags()
        assert src.descriptions == ("NDVI_median",)


def test_same_bytes_whatever_chunk_and_input_order(scenes, tmp_path):
    digests = set()
    for i, (chunk, order) in enumerate(
        [(512, scenes), (37, scenes[::-1]), (64, scenes[2:] + scenes[:2])]
    ):
        out, cnt = tmp_path / f"{i}" / "c.tif", tmp_path / f"{i}" / "n.tif"
        composite.run(
            inputs=order,
            tile=TILE,
            output=str(out),
            count_output=str(cnt),
            statistic="mean",
            chunk=chunk,
        )
        digests.add((digest(out), digest(cnt)))
    assert len(digests) == 1


def test_outputs_are_cogs_with_types_nodata_and_provenance(scenes, tmp_path):
    out, cnt = tmp_path / "c.tif", tmp_path / "n.tif"
    composite.run(
        inputs=scenes,
        tile=TILE,
        output=str(out),
        count_output=str(cnt),
        statistic="p10",
        resampling="bilinear",
        tags={"PERIOD": "2024-JJA"},
    )
    for path in (out, cnt):
        valid, errors, _ = cog_validate(str(path))
        assert valid, errors
    with rasterio.open(out) as src:
        assert src.dtypes == ("float32",) and np.isnan(src.nodata)
        assert GeoBox.from_rio(src) == TILE
        tags = src.tags()
        params = json.loads(tags["RASTERFLOW_PARAMS"])
        assert params["statistic"] == "p10" and params["resampling"] == "bilinear"
        assert params["dates"] == sorted(params["dates"]) and len(params["dates"]) == 5
        assert json.loads(tags["RASTERFLOW_INPUTS"]) == scenes  # in date order
        assert tags["PERIOD"] == "2024-JJA" and tags["N_SCENES"] == "5"
    with rasterio.open(cnt) as src:
        assert src.dtypes == ("uint16",) and src.nodata == 0  # no valid observation: empty in GIS
        assert src.tags()["PRODUCT"] == "count"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tif", "n.tif"]  # no scratch


def test_reduce_stack_handles_all_nan_pixels_without_warnings():
    stack = np.array([[[np.nan, 1.0]], [[np.nan, 3.0]]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result, count = composite.reduce_stack(stack, composite.parse_statistic("median"))
    np.testing.assert_array_equal(result, [[np.nan, 2.0]])
    np.testing.assert_array_equal(count, [[0, 2]])
    assert count.dtype == np.uint16 and result.dtype == np.float32


@pytest.mark.parametrize("seed", range(4))
def test_reduce_stack_equals_numpy_bit_for_bit(seed):
    # median and percentiles are reimplemented on one sort (NumPy's nanpercentile loops
    # over pixels in Python); they must keep NumPy's exact arithmetic, ties included
    rng = np.random.default_rng(seed)
    for depth in (1, 2, 5, 6, 13, 40):
        stack = rng.uniform(-1, 1, (depth, 30, 20)).astype(np.float32) * [1, 1e-3, 1e4][seed % 3]
        if seed % 2:
            stack = np.round(stack, 1)
        stack[rng.random(stack.shape) < rng.uniform(0.1, 0.9)] = np.nan
        for stat in STATS + ["p0", "p2.5", "p33.3", "p50", "p97.5", "p100"]:
            got, count = composite.reduce_stack(stack, composite.parse_statistic(stat))
            np.testing.assert_array_equal(got, _numpy_statistic(stack, stat), err_msg=stat)
            np.testing.assert_array_equal(count, (~np.isnan(stack)).sum(axis=0))


def test_reduce_stack_orders_infinities_and_gaps_as_numpy():
    # the sort of short stacks treats NaN as +inf for a while: a real +inf must stay
    stack = np.array(
        [
            [[np.inf, np.nan, 1.0, -np.inf]],
            [[2.0, np.inf, np.nan, np.nan]],
            [[np.nan, 3.0, np.inf, 5.0]],
        ],
        dtype=np.float32,
    )
    for stat in ("median", "p0", "p100", "min", "max"):
        with np.errstate(invalid="ignore"):  # inf - inf, in NumPy's arithmetic as in ours
            got, count = composite.reduce_stack(stack, composite.parse_statistic(stat))
            np.testing.assert_array_equal(got, _numpy_statistic(stack, stat), err_msg=stat)
        np.testing.assert_array_equal(count, [[2, 2, 2, 2]])


@pytest.mark.parametrize("text", ["p101", "q50", "average", "p", "p-5"])
def test_bad_statistic_names_the_key(text):
    with pytest.raises(ConfigError, match="composite.statistic"):
        composite.parse_statistic(text)


def test_bad_inputs_are_reported(scenes, tmp_path):
    with pytest.raises(InputDataError, match="no input rasters"):
        composite.run(inputs=[], tile=TILE, output=str(tmp_path / "c.tif"))
    multi = tmp_path / "multi.tif"
    with rasterio.open(
        multi,
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=2,
        dtype="float32",
        crs="EPSG:32633",
        transform=from_origin(300_000, 5_000_000, 10, 10),
    ) as d:
        d.write(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(InputDataError, match="2 bands"):
        composite.run(inputs=[str(multi)], tile=TILE, output=str(tmp_path / "c.tif"))
    with pytest.raises(ConfigError, match="composite.resampling"):
        composite.run(
            inputs=scenes, tile=TILE, output=str(tmp_path / "c.tif"), resampling="bicubic"
        )


def test_plan_jobs_pairs_tiles_and_periods_with_scenes():
    touched = {"x000_y000": ["a", "b"], "x001_y000": ["c"]}
    by_period = {"2024-05": ["a"], "2024-06": ["b", "c"], "2024-07": ["d"]}
    assert composite.plan_jobs(touched, by_period) == {
        ("x000_y000", "2024-05"): ["a"],
        ("x000_y000", "2024-06"): ["b"],
        ("x001_y000", "2024-06"): ["c"],
    }


@pytest.mark.parametrize(
    ("scenes", "tile", "threads", "memory", "chunk"),
    [
        (6, (2048, 2048), 2, 875 * 2**20, 1024),  # the default job: a chunk per thread
        (6, (1024, 1024), 1, 3500 * 2**20, 2048),  # one chunk for one thread
        (100, (2048, 2048), 2, 875 * 2**20, 512),  # many scenes: memory decides
        (2000, (2048, 2048), 2, 875 * 2**20, 256),  # the smallest, even over budget
        (6, (2048, 2048), 2, None, 512),  # memory unknown: the former fixed default
    ],
)
def test_auto_chunk_is_the_largest_within_memory_with_a_chunk_per_thread(
    scenes, tile, threads, memory, chunk
):
    assert composite.auto_chunk(scenes, tile, threads=threads, memory_per_thread=memory) == chunk
    if memory is not None and chunk != composite.AUTO_CHUNKS[-1]:
        assert (2.5 * scenes + 4) * chunk**2 * 4 <= memory / 2
