"""COG writing: validity, determinism, atomicity, provenance."""

from __future__ import annotations

import itertools
import json
import threading

import dask.array as da
import numpy as np
import pytest
import rasterio
import rasterio.shutil
from helpers import digest, write_raster
from rasterio.env import get_gdal_config, set_gdal_config
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from rasterflow import io
from rasterflow.io import overview_factors, provenance_tags, write_cog

TRANSFORM = from_origin(300_000, 7_000_000, 10, 10)


def test_dask_write_is_a_valid_cog_with_tags_and_overviews(tmp_path):
    data = da.from_array(
        np.random.default_rng(1).random((1100, 900), dtype=np.float32), chunks=(300, 256)
    )
    tags = provenance_tags(inputs=["a.tif"], params={"k": 1})
    out = write_cog(
        data,
        tmp_path / "x.tif",
        crs="EPSG:3067",
        transform=TRANSFORM,
        nodata=np.nan,
        tags=tags,
        band_names=["NDVI"],
        threads=2,
    )
    valid, errors, _ = cog_validate(str(out))
    assert valid, errors
    with rasterio.open(out) as src:
        assert src.overviews(1) == [2, 4] and src.compression.name == "zstd"
        assert np.isnan(src.nodata) and src.descriptions == ("NDVI",)
        assert json.loads(src.tags()["RASTERFLOW_PARAMS"]) == {"k": 1}
        np.testing.assert_array_equal(src.read(1), data.compute())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]  # no scratch left


