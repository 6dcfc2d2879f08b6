"""Scenes from STAC (``scenes.stac``): a static catalog, collection or item collection,
or a STAC API search frozen into the run (:func:`frozen_search`).

The second source of scenes beside the scene sheet, with the same downstream stages:
each STAC Item is a scene (its id, the UTC day of its ``datetime``, or of its
``start_datetime``), each band role an asset of it. Read with PySTAC, from a file or
over HTTP(S); asset hrefs may be local files or URLs (:mod:`rasterflow.remote`).

* A role's asset is ``scenes.bands.<role>.asset``, else the asset whose key is the
  role's name, else the one whose ``eo:bands`` (STAC 1.0) or ``bands`` (1.1) common
  name is the role (``red``, ``nir``, ``swir16``...); the mask's is
  ``scenes.mask.asset``. The band number is ``scenes.bands.<role>.band``, else the
  position of the role's common name in the asset's bands, else 1.
* Scale, offset and nodata of a band come from the asset's ``raster:bands`` (1.0) or
  ``bands`` (1.1) entry for its band number when it has them and
  ``scenes.stac.raster_bands`` is true (the default), else from ``scenes.bands``.
* Planning needs no header read when an asset states its grid and pixels:
  ``proj:code`` or ``proj:epsg``, ``proj:shape``, ``proj:transform`` (on the asset or
  the item) and the ``data_type`` of every band; otherwise the file's header is read,
  as for a sheet's files.
* An item's ``updated`` time and its assets' ``file:checksum`` become part of its
  jobs' params, so a changed item reruns them also where Snakemake cannot see its
  files (remote assets).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rasterflow.errors import ConfigError, InputDataError
from rasterflow.planning import RasterHeader
from rasterflow.remote import is_remote
from rasterflow.scenes import SCENE_ID, SCENE_ID_MAX, BandFile, Scene, mask_rule, shared_file


@dataclass(frozen=True)
class StacScenes:
    """What a catalog gives planning."""

    scenes: dict[str, Scene]  # scene id -> Scene, in the catalog's order
    headers: dict[str, RasterHeader]  # asset file -> header stated by its metadata
    #: local JSON files read (the catalog and its items): the plan's stamps
    files: list[str]


def load_stac_scenes(
    source: str,
    *,
    bands: Mapping[str, Mapping[str, Any]],
    mask: Mapping[str, Any] | None,
    raster_bands: bool = True,
) -> StacScenes:
    """The scenes of the STAC catalog, collection, item collection or item at
    ``source`` (a path or an http(s) URL); errors name the item and the key to fix."""
    items, files = _read_items(source)
    scenes: dict[str, Scene] = {}
    headers: dict[str, RasterHeader] = {}
    stated: dict[int, RasterHeader | None] = {}  # per asset: one asset, several bands
    for item in items:
        sid = str(item.get("id", ""))
        what = f"STAC item {sid!r} of {source}"
        if not SCENE_ID.match(sid) or len(sid) > SCENE_ID_MAX:
            raise InputDataError(
                f"{what}: its id cannot be a scene id (letters, digits, '.', '_', '-', "
                f"at most {SCENE_ID_MAX} characters); rename the item"
            )
        if sid in scenes:
            raise InputDataError(f"{what}: a second item with this id; ids must be unique")
        located = {
            role: _band(
                item,
                role,
                spec,
                what=what,
                key=f"scenes.bands.{role}",
                raster_bands=raster_bands,
                headers=headers,
                stated=stated,
            )
            for role, spec in bands.items()
        }
        mask_file = None
        if mask:
            if not mask.get("asset"):
                raise ConfigError(
                    "scenes.mask: with scenes.stac, give the mask's asset key "
                    "(scenes.mask.asset, e.g. SCL)"
                )
            mask_file = _band(
                item,
                "mask",
                mask,
                what=what,
                key="scenes.mask",
                raster_bands=False,
                headers=headers,
                stated=stated,
            )
        scenes[sid] = Scene(
            sid,
            _day(item, what=what),
            located,
            mask_file,
            version=_version(item),
            **mask_rule(mask),
        )
    if not scenes:
        raise InputDataError(
            f"scenes.stac.source: {source} holds no STAC items; point it "
            "at a catalog, collection or item collection with items"
        )
    if found := shared_file(scenes, {sid: i for i, sid in enumerate(scenes)}):
        first, second, shared = found
        raise InputDataError(
            f"STAC items {first!r} and {second!r} of {source} both use {shared}, which "
            "would count twice in every composite; drop one of them from the catalog "
            "(or narrow the search)"
        )
    return StacScenes(scenes, headers, files)


def _read_items(source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The items at ``source`` as plain dicts whose asset hrefs are absolute, and the
    local JSON files read.

    An item collection (what a search returns) is read as JSON, not as PySTAC objects:
    PySTAC migrates and copies every item (20 s of 100,000 items' 30 s); catalogs,
    whose items are files of their own, are walked by PySTAC.
    """
    import pystac

    local = not is_remote(source)
    if local and not os.path.isfile(source):
        raise InputDataError(
            f"scenes.stac.source: {source} not found; give the path or "
            "URL of a catalog.json, collection.json or item collection"
        )
    href = os.path.abspath(source) if local else source
    files = [href] if local else []
    try:
        data = pystac.StacIO.default().read_json(href)
        if data.get("type") == "FeatureCollection":
            items = [_absolute(f, href) for f in data.get("features") or []]
            return items, files
        stac = pystac.read_dict(data, href=href)
        if isinstance(stac, pystac.Item):
            found = [stac]
        elif isinstance(stac, pystac.Catalog):  # collections too
            found = list(stac.get_items(recursive=True))
        else:
            raise InputDataError(
                f"{href}: a STAC {type(stac).__name__} holds no items; "
                "point scenes.stac.source at a catalog, collection or item"
            )
        items = []
        for item in found:
            d = item.to_dict(include_self_link=False, transform_hrefs=False)
            for key, asset in item.assets.items():
                d["assets"][key]["href"] = asset.get_absolute_href()
            items.append(d)
            if (h := item.get_self_href()) and not is_remote(h):
                files.append(h)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, pystac.STACError) as exc:
        raise InputDataError(
            f"scenes.stac.source: {source} is not a readable STAC "
            f"catalog, collection or item collection ({exc})"
        ) from None
    return items, files


