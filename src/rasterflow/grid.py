"""The target grid: one CRS, resolution and pixel alignment; its tiles (planning time).

Everything a composite or mosaic produces lies on one :class:`~odc.geo.geobox.GeoBox`
(the *target grid*), cut into square tiles of ``tile_px`` pixels by odc-geo's
:class:`~odc.geo.geobox.GeoboxTiles`. Tiles share the grid's pixel edges, so a mosaic
of tiles is pixel copying and has no seams.

The functions :func:`grid_from_config`, :func:`tiles`, :func:`footprint` and
:func:`tiles_touched` run when Snakemake builds the DAG: they read raster headers and
vector files but never pixels. Reprojecting rasters onto the grid inside jobs is
:mod:`rasterflow.warp`, which this module does not import.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from odc.geo import XY, xy_
from odc.geo.crs import CRS
from odc.geo.geobox import GeoBox, GeoboxTiles
from odc.geo.geom import BoundingBox, Geometry, box
from rasterio.transform import Affine

from rasterflow.errors import ConfigError, InputDataError

#: Tile ids (a Snakemake wildcard constraint): column, then row of the tile in the
#: target grid, zero-padded to at least 3 digits, e.g. ``x003_y012``.
TILE_ID_PATTERN = r"x\d{3,}_y\d{3,}"


@dataclass(frozen=True)
class GridSpec:
    """The ``grid`` config section, checked: what defines the target grid."""

    crs: CRS
    resolution: float
    origin: XY[float]
    tile_px: int
    aoi: Geometry  # in ``crs``

    @property
    def geobox(self) -> GeoBox:
        return target_geobox(self.aoi, crs=self.crs, resolution=self.resolution, origin=self.origin)


def crs_of(obj: GeoBox | Geometry | BoundingBox) -> CRS:
    """The CRS of a grid, shape or box, which every one rasterflow makes has (odc-geo's
    types allow none)."""
    if obj.crs is None:
        raise ValueError(f"{type(obj).__name__} without a CRS: {obj!r}")
    return obj.crs


def _crs(value: Any, *, key: str) -> CRS:
    try:
        return CRS(value)
    except Exception as exc:  # pyproj raises several types for unknown CRSs
        raise ConfigError(
            f"{key}: {value!r} is not a CRS ({exc}); write e.g. 'EPSG:32633' or a WKT string"
        ) from None


def area_of_interest(
    *,
    crs: CRS | str,
    bounds: Sequence[float] | None = None,
    bounds_crs: CRS | str | None = None,
    vector: str | os.PathLike[str] | None = None,
    layer: str | int | None = None,
    within: BoundingBox | None = None,
) -> Geometry:
    """The area of interest as one geometry in ``crs``: from ``bounds`` or a ``vector`` file.

    ``bounds`` is ``[xmin, ymin, xmax, ymax]`` in ``bounds_crs`` (default: ``crs``).
    ``vector`` is any file OGR reads (GeoPackage, Shapefile, GeoJSON, ...); the union of
    all geometries of ``layer`` is used (it may be None only for a one-layer file).
    Edges are densified before reprojection, so a box in EPSG:4326 becomes a curved
    outline, not a chord. With ``within`` (the data's bounds, :func:`data_bounds`), the
    area is clipped to it, and clipped in the file's own CRS first: a countries layer
    is cut to a few scenes before it is reprojected (and parts of the world that a UTM
    zone cannot represent are never projected). The result may be empty.
    """
    crs = _crs(crs, key="grid.crs")
    if (bounds is None) == (vector is None):
        raise ConfigError(
            "grid.aoi: give exactly one of 'bounds' ([xmin, ymin, xmax, ymax]) or 'vector' "
            "(a path to a vector file)"
        )
    if bounds is not None:
        if len(bounds) != 4 or not all(isinstance(v, int | float) for v in bounds):
            raise ConfigError(
                f"grid.aoi.bounds: {list(bounds)!r} is not [xmin, ymin, xmax, ymax] numbers"
            )
        xmin, ymin, xmax, ymax = (float(v) for v in bounds)
        if not (xmin < xmax and ymin < ymax):
            raise ConfigError(
                f"grid.aoi.bounds: {list(bounds)!r} is empty; write [xmin, ymin, xmax, ymax] "
                "with xmin < xmax and ymin < ymax"
            )
        src_crs = crs if bounds_crs is None else _crs(bounds_crs, key="grid.aoi.crs")
        geom = box(xmin, ymin, xmax, ymax, src_crs)
    else:
        geom = _read_vector(vector, layer=layer)  # type: ignore[arg-type]
    if within is None:
        return geom.to_crs(crs, resolution="auto", check_and_fix=True)
    if geom.crs != within.crs:
        # a little wider than the data: the box's outline is curved in geom's CRS
        x0, y0, x1, y1 = within
        pad = 0.01 * max(x1 - x0, y1 - y0)
        outline = box(x0 - pad, y0 - pad, x1 + pad, y1 + pad, within.crs)
        geom = _clip(geom, outline.to_crs(crs_of(geom), resolution="auto").boundingbox)
        if geom.is_empty:
            return Geometry(geom.geom, crs=crs)
        geom = geom.to_crs(crs, resolution="auto", check_and_fix=True)
    return _clip(geom, within)


def _clip(geom: Geometry, bounds: BoundingBox) -> Geometry:
    import shapely

    return Geometry(shapely.clip_by_rect(geom.geom, *bounds), crs=geom.crs)


@dataclass(frozen=True)
class Footprints:
    """Scenes' footprints projected once into ``crs`` (:func:`project_footprints`), for
    both :func:`data_bounds` and :func:`tiles_touched`: projecting 100,000 footprints
    costs ~2 s, which planning paid twice."""

    ids: list[str]
    geoms: np.ndarray  # shapely geometries in crs, in the order of ids
    crs: CRS

    def __len__(self) -> int:
        return len(self.ids)


def project_footprints(
    footprints: Mapping[str, BoundingBox | Geometry], crs: CRS | str
) -> Footprints:
    """``footprints`` (scene id -> box or geometry) in ``crs``, projected once for the
    tiling and AOI tests that follow."""
    crs = _crs(crs, key="grid.crs")
    return Footprints(list(footprints), _footprint_geoms(crs, footprints), crs)


def _geoms_in(
    crs: CRS, footprints: Mapping[str, BoundingBox | Geometry] | Footprints
) -> tuple[list[str], np.ndarray]:
    if isinstance(footprints, Footprints) and footprints.crs == crs:
        return footprints.ids, footprints.geoms
    if isinstance(footprints, Footprints):
        raise ValueError(f"footprints projected into {footprints.crs}, not {crs}")
    return list(footprints), _footprint_geoms(crs, footprints)


def data_bounds(
    footprints: Mapping[str, BoundingBox | Geometry] | Footprints, crs: CRS | str
) -> BoundingBox | None:
    """The bounding box in ``crs`` of all ``footprints`` (None without any)."""
    import shapely

    if not len(footprints):
        return None
    crs = _crs(crs, key="grid.crs")
    x0, y0, x1, y1 = shapely.total_bounds(_geoms_in(crs, footprints)[1])
    return BoundingBox(float(x0), float(y0), float(x1), float(y1), crs=crs)


def _read_vector(path: str | os.PathLike[str], *, layer: str | int | None) -> Geometry:
    import pyogrio
    import shapely

    if not os.path.exists(path):
        raise InputDataError(f"grid.aoi.vector: file not found: {path}. Check the path.")
    from rasterflow.io import vector_layer

    layer = vector_layer(path, layer, key="grid.aoi.layer")
    try:
        frame = pyogrio.read_dataframe(path, layer=layer, columns=[])
    except Exception as exc:  # pyogrio wraps OGR errors in several exception types
        raise InputDataError(
            f"grid.aoi.vector: cannot read {path} ({exc}); give a file OGR can open "
            "(GeoPackage, Shapefile, GeoJSON, ...) and, for several layers, grid.aoi.layer"
        ) from None
    if frame.crs is None:
        raise InputDataError(
            f"grid.aoi.vector: {path} has no CRS; assign one, e.g. "
            f"ogr2ogr -a_srs EPSG:4326 fixed.gpkg '{path}'"
        )
    geoms = [g for g in frame.geometry.values if g is not None and not g.is_empty]
    if not geoms:
        raise InputDataError(f"grid.aoi.vector: {path} holds no geometry; give a polygon")
    union = shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object)))
    if union.area == 0:
        raise InputDataError(
            f"grid.aoi.vector: the geometries in {path} have no area (points or lines); "
            "give polygons"
        )
    return Geometry(union, crs=frame.crs.to_wkt())


_ORIGIN_0 = xy_(0.0, 0.0)


def target_geobox(
    aoi: Geometry, *, crs: CRS | str, resolution: float, origin: XY[float] = _ORIGIN_0
) -> GeoBox:
    """The smallest GeoBox in ``crs`` with square ``resolution`` pixels covering ``aoi``.

    Pixel edges fall on ``origin + k * resolution`` (any integer k): two grids built
    from different areas with the same CRS, resolution and origin are sub-grids of each
    other, so their products stack pixel on pixel.
    """
    if not (isinstance(resolution, int | float) and resolution > 0):
        raise ConfigError(f"grid.resolution: must be a positive number, got {resolution!r}")
    crs = CRS(crs)
    # Pixel edges are counted in whole pixels from ``origin`` here, not with odc-geo's
    # fractional ``anchor``: (origin / resolution) % 1 is inexact (500015 / 30), and
    # odc-geo's snapping then added a whole column to an AOI already on the grid. An
    # edge within _EDGE_TOL pixels of a grid line is on it; otherwise the box grows to
    # the next line (never trims the AOI).
    left, bottom, right, top = aoi.to_crs(crs, resolution="auto").boundingbox
    x0 = _grid_line(left, origin.x, resolution, math.floor)
    x1 = _grid_line(right, origin.x, resolution, math.ceil)
    y0 = _grid_line(bottom, origin.y, resolution, math.floor)
    y1 = _grid_line(top, origin.y, resolution, math.ceil)
    nx, ny = max(1, x1 - x0), max(1, y1 - y0)
    affine = Affine(
        resolution,
        0.0,
        origin.x + x0 * resolution,
        0.0,
        -resolution,
        origin.y + (y0 + ny) * resolution,
    )
    return GeoBox((ny, nx), affine, crs)


#: an AOI edge this close to a grid line, in pixels, is on it (floating-point noise)
_EDGE_TOL = 1e-6


def _grid_line(coord: float, origin: float, resolution: float, step: Any) -> int:
    """Index k of the grid line origin + k * resolution at or beyond ``coord`` (``step``
    is math.floor for a lower edge, math.ceil for an upper one)."""
    k = (coord - origin) / resolution
    nearest = round(k)
    return int(nearest) if abs(k - nearest) <= _EDGE_TOL else int(step(k))


def scene_phases(
    footprints: Mapping[str, BoundingBox], crs: CRS | str, resolution: float
) -> dict[tuple[float, float], list[str]]:
    """Where the scenes in ``crs`` put their pixel edges on a ``resolution`` grid:
    (left mod resolution, top mod resolution) -> scene ids, from their footprints
    (scene id -> bounds with CRS). Scenes in other CRSs are warped anyway: left out."""
    crs = CRS(crs)
    out: dict[tuple[float, float], list[str]] = {}
    # by identity first: headers share one CRS object per WKT, and comparing two costs
    # ~13 us (100,000 scenes)
    same: dict[int, bool] = {}
    for sid, bbox in footprints.items():
        key = id(bbox.crs)
        if key not in same:
            same[key] = bbox.crs is not None and CRS(bbox.crs) == crs
        if not same[key]:
            continue
        phase = (_phase(bbox.left, resolution), _phase(bbox.top, resolution))
        out.setdefault(phase, []).append(sid)
    return out


def _phase(coord: float, resolution: float) -> float:
    """``coord`` mod ``resolution``, 0 within _EDGE_TOL pixels of a whole pixel, rounded
    so that edges one float apart group together."""
    k = coord / resolution
    frac = k - math.floor(k)
    if min(frac, 1 - frac) <= _EDGE_TOL:
        return 0.0
    return round(frac * resolution, 6)


def alignment_warning(
    spec: GridSpec, phases: Mapping[tuple[float, float], list[str]], *, configured: bool
) -> str | None:
    """A warning when scenes in the grid's CRS sit a fraction of a pixel off its grid
    (every pixel of theirs is then resampled), naming the offset and the origin that
    aligns them; or when they do not share one grid, and no origin can align them all."""
    off = {
        ph: ids
        for ph, ids in phases.items()
        if (_phase(spec.origin.x, spec.resolution), _phase(spec.origin.y, spec.resolution)) != ph
    }
    if not off:
        return None
    res, crs = spec.resolution, str(spec.crs)
    if len(phases) > 1:
        listed = "; ".join(f"[{x:g}, {y:g}]: {_ids(ids)}" for (x, y), ids in sorted(phases.items()))
        return (
            f"grid: the scenes in {crs} sit on {len(phases)} different pixel grids "
            f"(origins mod {res:g}: {listed}); on grid.origin [{spec.origin.x:g}, "
            f"{spec.origin.y:g}] the others' pixels are resampled"
        )
    (x, y), ids = next(iter(off.items()))
    how = "grid.origin" if configured else "grid.origin (by default [0, 0])"
    dx = (x - _phase(spec.origin.x, res)) % res
    dy = (y - _phase(spec.origin.y, res)) % res
    return (
        f"grid: {how} [{spec.origin.x:g}, {spec.origin.y:g}] puts the pixel edges "
        f"{dx:g} (x) and {dy:g} (y) {crs} units off those of the scenes "
        f"({_ids(ids)}), so every pixel is resampled; set grid.origin: [{x:g}, {y:g}] "
        "to align the grid to them"
    )


def _ids(ids: Sequence[str], limit: int = 3) -> str:
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def grid_from_config(
    cfg: Mapping[str, Any],
    *,
    phases: Mapping[tuple[float, float], list[str]] | None = None,
    footprints: Mapping[str, BoundingBox | Geometry] | Footprints | None = None,
) -> GridSpec:
    """Check the ``grid`` config section and turn it into a :class:`GridSpec`.

    Keys: ``crs``, ``resolution``, ``origin`` ([x, y]; null or absent: the scenes'
    own pixel grid when ``phases``, :func:`scene_phases`, holds one, else [0, 0]),
    ``tile_px`` and ``aoi`` with ``bounds`` (+ optional ``crs``) or ``vector``
    (+ optional ``layer``). With the scenes' ``footprints`` the area is the AOI within
    the data's bounds (the data's bounds without an AOI), as Earth Engine and Open Data
    Cube bound a result by the data: a countries layer as the AOI of a few scenes plans
    (and mosaics) those scenes only. ``GridSpec.aoi`` is empty when no scene meets
    the AOI.
    """
    unknown = set(cfg) - {
        "crs",
        "resolution",
        "origin",
        "tile_px",
        "aoi",
        "max_tiles",
        "max_pixels",
    }
    if unknown:
        raise ConfigError(f"grid: unknown key(s) {', '.join(sorted(unknown))}")
    if not cfg.get("crs"):
        raise ConfigError("grid.crs: missing; give the target CRS, e.g. 'EPSG:32633'")
    crs = _crs(cfg["crs"], key="grid.crs")
    if crs.geographic:
        raise ConfigError(
            f"grid.crs: {cfg['crs']!r} is geographic (degrees); use a projected CRS such as "
            "a UTM zone, so that pixels are square in metres"
        )
    resolution = cfg.get("resolution")
    if not (
        isinstance(resolution, int | float) and not isinstance(resolution, bool) and resolution > 0
    ):
        raise ConfigError(f"grid.resolution: must be a positive number, got {resolution!r}")
    origin = cfg.get("origin")
    if origin is None:
        # GDAL's -tap with the scenes' origin: their pixels then land on the grid's
        origin = list(next(iter(phases))) if phases and len(phases) == 1 else [0.0, 0.0]
    if (
        not isinstance(origin, list | tuple)
        or len(origin) != 2
        or not all(isinstance(v, int | float) for v in origin)
    ):
        raise ConfigError(f"grid.origin: must be [x, y] in grid.crs units, got {origin!r}")
    tile_px = cfg.get("tile_px", DEFAULT_TILE_PX)
    if not (isinstance(tile_px, int) and not isinstance(tile_px, bool) and tile_px >= 16):
        raise ConfigError(f"grid.tile_px: must be an integer >= 16, got {tile_px!r}")
    aoi_cfg = dict(cfg.get("aoi") or {})
    unknown = set(aoi_cfg) - {"bounds", "crs", "vector", "layer"}
    if unknown:
        raise ConfigError(f"grid.aoi: unknown key(s) {', '.join(sorted(unknown))}")
    within = data_bounds(footprints, crs) if footprints else None
    if aoi_cfg.get("bounds") is None and not aoi_cfg.get("vector"):
        if within is None:
            raise ConfigError(
                "grid.aoi: give bounds ([xmin, ymin, xmax, ymax]) or vector (a path to a "
                "vector file); without either the grid spans the scenes, and there are none"
            )
        aoi = box(within.left, within.bottom, within.right, within.top, crs)
    else:
        aoi = area_of_interest(
            crs=crs,
            bounds=aoi_cfg.get("bounds"),
            bounds_crs=aoi_cfg.get("crs"),
            vector=aoi_cfg.get("vector") or None,
            layer=aoi_cfg.get("layer"),
            within=within,
        )
    if not aoi.is_empty:
        check_grid_size(
            aoi,
            resolution=float(resolution),
            tile_px=tile_px,
            max_tiles=cfg.get("max_tiles", MAX_TILES),
            max_pixels=cfg.get("max_pixels", MAX_PIXELS),
        )
    return GridSpec(
        crs=crs,
        resolution=float(resolution),
        origin=xy_(float(origin[0]), float(origin[1])),
        tile_px=tile_px,
        aoi=aoi,
    )


#: Defaults of grid.tile_px, grid.max_tiles and grid.max_pixels (config/schema.yaml
#: says why).
DEFAULT_TILE_PX = 8192
MAX_TILES = 100_000
MAX_PIXELS = 10**12


def check_grid_size(
    aoi: Geometry, *, resolution: float, tile_px: int, max_tiles: int, max_pixels: float
) -> None:
    """Refuse a grid with more tiles or pixels than the limits, from the AOI's bounds alone.

    Cutting tiles takes about 85 us per tile (each is tested against the AOI), and a
    grid.resolution off by a few orders of magnitude (1e-6 for 10) asks for 10^14 of
    them: planning would run for years without a word. The count comes first.
    """
    xmin, ymin, xmax, ymax = aoi.boundingbox
    # +1: the grid's pixel edges need not fall on the AOI's, one more pixel at most
    nx = math.ceil((xmax - xmin) / resolution) + 1
    ny = math.ceil((ymax - ymin) / resolution) + 1
    n_tiles = math.ceil(nx / tile_px) * math.ceil(ny / tile_px)
    pixels = nx * ny
    size = f"{nx} x {ny} pixels ({pixels:.2g}) in {n_tiles:.2g} tiles of {tile_px} px"
    if n_tiles > max_tiles:
        raise ConfigError(
            f"grid: grid.aoi at grid.resolution {resolution:g} is {size}, more than "
            f"grid.max_tiles ({max_tiles}); check grid.resolution (in grid.crs units), "
            "raise grid.tile_px, or raise grid.max_tiles"
        )
    if pixels > max_pixels:
        raise ConfigError(
            f"grid: grid.aoi at grid.resolution {resolution:g} is {size}, more than "
            f"grid.max_pixels ({max_pixels:.2g}); check grid.resolution (in grid.crs units) "
            "or raise grid.max_pixels"
        )


def describe(geobox: GeoBox, *, tiles: int, tile_px: int, mosaics: int) -> str:
    """One line a dry run prints: the grid's size, its tiles with data and the mosaics'."""
    ny, nx = geobox.shape.yx
    left, bottom, right, top = geobox.extent.boundingbox
    res = abs(geobox.resolution.x)
    each = nx * ny * 4 / 1e6  # a float32 band, uncompressed
    axis_unit = crs_of(geobox).units[0]
    unit = {"metre": " m", "meter": " m"}.get(axis_unit, f" {axis_unit}")
    return (
        f"grid: {nx} x {ny} px of {res:g}{unit} in {geobox.crs}, "
        f"[{left:.10g}, {bottom:.10g}, {right:.10g}, {top:.10g}]; {tiles} tile(s) of "
        f"{tile_px} px with data; {mosaics} mosaic(s) (each with its count) of "
        f"{nx} x {ny} px, {each:,.1f} MB each as uncompressed float32"
    )


def tile_id(ix: int, iy: int, *, width: int = 3) -> str:
    """``"x003_y012"``: the tile in column 3, row 12 (0-based from the grid's top left)."""
    return f"x{ix:0{width}d}_y{iy:0{width}d}"


def _interiors_intersect(a: Geometry, b: Geometry) -> bool:
    # 'intersects' alone also holds for tiles that only share an edge or a corner with
    # the area, which would be tiles (or jobs) without a single pixel to compute
    return a.intersects(b) and not a.touches(b)


def tiles(geobox: GeoBox, tile_px: int, *, aoi: Geometry | None = None) -> dict[str, GeoBox]:
    """Cut ``geobox`` into tiles of ``tile_px`` x ``tile_px`` pixels, keyed by tile id.

    Tiles in the last row and column are smaller when the grid is not a multiple of
    ``tile_px``. With ``aoi``, tiles whose interior does not meet it are left out (a
    vector AOI rarely fills its bounding box). Ids stay the same as long as the grid's
    top-left corner does; they are ordered row by row.
    """
    if tile_px < 1:
        raise ConfigError(f"grid.tile_px: must be positive, got {tile_px}")
    gbt = GeoboxTiles(geobox, (tile_px, tile_px))
    ny, nx = gbt.shape.yx
    width = max(3, len(str(max(nx, ny) - 1)))
    area = None if aoi is None else aoi.to_crs(crs_of(geobox), resolution="auto")
    out: dict[str, GeoBox] = {}
    for iy in range(ny):
        for ix in range(nx):
            tile = gbt[iy, ix]
            if area is None or _interiors_intersect(tile.extent, area):
                out[tile_id(ix, iy, width=width)] = tile  # type: ignore[assignment]
    return out


def footprint(path: str | os.PathLike[str]) -> BoundingBox:
    """Bounds and CRS of a raster, from its header (no pixels are read)."""
    from rasterflow.io import open_raster

    with open_raster(path, what="footprint") as src:
        b = src.bounds
        return BoundingBox(b.left, b.bottom, b.right, b.top, crs=src.crs.to_wkt())


#: points per edge of a footprint box projected into another CRS (curved edges)
_EDGE_POINTS = 32


def _boxes_in(crs: CRS, boxes: Sequence[BoundingBox]) -> np.ndarray:
    """Shapely polygons of ``boxes`` (all in one CRS) in ``crs``, projected in one call.

    Edges are densified so that a box's curved image in another projection is followed
    to well under a pixel at tile scale; in the same CRS the boxes are used as they are.
    """
    import shapely
    from pyproj import Transformer

    b = np.asarray([tuple(bb) for bb in boxes], dtype="float64").reshape(-1, 4)
    if boxes[0].crs == crs:
        return shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])
    t = np.linspace(0.0, 1.0, _EDGE_POINTS, endpoint=False)
    # the ring, counter-clockwise from the lower-left corner: bottom, right, top, left
    fx = np.concatenate([t, np.ones_like(t), 1 - t, np.zeros_like(t)])
    fy = np.concatenate([np.zeros_like(t), t, np.ones_like(t), 1 - t])
    xs = b[:, [0]] + fx * (b[:, [2]] - b[:, [0]])
    ys = b[:, [1]] + fy * (b[:, [3]] - b[:, [1]])
    to = Transformer.from_crs(crs_of(boxes[0])._crs, crs._crs, always_xy=True)
    px, py = to.transform(xs.ravel(), ys.ravel())
    rings = np.stack([px, py], axis=-1).reshape(len(b), -1, 2)
    if not np.isfinite(rings).all():
        bad = int(np.flatnonzero(~np.isfinite(rings).all(axis=(1, 2)))[0])
        raise InputDataError(
            f"footprint {tuple(b[bad])} in {boxes[0].crs} cannot be projected into {crs}; "
            "is the scene's CRS right?"
        )
    return shapely.make_valid(shapely.polygons(rings))


