"""Deterministic synthetic demo data: scenes, a DEM, zones and points over a made-up
landscape.

Everything derives from a fixed seed and from world coordinates, so overlapping
footprints see the same ground and every run writes the same pixels. The landscape
has water, forest, fields with a growing season, and bare ground; scenes carry
Sentinel-2-like reflectance encoding (uint16, scale 1e-4, offset -0.1, nodata 0),
clouds with shadows, and a scene-classification (SCL-like) mask.

Two input layouts appear, as users have them:

* footprint A: one multiband GeoTIFF per scene, 10 m, bands blue, green, red, nir,
  swir1, swir2, scl (the mask as band 7);
* footprint B: a SAFE-like folder per scene, one file per band, 10 m visible/NIR,
  20 m SWIR and a 20 m SCL mask file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from odc.geo.geom import BoundingBox

CRS = "EPSG:3067"
RES = 10.0
SIZE = 384  # pixels per footprint side
SEED = 20240601

ROLES = ("blue", "green", "red", "nir", "swir1", "swir2")
#: SCL classes: 0 nodata, 3 cloud shadow, 4 vegetation, 5 not vegetated, 6 water,
#: 8 cloud medium, 9 cloud high probability
SCL_VALID = (4, 5, 6, 7)
SCL_CLASSES = tuple(range(12))
S2_BANDS = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir": "B08",
    "swir1": "B11",
    "swir2": "B12",
}
TWENTY_M = {"swir1", "swir2"}

# class reflectances, (blue, green, red, nir, swir1, swir2)
_WATER = np.array([0.06, 0.07, 0.05, 0.03, 0.02, 0.01])
_FOREST = np.array([0.03, 0.05, 0.03, 0.30, 0.15, 0.07])
_CROP = np.array([0.04, 0.08, 0.04, 0.45, 0.22, 0.10])
_SOIL = np.array([0.08, 0.11, 0.14, 0.22, 0.30, 0.25])
_BARE = np.array([0.12, 0.15, 0.18, 0.24, 0.32, 0.28])


@dataclass(frozen=True)
class Footprint:
    """One demo scene footprint: where it lies, how its files are laid out, its dates."""

    name: str
    x0: float  # west edge, metres
    y0: float  # north edge, metres
    layout: str  # "multiband" or "safe"
    dates: tuple[dt.date, ...]


FOOTPRINTS = (
    Footprint(
        "A",
        380_000.0,
        6_700_000.0,
        "multiband",
        (dt.date(2024, 5, 12), dt.date(2024, 6, 21), dt.date(2024, 7, 26)),
    ),
    Footprint(
        "B",
        380_000.0 + 240 * RES,
        6_700_000.0 - 120 * RES,
        "safe",
        (dt.date(2024, 5, 17), dt.date(2024, 6, 26), dt.date(2024, 8, 2)),
    ),
)


def scene_id(fp: Footprint, date: dt.date) -> str:
    """The sheet's id of the demo scene of ``fp`` on ``date``."""
    return f"{fp.name}_{date:%Y%m%d}"


def _safe_dir(fp: Footprint, date: dt.date) -> str:
    return f"scenes/S2X_MSIL2A_{date:%Y%m%d}_T35VL{fp.name}.SAFE"


def _safe_file(fp: Footprint, date: dt.date, band: str, res: int) -> str:
    return (
        f"GRANULE/L2A_T35VL{fp.name}/IMG_DATA/R{res}m/"
        f"T35VL{fp.name}_{date:%Y%m%d}_{band}_{res}m.tif"
    )


def scene_paths() -> dict[str, str]:
    """Scene id -> path (relative to the demo root) as written in the scene sheet."""
    out = {}
    for fp in FOOTPRINTS:
        for d in fp.dates:
            sid = scene_id(fp, d)
            out[sid] = f"scenes/{sid}.tif" if fp.layout == "multiband" else _safe_dir(fp, d)
    return out


