"""Contour lines of a raster (the DEM, or a terrain product), as ``gdal_contour`` draws them.

Levels are ``base + k * interval`` for every integer ``k`` (``gdal_contour -i interval
-off base``); each line is one feature with its level in ``elev`` (gdal_contour's ``-a``
name) and a 1-based ``id``, in the raster's CRS.

How GDAL draws them (GDAL 3.6, ``alg/marching_squares/``), and how this module does the
same with contourpy's marching squares:

* Values stand at pixel centres. GDAL marches over the squares between four centres,
  with the raster padded by one ring of nodata. A square with nodata corners is split
  into four sub-squares through its edge midpoints and its centre (an edge midpoint
  takes the mean of the edge's valid ends, the centre the mean of the valid corners),
  and only the sub-squares of valid corners are contoured. So lines reach the raster's
  outer edge and stop half a pixel short of a nodata pixel's centre: no line crosses a
  nodata pixel's inner half.
* GDAL resolves a saddle square (two diagonal corners above the level, two below) the
  same way always: the north-west and south-east corners are joined through the
  centre, the other two cut off (it does not look at the centre's value).
* Here the same values are put on a grid twice as fine, :func:`refine`: pixel centres
  keep their value, every pixel edge midpoint gets the mean of the valid pixels on
  either side, every pixel corner (the centre of a GDAL square) the mean of the valid
  pixels around it: GDAL's split squares are then quads of the fine grid. contourpy
  (``corner_mask=False``: a quad with a nodata corner is skipped, as GDAL skips the
  sub-squares of nodata corners) crosses each edge where GDAL does. In a square
  without nodata, the centre is set per level to the side GDAL's topology needs
  (:func:`_centre`: the majority of the corners, the north-west corner's side for
  saddles) and the line's vertices inside the square are dropped (:func:`_canonical`),
  which leaves GDAL's straight segment. Measured against gdal_contour (GDAL 3.6) on
  the test DEMs: the same levels, the same number of lines, and a Hausdorff distance
  per level below 1e-4 pixel (``tests/unit/test_contours.py``). What can still differ:
  a saddle inside one of GDAL's split sub-squares next to nodata, which contourpy
  resolves by the sub-square's mean where GDAL uses its fixed rule (rare: the four
  values of a sub-square are a pixel, two edge means and the square's mean).
* A value equal to a level (within 1e-6) counts as above it, as GDAL's ``fudge``: lines
  go round a plateau at the level on its low side.

Tiles and joins. A raster is contoured tile by tile (``chunk`` pixels square, in
parallel on the step's Dask client); each tile is read with a 1-pixel halo, so the fine
grid's row and column on a tile border are computed from the same pixels, in the same
order, by both tiles. Every line vertex lies on an edge of the fine grid and is then
recomputed from that edge's two values by one formula (:func:`_canonical`), so both
tiles put a line's crossing of their border at the same coordinates, bit for bit. The
pieces of a level that end on an inner tile border are then merged (``shapely.
line_merge``) into whole lines: a line is never cut at a tile border and never drawn
twice, and the output is the same, byte for byte, for any tile size (lines are put in a
canonical orientation and order: ``shapely.normalize``, then by level and first vertex).
Merging holds one level's pieces that touch tile borders in memory, a small fraction
of the raster.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rasterflow.errors import ConfigError, InputDataError

logger = logging.getLogger(__name__)

#: A value within this of a level counts as above it (GDAL's ``fudge``, absolute).
LEVEL_TOLERANCE = 1e-6
#: Output formats, as ``contours.formats`` names them.
FORMATS: tuple[str, ...] = ("gpkg", "parquet")
#: Layer name in the GeoPackage (gdal_contour's ``-nln`` default).
LAYER = "contour"

#: (level, vertices, bends): vertices in fine-grid units (x = 2 * column, y = 2 * row
#: of pixel space), bends the vertices inside full GDAL squares, dropped once joined
Piece = tuple[float, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ContourParams:
    """The ``contours`` config section's levels: ``base + k * interval``."""

    interval: float
    base: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.interval, int | float) and math.isfinite(self.interval)
                and self.interval > 0):
            raise ConfigError(
                f"contours.interval: {self.interval!r} must be a number > 0 (the height "
                "step between lines, in the raster's units, e.g. 100), or null for no "
                "contours"
            )
        if not (isinstance(self.base, int | float) and math.isfinite(self.base)):
            raise ConfigError(
                f"contours.base: {self.base!r} must be a finite number (a level every "
                "interval lines up on, e.g. 0)"
            )

    def levels(self, low: float, high: float) -> np.ndarray:
        """Every level in ``[low, high]``, each computed as ``base + k * interval``.

        A level's value depends only on ``k``, so every tile gives it the same value.
        """
        first = math.ceil((low - self.base) / self.interval)
        last = math.floor((high - self.base) / self.interval)
        return self.base + np.arange(first, last + 1, dtype=np.float64) * self.interval

    def to_params(self) -> dict[str, Any]:
        return asdict(self)


