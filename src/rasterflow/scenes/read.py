"""Job-time reading of a scene: its bands and valid-pixel mask in a window of its grid.

Bands on the scene's grid are read as they are; bands on other grids and the mask are
warped onto the window by the compiled kernel (:mod:`rasterflow._warp_kernel`) where it
gives GDAL's bits, else by GDAL's warper.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from rasterflow.errors import InputDataError
from rasterflow.scenes.model import Scene


def read_window(
    scene: Scene,
    roles: Sequence[str],
    grid: Any,
    window: tuple[int, int, int, int],
    *,
    resampling: str,
) -> tuple[list[Any], Any | None]:
    """Bands ``roles`` of ``scene`` and its valid-pixel mask in ``window`` (x0, y0, width,
    height) of ``grid`` (:func:`scene_grid`): ([one (height, width) array per role], bool
    array or None).

    Bands on ``grid`` come as the file's digital numbers, the bands of one file in one
    read (in a pixel-interleaved file every compressed block holds all bands: band by
    band would decode each block once per band). Bands on other grids (Sentinel-2's
    20 m SWIR next to 10 m red) are warped onto the window with ``resampling`` and
    GDAL's exact transformer (bilinear through :func:`_kernel_upsample` where it gives
    GDAL's bits, else by GDAL), as float32 with NaN for nodata so that nodata never
    blends into valid pixels (``to_reflectance`` keeps NaN as NaN); the mask always with
    nearest, since its values are classes (:func:`_kernel_nearest`, GDAL's classes, or
    GDAL), and -1 where it does not reach (:func:`_clear`). A pixel's
    value does not depend on the window (the warper places it by the source's own
    geotransform), so the blocks of a per-scene index raster and the windows a
    composite reads give the same bits.
    """
    import numpy as np
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_cached

    x0, y0, width, height = window
    box = grid[y0 : y0 + height, x0 : x0 + width]
    out: dict[str, Any] = {}
    on_grid: dict[str, list[str]] = {}  # path -> roles read as they are
    for role in roles:
        bf = scene.bands[role]
        src = open_cached(bf.path)
        if GeoBox.from_rio(src) == grid:
            on_grid.setdefault(bf.path, []).append(role)
            continue
        band = np.full((height, width), np.nan, dtype=np.float32)
        if not (
            resampling == "bilinear" and _kernel_upsample(src, bf.band, band, box, nodata=bf.nodata)
        ):
            _warp_into(
                src,
                bf.band,
                band,
                box,
                resampling=resampling,
                src_nodata=bf.nodata,
                dst_nodata=np.nan,
            )
        out[role] = band
    for path, group in on_grid.items():
        data = open_cached(path).read([scene.bands[r].band for r in group], window=_window(window))
        out.update(zip(group, data, strict=True))
    valid = None if scene.mask is None else _clear(scene, grid, window)
    return [out[r] for r in roles], valid


def _clear(scene: Scene, grid: Any, window: tuple[int, int, int, int]) -> Any:
    """Clear pixels of ``window`` of ``grid`` by the scene's mask rule (a bool array).

    The mask comes as it is where it is on ``grid``, else by nearest (classes), -1
    where it does not reach. With ``dilate`` it is read that many pixels around the
    window (-1 beyond the raster), and every unclear pixel inside the raster grows to
    a square of 2 x dilate + 1: so a window's pixels are those of the whole raster's
    dilated mask, whatever the window.
    """
    import numpy as np

    pad = scene.dilate
    _x0, _y0, width, height = window
    classes, clear = _padded_clear(scene, grid, window, pad)
    if not pad:
        return clear
    from scipy import ndimage

    unclear = ((classes != -1) & ~clear).astype(np.uint8)
    grown = ndimage.maximum_filter(unclear, size=2 * pad + 1, mode="constant", cval=0)
    return (clear & (grown == 0))[pad : pad + height, pad : pad + width]


def unclear_distance(
    scene: Scene, grid: Any, window: tuple[int, int, int, int], reach: float
) -> Any:
    """(height, width) float32: each pixel's Euclidean distance, in ``grid``'s CRS units,
    to the nearest pixel of the scene's mask that is not clear (before ``dilate``),
    ``reach`` where none is nearer; pixels off the mask raster are not unclear.

    On the mask's own pixels where the mask is coarser and on a lattice of ``grid`` (a
    Sentinel-2 SCL at 20 m under 10 m bands): a pixel takes the distance of the mask
    pixel its centre lies in (the one nearest resampling gives it), from that pixel's
    centre; a quarter of the pixels, and the transform ~10x faster than on the 10 m
    grid. Otherwise on ``grid``, from the mask as :func:`_clear` resamples it. The mask
    is read ``reach`` around the window either way, so a pixel's distance is that of
    the whole raster's mask, whatever the window (seamless tiles). No mask: ``reach``.
    """
    import math

    import numpy as np
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_cached

    _x0, _y0, width, height = window
    m = scene.mask
    if m is None:
        return np.full((height, width), reach, dtype=np.float32)
    mask_box = GeoBox.from_rio(open_cached(m.path))
    lattice = _coarser_lattice(mask_box, grid)
    if lattice is None:
        box, pad = grid, math.ceil(reach / min(abs(grid.affine.a), abs(grid.affine.e)))
        classes, clear = _padded_clear(scene, grid, window, pad)
        rows = np.arange(height) + pad
        cols = np.arange(width) + pad
    else:
        (kx, ox), (ky, oy) = lattice
        box = mask_box
        pad = math.ceil(reach / min(abs(box.affine.a), abs(box.affine.e)))
        x0, y0 = window[0], window[1]
        mc0, mr0 = (ox + x0) // kx, (oy + y0) // ky
        mc1, mr1 = (ox + x0 + width - 1) // kx + 1, (oy + y0 + height - 1) // ky + 1
        native = (mc0, mr0, mc1 - mc0, mr1 - mr0)
        classes, clear = _padded_clear(scene, box, native, pad)
        rows = (oy + y0 + np.arange(height)) // ky - mr0 + pad
        cols = (ox + x0 + np.arange(width)) // kx - mc0 + pad
    unclear = (classes != -1) & ~clear
    if not unclear.any():
        return np.full((height, width), reach, dtype=np.float32)
    from scipy import ndimage

    dx, dy = abs(box.affine.a), abs(box.affine.e)
    distance = ndimage.distance_transform_edt(~unclear, sampling=(dy, dx))
    return np.minimum(distance[np.ix_(rows, cols)], reach).astype(np.float32)


def _coarser_lattice(mask: Any, grid: Any) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """((kx, ox), (ky, oy)) when ``mask``'s pixels are whole multiples k of ``grid``'s,
    north-up in one CRS, and ``grid``'s edges lie on ``mask``'s lattice o grid pixels
    from its origin: grid pixel (col c) then lies in mask column (o + c) // k. None
    otherwise (the same grid included: that is the plain path)."""
    a, g = mask.affine, grid.affine
    if mask.crs != grid.crs or a.b or a.d or g.b or g.d or (a.a, a.e) == (g.a, g.e):
        return None
    out = []
    for m_res, g_res, m_org, g_org in ((a.a, g.a, a.c, g.c), (a.e, g.e, a.f, g.f)):
        k, o = m_res / g_res, (g_org - m_org) / g_res
        if k < 1 or abs(k - round(k)) > 1e-9 or abs(o - round(o)) > 1e-6:
            return None
        out.append((round(k), round(o)))
    return out[0], out[1]


def _padded_clear(
    scene: Scene, grid: Any, window: tuple[int, int, int, int], pad: int
) -> tuple[Any, Any]:
    """(mask values, clear) of ``window`` of ``grid`` and ``pad`` pixels around it, -1
    where the mask does not reach (see :func:`_clear`)."""
    import numpy as np
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_cached

    m = scene.mask
    assert m is not None
    x0, y0, width, height = window
    px0, py0, pw, ph = x0 - pad, y0 - pad, width + 2 * pad, height + 2 * pad
    src = open_cached(m.path)
    on_grid = GeoBox.from_rio(src) == grid
    if on_grid and not pad:
        classes = src.read(m.band, window=_window(window))
    elif on_grid:
        classes = np.full((ph, pw), -1, dtype=np.int64)
        cx0, cy0 = max(px0, 0), max(py0, 0)
        cx1, cy1 = min(px0 + pw, src.width), min(py0 + ph, src.height)
        if cx0 < cx1 and cy0 < cy1:
            classes[cy0 - py0 : cy1 - py0, cx0 - px0 : cx1 - px0] = src.read(
                m.band, window=_window((cx0, cy0, cx1 - cx0, cy1 - cy0))
            )
    else:
        from affine import Affine

        box = (
            grid[y0 : y0 + height, x0 : x0 + width]
            if not pad
            else GeoBox((ph, pw), grid.affine * Affine.translation(px0, py0), grid.crs)
        )
        classes = np.full((ph, pw), -1, dtype=np.int32)
        if not _kernel_nearest(src, m.band, classes, box):
            _warp_into(
                src, m.band, classes, box, resampling="nearest", src_nodata=None, dst_nodata=-1
            )
    return classes, _clear_by_rule(
        classes, scene.valid_classes, scene.known_classes, scene.invalid_bits, m.path
    )


def _clear_by_rule(
    classes: Any,
    valid: tuple[int, ...],
    known: tuple[int, ...] | None,
    invalid_bits: tuple[int, ...],
    path: str,
) -> Any:
    """Clear pixels of mask values ``classes`` (-1: off the mask, never clear) by the
    scene's rule: no listed bit set, or a class among ``valid``."""
    if invalid_bits:
        flags = sum(1 << b for b in invalid_bits)
        return (classes != -1) & ((classes & flags) == 0)
    return _valid_block(classes, valid=valid, known=known, path=path)


