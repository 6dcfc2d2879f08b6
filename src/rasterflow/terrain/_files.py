"""Terrain products of files: a DEM's header (:func:`dem_info`), its lazy pixels
(:func:`open_dem`), and :func:`run`, which writes each product as a COG.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rasterflow.errors import ConfigError, InputDataError
from rasterflow.terrain._arrays import _check_product, terrain
from rasterflow.terrain._params import PRODUCTS, TerrainParams, pixel_spacing

# the package's name, as before the split: log lines keep their logger
logger = logging.getLogger("rasterflow.terrain")


@dataclass(frozen=True)
class DemInfo:
    """What :func:`run` needs to know about a DEM file, read without its pixels."""

    crs: Any
    transform: Any
    shape: tuple[int, int]
    dtype: str
    nodata: float | None
    height_units: str


def dem_info(path: str | os.PathLike[str]) -> DemInfo:
    """Georeferencing, nodata and height unit of band 1 of ``path``.

    A missing CRS is not an error here: :func:`pixel_spacing` decides whether the
    spacing can be known without one (an explicit ``scale``).
    """
    import rasterio

    if not os.path.exists(path):
        raise InputDataError(
            f"terrain DEM: file not found: {path}. Check the DEM path in the config."
        )
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputDataError(
            f"terrain DEM: {path} is not a readable raster ({exc}); replace it with a valid GeoTIFF"
        ) from None
    with src:
        return DemInfo(
            crs=src.crs,
            transform=src.transform,
            shape=(src.height, src.width),
            dtype=src.dtypes[0],
            nodata=src.nodata,
            height_units=src.units[0] or "",
        )


def open_dem(path: str | os.PathLike[str], *, chunk: int = 2048) -> tuple[Any, DemInfo]:
    """Band 1 of ``path`` as a lazy Dask array in ``chunk`` x ``chunk`` blocks, and its info.

    The graph holds xarray's file manager (a path and open arguments), never an open
    dataset, so it pickles to the workers of any cluster; ``lock=False`` because the
    DEM is only read and GDAL handles are not shared between threads.
    """
    import rioxarray
    import xarray

    if chunk < 3:
        raise ConfigError(f"terrain chunk: {chunk} is too small; use at least 3 (e.g. 1024)")
    info = dem_info(path)
    band = rioxarray.open_rasterio(
        path, chunks={"band": 1, "y": chunk, "x": chunk}, lock=False, masked=False, cache=False
    )
    assert isinstance(band, xarray.DataArray)  # one raster file opens as one DataArray
    return band.data[0], info


def _product_units(product: str, params: TerrainParams, height_units: str) -> str:
    if product == "slope":
        return params.slope_units
    if PRODUCTS[product].units == "height units":
        return height_units or "m"
    return PRODUCTS[product].units


def run(
    *,
    dem: str,
    outputs: Mapping[str, str],
    params: TerrainParams = TerrainParams(),
    chunk: int = 2048,
    threads: int = 1,
) -> None:
    """Compute terrain products of the DEM at ``dem`` and write each as a COG.

    ``outputs`` maps product names (see :data:`PRODUCTS`) to output paths. The DEM
    (band 1) is read lazily in ``chunk`` x ``chunk`` blocks, so memory stays bounded by
    the blocks in flight on the active Dask scheduler; ``threads`` goes to GDAL for
    compression. Float products are float32 with nodata -9999, hillshade uint8 with
    nodata 0; each carries provenance tags, a band description and a UNITS tag.
    """
    from rasterflow.io import Cog, provenance_tags, write_cogs

    if not outputs:
        raise ConfigError("terrain outputs: no product requested; map e.g. 'slope' to a path")
    for product in outputs:
        _check_product(product)
    heights, info = open_dem(dem, chunk=chunk)
    spacing = pixel_spacing(
        crs=info.crs,
        transform=info.transform,
        height=info.shape[0],
        scale=params.scale,
        height_units=info.height_units,
        source=str(dem),
    )
    logger.info(
        "terrain: %s, %d x %d pixels %s, nodata %s, spacing %s",
        dem,
        info.shape[1],
        info.shape[0],
        info.dtype,
        info.nodata,
        spacing.how,
    )
    cogs = []
    for product, path in outputs.items():
        tags = provenance_tags(
            inputs=[str(dem)],
            params={"product": product, "terrain": params.to_params(), "spacing": spacing.how},
        )
        units = _product_units(product, params, info.height_units)
        cogs.append(
            Cog(
                terrain(heights, product, spacing=spacing, params=params, nodata=info.nodata),
                path,
                crs=info.crs,
                transform=info.transform,
                nodata=PRODUCTS[product].nodata,
                tags={**tags, "PRODUCT": product},
                band_names=[product],
                band_tags=[{"PRODUCT": product, "UNITS": units}],
            )
        )
    # one pass over the DEM for all products: each block is read once, not per product
    write_cogs(cogs, threads=threads)
    for cog in cogs:
        logger.info(
            "terrain %s (%s) written to %s",
            (cog.band_names or [""])[0],
            (cog.band_tags or [{}])[0].get("UNITS"),
            cog.path,
        )