def _nanmean(*arrays: np.ndarray) -> np.ndarray:
    """Mean of the valid (non-NaN) values of ``arrays`` per element, NaN if none.

    Summed in argument order, so a value is the same whichever tile computes it.
    """
    total = np.zeros_like(arrays[0])
    count = np.zeros(arrays[0].shape, dtype=np.int8)
    for a in arrays:
        valid = ~np.isnan(a)
        total += np.where(valid, a, 0.0)
        count += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def refine(block: np.ndarray) -> np.ndarray:
    """The fine grid of a block of pixels with a 1-pixel halo (NaN: nodata or outside).

    ``block`` has shape ``(h + 2, w + 2)``; the result ``(2h + 1, 2w + 1)`` covers the
    ``h x w`` inner pixels from their outer corners: ``[2i + 1, 2j + 1]`` is pixel
    ``(i, j)``, ``[2i, 2j + 1]`` the mean of the valid pixels on either side of its top
    edge, ``[2i + 1, 2j]`` of its left edge, ``[2i, 2j]`` of the up-to-four pixels
    around its top-left corner (GDAL's split squares, see the module docstring).
    """
    p = np.asarray(block, dtype=np.float64)
    h, w = p.shape[0] - 2, p.shape[1] - 2
    if h < 1 or w < 1:
        raise ValueError(f"refine: block {p.shape} has no pixels inside its 1-pixel halo")
    fine = np.empty((2 * h + 1, 2 * w + 1), dtype=np.float64)
    fine[1::2, 1::2] = p[1:-1, 1:-1]
    fine[0::2, 1::2] = _nanmean(p[:-1, 1:-1], p[1:, 1:-1])
    fine[1::2, 0::2] = _nanmean(p[1:-1, :-1], p[1:-1, 1:])
    fine[0::2, 0::2] = _nanmean(p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:])
    return fine


def _nonzero(d: np.ndarray) -> np.ndarray:
    return np.where(d == 0, 1.0, d)