def clear_fraction(scene: Scene) -> float:
    """Share of the scene's mask pixels that are clear, over the pixels that hold data
    (neither the mask file's nodata value, when it has one, nor a ``scenes.mask.fill``
    value): FORCE's valid-fraction score. 1.0 without a mask. Read whole, block by
    block, once per scene and process."""
    m = scene.mask
    if m is None:
        return 1.0
    return _clear_fraction(
        m.path,
        m.band,
        scene.valid_classes,
        scene.known_classes,
        scene.invalid_bits,
        scene.fill_classes,
    )


@functools.lru_cache(maxsize=256)
def _clear_fraction(
    path: str,
    band: int,
    valid: tuple[int, ...],
    known: tuple[int, ...] | None,
    invalid_bits: tuple[int, ...],
    fill: tuple[int, ...],
) -> float:
    import numpy as np

    from rasterflow.io import open_cached

    src = open_cached(path)
    nodata = src.nodatavals[band - 1]
    clear_n = data_n = 0
    for _ij, win in src.block_windows(band):
        classes = src.read(band, window=win)
        has_data = np.ones(classes.shape, bool) if nodata is None else classes != nodata
        if fill:
            has_data &= ~np.isin(classes, fill)
        clear = _clear_by_rule(classes, valid, known, invalid_bits, path)
        clear_n += int((clear & has_data).sum())
        data_n += int(has_data.sum())
    return clear_n / data_n if data_n else 0.0


