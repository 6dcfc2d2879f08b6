"""The demo run's `snakemake --report`, its STAC catalog, and products people can open."""

from __future__ import annotations

import base64
import datetime as dt
import html as html_lib
import io
import json
import re
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rasterio
from helpers import run_snakemake
from PIL import Image
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_validate

from rasterflow import demo, stac

STAC_SCHEMAS = Path(__file__).parents[1] / "data" / "stac-schemas"

pytestmark = pytest.mark.workflow


def _js_value(page: str, name: str) -> Any:
    """The JSON literal assigned to ``var <name>`` in the report's script."""
    match = re.search(rf"var {name} = (?=[{{\"])", page)
    assert match, f"report has no 'var {name}'"
    value, _end = json.JSONDecoder().raw_decode(page, match.end())
    return value


@pytest.fixture(scope="module")
def report(demo_run: Path) -> dict[str, Any]:
    target = demo_run / "report.html"
    run_snakemake(demo_run, "--report", str(target))
    page = target.read_text(encoding="utf-8")
    return {
        "categories": _js_value(page, "categories"),
        "results": _js_value(page, "results"),
        "description": _js_value(page, "workflow_desc"),
    }


def _decoded(entry: dict[str, Any]) -> bytes:
    head, data = entry["data_uri"].split(",", 1)
    assert head.endswith(";base64"), head
    return base64.b64decode(data)


def test_report_has_every_section(report, demo_run):
    cats = report["categories"]
    assert set(cats) == {"Maps", "Zonal statistics", "Points", "Run"}
    assert set(cats["Maps"]) == {"Composites", "Terrain", "Trends", "Contours", "Scenes"}
    assert set(cats["Points"]) == {"Time series"}
    # a few scenes' own index products (report.scene_quicklooks: 2, the sheet's first)
    scenes = sorted(
        p.name for p in (demo_run / "results" / "indices").iterdir() if not p.name.startswith("_")
    )[:2]
    indices = sorted(p.stem for p in (demo_run / "results" / "indices" / scenes[0]).glob("*.tif"))
    assert sorted(cats["Maps"]["Scenes"]) == sorted(
        f"results/report/maps/scenes/{s}/{i}.html" for s in scenes for i in indices
    )
    assert set(cats["Zonal statistics"]) == {"Time series", "Tables"}
    assert set(cats["Run"]) == {
        "Summary",
        "Benchmarks",
        "Dask performance reports",
        "Config and software",
    }
    results = demo_run / "results"
    # a quicklook of every mosaic (statistic and count) and every terrain product
    mosaics = sorted(
        p.relative_to(results / "mosaics").with_suffix(".html").as_posix()
        for p in (results / "mosaics").rglob("*.tif")
    )
    assert (
        sorted(p.removeprefix("results/report/maps/mosaics/") for p in cats["Maps"]["Composites"])
        == mosaics
    )
    terrain = sorted(p.stem for p in (results / "terrain").glob("*.tif"))
    assert sorted(Path(p).stem for p in cats["Maps"]["Terrain"]) == terrain
    # the slope of every trend COG (the demo: NDVI)
    assert [p.removeprefix("results/report/maps/") for p in cats["Maps"]["Trends"]] == [
        "trend/NDVI.html"
    ]
    contours = sorted({p.stem for p in (results / "contours").iterdir()})
    assert contours == ["dem"]
    assert sorted(Path(p).stem for p in cats["Maps"]["Contours"]) == contours
    tables = sorted(
        p.relative_to(results / "zonal").with_suffix(".html").as_posix()
        for p in (results / "zonal").glob("*/*.parquet")
    )
    assert (
        sorted(
            p.removeprefix("results/report/zonal/tables/")
            for p in cats["Zonal statistics"]["Tables"]
        )
        == tables
    )
    # every heavy job left a benchmark and a Dask report; the report embeds one page
    # with each of them (BokehJS once), the folder report/dask/ holds each job's page
    heavy = sorted(
        p.relative_to(results / "benchmarks").with_suffix("").as_posix().replace("/", "--")
        for p in (results / "benchmarks").rglob("*.tsv")
    )
    assert len(heavy) == len(list((results / "logs").rglob("*.dask.html")))
    assert cats["Run"]["Dask performance reports"] == ["results/report/dask_reports.html"]
    page = _decoded(report["results"]["results/report/dask_reports.html"]).decode("utf-8")
    assert [
        html_lib.unescape(j) for j in re.findall(r"<h2 id=\"job-\d+\">(.*?)</h2>", page)
    ] == heavy
    assert sorted(p.stem for p in (results / "report" / "dask").glob("*.html")) == heavy
    assert "rasterflow run" in report["description"]