def test_overviews_are_nodata_aware_block_means(tmp_path):
    # the overviews are built in the scratch file (not by the COG driver): check them
    # against an independent 2 x 2 NaN-mean, so a wrong resampling or level shows
    arr = np.random.default_rng(3).random((1200, 1030), dtype=np.float32)
    arr[:40, :] = np.nan
    out = write_cog(
        da.from_array(arr, chunks=256),
        tmp_path / "o.tif",
        crs="EPSG:3067",
        transform=TRANSFORM,
        nodata=np.nan,
        threads=2,
    )
    with rasterio.open(out) as src:
        assert src.overviews(1) == [2, 4]
        level = src.read(1, out_shape=(600, 515))
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        expect = np.nanmean(arr.reshape(600, 2, 515, 2), axis=(1, 3))
    np.testing.assert_allclose(level, expect, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize(("width", "height"), [(512, 512), (513, 100), (1025, 10), (3000, 2100)])
def test_overview_levels_are_those_gdal_cog_driver_makes(tmp_path, width, height):
    src_path, cog = tmp_path / "src.tif", tmp_path / "cog.tif"
    with rasterio.open(
        src_path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint8",
        crs="EPSG:3067",
        transform=TRANSFORM,
    ) as dst:
        dst.write(np.zeros((1, height, width), dtype=np.uint8))
    rasterio.shutil.copy(src_path, cog, driver="COG", BLOCKSIZE="512")
    with rasterio.open(cog) as src:
        assert overview_factors(width, height) == src.overviews(1)


def test_same_bytes_for_any_threads_and_chunking(tmp_path):
    arr = np.random.default_rng(2).random((700, 650), dtype=np.float32)
    digests = set()
    for i, (threads, chunks) in enumerate([(1, 512), (2, 100), (2, (333, 77))]):
        out = write_cog(
            da.from_array(arr, chunks=chunks),
            tmp_path / f"{i}.tif",
            crs="EPSG:3067",
            transform=TRANSFORM,
            nodata=np.nan,
            threads=threads,
        )
        digests.add(digest(out))
    assert len(digests) == 1


def test_failure_mid_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.tif"
    target.write_bytes(b"previous product")

    def boom(block, block_info=None):
        if block_info and block_info[0]["chunk-location"] == (1, 1):
            raise RuntimeError("worker died")
        return block

    bad = da.map_blocks(boom, da.zeros((600, 600), chunks=300, dtype=np.float32), dtype=np.float32)
    with pytest.raises(RuntimeError, match="worker died"):
        write_cog(bad, target, crs="EPSG:3067", transform=TRANSFORM, nodata=np.nan)
    assert target.read_bytes() == b"previous product"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_stale_temporaries_of_killed_writers_are_removed_others_kept(tmp_path):
    stale = [tmp_path / ".x.tif.999.tmp.tif", tmp_path / ".x.tif.999.scratch.tif"]
    other = tmp_path / ".x.tif.999.stack.tif"  # a composite's scratch, in use
    for p in (*stale, other):
        p.write_bytes(b"left by kill -9")
    write_cog(
        np.zeros((4, 4), np.float32),
        tmp_path / "x.tif",
        crs="EPSG:3067",
        transform=TRANSFORM,
        nodata=np.nan,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "x.tif"]


def test_streaming_cache_is_two_rows_of_blocks_at_least_64_mib():
    assert io.streaming_cache_bytes(np.zeros((1, 3, 1000), np.float32)) == 64 * 2**20
    wide = da.zeros((2, 700, 40_000), dtype=np.float64, chunks=512)  # never computed
    assert io.streaming_cache_bytes(wide) == 2 * 2 * 40_000 * 512 * 8


@pytest.mark.parametrize("job_cache_mb", [1024, 16])
def test_overviews_and_copy_run_with_a_streaming_cache_then_the_jobs_is_back(
    tmp_path, monkeypatch, job_cache_mb
):
    seen = []
    real_copy = rasterio.shutil.copy

    def copy(*args, **kwargs):
        seen.append(get_gdal_config("GDAL_CACHEMAX"))
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(rasterio.shutil, "copy", copy)
    before = get_gdal_config("GDAL_CACHEMAX")
    set_gdal_config("GDAL_CACHEMAX", job_cache_mb * 2**20)
    try:
        write_cog(
            np.ones((600, 700), np.float32),
            tmp_path / "c.tif",
            crs="EPSG:3067",
            transform=TRANSFORM,
            nodata=np.nan,
        )
        after = get_gdal_config("GDAL_CACHEMAX")
    finally:
        set_gdal_config("GDAL_CACHEMAX", before)
    # lowered to what streaming needs, never raised above the job's cap
    assert seen == [min(job_cache_mb, 64) * 2**20]
    assert after == job_cache_mb * 2**20


def _cog(data, path, nodata, **kwargs):
    return io.Cog(data, path, crs="EPSG:3067", transform=TRANSFORM, nodata=nodata, **kwargs)


@pytest.mark.parametrize("nodata", [np.nan, -9999.0, None])
def test_tiles_that_are_all_nodata_or_split_across_chunks_read_back_exactly(tmp_path, nodata):
    # the scratch is sparse: GDAL skips tiles that are all nodata and merges tiles that
    # several chunks share; neither may change a pixel or the bytes of the product
    arr = np.random.default_rng(5).random((1300, 1200), dtype=np.float32)
    arr[:1024, :512] = np.nan if nodata is None else nodata  # two whole tiles
    arr[1100:, 700:] = 0.0
    lazy = write_cog(
        da.from_array(arr, chunks=(333, 450)),
        tmp_path / "lazy.tif",
        crs="EPSG:3067",
        transform=TRANSFORM,
        nodata=nodata,
        threads=2,
    )
    eager = write_cog(
        arr, tmp_path / "eager.tif", crs="EPSG:3067", transform=TRANSFORM, nodata=nodata
    )
    valid, errors, _ = cog_validate(str(lazy))
    assert valid, errors
    with rasterio.open(lazy) as src:
        np.testing.assert_array_equal(src.read(1), arr)
    assert digest(lazy) == digest(eager)


def test_products_are_finished_side_by_side_with_the_same_bytes(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    arrays = [rng.random((800, 900), dtype=np.float32) for _ in range(3)]
    alone = [
        write_cog(
            a, tmp_path / f"alone{i}.tif", crs="EPSG:3067", transform=TRANSFORM, nodata=np.nan
        )
        for i, a in enumerate(arrays)
    ]
    # the first two copies wait for each other: one after the other, the barrier
    # breaks (BrokenBarrierError) and the write fails
    meet, calls = threading.Barrier(2, timeout=20), itertools.count()
    real_copy = rasterio.shutil.copy

    def copy(src, dst, **kwargs):
        if next(calls) < 2:
            meet.wait()
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(rasterio.shutil, "copy", copy)
    together = io.write_cogs(
        [
            _cog(da.from_array(a, chunks=300), tmp_path / f"t{i}.tif", np.nan)
            for i, a in enumerate(arrays)
        ],
        threads=2,
    )
    assert [digest(p) for p in together] == [digest(p) for p in alone]


def test_a_product_failing_while_others_finish_leaves_no_product_and_no_scratch(
    tmp_path, monkeypatch
):
    real_copy = rasterio.shutil.copy

    def copy(src, dst, **kwargs):
        if ".b.tif" in str(src):
            raise rasterio.errors.RasterioIOError("disk full")
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(rasterio.shutil, "copy", copy)
    cogs = [
        _cog(da.zeros((600, 600), chunks=300, dtype=np.float32), tmp_path / f"{n}.tif", np.nan)
        for n in "abc"
    ]
    with pytest.raises(rasterio.errors.RasterioIOError, match="disk full"):
        io.write_cogs(cogs, threads=2)
    assert list(tmp_path.iterdir()) == []


def test_open_raster_finds_georeferencing_in_a_side_car_file(tmp_path):
    # a PNG cannot hold a CRS: GDAL keeps it in g.png.aux.xml beside it, which an open
    # must still find after open_raster stops GDAL from listing the folder
    path = tmp_path / "g.png"
    with rasterio.open(path, "w", driver="PNG", width=4, height=3, count=1, dtype="uint8") as dst:
        dst.write(np.ones((1, 3, 4), np.uint8))
    with rasterio.open(path, "r+") as dst:
        dst.crs, dst.transform = "EPSG:32633", from_origin(0, 30, 10, 10)
    assert (tmp_path / "g.png.aux.xml").exists()
    with io.open_raster(path, what="test raster") as src:
        assert src.crs.to_epsg() == 32633 and src.bounds == (0, 0, 40, 30)


# --- damaged and badly georeferenced inputs (issue 15) ------------------------------


def _compressed(path, *, blocks=4, **options):
    """A deflate-compressed, tiled 4-band GeoTIFF of random data, ``blocks`` x ``blocks``
    tiles of 64 pixels."""
    data = np.random.default_rng(0).integers(
        1, 10_000, (4, 64 * blocks, 64 * blocks), dtype=np.uint16
    )
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=4,
        dtype="uint16",
        crs="EPSG:32633",
        transform=TRANSFORM,
        tiled=True,
        blockxsize=64,
        blockysize=64,
        compress="deflate",
        **options,
    ) as dst:
        dst.write(data)
    return path


def _block(path, x, y):
    with rasterio.open(path) as src:
        return (
            int(src.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=1)),
            int(src.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=1)),
        )


