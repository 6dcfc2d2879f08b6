"""Each stage on its own (issue #17): terrain of a DEM, zonal statistics of given
rasters, no scene sheet; and clear messages for what is missing."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
import yaml
from helpers import DATA, run_snakemake

pytestmark = pytest.mark.workflow

DEM = DATA / "rmnp-dem.tif"  # a real DEM (tests/data/README.md)
ZONES = DATA / "rmnp.shp"


def _jobs(stdout: str) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", stdout, re.MULTILINE))


def test_terrain_only_runs_without_scenes(tmp_path):
    cfg = tmp_path / "terrain.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "demo": False,
                "results": "results",
                "terrain": {"dem": str(DEM), "products": ["slope"]},
            }
        )
    )
    planned = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False)
    assert _jobs(planned.stdout) == {
        "terrain",
        "quicklooks",
        "benchmark_chart",
        "run_info",
        "stac",
        "qgis",
        "all",
    }
    run_snakemake(tmp_path, "--cores", "2", configfiles=[cfg], demo_config=False)
    with (
        rasterio.open(tmp_path / "results" / "terrain" / "slope.tif") as src,
        rasterio.open(DEM) as dem,
    ):
        slope = src.read(1, masked=True)
        assert (src.crs, src.transform) == (dem.crs, dem.transform)
    assert 0 <= slope.min() and slope.max() < 90 and slope.mean() > 1  # mountains
    # the terrain collection's one item, an asset per product (rasterflow.stac)
    item = json.loads(
        (tmp_path / "results" / "stac" / "terrain" / "terrain" / "terrain.json").read_text()
    )
    assert item["properties"]["datetime"]  # the DEM's date: there are no scenes
    assert item["assets"]["slope"]["href"].endswith("terrain/slope.tif")
    # a terrain-only run still gets its QGIS style and project (the DEM's products only)
    assert (tmp_path / "results" / "terrain" / "slope.qml").is_file()
    project = (tmp_path / "results" / "rasterflow.qgs").read_text()
    assert 'source="./terrain/slope.tif"' in project and "mosaics" not in project


def test_zonal_only_summarises_given_rasters_without_scenes(tmp_path):
    cfg = tmp_path / "zonal.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "demo": False,
                "results": "results",
                "zonal": {
                    "zones": str(ZONES),
                    "id_column": "OBJECTI",
                    "rasters": {"elevation": str(DEM)},
                },
            }
        )
    )
    run_snakemake(tmp_path, "--cores", "2", configfiles=[cfg], demo_config=False)
    table = pd.read_parquet(tmp_path / "results" / "zonal" / "elevation" / "static.parquet")
    zones = gpd.read_file(ZONES)
    assert list(table["OBJECTI"]) == list(zones["OBJECTI"])  # the id keeps its name
    with rasterio.open(DEM) as src:
        dem = src.read(1, masked=True)
    assert table["count"].gt(0).all()
    assert table["mean"].between(dem.min(), dem.max()).all()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {},
            "nothing to do: set scenes.sheet to your scene sheet CSV or scenes.stac.source to "
            "a STAC catalog (indices, composites), terrain.dem to a DEM (terrain), or "
            "zonal.zones and zonal.rasters (zonal statistics); or set demo: true",
        ),
        (
            {"zonal": {"zones": str(ZONES), "id_column": "OBJECTI"}},
            "zonal.zones: nothing to summarise over",
        ),
    ],
)
def test_a_config_with_nothing_to_do_says_what_is_missing(tmp_path, settings, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"demo": False, "results": "results", **settings}))
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False, check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists() or not any(
        p for p in (tmp_path / "results").rglob("*") if p.suffix in (".tif", ".parquet")
    )


def test_a_sheet_without_bands_says_none_are_defined(tmp_path):
    (tmp_path / "s.tif").write_bytes(DEM.read_bytes())
    (tmp_path / "scenes.csv").write_text("scene_id,date,path\ns1,2024-06-01,s.tif\n")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "demo": False,
                "results": "results",
                "indices": ["NDVI"],
                "scenes": {"sheet": str(tmp_path / "scenes.csv"), "bands": {}, "mask": None},
            }
        )
    )
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False, check=False)
    assert proc.returncode != 0
    assert (
        "which scenes.bands does not define (it has none: give each band a role there)"
    ) in proc.stdout + proc.stderr
