"""A local static STAC catalog of a run's raster products: one Collection per kind.

The root Catalog holds one Collection per product kind (``index``: per-scene indices,
``mosaic``: the period composites, ``terrain``, ``trend``, ...), each with the spatial
and temporal extent of its items, ``item_assets``, ``providers`` and ``license``, which
is what STAC Browser, QGIS and odc-stac expect. An Item is one time (a scene, a period,
the DEM) of one kind; its assets are the rasters of that time, one per index (and the
count beside each mosaic), so ``odc.stac.load(items, bands=[...])`` of one collection
gives a time series of aligned bands. A new product kind needs one ``Product(...,
collection=...)`` line in :func:`plan_products`, nothing more.

Footprints, the projection and the raster band metadata are read from each COG's own
header by rio-stac, then fixed where it is out of date: the projection extension is
written as v2.0.0 (``proj:code``, what PySTAC and odc-stac read) and the histogram's
``count`` is its number of buckets (rio-stac gives the number of edges, one more).
PySTAC saves the catalog self-contained: every link and asset href is relative, so the
folder moves with the results.

Items are deterministic: the datetime is the scene date, the period's first day (with
``start_datetime``/``end_datetime`` for the period) or the DEM's date, never the time
of the run, and nothing names the host.

:func:`validate_catalog` checks every file against the STAC JSON schemas without a
network: the core schemas PySTAC bundles plus the extension schemas in a folder given
by the caller (the tests ship them in ``tests/data/stac-schemas``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasterflow.atomic import scratch_folder
from rasterflow.errors import InputDataError
from rasterflow.ownership import replace_folder

#: STAC id of the catalog a run writes.
CATALOG_ID = "rasterflow-results"
#: Media types of the vector assets (GeoPackage: OGC's; GeoParquet: Apache Parquet's).
VECTOR_MEDIA_TYPES = {
    "gpkg": "application/geopackage+sqlite3",
    "parquet": "application/vnd.apache.parquet",
}
#: The COG media type (STAC best practices).
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
#: The outputs' licence is their user's: STAC 1.1's "other" (an SPDX id when known).
DEFAULT_LICENSE = "other"

#: What a Collection of each product kind is, for its title and description; a kind
#: not listed here gets a generic one, so a new kind works without an entry.
KINDS: dict[str, tuple[str, str]] = {
    "index": (
        "Per-scene spectral indices",
        "Spectral indices of each scene on its own grid, one item per scene dated "
        "by the scene, one asset per index.",
    ),
    "mosaic": (
        "Composite mosaics",
        "Per-period composites mosaicked over the grid, one item per period "
        "(datetime: its first day; start_datetime/end_datetime: the period), one "
        "asset per index with the statistic and one '<index>_count' asset with "
        "the number of valid observations.",
    ),
    "terrain": (
        "Terrain products",
        "Products of the DEM (slope, aspect, hillshade, ...), one item dated by "
        "the DEM (its TIFFTAG_DATETIME, else its file's modification day), not "
        "by the scenes.",
    ),
    "points": (
        "Values at points",
        "The long table of every index at the points, per scene and period "
        "(GeoParquet), one item with a null datetime and the span of the scenes "
        "and periods.",
    ),
    "contours": (
        "Contour lines",
        "Contour lines of the DEM (or a terrain product), one item per contoured "
        "raster with its GeoPackage and GeoParquet files as assets, the raster's "
        "footprint and the DEM's date.",
    ),
    "trend": (
        "Per-pixel trends",
        "Theil-Sen slope per year, Mann-Kendall p-value and number of valid "
        "periods of each index over all periods, one item spanning the periods.",
    ),
}


def _default_kind(item_id: str) -> str:
    return item_id.split("-", 1)[0]


@dataclass(frozen=True)
class Product:
    """One raster product to describe: where it is, which item and collection it is an
    asset of, and what time it stands for.

    Products with the same ``id`` are assets (``asset``: their keys) of one Item; they
    must share their time. ``collection`` defaults to the first word of ``id``
    (``"mosaic-2024-JJA"`` -> ``"mosaic"``).
    """

    path: str
    id: str
    start: dt.date | None  # None: the date of ``dated_by`` (a DEM's), read when written
    end: dt.date | None
    title: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    dated_by: str | None = None
    asset: str = "data"
    collection: str = ""
    #: format -> vector file: the item's assets instead of the raster ``path``, which
    #: then only gives the footprint and projection (contour lines of a raster)
    vectors: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The Collection this product's item belongs to."""
        return self.collection or _default_kind(self.id)

    @classmethod
    def from_params(cls, d: Mapping[str, Any]) -> Product:
        """From the plain dict a Snakemake ``params:`` carries (ISO dates as strings)."""

        def day(v: Any) -> dt.date | None:
            return None if v is None else dt.date.fromisoformat(str(v))

        return cls(
            path=str(d["path"]),
            id=str(d["id"]),
            start=day(d["start"]),
            end=day(d["end"]),
            title=str(d["title"]),
            properties=dict(d.get("properties", {})),
            dated_by=d.get("dated_by"),
            asset=str(d.get("asset", "data")),
            collection=str(d.get("collection", "")),
            vectors=dict(d.get("vectors", {})),
        )

    def to_params(self) -> dict[str, Any]:
        """The plain dict :meth:`from_params` reads."""
        return {
            "path": self.path,
            "id": self.id,
            "start": self.start and self.start.isoformat(),
            "end": self.end and self.end.isoformat(),
            "title": self.title,
            "properties": dict(self.properties),
            "dated_by": self.dated_by,
            "asset": self.asset,
            "collection": self.collection,
            "vectors": dict(self.vectors),
        }


