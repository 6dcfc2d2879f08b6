"""The raster and its cells: what a task needs to know of the raster, and how zones are
grouped so that every cell of it is read and decoded once.

The raster is cut into cells of whole blocks (about :data:`CELL_PIXELS`, 2048 x 2048
for 512-pixel tiles). A zone within one cell is computed from that cell's pixels in
memory, a zone across a cell edge from the two (or four) cells it touches, and a zone
larger than a cell (or without pixels) reads its own window by path (in strips of
``max_cells``): :func:`plan_tasks`. The engines see held pixels through
:class:`HeldBand`, an open dataset whose masked reads come from memory, so they see
the very grid and values a read from the file would give. How the tasks run (Dask or
in process) is :mod:`rasterflow.zonal.driver`'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.transform import Affine
from rasterio.windows import Window

from rasterflow.errors import InputDataError
from rasterflow.io import open_raster
from rasterflow.zonal.zones import hilbert_order


@dataclass(frozen=True)
class RasterInfo:
    """What a batch needs to know about the raster besides its path."""

    path: str
    band: int
    crs_wkt: str
    integer: bool
    width: int
    height: int
    block: tuple[int, int]  # rows, columns of the band's blocks
    transform: Affine


def raster_info(path: str | os.PathLike[str], *, band: int) -> RasterInfo:
    """Open ``path`` once for its CRS, checking that it is usable for zonal statistics."""
    if not Path(path).exists():
        raise InputDataError(
            f"zonal raster: file not found: {path}. Check the product path given to the zonal step."
        )
    with open_raster(path, what="zonal raster") as src:
        if not 1 <= band <= src.count:
            raise InputDataError(
                f"zonal raster: {path} has {src.count} band(s); band {band} does not exist. "
                "Set the band (counting from 1) to one of them."
            )
        t = src.transform
        if t.b != 0 or t.d != 0:
            raise InputDataError(
                f"zonal raster: {path} has a rotated geotransform, which neither rasterize "
                f"nor exactextract support. Warp it first: gdalwarp '{path}' north-up.tif"
            )
        dtype = np.dtype(src.dtypes[band - 1])
        scaled = src.scales[band - 1] != 1.0 or src.offsets[band - 1] != 0.0
        return RasterInfo(
            path=str(path),
            band=band,
            crs_wkt=src.crs.to_wkt(),
            integer=dtype.kind in "iu" and not scaled,
            width=src.width,
            height=src.height,
            block=tuple(src.block_shapes[band - 1]),
            transform=src.transform,
        )


#: Pixels per cell (the unit of reading): big enough that few zones straddle two
#: cells, small enough that the cells alive at once stay a few tens of MB.
CELL_PIXELS = 2**22


@dataclass(frozen=True)
class Task:
    """Zones computed together: positions in the zone list, and the cells they need.

    ``cells`` empty: the task reads each zone's window from the file itself (zones
    larger than a cell, zones without pixels); otherwise it holds ``window``, which
    ``cells`` cover, in memory.
    """

    positions: tuple[int, ...]
    cells: tuple[tuple[int, int], ...] = ()
    window: Window | None = None


@dataclass(frozen=True)
class CellGrid:
    """The raster cut into cells of whole blocks, read once each (row-major order)."""

    height: int
    width: int
    cell_rows: int
    cell_cols: int

    @classmethod
    def of(cls, raster: RasterInfo) -> CellGrid:
        pixels = CELL_PIXELS  # read at call time, so tests can shrink cells
        block_rows, block_cols = raster.block
        side = math.isqrt(pixels)
        cols = block_cols * max(1, side // block_cols)
        rows = block_rows * max(1, pixels // cols // block_rows)
        return cls(raster.height, raster.width, min(rows, raster.height), min(cols, raster.width))

    def window(self, cell: tuple[int, int]) -> Window:
        row0, col0 = cell[0] * self.cell_rows, cell[1] * self.cell_cols
        return Window(
            col0,
            row0,
            min(self.cell_cols, self.width - col0),
            min(self.cell_rows, self.height - row0),
        )


def _zone_windows(geometries: Sequence[bytes | None], raster: RasterInfo) -> np.ndarray:
    """Per zone, the pixel window ``row0, row1, col0, col1`` its statistics may read.

    Centre rule windows (floor/ceil of the bounds) grown by one pixel, so that
    exactextract's own rounding of a zone's extent stays inside; clipped to the raster.
    A zone without geometry or without pixels gets an empty window (row1 <= row0).
    """
    out = np.zeros((len(geometries), 4), dtype=np.int64)
    present = np.array([g is not None for g in geometries], dtype=bool)
    if not present.any():
        return out
    bounds = shapely.bounds(shapely.from_wkb([g for g in geometries if g is not None]))
    t = raster.transform
    xs = (bounds[:, [0, 2]] - t.c) / t.a
    ys = (bounds[:, [3, 1]] - t.f) / t.e
    col0 = np.floor(xs.min(axis=1)) - 1
    col1 = np.ceil(xs.max(axis=1)) + 1
    row0 = np.floor(ys.min(axis=1)) - 1
    row1 = np.ceil(ys.max(axis=1)) + 1
    windows = np.c_[
        np.clip(row0, 0, raster.height),
        np.clip(row1, 0, raster.height),
        np.clip(col0, 0, raster.width),
        np.clip(col1, 0, raster.width),
    ]
    out[present] = windows.astype(np.int64)
    return out


def plan_tasks(
    geometries: Sequence[bytes | None], *, raster: RasterInfo, batch_size: int
) -> tuple[CellGrid, list[Task]]:
    """Group zones by the cells their windows touch, so every cell is decoded once.

    A zone within one cell joins that cell's task; a zone across a cell edge joins the
    task of the two (or four) cells it touches, which holds just the zones' union
    window, copied from those cells. Zones larger than a cell, or without pixels, read
    by path in batches. Tasks come in the row-major order of the last cell they need
    (so each cell is freed soon after it is read); zones within a task keep Hilbert
    order, and tasks hold at most ``batch_size`` zones.
    """
    grid = CellGrid.of(raster)
    windows = _zone_windows(geometries, raster)
    groups: dict[tuple[int, int, int, int], list[int]] = {}
    by_path: list[int] = []
    for pos in hilbert_order(geometries).tolist():
        row0, row1, col0, col1 = windows[pos].tolist()
        if (
            row1 <= row0
            or col1 <= col0
            or row1 - row0 > grid.cell_rows
            or (col1 - col0 > grid.cell_cols)
        ):
            by_path.append(pos)
            continue
        key = (
            row0 // grid.cell_rows,
            (row1 - 1) // grid.cell_rows,
            col0 // grid.cell_cols,
            (col1 - 1) // grid.cell_cols,
        )
        groups.setdefault(key, []).append(pos)
    tasks: list[Task] = []
    for key in sorted(groups, key=lambda k: (k[1], k[3], k[0], k[2])):
        i0, i1, j0, j1 = key
        cells = tuple((i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1))
        for start in range(0, len(groups[key]), batch_size):
            positions = groups[key][start : start + batch_size]
            if len(cells) == 1:
                window = grid.window(cells[0])
            else:
                w = windows[positions]
                row0, col0 = int(w[:, 0].min()), int(w[:, 2].min())
                window = Window(col0, row0, int(w[:, 3].max()) - col0, int(w[:, 1].max()) - row0)
            tasks.append(Task(tuple(positions), cells, window))
    for start in range(0, len(by_path), batch_size):
        tasks.append(Task(tuple(by_path[start : start + batch_size])))
    return grid, tasks


def read_cell(raster: RasterInfo, window: Window) -> np.ma.MaskedArray:
    """The band's pixels in ``window``, masked where the band's mask says nodata."""
    with rasterio.open(raster.path) as src:
        return src.read(raster.band, window=window, masked=True)


def assemble(
    window: Window, cells: Sequence[tuple[Window, np.ma.MaskedArray]]
) -> np.ma.MaskedArray:
    """``window``'s pixels from the cells that cover it (no copy when one cell is it)."""
    if len(cells) == 1 and cells[0][0] == window:
        return cells[0][1]
    first = cells[0][1]
    shape = (int(window.height), int(window.width))
    out = np.ma.MaskedArray(np.empty(shape, first.dtype), mask=np.ones(shape, bool))
    for cell, pixels in cells:
        part = window.intersection(cell)  # raises WindowError when disjoint: never here
        r0, c0 = int(part.row_off), int(part.col_off)
        r1, c1 = r0 + int(part.height), c0 + int(part.width)
        out[
            r0 - int(window.row_off) : r1 - int(window.row_off),
            c0 - int(window.col_off) : c1 - int(window.col_off),
        ] = pixels[
            r0 - int(cell.row_off) : r1 - int(cell.row_off),
            c0 - int(cell.col_off) : c1 - int(cell.col_off),
        ]
    return out