def _absolute(item: dict[str, Any], base: str) -> dict[str, Any]:
    """``item`` with its asset hrefs made absolute against its self link, else ``base``
    (the file it was read from)."""
    from urllib.parse import urljoin

    self_href = (
        next(
            (link.get("href") for link in item.get("links") or [] if link.get("rel") == "self"),
            None,
        )
        or base
    )
    for asset in (item.get("assets") or {}).values():
        h = str(asset.get("href", ""))
        if h.startswith("file://"):
            asset["href"] = h[len("file://") :]
        elif h and not is_remote(h) and not os.path.isabs(h):
            asset["href"] = (
                urljoin(self_href, h)
                if is_remote(self_href)
                else os.path.normpath(os.path.join(os.path.dirname(self_href), h))
            )
    return item


def _day(item: Mapping[str, Any], *, what: str) -> dt.date:
    props = item.get("properties") or {}
    text = props.get("datetime") or props.get("start_datetime")
    if not text:
        raise InputDataError(f"{what}: no datetime or start_datetime; the item needs one")
    try:
        when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise InputDataError(f"{what}: datetime {text!r} is not RFC 3339") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.date()


def _version(item: Mapping[str, Any]) -> str:
    """What changes when the item's data does: ``updated`` and the assets' checksums."""
    parts = [str((item.get("properties") or {}).get("updated", ""))]
    parts += sorted(
        f"{k}:{a['file:checksum']}"
        for k, a in (item.get("assets") or {}).items()
        if "file:checksum" in a
    )
    return " ".join(p for p in parts if p)


def _asset(
    item: Mapping[str, Any], role: str, spec: Mapping[str, Any], *, what: str, key: str
) -> tuple[str, dict[str, Any], int | None]:
    """(key, asset, band number by common name or None) of ``role``."""
    assets = item.get("assets") or {}
    name = spec.get("asset")
    if name:
        if name not in assets:
            raise InputDataError(
                f"{what}: no asset {name!r} ({key}.asset); its assets are "
                f"{', '.join(sorted(assets)) or 'none'}"
            )
        return name, assets[name], _band_named(assets[name], role)
    if role in assets:
        return role, assets[role], None
    named = [k for k, a in assets.items() if role in _common_names(a)]
    if len(named) == 1:
        return named[0], assets[named[0]], _band_named(assets[named[0]], role)
    raise InputDataError(
        f"{what}: no asset for band role {role!r} (no asset key or eo:bands common name "
        f"{role!r}{'; several: ' + ', '.join(named) if named else ''}); set {key}.asset to "
        f"one of {', '.join(sorted(assets)) or 'none'}"
    )


def _names(asset: Mapping[str, Any]) -> list[str | None]:
    """Each band's common name (STAC 1.0 eo:bands, or 1.1 bands), in band order."""
    eo = asset.get("eo:bands")
    if eo:
        return [b.get("common_name") for b in eo]
    return [b.get("eo:common_name") for b in asset.get("bands") or []]


def _common_names(asset: Mapping[str, Any]) -> set[str]:
    return {n for n in _names(asset) if n}


def _band_named(asset: Mapping[str, Any], role: str) -> int | None:
    names = _names(asset)
    return names.index(role) + 1 if names.count(role) == 1 else None