def _zero(path, start, stop):
    raw = bytearray(path.read_bytes())
    raw[start:stop] = bytes(stop - start)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("interleave", ["pixel", "band"])
def test_open_raster_finds_a_preallocated_download_by_its_zeroed_blocks(tmp_path, interleave):
    path = _compressed(tmp_path / "s.tif", interleave=interleave)
    size = path.stat().st_size
    _zero(path, size // 3, 2 * size // 3)  # same size, nothing arrived in the middle
    with pytest.raises(io.InputDataError) as err:
        io.check_raster(path, what="scene 's1'")
    message = str(err.value)
    assert message.startswith(f"scene 's1': {path} is damaged: block (")
    assert message.endswith(
        "holds only zero bytes where compressed data must be (an unfinished or "
        "preallocated download?). Download or copy it again."
    )


def test_open_raster_accepts_sparse_and_uncompressed_zeros(tmp_path):
    path = tmp_path / "z.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=256,
        height=256,
        count=1,
        dtype="uint16",
        crs="EPSG:32633",
        transform=TRANSFORM,
        tiled=True,
        compress="deflate",
        SPARSE_OK=True,
    ) as dst:
        dst.write(np.zeros((1, 16, 16), np.uint16), window=((0, 16), (0, 16)))
    io.check_raster(path, what="x")  # unwritten blocks are sparse: no offset, no check
    # real zeros, uncompressed
    plain = write_raster(tmp_path / "plain.tif", np.zeros((64, 64), np.uint16), transform=TRANSFORM)
    io.check_raster(plain, what="x")


