"""Scenes where users keep them, from real servers on loopback: a sheet of URLs and a
STAC catalog served by nginx, a sheet of s3:// objects in moto's S3 server. Each run
gives the products of the files on disk (the same pixels and metadata; only the
provenance tags name the URLs); a STAC API search (rustac's server) of those items; and
the sheet of URLs staged into a local folder first (scenes.stage_in)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pystac
import pytest
import rasterio
from helpers import DATA, run_snakemake
from servers import moto_s3, nginx, stac_api

pytestmark = pytest.mark.workflow

CONFIG = """\
scenes:
  {source}
  bands:
    red: {{band: 1}}
    green: {{band: 2}}
    nir: {{band: 4}}
indices: [NDVI, NDWI]
scene_indices: true
grid:
  crs: EPSG:32618
  resolution: 10
  tile_px: 128
composite:
  indices: [NDVI]
periods:
  kind: yearly
"""


def _products(results, base):
    """Product -> (profile, tags with the scenes' base path as {base}, pixels)."""
    out = {}
    for sub in ("indices", "composites", "mosaics"):
        for p in sorted((results / sub).rglob("*.tif")):
            with rasterio.open(p) as src:
                tags = {k: v.replace(base, "{base}") for k, v in src.tags().items()}
                # repr: a NaN nodata equals itself only so
                out[p.relative_to(results)] = (repr(src.profile), tags, src.read())
    return out


def _catalog(www, rows):
    """A self-contained STAC catalog of the served scenes, with relative hrefs and the
    grids stated (proj), so planning opens no file."""
    catalog = pystac.Catalog("scenes", "served scenes")
    for sid, day in rows:
        with rasterio.open(www / "scenes" / f"{sid}.tif") as src:
            proj = {
                "proj:epsg": src.crs.to_epsg(),
                "proj:shape": [src.height, src.width],
                "proj:transform": list(src.transform)[:6],
                "raster:bands": [{"data_type": d} for d in src.dtypes],
                "eo:bands": [
                    {"name": n, "common_name": n} for n in ("red", "green", "blue", "nir")
                ],
            }
        item = pystac.Item(sid, None, None, dt.datetime.fromisoformat(f"{day}T10:00:00+00:00"), {})
        item.add_asset(
            "image",
            pystac.Asset(
                str(www / "scenes" / f"{sid}.tif"),
                media_type=pystac.MediaType.GEOTIFF,
                extra_fields=proj,
            ),
        )
        catalog.add_item(item)
    catalog.normalize_hrefs(str(www / "catalog"))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(pystac.CatalogType.SELF_CONTAINED)


def _api_items(tmp_path, url, rows):
    """The served scenes as the items a STAC API holds (footprints in degrees, asset
    hrefs the server's URLs), plus one outside the searched time range."""
    ring = [[-75.7, 41.3], [-75.5, 41.3], [-75.5, 41.5], [-75.7, 41.5], [-75.7, 41.3]]
    features = []
    for sid, day in [*rows, ("a", "2019-07-01")]:
        item = pystac.Item(
            sid if day[:4] == "2020" else "old",
            {"type": "Polygon", "coordinates": [ring]},
            [-75.7, 41.3, -75.5, 41.5],
            dt.datetime.fromisoformat(f"{day}T15:00:00+00:00"),
            {},
            collection="aerial",
        )
        item.add_asset(
            "image",
            pystac.Asset(
                f"{url}/scenes/{sid}.tif",
                extra_fields={
                    "eo:bands": [
                        {"name": n, "common_name": n} for n in ("red", "green", "blue", "nir")
                    ]
                },
            ),
        )
        features.append(item.to_dict())
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_remote_scenes_give_the_products_of_the_same_files_on_disk(tmp_path):
    www = tmp_path / "www"
    (www / "scenes").mkdir(parents=True)
    for name in ("a", "b"):
        shutil.copy(DATA / "rgbn.tif", www / "scenes" / f"{name}.tif")
    rows = [("a", "2020-07-01"), ("b", "2020-08-01")]
    _catalog(www, rows)
    with (
        nginx(www, tmp_path / "nginx") as served,
        moto_s3(tmp_path / "moto") as s3,
        stac_api(_api_items(tmp_path, served.url, rows), tmp_path / "api") as api,
    ):
        for sid, _day in rows:
            s3.put("scenes", f"l2/{sid}.tif", (www / "scenes" / f"{sid}.tif").read_bytes())
        runs = {}
        for kind, base in (
            ("disk", str(www / "scenes")),
            ("http", f"{served.url}/scenes"),
            ("stac", f"{served.url}/scenes"),
            ("s3", "s3://scenes/l2"),
            ("search", f"{served.url}/scenes"),
            ("staged", f"{served.url}/scenes"),
        ):
            work = tmp_path / kind
            work.mkdir()
            sheet = work / "scenes.csv"
            sheet.write_text(
                "scene_id,date,path\n"
                + "".join(f"{sid},{day},{base}/{sid}.tif\n" for sid, day in rows)
            )
            source = f"sheet: {sheet}"
            if kind == "stac":  # the served catalog instead of the sheet
                source = f"stac: {{source: {served.url}/catalog/catalog.json}}"
            if kind == "search":  # a STAC API search
                source = (
                    f"stac: {{api: {api}, collections: [aerial], "
                    "bbox: [-76, 41, -75, 42], datetime: 2020-01-01/2020-12-31}"
                )
            if kind == "staged":  # copies for compute nodes without internet, batched
                source += f"\n  stage_in: {tmp_path / 'copies'}\n  batch: 2"
            (work / "own.yaml").write_text(CONFIG.format(source=source))
            run_snakemake(
                work,
                configfiles=[work / "own.yaml"],
                demo_config=False,
                env=s3.env if kind == "s3" else None,
            )
            runs[kind] = _products(work / "results", base)
        requests = served.requests()
    assert runs["disk"] and runs["http"].keys() == runs["disk"].keys()
    assert len([p for p in runs["disk"] if p.parts[0] == "composites"]) > 1  # several tiles
    for kind in ("http", "stac", "s3", "search", "staged"):
        assert runs[kind].keys() == runs["disk"].keys()
        for path, (profile, tags, pixels) in runs["disk"].items():
            # the provenance tags name the scene files: the URLs where they were read,
            # or the staged copies' paths
            theirs = runs[kind][path][1]
            if kind == "staged":
                tags, theirs = (
                    {
                        k: v
                        for k, v in t.items()
                        if k not in ("RASTERFLOW_INPUTS", "RASTERFLOW_PARAMS")
                    }
                    for t in (tags, theirs)
                )
            assert (runs[kind][path][0], theirs) == (profile, tags), (kind, path)
            np.testing.assert_array_equal(runs[kind][path][2], pixels, err_msg=f"{kind} {path}")
    # the staged run read local copies, byte for byte the served files
    copies = sorted((tmp_path / "copies").rglob("*.tif"))
    assert [c.parent.name for c in copies] == ["a", "b"]
    assert all(
        c.read_bytes() == (www / "scenes" / f"{c.parent.name}.tif").read_bytes() for c in copies
    )
    tags = runs["staged"][next(p for p in runs["staged"] if p.parts[0] == "indices")][1]
    assert str(tmp_path / "copies") in tags["RASTERFLOW_INPUTS"]
    # rasters by range requests (or whole, by the stage-in); the catalog's JSON whole
    gets = [r for r in requests if r[0] == "GET" and r[1].endswith(".tif")]
    assert gets and all(
        status == 206 or (status == 200 and rng == "-") for _m, _p, status, rng, _n in gets
    )
    assert sum(status == 200 for _m, _p, status, _r, _n in gets) == 2  # the two copies
    assert {r[1] for r in requests if r[1].endswith(".json")} == {
        "/catalog/catalog.json",
        "/catalog/a/a.json",
        "/catalog/b/b.json",
    }


def test_an_asset_gone_after_planning_fails_its_job_naming_scene_and_url(tmp_path):
    # the catalog states the grids, so planning opens no file: the job is the first to
    # find the asset gone, and must say which, leaving no product of it behind
    www = tmp_path / "www"
    (www / "scenes").mkdir(parents=True)
    rows = [("a", "2020-07-01"), ("b", "2020-08-01")]
    for sid, _day in rows:
        shutil.copy(DATA / "rgbn.tif", www / "scenes" / f"{sid}.tif")
    _catalog(www, rows)
    (www / "scenes" / "b.tif").unlink()
    with nginx(www, tmp_path / "nginx") as served:
        work = tmp_path / "run"
        work.mkdir()
        (work / "own.yaml").write_text(
            CONFIG.format(source=f"stac: {{source: {served.url}/catalog/catalog.json}}")
        )
        proc = run_snakemake(
            work, "--keep-going", configfiles=[work / "own.yaml"], demo_config=False, check=False
        )
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (work / "results" / "logs").rglob("*.log"))
    assert "scene 'b', band" in logs
    assert f"{served.url}/scenes/b.tif cannot be read over HTTP" in logs
    assert not (work / "results" / "indices" / "b").exists() or not list(
        (work / "results" / "indices" / "b").iterdir()
    )
    assert (work / "results" / "indices" / "a" / "NDVI.tif").exists()  # the other scene's
    assert not [p for p in (work / "results").rglob("*") if ".tmp" in p.name]
