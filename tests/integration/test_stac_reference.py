"""STAC metadata against GDAL's gdalinfo (Debian gdal-bin), run as a subprocess."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from helpers import write_raster

from rasterflow import stac

JJA = (dt.date(2024, 6, 1), dt.date(2024, 8, 31))


def test_raster_bands_statistics_match_gdal_and_the_histogram_counts_its_buckets(tmp_path):
    rng = np.random.default_rng(4)
    values = rng.normal(0.3, 0.2, (40, 50)).astype("float32")
    values[:5] = np.nan
    path = write_raster(tmp_path / "ndvi.tif", values, nodata=float("nan"))
    with rasterio.open(path, "r+") as dst:
        dst.units = ("1",)
    (band,) = (
        stac.make_item(stac.Product(str(path), "x", *JJA, "NDVI"))
        .assets["data"]
        .extra_fields["raster:bands"]
    )
    assert (band["data_type"], band["nodata"], band["unit"]) == ("float32", "nan", "1")
    # issue #21: rio-stac wrote count 11 (the edges) for 10 buckets
    hist = band["histogram"]
    valid = values[~np.isnan(values)]
    assert hist["count"] == len(hist["buckets"]) == 10
    assert hist["buckets"] == np.histogram(valid, bins=10)[0].tolist()
    assert (hist["min"], hist["max"]) == pytest.approx((valid.min(), valid.max()))
    # reference: GDAL's exact statistics of the same file
    info = json.loads(
        subprocess.run(
            ["gdalinfo", "-json", "-stats", str(shutil.copy(path, tmp_path / "ref.tif"))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )["bands"][0]["metadata"][""]
    stats = band["statistics"]
    assert stats["minimum"] == pytest.approx(float(info["STATISTICS_MINIMUM"]))
    assert stats["maximum"] == pytest.approx(float(info["STATISTICS_MAXIMUM"]))
    assert stats["mean"] == pytest.approx(float(info["STATISTICS_MEAN"]), rel=1e-6)
    assert stats["stddev"] == pytest.approx(float(info["STATISTICS_STDDEV"]), rel=1e-5)
    assert stats["valid_percent"] == pytest.approx(100 * valid.size / values.size)