def _window(window: tuple[int, int, int, int]) -> Any:
    from rasterio.windows import Window

    return Window(*window)


def _kernel_upsample(src: Any, band: int, out: Any, box: Any, *, nodata: float | None) -> bool:
    """Bilinear ``band`` of ``src`` onto ``box`` into ``out`` through the compiled kernel
    of :mod:`rasterflow._warp_kernel`, GDAL's pixels bit for bit (its rule, the exact
    transformer of one CRS, source window and nodata as GDAL's warper sees them);
    False, with ``out`` untouched, where only GDAL gives GDAL's pixels (another CRS,
    validity in a mask band, a rotated grid, a finer source...).

    The GDAL warper set up per band and window was the largest single cost of a
    composite reading Sentinel-2's 20 m bands onto 10 m windows (30 % of its CPU,
    profiled in docs/benchmarks.md, third round).
    """
    import numpy as np
    from rasterio.enums import MaskFlags

    from rasterflow._warp_kernel import nodata_to_nan, warp

    flags = src.mask_flag_enums[band - 1]
    if MaskFlags.nodata not in flags and MaskFlags.all_valid not in flags:
        return False
    if nodata is None:
        nodata = src.nodatavals[band - 1]
    reach = _kernel_reach(src, box, nodata=nodata)
    if reach is None:
        return False
    kernel, gt, window = reach
    if window is None:
        return True  # no source pixel reaches: all NaN, as GDAL leaves it
    values = src.read(band, window=_window(window), out_dtype=np.float32)
    if nodata is not None and not np.isnan(nodata) and np.dtype(src.dtypes[band - 1]).kind in "iu":
        # whole numbers hold no NaN: NaN for nodata gives the same samples, faster
        nodata_to_nan(values, float(nodata))
        nodata = np.nan
    warp(
        *_kernel_source(values, window, kernel),
        np.nan if nodata is None else float(nodata),
        nodata is not None,
        gt,
        0,
        0,
        out,
    )
    return True