def _canonical(vertices: np.ndarray, fine: np.ndarray, full: np.ndarray, level: float, *,
               row0: int, col0: int) -> tuple[np.ndarray, np.ndarray]:
    """``vertices`` (fine-grid units) recomputed from the fine grid's edge values, and
    which of them are bends inside a full GDAL square (to drop).

    Each vertex lies on an edge between two fine-grid points (contourpy puts it on the
    grid line to within a few ulps); its coordinate along the edge is recomputed as
    ``lower index + (level - z_lower) / (z_upper - z_lower)``, from the lower-index end
    whatever the direction contourpy walked, so two tiles that share the edge agree bit
    for bit. ``row0``/``col0``: the fine grid's first index (even).

    A vertex on an even fine line (a pixel boundary) lies inside one of GDAL's squares,
    between four pixel centres; when all four are valid GDAL draws the square's segment
    straight, so the vertex is flagged: dropping it gives GDAL's line. ``full[m, n]``:
    the four pixels around the tile's pixel corner ``(m, n)`` are valid (halo included).
    """
    out = vertices.copy()
    x, y = out[:, 0], out[:, 1]
    rx, ry = np.rint(x), np.rint(y)
    dx, dy = np.abs(x - rx), np.abs(y - ry)
    near = 8 * np.spacing(np.abs(out) + 1.0)
    # on a vertical edge (x is a grid column) or a horizontal one; the nearer if both
    on_col = (dx <= near[:, 0]) & ~((dy <= near[:, 1]) & (dy < dx))
    on_row = (dy <= near[:, 1]) & ~on_col
    rows, cols = fine.shape
    if on_col.any():
        k = rx[on_col].astype(np.intp) - col0
        r = np.clip(np.floor(y[on_col]).astype(np.intp) - row0, 0, rows - 2)
        z0, z1 = fine[r, k], fine[r + 1, k]
        x[on_col] = rx[on_col]
        y[on_col] = np.where(z1 != z0, row0 + r + (level - z0) / _nonzero(z1 - z0), y[on_col])
    if on_row.any():
        r = ry[on_row].astype(np.intp) - row0
        k = np.clip(np.floor(x[on_row]).astype(np.intp) - col0, 0, cols - 2)
        z0, z1 = fine[r, k], fine[r, k + 1]
        y[on_row] = ry[on_row]
        x[on_row] = np.where(z1 != z0, col0 + k + (level - z0) / _nonzero(z1 - z0), x[on_row])
    bend = np.zeros(len(out), dtype=bool)
    for on, along, across, axis in ((on_col, x, y, 1), (on_row, y, x, 0)):
        line = along[on].astype(np.intp) - (col0 if axis else row0)
        even = line % 2 == 0
        # the pixel corner (even, even) at the centre of the GDAL square it lies in
        centre = 2 * np.rint(across[on] / 2).astype(np.intp) - (row0 if axis else col0)
        ci, cj = (centre, line) if axis else (line, centre)
        inside = even & (ci >= 0) & (ci < rows) & (cj >= 0) & (cj < cols)
        hit = np.zeros(on.sum(), dtype=bool)
        hit[inside] = full[ci[inside] // 2, cj[inside] // 2]
        bend[np.flatnonzero(on)[hit]] = True
    return out, bend


def tile_pieces(block: np.ndarray, params: ContourParams, *, row: int, col: int) -> list[Piece]:
    """Contour pieces of one tile: ``block`` is its pixels with a 1-pixel halo (NaN for
    nodata and outside the raster), ``row``/``col`` the tile's first pixel.

    Returns (level, vertices, bends) with vertices in fine-grid units of the whole
    raster (``x = 2 * pixel column``, ``y = 2 * pixel row``, from the raster's top-left
    corner) and bends the vertices to drop (:func:`_canonical`), once pieces are joined.
    """
    import contourpy

    fine = refine(block)
    valid = ~np.isnan(fine)
    if not valid.any():
        return []
    # the halo's pixels too: a square across the tile's border takes its centre's side
    # from them (_centre), the tile beside draws the rest of that square's line
    known = block[~np.isnan(block)]
    levels = params.levels(float(known.min()) - LEVEL_TOLERANCE,
                           float(known.max()) + LEVEL_TOLERANCE)
    if not len(levels):
        return []
    row0, col0 = 2 * row, 2 * col
    xs = np.arange(col0, col0 + fine.shape[1], dtype=np.float64)
    ys = np.arange(row0, row0 + fine.shape[0], dtype=np.float64)
    nodata = ~valid
    # GDAL's squares around each pixel corner of the tile: corners NW, NE, SW, SE
    nw, ne, sw, se = block[:-1, :-1], block[:-1, 1:], block[1:, :-1], block[1:, 1:]
    full = ~(np.isnan(nw) | np.isnan(ne) | np.isnan(sw) | np.isnan(se))
    pieces: list[Piece] = []
    for level in levels:
        at = level - LEVEL_TOLERANCE  # contourpy: above means z > at (GDAL's fudge)
        z = fine.copy()
        z[0::2, 0::2] = np.where(full, _centre(nw, ne, sw, se, at), z[0::2, 0::2])
        gen = contourpy.contour_generator(xs, ys, np.ma.array(z, mask=nodata),
                                          name="serial", line_type="Separate",
                                          corner_mask=False)
        lines: list[np.ndarray] = gen.lines(at)  # type: ignore[assignment]  # Separate
        for line in lines:
            if len(line) >= 2:
                xy, bend = _canonical(line, z, full, at, row0=row0, col0=col0)
                pieces.append((float(level), xy, bend))
    return pieces


def _centre(nw: np.ndarray, ne: np.ndarray, sw: np.ndarray, se: np.ndarray,
            at: float) -> np.ndarray:
    """The value a full square's centre takes at level ``at``, for GDAL's topology.

    Three or four corners above: above (the odd corner is cut off); one or none: below;
    two: the north-west corner's side, which for a saddle joins the north-west and
    south-east corners through the centre and cuts off the other two, GDAL's fixed
    choice (it draws left-lower and right-upper segments, never the centre's). The
    value is four times the square's largest distance from the level beyond it, so that
    the mean of any sub-quad is on the centre's side (contourpy's saddle rule); it
    depends on the square's four pixels only, so both tiles of a border agree.
    """
    high = (nw > at).astype(np.int8) + (ne > at) + (sw > at) + (se > at)
    above = np.where(high == 2, nw > at, high >= 3)
    reach = np.maximum(np.maximum(np.abs(nw - at), np.abs(ne - at)),
                       np.maximum(np.abs(sw - at), np.abs(se - at)))
    return at + np.where(above, 1.0, -1.0) * 4.0 * (reach + 1.0)


def tile_windows(height: int, width: int, chunk: int) -> list[tuple[int, int, int, int]]:
    """(row, col, rows, cols) of the tiles of a ``height x width`` raster, row-major."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, not {chunk}")
    return [(r, c, min(chunk, height - r), min(chunk, width - c))
            for r in range(0, height, chunk) for c in range(0, width, chunk)]


def with_halo(z: np.ndarray, row: int, col: int, rows: int, cols: int) -> np.ndarray:
    """The window of ``z`` (float, NaN for nodata) with a 1-pixel halo, NaN outside."""
    height, width = z.shape
    out = np.full((rows + 2, cols + 2), np.nan)
    r0, r1 = max(row - 1, 0), min(row + rows + 1, height)
    c0, c1 = max(col - 1, 0), min(col + cols + 1, width)
    out[r0 - row + 1:r1 - row + 1, c0 - col + 1:c1 - col + 1] = z[r0:r1, c0:c1]
    return out


def _on_inner_border(xy: np.ndarray, *, height: int, width: int, chunk: int) -> bool:
    """True when an end of a piece lies on a tile border inside the raster."""
    for x, y in (xy[0], xy[-1]):
        for v, size in ((x, 2 * width), (y, 2 * height)):
            if 0 < v < size and v % (2 * chunk) == 0:
                return True
    return False


def _drop_bends(xy: np.ndarray, bend: np.ndarray) -> np.ndarray:
    """``xy`` without its bends; a closed line's first vertex is an inner one too."""
    if np.array_equal(xy[0], xy[-1]) and len(xy) > 3:
        ring = xy[:-1][~bend[:-1]]
        return np.vstack([ring, ring[:1]]) if len(ring) >= 3 else xy
    keep = ~bend
    keep[0] = keep[-1] = True
    return xy[keep]


def merge_pieces(pieces: Iterable[Piece], *, height: int, width: int,
                 chunk: int) -> list[tuple[float, Any]]:
    """Whole lines from the tiles' pieces: (level, LineString in pixel units), sorted.

    Pieces with an end on an inner tile border are joined with ``shapely.line_merge``
    (their ends there are equal bit for bit, :func:`_canonical`); then the bends inside
    full squares are dropped (GDAL's straight segments), every line is normalised
    (``shapely.normalize``: open lines from their smaller end, closed ones from their
    smallest vertex) and lines are sorted by level and first vertex, so the result does
    not depend on the tiling. Pixel units: x = column, y = row from the top-left corner.
    """
    import shapely

    whole: dict[float, list[Any]] = {}
    joins: dict[float, list[np.ndarray]] = {}
    bends: dict[float, list[np.ndarray]] = {}
    for level, xy, bend in pieces:
        closed = bool(np.array_equal(xy[0], xy[-1]))
        if not closed and _on_inner_border(xy, height=height, width=width, chunk=chunk):
            joins.setdefault(level, []).append(xy)
            bends.setdefault(level, []).append(xy[bend])
        else:
            whole.setdefault(level, []).append(shapely.linestrings(_drop_bends(xy, bend) / 2))
    for level, parts in joins.items():
        merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(
            [shapely.linestrings(p) for p in parts])))
        drop = {tuple(v) for v in np.concatenate(bends[level])}
        for line in merged:
            xy = shapely.get_coordinates(line)
            bend = np.fromiter((tuple(v) in drop for v in xy), dtype=bool, count=len(xy))
            whole.setdefault(level, []).append(shapely.linestrings(_drop_bends(xy, bend) / 2))
    out: list[tuple[float, Any]] = []
    for level in sorted(whole):
        lines = shapely.normalize(np.asarray(whole[level], dtype=object))
        firsts = shapely.get_coordinates(shapely.get_point(lines, 0))
        order = np.lexsort((shapely.length(lines), firsts[:, 1], firsts[:, 0]))
        out += [(level, lines[i]) for i in order]
    return out