class HeldBand:
    """An open dataset whose masked reads of one band come from pixels already read.

    Everything else (transform, nodata, scales, ...) is the dataset's, so exactextract's
    rasterio source and the centre rule see the very grid and values a read from the
    file would give; a read outside the held window (never expected) goes to the file.
    """

    def __init__(self, src: Any, *, band: int, window: Window, pixels: np.ma.MaskedArray) -> None:
        self._src, self._band, self._window, self._pixels = src, band, window, pixels
        self._data, self._mask = np.ma.getdata(pixels), np.ma.getmaskarray(pixels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._src, name)

    def read(self, indexes: int, *, window: Window, masked: bool = False) -> Any:
        held = self._held(window)
        if indexes != self._band or not masked or held is None:
            return self._src.read(indexes, window=window, masked=masked)
        return self._pixels[held]

    @property
    def held_window(self) -> Window:
        return self._window

    def held_arrays(self, window: Window) -> tuple[np.ndarray, np.ndarray] | None:
        """Held values and mask (True: nodata) of ``window``; None unless all held."""
        held = self._held(window)
        if held is None:
            return None
        return self._data[held], self._mask[held]

    def read_unmasked(self, window: Window) -> np.ndarray | None:
        """The held pixels of ``window`` when none is masked; else (or not held) None."""
        held = self._held(window)
        if held is None:
            return None
        return None if self._mask[held].any() else self._data[held]

    def _held(self, window: Window) -> tuple[slice, slice] | None:
        """``window`` as slices of the held pixels; None unless they hold all of it."""
        rows, cols = slices(window, int(self._window.row_off), int(self._window.col_off))
        if (
            rows.start < 0
            or cols.start < 0
            or rows.stop > int(self._window.height)
            or (cols.stop > int(self._window.width))
        ):
            return None
        return rows, cols


def slices(window: Window, row0: int, col0: int) -> tuple[slice, slice]:
    """``window`` as array slices of an array whose first pixel is ``row0, col0``."""
    r, c = int(window.row_off) - row0, int(window.col_off) - col0
    return slice(r, r + int(window.height)), slice(c, c + int(window.width))