def raster_date(path: str | os.PathLike[str]) -> dt.date:
    """A raster's own date: its TIFFTAG_DATETIME ("YYYY:MM:DD HH:MM:SS") when it has
    one, else the day its file was last modified (UTC), never the day of the run."""
    import rasterio

    with rasterio.open(path) as src:
        stamp = src.tags().get("TIFFTAG_DATETIME", "")
    try:
        return dt.datetime.strptime(stamp.strip(), "%Y:%m:%d %H:%M:%S").date()
    except ValueError:
        return dt.datetime.fromtimestamp(os.stat(path).st_mtime, tz=dt.UTC).date()


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _utc(day: dt.date, *, end: bool = False) -> dt.datetime:
    t = dt.time(23, 59, 59) if end else dt.time(0, 0, 0)
    return dt.datetime.combine(day, t, tzinfo=dt.UTC)


def _span(product: Product) -> tuple[dt.date, dt.date]:
    if product.start is None or product.end is None:
        day = raster_date(product.dated_by or product.path)
        return day, day
    return product.start, product.end


def _raster_bands(bands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rio-stac's raster:bands with the histogram's ``count`` made the number of its
    buckets, as the raster extension defines it (rio-stac writes the number of edges)."""
    for band in bands:
        hist = band.get("histogram")
        if hist is not None:
            hist["count"] = len(hist["buckets"])
    return bands


def _projection(properties: Mapping[str, Any]) -> dict[str, Any]:
    """rio-stac's projection v1.1.0 fields as projection v2.0.0 (``proj:code``).

    PROJJSON is left out: WKT2 says the same, and its schema is not one we ship."""
    out = {
        k: v
        for k, v in properties.items()
        if k.startswith("proj:") and k not in ("proj:epsg", "proj:projjson")
    }
    epsg = properties.get("proj:epsg")
    out["proj:code"] = f"EPSG:{epsg}" if epsg else None
    return out


def _read_asset(product: Product) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """(rio-stac item of the raster alone, its proj:* fields, its raster:bands)."""
    from rio_stac import create_stac_item

    if not os.path.exists(product.path):
        raise InputDataError(f"STAC: raster {product.path} not found; run the workflow first")
    item = create_stac_item(
        product.path,
        id=product.id,
        input_datetime=_utc(dt.date(2000, 1, 1)),
        with_proj=True,
        with_raster=True,
        geom_precision=7,
    )
    bands = _raster_bands(item.assets["asset"].extra_fields["raster:bands"])
    return item, _projection(item.properties), bands


def make_item(products: Product | Sequence[Product]) -> Any:
    """A :class:`pystac.Item` whose assets are ``products`` (one Product: one asset).

    Projection fields shared by every asset go on the item, others on their asset.
    Item properties are those the products agree on; a key they differ on stays on
    each asset.
    """
    import pystac
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.raster import RasterExtension

    group = [products] if isinstance(products, Product) else list(products)
    first = group[0]
    spans = {_span(p) for p in group}
    if len(spans) != 1:
        raise InputDataError(
            f"STAC: the assets of item {first.id} stand for different "
            f"times ({sorted(spans)}); give them separate item ids"
        )
    ((start, end),) = spans
    read = [_read_asset(p) for p in group]
    shared_keys = set.intersection(*(set(p.properties) for p in group))
    shared = {
        k: first.properties[k]
        for k in sorted(shared_keys)
        if all(p.properties[k] == first.properties[k] for p in group)
    }
    kind_title = KINDS.get(first.kind, (first.kind,))[0]
    title = first.title if [p.asset for p in group] == ["data"] else f"{kind_title}: {first.id}"
    properties: dict[str, Any] = {"title": title, **shared}
    if end != start:
        properties["start_datetime"] = _iso(_utc(start))
        properties["end_datetime"] = _iso(_utc(end, end=True))
    projs = [proj for _i, proj, _b in read]
    item_proj = {k: v for k, v in projs[0].items() if all(p.get(k) == v for p in projs)}
    properties.update(item_proj)
    base = read[0][0]
    item = pystac.Item(
        id=first.id,
        geometry=base.geometry,
        bbox=base.bbox,
        datetime=_utc(start),
        properties=properties,
    )
    for product, (_i, proj, bands) in zip(group, read, strict=True):
        extra: dict[str, Any] = {k: v for k, v in proj.items() if k not in item_proj}
        extra.update({k: v for k, v in product.properties.items() if k not in shared})
        extra["raster:bands"] = bands
        item.add_asset(
            product.asset,
            pystac.Asset(
                href=os.path.abspath(product.path),
                title=product.title,
                media_type=COG,
                roles=["data"],
                extra_fields=extra,
            ),
        )
    ProjectionExtension.add_to(item)
    RasterExtension.add_to(item)
    return item


def make_vector_item(product: Product) -> Any:
    """A :class:`pystac.Item` of vector files drawn from a raster (contour lines): the
    raster ``product.path`` gives the footprint, projection and date, each file of
    ``product.vectors`` is an asset (the raster, perhaps the user's DEM, is not one)."""
    import pystac
    from pystac.extensions.projection import ProjectionExtension

    base, proj, _bands = _read_asset(product)
    start, end = _span(product)
    properties: dict[str, Any] = {"title": product.title, **product.properties, **proj}
    if end != start:
        properties["start_datetime"] = _iso(_utc(start))
        properties["end_datetime"] = _iso(_utc(end, end=True))
    item = pystac.Item(
        id=product.id,
        geometry=base.geometry,
        bbox=base.bbox,
        datetime=_utc(start),
        properties=properties,
    )
    for fmt, path in product.vectors.items():
        if not os.path.exists(path):
            raise InputDataError(f"STAC: {path} not found; run the workflow first")
        item.add_asset(
            fmt,
            pystac.Asset(
                href=os.path.abspath(path),
                media_type=VECTOR_MEDIA_TYPES[fmt],
                roles=["data"],
                title=f"{product.title} ({fmt})",
            ),
        )
    ProjectionExtension.add_to(item)
    return item


def make_table_item(product: Product) -> Any:
    """A :class:`pystac.Item` for a GeoParquet table (the points' long table): its
    footprint the bbox in the file's ``geo`` metadata, in WGS84; asset ``product.asset``
    (``data``); a null datetime with the table's time range (``start``/``end``)."""
    import pyarrow.parquet as pq
    import pystac
    from pyproj import CRS, Transformer

    if not os.path.exists(product.path):
        raise InputDataError(f"STAC: table {product.path} not found; run the workflow first")
    geo = json.loads(pq.read_schema(product.path).metadata[b"geo"])
    column = geo["columns"][geo["primary_column"]]
    to_wgs84 = Transformer.from_crs(CRS.from_json_dict(column["crs"]), "EPSG:4326", always_xy=True)
    x0, y0, x1, y1 = to_wgs84.transform_bounds(*column["bbox"])
    bbox = [round(v, 7) for v in (x0, y0, x1, y1)]
    geometry = {
        "type": "Polygon",
        "coordinates": [
            [
                [bbox[0], bbox[1]],
                [bbox[2], bbox[1]],
                [bbox[2], bbox[3]],
                [bbox[0], bbox[3]],
                [bbox[0], bbox[1]],
            ]
        ],
    }
    start, end = product.start or dt.date(1970, 1, 1), product.end or dt.date(1970, 1, 1)
    item = pystac.Item(
        id=product.id,
        geometry=geometry,
        bbox=bbox,
        datetime=None,
        properties={
            "title": product.title,
            **product.properties,
            "start_datetime": _iso(_utc(start)),
            "end_datetime": _iso(_utc(end, end=True)),
        },
    )
    item.add_asset(
        product.asset,
        pystac.Asset(
            href=os.path.abspath(product.path),
            media_type="application/vnd.apache.parquet",
            roles=["data"],
            title=product.title,
        ),
    )
    return item


def _item_assets(items: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """``item_assets`` of a collection: each asset key's title, roles, type and band
    layout (data type, nodata, unit, scale/offset; no per-item statistics)."""
    keep = ("data_type", "nodata", "unit", "scale", "offset", "sampling")
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        for key, asset in item.assets.items():
            if key in out:
                continue
            bands = [
                {k: b[k] for k in keep if k in b}
                for b in asset.extra_fields.get("raster:bands", [])
            ]
            out[key] = {
                "title": asset.title,
                "roles": list(asset.roles or []),
                "type": asset.media_type,
            }
            if bands:
                out[key]["raster:bands"] = bands
    return dict(sorted(out.items()))


def make_collection(
    kind: str, items: Sequence[Any], *, license: str = DEFAULT_LICENSE, license_href: str = ""
) -> Any:
    """The Collection ``kind`` of ``items``: extents computed from them, ``item_assets``,
    rasterflow as the processor, and the outputs' ``license`` (with a ``license`` link
    to ``license_href`` when given)."""
    from importlib import metadata

    import pystac
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.raster import RasterExtension

    title, description = KINDS.get(kind, (f"{kind} products", f"rasterflow's {kind} products."))
    if license == DEFAULT_LICENSE:
        description += (
            " Licence: that of the inputs and of whoever ran the workflow "
            "(rasterflow's outputs belong to its user)."
        )
    collection = pystac.Collection(
        id=kind,
        title=title,
        description=description,
        license=license,
        extent=pystac.Extent.from_items(items),
        providers=[
            pystac.Provider(
                name="rasterflow",
                roles=[pystac.ProviderRole.PROCESSOR],
                description=f"rasterflow {metadata.version('rasterflow')}",
            )
        ],
    )
    collection.item_assets = {
        k: pystac.ItemAssetDefinition.create(
            title=v["title"],
            description=None,
            media_type=v["type"],
            roles=v["roles"],
            extra_fields={f: v[f] for f in ("raster:bands",) if f in v},
        )
        for k, v in _item_assets(items).items()
    }
    if license_href:
        collection.add_link(
            pystac.Link(
                pystac.RelType.LICENSE, license_href, title=f"Licence of the outputs ({license})"
            )
        )
    ProjectionExtension.add_to(collection)
    RasterExtension.add_to(collection)
    for item in items:
        collection.add_item(item)
    return collection


def group_items(products: Iterable[Product]) -> dict[str, dict[str, list[Product]]]:
    """kind -> item id -> its products, sorted; repeated (item, asset) pairs and an
    item id in two collections are errors."""
    out: dict[str, dict[str, list[Product]]] = {}
    kind_of: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    dupes: set[str] = set()
    for p in products:
        if (p.id, p.asset) in seen:
            dupes.add(p.id if p.asset == "data" else f"{p.id}/{p.asset}")
        seen.add((p.id, p.asset))
        if kind_of.setdefault(p.id, p.kind) != p.kind:
            raise InputDataError(
                f"STAC: item {p.id} is in two collections, {kind_of[p.id]} and {p.kind}"
            )
        out.setdefault(p.kind, {}).setdefault(p.id, []).append(p)
    if dupes:
        raise InputDataError(f"STAC: item ids repeat: {', '.join(sorted(dupes))}")
    return {
        k: {i: sorted(ps, key=lambda p: p.asset) for i, ps in sorted(v.items())}
        for k, v in sorted(out.items())
    }


def write_catalog(
    products: Sequence[Product],
    output: str | os.PathLike[str],
    *,
    description: str,
    license: str = DEFAULT_LICENSE,
    license_href: str = "",
    tables: Sequence[Product] = (),
) -> Path:
    """Write the catalog folder ``output``: ``catalog.json``, one folder per collection
    and in it one per item.

    The folder is built beside ``output`` and renamed into place, so a failed run never
    leaves a catalog that lists products it did not describe. ``tables`` are GeoParquet
    tables (:func:`make_table_item`), each an item of its own in the collection of its
    kind (``points-samples`` -> ``points``). Returns catalog.json.
    """
    import pystac

    groups = group_items([*products, *tables])
    table_ids = {t.id for t in tables}
    shared = sorted(table_ids & {p.id for p in products})
    if shared:
        raise InputDataError(f"STAC: a table and rasters share item id {shared[0]}")
    target = Path(output)
    with scratch_folder(target) as scratch:
        catalog = pystac.Catalog(id=CATALOG_ID, description=description, title="rasterflow results")
        for kind, items in groups.items():
            catalog.add_child(
                make_collection(
                    kind,
                    [
                        make_table_item(ps[0])
                        if ps[0].id in table_ids
                        else make_vector_item(ps[0])
                        if ps[0].vectors
                        else make_item(ps)
                        for ps in items.values()
                    ],
                    license=license,
                    license_href=license_href,
                )
            )
        catalog.normalize_hrefs(f"{scratch.resolve()}/")  # "/": a folder, whatever its name
        # relative to the item files: scratch and target are siblings, so they hold
        catalog.make_all_asset_hrefs_relative()
        catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        replace_folder(scratch, target)  # never a file of the user's (rasterflow.ownership)
    return target / "catalog.json"


def validate_catalog(
    catalog: str | os.PathLike[str], extension_schemas: str | os.PathLike[str]
) -> int:
    """Validate every STAC file of the catalog folder of ``catalog`` (its catalog.json)
    offline; returns how many were checked.

    The core schemas (item, catalog, collection, GeoJSON) are the ones PySTAC bundles
    for the STAC version it writes; the extension schema of URI
    ``https://stac-extensions.github.io/<name>/<version>/schema.json`` is read from
    ``<extension_schemas>/<name>/<version>/schema.json``. PySTAC's own ``validate_all``
    would fetch those over the network. Raises InputDataError naming the file and the
    first errors, or the schema that is missing.
    """
    from jsonschema import Draft7Validator
    from pystac.validation.local_validator import get_local_schema_cache
    from referencing import Registry, Resource

    cache = get_local_schema_cache()
    registry = Registry().with_resources(
        [(uri, Resource.from_contents(s)) for uri, s in cache.items()]
    )
    root = Path(catalog).parent
    prefix = "https://stac-extensions.github.io/"
    checked = 0
    for path in sorted(root.rglob("*.json")):
        if path.name.startswith("."):
            continue  # rasterflow's manifest
        doc = json.loads(path.read_text(encoding="utf-8"))
        kind = {"Feature": "item", "Catalog": "catalog", "Collection": "collection"}[doc["type"]]
        version = doc["stac_version"]
        core = f"https://schemas.stacspec.org/v{version}/{kind}-spec/json-schema/{kind}.json"
        uris = [core, *doc.get("stac_extensions", [])]
        errors: list[str] = []
        for uri in uris:
            if uri not in cache:
                local = Path(extension_schemas) / uri.removeprefix(prefix)
                if not uri.startswith(prefix) or not local.is_file():
                    raise InputDataError(
                        f"STAC validation of {path}: no local copy of schema {uri}; put it "
                        f"at {local} (nothing is fetched)"
                    )
                cache[uri] = json.loads(local.read_text(encoding="utf-8"))
                registry = registry.with_resource(uri, Resource.from_contents(cache[uri]))
            validator = Draft7Validator(cache[uri], registry=registry)
            errors += [
                f"{uri}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(doc)
            ]
        if errors:
            raise InputDataError(f"STAC file {path} is not valid: " + "; ".join(errors[:5]))
        checked += 1
    return checked


def plan_products(
    *,
    results: str,
    scene_dates: Mapping[str, dt.date],
    indices: Sequence[str],
    periods: Mapping[str, tuple[dt.date, dt.date]],
    composite_indices: Sequence[str],
    statistic: str,
    terrain: Sequence[str],
    dem: str,
    trend: Sequence[str] = (),
    contours: Mapping[str, Mapping[str, str]] | None = None,
    band_statistic: str | None = None,
) -> list[Product]:
    """The raster products of a run, as the workflow names them under ``results``.

    Per-scene indices stand for their scene's date (item ``index-<scene>``, an asset
    per index), mosaics for their period (item ``mosaic-<period>``, assets ``<index>``
    and ``<index>_count``), trends for the span of all periods (item ``trend``, an
    asset per index), terrain products for the DEM's own date (:func:`raster_date`;
    item ``terrain``, an asset per product), not the scenes'. ``contours`` (product ->
    format -> file): an item ``contours-<product>`` per contoured raster, its files as
    assets, with the footprint and date of the raster it was drawn from.
    ``band_statistic`` (with composite.bands): each period's band composite and its
    count are assets ``bands`` and ``bands_count`` of its mosaic item.
    """
    products = [
        Product(
            f"{results}/indices/{sid}/{index}.tif",
            f"index-{sid}",
            day,
            day,
            index,
            {"rasterflow:scene": sid},
            asset=index,
        )
        for sid, day in scene_dates.items()
        for index in indices
    ]
    for period, (start, end) in periods.items():
        for index, how in [(i, statistic) for i in composite_indices] + (
            [("bands", band_statistic)] if band_statistic else []
        ):
            for suffix, what in (("", how), ("_count", "count")):
                products.append(
                    Product(
                        f"{results}/mosaics/{period}/{index}{suffix}.tif",
                        f"mosaic-{period}",
                        start,
                        end,
                        f"{index} {what}",
                        {"rasterflow:period": period, "rasterflow:statistic": how},
                        asset=f"{index}{suffix}",
                    )
                )
    if trend and periods:
        first = min(start for start, _end in periods.values())
        last = max(end for _start, end in periods.values())
        products += [
            Product(
                f"{results}/trend/{index}.tif",
                "trend",
                first,
                last,
                f"{index} trend per year (Theil-Sen slope, Mann-Kendall p-value, periods)",
                {"rasterflow:trend": ["slope", "p_value", "n"]},
                asset=index,
            )
            for index in trend
        ]
    products += [
        Product(
            f"{results}/terrain/{p}.tif",
            "terrain",
            None,
            None,
            f"{p} of {os.path.basename(dem)}",
            {},
            dated_by=dem,
            asset=p,
        )
        for p in terrain
    ]
    for p, files in (contours or {}).items():
        source = dem if p == "dem" else f"{results}/terrain/{p}.tif"
        products.append(
            Product(
                source,
                f"contours-{p}",
                None,
                None,
                f"contour lines of {os.path.basename(source)}",
                {"rasterflow:contours": p},
                dated_by=dem,
                vectors=dict(files),
                collection="contours",
            )
        )
    return products
