"""Mosaics: the tiles of one product as a VRT and as one COG, and general mosaics.

Tiles of the target grid share its pixel edges, so their mosaic copies pixels and has
no seams: :func:`build_vrt` writes a GDAL VRT whose sources are the tiles at integer
pixel offsets (what ``gdalbuildvrt`` writes for such inputs, built here in Python, so
no GDAL command-line tool is needed), and :func:`vrt_to_cog` turns it into one COG
with overviews, reading it window by window on Dask. :func:`run` does both for one
(period, index) product; on a grid of one tile, whose COG is already the mosaic's image,
it copies that file instead.

:func:`mosaic_rasters` is the general case: overlapping rasters, on any grids and
CRSs, warped onto one grid; where several cover a pixel the first valid one in
``inputs`` order wins.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import numpy as np
from rasterio.transform import Affine

from rasterflow.errors import ConfigError, InputDataError

if TYPE_CHECKING:
    from odc.geo.geobox import GeoBox

    #: a GeoBox, or its rasterflow.grid.geobox_to_params() dict (Snakemake params)
    GridLike = GeoBox | Mapping[str, Any]

log = logging.getLogger(__name__)

#: tag keys that describe one tile, not the mosaic (not carried over from the tiles)
_PER_TILE_TAGS = frozenset({"TILE", "N_SCENES", "AREA_OR_POINT"})
#: offsets within this many pixels of an integer count as on the grid
_GRID_TOL = 1e-6


def _gdal_type(dtype: np.dtype) -> str:
    names = {
        "uint8": "Byte",
        "int8": "Int8",
        "uint16": "UInt16",
        "int16": "Int16",
        "uint32": "UInt32",
        "int32": "Int32",
        "uint64": "UInt64",
        "int64": "Int64",
        "float32": "Float32",
        "float64": "Float64",
    }
    return names[np.dtype(dtype).name]


def _fmt(value: float) -> str:
    """A float for XML that round-trips exactly (``repr``), 'nan' for NaN."""
    return "nan" if math.isnan(value) else repr(float(value))


def _header(path: str) -> dict[str, Any]:
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_raster

    with open_raster(path, what="mosaic input") as src:
        return {
            "geobox": GeoBox.from_rio(src),
            "count": src.count,
            "dtype": np.dtype(src.dtypes[0]),
            "nodata": src.nodata,
            "blocks": src.block_shapes[0],
            "descriptions": src.descriptions,
            "tags": src.tags(),
            "band_tags": [src.tags(i) for i in range(1, src.count + 1)],
        }


def _offset(tile: GeoBox, grid: GeoBox, path: str) -> tuple[int, int]:
    """(row, col) of ``tile``'s top-left pixel in ``grid``; it must sit on the grid."""
    if tile.crs != grid.crs or not np.allclose(
        [tile.affine.a, tile.affine.b, tile.affine.d, tile.affine.e],
        [grid.affine.a, grid.affine.b, grid.affine.d, grid.affine.e],
        rtol=0,
        atol=1e-9 * abs(grid.affine.a),
    ):
        raise InputDataError(
            f"mosaic input {path}: its CRS or resolution differs from the target grid's; "
            "a tile mosaic copies pixels. Use mosaic_rasters() to warp other grids."
        )
    col, row = ~grid.affine @ (tile.affine.c, tile.affine.f)
    if abs(col - round(col)) > _GRID_TOL or abs(row - round(row)) > _GRID_TOL:
        raise InputDataError(
            f"mosaic input {path}: its pixels are offset from the target grid's by "
            f"({col - round(col):.3g}, {row - round(row):.3g}) pixels; tiles must share "
            "the grid's pixel edges. Use mosaic_rasters() to resample."
        )
    return round(row), round(col)


