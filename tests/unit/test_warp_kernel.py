"""The compiled bilinear warp (rasterflow._warp_kernel) against GDAL's warper, on real data."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import DATA
from odc.geo.geobox import GeoBox
from rasterio.transform import from_origin

from rasterflow import composite, warp
from rasterflow._warp_kernel import AFFINE, NETWORK_MAX, POLYNOMIAL
from rasterflow.composite._blocks import _composite_block, _kernel_warp_one


def _float_copy(src_path: Path, out: Path, values, *, nodata: float = np.nan) -> str:
    """A single-band float32 GeoTIFF of ``values(dataset)`` on ``src_path``'s grid."""
    with rasterio.open(src_path) as src:
        data = values(src).astype(np.float32)
        profile = src.profile
    profile.update(
        driver="GTiff",
        dtype="float32",
        count=1,
        nodata=nodata,
        tiled=True,
        blockxsize=128,
        blockysize=128,
        compress="deflate",
    )
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data, 1)
    return str(out)


def _ndvi(src) -> np.ndarray:
    red, blue, nir = (src.read(b).astype(np.float32) for b in (1, 3, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    # gaps where clouds would be: the brightest 3 % in blue (roofs, here)
    ndvi[blue >= np.percentile(blue, 97)] = np.nan
    return ndvi


def _heights(src) -> np.ndarray:
    dem = src.read(1).astype(np.float32)
    dem[dem == src.nodata] = np.nan
    return dem


@pytest.fixture(scope="module")
def ndvi(tmp_path_factory) -> str:
    """NDVI of the real aerial scene (EPSG:32618, 5 m), NaN gaps."""
    return _float_copy(DATA / "rgbn.tif", tmp_path_factory.mktemp("k") / "ndvi.tif", _ndvi)


@pytest.fixture(scope="module")
def dem(tmp_path_factory) -> str:
    """The real Rocky Mountain DEM (EPSG:4326) as float32 with NaN nodata."""
    return _float_copy(DATA / "rmnp-dem.tif", tmp_path_factory.mktemp("k") / "dem.tif", _heights)


def _both(path: str, tile: GeoBox) -> tuple[composite.Source, np.ndarray, np.ndarray]:
    """(the source, the kernel's warp, GDAL's warp through rasterflow.warp.read_onto)."""
    [source] = composite.inspect_sources([path], tile)
    assert source.kernel is not None
    ny, nx = tile.shape.yx
    ours = _kernel_warp_one(source, tile, (0, ny), (0, nx))[0]
    gdal = warp.read_onto(
        path,
        tile,
        resampling="bilinear",
        dtype=np.float32,
        fill=np.nan,
        scale=source.scale,
        vrt=source.vrt,
    )[0]
    return source, ours, gdal


def _around(path: str, crs: str, res: float, *, shift: tuple[float, float]) -> GeoBox:
    """A grid in ``crs`` a little larger than the raster (its edges are inside), off
    the raster's pixel grid by ``shift`` metres."""
    with rasterio.open(path) as src:
        extent = GeoBox.from_rio(src).extent.to_crs(crs).boundingbox
    x0, y0 = round(extent.left) - 3 * res + shift[0], round(extent.top) + 3 * res + shift[1]
    return GeoBox(
        (int(extent.span_y // res) + 6, int(extent.span_x // res) + 6),
        from_origin(x0, y0, res, res),
        crs,
    )


@pytest.mark.parametrize("res", [5, 2.5])  # the scene's own resolution, and finer
def test_same_crs_equals_gdal_bit_for_bit_on_real_data(ndvi, res):
    # edges and gaps of the real scene included: the grid reaches past every side
    source, ours, gdal = _both(ndvi, _around(ndvi, "EPSG:32618", res, shift=(1.3, -2.2)))
    assert source.kernel.kind == AFFINE
    np.testing.assert_array_equal(ours, gdal)
    valid = ~np.isnan(gdal)
    assert 0.5 < valid.mean() < 0.98 and np.isnan(gdal[5:-5, 5:-5]).mean() > 0.01


@pytest.mark.parametrize("shift", [(0, 0), (15, -5), (2.5, -1.25), (1.3, 0)])
@pytest.mark.parametrize("nodata", [np.nan, -9999.0, None])
def test_grids_on_the_scenes_lattice_equal_gdal_bit_for_bit(ndvi, tmp_path, shift, nodata):
    # the scene's resolution, on its pixel edges or a whole or a fraction of a pixel
    # off: every row's positions step one pixel at one fraction, the kernel's
    # vectorised run (_warp_kernel._steady_run), with gaps, nodata and edges
    with rasterio.open(ndvi) as src:
        profile, data = src.profile, src.read(1)
    if nodata is None or not np.isnan(nodata):
        data[np.isnan(data)] = -9999.0 if nodata is not None else 0.0
        if shift[0] % 5:
            # NaN values, where nodata is a number or none; on the lattice itself GDAL
            # keeps a pixel whose zero-weight neighbour is such a NaN and the kernel
            # does not (it never did: a gap one pixel wider, found with this test)
            data[50:60:3, ::4] = np.nan
    path = tmp_path / "lattice.tif"
    with rasterio.open(path, "w", **{**profile, "nodata": nodata}) as dst:
        dst.write(data, 1)
    source, ours, gdal = _both(str(path), _around(ndvi, "EPSG:32618", 5, shift=shift))
    assert source.kernel.kind == AFFINE
    np.testing.assert_array_equal(ours, gdal)
    if nodata is not None or shift[0] % 5:  # nodata, or NaN values, in the raster
        assert np.isnan(gdal[5:-5, 5:-5]).mean() > 0.001


@pytest.mark.parametrize(
    ("fixture", "crs", "res"),
    [
        ("ndvi", "EPSG:32617", 5),  # the next UTM zone
        ("dem", "EPSG:32613", 20),  # geographic degrees to UTM
    ],
)
def test_other_crs_follows_gdals_polynomial_on_real_data(request, fixture, crs, res):
    path = request.getfixturevalue(fixture)
    source, ours, gdal = _both(path, _around(path, crs, res, shift=(0.7, -0.4)))
    assert source.kernel.kind == POLYNOMIAL
    # the kernel's polynomial is fitted in NumPy to the very points GDAL fits its own
    # to: the same to rounding, so the same gaps and values within a few float32 ulps
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(gdal))
    valid = ~np.isnan(gdal)
    assert valid.mean() > 0.5
    np.testing.assert_allclose(ours[valid], gdal[valid], rtol=5e-7, atol=0)
    assert (ours[valid] != gdal[valid]).mean() < 1e-3


def test_kernel_pixels_do_not_depend_on_the_chunk(dem):
    tile = _around(dem, "EPSG:32613", 20, shift=(0.7, -0.4))
    [source] = composite.inspect_sources([dem], tile)
    ny, nx = tile.shape.yx
    whole = _kernel_warp_one(source, tile, (0, ny), (0, nx))[0]
    pieces = np.full_like(whole, np.nan)
    rows = [0, 37, 38, 301, ny]
    cols = [0, 1, 129, nx]
    for r0, r1 in itertools.pairwise(rows):
        for c0, c1 in itertools.pairwise(cols):
            pieces[r0:r1, c0:c1] = _kernel_warp_one(source, tile, (r0, r1), (c0, c1))[0]
    np.testing.assert_array_equal(pieces, whole)


def test_mixed_kernel_and_gdal_sources_give_the_fused_pixels(ndvi, tmp_path):
    # a second scene in the same CRS with another nodata value, shifted
    with rasterio.open(ndvi) as src:
        profile, data = src.profile, src.read(1)
    data = np.where(np.isnan(data), np.float32(-9999), data[:, ::-1])
    profile.update(nodata=-9999, transform=src.transform * src.transform.translation(3.4, 1.7))
    other = tmp_path / "other.tif"
    with rasterio.open(other, "w", **profile) as dst:
        dst.write(data, 1)
    tile = _around(ndvi, "EPSG:32618", 5, shift=(1.3, -2.2))
    sources = tuple(composite.inspect_sources([ndvi, str(other)], tile))
    assert all(s.kernel is not None for s in sources)
    ny, nx = tile.shape.yx
    info = {None: {"array-location": [(0, 2), (0, ny), (0, nx)]}}
    for stat in ("median", "p90", "mean", "min", "max"):
        statistic = composite.parse_statistic(stat)
        fused = _composite_block(
            sources=sources, tile=tile, statistic=statistic, resampling="bilinear", block_info=info
        )
        # the second scene through GDAL's warper: its stack reduced with NumPy
        mixed = (sources[0], dataclasses.replace(sources[1], kernel=None))
        split = _composite_block(
            sources=mixed, tile=tile, statistic=statistic, resampling="bilinear", block_info=info
        )
        np.testing.assert_array_equal(fused, split)
    assert set(np.unique(fused[1])) == {0, 1, 2}


def test_only_what_the_kernel_reproduces_goes_through_it(ndvi, tmp_path):
    tile = _around(ndvi, "EPSG:32618", 5, shift=(1.3, -2.2))
    assert composite.inspect_sources([ndvi], tile)[0].kernel is not None
    # a coarser grid: GDAL widens its bilinear kernel below a scale of 0.95
    coarse = _around(ndvi, "EPSG:32618", 10, shift=(1.3, -2.2))
    assert composite.inspect_sources([ndvi], coarse)[0].kernel is None
    # integer pixels, and validity held in a mask band
    with rasterio.open(ndvi) as src:
        profile, data = src.profile, src.read(1)
    ints = tmp_path / "ints.tif"
    with rasterio.open(ints, "w", **{**profile, "dtype": "int16", "nodata": -1}) as dst:
        dst.write(np.nan_to_num(data * 1000, nan=-1).astype(np.int16), 1)
    masked = tmp_path / "masked.tif"
    with rasterio.open(masked, "w", **{**profile, "nodata": None}) as dst:
        dst.write(np.nan_to_num(data), 1)
        dst.write_mask(np.where(np.isnan(data), 0, 255).astype(np.uint8))
    for path in (ints, masked):
        assert composite.inspect_sources([str(path)], tile)[0].kernel is None


def test_nodata_other_than_nan_is_matched_as_gdal_matches_it(ndvi, tmp_path):
    # GDAL's masker takes float32 values within two float epsilons of the nodata value
    # for nodata too (-9999.001 here), not -9998; NaN pixels are then values, not gaps
    with rasterio.open(ndvi) as src:
        profile, data = src.profile, src.read(1)
    gaps = np.isnan(data)
    data[gaps] = -9999
    data[::7, ::5] = np.float32(-9999.001)
    data[3::11, ::3] = -9998
    data[100:103, 200:203] = np.nan
    path = tmp_path / "nodata.tif"
    with rasterio.open(path, "w", **{**profile, "nodata": -9999}) as dst:
        dst.write(data, 1)
    _source, ours, gdal = _both(str(path), _around(ndvi, "EPSG:32618", 5, shift=(1.3, -2.2)))
    np.testing.assert_array_equal(ours, gdal)
    assert (gdal < -9000).any()  # -9998 is a value, and bilinear mixes it in
    assert np.isnan(gdal).mean() > 0.05


@pytest.mark.parametrize("scenes", [3, 40, NETWORK_MAX + 2])  # network; insertion
def test_order_statistics_equal_numpys_for_few_and_many_scenes(tmp_path, scenes):
    # many scenes, gaps, and ties (values on a coarse ladder), on one grid, each
    # shifted by a fraction of a pixel
    rng = np.random.default_rng(scenes)
    paths = []
    for i in range(scenes):
        data = (rng.integers(0, 6, (16, 20)) / 4).astype(np.float32)
        data[rng.random((16, 20)) < 0.3] = np.nan
        path = tmp_path / f"s{i}.tif"
        origin = (500000 + 3.1 * i % 10, 6000000 - 1.7 * i % 10)
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=20,
            height=16,
            count=1,
            dtype="float32",
            crs="EPSG:32633",
            nodata=np.nan,
            transform=from_origin(*origin, 10, 10),
        ) as dst:
            dst.write(data, 1)
        paths.append(str(path))
    tile = GeoBox((12, 16), from_origin(500020, 5999980, 10, 10), "EPSG:32633")
    sources = tuple(composite.inspect_sources(paths, tile))
    assert all(s.kernel is not None for s in sources)
    info = {None: {"array-location": [(0, 2), (0, 12), (0, 16)]}}
    # one source through GDAL's warper: the stack is reduced by NumPy (reduce_stack)
    split = (*sources[:-1], dataclasses.replace(sources[-1], kernel=None))
    for stat in ("median", "p10", "p90", "p100"):
        statistic = composite.parse_statistic(stat)
        fused = _composite_block(
            sources=sources, tile=tile, statistic=statistic, resampling="bilinear", block_info=info
        )
        numpy = _composite_block(
            sources=split, tile=tile, statistic=statistic, resampling="bilinear", block_info=info
        )
        np.testing.assert_array_equal(fused, numpy)
    counts = fused[1]
    assert counts.min() < counts.max() and counts.max() >= scenes / 2


def test_nan_values_without_nodata_are_sampled_as_gdal_samples_them(ndvi, tmp_path):
    # no nodata value: NaN pixels are values, and bilinear carries them into samples
    with rasterio.open(ndvi) as src:
        profile, data = src.profile, src.read(1)
    path = tmp_path / "no-nodata.tif"
    with rasterio.open(path, "w", **{**profile, "nodata": None}) as dst:
        dst.write(data, 1)
    source, ours, gdal = _both(str(path), _around(ndvi, "EPSG:32618", 5, shift=(1.3, -2.2)))
    assert source.kernel is not None and source.kernel.nodata is None
    np.testing.assert_array_equal(ours, gdal)
    assert np.isnan(gdal).mean() > np.isnan(data).mean()  # NaN spreads to neighbours
