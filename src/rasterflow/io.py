"""Raster I/O: Cloud-Optimized GeoTIFF writing, provenance tags, reading and checking inputs.

Writing happens in two passes. Dask stores blocks in parallel into an uncompressed,
tiled scratch GeoTIFF (cheap, and memory stays bounded by the chunks in flight), and
GDAL adds its overviews there on one thread; then GDAL's COG driver compresses it with
``NUM_THREADS`` threads. Several products of one job are finished side by side, one
per thread. That avoids rioxarray's single write lock, under which compression runs on
one core, and the COG driver's own overview step, which goes through a temporary file
of its own, largely on one thread (it took longer than the full-resolution image on a
10980² scene; docs/benchmarks.md). Both files live next to the target and the finished
COG is renamed into place (:mod:`rasterflow.atomic`), so a killed job never leaves a
file that looks complete.

Reading is the other half: :func:`open_raster` and :func:`check_raster` open an input
only once it proves a whole, georeferenced raster (a truncated copy is found from the
header), :func:`open_cached` keeps a thread's datasets open for GDAL's block cache.
One module for both directions of raster files through GDAL (~700 lines): they share
GDAL's environment, the remote options and the error translation, and most jobs
import both halves.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.enums import Interleaving, Resampling
from rasterio.transform import Affine
from rasterio.windows import Window

# atomic_output: mosaic.py and quicklook.py import it from here too
from rasterflow.atomic import atomic_output, scratch_beside
from rasterflow.errors import InputDataError
from rasterflow.remote import is_remote, open_options
from rasterflow.versions import software_versions

#: Creation options of every raster product (documented in README, "Outputs").
#: ZSTD level 1 with a predictor: on float32 products it is as small as DEFLATE level 6
#: (within 3 %) at a fifth of the CPU time (docs/benchmarks.md); every GDAL since 2.3
#: reads it, QGIS included.
COG_OPTIONS: dict[str, str] = {
    "COMPRESS": "ZSTD",
    "LEVEL": "1",
    "PREDICTOR": "YES",
    "BLOCKSIZE": "512",
    "OVERVIEWS": "AUTO",
    "OVERVIEW_RESAMPLING": "AVERAGE",
    "BIGTIFF": "IF_SAFER",
}
_BLOCK = int(COG_OPTIONS["BLOCKSIZE"])


def overview_factors(width: int, height: int, *, block: int = _BLOCK) -> list[int]:
    """The levels GDAL's COG driver would make: halve (rounding down) until one block holds it."""
    factors: list[int] = []
    while width > block or height > block:
        width, height = width // 2, height // 2
        factors.append(2 ** (len(factors) + 1))
    return factors