def footprints() -> dict[str, BoundingBox]:
    """Scene id -> bounds (odc-geo BoundingBox with CRS), known before any file exists."""
    from odc.geo.geom import BoundingBox

    side = SIZE * RES
    return {
        scene_id(fp, d): BoundingBox(fp.x0, fp.y0 - side, fp.x0 + side, fp.y0, crs=CRS)
        for fp in FOOTPRINTS
        for d in fp.dates
    }


def planned_files() -> list[str]:
    """Every file :func:`generate` writes, relative to the demo root."""
    files = ["scenes.csv", "dem.tif", "zones.gpkg", "points.geojson"]
    for fp in FOOTPRINTS:
        for d in fp.dates:
            if fp.layout == "multiband":
                files.append(f"scenes/{scene_id(fp, d)}.tif")
                continue
            for role in ROLES:
                res = 20 if role in TWENTY_M else 10
                files.append(f"{_safe_dir(fp, d)}/{_safe_file(fp, d, S2_BANDS[role], res)}")
            files.append(f"{_safe_dir(fp, d)}/{_safe_file(fp, d, 'SCL', 20)}")
    return files


def sheet_text() -> str:
    """The scene sheet (CSV) of the demo, paths relative to the sheet."""
    lines = ["scene_id,date,path"]
    dates = {scene_id(fp, d): d for fp in FOOTPRINTS for d in fp.dates}
    for sid, path in scene_paths().items():
        lines.append(f"{sid},{dates[sid].isoformat()},{path}")
    return "\n".join(lines) + "\n"


# --- the landscape -----------------------------------------------------------------


def _field(x: np.ndarray, y: np.ndarray, seed: int, scales: Iterable[float]) -> np.ndarray:
    """Smooth pseudo-random field in [-1, 1] from sinusoids with seeded phases."""
    rng = np.random.default_rng(seed)
    total = np.zeros(np.broadcast(x, y).shape)
    scales = list(scales)
    for s in scales:
        ang = rng.uniform(0, np.pi)
        ph = rng.uniform(0, 2 * np.pi, 2)
        u = x * np.cos(ang) + y * np.sin(ang)
        v = -x * np.sin(ang) + y * np.cos(ang)
        total += np.sin(u / s + ph[0]) * np.cos(v / (1.3 * s) + ph[1])
    return total / len(scales)


def _grid(x0: float, y0: float, width: int, height: int, res: float):
    xs = x0 + (np.arange(width) + 0.5) * res
    ys = y0 - (np.arange(height) + 0.5) * res
    return np.meshgrid(xs, ys)


