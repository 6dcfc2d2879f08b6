"""The ``"centre"`` rule: a pixel counts, with weight 1, when its centre falls inside the
polygon, the rule of ``rasterstats.zonal_stats(all_touched=False)``.

Engine: GDAL's rasterizer (``rasterio.features.rasterize``) on the raster's own grid,
so the same pixels are selected as rasterstats selects on each polygon's window
(GDAL's own half-open rule for centres that lie exactly on an edge included). Zones
whose windows do not overlap are burnt together (:class:`_Burnt`), one GDAL call per
layer of them instead of one per zone; the grid is the same shifted by whole pixels,
so only a centre within rounding error (~1e-12 pixel) of an edge could move, as for a
zone that crosses the raster's edge (whose window is clipped). Statistics are then
NumPy reductions in float64 (rasterstats reduces float32 rasters in float32, so on
those the two differ by float32 rounding).

exactextract was considered and not used for this rule: it has no centre option (its
``min_coverage_frac`` is about covered area, which is not the same set of pixels), and
emulating one with its ``center_x`` / ``center_y`` arrays plus ``shapely.contains_xy``
was 1.5 x slower than rasterizing zone by zone (``benchmarks/zonal_bench.py
--ee-centre``) and disagrees with GDAL on centres that lie on an edge (a box whose
edges run through pixel centres: GDAL selects 12 pixels, ``contains_xy`` 4,
``intersects_xy`` 16).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from rasterio import features
from rasterio.transform import Affine
from rasterio.windows import Window
from rasterio.windows import union as windows_union

from rasterflow.zonal.cells import HeldBand, RasterInfo, slices
from rasterflow.zonal.spec import (
    FRACTIONS,
    ZonalSpec,
    batch_columns,
    empty_row,
    percentile_column,
)


@dataclass
class _Accumulator:
    """Centre-rule statistics of one zone, merged over the strips of its window."""

    spec: ZonalSpec
    n: int = 0
    total: float = 0.0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean (Chan et al. merge)
    lo: float = math.inf
    hi: float = -math.inf
    parts: list[np.ndarray] = field(default_factory=list)
    classes: dict[Any, int] = field(default_factory=dict)

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        x = values.astype(np.float64, copy=False)
        n = x.size
        total = float(x.sum())
        mean = total / n
        m2 = float(np.square(x - mean).sum())
        if self.n == 0:
            self.mean, self.m2 = mean, m2
        else:
            delta = mean - self.mean
            both = self.n + n
            self.mean += delta * n / both
            self.m2 += m2 + delta * delta * self.n * n / both
        self.n += n
        self.total += total
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))
        if "median" in self.spec.stats or self.spec.percentiles:
            self.parts.append(values)
        if self.spec.wants_majority:
            keys, counts = np.unique(values, return_counts=True)
            for k, c in zip(keys.tolist(), counts.tolist(), strict=True):
                self.classes[k] = self.classes.get(k, 0) + c

    def row(self) -> dict[str, Any]:
        if self.n == 0:
            return empty_row(self.spec)
        spec = self.spec
        row: dict[str, Any] = {}
        # kept by add() whenever a median or percentile is asked for, and n > 0 here
        values = np.concatenate(self.parts).astype(np.float64) if self.parts else np.empty(0)
        for stat in spec.stats:
            if stat == "count":
                row["count"] = self.n
            elif stat == "sum":
                row["sum"] = self.total
            elif stat == "mean":
                row["mean"] = self.total / self.n
            elif stat == "min":
                row["min"] = self.lo
            elif stat == "max":
                row["max"] = self.hi
            elif stat == "std":
                row["std"] = math.sqrt(self.m2 / self.n)  # population, as rasterstats
            elif stat == "median":
                row["median"] = float(np.median(values))
        for q in spec.percentiles:
            row[percentile_column(q)] = float(np.percentile(values, q))
        if spec.wants_majority:
            best = max(self.classes.values())
            # ties go to the smallest class, as rasterstats (first of np.unique's order)
            row["majority"] = float(min(k for k, c in self.classes.items() if c == best))
        if spec.categorical:
            row[FRACTIONS] = {k: c / self.n for k, c in self.classes.items()}
        return row


def centre_window(
    bounds: tuple[float, float, float, float], transform: Affine, *, height: int, width: int
) -> Window | None:
    """The pixel window covering ``bounds``, clipped to the raster; None when empty.

    Floor/ceil of the bounds in pixel space, exactly as ``rasterstats.io.bounds_window``
    (same window, so the same rasterization transform and the same pixels).
    """
    west, south, east, north = bounds
    cols = sorted(((west - transform.c) / transform.a, (east - transform.c) / transform.a))
    rows = sorted(((north - transform.f) / transform.e, (south - transform.f) / transform.e))
    col0, col1 = max(math.floor(cols[0]), 0), min(math.ceil(cols[1]), width)
    row0, row1 = max(math.floor(rows[0]), 0), min(math.ceil(rows[1]), height)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _strips(window: Window, max_cells: int) -> Iterator[Window]:
    """Row strips of ``window`` holding at most ``max_cells`` pixels (at least one row)."""
    rows = max(1, max_cells // int(window.width))
    for r in range(int(window.row_off), int(window.row_off + window.height), rows):
        h = min(rows, int(window.row_off + window.height) - r)
        yield Window(window.col_off, r, window.width, h)


def centre_batch(
    geometries: Sequence[bytes | None], *, src: Any, raster: RasterInfo, spec: ZonalSpec
) -> pd.DataFrame:
    """One row per geometry by the centre rule, read from ``src``: an open dataset, or a
    :class:`HeldBand` over one (then zones are burnt together, :class:`_Burnt`)."""
    rows: list[dict[str, Any]] = []
    band = spec.band
    scale, offset = src.scales[band - 1], src.offsets[band - 1]
    scaled = scale != 1.0 or offset != 0.0
    floating = np.dtype(src.dtypes[band - 1]).kind == "f"
    shapes = [None if wkb is None else shapely.from_wkb(wkb) for wkb in geometries]
    windows = [
        None
        if geom is None
        else centre_window(geom.bounds, src.transform, height=src.height, width=src.width)
        for geom in shapes
    ]
    burnt = _Burnt.of(shapes, windows, src) if isinstance(src, HeldBand) else None
    for k, (geom, window) in enumerate(zip(shapes, windows, strict=True)):
        if geom is None:
            rows.append(empty_row(spec))
            continue
        acc = _Accumulator(spec)
        if window is not None:
            for strip in _strips(window, spec.max_cells):
                if burnt is not None:
                    inside = burnt.inside(k, strip)
                else:
                    inside = features.rasterize(
                        [(geom, 1)],
                        out_shape=(int(strip.height), int(strip.width)),
                        transform=src.window_transform(strip),
                        fill=0,
                        dtype="uint8",
                        all_touched=False,
                    ).view(bool)
                if not inside.any():
                    continue
                # masked read: the band's mask (nodata, alpha, per-dataset), as
                # exactextract's rasterio source reads it
                data, mask = _read_masked(src, band, strip)
                values = data[inside & ~mask]
                if floating:
                    values = values[~np.isnan(values)]
                if scaled:
                    values = values.astype(np.float64) * scale + offset
                acc.add(values)
        rows.append(acc.row())
    return pd.DataFrame.from_records(rows, columns=batch_columns(spec))


def _read_masked(src: Any, band: int, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Values and mask (True: nodata) of ``window``, as ``read(masked=True)`` gives them.

    From held pixels without building a masked array (their slicing was a tenth of the
    centre rule's time).
    """
    if isinstance(src, HeldBand) and (held := src.held_arrays(window)) is not None:
        return held
    data = src.read(band, window=window, masked=True)
    return np.ma.getdata(data), np.ma.getmaskarray(data)


