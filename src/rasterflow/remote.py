"""Scene files over HTTP(S) and S3: what is remote, and GDAL's settings for reading it.

A scene's path may be an ``http://`` or ``https://`` URL of a raster (a COG on a data
portal, an object store's public URL), read by GDAL through ``/vsicurl``, or an
``s3://bucket/key`` object, through ``/vsis3`` with the usual AWS variables
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or ``~/.aws``, ``AWS_REGION``,
``AWS_NO_SIGN_REQUEST=YES`` for public buckets, ``AWS_S3_ENDPOINT`` for another
S3-compatible store). Both read with range requests: the header once, then only the
blocks of the windows a job reads, so a composite job fetches its tile's share of a
scene, not the scene.

Such files are not Snakemake inputs (Snakemake can only wait for local files): they
are treated as immutable, as archives publish them. A job reruns when its scene's
URL (in its params) changes, not when the bytes behind one URL do; point the sheet
at a new URL for a new version, or force the rerun (``--forcerun``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

#: URL schemes read through GDAL's /vsicurl and /vsis3
SCHEMES = ("http://", "https://", "s3://")

#: GDAL's HTTP settings for remote scene files, each unless the user set it already:
#: retries with exponential backoff on the codes servers answer when busy, timeouts so
#: a hung server fails a job instead of holding it, HTTP/2 multiplexing of a job's
#: parallel range requests over one connection, the header in one request, and a
#: larger block cache of /vsicurl (16 MB by default), so that the windows of one job
#: do not fetch a block twice. Only /vsicurl and /vsis3 read them: local files are
#: unaffected.
HTTP_OPTIONS: dict[str, str] = {
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "0.5",  # doubled by GDAL at each retry
    "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "15",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "GDAL_INGESTED_BYTES_AT_OPEN": "65536",
    "CPL_VSIL_CURL_CACHE_SIZE": str(128 * 2**20),
}
#: around opening a remote file only: no side-car probing (one request per candidate
#: name, .aux.xml, .ovr, .msk..., otherwise). Not process-wide: a local file's side-car
#: mask or overviews must still be found. CPL_VSIL_CURL_ALLOWED_EXTENSIONS is left
#: unset: it would refuse URLs without a raster extension (signed URLs, API endpoints).
OPEN_OPTIONS: dict[str, str] = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


def is_remote(path: str | os.PathLike[str]) -> bool:
    """True for a URL that GDAL reads over HTTP(S) or S3 (:data:`SCHEMES`)."""
    return str(path).startswith(SCHEMES)


def local(paths: Iterable[str]) -> list[str]:
    """The local files among ``paths`` (what Snakemake can depend on), in order."""
    return [p for p in paths if not is_remote(p)]


def use_http_options() -> None:
    """Set :data:`HTTP_OPTIONS` in ``os.environ`` where unset: GDAL reads them from the
    environment at each request, also in Dask workers started after this. Called by
    planning and by every heavy job before its cluster starts."""
    for key, value in HTTP_OPTIONS.items():
        os.environ.setdefault(key, value)


def open_options(path: str | os.PathLike[str]) -> dict[str, str]:
    """GDAL options for opening ``path`` (``rasterio.Env(**open_options(path))``)."""
    return OPEN_OPTIONS if is_remote(path) else {"GDAL_DISABLE_READDIR_ON_OPEN": "TRUE"}


def stage_path(root: str, scene: str, url: str) -> str:
    """Where :func:`download` keeps ``url`` of ``scene`` under ``root``: the scene's
    folder, the URL's file name behind a digest of the URL (two URLs never share one)."""
    import hashlib
    import re
    from urllib.parse import urlsplit

    name = os.path.basename(urlsplit(url).path) or "file"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{root.rstrip('/')}/{scene}/{digest}_{name}"


#: HTTP answers worth another try: busy, or the server's trouble
_RETRY = (429, 500, 502, 503, 504)


