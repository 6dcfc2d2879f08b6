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

The package (issue #20): :mod:`._products` (products, kinds, times, a run's plan),
:mod:`._items` (Items of rasters, vectors and tables) and :mod:`._catalog`
(collections, writing and validating the catalog).
"""

from rasterflow.stac._catalog import group_items, make_collection, validate_catalog, write_catalog
from rasterflow.stac._items import make_item, make_table_item, make_vector_item
from rasterflow.stac._products import (
    CATALOG_ID,
    COG,
    DEFAULT_LICENSE,
    KINDS,
    VECTOR_MEDIA_TYPES,
    Product,
    plan_products,
    raster_date,
)

__all__ = [
    "CATALOG_ID",
    "COG",
    "DEFAULT_LICENSE",
    "KINDS",
    "VECTOR_MEDIA_TYPES",
    "Product",
    "group_items",
    "make_collection",
    "make_item",
    "make_table_item",
    "make_vector_item",
    "plan_products",
    "raster_date",
    "validate_catalog",
    "write_catalog",
]
