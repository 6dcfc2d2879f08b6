"""Raster I/O: atomic outputs, Cloud-Optimized GeoTIFF writing, provenance tags.

Writing happens in two passes. Dask stores blocks in parallel into an uncompressed,
tiled scratch GeoTIFF (cheap, and memory stays bounded by the chunks in flight); then
GDAL's COG driver compresses it and builds overviews with ``NUM_THREADS`` threads.
That avoids rioxarray's single write lock, under which compression runs on one core.
Both files live next to the target and the finished COG is renamed into place, so a
killed job never leaves a file that looks complete.
"""

from __future__ import annotations

import glob
import json
import os
import platform
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window

from rasterflow import __version__
from rasterflow.errors import InputDataError

#: Creation options of every raster product (documented in README, "Outputs").
COG_OPTIONS: dict[str, str] = {
    "COMPRESS": "DEFLATE",
    "LEVEL": "6",
    "BLOCKSIZE": "512",
    "OVERVIEWS": "AUTO",
    "OVERVIEW_RESAMPLING": "AVERAGE",
    "BIGTIFF": "IF_SAFER",
}


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    The temporary name starts with a dot and carries the process id, so concurrent or
    killed writers never collide and Snakemake never mistakes it for the product.
    """
    target = Path(path)
    with scratch_beside(target, suffix=f".tmp{target.suffix}") as tmp:
        yield tmp
        os.replace(tmp, target)


@contextmanager
def scratch_beside(path: str | os.PathLike[str], *, suffix: str) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that is always removed afterwards.

    Same-suffix leftovers of a writer killed with SIGKILL (no ``finally`` ran) are
    removed first: Snakemake never runs two jobs for one output, so any found now is
    stale. Other suffixes are other writers' and are left alone.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*{glob.escape(suffix)}"):
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}{suffix}")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def software_versions() -> dict[str, str]:
    """Versions that determine product bytes (no host names, no times: see determinism)."""
    import dask
    import xarray

    return {
        "rasterflow": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "dask": dask.__version__,
        "xarray": xarray.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
    }


def provenance_tags(*, inputs: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
    """Dataset-level GeoTIFF tags recording where a product came from."""
    return {
        "RASTERFLOW_INPUTS": json.dumps([str(p) for p in inputs]),
        "RASTERFLOW_PARAMS": json.dumps(params, sort_keys=True, default=str),
        "RASTERFLOW_SOFTWARE": json.dumps(software_versions(), sort_keys=True),
    }


def _band_stack(data: Any) -> Any:
    """View a 2-D array as (1, y, x); leave (band, y, x) alone."""
    if data.ndim == 2:
        return data[None, ...]
    if data.ndim != 3:
        raise ValueError(f"expected a 2-D or 3-D array, got {data.ndim} dimensions")
    return data


class _WindowWriter:
    """``da.store`` target writing each block into a GeoTIFF, opened anew per block.

    It holds a path and a lock, not an open dataset, so that it pickles to the workers
    of any Dask cluster; the lock is a ``distributed.Lock`` when a cluster is running
    (worker processes share one GeoTIFF) and a plain lock otherwise.
    """

    def __init__(self, path: Path, shape: tuple[int, int, int], dtype: np.dtype) -> None:
        self.path = str(path)
        self.shape = shape
        self.dtype = dtype
        self.ndim = 3
        try:
            from distributed import Lock, get_client

            get_client()
            self.lock: Any = Lock(f"rasterflow-write-{self.path}")
        except (ImportError, ValueError):
            from dask.utils import SerializableLock

            self.lock = SerializableLock()

    def __setitem__(self, key: tuple[slice, slice, slice], block: np.ndarray) -> None:
        bands, rows, cols = key
        window = Window.from_slices(rows, cols, height=self.shape[1], width=self.shape[2])
        indexes = list(range(bands.start + 1, bands.stop + 1))
        with self.lock, rasterio.open(self.path, "r+") as dst:
            dst.write(block, indexes=indexes, window=window)


def write_cog(
    data: Any,
    path: str | os.PathLike[str],
    *,
    crs: CRS | str,
    transform: Affine,
    nodata: float | int | None,
    tags: Mapping[str, str] | None = None,
    band_names: Sequence[str] | None = None,
    band_tags: Sequence[Mapping[str, str]] | None = None,
    threads: int = 1,
    options: Mapping[str, str] | None = None,
) -> Path:
    """Write a 2-D or (band, y, x) NumPy or Dask array as a Cloud-Optimized GeoTIFF.

    Dask arrays are computed block by block on the active scheduler (the step's
    ``dask_client``); ``threads`` is given to GDAL for compression and overviews.
    """
    import dask.array as da

    stack = _band_stack(data)
    count, height, width = stack.shape
    dtype = np.dtype(stack.dtype)
    target = Path(path)
    with atomic_output(target) as tmp, scratch_beside(target, suffix=".scratch.tif") as scratch:
        profile = {
            "driver": "GTiff",
            "width": width,
            "height": height,
            "count": count,
            "dtype": dtype.name,
            "crs": CRS.from_user_input(crs),
            "transform": transform,
            "nodata": nodata,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "BIGTIFF": "IF_SAFER",
        }
        with rasterio.open(scratch, "w", **profile) as dst:
            if not isinstance(stack, da.Array):
                dst.write(np.asarray(stack))
        if isinstance(stack, da.Array):
            da.store(stack, _WindowWriter(scratch, stack.shape, dtype), lock=False)
        with rasterio.open(scratch, "r+") as dst:
            if tags:
                dst.update_tags(**tags)
            for i in range(count):
                if band_names:
                    dst.set_band_description(i + 1, band_names[i])
                if band_tags and band_tags[i]:
                    dst.update_tags(i + 1, **band_tags[i])
        creation = {**COG_OPTIONS, **(options or {}), "NUM_THREADS": str(max(1, threads))}
        if dtype.kind == "f":
            creation.setdefault("PREDICTOR", "YES")
        rasterio.shutil.copy(scratch, tmp, driver="COG", **creation)
    return target


def check_raster(path: str | os.PathLike[str], *, what: str) -> None:
    """Raise InputDataError unless ``path`` opens as a georeferenced raster."""
    p = Path(path)
    if not p.exists():
        raise InputDataError(f"{what}: file not found: {p}. Check the path in the scene sheet.")
    try:
        with rasterio.open(p) as src:
            crs = src.crs
    except rasterio.errors.RasterioIOError as exc:
        raise InputDataError(
            f"{what}: {p} is not a readable raster ({exc}). "
            "Replace it with a valid GeoTIFF/JP2, or remove it from the scene sheet."
        ) from None
    if crs is None:
        raise InputDataError(
            f"{what}: {p} has no CRS. Assign one, e.g. gdal_edit.py -a_srs EPSG:32633 '{p}'."
        )