def _kernel_nearest(src: Any, band: int, out: Any, box: Any) -> bool:
    """The mask ``band`` of ``src`` onto ``box`` by nearest neighbour into ``out`` (-1
    where it does not reach) through the compiled kernel, GDAL's pixels bit for bit;
    False, ``out`` untouched, where only GDAL gives them (another CRS, a rotated grid).
    The mask's GDAL warper was the last one set up per window of a composite."""
    import numpy as np
    from odc.geo import xy_

    from rasterflow._warp_kernel import nearest
    from rasterflow.warp import FOUR_SAMPLE_SCALE

    # the scale only picks bilinear's kernel width: nearest has one rule at any scale
    reach = _kernel_reach(src, box, nodata=None, scale=xy_(FOUR_SAMPLE_SCALE, FOUR_SAMPLE_SCALE))
    if reach is None:
        return False
    kernel, gt, window = reach
    if window is None:
        return True  # no source pixel reaches: all -1, as GDAL leaves it
    values = src.read(band, window=_window(window)).astype(np.int32)
    nearest(
        *_kernel_source(values, window, kernel),
        gt,
        0,
        0,
        -1,
        out,
    )
    return True


def _kernel_reach(
    src: Any, box: Any, *, nodata: float | None, scale: Any = None
) -> tuple[Any, Any, tuple[int, int, int, int] | None] | None:
    """(the kernel's view of ``src``, ``box``'s geotransform, the source window its
    samples can touch or None) for a source in ``box``'s CRS; None where the kernel does
    not give GDAL's pixels (another CRS, a rotated grid, a source one pixel wide...).
    ``scale``: GDAL's XSCALE/YSCALE, by default ``warp.warp_scale`` of the two."""
    from odc.geo.geobox import GeoBox

    from rasterflow.composite import _kernel_for, _kernel_window, _tile_gt
    from rasterflow.warp import warp_scale

    source = GeoBox.from_rio(src)
    if source.crs != box.crs:
        return None
    kernel = _kernel_for(source, box, scale or warp_scale(source, box), nodata=nodata)
    if kernel is None:
        return None
    height, width = box.shape.yx
    gt = _tile_gt(box)
    return kernel, gt, _kernel_window(kernel, gt, (0, height), (0, width))


def _kernel_source(
    values: Any, window: tuple[int, int, int, int], kernel: Any
) -> tuple[Any, Any, int, int, int, Any]:
    """The compiled kernels' first arguments: the source pixels ``values`` read from
    ``window`` and the kernel's view of the source (:func:`_kernel_reach`)."""
    import numpy as np

    return (
        values.ravel(),
        np.asarray(window, dtype=np.int64),
        kernel.size[0],
        kernel.size[1],
        kernel.kind,
        np.asarray(kernel.params, dtype=np.float64),
    )


def _warp_into(
    src: Any,
    band: int,
    out: Any,
    box: Any,
    *,
    resampling: str,
    src_nodata: float | None,
    dst_nodata: float,
) -> None:
    import rasterio
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import Resampling, reproject

    from rasterflow.io import rasterio_dataset

    reproject(
        source=rasterio.band(rasterio_dataset(src), band),
        destination=out,
        src_nodata=src_nodata,
        dst_transform=box.affine,
        dst_crs=RioCRS.from_wkt(box.crs.to_wkt()),
        dst_nodata=dst_nodata,
        init_dest_nodata=False,
        resampling=Resampling[resampling],
        tolerance=0.0,  # exact: GDAL's approximation differs from window to window
        num_threads=1,  # Dask runs one task per core already
    )


def _valid_block(
    block: Any, *, valid: tuple[int, ...], known: tuple[int, ...] | None, path: str
) -> Any:
    """Whether each class in ``block`` is among ``valid`` (InputDataError for one outside
    ``known``, -1 = off the mask apart): by a look-up table in one compiled pass
    (:mod:`rasterflow._mask_kernel`) for the small whole numbers masks hold."""
    import numpy as np

    block = np.asarray(block)
    lo = int(block.min()) if block.size else 0
    hi = int(block.max()) if block.size else 0
    if block.ndim == 2 and block.dtype.kind in "iu" and lo >= -1 and hi < 1 << 16:
        from rasterflow._mask_kernel import clear_by_class

        shift = 1  # -1 at index 0
        table = np.zeros(hi + 2, dtype=np.bool_)
        for v in valid:
            if -1 <= v <= hi:
                table[v + 1] = True
        seen = np.zeros(hi + 2, dtype=np.bool_)
        clear = np.empty(block.shape, dtype=np.bool_)
        clear_by_class(block, table, shift, seen, clear)
        present = np.flatnonzero(seen) - shift
    else:
        present = np.unique(block)
        clear = np.isin(block, np.asarray(valid))
    if known is not None:
        unknown = np.setdiff1d(present, np.asarray([*known, -1]))
        if unknown.size:
            raise InputDataError(
                f"mask {path}: class value(s) {', '.join(map(str, unknown[:10]))} are not "
                "among scenes.mask.classes; add them there (and to scenes.mask.valid if "
                "they are clear pixels)"
            )
    return clear
