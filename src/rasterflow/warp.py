"""Job-time reprojection: rasters onto a tile of the target grid, as GDAL warps them.

:func:`read_onto` reprojects one raster onto a GeoBox with GDAL's warper, set up so that
a pixel's value does not depend on how the GeoBox is cut into tiles and chunks (see its
docstring); :func:`polynomial_vrt` and :func:`polynomial_to_pixels` replace the exact
PROJ transformer between two CRSs by a polynomial fitted once per source (for GDAL's
warper and for the compiled kernel, :mod:`rasterflow._warp_kernel`), and
:func:`warp_scale` fixes the kernel's scale that GDAL would estimate per chunk.

Planning (:mod:`rasterflow.grid`: the grid, its tiles, which scenes touch them) never
imports this module; importing it installs the filters its warps need
(:func:`_install_filters`).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from typing import Any

import numpy as np
from odc.geo import XY, xy_
from odc.geo.crs import CRS
from odc.geo.geobox import GeoBox

from rasterflow.errors import ConfigError
from rasterflow.grid import crs_of

#: Resampling methods accepted by :func:`read_onto` (names of rasterio's ``Resampling``).
RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average")


#: GDAL's warper samples a bilinear (cubic, ...) kernel at its own width from this scale
#: up and widens it by 1 / scale below (gdalwarpkernel.cpp, GWKResample); the compiled
#: kernel (rasterflow.composite) takes the same rule
FOUR_SAMPLE_SCALE = 0.95
#: relative distance within which a scale is taken as 1 or FOUR_SAMPLE_SCALE: a header's
#: pixel size is a float (Landsat's 28.5 m can be stored as 28.49999999927454 m) and the
#: method must not switch on its last digits
SCALE_SNAP = 1e-8


def warp_scale(src: GeoBox, dst: GeoBox) -> XY[float]:
    """Destination pixels per source pixel along x and y (GDAL's ``XSCALE``/``YSCALE``).

    For two projected CRSs with the same unit it is the ratio of the nominal
    resolutions: the scale distortion between two conformal projections (UTM zones) is
    ~1e-4, immaterial to a kernel's width. Otherwise it is measured on the source's
    centre pixel projected into the destination CRS. Within :data:`SCALE_SNAP` of 1 or
    of :data:`FOUR_SAMPLE_SCALE` it is that value: both the kernel's choice and GDAL
    then see the scale the pixel sizes meant.
    """
    sx, sy = abs(src.resolution.x), abs(src.resolution.y)
    dx, dy = abs(dst.resolution.x), abs(dst.resolution.y)
    scrs, dcrs = crs_of(src), crs_of(dst)
    if scrs == dcrs or (scrs.projected and dcrs.projected and scrs.units == dcrs.units):
        return xy_(_snap(sx / dx), _snap(sy / dy))
    cy, cx = src.shape.y // 2, src.shape.x // 2
    pixel = src[cy : cy + 1, cx : cx + 1].extent.to_crs(crs_of(dst), resolution="auto").boundingbox
    return xy_(_snap(pixel.span_x / dx), _snap(pixel.span_y / dy))


def _snap(scale: float) -> float:
    for exact in (1.0, FOUR_SAMPLE_SCALE):
        if abs(scale - exact) <= SCALE_SNAP * exact:
            return exact
    return scale


#: Nodes per side of the lattice of ground control points, on the source's own pixel
#: grid (edges included), from which :func:`polynomial_vrt` fits its polynomial.
GCP_NODES = 11
#: Largest error of the polynomial, in destination pixels, at the lattice's nodes and
#: the midpoints between them; a source whose fit is worse is warped exactly.
POLYNOMIAL_TOLERANCE = 1e-3
#: The polynomial's order: GDAL's highest. Across two UTM zones over a whole Sentinel-2
#: tile (110 km) its error is ~2e-5 of a 10 m pixel; second order would be ~1e-2.
GCP_ORDER = 3
#: The polynomial's terms as (power of u, power of v), in the order of its
#: coefficients (:func:`polynomial_to_pixels`; ``_warp_kernel`` evaluates them so).
POLYNOMIAL_POWERS = tuple((i, j) for i in range(GCP_ORDER + 1) for j in range(GCP_ORDER + 1 - i))


class _DropGcpOrderWarning(logging.Filter):
    """Drop GDAL's warning that the warper ignores MAX_GCP_ORDER.

    rasterio passes each reproject option both to the transformer, which uses it, and
    to the warper, which warns that it does not know it, once per warped chunk.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "does not support option MAX_GCP_ORDER" not in record.getMessage()


def _install_filters() -> None:
    """Silence the two messages :func:`read_onto` through a :func:`polynomial_vrt` causes.

    Installed once, when this module is imported: only job-time code (composites,
    mosaics) imports it, so planning (:mod:`rasterflow.grid`) no longer changes the
    logging and warning filters of the process that imports it (Snakemake's). Not per
    :func:`read_onto` call: the warnings filter list is process-global and unlocked in
    Python 3.12, and Dask runs reads on several threads at once.

    rasterio's reproject warns that a source has "no geotransform, gcps, or rpcs" for
    some windows of a VRT georeferenced by GCPs; every raster reaching a warp here has a
    CRS and georeferencing (io.check_raster), so inside rasterio.warp the warning is noise.
    """
    logging.getLogger("rasterio._env").addFilter(_DropGcpOrderWarning())
    warnings.filterwarnings(
        "ignore", message="Dataset has no geotransform, gcps, or rpcs", module=r"rasterio\.warp"
    )


_install_filters()


def gcp_lattice(src: GeoBox, crs: CRS) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Source pixel corners on a (2 GCP_NODES - 1)^2 lattice and their exact ``crs`` coordinates.

    Returns (col/row, 2 x m x m), (x/y, 2 x m x m) and the node mask (every other point
    in both directions: the ground control points; the rest check the fit), or None
    where PROJ cannot project a point (e.g. a global raster into a UTM zone).
    """
    h, w = src.shape.yx
    m = 2 * GCP_NODES - 1
    cols, rows = np.meshgrid(np.linspace(0.0, w, m), np.linspace(0.0, h, m))
    wx, wy = src.affine * (cols, rows)  # type: ignore[operator]  # affine maps arrays too
    x, y = crs_of(src).transformer_to_crs(crs)(wx, wy)
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    nodes = np.zeros((m, m), dtype=bool)
    nodes[::2, ::2] = True
    return np.stack([cols, rows]), np.stack([x, y]), nodes


def _polynomial_fit(
    pixels: np.ndarray, coords: np.ndarray, nodes: np.ndarray
) -> tuple[np.ndarray, float]:
    """Least-squares GCP_ORDER polynomial from target coordinates to source pixels,
    fitted on ``nodes``: (parameters as :mod:`rasterflow._warp_kernel` takes them:
    centre x, centre y, span, 10 coefficients for the column, 10 for the row; the
    largest error, in source pixels, over every lattice point)."""
    x, y = coords[0].ravel(), coords[1].ravel()
    # centred and scaled, so that third powers of 10^6 m do not swamp the fit
    span = max(float(np.ptp(x)), float(np.ptp(y)), 1e-9)
    mx, my = float(x.mean()), float(y.mean())
    u, v = (x - mx) / span, (y - my) / span
    terms = np.stack([u**i * v**j for i, j in POLYNOMIAL_POWERS], axis=-1)
    fit = nodes.ravel()
    err = 0.0
    coefs = []
    for target in (pixels[0].ravel(), pixels[1].ravel()):
        coef = np.linalg.lstsq(terms[fit], target[fit], rcond=None)[0]
        err = max(err, float(np.abs(terms @ coef - target).max()))
        coefs.append(coef)
    return np.concatenate([[mx, my, span], *coefs]), err


def polynomial_to_pixels(src: GeoBox, geobox: GeoBox) -> np.ndarray | None:
    """The polynomial :func:`polynomial_vrt` stands for, as the warp kernel evaluates it:
    target coordinates of ``geobox``'s CRS to ``src``'s pixel/line.

    Fitted in NumPy to the same lattice of exact PROJ points on ``src``'s own grid as
    GDAL fits its own (the two agree to rounding), it depends only on ``src`` and the
    CRS, so a pixel's source position does not depend on tiles or chunks. Returns the
    kernel's parameters (:mod:`rasterflow._warp_kernel`), or None where PROJ fails or
    the fit misses by more than :data:`POLYNOMIAL_TOLERANCE` ``geobox`` pixels.
    """
    fitted = _fitted(src, crs_of(geobox))
    if fitted is None:
        return None
    _lattice, params, err = fitted
    scale = warp_scale(src, geobox)
    if err * max(scale.x, scale.y) > POLYNOMIAL_TOLERANCE:
        return None
    return params


def _fitted(src: GeoBox, crs: CRS) -> tuple[tuple[np.ndarray, ...], np.ndarray, float] | None:
    """(gcp_lattice, _polynomial_fit's parameters and error) of ``src`` into ``crs``, or
    None; computed once for both the VRT and the kernel of a source."""
    a = src.affine
    key = (tuple(src.shape.yx), (a.a, a.b, a.c, a.d, a.e, a.f), crs_of(src).to_wkt(), crs.to_wkt())
    with _FITTED_LOCK:
        if key in _FITTED:
            return _FITTED[key]
    lattice = gcp_lattice(src, crs)
    fitted = None if lattice is None else (lattice, *_polynomial_fit(*lattice))
    with _FITTED_LOCK:
        if len(_FITTED) >= 64:
            _FITTED.clear()
        _FITTED[key] = fitted
    return fitted


_FITTED: dict[tuple[Any, ...], Any] = {}
_FITTED_LOCK = threading.Lock()


def polynomial_vrt(
    path: str | os.PathLike[str], geobox: GeoBox, *, dataset: Any = None
) -> str | None:
    """A VRT over ``path`` georeferenced by ground control points in ``geobox``'s CRS.

    Warping with GDAL's exact transformer costs a PROJ call per destination pixel
    (~0.4 s per megapixel between UTM zones, most of a composite's time). Through this
    VRT, GDAL instead fits a third-order polynomial (``MAX_GCP_ORDER``) to a
    :data:`GCP_NODES`-square lattice of exact points on the source's own pixel grid and
    evaluates it per pixel, ~4x cheaper. The polynomial depends only on the source and
    the target CRS, so a pixel's value stays independent of tiles and chunks, which
    GDAL's approximate transformer (linear along each warped chunk's rows) is not.

    None where no polynomial is needed or good enough: a source already in the target
    CRS (an affine map, no PROJ either way), one that PROJ cannot project, one whose
    validity is a mask band rather than nodata, or one whose fit misses by more than
    :data:`POLYNOMIAL_TOLERANCE` destination pixels (by the same least-squares fit in
    NumPy, at the lattice's nodes and midpoints; the tests hold GDAL's own fit to the
    bound against PROJ); those are warped exactly.
    ``dataset``: ``path`` already opened with rasterio, to read its header from.
    """
    from contextlib import nullcontext
    from xml.sax.saxutils import escape, quoteattr

    import rasterio
    from rasterio.dtypes import dtype_rev, typename_fwd
    from rasterio.enums import MaskFlags

    with nullcontext(dataset) if dataset is not None else rasterio.open(path) as src:
        src_box = GeoBox.from_rio(src)
        bands = [
            (typename_fwd[dtype_rev[dt]], nodata)
            for dt, nodata in zip(src.dtypes, src.nodatavals, strict=True)
        ]
        masked = any(
            MaskFlags.nodata not in flags and MaskFlags.all_valid not in flags
            for flags in src.mask_flag_enums
        )
    if masked or src_box.crs == geobox.crs:
        return None
    fitted = _fitted(src_box, crs_of(geobox))
    if fitted is None:
        return None
    (pixels, coords, nodes), _params, err = fitted
    scale = warp_scale(src_box, geobox)
    if err * max(scale.x, scale.y) > POLYNOMIAL_TOLERANCE:
        return None
    gcps = "".join(
        f'<GCP Id="" Pixel="{c!r}" Line="{r!r}" X="{x!r}" Y="{y!r}"/>'
        for c, r, x, y in zip(
            pixels[0][nodes].tolist(),
            pixels[1][nodes].tolist(),
            coords[0][nodes].tolist(),
            coords[1][nodes].tolist(),
            strict=True,
        )
    )
    source = escape(os.path.abspath(path))
    xml_bands = "".join(
        f'<VRTRasterBand dataType="{typename}" band="{i}">'
        + ("" if nodata is None else f"<NoDataValue>{nodata!r}</NoDataValue>")
        + f'<SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename>'
        f"<SourceBand>{i}</SourceBand></SimpleSource></VRTRasterBand>"
        for i, (typename, nodata) in enumerate(bands, start=1)
    )
    h, w = src_box.shape.yx
    return (
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">'
        f"<GCPList Projection={quoteattr(crs_of(geobox).to_wkt())}>{gcps}</GCPList>"
        f"{xml_bands}</VRTDataset>"
    )


def read_onto(
    path: str | os.PathLike[str],
    geobox: GeoBox,
    *,
    resampling: str = "nearest",
    dtype: str | np.dtype | None = None,
    fill: float | None = None,
    scale: XY[float] | None = None,
    alpha: bool = False,
    vrt: str | None = None,
) -> np.ndarray:
    """Reproject all bands of raster ``path`` onto ``geobox``: a (band, y, x) array.

    Only the source window that ``geobox`` needs is read. Source nodata (the file's
    nodata value, NaN included) is excluded from every resampling kernel, and a pixel
    is nodata where the source pixel under its centre is (GDAL's rule), so nodata
    neither bleeds into valid pixels nor do valid values spread into clouds. Pixels no
    source covers get ``fill`` (default: NaN for floats, else the file's nodata, else 0).
    With ``alpha`` a last band holds GDAL's coverage, 0 where nothing valid was found.

    The result for a pixel depends only on the pixel, not on ``geobox``'s extent, so
    tiles and chunks of one grid fit together seamlessly. GDAL's defaults break that in
    two ways, both switched off here: the approximate transformer (``tolerance=0``) and
    a kernel scale estimated anew for every warped chunk (up to 0.4 of the value range
    apart between chunks in tests with bilinear across UTM zones); ``scale``
    (:func:`warp_scale` when None) fixes ``XSCALE``/``YSCALE`` instead.

    ``vrt`` (:func:`polynomial_vrt` of ``path`` and ``geobox``'s grid) is read instead
    of ``path``: the same pixels, georeferenced by a polynomial evaluated exactly per
    pixel, in place of a PROJ call per pixel.
    """
    import rasterio
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import Resampling, reproject

    if resampling not in RESAMPLING:
        raise ConfigError(f"resampling: {resampling!r} is not one of {', '.join(RESAMPLING)}")
    if scale is None:
        with rasterio.open(path) as src:
            scale = warp_scale(GeoBox.from_rio(src), geobox)
    # the polynomial is only evaluated exactly when asked: tolerance=0 below
    options = {"MAX_GCP_ORDER": str(GCP_ORDER)} if vrt is not None else {}
    with rasterio.open(vrt if vrt is not None else path) as src:
        out_dtype = np.dtype(dtype or src.dtypes[0])
        if fill is None:
            if out_dtype.kind == "f":
                fill = math.nan
            else:
                fill = src.nodata if src.nodata is not None else 0
        # GDAL nudges valid values equal to the destination's nodata (0 -> 1 in bytes),
        # so declare it only when it can never be valid: NaN, or the file's own nodata
        same = src.nodata is not None and (
            fill == src.nodata or (math.isnan(fill) and math.isnan(src.nodata))
        )
        dst_nodata = fill if same or (out_dtype.kind == "f" and math.isnan(fill)) else None
        count = src.count + (1 if alpha else 0)
        out = np.full((count, *geobox.shape.yx), fill, dtype=out_dtype)
        if alpha:
            out[-1] = 0
        reproject(
            source=rasterio.band(src, list(range(1, src.count + 1))),
            destination=out,
            src_nodata=src.nodata,
            dst_transform=geobox.affine,
            dst_crs=RioCRS.from_wkt(crs_of(geobox).to_wkt()),
            dst_nodata=dst_nodata,
            dst_alpha=count if alpha else 0,
            init_dest_nodata=False,  # keep the prefilled ``fill`` (and alpha 0)
            resampling=Resampling[resampling],
            tolerance=0.0,
            num_threads=1,  # Dask runs one task per core already
            XSCALE=repr(float(scale.x)),
            YSCALE=repr(float(scale.y)),
            **options,
        )
    return out
