"""What a catalog describes: the :class:`Product` of each file, the collections' kinds
(:data:`KINDS`), a product's time, and :func:`plan_products`, a run's products.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    contour_sources: Mapping[str, str] | None = None,
) -> list[Product]:
    """The raster products of a run, as the workflow names them under ``results``.

    Per-scene indices stand for their scene's date (item ``index-<scene>``, an asset
    per index), mosaics for their period (item ``mosaic-<period>``, assets ``<index>``
    and ``<index>_count``), trends for the span of all periods (item ``trend``, an
    asset per index), terrain products for the DEM's own date (:func:`raster_date`;
    item ``terrain``, an asset per product), not the scenes'. ``contours`` (product ->
    format -> file): an item ``contours-<product>`` per contoured raster, its files as
    assets, with the footprint and date of the raster it was drawn from
    (``contour_sources``: product -> that raster, for every product of ``contours``; a
    mosaic's contours stand for its period).
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
    mosaics = {
        f"{results}/mosaics/{period}/{index}.tif": span
        for period, span in periods.items()
        for index in composite_indices
    }
    for p, files in (contours or {}).items():
        source = (contour_sources or {})[p]  # the planner's (workflow.plan_contours)
        span = mosaics.get(source)
        first_day: dt.date | None = span[0] if span else None
        last_day: dt.date | None = span[1] if span else None
        name = os.path.relpath(source, results) if span else os.path.basename(source)
        products.append(
            Product(
                source,
                f"contours-{p}",
                first_day,
                last_day,
                f"contour lines of {name}",
                {"rasterflow:contours": p},
                dated_by=None if span else dem,
                vectors=dict(files),
                collection="contours",
            )
        )
    return products