def test_a_block_damaged_between_the_samples_is_named_by_the_job(tmp_path):
    path = _compressed(tmp_path / "s.tif", blocks=8)
    offset, length = _block(path, 5, 2)
    _zero(path, offset + 8, offset + length)  # its header survives, its data does not
    io.check_raster(path, what="scene 's1'")  # the cheap check cannot see it
    with pytest.raises(rasterio.errors.RasterioIOError) as err, rasterio.open(path) as src:
        src.read()
    assert str(err.value) == "Read failed. See previous exception for details."
    out = io.explain_read_failure(
        err.value, inputs={str(tmp_path / "other.tif"): "x", str(path): "scene 's1'"}
    )
    assert isinstance(out, io.InputDataError)
    assert str(out).startswith(
        f"scene 's1': {path} is damaged at band 1, rows 128-191, columns 320-383 (GDAL: "
    )
    assert str(out).endswith(
        "): the file is incomplete or corrupt (an unfinished download?). Download or copy it again."
    )
    other = ValueError("Read failed")  # a read failure whose inputs all decode
    assert (
        io.explain_read_failure(other, inputs={str(_compressed(tmp_path / "ok.tif")): "x"}) is other
    )


def test_gcp_only_raster_is_told_to_be_warped(tmp_path):
    from rasterio.control import GroundControlPoint

    gcps = [
        GroundControlPoint(r, c, 500_000 + 10 * c, 6_000_000 - 10 * r)
        for r, c in [(0, 0), (0, 64), (64, 0), (64, 64)]
    ]
    path = tmp_path / "gcp.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="uint8",
        gcps=gcps,
        crs="EPSG:32633",
    ) as dst:
        dst.write(np.ones((1, 64, 64), np.uint8))
    with pytest.raises(io.InputDataError) as err:
        io.check_raster(path, what="scene 's1'")
    assert str(err.value) == (
        f"scene 's1': {path} is georeferenced only by 4 ground control points (GCPs), "
        "without a geotransform, so it has no grid to read onto. Warp it first and use the "
        f"warped file, e.g. gdalwarp -t_srs EPSG:32633 '{path}' warped.tif"
    )


def test_vector_layer_is_named_when_a_file_has_several(tmp_path):
    import geopandas as gpd
    import shapely

    path = tmp_path / "zones.gpkg"
    for name in ("fields", "roads"):
        gpd.GeoDataFrame(
            {"zone_id": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:32633"
        ).to_file(path, layer=name)
    with pytest.raises(io.InputDataError) as err:
        io.vector_layer(path, None, key="zonal.layer")
    assert str(err.value) == (
        f"zonal.layer: {path} holds 2 layers (fields, roads) and zonal.layer is empty, so "
        "which one to use is unclear; set zonal.layer to one of them"
    )
    with pytest.raises(io.InputDataError, match=r"has no layer 'lakes' \(it has fields, "):
        io.vector_layer(path, "lakes", key="zonal.layer")
    with pytest.raises(io.InputDataError, match="layer number 2 does not exist"):
        io.vector_layer(path, 2, key="zonal.layer")
    assert io.vector_layer(path, "roads", key="zonal.layer") == "roads"
    one = tmp_path / "one.gpkg"
    gpd.read_file(path, layer="roads").to_file(one)
    assert io.vector_layer(one, "", key="zonal.layer") is None