def portable_path(path: str | os.PathLike[str]) -> str:
    """``path`` as product bytes record it: relative to the working directory when inside.

    Snakemake runs in the project's directory, so a project (inputs and results) moved
    or copied elsewhere records the same relative paths and its products keep their
    bytes. Paths outside it (shared data such as /data/dem.vrt) stay absolute: they do
    not move with the project, and a relative form would change with its location.
    """
    text = os.fspath(path)
    if not os.path.isabs(text):
        return text
    relative = os.path.relpath(text, os.getcwd())
    return text if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def _portable_params(value: Any) -> Any:
    """``value`` with every absolute path string under the working directory made relative."""
    if isinstance(value, Mapping):
        return {k: _portable_params(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_portable_params(v) for v in value]
    if isinstance(value, str | os.PathLike) and os.path.isabs(value):
        return portable_path(value)
    return value


def provenance_tags(*, inputs: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
    """Dataset-level GeoTIFF tags recording where a product came from.

    Paths are recorded by :func:`portable_path`, so the bytes do not depend on where
    the project lives (docs/reliability.md, determinism).
    """
    return {
        "RASTERFLOW_INPUTS": json.dumps([portable_path(p) for p in inputs]),
        "RASTERFLOW_PARAMS": json.dumps(_portable_params(params), sort_keys=True, default=str),
        "RASTERFLOW_SOFTWARE": json.dumps(software_versions(), sort_keys=True),
    }


def _band_stack(data: Any) -> Any:
    """View a 2-D array as (1, y, x); leave (band, y, x) alone."""
    if data.ndim == 2:
        return data[None, ...]
    if data.ndim != 3:
        raise ValueError(f"expected a 2-D or 3-D array, got {data.ndim} dimensions")
    return data


class WindowWriter:
    """``da.store`` target writing each block into a GeoTIFF, opened anew per block.

    It holds a path and a lock, not an open dataset, so that it pickles to the workers
    of any Dask cluster. The lock is a ``distributed.Lock`` when worker processes share
    the GeoTIFF, and a plain lock when the tasks run in this process (no cluster, or the
    threads of the default ``dask_client``): each ``distributed.Lock`` acquire and
    release is a round trip through the scheduler's event loop, and at 10980² those
    waits took more thread time than the NDVI arithmetic (docs/benchmarks.md).
    """

    def __init__(self, path: Path, shape: tuple[int, int, int], dtype: np.dtype) -> None:
        self.path = str(path)
        self.shape = shape
        self.dtype = dtype
        self.ndim = 3
        self.lock: Any = _write_lock(self.path)

    def __setitem__(self, key: tuple[slice, slice, slice], block: np.ndarray) -> None:
        bands, rows, cols = key
        window = Window.from_slices(rows, cols, height=self.shape[1], width=self.shape[2])
        indexes = list(range(bands.start + 1, bands.stop + 1))
        with self.lock, rasterio.open(self.path, "r+") as dst:
            dst.write(block, indexes=indexes, window=window)


def _write_lock(path: str) -> Any:
    """A lock that every task writing ``path`` sees: see :class:`WindowWriter`."""
    from dask.utils import SerializableLock

    from rasterflow.cluster import active_client, workers_in_this_process

    client = active_client()
    if client is None or workers_in_this_process(client):
        return SerializableLock()
    from distributed import Lock

    return Lock(f"rasterflow-write-{path}")


@dataclass(frozen=True)
class Cog:
    """One raster product to write: its pixels and what a reader needs to know of them.

    ``data`` is a 2-D or (band, y, x) NumPy or Dask array; ``band_tags`` may carry a
    ``UNITS`` entry, which also becomes the band's GDAL unit type (what QGIS shows).
    """

    data: Any
    path: str | os.PathLike[str]
    crs: CRS | str
    transform: Affine
    nodata: float | int | None
    tags: Mapping[str, str] | None = None
    band_names: Sequence[str] | None = None
    band_tags: Sequence[Mapping[str, str]] | None = None


def write_cog(
    data: Any,
    path: str | os.PathLike[str],
    *,
    crs: CRS | str,
    transform: Affine,
    nodata: float | None,
    tags: Mapping[str, str] | None = None,
    band_names: Sequence[str] | None = None,
    band_tags: Sequence[Mapping[str, str]] | None = None,
    threads: int = 1,
    options: Mapping[str, str] | None = None,
) -> Path:
    """Write one array as a Cloud-Optimized GeoTIFF (see :func:`write_cogs`)."""
    cog = Cog(
        data,
        path,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tags=tags,
        band_names=band_names,
        band_tags=band_tags,
    )
    return write_cogs([cog], threads=threads, options=options)[0]


def write_cogs(
    cogs: Sequence[Cog],
    *,
    threads: int = 1,
    options: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write arrays as Cloud-Optimized GeoTIFFs, all or none.

    Dask arrays are computed block by block on the active scheduler (the step's
    ``dask_client``), all of them in one pass: products that share inputs (slope and
    aspect of one DEM, a composite and its count) read and compute those once.
    ``threads`` is given to GDAL for compression, and bounds how many products are
    finished (overviews, then the COG copy) side by side. Nothing is renamed into place
    unless every product was written.
    """
    import dask.array as da

    with ExitStack() as stack:
        stored, targets, scratches = [], [], []
        for cog in cogs:
            target = Path(cog.path)
            tmp = stack.enter_context(atomic_output(target, sync=False))
            scratch = stack.enter_context(scratch_beside(target, suffix=".scratch.tif"))
            stack_ = _band_stack(cog.data)
            _create_scratch(scratch, stack_, cog)
            if isinstance(stack_, da.Array):
                stored.append((stack_, WindowWriter(scratch, stack_.shape, stack_.dtype)))
            targets.append((target, tmp))
            scratches.append(scratch)
        if stored:
            sources, writers = zip(*stored, strict=True)
            da.store(list(sources), list(writers), lock=False)
        creation = {**COG_OPTIONS, **(options or {}), "NUM_THREADS": str(max(1, threads))}
        jobs = [
            (cog, scratch, tmp)
            for cog, scratch, (_target, tmp) in zip(cogs, scratches, targets, strict=True)
        ]
        _finish_all(jobs, side_by_side=min(max(1, threads), len(jobs)), creation=creation)
    return [target for target, _tmp in targets]


def _finish_all(
    jobs: Sequence[tuple[Cog, Path, Path]], *, side_by_side: int, creation: Mapping[str, str]
) -> None:
    """Overviews, tags and the COG copy of each (cog, scratch, tmp), ``side_by_side`` at once.

    Overviews run on one GDAL thread each, so with one product they are serial: GDAL's
    threaded overviews were no faster there and cost up to 0.85 s more CPU at 10980²
    (docs/benchmarks.md, COG writing). Several products (terrain's, a composite and its
    count) overlap instead, each in its own thread (rasterio releases the GIL in GDAL);
    their copies share GDAL's one compression pool of ``NUM_THREADS`` threads. Files are
    independent, so the bytes do not depend on the order in which they finish.
    """

    def finish(job: tuple[Cog, Path, Path]) -> None:
        cog, scratch, tmp = job
        _finish_scratch(scratch, cog)
        rasterio.shutil.copy(scratch, tmp, driver="COG", **creation)

    # the cache is process-wide: room for the products streamed at the same time
    cache = side_by_side * max(streaming_cache_bytes(_band_stack(c.data)) for c, _, _ in jobs)
    with gdal_cache_at_most(cache):
        if side_by_side == 1:
            for job in jobs:
                finish(job)
            return
        with ThreadPoolExecutor(side_by_side, thread_name_prefix="rasterflow-cog") as pool:
            for done in [pool.submit(finish, job) for job in jobs]:
                done.result()  # the first failure, after every product has stopped


def streaming_cache_bytes(data: Any, *, floor: int = 64 * 2**20) -> int:
    """GDAL block cache enough for overviews and the COG copy of ``data`` (band, y, x).

    Both stream through the uncompressed scratch file once, so a block read or written
    is never wanted again after its row of blocks is done; two rows of blocks are kept,
    at least ``floor`` bytes. A cache the size of the job's (up to 512 MiB) was filled
    with fresh pages in each pass: 0.5-0.8 s of page faults at 10980² for nothing
    (docs/benchmarks.md, COG writing).
    """
    count, _height, width = data.shape
    row_of_blocks = count * width * _BLOCK * np.dtype(data.dtype).itemsize
    return max(floor, 2 * row_of_blocks)


@contextmanager
def gdal_cache_at_most(limit: int) -> Iterator[None]:
    """Lower GDAL's block cache (process-wide) to ``limit`` bytes inside the block.

    Never raises it: the job's cap (``rasterflow.cluster``) stays an upper bound.
    """
    from rasterio.env import get_gdal_config, set_gdal_config

    before = int(get_gdal_config("GDAL_CACHEMAX"))
    set_gdal_config("GDAL_CACHEMAX", min(before, limit))
    try:
        yield
    finally:
        set_gdal_config("GDAL_CACHEMAX", before)


def _create_scratch(scratch: Path, data: Any, cog: Cog) -> None:
    """An uncompressed tiled GeoTIFF for ``data``; NumPy data is written right away."""
    import dask.array as da

    count, height, width = data.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": np.dtype(data.dtype).name,
        "crs": CRS.from_user_input(cog.crs),
        "transform": cog.transform,
        "nodata": cog.nodata,
        "tiled": True,
        "blockxsize": _BLOCK,
        "blockysize": _BLOCK,
        "BIGTIFF": "IF_SAFER",
        # the store writes every tile; without this GDAL first fills them all with
        # nodata (NaN, -9999: real writes of the whole raster), 0.35 s of one core at 10980²
        "SPARSE_OK": True,
    }
    with rasterio.open(scratch, "w", **profile) as dst:
        if not isinstance(data, da.Array):
            dst.write(np.asarray(data))


def _finish_scratch(scratch: Path, cog: Cog) -> None:
    """Overviews (GDAL, one thread: see :func:`_finish_all`), tags, band names and units."""
    with rasterio.Env(GDAL_NUM_THREADS="1"), rasterio.open(scratch, "r+") as dst:
        factors = overview_factors(dst.width, dst.height)
        if factors:
            dst.build_overviews(factors, Resampling.average)
        if cog.tags:
            dst.update_tags(**cog.tags)
        for i in range(dst.count):
            if cog.band_names:
                dst.set_band_description(i + 1, cog.band_names[i])
            if cog.band_tags and cog.band_tags[i]:
                dst.update_tags(i + 1, **cog.band_tags[i])
                # GDAL's unit type is what QGIS and gdalinfo show as the band's unit
                if cog.band_tags[i].get("UNITS"):
                    dst.set_band_unit(i + 1, cog.band_tags[i]["UNITS"])
        # values are physical already: say so rather than leave readers guessing
        dst.scales, dst.offsets = (1.0,) * dst.count, (0.0,) * dst.count


@contextmanager
def open_raster(
    path: str | os.PathLike[str], *, what: str, where: str = "the scene sheet"
) -> Iterator[Any]:
    """``path`` opened with rasterio, once it has proved a whole, georeferenced raster;
    InputDataError otherwise.

    Only the header is read (cheap enough for the DAG build); for GeoTIFFs the block
    table is compared with the file size, which finds a truncated copy or download.
    ``where`` names what to fix when the file is missing (the scene sheet, a config key).
    Callers read what they need from the same handle: opening a file costs ~0.5 ms,
    which thousands of scenes multiply.
    """
    remote = is_remote(path)
    p: Any = str(path) if remote else Path(path)
    if remote and where == "the scene sheet":
        where = "the scene sheet or STAC catalog"  # URLs come from either
    if not remote and not p.exists():
        raise InputDataError(f"{what}: file not found: {p}. Check the path in {where}.")
    with ExitStack() as stack:
        try:
            # GDAL lists the file's folder on open to find side-car files; in a folder
            # of 100,000 scenes that listing cost 0.7 ms an open, more than the open
            # (0.6 ms), so a first dry run grew with the square of the scenes. Without
            # it GDAL still finds side-cars, by one stat() per candidate name.
            with rasterio.Env(**open_options(p)):
                src = stack.enter_context(rasterio.open(p))
            # a remote file's size is the server's: a truncated upload shows as a
            # failed block read in the job, which names the file
            missing = 0 if remote else _bytes_missing(src, size=p.stat().st_size)
        except rasterio.errors.RasterioError as exc:
            if remote and p.startswith("s3://"):
                raise InputDataError(
                    f"{what}: {p} cannot be read from S3 ({exc}). Check the URL in "
                    f"{where}, and the AWS credentials (AWS_ACCESS_KEY_ID, ~/.aws, or "
                    "AWS_NO_SIGN_REQUEST=YES for a public bucket), AWS_REGION and, for "
                    "another S3-compatible store, AWS_S3_ENDPOINT."
                ) from None
            if remote:
                raise InputDataError(
                    f"{what}: {p} cannot be read over HTTP ({exc}). Check the URL in "
                    f"{where} and that its server answers from this machine."
                ) from None
            raise InputDataError(
                f"{what}: {p} is not a readable raster ({exc}). "
                f"Replace it with a valid GeoTIFF/JP2, or remove it from {where}."
            ) from None
        if missing:
            raise InputDataError(
                f"{what}: {p} is truncated: its blocks need {missing} more bytes than the "
                "file has (an interrupted copy or download?). Copy or download it again."
            )
        zeroed = _zeroed_block(src, p)
        if zeroed:
            band, x, y = zeroed
            rows = src.block_shapes[0][0]
            raise InputDataError(
                f"{what}: {p} is damaged: block ({x}, {y}) of band {band} (rows {y * rows}-"
                f"{min(src.height, (y + 1) * rows) - 1}) holds only zero bytes where "
                "compressed data must be (an unfinished or preallocated download?). "
                "Download or copy it again."
            )
        if src.crs is None:
            gcps, gcp_crs = src.gcps
            if gcps:
                code = gcp_crs.to_epsg() if gcp_crs is not None else None
                raise InputDataError(
                    f"{what}: {p} is georeferenced only by {len(gcps)} ground control "
                    "points (GCPs), without a geotransform, so it has no grid to read "
                    "onto. Warp it first and use the warped file, e.g. gdalwarp -t_srs "
                    f"EPSG:{code or 'xxxx'} '{p}' warped.tif"
                )
            raise InputDataError(
                f"{what}: {p} has no CRS. Assign one, e.g. gdal_edit.py -a_srs EPSG:32633 '{p}'."
            )
        yield src


def check_raster(
    path: str | os.PathLike[str], *, what: str, where: str = "the scene sheet"
) -> None:
    """Raise InputDataError unless ``path`` is a whole, georeferenced raster
    (:func:`open_raster`, for a caller that needs nothing from its header)."""
    with open_raster(path, what=what, where=where):
        pass


def _bytes_missing(src: Any, *, size: int) -> int:
    """Bytes past the end of file that a GeoTIFF's first/last blocks point to (0 if none).

    Other drivers, and sparse blocks (no offset), are not checked.
    """
    if src.driver != "GTiff":
        return 0
    rows, cols = src.block_shapes[0]
    last_x, last_y = (src.width - 1) // cols, (src.height - 1) // rows
    end = 0
    for band in {1, src.count}:
        for x, y in ((0, 0), (last_x, last_y)):
            offset = src.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=band)
            length = src.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=band)
            if offset and length:
                end = max(end, int(offset) + int(length))
    return max(0, end - size)


#: Blocks of a compressed GeoTIFF whose first bytes are checked at the DAG build
_ZERO_SAMPLES = 8
#: Codecs whose every block starts with a non-zero header byte (zlib 0x78, zstd 0x28,
#: LZW's clear code, JPEG 0xFF, LERC "Lerc", LZMA/xz, WebP "RIFF", JPEG-XL): a block of
#: them that starts with zeros was never written. Uncompressed and PackBits blocks may
#: be zeros, and are not checked.
_HEADED_CODECS = {
    "DEFLATE",
    "ADOBE_DEFLATE",
    "ZSTD",
    "LZW",
    "JPEG",
    "LERC",
    "LERC_DEFLATE",
    "LERC_ZSTD",
    "LZMA",
    "WEBP",
    "JXL",
}


def _zeroed_block(src: Any, path: Path) -> tuple[int, int, int] | None:
    """(band, x, y) of a sampled block of a compressed GeoTIFF that starts with 8 zero
    bytes, or None.

    A preallocated download (aria2, browsers) has the file's final size from the start
    and zeros where nothing has arrived yet; an interrupted one keeps them. The header
    (the start of the file) is whole, so the truncation check passes, and GDAL's
    "Read failed" an hour into the run would be the first sign. ``_ZERO_SAMPLES``
    blocks spread through the file are read (8 bytes each: ~20 us for a local file, and
    headers are cached); a hole between samples is found by the job
    (:func:`explain_read_failure`).
    """
    if (
        src.driver != "GTiff"
        or (src.compression is None)
        or (src.compression.name.upper() not in _HEADED_CODECS)
    ):
        return None
    rows, cols = src.block_shapes[0]
    across, down = -(-src.width // cols), -(-src.height // rows)
    separate = src.interleaving == Interleaving.band
    bands = src.count if separate else 1
    total = across * down * bands
    n = min(total, _ZERO_SAMPLES)
    picks = sorted({round(i * (total - 1) / max(1, n - 1)) for i in range(n)})
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        for k in picks:
            band, rest = divmod(k, across * down)
            y, x = divmod(rest, across)
            offset = src.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=band + 1)
            length = src.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=band + 1)
            if not offset or not length:
                continue  # a sparse block: no data was ever meant to be there
            head = os.pread(fd, min(8, int(length)), int(offset))
            if head and not any(head):
                return band + 1, x, y
    finally:
        os.close(fd)
    return None


@dataclass(frozen=True)
class Damage:
    """Where a raster first fails to decode."""

    band: int
    window: Window
    reason: str


def find_damaged(path: str | os.PathLike[str]) -> Damage | None:
    """The first block of ``path`` that GDAL cannot decode, or None when all decode.

    Reads the whole file: for the failure path of a job only (:func:`explain_read_failure`).
    """
    try:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="TRUE"), rasterio.open(path) as src:
            for band in range(1, src.count + 1):
                for _ij, window in src.block_windows(band):
                    try:
                        src.read(band, window=window)
                    except rasterio.errors.RasterioError as exc:
                        reasons = [str(e) for e in (exc.__cause__, exc) if e is not None]
                        return Damage(band, window, reasons[0])
    except rasterio.errors.RasterioError:
        return None  # it does not even open: not a file this job read
    return None


#: what GDAL's exceptions say when decoding a block failed (the cause, naming the file
#: and block, is lost when a Dask worker sends the exception back)
_READ_FAILED = (
    "Read failed",
    "IReadBlock failed",
    "TIFFReadEncoded",
    "Decoding error",
    "Read error at",
)


def explain_read_failure(exc: BaseException, *, inputs: Mapping[str, str]) -> BaseException:
    """An InputDataError naming the damaged input when ``exc`` is a failed block read.

    ``inputs``: path -> what it is in messages ("scene 's1'"). Each is decoded in full
    until one fails (the failure path only); ``exc`` itself when none does.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if not any(marker in str(e) for e in chain for marker in _READ_FAILED):
        return exc
    for path, what in inputs.items():
        if not os.path.isfile(path):
            continue
        damage = find_damaged(path)
        if damage is None:
            continue
        w = damage.window
        return InputDataError(
            f"{what}: {path} is damaged at band {damage.band}, rows {w.row_off}-"
            f"{w.row_off + w.height - 1}, columns {w.col_off}-{w.col_off + w.width - 1} "
            f"(GDAL: {damage.reason}): the file is incomplete or corrupt (an unfinished "
            "download?). Download or copy it again."
        )
    return exc


def vector_layer(
    path: str | os.PathLike[str], layer: str | int | None, *, key: str
) -> str | int | None:
    """The layer of vector file ``path`` to read: ``layer``, or None for a one-layer file.

    Raises InputDataError when ``layer`` is empty and the file holds several layers
    (OGR would silently take the first: a GeoPackage of zones and of roads gives the
    statistics of whichever was saved first), or when ``layer`` is not among them.
    ``key`` is the config key that names the layer (``zonal.layer``). Files OGR cannot
    list are left to the caller's reader, which says why.
    """
    import pyogrio

    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception:  # noqa: BLE001 (pyogrio raises many types; the reader reports them)
        return layer
    if layer is None or layer == "":
        if len(names) > 1:
            raise InputDataError(
                f"{key}: {path} holds {len(names)} layers ({', '.join(names)}) and {key} "
                f"is empty, so which one to use is unclear; set {key} to one of them"
            )
        return None
    if isinstance(layer, str) and layer not in names:
        raise InputDataError(
            f"{key}: {path} has no layer {layer!r} (it has {', '.join(names) or 'none'}); "
            f"set {key} to one of them"
        )
    if isinstance(layer, int) and not 0 <= layer < len(names):
        raise InputDataError(
            f"{key}: {path} has {len(names)} layer(s) ({', '.join(names)}), so layer "
            f"number {layer} does not exist; set {key} to a name or a number from 0"
        )
    return layer


def check_writable(path: str | os.PathLike[str], *, key: str) -> None:
    """Raise InputDataError unless directory ``path`` exists writable or can be made.

    Nothing is created (a dry run stays side-effect free): the nearest existing
    ancestor must be a directory this process may write into. ``access`` also reports a
    read-only file system, which stops root too.
    """
    p = Path(path).absolute()
    existing = next(a for a in (p, *p.parents) if a.exists())
    if not existing.is_dir():
        raise InputDataError(
            f"{key}: {p} cannot be created because {existing} is a file, not a directory; "
            f"set {key} to another directory"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputDataError(
            f"{key}: cannot write to {existing} (read-only file system or no permission); "
            f"set {key} to a directory you can write, or fix its permissions"
        )


#: datasets kept open per thread (see open_cached)
_OPEN_PER_THREAD = 64
_open_here = threading.local()
_all_open: list[OrderedDict[tuple[Any, ...], Any]] = []  # every thread's, to close at exit


def open_cached(path: str) -> Any:
    """``path`` opened with rasterio, kept open for the thread's later reads.

    A chunk's window of a source shares its blocks with the neighbouring chunks'
    (source blocks do not line up with the grid's chunks); an open dataset lets GDAL's
    block cache hand them over instead of decoding them again. Datasets are not
    shared between threads; a file changed since it was opened is opened again.
    """
    cache = getattr(_open_here, "cache", None)
    if cache is None:
        cache = _open_here.cache = OrderedDict()
        _all_open.append(cache)
    if is_remote(path):
        key: tuple[Any, ...] = (path,)  # immutable (rasterflow.remote)
    else:
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size, stat.st_ino)
    dataset = cache.pop(key, None)
    if dataset is None:
        with rasterio.Env(**open_options(path)):
            dataset = rasterio.open(path)
        if is_remote(path):
            dataset = _Retrying(path, dataset)
        while len(cache) >= _OPEN_PER_THREAD:
            cache.popitem(last=False)[1].close()
    cache[key] = dataset
    return dataset


def rasterio_dataset(dataset: Any) -> Any:
    """The rasterio dataset itself behind an :func:`open_cached` handle, for rasterio's
    functions that take only their own type (``rasterio.band`` for ``reproject``)."""
    return dataset.dataset if isinstance(dataset, _Retrying) else dataset


class _Retrying:
    """A remote dataset whose reads are tried again (:data:`rasterflow.remote.READ_ATTEMPTS`,
    with a pause that doubles) after what GDAL cached of the file is dropped and the
    file reopened: a connection reset mid-transfer fails one read, not the job."""

    def __init__(self, path: str, dataset: Any) -> None:
        self._path, self.dataset = path, dataset

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dataset, name)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        import logging
        import time

        from rasterflow.remote import READ_ATTEMPTS, forget

        for attempt in range(READ_ATTEMPTS):
            try:
                return self.dataset.read(*args, **kwargs)
            except rasterio.errors.RasterioIOError as exc:
                if attempt + 1 == READ_ATTEMPTS:
                    raise
                logging.getLogger(__name__).warning(
                    "reading %s failed (%s); attempt %d of %d", self._path, exc, attempt + 2,
                    READ_ATTEMPTS,
                )  # fmt: skip
                forget(self._path)
                self.dataset.close()
                time.sleep(0.5 * 2**attempt)
                with rasterio.Env(**open_options(self._path)):
                    self.dataset = rasterio.open(self._path)
        raise AssertionError("unreachable")


@atexit.register
def close_cached() -> None:
    """Close every thread's :func:`open_cached` datasets: the next job in this process
    (a benchmark, a notebook) decodes its sources afresh rather than finding this one's
    blocks in GDAL's cache. Not while other threads may still read them."""
    # at exit too: before the interpreter tears rasterio down, which then cannot
    # close them cleanly
    for cache in _all_open:
        while cache:
            cache.popitem()[1].close()


def read_cached(
    path: str, window: tuple[int, int, int, int], out: np.ndarray, band: int | list[int] = 1
) -> None:
    """Band(s) ``band`` of ``path`` in ``window`` (x0, y0, width, height) into ``out``."""
    open_cached(path).read(band, window=Window(*window), out=out)