def _union_geobox(boxes: Sequence[GeoBox]) -> GeoBox:
    """The smallest GeoBox on ``boxes[0]``'s pixel grid that covers all ``boxes``."""
    from odc.geo.geobox import GeoBox

    from rasterflow.grid import crs_of

    first = boxes[0]
    rows, cols = [], []
    for b in boxes:
        pix = first.project(b.extent.to_crs(crs_of(first), resolution="auto")).boundingbox
        rows += [pix.bottom, pix.top]
        cols += [pix.left, pix.right]
    # round first: corners of boxes on the same grid come back as n +- 1e-9
    r0, r1 = math.floor(round(min(rows), 6)), math.ceil(round(max(rows), 6))
    c0, c1 = math.floor(round(min(cols), 6)), math.ceil(round(max(cols), 6))
    affine = first.affine @ Affine.translation(c0, r0)
    return GeoBox((r1 - r0, c1 - c0), affine, first.crs)


def build_vrt(
    inputs: Sequence[str],
    output: str | os.PathLike[str],
    *,
    geobox: GridLike | None = None,
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Write a VRT mosaic of rasters that lie on one grid and do not overlap (tiles).

    The VRT spans ``geobox`` (a GeoBox or its :func:`rasterflow.grid.geobox_to_params`
    dict; default: the union of the inputs), so mosaics of every period share one
    extent; pixels no tile covers read as nodata (0 when the tiles have none). Sources
    are referenced relative to the VRT, so the results folder can move. Band names and
    tags all tiles agree on are kept; ``tags`` and provenance tags are added.
    """
    from rasterflow.grid import crs_of, geobox_to_params
    from rasterflow.io import atomic_output, provenance_tags

    if not inputs:
        raise InputDataError(f"mosaic {output}: no input tiles; a mosaic needs at least one")
    paths = sorted(str(p) for p in inputs)
    heads, grid = _alike(paths, geobox, nodata_too=True, fix="mosaic tiles of one product only")
    first = heads[0]
    placed: list[tuple[str, dict[str, Any], int, int]] = []
    rects = np.empty((0, 4), dtype=np.int64)  # row0, row1, col0, col1 of placed inputs
    for p, h in zip(paths, heads, strict=True):
        row, col = _offset(h["geobox"], grid, p)
        ny, nx = h["geobox"].shape.yx
        if row < 0 or col < 0 or row + ny > grid.shape.y or col + nx > grid.shape.x:
            raise InputDataError(
                f"mosaic input {p}: reaches beyond the target grid (offset {row}, {col}, "
                f"size {ny} x {nx} in a {grid.shape.y} x {grid.shape.x} grid); pass the "
                "grid the tiles were cut from"
            )
        hit = (
            (rects[:, 0] < row + ny)
            & (row < rects[:, 1])
            & (rects[:, 2] < col + nx)
            & (col < rects[:, 3])
        )
        if hit.any():
            other = placed[int(np.argmax(hit))][0]
            raise InputDataError(
                f"mosaic input {p}: overlaps {other}; tiles of one grid never overlap. "
                "Use mosaic_rasters() for overlapping rasters."
            )
        rects = np.vstack([rects, [row, row + ny, col, col + nx]])
        placed.append((p, h, row, col))

    target = Path(output)
    prov = provenance_tags(inputs=paths, params={"mosaic": "vrt", "grid": geobox_to_params(grid)})
    all_tags = {**_common_tags([h["tags"] for h in heads]), **prov, **(tags or {})}
    root = ET.Element("VRTDataset", rasterXSize=str(grid.shape.x), rasterYSize=str(grid.shape.y))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = crs_of(grid).to_wkt()
    a = grid.affine
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        _fmt(v) for v in (a.c, a.a, a.b, a.f, a.d, a.e)
    )
    _metadata(root, all_tags)
    bx, by = 512, 512
    for band in range(1, first["count"] + 1):
        vb = ET.SubElement(
            root,
            "VRTRasterBand",
            dataType=_gdal_type(first["dtype"]),
            band=str(band),
            blockXSize=str(bx),
            blockYSize=str(by),
        )
        if first["nodata"] is not None:
            ET.SubElement(vb, "NoDataValue").text = _fmt(first["nodata"])
        names = {h["descriptions"][band - 1] or "" for h in heads}
        if len(names) == 1 and (name := names.pop()):
            ET.SubElement(vb, "Description").text = name
        band_tags = _common_tags([h["band_tags"][band - 1] for h in heads])
        if band_tags.get("UNITS"):
            ET.SubElement(vb, "UnitType").text = band_tags["UNITS"]  # what QGIS shows
        _metadata(vb, band_tags)
        for p, h, row, col in placed:
            # SimpleSource: a plain copy (tiles are disjoint, nothing to composite)
            src = ET.SubElement(vb, "SimpleSource")
            rel = os.path.relpath(os.path.abspath(p), os.path.abspath(target.parent))
            ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = rel
            ET.SubElement(src, "SourceBand").text = str(band)
            ny, nx = h["geobox"].shape.yx
            tby, tbx = h["blocks"]
            ET.SubElement(
                src,
                "SourceProperties",
                RasterXSize=str(nx),
                RasterYSize=str(ny),
                DataType=_gdal_type(h["dtype"]),
                BlockXSize=str(tbx),
                BlockYSize=str(tby),
            )
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(nx), ySize=str(ny))
            ET.SubElement(
                src, "DstRect", xOff=str(col), yOff=str(row), xSize=str(nx), ySize=str(ny)
            )
    ET.indent(root)
    with atomic_output(target) as tmp:
        tmp.write_bytes(ET.tostring(root, encoding="utf-8") + b"\n")
    log.info(
        "VRT of %d tile(s), %d x %d pixels, written to %s",
        len(paths),
        grid.shape.x,
        grid.shape.y,
        target,
    )
    return target


def _alike(
    paths: Sequence[str], geobox: GridLike | None, *, nodata_too: bool, fix: str
) -> tuple[list[dict[str, Any]], GeoBox]:
    """The inputs' headers, each checked to have the first's band count and data type
    (and nodata, with ``nodata_too``; ``fix`` ends the message), and the output grid:
    ``geobox``, else the first input's grid grown to cover all inputs."""
    from rasterflow.grid import geobox_from_params

    heads = [_header(p) for p in paths]
    first = heads[0]
    for p, h in zip(paths, heads, strict=True):
        same = (h["count"], h["dtype"]) == (first["count"], first["dtype"])
        if not same or (nodata_too and not _same_nodata(h["nodata"], first["nodata"])):
            ours = f"{h['count']} band(s) of {h['dtype']}"
            theirs = f"{first['count']} of {first['dtype']}"
            if nodata_too:
                ours, theirs = (
                    f"{ours}, nodata {h['nodata']}",
                    f"{theirs}, nodata {first['nodata']}",
                )
            raise InputDataError(f"mosaic input {p}: {ours}, unlike {paths[0]} ({theirs}); {fix}")
    grid = (
        geobox_from_params(geobox)
        if geobox is not None
        else _union_geobox([h["geobox"] for h in heads])
    )
    return heads, grid


def _same_nodata(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


def _metadata(parent: ET.Element, tags: Mapping[str, str]) -> None:
    if tags:
        md = ET.SubElement(parent, "Metadata")
        for k in sorted(tags):
            ET.SubElement(md, "MDI", key=k).text = str(tags[k])


def _common_tags(all_tags: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Tags every input has with the same value, except per-tile and provenance tags."""
    first, *rest = all_tags
    return {
        k: v
        for k, v in first.items()
        if k not in _PER_TILE_TAGS
        and not k.startswith("RASTERFLOW_")
        and all(t.get(k) == v for t in rest)
    }


def _read_window_block(*, path: str, block_info: Any = None) -> np.ndarray:
    import rasterio
    from rasterio.windows import Window

    (_, _), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    with rasterio.open(path) as src:
        return src.read(window=Window(c0, r0, c1 - c0, r1 - r0))


def vrt_to_cog(
    vrt: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    chunk: int = 1024,
    threads: int = 1,
) -> Path:
    """Write the mosaic ``vrt`` as one COG with overviews, its tags carried over.

    Windows of ``chunk`` x ``chunk`` pixels are read from the VRT on the active Dask
    scheduler, so memory stays at a few chunks whatever the mosaic's size.
    """
    import dask.array as da
    import rasterio
    from dask.base import tokenize

    from rasterflow.io import provenance_tags, write_cog

    with rasterio.open(vrt) as src:
        count, ny, nx = src.count, src.height, src.width
        dtype = np.dtype(src.dtypes[0])
        crs, transform, nodata = src.crs, src.transform, src.nodata
        tags = src.tags()
        names = list(src.descriptions)
        band_tags = [src.tags(i) for i in range(1, count + 1)]
    splits = [tuple(min(chunk, n - i) for i in range(0, n, chunk)) for n in (ny, nx)]
    arr = da.map_blocks(
        _read_window_block,
        dtype=dtype,
        chunks=((count,), *splits),
        name=f"mosaic-{tokenize(str(vrt), chunk)}",
        meta=np.empty((0, 0, 0), dtype=dtype),
        path=str(vrt),
    )
    inputs = json.loads(tags.get("RASTERFLOW_INPUTS", "[]"))
    prov = provenance_tags(inputs=inputs, params={"mosaic": "cog", "vrt": str(vrt)})
    out = write_cog(
        arr,
        output,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tags={**tags, **prov},
        band_names=names if any(names) else None,
        band_tags=band_tags,
        threads=threads,
    )
    log.info("mosaic COG %d x %d pixels written to %s", nx, ny, out)
    return out


def run(
    *,
    inputs: Sequence[str],
    vrt: str,
    cog: str | None = None,
    geobox: GridLike | None = None,
    chunk: int = 1024,
    threads: int = 1,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Mosaic the tile COGs of one product: ``vrt`` always, ``cog`` when given.

    ``geobox`` is the whole target grid (GeoBox or params dict), so that every period's
    mosaic has the same extent even when tiles are missing.
    """
    build_vrt(inputs, vrt, geobox=geobox, tags=tags)
    if cog is None:
        return
    if (whole := _whole_grid_cog(inputs, geobox)) is not None:
        _copy_cog(whole, cog)
    else:
        vrt_to_cog(vrt, cog, chunk=chunk, threads=threads)


def _whole_grid_cog(inputs: Sequence[str], geobox: GridLike | None) -> str | None:
    """The one input when it is a COG of exactly the grid ``geobox``, else None.

    Then the mosaic's pixels, nodata, band names and overviews are the tile's, which
    write_cog wrote with the mosaic's own options: re-encoding it (5.9 s a month,
    ~15 % of the end-to-end run of docs/benchmarks.md on a one-tile grid) would give
    the same image.
    """
    if len(inputs) != 1 or geobox is None:
        return None
    import rasterio

    from rasterflow.grid import geobox_from_params

    grid = geobox_from_params(geobox)
    head = _header(inputs[0])
    with rasterio.open(inputs[0]) as src:
        layout = src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")
    return inputs[0] if layout == "COG" and head["geobox"] == grid else None


def _copy_cog(tile: str, output: str | os.PathLike[str]) -> Path:
    """``tile``'s bytes as the mosaic COG (atomically). Its tags stay the tile's: the
    mosaic's provenance is then the scenes the tile was made from, and TILE names the
    grid's only tile."""
    import shutil

    from rasterflow.io import atomic_output

    target = Path(output)
    with atomic_output(target) as tmp:
        shutil.copyfile(tile, tmp)
    log.info("mosaic COG of the grid's one tile: %s copied to %s", tile, target)
    return target


def _mosaic_block(
    *,
    inputs: tuple[str, ...],
    grid: GeoBox,
    resampling: str,
    count: int,
    out_dtype: np.dtype,
    nodata: float | None,
    scales: tuple[Any, ...],
    block_info: Any = None,
) -> np.ndarray:
    """One chunk of :func:`mosaic_rasters`: first valid input wins, per pixel."""
    from rasterflow.warp import read_onto

    (_, _), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    box = grid[r0:r1, c0:c1]
    fill = nodata if nodata is not None else 0
    out = np.full((count, r1 - r0, c1 - c0), fill, dtype=out_dtype)
    todo = np.ones((r1 - r0, c1 - c0), dtype=bool)
    for path, scale in zip(inputs, scales, strict=True):
        if not todo.any():
            break
        # the warper's alpha band marks where this input has a valid pixel, with or
        # without a nodata value in the file
        data = read_onto(
            path, box, resampling=resampling, dtype=out_dtype, fill=fill, scale=scale, alpha=True
        )
        take = todo & (data[-1] > 0)
        out[:, take] = data[:-1, take]
        todo &= ~take
    return out


def mosaic_rasters(
    inputs: Sequence[str],
    output: str | os.PathLike[str],
    *,
    resampling: str = "nearest",
    geobox: GridLike | None = None,
    nodata: float | None = None,
    chunk: int = 1024,
    threads: int = 1,
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Mosaic overlapping rasters onto one grid as a COG: the first valid input wins.

    Each input is warped onto ``geobox`` (default: the first input's grid, CRS and
    pixel alignment, extended to cover all inputs) with ``resampling``. A pixel of an
    input is valid where GDAL's warper finds a valid source pixel under it (not the
    file's nodata in every band, inside its extent); all bands of an output pixel come
    from the first input, in ``inputs`` order, that is valid there. That is
    ``rasterio.merge``'s "first" rule, and ``gdalwarp`` with the inputs in reverse
    order (gdalwarp paints later inputs over earlier ones). Inputs must have the same
    band count and data type. Pixels no input covers get ``nodata`` (default: the
    first input's nodata; 0, recorded as no nodata, when it has none).
    """
    import dask.array as da
    from dask.base import tokenize

    from rasterflow.grid import crs_of, geobox_to_params
    from rasterflow.io import provenance_tags, write_cog
    from rasterflow.warp import RESAMPLING, warp_scale

    if not inputs:
        raise InputDataError(f"mosaic {output}: no inputs; give at least one raster")
    if resampling not in RESAMPLING:
        raise ConfigError(f"resampling: {resampling!r} is not one of {', '.join(RESAMPLING)}")
    heads, grid = _alike([str(p) for p in inputs], geobox, nodata_too=False, fix="convert it first")
    first = heads[0]
    if nodata is None:
        nodata = first["nodata"]
    scales = tuple(warp_scale(h["geobox"], grid) for h in heads)
    ny, nx = grid.shape.yx
    splits = [tuple(min(chunk, n - i) for i in range(0, n, chunk)) for n in (ny, nx)]
    paths = tuple(str(p) for p in inputs)
    arr = da.map_blocks(
        _mosaic_block,
        dtype=first["dtype"],
        chunks=((first["count"],), *splits),
        name=f"mosaic-rasters-{tokenize(paths, str(grid), resampling, nodata, chunk)}",
        meta=np.empty((0, 0, 0), dtype=first["dtype"]),
        inputs=paths,
        grid=grid,
        resampling=resampling,
        count=first["count"],
        out_dtype=first["dtype"],
        nodata=nodata,
        scales=scales,
    )
    prov = provenance_tags(
        inputs=list(paths),
        params={
            "mosaic": "rasters",
            "rule": "first valid",
            "resampling": resampling,
            "grid": geobox_to_params(grid),
            "nodata": nodata,
        },
    )
    names = list(first["descriptions"])
    out = write_cog(
        arr,
        output,
        crs=crs_of(grid).to_wkt(),
        transform=grid.affine,
        nodata=nodata,
        tags={**prov, **(tags or {})},
        band_names=names if any(names) else None,
        threads=threads,
    )
    log.info("mosaic of %d raster(s), %d x %d pixels, written to %s", len(paths), nx, ny, out)
    return out