def download(url: str, dest: str, *, attempts: int = 6, timeout: float = 60) -> None:
    """Copy ``url`` to ``dest`` for a compute node without internet (scenes.stage_in).

    Resumable: bytes arrive in ``dest + ".part"``, and a later call (a retry, the next
    run) continues it with a Range request; atomic: renamed to ``dest`` only when its
    size is the server's. Retried with exponential backoff on lost connections and
    429/5xx. ``s3://`` objects are copied by GDAL's S3 client (:func:`_copy_s3`).
    """
    import shutil
    import time
    import urllib.error
    import urllib.request

    from rasterflow.errors import InputDataError

    if url.startswith("s3://"):
        _copy_s3(url, dest)
        return
    if not url.startswith(("http://", "https://")):
        raise InputDataError(
            f"{url}: scenes.stage_in copies http(s) and s3 URLs only; "
            "read it in place (no stage_in)"
        )
    part = dest + ".part"
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
        have = os.path.getsize(part) if os.path.exists(part) else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                resumed = have and answer.status == 206
                length = int(answer.headers.get("Content-Length", -1))
                total = have + length if resumed else length
                with open(part, "ab" if resumed else "wb") as fh:
                    shutil.copyfileobj(answer, fh, 1 << 20)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing after the part: it may be whole
                total = have
            elif exc.code in _RETRY:
                problem = f"HTTP {exc.code}"
                continue
            else:
                raise InputDataError(
                    f"{url}: the server answers HTTP {exc.code} ({exc.reason});"
                    " check the URL in the scene sheet or catalog"
                ) from None
        except (urllib.error.URLError, OSError) as exc:
            problem = str(exc)
            continue
        size = os.path.getsize(part)
        if total < 0 or size == total:
            os.replace(part, dest)
            return
        problem = f"{size} of {total} bytes arrived"
    raise InputDataError(
        f"{url}: not copied after {attempts} attempts ({problem}); the part "
        f"so far is kept in {part}, and the next run continues it"
    )


def _copy_s3(url: str, dest: str) -> None:
    """Copy the S3 object ``url`` to ``dest`` through GDAL's /vsis3, so that the AWS
    variables and ``~/.aws`` that reading it in place uses (signing, endpoint, region,
    anonymous access) apply alike; GDAL retries as :data:`HTTP_OPTIONS` say. Atomic,
    through ``dest + ".part"``, and checked against the object's size; not resumable
    (GDAL's copy starts over), which the files of one scene rarely need."""
    import rasterio
    import rasterio.shutil
    from rasterio._err import CPLE_BaseError

    from rasterflow.errors import InputDataError

    part = dest + ".part"
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    try:
        with rasterio.Env(**OPEN_OPTIONS):
            # the dataset's own files, byte for byte (GDALCopyDatasetFiles): no decoding
            rasterio.shutil.copyfiles(url, part)
    except (rasterio.errors.RasterioError, CPLE_BaseError) as exc:  # GDAL's S3 errors
        for leftover in (part, part + ".aux.xml"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise InputDataError(
            f"{url}: not copied from S3 ({exc}); check the URL and the "
            "AWS variables (AWS_S3_ENDPOINT, AWS_NO_SIGN_REQUEST, keys)"
        ) from None
    os.replace(part, dest)


#: Attempts at one read of a remote file's window: GDAL retries the HTTP status codes of
#: :data:`HTTP_OPTIONS`, but a response cut short (a connection reset mid-transfer,
#: curl's "bytes missing") fails the read at once, and GDAL keeps what it got cached.
READ_ATTEMPTS = 3


def _gdal_library() -> Any:
    """GDAL's C library as rasterio loaded it (the wheel's bundled copy, else the
    system's), or None when it cannot be found."""
    import ctypes
    import ctypes.util
    import glob

    import rasterio

    bundled = glob.glob(
        os.path.join(os.path.dirname(rasterio.__file__), os.pardir, "rasterio.libs", "libgdal*")
    )
    name = bundled[0] if bundled else ctypes.util.find_library("gdal")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    lib.VSICurlPartialClearCache.argtypes = [ctypes.c_char_p]
    lib.VSICurlPartialClearCache.restype = None
    return lib


def forget(url: str) -> bool:
    """Drop what GDAL's /vsicurl and /vsis3 cached of ``url`` (its size, its blocks, a
    short read), so that the next read fetches it afresh; False if GDAL's library could
    not be reached (GDAL has no Python binding for this; rasterio none either)."""
    global _LIBRARY
    if _LIBRARY is False:
        _LIBRARY = _gdal_library()
    if _LIBRARY is None:
        return False
    # the URL's own handler only: naming /vsis3/ for an http URL would start GDAL's S3
    # client looking for credentials (the EC2 metadata service, retried for ~25 s)
    name = f"/vsis3/{url.removeprefix('s3://')}" if url.startswith("s3://") else f"/vsicurl/{url}"
    _LIBRARY.VSICurlPartialClearCache(name.encode())
    return True


_LIBRARY: Any = False  # not looked up yet
