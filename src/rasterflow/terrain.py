"""Terrain products of a DEM: slope, aspect, hillshade, TRI, TPI and roughness.

Every product is a function of a pixel's 3x3 window, so a raster is computed block by
block with a one-pixel halo (:func:`dask.array.map_overlap`, depth 1). One compiled
kernel (:mod:`rasterflow._terrain_kernel`, numba, no GIL) serves both paths: the
whole-raster call pads the DEM by one pixel and runs the kernel once; the Dask path runs
it on every halo-extended block. The arithmetic of a pixel never depends on the block it
falls in, so tiled and whole-raster results are identical bit for bit, with no seams.

The formulas and rules are those of ``gdaldem`` (GDAL 3.6, ``apps/gdaldem_lib.cpp``),
checked against it in ``tests/unit/test_terrain.py``:

* Gradients by Horn (1981) by default, or Zevenbergen & Thorne (1987). Slope and
  hillshade use the horizontal spacing of the pixels (see "Scale" below).
* Aspect is the downslope direction in degrees clockwise from north (0..<360);
  flat cells (both differences exactly zero) get the nodata value, or 0 with
  ``zero_for_flat``. (``gdaldem -zero_for_flat`` also writes 0 into nodata cells,
  dropping the nodata value; here they stay -9999.)
* Hillshade is 8-bit: 1..255 for lit to shaded-out, 0 is nodata; ``z_factor``
  exaggerates heights for hillshade only (as ``gdaldem -z``).
* TRI is Riley et al. (1999) by default (GDAL's default since 3.3) or Wilson et al.
  (2007); TPI is the centre minus the mean of the 8 neighbours; roughness is the
  largest minus the smallest height of the window. All three are in height units.
* Float products use -9999 as nodata (gdaldem's value); hillshade uses 0.

Edges and nodata (``TerrainParams.edges``):

* ``"gdaldem"`` (default): a cell is nodata when it or any of its 8 neighbours is
  nodata or lies outside the raster, so the 1-pixel outer border is nodata.
* ``"compute"`` (``gdaldem -compute_edges``): only nodata cells are nodata. Missing
  neighbours are filled as GDAL does: a neighbour outside the raster is extrapolated
  linearly from the two cells inward of it (``2 * edge - next``), except that at the
  four corner cells the neighbour column beyond the side edge repeats the centre
  column; a neighbour that is nodata (or extrapolated from nodata) takes the value of
  the centre cell.

NaN heights are always nodata, whatever the file's nodata value.

Scale (``TerrainParams.scale``), i.e. the horizontal distance between pixel centres,
in the units of the heights:

* ``None`` (default) derives it from the CRS, never silently. Projected CRS: pixel size
  times the CRS's metres per unit. Geographic CRS: per row, from the latitude ``phi``
  of the row's centre on the CRS's ellipsoid (semi-major axis ``a``, eccentricity
  ``e``)::

      W  = sqrt(1 - e^2 sin^2(phi))
      dy = |pixel height in radians| * a (1 - e^2) / W^3     (meridian arc)
      dx =  pixel width in radians   * a cos(phi) / W        (parallel arc)

  The whole 3x3 window uses its centre row's spacing (the error is of the order of
  the pixel height in radians times tan(phi): negligible). Heights are taken to be in
  metres unless the band's unit says feet or US survey feet. A DEM without a CRS, or
  with heights in an unknown unit, is an error that asks for a CRS or an explicit
  scale.
* A number reproduces ``gdaldem -s <scale>`` exactly: spacing = pixel size times
  ``scale`` on both axes (``111120`` for degrees and metres, ``370400`` for degrees and
  feet). Like gdaldem, aspect then ignores the pixel size altogether (it treats pixels
  as square); with ``scale=None`` aspect uses the true spacing on each axis.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from rasterflow.errors import ConfigError, InputDataError

logger = logging.getLogger(__name__)

Product = Literal["slope", "aspect", "hillshade", "tri", "tpi", "roughness"]

#: Nodata of the float32 products (gdaldem's value).
FLOAT_NODATA: float = -9999.0
#: Nodata of the uint8 hillshade (gdaldem's value); lit cells are 1..255.
HILLSHADE_NODATA: int = 0


@dataclass(frozen=True)
class ProductInfo:
    """How a product is stored: data type, nodata, unit and a one-line description."""

    dtype: str
    nodata: float | int
    units: str
    description: str


#: Every product :func:`terrain` and :func:`run` can make.
PRODUCTS: dict[str, ProductInfo] = {
    "slope": ProductInfo("float32", FLOAT_NODATA, "degrees", "slope"),
    "aspect": ProductInfo(
        "float32", FLOAT_NODATA, "degrees", "downslope direction, clockwise from north"
    ),
    "hillshade": ProductInfo("uint8", HILLSHADE_NODATA, "1", "shaded relief, 1..255"),
    "tri": ProductInfo("float32", FLOAT_NODATA, "height units", "terrain ruggedness index"),
    "tpi": ProductInfo("float32", FLOAT_NODATA, "height units", "topographic position index"),
    "roughness": ProductInfo(
        "float32", FLOAT_NODATA, "height units", "largest height difference in the 3x3 window"
    ),
}

# Metres per unit of height for the band unit strings GDAL itself recognises.
_HEIGHT_UNITS: dict[str, float] = {
    "": 1.0,
    "m": 1.0,
    "metre": 1.0,
    "meter": 1.0,
    "metres": 1.0,
    "meters": 1.0,
    "ft": 0.3048,
    "foot": 0.3048,
    "feet": 0.3048,
    "foot (international)": 0.3048,
    "us-ft": 1200 / 3937,
    "foot_us": 1200 / 3937,
    "us survey foot": 1200 / 3937,
}


@dataclass(frozen=True)
class TerrainParams:
    """Options of the terrain products (the workflow's ``terrain`` config section).

    The defaults reproduce ``gdaldem`` with its defaults, except ``scale``: ``None``
    derives the pixel spacing from the CRS (see the module docstring).
    """

    #: ``"horn"`` (gdaldem's default) or ``"zevenbergen_thorne"`` (``-alg``).
    algorithm: Literal["horn", "zevenbergen_thorne"] = "horn"
    #: Slope in ``"degrees"`` or ``"percent"`` (``gdaldem slope -p``).
    slope_units: Literal["degrees", "percent"] = "degrees"
    #: Hillshade light source: azimuth, degrees clockwise from north (``-az``).
    azimuth: float = 315.0
    #: Hillshade light source: altitude above the horizon, degrees (``-alt``).
    altitude: float = 45.0
    #: Vertical exaggeration for hillshade only (``-z``).
    z_factor: float = 1.0
    #: ``None``: spacing from the CRS; a number: ``gdaldem -s`` (see module docstring).
    scale: float | None = None
    #: ``"gdaldem"``: border and nodata-adjacent cells are nodata; ``"compute"``:
    #: computed as by ``gdaldem -compute_edges``.
    edges: Literal["gdaldem", "compute"] = "gdaldem"
    #: Aspect of flat cells: 0 instead of nodata (``-zero_for_flat``).
    zero_for_flat: bool = False
    #: ``"riley"`` (gdaldem's default) or ``"wilson"`` (``gdaldem TRI -alg``).
    tri_algorithm: Literal["riley", "wilson"] = "riley"

    def __post_init__(self) -> None:
        choices: dict[str, tuple[str, ...]] = {
            "algorithm": ("horn", "zevenbergen_thorne"),
            "slope_units": ("degrees", "percent"),
            "edges": ("gdaldem", "compute"),
            "tri_algorithm": ("riley", "wilson"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"terrain.{key}: {getattr(self, key)!r} is not one of "
                    f"{', '.join(map(repr, allowed))}"
                )
        if not 0 < self.altitude <= 90:
            raise ConfigError(
                f"terrain.altitude: {self.altitude} is not in (0, 90]; give the sun's "
                "height above the horizon in degrees, e.g. 45"
            )
        if not np.isfinite(self.azimuth):
            raise ConfigError(f"terrain.azimuth: {self.azimuth} is not a finite number")
        if not (np.isfinite(self.z_factor) and self.z_factor > 0):
            raise ConfigError(f"terrain.z_factor: {self.z_factor} must be a number > 0")
        if self.scale is not None and not (np.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(
                f"terrain.scale: {self.scale} must be a number > 0, or null to derive "
                "the pixel spacing from the DEM's CRS"
            )

    def to_params(self) -> dict[str, Any]:
        """Plain values for provenance tags and logs."""
        return asdict(self)


@dataclass(frozen=True)
class Spacing:
    """Distance between pixel centres, in height units, for every row of a raster.

    ``x[i]`` is the east-west and ``y[i]`` the north-south spacing of row ``i`` (both
    positive). ``how`` says where the numbers came from, for logs and provenance.
    """

    x: np.ndarray
    y: np.ndarray
    how: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.x.shape != self.y.shape or self.x.ndim != 1:
            raise ValueError("Spacing.x and Spacing.y must be 1-D arrays of one length")
        if not (
            np.all(np.isfinite(self.x))
            and np.all(self.x > 0)
            and np.all(np.isfinite(self.y))
            and np.all(self.y > 0)
        ):
            raise ValueError("Spacing.x and Spacing.y must be finite and > 0")

    @classmethod
    def constant(cls, x: float, y: float, *, rows: int) -> Spacing:
        """The same spacing on every row (a projected grid, or ``gdaldem -s``)."""
        return cls(np.full(rows, float(x)), np.full(rows, float(y)), how=f"constant {x} x {y}")


def pixel_spacing(
    *,
    crs: Any,
    transform: Any,
    height: int,
    scale: float | None = None,
    height_units: str = "",
    source: str = "DEM",
) -> Spacing:
    """Spacing of a north-up grid's pixels in height units, following ``scale``.

    ``crs`` is anything :meth:`pyproj.CRS.from_user_input` takes (or None),
    ``transform`` an :class:`affine.Affine`, ``height_units`` the band's unit string.
    ``source`` names the DEM in error messages. Raises InputDataError when the spacing
    cannot be known (see the module docstring, "Scale").
    """
    if transform.b != 0 or transform.d != 0 or transform.a <= 0 or transform.e >= 0:
        raise InputDataError(
            f"{source}: the grid is rotated or not north-up ({tuple(transform)[:6]}); "
            "warp it to a north-up grid first, e.g. gdalwarp -overwrite in.tif out.tif"
        )
    if scale is not None:
        return Spacing(
            np.full(height, transform.a * scale),
            np.full(height, -transform.e * scale),
            how=f"constant scale {scale} (gdaldem -s)",
        )
    if crs is None or not str(crs):
        raise InputDataError(
            f"{source}: no CRS, so the pixel spacing in metres is unknown. Assign the CRS "
            f"(e.g. gdal_edit.py -a_srs EPSG:32633 '{source}'), or set terrain.scale to "
            "height units per CRS unit (1 if both are metres)."
        )
    unit = height_units.strip().lower()
    if unit not in _HEIGHT_UNITS:
        raise InputDataError(
            f"{source}: heights are in unknown unit {height_units!r}. Set the band unit "
            f"to 'm' or 'ft' (gdal_edit.py -units m '{source}'), or set terrain.scale to "
            "height units per CRS unit."
        )
    metres_per_height_unit = _HEIGHT_UNITS[unit]

    import pyproj

    pcrs = pyproj.CRS.from_user_input(crs)
    if pcrs.is_compound:  # e.g. EPSG:4326+5773: the horizontal part sets the spacing
        pcrs = pcrs.sub_crs_list[0]
    if pcrs.is_geographic:
        return _geographic_spacing(pcrs, transform, height, metres_per_height_unit, source)
    if pcrs.is_projected:
        axis = pcrs.axis_info[0]
        factor = axis.unit_conversion_factor  # metres per CRS unit
        if axis.unit_name.lower() in ("degree", "radian", "grad") or not factor:
            raise InputDataError(
                f"{source}: CRS {pcrs.name!r} has axis unit {axis.unit_name!r}, not a "
                "length; set terrain.scale to height units per CRS unit"
            )
        per = factor / metres_per_height_unit
        return Spacing(
            np.full(height, transform.a * per),
            np.full(height, -transform.e * per),
            how=f"projected ({pcrs.name}), {factor} m per CRS unit, "
            f"{metres_per_height_unit} m per height unit",
        )
    raise InputDataError(
        f"{source}: CRS {pcrs.name!r} is neither projected nor geographic, so the pixel "
        "spacing is unknown; set terrain.scale to height units per CRS unit"
    )


def _geographic_spacing(
    pcrs: Any, transform: Any, height: int, metres_per_height_unit: float, source: str
) -> Spacing:
    """Per-row spacing of a lat/lon grid on the CRS's ellipsoid (module docstring)."""
    radians_per_unit = pcrs.axis_info[0].unit_conversion_factor
    ellipsoid = pcrs.ellipsoid
    a = ellipsoid.semi_major_metre
    b = ellipsoid.semi_minor_metre
    e2 = 1.0 - (b / a) ** 2
    rows = np.arange(height, dtype=np.float64)
    phi = (transform.f + (rows + 0.5) * transform.e) * radians_per_unit
    if np.any(np.abs(phi) >= np.pi / 2):
        raise InputDataError(
            f"{source}: row centres reach latitude +-90 degrees (or beyond), where an "
            "east-west spacing is zero; reproject the DEM to a polar projection first"
        )
    w = np.sqrt(1.0 - e2 * np.sin(phi) ** 2)
    dy = -transform.e * radians_per_unit * a * (1.0 - e2) / w**3
    dx = transform.a * radians_per_unit * a * np.cos(phi) / w
    return Spacing(
        dx / metres_per_height_unit,
        dy / metres_per_height_unit,
        how=f"latitude-aware on {ellipsoid.name} (a={a}, e2={e2:.9f})",
    )


# --------------------------------------------------------------------------- kernel


def working_dtype(dem_dtype: Any) -> np.dtype:
    """Type in which window sums are formed: GDAL's arithmetic, without its int32 limit.

    gdaldem sums 8- and 16-bit integer DEMs in int32 and everything else in float32.
    float32 sums of 16-bit integers are exact (|sum| < 2**24) and those of float32
    heights round exactly as GDAL's do, so results match gdaldem; 32-bit integer and
    float64 DEMs are summed in float64, which GDAL would have rounded to float32.
    Gradients, angles and shading are always computed in float64.
    """
    dtype = np.dtype(dem_dtype)
    if dtype.itemsize <= 2 or dtype == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _as_float(block: np.ndarray, nodata: float | None) -> np.ndarray:
    """Heights in :func:`working_dtype` with NaN for nodata.

    As in GDAL, a nodata value that the integer type cannot hold is ignored, and float
    cells are compared with nodata in their own type (a float32 nodata of -3.4e38 does
    not equal its float64 spelling).
    """
    out = block.astype(working_dtype(block.dtype))
    if nodata is None or np.isnan(nodata):
        return out
    if block.dtype.kind in "iu":
        limits = np.iinfo(block.dtype)
        if nodata != round(nodata) or not limits.min <= nodata <= limits.max:
            return out
        out[block == int(nodata)] = np.nan
    else:
        out[block == block.dtype.type(nodata)] = np.nan
    return out


def _fill_outside(p: np.ndarray, *, top: bool, bottom: bool, left: bool, right: bool) -> np.ndarray:
    """Extrapolate the padding on the raster's outer sides as ``2 * edge - next``.

    ``p`` is a block with a one-pixel halo; sides flagged True lie on the raster's edge
    (their halo is outside the raster). NaN (nodata) in either cell propagates, as in
    GDAL's ``INTERPOL``; the kernel then replaces it by the centre.
    """
    p = p.copy()
    if left:
        p[:, 0] = 2 * p[:, 1] - p[:, 2]
    if right:
        p[:, -1] = 2 * p[:, -2] - p[:, -3]
    if top:
        p[0, :] = 2 * p[1, :] - p[2, :]
    if bottom:
        p[-1, :] = 2 * p[-2, :] - p[-3, :]
    return p


def terrain_block(
    padded: np.ndarray,
    product: str,
    *,
    params: TerrainParams,
    dx: np.ndarray,
    dy: np.ndarray,
    top: bool,
    bottom: bool,
    left: bool,
    right: bool,
) -> np.ndarray:
    """One product of a float block with a one-pixel halo (NaN = nodata/outside).

    ``padded`` has shape (rows + 2, cols + 2); the result has shape (rows, cols) in the
    product's stored type. ``dx``/``dy`` are the spacings of the block's rows. The side
    flags say which sides of the block are the raster's outer edge.
    """
    rows = padded.shape[0] - 2
    dx = np.ascontiguousarray(dx, dtype=np.float64).reshape(rows)
    dy = np.ascontiguousarray(dy, dtype=np.float64).reshape(rows)
    if params.edges == "gdaldem":
        return _kernel(padded, product, params, dx, dy)

    p = _fill_outside(padded, top=top, bottom=bottom, left=left, right=right)
    out = _kernel(p, product, params, dx, dy)
    # GDAL's corner windows: the column beyond the side edge repeats the centre column
    # (the rows beyond the top/bottom edge are extrapolated as everywhere else)
    corners = {
        (0, 0): (top and left, slice(0, 3), [1, 1, 2]),
        (0, -1): (top and right, slice(0, 3), [-3, -2, -2]),
        (-1, 0): (bottom and left, slice(-3, None), [1, 1, 2]),
        (-1, -1): (bottom and right, slice(-3, None), [-3, -2, -2]),
    }
    for (r, c), (is_corner, rows_sl, cols_ix) in corners.items():
        if is_corner:
            window = p[rows_sl][:, cols_ix]
            out[r, c] = _kernel(
                window, product, params, dx[r : r + 1 or None], dy[r : r + 1 or None]
            )[0, 0]
    return out


def _kernel(
    p: np.ndarray, product: str, params: TerrainParams, dx: np.ndarray, dy: np.ndarray
) -> np.ndarray:
    """Run the compiled kernel on a padded block; see :mod:`rasterflow._terrain_kernel`."""
    from rasterflow._terrain_kernel import CODES, kernel

    info = PRODUCTS[product]
    out = np.empty((p.shape[0] - 2, p.shape[1] - 2), dtype=info.dtype)
    alt, az = np.radians(params.altitude), np.radians(params.azimuth)
    shade = (
        float(np.sin(alt)),
        float(np.cos(alt) * params.z_factor),
        float(np.cos(az)),
        float(np.sin(az)),
        float(params.z_factor),
    )
    kernel(
        np.ascontiguousarray(p),
        out,
        dx,
        dy,
        CODES[product],
        float(info.nodata),
        p.dtype.type(0.125),
        params.edges == "compute",
        params.algorithm == "horn",
        params.slope_units == "percent",
        params.scale is not None,
        params.zero_for_flat,
        params.tri_algorithm == "wilson",
        shade,
    )
    return out


# --------------------------------------------------------------------------- arrays


def _check_product(product: str) -> None:
    if product not in PRODUCTS:
        raise ConfigError(
            f"terrain products: unknown product {product!r}; known: {', '.join(PRODUCTS)}"
        )


def _check_shape(shape: tuple[int, ...], product: str) -> None:
    _check_product(product)
    if len(shape) != 2:
        raise ValueError(f"expected a 2-D DEM, got shape {shape}")
    if min(shape) < 3:
        raise InputDataError(f"a DEM needs at least 3 x 3 pixels for a 3x3 window, got {shape}")


def _dask_block(
    padded: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    *,
    product: str,
    params: TerrainParams,
    blocks: tuple[int, int],
    block_id: tuple[int, int] | None = None,
) -> np.ndarray:
    """map_blocks adapter: find the block's place in the raster, call terrain_block."""
    assert block_id is not None
    bi, bj = block_id
    return terrain_block(
        padded,
        product,
        params=params,
        dx=dx,
        dy=dy,
        top=bi == 0,
        bottom=bi == blocks[0] - 1,
        left=bj == 0,
        right=bj == blocks[1] - 1,
    )


def terrain(
    dem: Any,
    product: str,
    *,
    spacing: Spacing,
    params: TerrainParams = TerrainParams(),
    nodata: float | None = None,
) -> Any:
    """One terrain product of a 2-D DEM given as a NumPy or a Dask array.

    Returns the same kind of array: float32 with nodata :data:`FLOAT_NODATA`, or uint8
    with nodata :data:`HILLSHADE_NODATA` for hillshade. Cells equal to ``nodata`` and
    NaN cells are nodata. A Dask result has the DEM's chunks and is computed block by
    block with a one-pixel halo; it equals the NumPy result exactly.
    """
    _check_shape(tuple(dem.shape), product)
    if spacing.x.shape[0] != dem.shape[0]:
        raise ValueError(f"spacing has {spacing.x.shape[0]} rows, the DEM {dem.shape[0]}")
    dtype = np.dtype(PRODUCTS[product].dtype)

    import dask.array as da

    if not isinstance(dem, da.Array):
        heights = np.pad(_as_float(np.asarray(dem), nodata), 1, constant_values=np.nan)
        return terrain_block(
            heights,
            product,
            params=params,
            dx=spacing.x,
            dy=spacing.y,
            top=True,
            bottom=True,
            left=True,
            right=True,
        )

    heights = da.map_blocks(_as_float, dem, nodata=nodata, dtype=working_dtype(dem.dtype))
    # the one-pixel halo; outside the raster it is NaN, which terrain_block fills
    padded = da.overlap.overlap(heights, depth={0: 1, 1: 1}, boundary={0: np.nan, 1: np.nan})
    # spacing goes in (rows, 1) blocks matched to the DEM's row blocks (map_blocks
    # pairs blocks by index and broadcasts the single column), so each task carries
    # its own rows' spacing rather than the whole raster's
    row_chunks = (heights.chunks[0], (1,))
    return da.map_blocks(
        _dask_block,
        padded,
        da.from_array(spacing.x[:, None], chunks=row_chunks),
        da.from_array(spacing.y[:, None], chunks=row_chunks),
        chunks=heights.chunks,
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
        product=product,
        params=params,
        blocks=heights.numblocks,
    )


def _one(product: str) -> Callable[..., Any]:
    def compute(
        dem: Any,
        *,
        spacing: Spacing,
        params: TerrainParams = TerrainParams(),
        nodata: float | None = None,
    ) -> Any:
        return terrain(dem, product, spacing=spacing, params=params, nodata=nodata)

    compute.__name__ = compute.__qualname__ = product
    compute.__doc__ = (
        f"{PRODUCTS[product].description.capitalize()} ({PRODUCTS[product].units}) of a "
        f"NumPy or Dask DEM: :func:`terrain` with product {product!r}."
    )
    return compute


slope = _one("slope")
aspect = _one("aspect")
hillshade = _one("hillshade")
tri = _one("tri")
tpi = _one("tpi")
roughness = _one("roughness")


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class DemInfo:
    """What :func:`run` needs to know about a DEM file, read without its pixels."""

    crs: Any
    transform: Any
    shape: tuple[int, int]
    dtype: str
    nodata: float | None
    height_units: str


def dem_info(path: str | os.PathLike[str]) -> DemInfo:
    """Georeferencing, nodata and height unit of band 1 of ``path``.

    A missing CRS is not an error here: :func:`pixel_spacing` decides whether the
    spacing can be known without one (an explicit ``scale``).
    """
    import rasterio

    if not os.path.exists(path):
        raise InputDataError(
            f"terrain DEM: file not found: {path}. Check the DEM path in the config."
        )
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputDataError(
            f"terrain DEM: {path} is not a readable raster ({exc}); replace it with a valid GeoTIFF"
        ) from None
    with src:
        return DemInfo(
            crs=src.crs,
            transform=src.transform,
            shape=(src.height, src.width),
            dtype=src.dtypes[0],
            nodata=src.nodata,
            height_units=src.units[0] or "",
        )


def open_dem(path: str | os.PathLike[str], *, chunk: int = 2048) -> tuple[Any, DemInfo]:
    """Band 1 of ``path`` as a lazy Dask array in ``chunk`` x ``chunk`` blocks, and its info.

    The graph holds xarray's file manager (a path and open arguments), never an open
    dataset, so it pickles to the workers of any cluster; ``lock=False`` because the
    DEM is only read and GDAL handles are not shared between threads.
    """
    import rioxarray
    import xarray

    if chunk < 3:
        raise ConfigError(f"terrain chunk: {chunk} is too small; use at least 3 (e.g. 1024)")
    info = dem_info(path)
    band = rioxarray.open_rasterio(
        path, chunks={"band": 1, "y": chunk, "x": chunk}, lock=False, masked=False, cache=False
    )
    assert isinstance(band, xarray.DataArray)  # one raster file opens as one DataArray
    return band.data[0], info


def _product_units(product: str, params: TerrainParams, height_units: str) -> str:
    if product == "slope":
        return params.slope_units
    if PRODUCTS[product].units == "height units":
        return height_units or "m"
    return PRODUCTS[product].units


def run(
    *,
    dem: str,
    outputs: Mapping[str, str],
    params: TerrainParams = TerrainParams(),
    chunk: int = 2048,
    threads: int = 1,
) -> None:
    """Compute terrain products of the DEM at ``dem`` and write each as a COG.

    ``outputs`` maps product names (see :data:`PRODUCTS`) to output paths. The DEM
    (band 1) is read lazily in ``chunk`` x ``chunk`` blocks, so memory stays bounded by
    the blocks in flight on the active Dask scheduler; ``threads`` goes to GDAL for
    compression. Float products are float32 with nodata -9999, hillshade uint8 with
    nodata 0; each carries provenance tags, a band description and a UNITS tag.
    """
    from rasterflow.io import Cog, provenance_tags, write_cogs

    if not outputs:
        raise ConfigError("terrain outputs: no product requested; map e.g. 'slope' to a path")
    for product in outputs:
        _check_product(product)
    heights, info = open_dem(dem, chunk=chunk)
    spacing = pixel_spacing(
        crs=info.crs,
        transform=info.transform,
        height=info.shape[0],
        scale=params.scale,
        height_units=info.height_units,
        source=str(dem),
    )
    logger.info(
        "terrain: %s, %d x %d pixels %s, nodata %s, spacing %s",
        dem,
        info.shape[1],
        info.shape[0],
        info.dtype,
        info.nodata,
        spacing.how,
    )
    cogs = []
    for product, path in outputs.items():
        tags = provenance_tags(
            inputs=[str(dem)],
            params={"product": product, "terrain": params.to_params(), "spacing": spacing.how},
        )
        units = _product_units(product, params, info.height_units)
        cogs.append(
            Cog(
                terrain(heights, product, spacing=spacing, params=params, nodata=info.nodata),
                path,
                crs=info.crs,
                transform=info.transform,
                nodata=PRODUCTS[product].nodata,
                tags={**tags, "PRODUCT": product},
                band_names=[product],
                band_tags=[{"PRODUCT": product, "UNITS": units}],
            )
        )
    # one pass over the DEM for all products: each block is read once, not per product
    write_cogs(cogs, threads=threads)
    for cog in cogs:
        logger.info(
            "terrain %s (%s) written to %s",
            (cog.band_names or [""])[0],
            (cog.band_tags or [{}])[0].get("UNITS"),
            cog.path,
        )