def _footprint_geoms(crs: CRS, footprints: Mapping[str, BoundingBox | Geometry]) -> np.ndarray:
    """Footprints as shapely geometries in ``crs``, in the order of ``footprints``."""
    out = np.empty(len(footprints), dtype=object)
    # grouped by the CRS object first: hashing a CRS writes its WKT (1.2 s for 100,000
    # boxes of one shared CRS object, as STAC items give them), then equal ones merged
    by_object: dict[int, tuple[Any, list[int]]] = {}
    items = list(footprints.items())
    for i, (scene, fp) in enumerate(items):
        if fp.crs is None:
            raise InputDataError(f"footprint of scene {scene!r} has no CRS")
        if isinstance(fp, BoundingBox):
            by_object.setdefault(id(fp.crs), (fp.crs, []))[1].append(i)
        else:
            out[i] = fp.to_crs(crs, resolution="auto", check_and_fix=True).geom
    by_crs: dict[Any, list[int]] = {}
    for box_crs, rows in by_object.values():
        by_crs.setdefault(box_crs, []).extend(rows)
    for rows in by_crs.values():
        out[rows] = _boxes_in(crs, [b for i in rows if isinstance(b := items[i][1], BoundingBox)])
    return out


def tiles_touched(
    tiles: Mapping[str, GeoBox],
    footprints: Mapping[str, BoundingBox | Geometry] | Footprints,
) -> dict[str, list[str]]:
    """For each tile that some footprint overlaps: the ids of those footprints (scenes).

    Tiles that no footprint overlaps (only touching an edge does not count) are absent,
    so they get no composite job. Scene ids keep the order of ``footprints``. Bounding
    boxes are projected and queried in bulk (100,000 scenes in about a second).
    """
    import shapely

    if not tiles or not len(footprints):
        return {}
    ids = list(tiles)
    crs = crs_of(next(iter(tiles.values())))
    extents = np.asarray([tiles[t].extent.geom for t in ids], dtype=object)
    scenes, geoms = _geoms_in(crs, footprints)
    scene_i, tile_i = shapely.STRtree(extents).query(geoms, predicate="intersects")
    overlap = ~shapely.touches(extents[tile_i], geoms[scene_i])
    scene_i, tile_i = scene_i[overlap], tile_i[overlap]
    order = np.lexsort((scene_i, tile_i))  # by tile, then by footprint order
    hits: dict[str, list[str]] = {}
    for t, s in zip(tile_i[order].tolist(), scene_i[order].tolist(), strict=True):
        hits.setdefault(ids[t], []).append(scenes[s])
    return hits


def geobox_to_params(geobox: GeoBox) -> dict[str, Any]:
    """A plain, JSON-able form of ``geobox`` (Snakemake ``params``; inverse below)."""
    a = geobox.affine
    # "EPSG:32633" where that is the very same CRS (pyproj also matches look-alikes)
    code = f"EPSG:{crs_of(geobox).epsg}" if crs_of(geobox).epsg is not None else None
    return {
        "crs": code if code and CRS(code) == geobox.crs else crs_of(geobox).to_wkt(),
        "transform": [a.a, a.b, a.c, a.d, a.e, a.f],
        "shape": [int(geobox.shape.y), int(geobox.shape.x)],
    }


def geobox_from_params(params: Mapping[str, Any] | GeoBox) -> GeoBox:
    """Inverse of :func:`geobox_to_params`; a GeoBox is returned unchanged."""
    if isinstance(params, GeoBox):
        return params
    try:
        return GeoBox(tuple(params["shape"]), Affine(*params["transform"]), params["crs"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(
            f"tile: {params!r} is not a GeoBox description ({exc}); build it with "
            "rasterflow.grid.geobox_to_params()"
        ) from None
