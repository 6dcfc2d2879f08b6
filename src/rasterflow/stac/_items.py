"""STAC Items of products: rasters (:func:`make_item`, footprint, projection and bands
read by rio-stac and brought up to date), vector files and tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rasterflow.errors import InputDataError
from rasterflow.stac._products import COG, KINDS, VECTOR_MEDIA_TYPES, Product, _iso, _span, _utc


def _raster_bands(bands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rio-stac's raster:bands with the histogram's ``count`` made the number of its
    buckets, as the raster extension defines it (rio-stac writes the number of edges)."""
    for band in bands:
        hist = band.get("histogram")
        if hist is not None:
            hist["count"] = len(hist["buckets"])
    return bands


# STAC eo extension v1.1.0's common names; rasterflow's band roles follow them, with
# swir1 and swir2 for swir16 and swir22
_COMMON_NAMES = frozenset(
    "coastal blue green red rededge yellow pan nir nir08 nir09 cirrus swir16 swir22 "
    "lwir lwir11 lwir12".split()
)
_ROLE_ALIASES = {"swir1": "swir16", "swir2": "swir22"}


def _eo_bands(path: str) -> list[dict[str, str]]:
    """``eo:bands`` naming each band of a multi-band raster by its GeoTIFF description
    (a band composite's roles and date, a trend's slope and p-value), with the common
    name where the role is one; [] for a single band or bands without descriptions."""
    import rasterio

    with rasterio.open(path) as src:
        names = list(src.descriptions)
    if len(names) < 2 or not all(names):
        return []
    out = []
    for name in names:
        band = {"name": name}
        common = _ROLE_ALIASES.get(name, name)
        if common in _COMMON_NAMES:
            band["common_name"] = common
        out.append(band)
    return out


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


def _span_properties(start: dt.date, end: dt.date) -> dict[str, str]:
    """``start_datetime`` and ``end_datetime`` of an item that stands for more than a day."""
    if end == start:
        return {}
    return {"start_datetime": _iso(_utc(start)), "end_datetime": _iso(_utc(end, end=True))}


def _dated_item(item_id: str, base: Any, start: dt.date, properties: dict[str, Any]) -> Any:
    """A :class:`pystac.Item` on the footprint of ``base`` (rio-stac's item of a raster),
    dated ``start``."""
    import pystac

    return pystac.Item(
        id=item_id,
        geometry=base.geometry,
        bbox=base.bbox,
        datetime=_utc(start),
        properties=properties,
    )


def make_item(products: Product | Sequence[Product]) -> Any:
    """A :class:`pystac.Item` whose assets are ``products`` (one Product: one asset).

    Projection fields shared by every asset go on the item, others on their asset.
    Item properties are those the products agree on; a key they differ on stays on
    each asset.
    """
    import pystac
    from pystac.extensions.eo import EOExtension
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
    properties.update(_span_properties(start, end))
    projs = [proj for _i, proj, _b in read]
    item_proj = {k: v for k, v in projs[0].items() if all(p.get(k) == v for p in projs)}
    properties.update(item_proj)
    base = read[0][0]
    item = _dated_item(first.id, base, start, properties)
    named = False
    for product, (_i, proj, bands) in zip(group, read, strict=True):
        extra: dict[str, Any] = {k: v for k, v in proj.items() if k not in item_proj}
        extra.update({k: v for k, v in product.properties.items() if k not in shared})
        extra["raster:bands"] = bands
        if eo := _eo_bands(product.path):
            extra["eo:bands"] = eo
            named = True
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
    if named:
        EOExtension.add_to(item)
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
    properties.update(_span_properties(start, end))
    item = _dated_item(product.id, base, start, properties)
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
