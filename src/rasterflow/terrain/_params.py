"""Terrain products' options and storage (:class:`TerrainParams`, :data:`PRODUCTS`), and
the spacing of a DEM's pixels in height units (:func:`pixel_spacing`, "Scale" in
:mod:`rasterflow.terrain`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from rasterflow.errors import ConfigError, InputDataError

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
    derives the pixel spacing from the CRS (see :mod:`rasterflow.terrain`).
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
    #: ``None``: spacing from the CRS; a number: ``gdaldem -s`` (see :mod:`rasterflow.terrain`).
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
    cannot be known (see "Scale" in :mod:`rasterflow.terrain`).
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
    """Per-row spacing of a lat/lon grid on the CRS's ellipsoid (:mod:`rasterflow.terrain`)."""
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
