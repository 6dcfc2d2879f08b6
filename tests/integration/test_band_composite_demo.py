"""Multi-band composites of the demo scenes (rasterflow.composite.run_scenes): the same
bytes in any chunking, tiles mosaicked equal to one tile, index products unchanged by
adding bands. Whole tiles of real scenes: too slow for tests/unit's minute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import REPO, digest
from odc.geo.geobox import GeoBox
from odc.geo.geom import BoundingBox

from rasterflow import band_composite as bc
from rasterflow import composite, grid, indices, mosaic
from rasterflow.composite import _blocks

ROLES = ("red", "nir", "swir2")
AOI = BoundingBox(380000, 6694960, 386240, 6700000, "EPSG:3067")


@pytest.fixture(scope="module")
def demo_scenes(demo_data):
    import yaml

    from rasterflow.scenes import load_scenes

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["scenes"]
    return list(
        load_scenes(demo_data / "scenes.csv", bands=cfg["bands"], mask=cfg["mask"]).values()
    )


def _bands(statistic: str) -> dict:
    if statistic == "quality-day":  # NDVI plus the day-of-year score
        return {
            "roles": list(ROLES),
            "statistic": "quality",
            "score": "NDVI",
            "score_text": indices.BUILTIN["NDVI"],
            "target_day": 170,
            "day_weight": 0.3,
            "day_sigma": 20.0,
        }
    if statistic == "quality-force":  # NDVI plus FORCE's distance-to-cloud and valid terms
        return {
            "roles": list(ROLES),
            "statistic": "quality",
            "score": "NDVI",
            "score_text": indices.BUILTIN["NDVI"],
            "cloud_distance": 150.0,
            "cloud_weight": 0.5,
            "valid_weight": 0.3,
        }
    if statistic == "day":  # the day-of-year score alone: no index layer
        return {"roles": list(ROLES), "statistic": "quality", "target_day": 170}
    out = {"roles": list(ROLES), "statistic": statistic}
    if statistic == "quality":
        out.update(score="NDVI", score_text=indices.BUILTIN["NDVI"])
    return out


def _run(
    scenes, tile, out: Path, *, statistic: str, resampling: str, chunk: int, bands: bool = True
) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "NDVI": out / "NDVI.tif",
        "NDVI_n": out / "NDVI_n.tif",
        "bands": out / "bands.tif",
        "bands_n": out / "bands_n.tif",
    }
    composite.run_scenes(
        scenes=scenes,
        expressions={"NDVI": indices.BUILTIN["NDVI"]},
        tile=tile,
        outputs=[str(paths["NDVI"])],
        count_outputs=[str(paths["NDVI_n"])],
        statistic="max",
        resampling=resampling,
        chunk=chunk,
        bands=_bands(statistic) if bands else None,
        band_output=str(paths["bands"]) if bands else None,
        band_count_output=str(paths["bands_n"]) if bands else None,
    )
    return paths


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.mark.parametrize(
    ("res", "resampling"),
    [
        (10, "nearest"),  # GDAL's warper; the tile's pixels are the scenes' pixels
        (10, "bilinear"),  # the compiled kernel's fused pass
    ],
)
def test_quality_product_is_the_max_ndvi_observation(demo_scenes, tmp_path, res, resampling):
    """quality with NDVI: each pixel's bands are those of the observation whose NDVI is
    the per-pixel maximum (the max composite of the same run), with its date."""
    tile = GeoBox.from_bbox(AOI, "EPSG:3067", resolution=res)
    p = _run(demo_scenes, tile, tmp_path, statistic="quality", resampling=resampling, chunk=96)
    bands, ndvi_max, n = _read(p["bands"]), _read(p["NDVI"])[0], _read(p["NDVI_n"])[0]
    with rasterio.open(p["bands"]) as src:
        assert src.descriptions == (*ROLES, "date") and src.dtypes[0] == "float32"
        assert src.units == ("reflectance",) * 3 + (bc.DATE_UNITS,)
        assert src.tags()["BAND_STATISTIC"] == "quality" and np.isnan(src.nodata)
    red, nir = bands[0].astype(np.float64), bands[1].astype(np.float64)
    counted = _read(p["bands_n"])[0]
    has = counted > 0  # an observation with every band and NDVI valid
    np.testing.assert_array_equal(np.isnan(red), ~has)
    assert (counted <= n).all() and has.mean() > 0.5
    if resampling == "nearest":  # bands and NDVI of one observation: NDVI of the bands
        np.testing.assert_allclose(((nir - red) / (nir + red))[has], ndvi_max[has], atol=1e-6)
    days = set(bc.day_numbers([s.date.isoformat() for s in demo_scenes]).tolist())
    assert set(np.unique(bands[3][has]).tolist()) <= days and len(days) > 1


@pytest.mark.parametrize(
    "statistic", ["medoid", "geomedian", "quality", "quality-day", "quality-force", "day"]
)
@pytest.mark.parametrize(
    ("res", "resampling"),
    [
        (20, "average"),  # GDAL's warper (the demo's case)
        (10, "bilinear"),  # the compiled kernel's fused pass
    ],
)
def test_same_bytes_whatever_chunk(demo_scenes, tmp_path, monkeypatch, statistic, res, resampling):
    fused = []
    real = _blocks._fused_block
    monkeypatch.setattr(_blocks, "_fused_block", lambda *a, **k: fused.append(1) or real(*a, **k))
    tile = GeoBox.from_bbox(AOI, "EPSG:3067", resolution=res)
    digests = set()
    for chunk in (312, 37):
        p = _run(
            demo_scenes,
            tile,
            tmp_path / str(chunk),
            statistic=statistic,
            resampling=resampling,
            chunk=chunk,
        )
        digests.add((digest(p["bands"]), digest(p["bands_n"])))
    assert len(digests) == 1
    assert bool(fused) == (resampling == "bilinear")


def test_index_products_unchanged_by_bands(demo_scenes, tmp_path):
    tile = GeoBox.from_bbox(AOI, "EPSG:3067", resolution=20)
    a = _run(demo_scenes, tile, tmp_path / "a", statistic="medoid", resampling="bilinear", chunk=64)
    b = _run(
        demo_scenes,
        tile,
        tmp_path / "b",
        statistic="medoid",
        resampling="bilinear",
        chunk=64,
        bands=False,
    )
    for name in ("NDVI", "NDVI_n"):
        np.testing.assert_array_equal(_read(a[name]), _read(b[name]))


@pytest.mark.parametrize("statistic", ["medoid", "quality", "quality-force"])
def test_small_tiles_mosaicked_equal_one_big_tile(demo_scenes, tmp_path, statistic):
    whole_box = GeoBox.from_bbox(AOI, "EPSG:3067", resolution=20)
    whole = _run(
        demo_scenes,
        whole_box,
        tmp_path / "whole",
        statistic=statistic,
        resampling="average",
        chunk=128,
    )
    tiles = grid.tiles(whole_box, 100)  # 4 x 3 tiles, cut short at the edges
    assert len(tiles) > 4
    outs, counts = [], []
    for tid, box in tiles.items():
        p = _run(
            demo_scenes, box, tmp_path / tid, statistic=statistic, resampling="average", chunk=64
        )
        outs.append(str(p["bands"]))
        counts.append(str(p["bands_n"]))
    params = grid.geobox_to_params(whole_box)
    mosaic.run(
        inputs=outs,
        vrt=str(tmp_path / "m.vrt"),
        cog=str(tmp_path / "m.tif"),
        geobox=params,
        chunk=256,
    )
    mosaic.run(
        inputs=counts, vrt=str(tmp_path / "n.vrt"), cog=str(tmp_path / "n.tif"), geobox=params
    )
    np.testing.assert_array_equal(_read(tmp_path / "m.tif"), _read(whole["bands"]))
    np.testing.assert_array_equal(_read(tmp_path / "n.tif"), _read(whole["bands_n"]))
    with rasterio.open(tmp_path / "m.tif") as src:
        assert src.descriptions == (*ROLES, "date")
        assert src.units[0] == "reflectance"


def test_force_terms_change_the_choice_and_are_tagged(demo_scenes, tmp_path):
    """The distance-to-cloud and valid-fraction terms reach the score: some pixels keep
    another observation than NDVI alone picks, and the product says its score."""
    tile = GeoBox.from_bbox(AOI, "EPSG:3067", resolution=20)
    runs = {
        s: _run(demo_scenes, tile, tmp_path / s, statistic=s, resampling="average", chunk=128)
        for s in ("quality", "quality-force")
    }
    plain, force = (_read(runs[s]["bands"])[3] for s in ("quality", "quality-force"))
    both = np.isfinite(plain) & np.isfinite(force)
    assert both.mean() > 0.5 and 0 < (plain[both] != force[both]).mean() < 0.9
    with rasterio.open(runs["quality-force"]["bands"]) as src:
        score = src.tags()["QUALITY_SCORE"]
    assert "distance to the nearest unclear pixel" in score and "clear fraction" in score
