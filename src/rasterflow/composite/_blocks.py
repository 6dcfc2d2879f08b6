"""Composites' chunks: one Dask task per chunk warps every source onto it and reduces
(:func:`composite_array` builds the lazy array of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rasterflow.composite._reduce import Statistic, reduce_stack
from rasterflow.composite._sources import (
    Source,
    _index_layers,
    _kernel_window,
    _layers,
    _planes,
    _reaches,
    _tile_gt,
    _values,
    _window_over,
)
from rasterflow.errors import ConfigError

if TYPE_CHECKING:
    from odc.geo.geobox import GeoBox

    from rasterflow.band_composite import BandSpec


def _fused_block(
    sources: tuple[Source, ...],
    tile: GeoBox,
    statistic: Statistic,
    rows: tuple[int, int],
    cols: tuple[int, int],
    bands: BandSpec | None = None,
) -> np.ndarray:
    """One chunk through the compiled kernel: each source's window read (or its indices
    computed) once, then warp and reduction in one pass per index layer (every source
    has a :class:`KernelWarp`); (planes, y, x): statistic and count of each index, then
    with ``bands`` the band composite (:func:`rasterflow.band_composite.band_block` of
    the same windows, each warped by the same kernel)."""
    from rasterflow._warp_kernel import N_PARAMS, STAT_CODES, composite_chunk, warp

    n = len(sources)
    layers = _layers(sources[0])
    gt = _tile_gt(tile)
    windows = np.zeros((n, 4), dtype=np.int64)
    sizes = np.zeros((n, 2), dtype=np.int64)
    kinds = np.zeros(n, dtype=np.int64)
    params = np.zeros((n, N_PARAMS), dtype=np.float64)
    nodata = np.full(n, np.nan, dtype=np.float64)
    has_nodata = np.zeros(n, dtype=np.bool_)
    for i, s in enumerate(sources):
        k = s.kernel
        assert k is not None
        sizes[i] = k.size
        kinds[i] = k.kind
        params[i, : len(k.params)] = k.params
        has_nodata[i] = k.nodata is not None
        nodata[i] = np.nan if k.nodata is None else k.nodata
        window = _kernel_window(k, gt, rows, cols) if _reaches(s, *rows, *cols) else None
        if window is not None:
            windows[i] = window
    offsets = np.concatenate([[0], np.cumsum(windows[:, 2] * windows[:, 3])]).astype(np.int64)
    buf = np.empty((layers, int(offsets[-1])), dtype=np.float32)
    for i, s in enumerate(sources):
        _, _, w, h = windows[i]
        if w:
            x0, y0, ww, wh = (int(v) for v in windows[i])
            values = _values(s, (x0, y0, ww, wh))
            buf[:, offsets[i] : offsets[i + 1]] = values.reshape(layers, h * w)
    shape = (rows[1] - rows[0], cols[1] - cols[0])
    n_index = _index_layers(sources[0], bands)
    out = np.empty((_planes(sources[0], bands), *shape), dtype=np.float32)
    result = np.empty(shape, dtype=np.float32)
    count = np.empty(shape, dtype=np.uint16)
    for j in range(n_index):
        composite_chunk(
            buf[j],
            offsets[:-1],
            windows,
            sizes,
            kinds,
            params,
            nodata,
            has_nodata,
            gt,
            rows[0],
            cols[0],
            STAT_CODES[statistic.kind],
            float(statistic.q or 0.0),
            result,
            count,
        )
        out[2 * j] = result
        out[2 * j + 1] = count
    if bands is not None:
        from rasterflow.band_composite import band_block

        stack = np.full((bands.layers, n, *shape), np.nan, dtype=np.float32)
        for i in range(n):
            if windows[i, 2]:
                for j in range(bands.layers):
                    warp(
                        buf[n_index + j, offsets[i] : offsets[i + 1]],
                        windows[i],
                        int(sizes[i, 0]),
                        int(sizes[i, 1]),
                        int(kinds[i]),
                        params[i],
                        float(nodata[i]),
                        bool(has_nodata[i]),
                        gt,
                        rows[0],
                        cols[0],
                        stack[j, i],
                    )
        out[2 * n_index :] = band_block(stack, bands, _days(sources), _fractions(sources))
    return out


def _days(sources: Sequence[Source]) -> np.ndarray:
    from rasterflow.band_composite import day_numbers

    return day_numbers([s.date for s in sources])


def _fractions(sources: Sequence[Source]) -> np.ndarray:
    """Each source's clear fraction (1 for an index raster)."""
    return np.array([1.0 if s.origin is None else s.origin.clear_fraction for s in sources])


