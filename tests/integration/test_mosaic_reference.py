"""Mosaics against gdalwarp and gdalbuildvrt (GDAL's own programs, Debian gdal-bin)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from cases.mosaic import GRID, SUBA, SUBB, full_grid, read_bands, write_tiles
from odc.geo.geobox import GeoBox
from rio_cogeo.cogeo import cog_validate

from rasterflow import grid, mosaic
from rasterflow.io import portable_path

GDALWARP = "/usr/bin/gdalwarp"
GDALBUILDVRT = "/usr/bin/gdalbuildvrt"


def _tool(path: str) -> str:
    if not Path(path).exists():
        # a failure, not a skip: the reference comparison is the point of the test
        pytest.fail(f"{path} not installed: run tools/system-deps (Debian gdal-bin)")
    return path


def _gdalwarp(inputs, output, box: GeoBox) -> np.ndarray:
    b = box.boundingbox
    res = abs(box.resolution.x)
    args = [
        _tool(GDALWARP),
        "-q",
        "-overwrite",
        "-r",
        "near",
        "-te",
        *(repr(v) for v in (b.left, b.bottom, b.right, b.top)),
        "-tr",
        repr(res),
        repr(res),
        *map(str, inputs),
        str(output),
    ]
    subprocess.run(args, check=True, capture_output=True)
    return read_bands(output)


@pytest.mark.parametrize("order", [(SUBA, SUBB), (SUBB, SUBA)], ids=["a-first", "b-first"])
def test_real_mosaic_equals_gdalwarp_with_the_inputs_reversed(tmp_path, order):
    box = full_grid()
    out = mosaic.mosaic_rasters(
        [str(p) for p in order], tmp_path / "m.tif", geobox=box, resampling="nearest", chunk=128
    )
    # gdalwarp paints later inputs over earlier ones; mosaic_rasters keeps the first
    expected = _gdalwarp(order[::-1], tmp_path / "gdalwarp.tif", box)
    got = read_bands(out)
    np.testing.assert_array_equal(got, expected)
    with rasterio.open(out) as src:
        assert src.nodata == 0 and GeoBox.from_rio(src) == box
        tags = src.tags()
        assert json.loads(tags["RASTERFLOW_INPUTS"]) == [portable_path(p) for p in order]
    valid, errors, _ = cog_validate(str(out))
    assert valid, errors


@pytest.fixture
def tile_files(tmp_path):
    """The 3 x 3 tiles of GRID, the centre one missing."""
    return write_tiles(tmp_path, GRID, 64, missing="x001_y001")


def test_vrt_of_tiles_is_the_grid_and_matches_gdalbuildvrt(tile_files, tmp_path):
    paths, expected = tile_files
    vrt = mosaic.build_vrt(paths, tmp_path / "out" / "m.vrt", geobox=grid.geobox_to_params(GRID))
    with rasterio.open(vrt) as src:
        assert GeoBox.from_rio(src) == GRID and np.isnan(src.nodata)
        np.testing.assert_array_equal(src.read(1), expected)
        assert src.tags()["PERIOD"] == "2024" and "TILE" not in src.tags()
        assert src.descriptions == ("NDVI_median",)
    b = GRID.boundingbox
    ref = tmp_path / "gdalbuildvrt.vrt"
    subprocess.run(
        [_tool(GDALBUILDVRT), "-q", "-te", *(repr(v) for v in b), str(ref), *paths],
        check=True,
        capture_output=True,
    )
    np.testing.assert_array_equal(read_bands(vrt), read_bands(ref))