def _map_png(entry: dict[str, Any]) -> bytes:
    """The quicklook PNG inlined in a map page of the report."""
    page = _decoded(entry).decode("utf-8")
    return base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page)[1])


def test_report_images_are_embedded_pngs_with_transparent_nodata(report, demo_run):
    pngs = {p: _decoded(e) for p, e in report["results"].items() if e["mime_type"] == "image/png"}
    maps = {p: e for p, e in report["results"].items() if "/maps/" in p}
    # mosaics of two periods (NDVI, its count, the band composite, its count), four
    # terrain products, the NDVI trend, the DEM's contours, two scenes' NBR and MSAVI
    assert len(maps) == 8 + 4 + 1 + 1 + 4
    assert all(e["mime_type"] == "text/html" for e in maps.values())
    pngs.update({p: _map_png(e) for p, e in maps.items()})
    for path, data in pngs.items():
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and min(image.size) >= 300, path
        caption = report["results"][path]["caption"]
        # every caption rendered: no Python object's repr (an unset wildcard was one)
        assert caption and "object at 0x" not in caption, path
    # the map pages show the quicklooks as written, at their full size on a click
    quicklooks = demo_run / "results" / "report" / "quicklooks"
    assert (
        pngs["results/report/maps/terrain/slope.html"]
        == (quicklooks / "terrain" / "slope.png").read_bytes()
    )
    # the JJA NDVI mosaic has cloud holes and unobserved corners: transparent in the PNG,
    # about as large a share of the map as of the raster
    with rasterio.open(demo_run / "results" / "mosaics" / "2024-JJA" / "NDVI.tif") as src:
        nodata_share = np.isnan(src.read(1)).mean()
    rgba = np.asarray(
        Image.open(io.BytesIO(pngs["results/report/maps/mosaics/2024-JJA/NDVI.html"])).convert(
            "RGBA"
        )
    )
    clear = rgba[..., 3] == 0
    rows, cols = np.nonzero(rgba[..., 3] < 255)
    map_box = rgba[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert clear.any() and 0.5 * nodata_share < (map_box[..., 3] == 0).mean() < 1.5 * nodata_share
    # margins (titles, colour bar) are opaque: readable on any viewer
    assert (rgba[:, 0, 3] == 255).all() and (rgba[0, :, 3] == 255).all()


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        self._in_cell = tag in ("td", "th")

    def handle_endtag(self, tag):
        self._in_cell = False

    def handle_data(self, data):
        if self._in_cell and self.rows:
            self.rows[-1].append(data.strip())


def test_report_zonal_tables_match_the_zonal_outputs(report, demo_run):
    entry = report["results"]["results/report/zonal/tables/NDVI/2024-JJA.html"]
    cells = _Cells()
    cells.feed(_decoded(entry).decode("utf-8"))
    header, *rows = [r for r in cells.rows if r]
    table = pd.read_parquet(demo_run / "results" / "zonal" / "NDVI" / "2024-JJA.parquet")
    assert header == [c for c in table.columns if c != "geometry"]
    assert "name" in header and "kind" in header  # the zones' own attributes
    assert len(rows) == len(table)
    by_id = {r[header.index("zone_id")]: r for r in rows}
    for _, zone in table.iterrows():
        shown = by_id[str(zone["zone_id"])]
        assert float(shown[header.index("mean")]) == pytest.approx(zone["mean"], rel=1e-3)


def test_report_summary_says_what_ran_and_where_every_product_is(report, demo_run):
    page = _decoded(report["results"]["results/report/summary.html"]).decode("utf-8")
    results = demo_run / "results"
    jobs = list((results / "benchmarks").rglob("*.tsv"))
    assert f"{len(jobs)} jobs with a benchmark" in page
    for rule in {p.relative_to(results / "benchmarks").parts[0].removesuffix(".tsv") for p in jobs}:
        assert f"<td style='text-align:left'>{rule}</td>" in page
    for product in [
        *(results / "mosaics").glob("*/*.tif"),
        *(results / "terrain").glob("*.tif"),
        results / "stac" / "catalog.json",
    ]:
        assert f"<code>{product.relative_to(demo_run)}</code>" in page


def test_report_run_info_has_the_config_and_versions(report):
    page = _decoded(report["results"]["results/report/run_info.html"]).decode("utf-8")
    assert f"<th>snakemake</th><td>{metadata.version('snakemake')}</td>" in page
    assert f"<th>gdal</th><td>{rasterio.__gdal_version__}</td>" in page
    assert "id_column: zone_id" in page and "statistic: median" in page


def test_stac_catalog_lists_every_raster_product_with_its_dates(demo_run):
    import pystac

    results = demo_run / "results"
    catalog_json = results / "stac" / "catalog.json"
    # offline, against PySTAC's core schemas and the extension schemas in tests/data
    assert stac.validate_catalog(catalog_json, STAC_SCHEMAS) >= 1 + 5
    catalog = pystac.Catalog.from_file(str(catalog_json))
    collections = {c.id: c for c in catalog.get_children()}
    assert set(collections) == {"index", "mosaic", "terrain", "trend", "points", "contours"}
    items = {item.id: item for item in catalog.get_items(recursive=True)}
    contours = items.pop("contours-dem")  # the contour lines: vector assets, no raster
    assert {k: Path(a.get_absolute_href()).resolve() for k, a in contours.assets.items()} == {
        fmt: (results / "contours" / f"dem.{fmt}").resolve() for fmt in ("gpkg", "parquet")
    }
    assert contours.assets["gpkg"].media_type == "application/geopackage+sqlite3"
    assert not contours.assets["gpkg"].href.startswith("/")  # relative: the folder can move
    with rasterio.open(results / "demo" / "dem.tif") as src:
        expected = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    np.testing.assert_allclose(contours.bbox, expected, atol=1e-3)  # the DEM's footprint
    rasters = [
        *(results / "indices").rglob("*.tif"),
        *(results / "mosaics").rglob("*.tif"),
        *(results / "terrain").glob("*.tif"),
        *(results / "trend").glob("*.tif"),
    ]
    tables = [results / "points" / "points.parquet"]  # the points' long table
    assets = [a for i in items.values() for a in i.assets.values()]
    assert len(assets) == len(rasters) + len(tables)
    assert {Path(a.get_absolute_href()).resolve() for a in assets} == {
        p.resolve() for p in [*rasters, *tables]
    }
    for asset in assets:
        if asset.media_type == "application/vnd.apache.parquet":
            continue
        assert asset.roles == ["data"] and asset.media_type == stac.COG
        for band in asset.extra_fields["raster:bands"]:  # issue #21: was 11 for 10
            assert band["histogram"]["count"] == len(band["histogram"]["buckets"])
    for collection in collections.values():
        keys = {k for i in collection.get_items() for k in i.assets}
        assert set(collection.item_assets) == keys and collection.license == "other"
    (points,) = collections["points"].get_items()  # a null datetime and a range
    assert points.datetime is None and points.common_metadata.start_datetime is not None
    scene_dates = {demo.scene_id(fp, d): d for fp in demo.FOOTPRINTS for d in fp.dates}
    for sid, day in scene_dates.items():
        assert items[f"index-{sid}"].datetime.date() == day  # NDVI: composited only
        assert set(items[f"index-{sid}"].assets) == {"NBR", "MSAVI"}
    jja = items["mosaic-2024-JJA"]
    assert set(jja.assets) == {"NDVI", "NDVI_count", "bands", "bands_count"}
    units = [b["unit"] for b in jja.assets["bands"].extra_fields["raster:bands"]]
    assert units == ["reflectance"] * 4 + ["days since 1970-01-01"]  # the chosen date
    names = [b["name"] for b in jja.assets["bands"].extra_fields["eo:bands"]]
    assert names == ["blue", "green", "red", "nir", "date"]
    assert jja.datetime.date() == jja.common_metadata.start_datetime.date() == dt.date(2024, 6, 1)
    assert jja.common_metadata.end_datetime.date() == dt.date(2024, 8, 31)
    with rasterio.open(results / "mosaics" / "2024-JJA" / "NDVI.tif") as src:
        expected = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        assert jja.properties["proj:code"] == f"EPSG:{src.crs.to_epsg()}"
    np.testing.assert_allclose(jja.bbox, expected, atol=1e-3)
    trend = items["trend"]  # the span of every period it fits
    assert trend.common_metadata.start_datetime.date() == dt.date(2024, 3, 1)
    assert trend.common_metadata.end_datetime.date() == dt.date(2024, 8, 31)
    assert len(trend.assets["NDVI"].extra_fields["raster:bands"]) == 3  # slope, p, n
    # the DEM's date, not the scenes' span
    terrain = items["terrain"]
    assert terrain.datetime.date() == stac.raster_date(results / "demo" / "dem.tif")
    assert "start_datetime" not in terrain.properties
    # nothing about when or where the run happened
    text = (results / "stac" / "mosaic" / "mosaic-2024-JJA" / "mosaic-2024-JJA.json").read_text()
    assert "created" not in text and str(demo_run) not in text


def test_every_raster_opens_as_a_described_cog(demo_run):
    results = demo_run / "results"
    rasters = [
        *(results / "indices").rglob("*.tif"),
        *(results / "mosaics").rglob("*.tif"),
        *(results / "terrain").glob("*.tif"),
        *(results / "trend").glob("*.tif"),
    ]
    for path in rasters:
        valid, errors, _warnings = cog_validate(str(path))
        assert valid, (path, errors)
        with rasterio.open(path) as src:
            assert src.crs is not None, path
            assert all(src.descriptions), path
            assert set(src.scales) == {1.0} and set(src.offsets) == {0.0}, path
            if not path.stem.endswith("count"):  # a count of 0 is a value, not nodata
                assert src.nodata is not None, path
    for path in rasters:
        with rasterio.open(path) as src:
            assert all(src.units), path
    with rasterio.open(results / "mosaics" / "2024-JJA" / "NDVI.vrt") as src:
        assert src.units == ("1",)  # the VRT carries the tiles' unit too


def test_odc_stac_loads_the_demo_mosaics_back(demo_run):
    import odc.stac
    import pystac

    results = demo_run / "results"
    catalog = pystac.Catalog.from_file(str(results / "stac" / "catalog.json"))
    items = list(catalog.get_child("mosaic").get_items())
    loaded = odc.stac.load(items, bands=["NDVI", "NDVI_count"])
    assert [str(t)[:10] for t in loaded.time.values] == ["2024-03-01", "2024-06-01"]
    for period, day in (("2024-MAM", "2024-03-01"), ("2024-JJA", "2024-06-01")):
        for band in ("NDVI", "NDVI_count"):
            with rasterio.open(results / "mosaics" / period / f"{band}.tif") as src:
                expected, transform, crs = src.read(1), src.transform, src.crs
            got = loaded[band].sel(time=day).values
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)  # NaN where NaN
    assert loaded.odc.geobox.affine == transform and loaded.odc.geobox.crs == crs
