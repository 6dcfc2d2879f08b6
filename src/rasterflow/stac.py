"""A local static STAC catalog of a run's raster products, one Item per raster.

Items come from rio-stac (footprint in WGS84, the projection and raster extensions read
from the COG's own header) and are saved with PySTAC as a self-contained catalog: every
link and asset href is relative, so the folder can be moved or copied with the results
and opened by QGIS's STAC browser, pystac or stac-browser.

Items are deterministic: the datetime is the scene date, the period's first day (with
``start_datetime``/``end_datetime`` for the period) or the DEM's date, never the time
of the run, and nothing names the host.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasterflow.errors import InputDataError
from rasterflow.ownership import replace_folder

#: STAC id of the catalog a run writes.
CATALOG_ID = "rasterflow-results"


@dataclass(frozen=True)
class Product:
    """One raster product to describe: where it is and what time it stands for."""

    path: str
    id: str
    start: dt.date | None  # None: the date of ``dated_by`` (a DEM's), read when written
    end: dt.date | None
    title: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    dated_by: str | None = None

    @classmethod
    def from_params(cls, d: Mapping[str, Any]) -> Product:
        """From the plain dict a Snakemake ``params:`` carries (ISO dates as strings)."""
        def day(v: Any) -> dt.date | None:
            return None if v is None else dt.date.fromisoformat(str(v))

        return cls(path=str(d["path"]), id=str(d["id"]), start=day(d["start"]),
                   end=day(d["end"]), title=str(d["title"]),
                   properties=dict(d.get("properties", {})), dated_by=d.get("dated_by"))

    def to_params(self) -> dict[str, Any]:
        return {"path": self.path, "id": self.id,
                "start": self.start and self.start.isoformat(),
                "end": self.end and self.end.isoformat(), "title": self.title,
                "properties": dict(self.properties), "dated_by": self.dated_by}


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


def _utc(day: dt.date, *, end: bool = False) -> dt.datetime:
    t = dt.time(23, 59, 59) if end else dt.time(0, 0, 0)
    return dt.datetime.combine(day, t, tzinfo=dt.UTC)


def make_item(product: Product) -> Any:
    """A :class:`pystac.Item` for ``product`` with one asset, ``data``, at its path."""
    from rio_stac import create_stac_item

    if not os.path.exists(product.path):
        raise InputDataError(f"STAC: raster {product.path} not found; run the workflow first")
    properties: dict[str, Any] = {"title": product.title, **product.properties}
    start, end = product.start, product.end
    if start is None or end is None:
        start = end = raster_date(product.dated_by or product.path)
    if end != start:
        properties["start_datetime"] = _utc(start).isoformat()
        properties["end_datetime"] = _utc(end, end=True).isoformat()
    item = create_stac_item(
        product.path,
        id=product.id,
        input_datetime=_utc(start),
        properties=properties,
        asset_name="data",
        asset_roles=["data"],
        asset_media_type="image/tiff; application=geotiff; profile=cloud-optimized",
        asset_href=os.path.abspath(product.path),
        with_proj=True,
        with_raster=True,
        geom_precision=7,
    )
    item.assets["data"].title = product.title
    return item


def write_catalog(products: Sequence[Product], output: str | os.PathLike[str], *,
                  description: str) -> Path:
    """Write the catalog folder ``output`` (``catalog.json`` + one folder per item).

    The folder is built beside ``output`` and renamed into place, so a failed run never
    leaves a catalog that lists products it did not describe. Returns catalog.json.
    """
    import pystac

    ids = [p.id for p in products]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise InputDataError(f"STAC: item ids repeat: {', '.join(dupes)}")
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}-partial-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        catalog = pystac.Catalog(id=CATALOG_ID, description=description,
                                 title="rasterflow results")
        for product in sorted(products, key=lambda p: p.id):
            catalog.add_item(make_item(product))
        catalog.normalize_hrefs(f"{scratch.resolve()}/")  # "/": a folder, whatever its name
        # relative to the item files: scratch and target are siblings, so they hold
        catalog.make_all_asset_hrefs_relative()
        catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        replace_folder(scratch, target)  # never a file of the user's (rasterflow.ownership)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target / "catalog.json"


def plan_products(*, results: str, scene_dates: Mapping[str, dt.date], indices: Sequence[str],
                  periods: Mapping[str, tuple[dt.date, dt.date]],
                  composite_indices: Sequence[str], statistic: str,
                  terrain: Sequence[str], dem: str,
                  trend: Sequence[str] = ()) -> list[Product]:
    """The raster products of a run, as the workflow names them under ``results``.

    Per-scene indices stand for their scene's date, mosaics for their period, trends
    (``trend``: their indices) for the span of all periods, terrain products for the
    DEM's own date (:func:`raster_date`), not the scenes'.
    """
    products = [
        Product(f"{results}/indices/{sid}/{index}.tif", f"index-{sid}-{index}", day, day,
                f"{index} of scene {sid}", {"rasterflow:scene": sid, "rasterflow:index": index})
        for sid, day in scene_dates.items() for index in indices
    ]
    for period, (start, end) in periods.items():
        for index in composite_indices:
            for suffix, what in (("", statistic), ("_count", "count")):
                products.append(Product(
                    f"{results}/mosaics/{period}/{index}{suffix}.tif",
                    f"mosaic-{period}-{index}{suffix}", start, end, f"{index} {what}, {period}",
                    {"rasterflow:period": period, "rasterflow:index": index,
                     "rasterflow:statistic": what}))
    if trend and periods:
        first = min(start for start, _end in periods.values())
        last = max(end for _start, end in periods.values())
        products += [Product(
            f"{results}/trend/{index}.tif", f"trend-{index}", first, last,
            f"{index} trend per year over {len(periods)} periods (Theil-Sen, Mann-Kendall)",
            {"rasterflow:index": index, "rasterflow:trend": ["slope", "p_value", "n"]})
            for index in trend]
    products += [Product(f"{results}/terrain/{p}.tif", f"terrain-{p}", None, None,
                         f"{p} of {os.path.basename(dem)}", {"rasterflow:terrain": p},
                         dated_by=dem) for p in terrain]
    return products
