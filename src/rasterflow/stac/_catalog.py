"""The catalog: a Collection per kind (:func:`make_collection`), the catalog written
whole (:func:`write_catalog`) and checked against the STAC schemas offline
(:func:`validate_catalog`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rasterflow.atomic import scratch_folder
from rasterflow.errors import InputDataError
from rasterflow.ownership import replace_folder
from rasterflow.stac._items import make_item, make_table_item, make_vector_item
from rasterflow.stac._products import CATALOG_ID, DEFAULT_LICENSE, KINDS, Product


def _item_assets(items: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """``item_assets`` of a collection: each asset key's title, roles, type and band
    layout (data type, nodata, unit, scale/offset; no per-item statistics) and band
    names (``eo:bands``)."""
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
            if "eo:bands" in asset.extra_fields:
                out[key]["eo:bands"] = asset.extra_fields["eo:bands"]
    return dict(sorted(out.items()))


def make_collection(
    kind: str, items: Sequence[Any], *, license: str = DEFAULT_LICENSE, license_href: str = ""
) -> Any:
    """The Collection ``kind`` of ``items``: extents computed from them, ``item_assets``,
    rasterflow as the processor, and the outputs' ``license`` (with a ``license`` link
    to ``license_href`` when given)."""
    from importlib import metadata

    import pystac
    from pystac.extensions.eo import EOExtension
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
    assets = _item_assets(items)
    collection.item_assets = {
        k: pystac.ItemAssetDefinition.create(
            title=v["title"],
            description=None,
            media_type=v["type"],
            roles=v["roles"],
            extra_fields={f: v[f] for f in ("raster:bands", "eo:bands") if f in v},
        )
        for k, v in assets.items()
    }
    if license_href:
        collection.add_link(
            pystac.Link(
                pystac.RelType.LICENSE, license_href, title=f"Licence of the outputs ({license})"
            )
        )
    ProjectionExtension.add_to(collection)
    RasterExtension.add_to(collection)
    if any("eo:bands" in v for v in assets.values()):
        EOExtension.add_to(collection)
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
