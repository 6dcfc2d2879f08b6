"""Index rasters against GDAL's gdal_calc.py (Debian gdal-bin), run as a subprocess."""

from __future__ import annotations

import subprocess

import numpy as np
import rasterio
from helpers import DATA

from rasterflow import indices
from rasterflow.scenes import BandFile, Scene


def test_real_rgbn_ndvi_matches_gdal_calc(tmp_path):
    """NDVI of a real aerial scene (band 1 red, band 4 NIR) vs GDAL's gdal_calc.py."""
    src = DATA / "rgbn.tif"
    ref = tmp_path / "gdal_ndvi.tif"
    subprocess.run(
        [
            "gdal_calc.py",
            "--quiet",
            "-A",
            str(src),
            "--A_band=4",
            "-B",
            str(src),
            "--B_band=1",
            "--calc=(A.astype(float64)-B)/(A.astype(float64)+B)",
            "--type=Float32",
            "--NoDataValue=-9999",
            f"--outfile={ref}",
        ],
        check=True,
        capture_output=True,
    )
    bands = {"red": BandFile(str(src), 1), "nir": BandFile(str(src), 4)}
    scene = Scene("rgbn", __import__("datetime").date(2020, 1, 1), bands)
    out = tmp_path / "ndvi.tif"
    indices.run(scene=scene, expr=indices.parse("NDVI", indices.BUILTIN["NDVI"]), output=str(out))
    with rasterio.open(out) as ours, rasterio.open(ref) as theirs:
        a = ours.read(1)
        b = theirs.read(1, masked=True).filled(np.nan)
        assert ours.crs == theirs.crs and ours.transform == theirs.transform
    both = np.isfinite(a) & np.isfinite(b)
    assert both.mean() > 0.99
    np.testing.assert_allclose(a[both], b[both], rtol=0, atol=1e-6)
    # where GDAL divided 0 by 0 we wrote nodata, not a number
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    assert -1.0 <= np.nanmin(a) and np.nanmax(a) <= 1.0 and np.nanmax(a) > 0.3
    # its QGIS style beside it, from the index job (rule qgis styles the other products)
    style = (tmp_path / "ndvi.qml").read_text()
    assert 'classificationMin="-1"' in style and 'classificationMax="1"' in style
