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
  per level below 1e-4 pixel (``tests/integration/test_contours_reference.py``). What
  can still differ: a saddle inside one of GDAL's split sub-squares next to nodata, which contourpy
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rasterflow.errors import ConfigError, InputDataError

logger = logging.getLogger(__name__)

#: A value within this of a level counts as above it (GDAL's ``fudge``, absolute).
LEVEL_TOLERANCE = 1e-6
#: Most levels one tile may have: a smaller interval is a mistake (metres for km).
MAX_LEVELS = 10_000
#: Output formats, as ``contours.formats`` names them.
FORMATS: tuple[str, ...] = ("gpkg", "parquet")
#: Layer name in the GeoPackage (gdal_contour's ``-nln`` default).
LAYER = "contour"
#: gpkg_contents.last_change of the GeoPackages: fixed, so the same inputs give the
#: same bytes (the time of the run would make every file differ)
GPKG_DATE = "1970-01-01T00:00:00.000Z"

#: (level, vertices, offsets, bends) of one tile's lines at one level: vertices in
#: fine-grid units (x = 2 * column, y = 2 * row of pixel space), line i from offsets[i]
#: to offsets[i + 1], bends the vertices inside full GDAL squares, dropped once joined
Piece = tuple[float, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ContourParams:
    """The ``contours`` config section's levels: ``base + k * interval``."""

    interval: float
    base: float = 0.0

    def __post_init__(self) -> None:
        if not (
            isinstance(self.interval, int | float)
            and math.isfinite(self.interval)
            and self.interval > 0
        ):
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


def refine(block: np.ndarray) -> np.ndarray:
    """The fine grid of a block of pixels with a 1-pixel halo (NaN: nodata or outside).

    ``block`` has shape ``(h + 2, w + 2)``; the result ``(2h + 1, 2w + 1)`` covers the
    ``h x w`` inner pixels from their outer corners: ``[2i + 1, 2j + 1]`` is pixel
    ``(i, j)``, ``[2i, 2j + 1]`` the mean of the valid pixels on either side of its top
    edge, ``[2i + 1, 2j]`` of its left edge, ``[2i, 2j]`` of the up-to-four pixels
    around its top-left corner (GDAL's split squares, see the module docstring). Sums
    run in one fixed order, so a value is the same whichever tile computes it.
    """
    p = np.asarray(block, dtype=np.float64)
    h, w = p.shape[0] - 2, p.shape[1] - 2
    if h < 1 or w < 1:
        raise ValueError(f"refine: block {p.shape} has no pixels inside its 1-pixel halo")
    known = ~np.isnan(p)
    v = np.where(known, p, 0.0)
    n = known.astype(np.float64)
    fine = np.empty((2 * h + 1, 2 * w + 1), dtype=np.float64)
    fine[1::2, 1::2] = p[1:-1, 1:-1]
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0: no valid pixel, NaN
        fine[0::2, 1::2] = (v[:-1, 1:-1] + v[1:, 1:-1]) / (n[:-1, 1:-1] + n[1:, 1:-1])
        fine[1::2, 0::2] = (v[1:-1, :-1] + v[1:-1, 1:]) / (n[1:-1, :-1] + n[1:-1, 1:])
        fine[0::2, 0::2] = (v[:-1, :-1] + v[:-1, 1:] + v[1:, :-1] + v[1:, 1:]) / (
            n[:-1, :-1] + n[:-1, 1:] + n[1:, :-1] + n[1:, 1:]
        )
    return fine


def _canonical(
    vertices: np.ndarray, fine: np.ndarray, full: np.ndarray, level: float, *, row0: int, col0: int
) -> tuple[np.ndarray, np.ndarray]:
    """``vertices`` (the tile's fine-grid units) recomputed from the fine grid's edge
    values, in the raster's fine-grid units, and which of them are bends inside a full
    GDAL square (to drop).

    Each vertex lies on an edge between two fine-grid points (contourpy puts it on the
    grid line to within a few ulps); its coordinate along the edge is recomputed as
    ``lower index + (level - z_lower) / (z_upper - z_lower)``, from the lower-index end
    whatever the direction contourpy walked, with the raster's integer index added
    first, so two tiles that share the edge agree bit for bit. ``row0``/``col0``: the
    tile's first fine-grid index in the raster (even).

    A vertex on an even fine line (a pixel boundary) lies inside one of GDAL's squares,
    between four pixel centres; when all four are valid GDAL draws the square's segment
    straight, so the vertex is flagged: dropping it gives GDAL's line. ``full[m, n]``:
    the four pixels around the tile's pixel corner ``(m, n)`` are valid (halo included).
    """
    x, y = vertices[:, 0], vertices[:, 1]
    out = vertices + np.array([col0, row0], dtype=np.float64)
    rx, ry = np.rint(x), np.rint(y)
    dx, dy = np.abs(x - rx), np.abs(y - ry)
    near = 8 * np.spacing(np.abs(vertices) + 1.0)
    # on a vertical edge (x is a grid column) or a horizontal one; the nearer if both
    on_col = (dx <= near[:, 0]) & ~((dy <= near[:, 1]) & (dy < dx))
    on_row = (dy <= near[:, 1]) & ~on_col
    rows, cols = fine.shape
    bend = np.zeros(len(vertices), dtype=bool)
    for on, along, across, axis in ((on_col, rx, y, 1), (on_row, ry, x, 0)):
        if not on.any():
            continue
        line = along[on].astype(np.intp)  # the grid line the vertex is on
        span = (rows if axis else cols) - 2
        lower = np.clip(np.floor(across[on]).astype(np.intp), 0, span)
        ends = (lower, line) if axis else (line, lower)
        z0 = fine[ends]
        z1 = fine[(lower + 1, line) if axis else (line, lower + 1)]
        step = z1 - z0
        base = (lower + (row0 if axis else col0)).astype(np.float64)  # exact integers
        fixed = np.where(
            step != 0,
            base + (level - z0) / np.where(step == 0, 1.0, step),
            across[on] + (row0 if axis else col0),
        )
        out[on, 0 if axis else 1] = line + (col0 if axis else row0)
        out[on, 1 if axis else 0] = fixed
        # the pixel corner (even, even) at the centre of the GDAL square it lies in
        centre = 2 * np.rint(across[on] / 2).astype(np.intp)
        ci, cj = (centre, line) if axis else (line, centre)
        inside = (line % 2 == 0) & (ci >= 0) & (ci < rows) & (cj >= 0) & (cj < cols)
        hit = np.zeros(len(line), dtype=bool)
        hit[inside] = full[ci[inside] // 2, cj[inside] // 2]
        bend[np.flatnonzero(on)[hit]] = True
    return out, bend


def tile_pieces(block: np.ndarray, params: ContourParams, *, row: int, col: int) -> list[Piece]:
    """Contour pieces of one tile: ``block`` is its pixels with a 1-pixel halo (NaN for
    nodata and outside the raster), ``row``/``col`` the tile's first pixel.

    Returns per level (level, vertices, offsets, bends): the vertices of all its lines
    in fine-grid units of the whole raster (``x = 2 * pixel column``, ``y = 2 * pixel
    row``, from the raster's top-left corner), line ``i`` being ``offsets[i]`` to
    ``offsets[i + 1]``, and the bends to drop (:func:`_canonical`) once pieces are joined.
    """
    import contourpy

    fine = refine(block)
    valid = ~np.isnan(fine)
    if not valid.any():
        return []
    # the halo's pixels too: a square across the tile's border takes its centre's side
    # from them (_centre), the tile beside draws the rest of that square's line
    known = block[~np.isnan(block)]
    levels = params.levels(
        float(known.min()) - LEVEL_TOLERANCE, float(known.max()) + LEVEL_TOLERANCE
    )
    if not len(levels):
        return []
    if len(levels) > MAX_LEVELS:  # each level is a pass over the tile: hours, not a map
        raise ConfigError(
            f"contours.interval: {params.interval} gives {len(levels):,} levels between "
            f"{known.min():g} and {known.max():g} (more than {MAX_LEVELS:,}); set an "
            "interval in the raster's height units, e.g. 10 or 100"
        )
    row0, col0 = 2 * row, 2 * col
    # GDAL's squares around each pixel corner of the tile: corners NW, NE, SW, SE
    corners = (block[:-1, :-1], block[:-1, 1:], block[1:, :-1], block[1:, 1:])
    full = ~(
        np.isnan(corners[0]) | np.isnan(corners[1]) | np.isnan(corners[2]) | np.isnan(corners[3])
    )
    squares = _Squares(corners, levels - LEVEL_TOLERANCE)
    z, nodata = fine, ~valid  # z's centres change per level and are put back after it
    centres = z[0::2, 0::2]  # a view
    # the tile's own grid, made once (contour_generator() would meshgrid it per level)
    xs = np.empty(fine.shape)
    ys = np.empty(fine.shape)
    xs[:] = np.arange(fine.shape[1], dtype=np.float64)
    ys[:] = np.arange(fine.shape[0], dtype=np.float64)[:, None]
    pieces: list[Piece] = []
    for i, level in enumerate(levels):
        at = level - LEVEL_TOLERANCE  # contourpy: above means z > at (GDAL's fudge)
        where, values = squares.centres(i, at)
        means = centres[where]
        centres[where] = values
        # made anew for each level, after z is set; lines() runs before z changes again
        gen = contourpy.SerialContourGenerator(
            xs,
            ys,
            z,
            nodata,
            corner_mask=False,
            line_type=contourpy.LineType.ChunkCombinedOffset,
            fill_type=contourpy.FillType.OuterOffset,
            quad_as_tri=False,
            z_interp=contourpy.ZInterp.Linear,
        )
        found: Any = gen.lines(at)  # ChunkCombinedOffset: ([points], [offsets]), 1 chunk
        points, offsets = found[0][0], found[1][0]
        if points is not None and len(offsets) >= 2:
            xy, bend = _canonical(points, z, full, at, row0=row0, col0=col0)
            pieces.append((float(level), xy, offsets.astype(np.intp), bend))
        centres[where] = means
    return pieces


def _centre(
    nw: np.ndarray,
    ne: np.ndarray,
    sw: np.ndarray,
    se: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    at: float,
) -> np.ndarray:
    """The value a full square's centre takes at level ``at``, for GDAL's topology.

    Three or four corners above: above (the odd corner is cut off); one or none: below;
    two: the north-west corner's side, which for a saddle joins the north-west and
    south-east corners through the centre and cuts off the other two, GDAL's fixed
    choice (it draws left-lower and right-upper segments, never the centre's). The
    value is four times the square's largest distance from the level beyond it
    (``low``/``high``: its lowest and highest pixel), so that the mean of any sub-quad
    is on the centre's side (contourpy's saddle rule); it depends on the square's four
    pixels only, so both tiles of a border agree.
    """
    count = (nw > at).astype(np.int8) + (ne > at) + (sw > at) + (se > at)
    above = np.where(count == 2, nw > at, count >= 3)
    reach = np.maximum(high - at, at - low)
    return at + np.where(above, 4.0, -4.0) * (reach + 1.0)


class _Squares:
    """The full GDAL squares of a tile that each level crosses, found once for all
    levels: a square is crossed by ``at`` when its lowest pixel is <= at < its highest.
    Only their centres need :func:`_centre`; every other centre keeps the mean of its
    four pixels, which is on the side of all four."""

    def __init__(self, corners: tuple[np.ndarray, ...], ats: np.ndarray) -> None:
        nw, ne, sw, se = corners
        # NaN where a pixel is nodata: searchsorted puts NaN past every level, so a
        # square with nodata is crossed by none (GDAL splits it: the mean centre stays)
        self.low = np.minimum(np.minimum(nw, ne), np.minimum(sw, se))
        self.high = np.maximum(np.maximum(nw, ne), np.maximum(sw, se))
        first = np.searchsorted(ats, self.low.ravel(), side="left")  # first at >= low
        last = np.searchsorted(ats, self.high.ravel(), side="left")  # first at >= high
        count = np.maximum(last - first, 0)
        square = np.repeat(np.arange(len(first)), count)
        level = np.arange(len(square)) - np.repeat(np.cumsum(count) - count, count)
        level += np.repeat(first, count)
        order = np.argsort(level, kind="stable")
        self.square = square[order]
        self.bounds = np.searchsorted(level[order], np.arange(len(ats) + 1))
        self.corners = corners

    def centres(self, i: int, at: float) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """(rows, cols) of the centres level ``i`` (at ``at``) crosses, and their values."""
        where = np.unravel_index(self.square[self.bounds[i] : self.bounds[i + 1]], self.low.shape)
        nw, ne, sw, se = (c[where] for c in self.corners)
        return where, _centre(nw, ne, sw, se, self.low[where], self.high[where], at)


def tile_windows(height: int, width: int, chunk: int) -> list[tuple[int, int, int, int]]:
    """(row, col, rows, cols) of the tiles of a ``height x width`` raster, row-major."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, not {chunk}")
    return [
        (r, c, min(chunk, height - r), min(chunk, width - c))
        for r in range(0, height, chunk)
        for c in range(0, width, chunk)
    ]


def with_halo(z: np.ndarray, row: int, col: int, rows: int, cols: int) -> np.ndarray:
    """The window of ``z`` (float, NaN for nodata) with a 1-pixel halo, NaN outside."""
    height, width = z.shape
    out = np.full((rows + 2, cols + 2), np.nan)
    r0, r1 = max(row - 1, 0), min(row + rows + 1, height)
    c0, c1 = max(col - 1, 0), min(col + cols + 1, width)
    out[r0 - row + 1 : r1 - row + 1, c0 - col + 1 : c1 - col + 1] = z[r0:r1, c0:c1]
    return out


def _drop_bends(
    xy: np.ndarray, offsets: np.ndarray, bend: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lines (``xy`` with ``offsets``) without their bends. An open line keeps its ends;
    a closed line's first vertex is an inner one like the others, and the line is closed
    again on its first kept vertex."""
    starts, ends = offsets[:-1], offsets[1:] - 1
    closed = np.all(xy[starts] == xy[ends], axis=1) & (ends - starts >= 3)
    keep = ~bend
    keep[starts[~closed]] = True
    keep[ends[~closed]] = True
    keep[ends[closed]] = False  # the repeated first vertex: re-added below
    line_of = np.repeat(np.arange(len(starts)), np.diff(offsets))
    kept = np.bincount(line_of[keep], minlength=len(starts))
    # a ring of fewer than 3 kept vertices (not seen in GDAL's lines): keep all of it
    small = closed & (kept < 3)
    if small.any():
        keep[np.isin(line_of, np.flatnonzero(small))] = True
        keep[ends[small]] = False
        kept = np.bincount(line_of[keep], minlength=len(starts))
    new_offsets = np.concatenate([[0], np.cumsum(kept)])
    out = xy[keep]
    # close the rings: their first kept vertex again after their last
    firsts = out[new_offsets[:-1][closed]]
    out = np.insert(out, new_offsets[1:][closed], firsts, axis=0)
    new_offsets = new_offsets + np.concatenate([[0], np.cumsum(closed)])
    return out, new_offsets


def _on_inner_border(v: np.ndarray, size: int, chunk: int) -> np.ndarray:
    """Which fine-grid coordinates ``v`` lie on a tile border inside the raster."""
    return (v > 0) & (v < 2 * size) & (np.fmod(v, 2 * chunk) == 0)


def _linestrings(xy: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """LineStrings in pixel units from fine-grid vertices and line offsets."""
    import shapely

    index = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return shapely.linestrings(xy / 2.0, indices=index)


def _offsets(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)


def merge_pieces(
    pieces: Iterable[Piece], *, height: int, width: int, chunk: int
) -> list[tuple[float, Any]]:
    """Whole lines from the tiles' pieces: (level, LineString in pixel units), sorted.

    Pieces with an end on an inner tile border are joined with ``shapely.line_merge``
    (their ends there are equal bit for bit, :func:`_canonical`); then the bends inside
    full squares are dropped (GDAL's straight segments), every line is normalised
    (``shapely.normalize``: open lines from their smaller end, closed ones from their
    smallest vertex) and lines are sorted by level and first vertex, so the result does
    not depend on the tiling. Pixel units: x = column, y = row from the top-left corner.
    """
    import shapely

    by_level: dict[float, list[Piece]] = {}
    for piece in pieces:
        by_level.setdefault(piece[0], []).append(piece)
    out: list[tuple[float, Any]] = []
    for level in sorted(by_level):
        parts = by_level[level]
        xy = np.concatenate([p[1] for p in parts])
        bend = np.concatenate([p[3] for p in parts])
        sizes = np.concatenate([np.diff(p[2]) for p in parts])
        offsets = _offsets(sizes)
        starts, ends = offsets[:-1], offsets[1:] - 1
        joins = np.zeros(len(starts), dtype=bool)
        for i in (starts, ends):
            joins |= _on_inner_border(xy[i, 0], width, chunk) | _on_inner_border(
                xy[i, 1], height, chunk
            )
        joins &= ~np.all(xy[starts] == xy[ends], axis=1)
        joined = np.repeat(joins, sizes)  # per vertex: its line ends on a tile border
        lines = []
        if not joins.all():
            lines.append(
                _linestrings(*_drop_bends(xy[~joined], _offsets(sizes[~joins]), bend[~joined]))
            )
        if joins.any():
            merged = shapely.get_parts(
                shapely.line_merge(
                    shapely.multilinestrings(_linestrings(xy[joined], _offsets(sizes[joins])))
                )
            )
            coords, index = shapely.get_coordinates(merged, return_index=True)
            coords = coords * 2.0  # back to fine-grid units (exact)
            # the bends, found again by value: the join points are equal bit for bit
            drop = xy[joined][bend[joined]]
            mbend = np.isin(coords[:, 0] + 1j * coords[:, 1], drop[:, 0] + 1j * drop[:, 1])
            mxy, moff = _drop_bends(
                coords, _offsets(np.bincount(index, minlength=len(merged))), mbend
            )
            lines.append(_linestrings(mxy, moff))
        level_lines = shapely.normalize(np.concatenate(lines))
        firsts = shapely.get_coordinates(shapely.get_point(level_lines, 0))
        order = np.lexsort((shapely.length(level_lines), firsts[:, 1], firsts[:, 0]))
        out += [(level, line) for line in level_lines[order]]
    return out


def contour_array(
    z: np.ndarray, params: ContourParams, *, nodata: float | None = None, chunk: int | None = None
) -> list[tuple[float, Any]]:
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
    pieces = [
        p
        for r, c, h, w in tile_windows(height, width, size)
        for p in tile_pieces(with_halo(data, r, c, h, w), params, row=r, col=c)
    ]
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
        return np.column_stack([a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f])

    return gpd.GeoDataFrame(
        {
            "id": np.arange(1, len(lines) + 1, dtype=np.int64),
            "elev": np.asarray([level for level, _g in lines], dtype=np.float64),
        },
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
    out[r0 - row + 1 : r1 - row + 1, c0 - col + 1 : c1 - col + 1] = values
    return out


def _tile_task(path: str, window: tuple[int, int, int, int], params: ContourParams) -> list[Piece]:
    return tile_pieces(_read_tile(path, window), params, row=window[0], col=window[1])


def contour_raster(
    path: str | os.PathLike[str],
    params: ContourParams,
    *,
    chunk: int = 1024,
    compute: Callable[..., Any] | None = None,
) -> Any:
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
                "north-up grid first, e.g. gdalwarp in.tif out.tif"
            )
    windows = tile_windows(height, width, chunk)
    tasks = [delayed(_tile_task)(str(path), w, params) for w in windows]
    results = (compute or dask.compute)(*tasks)
    pieces = [p for r in results for p in r]
    lines = merge_pieces(pieces, height=height, width=width, chunk=chunk)
    logger.info(
        "%s: %d contour lines at %d levels from %d tiles of %d px",
        path,
        len(lines),
        len({lv for lv, _ in lines}),
        len(windows),
        chunk,
    )
    return to_frame(lines, transform=transform, crs=crs)


def run(
    *, raster: str, outputs: Mapping[str, str], params: ContourParams, chunk: int = 1024
) -> None:
    """Contour ``raster`` and write each ``{format: path}`` of ``outputs`` atomically.

    Formats: ``gpkg`` (GeoPackage layer ``contour``) and ``parquet`` (GeoParquet); the
    provenance (:func:`rasterflow.io.provenance_tags`) goes into their metadata.
    """
    from rasterflow.io import provenance_tags
    from rasterflow.zonal import write_table

    unknown = sorted(set(outputs) - set(FORMATS))
    if unknown:
        raise ConfigError(
            f"contours.formats: unknown {', '.join(unknown)}; use {', '.join(FORMATS)}"
        )
    frame = contour_raster(raster, params, chunk=chunk)
    # not the chunk: the lines do not depend on it, so neither do the files' bytes
    tags = provenance_tags(inputs=[raster], params=params.to_params())
    with _gpkg_date(GPKG_DATE):
        write_table(frame, outputs, provenance=tags, layer=LAYER)


@contextmanager
def _gpkg_date(stamp: str) -> Iterator[None]:
    """GDAL's GeoPackage writer stamps gpkg_contents.last_change with the time of the
    run unless OGR_CURRENT_DATE is set: set it (pyogrio's GDAL) while writing."""
    import pyogrio

    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})