@dataclass(frozen=True)
class _Burnt:
    """The centre rule's pixels of many zones, from one GDAL rasterize call per layer.

    Zones whose windows do not overlap share a layer (a label image over their windows,
    zone k burnt as k + 1), so GDAL is called a few times per task instead of once per
    zone (per-zone calls were ~60% of the rule's time). The burn uses the layer's
    window's transform instead of the zone's own window's: the same grid shifted by
    whole pixels, so the same pixel centres fall inside (GDAL works in pixel
    coordinates; only a centre within ~1e-12 pixel of an edge could differ, as for a
    zone clipped at the raster's edge).
    """

    layers: tuple[tuple[Window, np.ndarray], ...]  # the window each label image covers
    layer_of: dict[int, int]

    @classmethod
    def of(
        cls,
        shapes: Sequence[shapely.Geometry | None],
        windows: Sequence[Window | None],
        src: HeldBand,
    ) -> _Burnt:
        held = src.held_window
        row0, col0 = int(held.row_off), int(held.col_off)
        shape = (int(held.height), int(held.width))
        occupied: list[np.ndarray] = []
        members: list[list[tuple[shapely.Geometry, int]]] = []
        extents: list[Window] = []
        layer_of: dict[int, int] = {}
        for k, (geom, window) in enumerate(zip(shapes, windows, strict=True)):
            if geom is None or window is None:
                continue
            rows, cols = slices(window, row0, col0)
            layer = next(
                (i for i, occ in enumerate(occupied) if not occ[rows, cols].any()), len(occupied)
            )
            if layer == len(occupied):
                occupied.append(np.zeros(shape, dtype=bool))
                members.append([])
                extents.append(window)
            occupied[layer][rows, cols] = True
            members[layer].append((geom, k + 1))
            extents[layer] = windows_union(extents[layer], window)
            layer_of[k] = layer
        dtype = "uint16" if len(shapes) < 2**16 else "int32"
        layers = tuple(
            (
                extent,
                features.rasterize(
                    burn,
                    out_shape=(int(extent.height), int(extent.width)),
                    transform=src.window_transform(extent),
                    fill=0,
                    dtype=dtype,
                    all_touched=False,
                ),
            )
            for burn, extent in zip(members, extents, strict=True)
        )
        return cls(layers, layer_of)

    def inside(self, k: int, window: Window) -> np.ndarray:
        """Where zone ``k`` holds a pixel centre in ``window`` (raster pixel coordinates)."""
        extent, labels = self.layers[self.layer_of[k]]
        rows, cols = slices(window, int(extent.row_off), int(extent.col_off))
        return labels[rows, cols] == k + 1