def contour_array(z: np.ndarray, params: ContourParams, *, nodata: float | None = None,
                  chunk: int | None = None) -> list[tuple[float, Any]]:
    """Contour lines of an in-memory raster, in pixel units (x = column, y = row).

    ``nodata`` (and NaN) pixels carry no value; ``chunk`` contours tile by tile as
    :func:`run` does (None: one tile). Returns (level, LineString) as
    :func:`merge_pieces`.
    """
    data = np.asarray(z, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"contour_array: expected a 2-D array, got {data.ndim} dimensions")
    if nodata is not None and not np.isnan(nodata):
        data = np.where(data == nodata, np.nan, data)
    height, width = data.shape
    size = chunk or max(height, width)
    pieces = [p for r, c, h, w in tile_windows(height, width, size)
              for p in tile_pieces(with_halo(data, r, c, h, w), params, row=r, col=c)]
    return merge_pieces(pieces, height=height, width=width, chunk=size)


def to_frame(lines: Sequence[tuple[float, Any]], *, transform: Any, crs: Any) -> Any:
    """A GeoDataFrame of ``lines`` (pixel units) in the raster's CRS: ``id``, ``elev``.

    ``transform``: the raster's :class:`affine.Affine` (pixel corner to CRS).
    """
    import geopandas as gpd
    import shapely

    a, b, c, d, e, f = tuple(transform)[:6]
    geoms = np.asarray([g for _level, g in lines], dtype=object)

    def to_crs(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([a * xy[:, 0] + b * xy[:, 1] + c,
                                d * xy[:, 0] + e * xy[:, 1] + f])

    return gpd.GeoDataFrame(
        {"id": np.arange(1, len(lines) + 1, dtype=np.int64),
         "elev": np.asarray([level for level, _g in lines], dtype=np.float64)},
        geometry=shapely.transform(geoms, to_crs) if len(geoms) else [],
        crs=crs,
    )


def _read_tile(path: str, window: tuple[int, int, int, int]) -> np.ndarray:
    """One tile of band 1 of ``path`` with a 1-pixel halo, nodata and outside as NaN."""
    import rasterio
    from rasterio.windows import Window

    row, col, rows, cols = window
    with rasterio.open(path) as src:
        r0, c0 = max(row - 1, 0), max(col - 1, 0)
        r1, c1 = min(row + rows + 1, src.height), min(col + cols + 1, src.width)
        data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
    out = np.full((rows + 2, cols + 2), np.nan)
    values = np.ma.filled(data.astype(np.float64), np.nan)
    out[r0 - row + 1:r1 - row + 1, c0 - col + 1:c1 - col + 1] = values
    return out


def _tile_task(path: str, window: tuple[int, int, int, int],
               params: ContourParams) -> list[Piece]:
    return tile_pieces(_read_tile(path, window), params, row=window[0], col=window[1])


def contour_raster(path: str | os.PathLike[str], params: ContourParams, *,
                   chunk: int = 2048, compute: Callable[..., Any] | None = None) -> Any:
    """Contour lines of band 1 of the raster at ``path`` as a GeoDataFrame (:func:`to_frame`).

    Tiles of ``chunk`` pixels are contoured as Dask tasks (on the active client, if
    any); ``compute`` replaces ``dask.compute`` (tests, benchmarks).
    """
    import dask
    from dask import delayed

    from rasterflow.io import open_raster

    with open_raster(path, what="contours input", where="contours.products") as src:
        height, width = src.height, src.width
        transform, crs = src.transform, src.crs
        if transform.b != 0 or transform.d != 0:
            raise InputDataError(
                f"{path}: the grid is rotated ({tuple(transform)[:6]}); warp it to a "
                "north-up grid first, e.g. gdalwarp in.tif out.tif")
    windows = tile_windows(height, width, chunk)
    tasks = [delayed(_tile_task)(str(path), w, params) for w in windows]
    results = (compute or dask.compute)(*tasks)
    pieces = [p for r in results for p in r]
    lines = merge_pieces(pieces, height=height, width=width, chunk=chunk)
    logger.info("%s: %d contour lines at %d levels from %d tiles of %d px", path,
                len(lines), len({lv for lv, _ in lines}), len(windows), chunk)
    return to_frame(lines, transform=transform, crs=crs)


def run(*, raster: str, outputs: Mapping[str, str], params: ContourParams,
        chunk: int = 2048) -> None:
    """Contour ``raster`` and write each ``{format: path}`` of ``outputs`` atomically.

    Formats: ``gpkg`` (GeoPackage layer ``contour``) and ``parquet`` (GeoParquet); the
    provenance (:func:`rasterflow.io.provenance_tags`) goes into their metadata.
    """
    from rasterflow.io import provenance_tags
    from rasterflow.zonal import write_table

    unknown = sorted(set(outputs) - set(FORMATS))
    if unknown:
        raise ConfigError(f"contours.formats: unknown {', '.join(unknown)}; use "
                          f"{', '.join(FORMATS)}")
    frame = contour_raster(raster, params, chunk=chunk)
    tags = provenance_tags(inputs=[raster], params={**params.to_params(), "chunk": chunk})
    write_table(frame, outputs, provenance=tags, layer=LAYER)