def _band_entries(asset: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return asset.get("raster:bands") or asset.get("bands") or []


def _band(
    item: Mapping[str, Any],
    role: str,
    spec: Mapping[str, Any],
    *,
    what: str,
    key: str,
    raster_bands: bool,
    headers: dict[str, RasterHeader],
    stated: dict[int, RasterHeader | None],
) -> BandFile:
    name, asset, named_band = _asset(item, role, spec, what=what, key=key)
    href = str(asset.get("href") or "")
    if not href:
        raise InputDataError(f"{what}: asset {name!r} has no href")
    # a multiband asset's band: as configured, else where eo:bands names the role
    band = int(spec.get("band") or named_band or 1)
    scale = float(spec.get("scale", 1.0))
    offset = float(spec.get("offset", 0.0))
    nodata = None if spec.get("nodata") is None else float(spec["nodata"])
    entries = _band_entries(asset)
    if raster_bands and len(entries) >= band:
        entry = entries[band - 1]
        scale = float(entry.get("scale", scale))
        offset = float(entry.get("offset", offset))
        if entry.get("nodata") is not None:
            nodata = float(entry["nodata"])
    if id(asset) not in stated:
        stated[id(asset)] = _stated_header(item, asset, entries)
    if (header := stated[id(asset)]) is not None:
        headers.setdefault(href, header)
    return BandFile(path=href, band=band, scale=scale, offset=offset, nodata=nodata)


_CRS: dict[str, Any] = {}  # code -> odc CRS: one parse per distinct code


def _stated_header(
    item: Mapping[str, Any], asset: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]
) -> RasterHeader | None:
    """The header an asset's metadata states, or None when it states too little."""
    from odc.geo.crs import CRS
    from odc.geo.geom import BoundingBox

    props = item.get("properties") or {}

    def field(name: str) -> Any:
        return asset.get(name, props.get(name))

    epsg = field("proj:epsg")
    code = field("proj:code") or (f"EPSG:{epsg}" if epsg else None)
    shape, transform = field("proj:shape"), field("proj:transform")
    dtypes = tuple([e.get("data_type") for e in entries])
    if not (code and shape and transform and dtypes) or not all(dtypes) or len(transform) < 6:
        return None
    try:
        height, width = int(shape[0]), int(shape[1])
        a, b, c, d, e, f = map(float, transform[:6])
        # the corners, as Affine * (col, row) gives them, without its per-call cost
        xs = [c, c + a * width, c + b * height, c + a * width + b * height]
        ys = [f, f + d * width, f + e * height, f + d * width + e * height]
        crs = _CRS.get(code)
        if crs is None:
            crs = _CRS[code] = CRS(code)
        bounds = BoundingBox(min(xs), min(ys), max(xs), max(ys), crs=crs)
    except (ValueError, TypeError, IndexError):
        return None
    return RasterHeader(bounds, len(dtypes), tuple(map(str, dtypes)), width, height)


#: the STAC API search parameters of scenes.stac (their values key the frozen result)
SEARCH_KEYS = ("api", "collections", "bbox", "datetime", "query", "filter", "max_items")


def frozen_search(stac: Mapping[str, Any], *, bbox: Sequence[float] | None, cache_dir: str) -> str:
    """The item collection a STAC API search (``scenes.stac.api`` and its parameters)
    returns, written once under ``cache_dir`` and read from there afterwards: reruns
    plan the same items, and a dry run does not query the API again. Delete the file
    (its path is logged) to search again. ``bbox``: WGS84 bounds when
    ``scenes.stac.bbox`` is not given (the area of interest's)."""
    import hashlib
    import json

    params = {k: stac.get(k) for k in SEARCH_KEYS}
    params["bbox"] = list(params["bbox"] or bbox or []) or None
    if params["bbox"] is None:
        raise ConfigError(
            "scenes.stac.bbox: give the search area ([west, south, east, "
            "north] in degrees) or grid.aoi: a search without one would "
            "return the whole archive"
        )
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, "stac", f"search-{digest}.json")
    if os.path.exists(path):
        return path
    found = _search(params)
    if not found["features"]:
        raise InputDataError(
            f"scenes.stac.api: the search of {params['api']} returned no items "
            f"(collections {params['collections'] or 'all'}, bbox {params['bbox']}, "
            f"datetime {params['datetime'] or 'any'}); widen the search"
        )
    from rasterflow.atomic import atomic_output

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "w") as fh:
        json.dump(found, fh)
    return path


def _search(params: Mapping[str, Any]) -> dict[str, Any]:
    """The search's items as a GeoJSON FeatureCollection (pystac-client)."""
    from pystac_client import Client
    from pystac_client.exceptions import APIError

    try:
        client = Client.open(params["api"])
        text = isinstance(params["filter"], str)
        search = client.search(
            collections=params["collections"] or None,
            bbox=params["bbox"],
            datetime=params["datetime"] or None,
            query=params["query"] or None,
            filter=params["filter"] or None,
            max_items=params["max_items"],
            # said, not guessed: pystac-client's guess needs the cql2 package
            filter_lang=("cql2-text" if text else "cql2-json") if params["filter"] else None,
        )
        return search.item_collection_as_dict()
    except (APIError, OSError, ValueError) as exc:
        raise InputDataError(
            f"scenes.stac.api: searching {params['api']} failed ({exc}); "
            "check the URL and the search parameters"
        ) from None