def _kernel_warp_one(
    s: Source, tile: GeoBox, rows: tuple[int, int], cols: tuple[int, int]
) -> np.ndarray:
    """One source onto a chunk through the compiled bilinear kernel: (layers, y, x)
    float32 with NaN gaps."""
    from rasterflow._warp_kernel import warp

    k = s.kernel
    assert k is not None
    out = np.full((_layers(s), rows[1] - rows[0], cols[1] - cols[0]), np.nan, dtype=np.float32)
    gt = _tile_gt(tile)
    window = _kernel_window(k, gt, rows, cols)
    if window is None:
        return out
    values = _values(s, window)
    nodata = np.nan if k.nodata is None else float(k.nodata)
    for j in range(len(values)):
        warp(
            values[j].ravel(),
            np.asarray(window, dtype=np.int64),
            k.size[0],
            k.size[1],
            k.kind,
            np.asarray(k.params, dtype=np.float64),
            nodata,
            k.nodata is not None,
            gt,
            rows[0],
            cols[0],
            out[j],
        )
    return out


#: source pixels, beyond the widest kernel (lanczos: 3 / scale), around the window a
#: scene's indices are computed in for GDAL's warper: it then finds every pixel it
#: would read from the whole raster
_WARP_MARGIN = 2


def _groups(layers: int, bands: BandSpec | None) -> tuple[slice, ...]:
    """The layers GDAL's warper takes together: the indices, then the band composite's."""
    if bands is None:
        return (slice(0, layers),)
    # the cloud distance apart: it has a value everywhere, the bands' NaN gaps do not
    # spread to it (nor its values into them)
    start, cloud = layers - bands.layers, layers - bands.cloud_layers
    return slice(0, start), slice(start, cloud), slice(cloud, layers)


def _warp_scene(
    s: Source, chunk_box: GeoBox, resampling: str, groups: tuple[slice, ...] | None = None
) -> np.ndarray:
    """A scene source's indices onto ``chunk_box`` by GDAL's warper: (layers, y, x).

    ``groups`` (default: all layers at once) are warped in separate calls: GDAL's warper
    decides a source pixel's validity across the bands it warps together (its unified
    nodata), and warping the band composite's layers with the indices changed which
    pixels the indices got (tests/unit/test_band_composite.py); apart, they do not.

    The indices are computed in the window of the scene's grid the chunk reaches (plus
    the kernel's reach) and warped from memory as :func:`rasterflow.warp.read_onto` warps
    an index raster: exact transformer, GDAL's scale fixed to the source's. In another
    CRS this uses the exact transformer, where read_onto goes through
    :func:`rasterflow.warp.polynomial_vrt`: values then agree within float32 rounding.
    """
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import Resampling, reproject

    from rasterflow.grid import crs_of

    o = s.origin
    assert o is not None
    out = np.full((_layers(s), *chunk_box.shape.yx), np.nan, dtype=np.float32)
    reach = 3 / min(s.scale.x, s.scale.y, 1.0) + _WARP_MARGIN
    window = _window_over(o.grid, chunk_box, reach)
    if window is None:
        return out
    x0, y0, w, h = window
    src_box = o.grid[y0 : y0 + h, x0 : x0 + w]
    values = _values(s, window)
    for group in groups or (slice(0, len(values)),):
        if group.stop <= group.start:
            continue
        reproject(
            source=np.ascontiguousarray(values[group]),
            destination=out[group],
            src_transform=src_box.affine,
            src_crs=RioCRS.from_wkt(crs_of(src_box).to_wkt()),
            src_nodata=np.nan,
            dst_transform=chunk_box.affine,
            dst_crs=RioCRS.from_wkt(crs_of(chunk_box).to_wkt()),
            dst_nodata=np.nan,
            init_dest_nodata=False,
            resampling=Resampling[resampling],
            tolerance=0.0,
            num_threads=1,
            XSCALE=repr(float(s.scale.x)),
            YSCALE=repr(float(s.scale.y)),
        )
    return out