def landcover(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0 water, 1 forest, 2 field, 3 bare, at world coordinates (metres)."""
    wet = _field(x, y, SEED + 1, (900.0, 450.0))
    wood = _field(x, y, SEED + 2, (700.0, 300.0, 150.0))
    rock = _field(x, y, SEED + 3, (500.0, 200.0))
    cls = np.full(x.shape, 2, dtype=np.uint8)
    cls[wood > 0.15] = 1
    cls[rock > 0.55] = 3
    cls[wet > 0.5] = 0
    return cls


def elevation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Terrain height in metres: rolling hills of 80 to 250 m, lakes in the hollows."""
    hills = 60 * _field(x, y, SEED + 4, (1500.0, 800.0)) + 15 * _field(x, y, SEED + 5, (250.0,))
    wet = _field(x, y, SEED + 1, (900.0, 450.0))  # the field that places the lakes
    return 160 + hills - 40 * np.clip(wet, 0.0, None)


def _greenness(x: np.ndarray, y: np.ndarray, date: dt.date) -> np.ndarray:
    """Crop cover 0..1 of each 200 m x 150 m parcel on ``date`` (sowing varies by parcel)."""
    parcel = (np.floor(x / 200.0) * 7919 + np.floor(y / 150.0) * 104729).astype(np.int64)
    sow = 130 + (parcel % 41)  # day of year
    doy = date.timetuple().tm_yday
    return np.clip((doy - sow) / 60.0, 0.0, 1.0) * np.where(parcel % 5 == 0, 0.3, 1.0)


def reflectance(x: np.ndarray, y: np.ndarray, date: dt.date, seed: int) -> np.ndarray:
    """Clear-sky surface reflectance (6, y, x) at world coordinates on ``date``."""
    cls = landcover(x, y)
    g = _greenness(x, y, date)[None]
    crop = g * _CROP[:, None, None] + (1 - g) * _SOIL[:, None, None]
    refl = np.where(cls == 2, crop, 0.0)
    for c, spectrum in ((0, _WATER), (1, _FOREST), (3, _BARE)):
        refl = np.where(cls == c, spectrum[:, None, None], refl)
    noise = np.random.default_rng(seed).normal(1.0, 0.03, refl.shape)
    return np.clip(refl * noise, 0.0, 1.0)


def _clouds(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cloud opacity 0..1 and a shadow flag, from a few seeded blobs."""
    rng = np.random.default_rng(seed)
    cloud = np.zeros(x.shape)
    shadow = np.zeros(x.shape, dtype=bool)
    for _ in range(3):
        cx = rng.uniform(x.min(), x.max())
        cy = rng.uniform(y.min(), y.max())
        r = rng.uniform(200, 600)
        blob = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * r**2)))
        cloud = np.maximum(cloud, blob)
        shadow |= np.exp(-(((x - cx + 300) ** 2 + (y - cy + 300) ** 2) / (2 * r**2))) > 0.5
    return cloud, shadow & (cloud < 0.3)


def scene_arrays(fp: Footprint, date: dt.date, res: float = RES) -> tuple[np.ndarray, np.ndarray]:
    """(uint16 digital numbers (6, y, x), uint8 SCL (y, x)) of one scene at ``res``."""
    n = int(SIZE * RES / res)
    x, y = _grid(fp.x0, fp.y0, n, n, res)
    seed = SEED + date.toordinal() * 10 + ord(fp.name)
    refl = reflectance(x, y, date, seed)
    cloud, shadow = _clouds(x, y, seed + 1)
    refl = refl * (1 - cloud) + 0.55 * cloud
    refl = np.where(shadow, refl * 0.4, refl)
    cls = landcover(x, y)
    scl = np.select([cls == 0, cls == 1, cls == 2], [6, 4, 4], 5).astype(np.uint8)
    scl = np.where(_greenness(x, y, date) < 0.2, np.where(cls == 2, 5, scl), scl)
    scl[shadow] = 3
    scl[cloud > 0.3] = 8
    scl[cloud > 0.6] = 9
    # a swath edge: the orbit does not cover the south-west corner
    edge = (x - fp.x0) + (fp.y0 - y) * 0.0 < (fp.y0 - y) - 2600
    dn = np.round((refl + 0.1) / 1e-4).astype(np.uint16)
    dn[:, edge] = 0
    scl[edge] = 0
    return dn, scl


# --- writing -----------------------------------------------------------------------


def _write(
    path: Path,
    data: np.ndarray,
    *,
    x0: float,
    y0: float,
    res: float,
    nodata: float | None,
    descriptions: Iterable[str],
) -> None:
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    data = data if data.ndim == 3 else data[None]
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": CRS,
        "transform": from_origin(x0, y0, res, res),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions, start=1):
            dst.set_band_description(i, d)


def write_dem(path: Path) -> None:
    """20 m DEM over both footprints, float32, nodata -9999 in one corner."""
    res = 20.0
    x0 = min(fp.x0 for fp in FOOTPRINTS)
    y0 = max(fp.y0 for fp in FOOTPRINTS)
    x1 = max(fp.x0 for fp in FOOTPRINTS) + SIZE * RES
    y1 = min(fp.y0 for fp in FOOTPRINTS) - SIZE * RES
    x, y = _grid(x0, y0, int((x1 - x0) / res), int((y0 - y1) / res), res)
    dem = elevation(x, y).astype(np.float32)
    dem[:12, :12] = -9999.0
    _write(path, dem, x0=x0, y0=y0, res=res, nodata=-9999.0, descriptions=["elevation"])


def write_zones(path: Path) -> None:
    """Zones in EPSG:4326: field parcels, a polygon with a hole, a multipolygon."""
    import geopandas as gpd
    from shapely.geometry import MultiPolygon, Polygon, box

    a, b = FOOTPRINTS
    ox, oy = a.x0, a.y0
    geoms, names, kinds = [], [], []
    for i in range(3):
        for j in range(3):
            x = ox + 400 + i * 1000
            y = oy - 400 - j * 1000
            geoms.append(box(x, y - 600, x + 800, y))
            names.append(f"parcel {i}{j}")
            kinds.append("parcel")
    outer = [
        (ox + 2600, oy - 3000),
        (ox + 4600, oy - 3000),
        (ox + 4600, oy - 5000),
        (ox + 2600, oy - 5000),
    ]
    hole = [
        (ox + 3300, oy - 3700),
        (ox + 3900, oy - 3700),
        (ox + 3900, oy - 4300),
        (ox + 3300, oy - 4300),
    ]
    geoms.append(Polygon(outer, [hole]))
    names.append("ring")
    kinds.append("holed")
    geoms.append(
        MultiPolygon(
            [
                box(b.x0 + 2000, b.y0 - 3000, b.x0 + 2500, b.y0 - 2500),
                box(b.x0 + 3000, b.y0 - 3500, b.x0 + 3600, b.y0 - 2900),
            ]
        )
    )
    names.append("two patches")
    kinds.append("multi")
    gdf = gpd.GeoDataFrame(
        {"zone_id": range(1, len(geoms) + 1), "name": names, "kind": kinds}, geometry=geoms, crs=CRS
    ).to_crs("EPSG:4326")
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf.to_file(path, driver="GPKG", layer="zones")


#: Demo points (EPSG:3067): id -> (name, x, y). One in footprint A only, two where A and
#: B overlap, one in B only, one outside every raster (its rows are all invalid).
POINTS = {
    1: ("parcel 00", 380_800.0, 6_699_300.0),
    2: ("forest edge", 381_500.0, 6_697_000.0),
    3: ("overlap", 383_040.0, 6_696_300.0),
    4: ("ring", 382_800.0, 6_696_800.0),
    5: ("footprint B", 385_500.0, 6_695_800.0),
    6: ("outside", 390_000.0, 6_690_000.0),
}


def write_points(path: Path) -> None:
    """The demo points as GeoJSON (so in EPSG:4326: points.file may be in any CRS)."""
    import geopandas as gpd
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame(
        {"point_id": list(POINTS), "name": [v[0] for v in POINTS.values()]},
        geometry=[Point(x, y) for _name, x, y in POINTS.values()],
        crs=CRS,
    ).to_crs("EPSG:4326")
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf.to_file(path, driver="GeoJSON", engine="pyogrio")


def generate(root: str | Path) -> list[Path]:
    """Write the whole demo dataset under ``root``; return the files written."""
    root = Path(root)
    for fp in FOOTPRINTS:
        for d in fp.dates:
            sid = scene_id(fp, d)
            dn, scl = scene_arrays(fp, d)
            if fp.layout == "multiband":
                _write(
                    root / f"scenes/{sid}.tif",
                    np.concatenate([dn, scl[None]]),
                    x0=fp.x0,
                    y0=fp.y0,
                    res=RES,
                    nodata=0,
                    descriptions=[*ROLES, "scl"],
                )
                continue
            dn20, scl20 = scene_arrays(fp, d, res=20.0)
            base = root / _safe_dir(fp, d)
            for k, role in enumerate(ROLES):
                res = 20 if role in TWENTY_M else 10
                arr = dn20[k] if res == 20 else dn[k]
                _write(
                    base / _safe_file(fp, d, S2_BANDS[role], res),
                    arr,
                    x0=fp.x0,
                    y0=fp.y0,
                    res=float(res),
                    nodata=0,
                    descriptions=[role],
                )
            _write(
                base / _safe_file(fp, d, "SCL", 20),
                scl20,
                x0=fp.x0,
                y0=fp.y0,
                res=20.0,
                nodata=None,
                descriptions=["scl"],
            )
    write_dem(root / "dem.tif")
    write_zones(root / "zones.gpkg")
    write_points(root / "points.geojson")
    (root / "scenes.csv").write_text(sheet_text(), encoding="utf-8")
    return [root / f for f in planned_files()]
