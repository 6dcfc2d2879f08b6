"""Input checks and failure messages of the library (the workflow cases: test_bad_inputs)."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import rasterio
import rasterio._err
from helpers import DATA, write_raster

from rasterflow.errors import InputDataError, StepFailure, explain_step_failure
from rasterflow.io import check_raster, check_writable, portable_path, provenance_tags
from rasterflow.scenes import BandFile, require_data


def test_truncation_is_found_from_the_block_table_of_any_geotiff(tmp_path):
    for name in ("rgbn.tif", "rmnp-dem.tif"):  # tiled, pixel-interleaved; striped
        raw = (DATA / name).read_bytes()
        whole = tmp_path / name
        whole.write_bytes(raw)
        check_raster(whole, what="x")
        cut = tmp_path / f"cut-{name}"
        cut.write_bytes(raw[: len(raw) - 100])
        with pytest.raises(
            InputDataError, match=f"cut-{name} is truncated: its blocks need 100 more bytes"
        ):
            check_raster(cut, what="x")


def test_missing_file_names_where_to_fix_it(tmp_path):
    with pytest.raises(
        InputDataError,
        match=r"terrain.dem: file not found: .*dem.tif\. Check "
        r"the path in terrain.dem\.",
    ):
        check_raster(tmp_path / "dem.tif", what="terrain.dem", where="terrain.dem")


def test_require_data_reads_until_the_first_block_with_data(tmp_path):
    data = np.zeros((2, 300, 300), dtype=np.uint16)
    data[1, 299, 299] = 7  # one pixel of data, in the last block
    path = tmp_path / "s.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=300,
        height=300,
        count=2,
        dtype="uint16",
        crs="EPSG:32633",
        tiled=True,
        blockxsize=128,
        blockysize=128,
        transform=rasterio.transform.from_origin(5e5, 6e6, 1, 1),
    ) as dst:
        dst.write(data)
    require_data(BandFile(str(path), band=2, nodata=0), what="w", key="k")
    require_data(BandFile(str(path), band=1, nodata=None), what="w", key="k")  # no nodata
    with pytest.raises(InputDataError, match="every pixel of band 1 .* is no-data \\(0\\)"):
        require_data(BandFile(str(path), band=1, nodata=0), what="w", key="k")
    nan = write_raster(tmp_path / "nan.tif", np.full((8, 8), np.nan, dtype="float32"))
    with pytest.raises(InputDataError, match="is no-data \\(NaN\\)"):
        require_data(BandFile(str(nan), band=1), what="w", key="k")


def test_portable_paths_are_relative_inside_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert portable_path(tmp_path / "data" / "a b.tif") == os.path.join("data", "a b.tif")
    assert portable_path("results/x.tif") == "results/x.tif"
    assert portable_path("/elsewhere/dem.vrt") == "/elsewhere/dem.vrt"
    assert portable_path(tmp_path) == "."
    tags = provenance_tags(
        inputs=[str(tmp_path / "s.tif")],
        params={
            "scene": {"bands": {"red": {"path": str(tmp_path / "s.tif")}}},
            "note": "not/a/path",
            "n": 3,
        },
    )
    assert json.loads(tags["RASTERFLOW_INPUTS"]) == ["s.tif"]
    assert json.loads(tags["RASTERFLOW_PARAMS"]) == {
        "scene": {"bands": {"red": {"path": "s.tif"}}},
        "note": "not/a/path",
        "n": 3,
    }


def test_check_writable_creates_nothing(tmp_path):
    check_writable(tmp_path / "a" / "b", key="results")
    assert list(tmp_path.iterdir()) == []


def test_step_failures_are_translated_only_when_known():
    from types import SimpleNamespace

    from distributed.scheduler import KilledWorker

    killed = KilledWorker("block-1", SimpleNamespace(address="tcp://127.0.0.1:1"), 3)
    out = explain_step_failure(killed, memory_mb=512, workers=2, processes=True)
    assert isinstance(out, StepFailure)
    assert "each of the 2 worker processes may use 512 MiB" in str(out)
    full = OSError(errno.ENOSPC, "No space left on device", "x.parquet")
    assert "the disk is full" in str(
        explain_step_failure(full, memory_mb=1, workers=1, processes=False)
    )
    other = ValueError("bad")
    assert explain_step_failure(other, memory_mb=1, workers=1, processes=False) is other


# every form a full disk took on real tmpfs mounts (tests/workflow/test_bad_inputs_files.py)
FULL_DISK_FORMS = [
    rasterio.errors.RasterioIOError("Write failed. See previous exception for details."),
    rasterio._err.CPLE_AppDefinedError(1, 1, "TIFFAppendToStrip:Seek error at scanline 0"),
    rasterio._err.CPLE_AppDefinedError(1, 1, "TIFFAppendToStrip:Write error at scanline 512"),
    rasterio._err.CPLE_AppDefinedError(
        1,
        1,
        ".NDVI.tif.5689.scratch.tif: TIFFReadDirectory:Failed to read directory at offset 4190208",
    ),
    rasterio._err.CPLE_AppDefinedError(1, 1, "TIFFWriteDirectorySec:IO error writing directory"),
    OSError(errno.ENOSPC, "No space left on device", "x.parquet"),
    OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
]


@pytest.mark.parametrize("exc", FULL_DISK_FORMS, ids=lambda e: str(e)[:40])
def test_every_form_of_a_full_disk_gives_the_disk_advice(exc):
    out = explain_step_failure(exc, memory_mb=1, workers=1, processes=False)
    assert isinstance(out, StepFailure)
    assert str(out) == (
        f"writing an output failed ({exc}): the disk is full (look for 'No space left on "
        "device' above) or not writable. Free space there, or set results to a larger "
        "disk; no partial product was left behind"
    )


def test_input_errors_and_reads_are_not_taken_for_a_full_disk():
    for exc in (
        InputDataError("zones: Write failed? no: a message of ours"),
        rasterio.errors.RasterioIOError("Read failed. See previous exception"),
        rasterio._err.CPLE_AppDefinedError(
            1, 1, "scene.tif: TIFFReadDirectory:Failed to read directory at 8"
        ),
    ):
        assert explain_step_failure(exc, memory_mb=1, workers=1, processes=False) is exc
