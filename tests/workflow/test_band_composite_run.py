"""composite.bands on the demo: one multi-band COG per tile and period and its mosaic,
written by the composite jobs beside the index composites (the index mosaics unchanged)."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pytest
import rasterio
import yaml
from helpers import run_snakemake

from rasterflow.band_composite import DATE_UNITS

pytestmark = pytest.mark.workflow

ROLES = ["blue", "green", "red", "nir", "swir1", "swir2"]
TARGETS = ["results/mosaics/2024-JJA/NDVI.tif", "results/mosaics/2024-JJA/NDVI_count.tif"]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_with_bands_quality(tmp_path):
    with_bands, plain = tmp_path / "bands", tmp_path / "plain"
    for d in (with_bands, plain):
        d.mkdir()
    cfg = with_bands / "bands.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "composite": {
                    "indices": ["NDVI"],
                    "statistic": "median",
                    "resampling": "average",
                    "bands": ROLES,
                    "band_statistic": "quality",
                    "quality": {"index": "NDVI"},
                }
            }
        )
    )
    bands = ["results/mosaics/2024-JJA/bands.tif", "results/mosaics/2024-JJA/bands_count.tif"]
    # targets right after --cores: --configfile would take them as its own
    run_snakemake(with_bands, "--cores", "2", *TARGETS, *bands, configfiles=[cfg])
    run_snakemake(plain, "--cores", "2", *TARGETS)
    for t in TARGETS:  # the index products are the same bytes with or without bands
        assert _digest(with_bands / t) == _digest(plain / t), t
    tiles = sorted((with_bands / "results/composites/2024-JJA/bands").glob("x*_y???.tif"))
    assert len(tiles) == 4  # one per tile, each with its count
    with rasterio.open(with_bands / bands[0]) as src:
        assert src.count == len(ROLES) + 1 and src.dtypes == ("float32",) * src.count
        assert src.descriptions == (*ROLES, "date")
        assert src.units == ("reflectance",) * len(ROLES) + (DATE_UNITS,)
        assert src.tags()["BAND_STATISTIC"] == "quality" and "TILE" not in src.tags()
        data = src.read()
    with rasterio.open(with_bands / bands[1]) as src:
        count = src.read(1)
    with rasterio.open(with_bands / TARGETS[1]) as src:
        ndvi_count = src.read(1)
    has = count > 0
    assert has.mean() > 0.5 and (count <= ndvi_count).all()
    assert np.isnan(data[:, ~has]).all() and not np.isnan(data[:, has]).any()
    refl = data[: len(ROLES), has]
    assert 0 <= refl.min() and refl.max() < 1  # scaled reflectance, not digital numbers
    dates = {dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in np.unique(data[-1, has])}
    assert len(dates) > 1 and all(d.month in (6, 7, 8) and d.year == 2024 for d in dates)

    # the rest of the run: the band composite is in the report (a true-colour map), the
    # STAC catalog (assets of the period's mosaic item) and styled for QGIS
    run_snakemake(with_bands, "--cores", "2", configfiles=[cfg])
    results = with_bands / "results"
    png = results / "report/quicklooks/mosaics/2024-JJA/bands.png"
    assert png.is_file() and (results / "report/maps/mosaics/2024-JJA/bands.html").is_file()
    assert (results / "report/quicklooks/mosaics/2024-JJA/bands_count.png").is_file()
    import pystac

    item = pystac.Item.from_file(results / "stac/mosaic/mosaic-2024-JJA/mosaic-2024-JJA.json")
    asset = item.assets["bands"].to_dict()
    assert len(asset["raster:bands"]) == len(ROLES) + 1
    assert asset["rasterflow:statistic"] == "quality"  # the index assets' is the median
    assert item.assets["NDVI"].to_dict()["rasterflow:statistic"] == "median"
    assert "bands_count" in item.assets
    style = (results / "mosaics/2024-JJA/bands.qml").read_text()
    assert 'type="multibandcolor"' in style and 'redBand="3"' in style  # blue, green, red...
