"""Checks of a scene's files before any pixel is computed: headers, bands, extents, data.

:func:`check_headers` runs at planning time on every scene file's header;
:func:`scene_grid` runs in a job, before its first product is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rasterflow.errors import InputDataError
from rasterflow.remote import open_options
from rasterflow.scenes.model import BandFile, Scene

if TYPE_CHECKING:
    from rasterflow.planning import RasterHeader


def check_headers(
    scenes: Mapping[str, Scene],
    *,
    known: Mapping[str, RasterHeader] | None = None,
) -> None:
    """Check every scene file's header against the config, before any job starts.

    Each file is opened once (no pixels read): it must be a whole, georeferenced
    raster (:func:`rasterflow.io.open_raster`) that has the configured band numbers, a
    configured ``nodata`` its data type can hold, and an integer mask band; the band
    files of one scene must cover one area (:func:`_check_extents`). ``known``: path ->
    header of files that already passed ``open_raster``
    (:func:`rasterflow.planning.cached_headers`), which are not opened again.
    """
    from odc.geo.geom import BoundingBox

    from rasterflow.io import open_raster
    from rasterflow.planning import RasterHeader

    headers: dict[str, RasterHeader] = dict(known or {})
    for scene in scenes.values():
        roles: list[tuple[str, BandFile]] = [
            (f"scenes.bands.{r}", b) for r, b in scene.bands.items()
        ]
        if scene.mask is not None:
            roles.append(("scenes.mask", scene.mask))
        for key, bf in roles:
            if bf.path not in headers:
                with open_raster(bf.path, what=f"scene {scene.id!r}") as src:
                    b = src.bounds
                    box = BoundingBox(b.left, b.bottom, b.right, b.top, crs=src.crs.to_wkt())
                    headers[bf.path] = RasterHeader(
                        box, src.count, tuple(src.dtypes), src.width, src.height
                    )
            h = headers[bf.path]
            _check_band(scene.id, key, bf, count=h.count, dtypes=h.dtypes)
        _check_extents(scene.id, roles, headers)


def _check_extents(
    sid: str, roles: list[tuple[str, BandFile]], headers: Mapping[str, RasterHeader]
) -> None:
    """Refuse band files of one scene whose bounds differ by more than half a pixel of
    the coarser of the two.

    A scene is read onto the grid of its finest band and the others are warped onto it
    (:func:`open_scene`), so a band covering another area would be silently cut or
    padded with nodata. Resolutions may differ (Sentinel-2's 10 m and 20 m bands cover
    the same 109.8 km); files in different CRSs are compared only when their boxes are
    in one CRS (warping handles the rest).
    """
    first: tuple[str, BandFile, RasterHeader] | None = None
    for key, bf in sorted(roles, key=lambda kb: kb[0]):  # the same message for any key order
        h = headers[bf.path]
        if first is None:
            first = (key, bf, h)
            continue
        key0, bf0, h0 = first
        # identity first: cached headers share one CRS object per WKT, and comparing
        # two costs ~13 us (100,000 scenes)
        if bf.path == bf0.path or not (
            h.bounds.crs is h0.bounds.crs or h.bounds.crs == h0.bounds.crs
        ):
            continue
        a, b = h0.bounds, h.bounds  # by attribute: a BoundingBox iterates slowly
        shift = max(
            abs(a.left - b.left),
            abs(a.bottom - b.bottom),
            abs(a.right - b.right),
            abs(a.top - b.top),
        )
        if shift and shift > 0.5 * max(_pixel_size(h0), _pixel_size(h)):
            raise InputDataError(
                f"scene {sid!r}: its band files cover different areas: {bf0.path} ({key0}) "
                f"spans {_box_text(h0)} but {bf.path} ({key}) spans {_box_text(h)} "
                f"(left, bottom, right, top in {_crs_text(h.bounds.crs)}); every band of a "
                "scene must cover the same area (resolutions may differ). Use band files "
                "of one product, or cut them to one extent (gdalwarp -te)"
            )


def _pixel_size(h: RasterHeader) -> float:
    """The larger pixel side of a header; 0 when its size in pixels is unknown."""
    if not h.width or not h.height:
        return 0.0
    b = h.bounds
    return max(abs(b.right - b.left) / h.width, abs(b.top - b.bottom) / h.height)


def _crs_text(crs: Any) -> str:
    """``EPSG:32633`` where the CRS has a code, its WKT otherwise."""
    from odc.geo.crs import CRS

    code = CRS(crs).epsg
    return f"EPSG:{code}" if code else str(crs)


def _box_text(h: RasterHeader) -> str:
    return ", ".join(f"{v:.10g}" for v in h.bounds)


def _check_band(sid: str, key: str, bf: BandFile, *, count: int, dtypes: tuple[str, ...]) -> None:
    import numpy as np

    if not 1 <= bf.band <= count:
        raise InputDataError(
            f"scene {sid!r}: {bf.path} has {count} band(s), but {key}.band is {bf.band}; "
            f"set {key}.band to a band between 1 and {count}"
        )
    dtype = np.dtype(dtypes[bf.band - 1])
    if key == "scenes.mask":
        if dtype.kind not in "iu":
            raise InputDataError(
                f"scene {sid!r}: mask band {bf.band} of {bf.path} is {dtype.name}, but a mask "
                "holds integer classes; point scenes.mask at the classification band"
            )
        return
    if bf.nodata is None or dtype.kind not in "iu":
        return
    info = np.iinfo(dtype)
    if not (float(bf.nodata).is_integer() and info.min <= bf.nodata <= info.max):
        raise InputDataError(
            f"scene {sid!r}: {key}.nodata is {bf.nodata:g}, but band {bf.band} of {bf.path} is "
            f"{dtype.name} (whole numbers {info.min}..{info.max}) and can never hold it; set "
            f"{key}.nodata to the file's no-data value"
        )


def require_data(bf: BandFile, *, what: str, key: str) -> None:
    """Raise InputDataError when every pixel of ``bf`` is its configured nodata (or NaN).

    Blocks are read in file order until one holds data, so a normal scene costs one
    block; only an empty one is read whole (and then fails before any product exists).
    A scene whose pixels are all masked (clouds) is not empty: its product is all NaN.
    """
    import numpy as np
    import rasterio

    with rasterio.Env(**open_options(bf.path)), rasterio.open(bf.path) as src:
        floating = np.dtype(src.dtypes[bf.band - 1]).kind == "f"
        if bf.nodata is None and not floating:
            return
        for _ij, window in src.block_windows(bf.band):
            block = src.read(bf.band, window=window)
            data = np.isfinite(block) if floating else np.ones(block.shape, dtype=bool)
            if bf.nodata is not None:
                data &= block != bf.nodata
            if data.any():
                return
    nodata = "NaN" if bf.nodata is None else f"{bf.nodata:g}"
    raise InputDataError(
        f"{what}: every pixel of band {bf.band} of {bf.path} is no-data ({nodata}); the file "
        f"is empty or {key}.nodata is wrong: fix {key}.nodata, or remove the scene from "
        "the scene sheet"
    )


def _check_band_number(src: Any, bf: BandFile, *, what: str) -> None:
    if not 1 <= bf.band <= src.count:
        raise InputDataError(
            f"{what}: {bf.path} has {src.count} band(s), but band {bf.band} is "
            "configured; fix the band number under scenes.bands"
        )


def scene_grid(scene: Scene, roles: Iterable[str]) -> Any:
    """The GeoBox of the finest of ``scene``'s bands ``roles``: the grid its indices are on.

    Checks on the way that every file (the mask's too) is a whole raster with the band
    configured for it, and that no band is all no-data (:func:`require_data`), so a bad
    scene fails before any product is written.
    """
    from odc.geo.geobox import GeoBox

    from rasterflow.io import open_raster

    grid = None
    for role in sorted(set(roles)):
        bf = scene.bands[role]
        what = f"scene {scene.id!r}, band {role}"
        with open_raster(bf.path, what=what) as src:
            _check_band_number(src, bf, what=what)
            box = GeoBox.from_rio(src)
        require_data(bf, what=what, key=f"scenes.bands.{role}")
        if grid is None or abs(box.resolution.x) < abs(grid.resolution.x):
            grid = box
    if scene.mask is not None:
        what = f"scene {scene.id!r}, mask"
        with open_raster(scene.mask.path, what=what) as src:
            _check_band_number(src, scene.mask, what=what)
    return grid