def _composite_block(
    *,
    sources: tuple[Source, ...],
    tile: GeoBox,
    statistic: Statistic,
    resampling: str,
    bands: BandSpec | None = None,
    block_info: Any = None,
) -> np.ndarray:
    """One chunk: warp every source onto it, reduce; (2 x layers, y, x) float32 =
    statistic and count of each layer (one for index rasters, one per index for scenes).

    Bilinear with every source fit for the compiled kernel: one fused pass. Otherwise
    each source is warped on its own (the kernel where it can, GDAL's warper for the
    rest and for other resampling methods) and the stack reduced with NumPy.
    """
    from rasterflow.warp import read_onto

    (_, _), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    bilinear = resampling == "bilinear"
    if bilinear and all(s.kernel is not None for s in sources):
        return _fused_block(sources, tile, statistic, (r0, r1), (c0, c1), bands)
    chunk_box = tile[r0:r1, c0:c1]
    layers = _layers(sources[0])
    stack = np.full((layers, len(sources), r1 - r0, c1 - c0), np.nan, dtype=np.float32)
    for i, s in enumerate(sources):
        if not _reaches(s, r0, r1, c0, c1):
            continue  # GDAL would return all NaN: skip opening the file
        if bilinear and s.kernel is not None:
            stack[:, i] = _kernel_warp_one(s, tile, (r0, r1), (c0, c1))
        elif s.origin is not None:
            stack[:, i] = _warp_scene(s, chunk_box, resampling, groups=_groups(_layers(s), bands))
        else:
            stack[0, i] = read_onto(
                s.path,
                chunk_box,
                resampling=resampling,
                dtype="float32",
                fill=np.nan,
                scale=s.scale,
                vrt=s.vrt,
            )[0]
    n_index = _index_layers(sources[0], bands)
    out = np.empty((_planes(sources[0], bands), r1 - r0, c1 - c0), dtype=np.float32)
    for j in range(n_index):
        out[2 * j], out[2 * j + 1] = reduce_stack(stack[j], statistic)
    if bands is not None:
        from rasterflow.band_composite import band_block

        out[2 * n_index :] = band_block(stack[n_index:], bands, _days(sources), _fractions(sources))
    return out


def composite_array(
    sources: Sequence[Source],
    tile: GeoBox,
    *,
    statistic: Statistic,
    resampling: str = "bilinear",
    chunk: int = 512,
    bands: BandSpec | None = None,
) -> Any:
    """Lazy (planes, y, x) float32 Dask array over ``tile``: the statistic and the
    count of each index layer (one for index rasters, each index for scene sources),
    then with ``bands`` (scene sources whose last layers are those bands and score) the
    band composite: the bands, the chosen date and the count
    (:func:`rasterflow.band_composite.band_block`).

    Chunks are (2 x layers, chunk, chunk); each is one task that reads all ``sources``
    (see :mod:`rasterflow.composite` for the memory this takes).
    """
    import dask.array as da
    from dask.base import tokenize

    from rasterflow.warp import RESAMPLING

    if resampling not in RESAMPLING:
        raise ConfigError(
            f"composite.resampling: {resampling!r} is not one of {', '.join(RESAMPLING)}"
        )
    if chunk < 16:
        raise ConfigError(f"composite.chunk: must be >= 16 pixels, got {chunk}")
    ny, nx = tile.shape.yx
    layers = {_layers(s) for s in sources}
    if len(layers) != 1:
        raise ValueError("composite_array: sources give different numbers of layers")
    if bands is not None and (
        any(s.origin is None for s in sources) or _index_layers(sources[0], bands) < 0
    ):
        raise ValueError("composite_array: a band composite needs scene sources with its bands")
    chunks = ((_planes(sources[0], bands),), _splits(ny, chunk), _splits(nx, chunk))
    name = "composite-" + tokenize(
        [(s.path, None if s.origin is None else s.origin.scene.to_params()) for s in sources],
        [e.text for e in sources[0].origin.exprs] if sources[0].origin else None,
        str(tile),
        statistic,
        resampling,
        chunk,
        bands,
    )
    extra = {} if bands is None else {"bands": bands}  # the index-only graph as before
    return da.map_blocks(
        _composite_block,
        dtype=np.float32,
        chunks=chunks,
        name=name,
        meta=np.empty((0, 0, 0), dtype=np.float32),
        sources=tuple(sources),
        tile=tile,
        statistic=statistic,
        resampling=resampling,
        **extra,
    )


def _splits(n: int, chunk: int) -> tuple[int, ...]:
    return tuple(min(chunk, n - i) for i in range(0, n, chunk))
