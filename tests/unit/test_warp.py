"""Job-time warping (rasterflow.warp): the polynomial transformer across CRSs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import rasterio
from odc.geo.geobox import GeoBox
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject

from rasterflow import warp

# --- warping across CRSs: the polynomial transformer ---------------------------------


def _coordinate_raster(
    path: Path, *, crs: str, x0: float, y0: float, res: float, size: int
) -> GeoBox:
    """A raster whose two bands are each pixel's own column and row at its centre.

    Bilinear resampling of such a linear field returns the exact source position a
    destination pixel was read from: the transformer's own answer, made visible.
    """
    cols, rows = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    box = GeoBox((size, size), from_origin(x0, y0, res, res), crs)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=2,
        dtype="float64",
        crs=crs,
        transform=box.affine,
        tiled=True,
    ) as dst:
        dst.write(np.stack([cols, rows]))
    return box


def test_polynomial_warp_follows_proj_across_utm_zones_over_a_sentinel2_tile(tmp_path):
    # a whole Sentinel-2 tile (109.8 km) in zone 32 at its eastern edge, onto zone 33: the
    # largest distortion a composite of UTM scenes meets; 120 m pixels keep the test small
    path = tmp_path / "coords.tif"
    src = _coordinate_raster(path, crs="EPSG:32632", x0=699_960, y0=5_200_020, res=120, size=915)
    ext = src.extent.to_crs("EPSG:32633").boundingbox
    dst = GeoBox(
        (int(ext.span_y // 120), int(ext.span_x // 120)),
        from_origin(ext.left, ext.top, 120, 120),
        "EPSG:32633",
    )
    vrt = warp.polynomial_vrt(path, dst)
    assert vrt is not None and vrt.count("<GCP ") == warp.GCP_NODES**2
    got = warp.read_onto(path, dst, resampling="bilinear", vrt=vrt)
    # where each destination pixel centre lies in the source, by PROJ, point by point
    rows, cols = np.mgrid[: dst.shape.y, : dst.shape.x]
    x, y = dst.affine * (cols + 0.5, rows + 0.5)
    to_src = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:32632", always_xy=True)
    sx, sy = ~src.affine * to_src.transform(x, y)
    inner = (sx > 1) & (sx < 914) & (sy > 1) & (sy < 914)  # full bilinear kernels
    assert inner.mean() > 0.6

    def error_m(warped: np.ndarray) -> float:
        return float(np.abs(np.stack([warped[0] - sx, warped[1] - sy]))[:, inner].max() * 120)

    # the bound the composite states, in pixels of a 10 m grid
    assert error_m(got) < warp.POLYNOMIAL_TOLERANCE * 10
    # which the check can tell apart: GDAL's default second-order fit misses it
    second = np.full_like(got, np.nan)
    with rasterio.open(vrt) as v:
        reproject(
            rasterio.band(v, [1, 2]),
            second,
            dst_transform=dst.affine,
            dst_crs="EPSG:32633",
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
            tolerance=0,
            XSCALE="1",
            YSCALE="1",
            MAX_GCP_ORDER="2",
        )
    assert error_m(second) > warp.POLYNOMIAL_TOLERANCE * 10


def test_kernel_polynomial_follows_proj_across_utm_zones_over_a_sentinel2_tile():
    # the polynomial the compiled warp kernel evaluates (rasterflow._warp_kernel), over
    # the same whole Sentinel-2 tile as above, against PROJ point by point
    from rasterflow._warp_kernel import POLYNOMIAL, source_xy

    src = GeoBox((915, 915), from_origin(699_960, 5_200_020, 120, 120), "EPSG:32632")
    ext = src.extent.to_crs("EPSG:32633").boundingbox
    dst = GeoBox(
        (int(ext.span_y // 120), int(ext.span_x // 120)),
        from_origin(ext.left, ext.top, 120, 120),
        "EPSG:32633",
    )
    params = warp.polynomial_to_pixels(src, dst)
    assert params is not None
    rows, cols = np.mgrid[: dst.shape.y : 5, : dst.shape.x : 5]  # every 5th: 35k points
    x, y = dst.affine * (cols.ravel() + 0.5, rows.ravel() + 0.5)
    got = np.array([source_xy(POLYNOMIAL, params, gx, gy) for gx, gy in zip(x, y, strict=True)])
    to_src = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:32632", always_xy=True)
    sx, sy = ~src.affine * to_src.transform(x, y)
    inside = (sx > 0) & (sx < 915) & (sy > 0) & (sy < 915)
    assert inside.mean() > 0.6
    error_m = np.abs(np.stack([got[:, 0] - sx, got[:, 1] - sy]))[:, inside].max() * 120
    assert error_m < warp.POLYNOMIAL_TOLERANCE * 10
    # no polynomial where PROJ fails or none is needed: the globe into a UTM zone
    globe = GeoBox((90, 180), from_origin(-180, 90, 2, 2), "EPSG:4326")
    assert warp.polynomial_to_pixels(globe, dst) is None


def test_polynomial_warp_is_the_same_whatever_the_chunking(tmp_path):
    path = tmp_path / "coords.tif"
    src = _coordinate_raster(path, crs="EPSG:32632", x0=799_000, y0=5_001_000, res=10, size=300)
    ext = src.extent.to_crs("EPSG:32633").boundingbox
    dst = GeoBox(
        (200, 200), from_origin(round(ext.left) + 500, round(ext.top) - 500, 10, 10), "EPSG:32633"
    )
    vrt = warp.polynomial_vrt(path, dst)
    whole = warp.read_onto(path, dst, resampling="bilinear", vrt=vrt)
    parts = np.full_like(whole, np.nan)
    for r0, r1, c0, c1 in [(0, 77, 0, 200), (77, 200, 0, 31), (77, 200, 31, 200)]:
        parts[:, r0:r1, c0:c1] = warp.read_onto(
            path, dst[r0:r1, c0:c1], resampling="bilinear", vrt=vrt
        )
    np.testing.assert_array_equal(parts, whole)
    assert np.isfinite(whole).all()


def test_polynomial_vrt_only_where_it_pays_and_fits(tmp_path):
    tile = GeoBox((100, 100), from_origin(300_000, 5_000_000, 10, 10), "EPSG:32633")
    same = _coordinate_raster(
        tmp_path / "same.tif", crs="EPSG:32633", x0=299_000, y0=5_001_000, res=10, size=50
    )
    assert same.crs == tile.crs and warp.polynomial_vrt(tmp_path / "same.tif", tile) is None
    # the whole globe cannot be projected into one UTM zone, let alone by a cubic
    _coordinate_raster(tmp_path / "globe.tif", crs="EPSG:4326", x0=-180, y0=90, res=2, size=90)
    assert warp.polynomial_vrt(tmp_path / "globe.tif", tile) is None
    # validity held in a mask band, which the VRT would not carry: warped exactly
    masked = tmp_path / "masked.tif"
    with rasterio.open(
        masked,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=1,
        dtype="uint8",
        crs="EPSG:32632",
        transform=from_origin(800_000, 5_000_000, 10, 10),
    ) as dst:
        dst.write(np.ones((1, 8, 8), np.uint8))
        dst.write_mask(np.full((8, 8), 255, np.uint8))
    assert warp.polynomial_vrt(masked, tile) is None
