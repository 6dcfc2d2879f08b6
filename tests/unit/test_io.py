"""COG writing: validity, determinism, atomicity, provenance."""

from __future__ import annotations

import hashlib
import json

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from rasterflow.io import provenance_tags, write_cog

TRANSFORM = from_origin(300_000, 7_000_000, 10, 10)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dask_write_is_a_valid_cog_with_tags_and_overviews(tmp_path):
    data = da.from_array(np.random.default_rng(1).random((1100, 900), dtype=np.float32),
                         chunks=(300, 256))
    tags = provenance_tags(inputs=["a.tif"], params={"k": 1})
    out = write_cog(data, tmp_path / "x.tif", crs="EPSG:3067", transform=TRANSFORM,
                    nodata=np.nan, tags=tags, band_names=["NDVI"], threads=2)
    valid, errors, _ = cog_validate(str(out))
    assert valid, errors
    with rasterio.open(out) as src:
        assert src.overviews(1) and src.compression.name == "deflate"
        assert np.isnan(src.nodata) and src.descriptions == ("NDVI",)
        assert json.loads(src.tags()["RASTERFLOW_PARAMS"]) == {"k": 1}
        np.testing.assert_array_equal(src.read(1), data.compute())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]  # no scratch left


def test_same_bytes_for_any_threads_and_chunking(tmp_path):
    arr = np.random.default_rng(2).random((700, 650), dtype=np.float32)
    digests = set()
    for i, (threads, chunks) in enumerate([(1, 512), (2, 100), (2, (333, 77))]):
        out = write_cog(da.from_array(arr, chunks=chunks), tmp_path / f"{i}.tif",
                        crs="EPSG:3067", transform=TRANSFORM, nodata=np.nan, threads=threads)
        digests.add(_digest(out))
    assert len(digests) == 1


def test_failure_mid_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.tif"
    target.write_bytes(b"previous product")

    def boom(block, block_info=None):
        if block_info and block_info[0]["chunk-location"] == (1, 1):
            raise RuntimeError("worker died")
        return block

    bad = da.map_blocks(boom, da.zeros((600, 600), chunks=300, dtype=np.float32),
                        dtype=np.float32)
    with pytest.raises(RuntimeError, match="worker died"):
        write_cog(bad, target, crs="EPSG:3067", transform=TRANSFORM, nodata=np.nan)
    assert target.read_bytes() == b"previous product"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_stale_temporaries_of_killed_writers_are_removed_others_kept(tmp_path):
    stale = [tmp_path / ".x.tif.999.tmp.tif", tmp_path / ".x.tif.999.scratch.tif"]
    other = tmp_path / ".x.tif.999.stack.tif"  # a composite's scratch, in use
    for p in (*stale, other):
        p.write_bytes(b"left by kill -9")
    write_cog(np.zeros((4, 4), np.float32), tmp_path / "x.tif", crs="EPSG:3067",
              transform=TRANSFORM, nodata=np.nan)
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "x.tif"]
