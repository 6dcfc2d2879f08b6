"""The bad-input catalogue (docs/reliability.md): each case through the real workflow.

Every case asserts the message a user sees (it names the file or key and says how to
fix it), a non-zero exit, and that the results directory holds no product, whole or
partial: at most the failed job's log. Cases caught at the DAG build run as dry runs;
the rest run the one job that meets the bad input. A few inputs are accepted by design
(another CRS, repairable geometries, a DEM in degrees, a scene outside the AOI): those
cases assert the warning and the product.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from helpers import DATA, run_snakemake, write_raster
from shapely.geometry import Polygon, box

pytestmark = pytest.mark.workflow

#: the scene's grid: 64 x 64 px of 10 m at (500000, 6000000), EPSG:32633
ORIGIN = (500_000.0, 6_000_000.0)
SIZE = 64 * 10.0
INSIDE = box(ORIGIN[0] + 50, ORIGIN[1] - 300, ORIGIN[0] + 300, ORIGIN[1] - 50)


def scene_data(seed: int = 0) -> np.ndarray:
    """Four bands of digital numbers, 1..10000 (0 is nodata)."""
    return np.random.default_rng(seed).integers(1, 10_000, (4, 64, 64), dtype=np.uint16)


def base_config(ws: Path) -> dict[str, Any]:
    return {
        "demo": False,
        "results": "results",
        "scenes": {
            "sheet": str(ws / "scenes.csv"),
            "bands": {"red": {"band": 3, "nodata": 0}, "nir": {"band": 4, "nodata": 0}},
        },
        "indices": ["NDVI"],
        "dask": {"progress_interval": 60},
    }


def write_sheet(ws: Path, rows: list[tuple[str, str, str]]) -> None:
    with (ws / "scenes.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scene_id", "date", "path"])
        w.writerows(rows)


def write_zones(
    path: Path,
    geoms: list[Any],
    *,
    ids: list[Any] | None = None,
    crs: str | None = "EPSG:32633",
    id_column: str = "zone_id",
) -> Path:
    ids = list(range(1, len(geoms) + 1)) if ids is None else ids
    gdf = gpd.GeoDataFrame(
        {id_column: ids, "name": [f"z{i}" for i in ids]}, geometry=gpd.GeoSeries(geoms), crs=crs
    )
    gdf.to_file(path, driver="GPKG")
    return path


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


#: what a run writes first into its results folder (rasterflow.ownership), no product
MARKER = ".rasterflow"


def leftovers(results: Path) -> list[str]:
    """Files under ``results`` other than logs, benchmarks and the results marker:
    products or temporaries."""
    if not results.exists():
        return []
    return sorted(
        p.relative_to(results).as_posix()
        for p in results.rglob("*")
        if p.is_file() and p.relative_to(results).parts[0] not in ("logs", "benchmarks", MARKER)
    )


def hidden(results: Path) -> list[str]:
    """Hidden files (a writer's temporaries) under ``results``, the marker aside."""
    if not results.exists():
        return []
    return sorted(str(p) for p in results.rglob(".*") if p != results / MARKER)


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it, what to run, what the user must read."""

    id: str
    setup: Callable[[Path], dict[str, Any]]  # workspace -> config overrides
    message: str  # the user-facing text, verbatim (``{ws}`` is the workspace)
    target: str | None = None  # None: a dry run of the whole plan (a DAG-time check)
    where: str = "DAG"
    extra: list[str] = field(default_factory=list)


def _scene(ws: Path, data: np.ndarray | None = None, **kw: Any) -> Path:
    path = write_raster(ws / "scene.tif", scene_data() if data is None else data, **kw)
    write_sheet(ws, [("s1", "2024-06-01", "scene.tif")])
    return path


def corrupt_geotiff(ws: Path) -> dict[str, Any]:
    good = _scene(ws)
    raw = good.read_bytes()
    good.write_bytes(raw[: len(raw) // 2])  # a copy interrupted half way
    return {}


def text_named_tif(ws: Path) -> dict[str, Any]:
    _scene(ws)
    (ws / "scene.tif").write_text("<html>403 Forbidden</html>\n")
    return {}


def no_crs(ws: Path) -> dict[str, Any]:
    _scene(ws, crs=None)
    return {}


def band_out_of_range(ws: Path) -> dict[str, Any]:
    _scene(ws, data=scene_data()[:3])
    return {}


def nodata_outside_dtype(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"scenes": {"bands": {"red": {"band": 3, "nodata": -9999}}}}


def float_mask(ws: Path) -> dict[str, Any]:
    data = scene_data().astype("float32")
    _scene(ws, data=data)
    return {"scenes": {"mask": {"band": 1, "valid": [4, 5]}}}


def all_nodata(ws: Path) -> dict[str, Any]:
    data = scene_data()
    data[3] = 0  # nir: an empty band, e.g. a failed download written as zeros
    _scene(ws, data=data)
    return {}


def missing_dem(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"terrain": {"dem": "nowhere/dem.tif"}}


def dem_without_crs(ws: Path) -> dict[str, Any]:
    _scene(ws)
    write_raster(ws / "dem.tif", np.ones((32, 32), dtype="float32"), crs=None)
    return {"terrain": {"dem": str(ws / "dem.tif")}}


def missing_zonal_raster(ws: Path) -> dict[str, Any]:
    _scene(ws)
    write_zones(ws / "zones.gpkg", [INSIDE])
    return {
        "zonal": {
            "zones": str(ws / "zones.gpkg"),
            "products": [],
            "rasters": {"elev": str(ws / "elev.tif")},
        }
    }


def unknown_composite_index(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {
        "grid": {"crs": "EPSG:32633", "aoi": {"bounds": list(INSIDE.bounds)}},
        "composite": {"indices": ["NBR"]},
    }


def malformed_expression(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"indices": ["mine"], "custom_indices": {"mine": "(nir - red"}}


def expression_unknown_band(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"indices": ["mine"], "custom_indices": {"mine": "(nir - rde) / nir"}}


def results_is_a_file(ws: Path) -> dict[str, Any]:
    _scene(ws)
    (ws / "busy").write_text("")
    return {"results": "busy/results"}


def _zonal(ws: Path, zones: Path) -> dict[str, Any]:
    _scene(ws)
    return {
        "zonal": {"zones": str(zones), "products": [], "rasters": {"elev": str(ws / "scene.tif")}}
    }


def zones_unreadable(ws: Path) -> dict[str, Any]:
    (ws / "zones.gpkg").write_text("not a geopackage")
    return _zonal(ws, ws / "zones.gpkg")


def zones_without_crs(ws: Path) -> dict[str, Any]:
    # a Shapefile without its .prj (GeoJSON cannot lack one: it is WGS 84 by definition)
    gpd.GeoDataFrame({"zone_id": [1]}, geometry=[INSIDE]).to_file(ws / "zones.shp")
    return _zonal(ws, ws / "zones.shp")


def zones_no_id_column(ws: Path) -> dict[str, Any]:
    return _zonal(ws, write_zones(ws / "zones.gpkg", [INSIDE], id_column="field"))


def zones_duplicate_ids(ws: Path) -> dict[str, Any]:
    return _zonal(ws, write_zones(ws / "zones.gpkg", [INSIDE, INSIDE, INSIDE], ids=[7, 7, 8]))


def zones_null_ids(ws: Path) -> dict[str, Any]:
    return _zonal(ws, write_zones(ws / "zones.gpkg", [INSIDE, INSIDE], ids=["a", None]))


def zones_no_geometry(ws: Path) -> dict[str, Any]:
    return _zonal(ws, write_zones(ws / "zones.gpkg", [None, Polygon()]))


def zones_no_overlap(ws: Path) -> dict[str, Any]:
    far = box(ORIGIN[0] + 5000, ORIGIN[1] + 5000, ORIGIN[0] + 6000, ORIGIN[1] + 6000)
    return _zonal(ws, write_zones(ws / "zones.gpkg", [far]))


def zones_points(ws: Path) -> dict[str, Any]:
    from shapely.geometry import Point

    return _zonal(ws, write_zones(ws / "zones.gpkg", [Point(ORIGIN[0] + 5, ORIGIN[1] - 5)]))


ZONAL_TARGET = "results/zonal/elev/static.parquet"

CASES = [
    Case(
        "corrupt-geotiff",
        corrupt_geotiff,
        "scene 's1': {ws}/scene.tif is truncated: its blocks need",
    ),
    Case(
        "text-file-named-tif",
        text_named_tif,
        "scene 's1': {ws}/scene.tif is not a readable raster (",
    ),
    Case(
        "raster-without-crs",
        no_crs,
        "scene 's1': {ws}/scene.tif has no CRS. Assign one, e.g. gdal_edit.py -a_srs EPSG:32633",
    ),
    Case(
        "band-count-contradicts-config",
        band_out_of_range,
        "scene 's1': {ws}/scene.tif has 3 band(s), but scenes.bands.nir.band is 4; set "
        "scenes.bands.nir.band to a band between 1 and 3",
    ),
    Case(
        "nodata-contradicts-dtype",
        nodata_outside_dtype,
        "scene 's1': scenes.bands.red.nodata is -9999, but band 3 of {ws}/scene.tif is "
        "uint16 (whole numbers 0..65535) and can never hold it; set scenes.bands.red.nodata"
        " to the file's no-data value",
    ),
    Case(
        "mask-band-not-integer",
        float_mask,
        "scene 's1': mask band 1 of {ws}/scene.tif is float32, but a mask holds integer "
        "classes; point scenes.mask at the classification band",
    ),
    Case(
        "scene-all-nodata",
        all_nodata,
        "scene 's1', band nir: every pixel of band 4 of {ws}/scene.tif is no-data (0); the "
        "file is empty or scenes.bands.nir.nodata is wrong: fix scenes.bands.nir.nodata, or "
        "remove the scene from the scene sheet",
        target="results/indices/s1/NDVI.tif",
        where="job",
    ),
    Case(
        "dem-missing",
        missing_dem,
        "terrain.dem: nowhere/dem.tif not found; fix the path or set it to ''",
    ),
    Case("dem-without-crs", dem_without_crs, "terrain.dem: {ws}/dem.tif has no CRS. Assign one"),
    Case(
        "zonal-raster-missing",
        missing_zonal_raster,
        "zonal.rasters.elev: file not found: {ws}/elev.tif. Check the path in zonal.rasters.",
    ),
    Case(
        "composite-unknown-index",
        unknown_composite_index,
        "composite.indices: NBR not in indices (NDVI)",
    ),
    Case(
        "expression-malformed",
        malformed_expression,
        "index 'mine': cannot parse '(nir - red' ('(' was never closed at column 1); use "
        "only band names, numbers, + - * / ** and parentheses",
    ),
    Case(
        "expression-unknown-band",
        expression_unknown_band,
        "index 'mine' ((nir - rde) / nir) needs band(s) rde, which scenes.bands does not "
        "define (it has nir, red)",
    ),
    Case(
        "results-dir-is-a-file",
        results_is_a_file,
        "results: {ws}/busy/results cannot be created because {ws}/busy is a file, not a "
        "directory; set results to another directory",
    ),
    Case("zones-unreadable", zones_unreadable, "zones: cannot read {ws}/zones.gpkg ("),
    Case(
        "zones-without-crs",
        zones_without_crs,
        "zones: {ws}/zones.shp has no CRS. Assign one, e.g. ogr2ogr -a_srs EPSG:4326",
    ),
    Case(
        "zones-no-id-column",
        zones_no_id_column,
        "zones: {ws}/zones.gpkg has no column 'zone_id' (columns: field, name). Set "
        "zonal.id_column to one of these.",
    ),
    Case(
        "zones-duplicate-ids",
        zones_duplicate_ids,
        "zones: column 'zone_id' of {ws}/zones.gpkg is not unique: 7 occur more than once.",
    ),
    Case(
        "zones-null-ids",
        zones_null_ids,
        "zones: column 'zone_id' of {ws}/zones.gpkg is empty in 1 feature(s) (rows 1).",
    ),
    Case(
        "zones-no-geometry",
        zones_no_geometry,
        "zones: none of the 2 zone(s) of {ws}/zones.gpkg has a geometry (all null or "
        "empty); fix the zones file",
        target=ZONAL_TARGET,
        where="job",
    ),
    Case(
        "zones-no-overlap",
        zones_no_overlap,
        "zones: no zone of {ws}/zones.gpkg overlaps {ws}/scene.tif (zones span 505000, "
        "6.005e+06, 506000, 6.006e+06; the raster 500000, 5.99936e+06, 500640, 6e+06, in "
        "the raster's CRS); use zones of the raster's area, or fix the CRS of the zones or "
        "of the raster",
        target=ZONAL_TARGET,
        where="job",
    ),
    Case(
        "zones-not-polygons",
        zones_points,
        "zones: {ws}/zones.gpkg has non-polygon geometries (Point) for zone(s) 1. Zones must "
        "be polygons: buffer points/lines or drop them.",
        target=ZONAL_TARGET,
        where="job",
    ),
]


def case_config(ws: Path, case: Case) -> Path:
    """Make the case's inputs in ``ws`` and its config file."""
    cfg = ws / "bad.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(ws), case.setup(ws))))
    return cfg


def run_case(ws: Path, case: Case, cfg: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``case`` (its dry run, or its target), with ``cfg`` when already made."""
    cfg = cfg or case_config(ws, case)
    # --cores before a target ends the --configfile list, which would swallow it
    args = ["--cores", "2", case.target] if case.target else ["--dry-run"]
    return run_snakemake(ws, *args, *case.extra, configfiles=[cfg], demo_config=False, check=False)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_clearly_leaving_no_output(tmp_path, case):
    assert_refused(tmp_path, case, run_case(tmp_path, case))


def assert_refused(ws: Path, case: Case, proc: subprocess.CompletedProcess[str]) -> str:
    """A non-zero exit, the case's message, and no product or temporary in results
    (none at all when refused at the DAG build); the run's output."""
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert case.message.format(ws=ws) in output, output[-4000:]
    results = ws / "results"
    if case.where == "DAG":  # refused before any job: nothing was written at all
        assert not results.exists()
    assert leftovers(results) == [] and hidden(results) == []
    return output


def test_catalogue_counts_at_least_80_cases_with_every_workflow_case():
    """docs/reliability.md lists the cases of every bad-input file and those tested elsewhere."""
    import importlib

    doc = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()
    cases = list(CASES)
    for name in ("test_bad_inputs_sheet", "test_bad_inputs_config", "test_bad_inputs_files"):
        cases += importlib.import_module(name).CASES
    for case in cases:
        assert f"`{case.id}`" in doc or f"[{case.id}]" in doc, case.id
    rows = re.findall(r"^\| (\d+) \|", doc, re.MULTILINE)
    assert [int(r) for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 80


# --- accepted by design: a warning, and the product -------------------------------


def test_scene_outside_the_aoi_is_warned_and_still_gets_its_index(tmp_path):
    _scene(tmp_path)
    write_raster(tmp_path / "far.tif", scene_data(1), origin=(600_000.0, 6_000_000.0))
    write_sheet(tmp_path, [("s1", "2024-06-01", "scene.tif"), ("far", "2024-06-02", "far.tif")])
    cfg = tmp_path / "aoi.yaml"
    cfg.write_text(
        yaml.safe_dump(
            merge(
                base_config(tmp_path),
                {
                    "grid": {
                        "crs": "EPSG:32633",
                        "tile_px": 64,
                        "aoi": {
                            "bounds": [ORIGIN[0], ORIGIN[1] - SIZE, ORIGIN[0] + SIZE, ORIGIN[1]]
                        },
                    },
                    # index rasters per scene, the product the AOI leaves alone
                    "scene_indices": True,
                },
            )
        )
    )
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False)
    assert (
        "grid.aoi: scene(s) far lie outside the area of interest and go into no "
        "composite; remove them from the scene sheet or widen grid.aoi"
    ) in (proc.stdout + proc.stderr)
    assert "results/indices/far/NDVI.tif" in proc.stdout  # its own product is still made
    assert "scene=far" not in proc.stdout.split("rule composite")[-1]


def test_a_countries_sized_vector_aoi_plans_only_the_scenes_and_prints_the_sizes(tmp_path):
    """Issue #17: the README's aoi: {vector: ...} with a layer far larger than the data
    planned a grid of the whole layer (mosaics spanning it) without a word."""
    _scene(tmp_path)
    write_raster(tmp_path / "far.tif", scene_data(1), origin=(600_000.0, 6_000_000.0))
    write_sheet(tmp_path, [("s1", "2024-06-01", "scene.tif"), ("far", "2024-06-02", "far.tif")])
    lon = np.linspace(-170, 170, 20_000)
    world = Polygon(
        np.concatenate(
            [np.c_[lon, np.full_like(lon, -60)], np.c_[lon[::-1], np.full_like(lon, 75)]]
        )
    )
    gpd.GeoDataFrame(geometry=[world], crs="EPSG:4326").to_file(tmp_path / "world.gpkg")
    cfg = tmp_path / "aoi.yaml"
    cfg.write_text(
        yaml.safe_dump(
            merge(
                base_config(tmp_path),
                {
                    "grid": {
                        "crs": "EPSG:32633",
                        "resolution": 10,
                        "origin": [0, 0],
                        "tile_px": 64,
                        "aoi": {"vector": str(tmp_path / "world.gpkg")},
                    },
                },
            )
        )
    )
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False)
    # the two scenes' union: 500000..600640 x 5999360..6000000; tiles of 640 m hold the
    # first scene in one and the far one in two (100000 / 640 = 156.25)
    assert (
        "grid: 10064 x 64 px of 10 m in EPSG:32633, [500000, 5999360, 600640, 6000000]; "
        "3 tile(s) of 64 px with data; 1 mosaic(s) (each with its count) of 10064 x 64 "
        "px, 2.6 MB each as uncompressed float32"
    ) in proc.stdout
    assert len(re.findall(r"^rule composite:", proc.stdout, re.MULTILINE)) == 3


def _zonal_table(ws: Path, zones: Path) -> tuple[pd.DataFrame, str]:
    cfg = ws / "zonal.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(ws), _zonal(ws, zones))))
    run_snakemake(ws, "--cores", "2", ZONAL_TARGET, configfiles=[cfg], demo_config=False)
    log = (ws / "results" / "logs" / "zonal" / "elev" / "static.log").read_text()
    return gpd.read_parquet(ws / ZONAL_TARGET), log


def test_zones_in_another_crs_give_the_same_statistics(tmp_path):
    same, _ = _zonal_table(tmp_path / "a", write_zones(_mk(tmp_path / "a") / "z.gpkg", [INSIDE]))
    geographic = gpd.GeoSeries([INSIDE], crs="EPSG:32633").to_crs("EPSG:4326")
    other, _ = _zonal_table(
        tmp_path / "b",
        write_zones(_mk(tmp_path / "b") / "z.gpkg", list(geographic), crs="EPSG:4326"),
    )
    assert same["count"].iloc[0] > 0
    # vertex-wise reprojection bends no edge here: the same pixels within a sliver
    np.testing.assert_allclose(other["mean"], same["mean"], rtol=1e-3)
    np.testing.assert_allclose(other["count"], same["count"], rtol=1e-2)


def test_invalid_and_empty_zone_geometries_are_repaired_or_counted_zero(tmp_path):
    x0, y0 = ORIGIN[0] + 50, ORIGIN[1] - 50
    bowtie = Polygon([(x0, y0), (x0 + 200, y0 - 200), (x0 + 200, y0), (x0, y0 - 200)])
    zones = write_zones(_mk(tmp_path) / "z.gpkg", [bowtie, None, INSIDE])
    table, log = _zonal_table(tmp_path, zones)
    assert "zones: repaired 1 invalid geometry of" in log and "(zone zone_id 1)" in log
    assert "zones: 1 zone(s) of" in log and "get count 0 (zone zone_id 2)" in log
    assert list(table["zone_id"]) == [1, 2, 3]
    assert table["count"].iloc[0] > 0 and table["count"].iloc[1] == 0


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_dem_in_degrees_without_scale_uses_ellipsoidal_spacing(tmp_path):
    """Decision (docs/reliability.md): no error; metres per pixel per row on the ellipsoid."""
    _scene(tmp_path)
    shutil.copy(DATA / "rmnp-dem.tif", tmp_path / "dem.tif")
    cfg = tmp_path / "dem.yaml"
    cfg.write_text(
        yaml.safe_dump(
            merge(
                base_config(tmp_path),
                {"terrain": {"dem": str(tmp_path / "dem.tif"), "products": ["slope"]}},
            )
        )
    )
    run_snakemake(
        tmp_path, "--cores", "2", "results/terrain/slope.tif", configfiles=[cfg], demo_config=False
    )
    log = (tmp_path / "results" / "logs" / "terrain.log").read_text()
    assert "spacing latitude-aware on WGS 84" in log
    with rasterio.open(tmp_path / "results" / "terrain" / "slope.tif") as src:
        slope = src.read(1, masked=True)
    # Rocky Mountain National Park: steep, but no slope in degrees can pass 90
    assert 20 < slope.max() < 90 and slope.mean() > 5


# --- needs root: a read-only and a full file system (mount tmpfs) -------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root"
)


@pytest.fixture
def tmpfs(tmp_path):
    mounts: list[Path] = []

    def mount(name: str, *options: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)], check=True
        )
        mounts.append(where)
        return where

    yield mount
    for where in mounts:
        subprocess.run(["umount", str(where)], check=True)


@needs_root
def test_read_only_results_dir_is_refused_before_any_job(tmp_path, tmpfs):
    ro = tmpfs("ro", "ro", "size=1m")
    _scene(tmp_path)
    cfg = tmp_path / "ro.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(tmp_path), {"results": str(ro / "res")})))
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False, check=False)
    assert proc.returncode != 0
    assert (
        f"results: cannot write to {ro} (read-only file system or no permission); set "
        "results to a directory you can write, or fix its permissions"
    ) in (proc.stdout + proc.stderr)
    assert list(ro.iterdir()) == []


@needs_root
def test_full_disk_fails_the_job_clearly_and_leaves_no_partial_product(tmp_path, tmpfs):
    full = tmpfs("small", "size=2m")
    big = np.random.default_rng(3).integers(1, 10_000, (4, 1024, 1024), dtype=np.uint16)
    _scene(tmp_path, data=big)
    cfg = tmp_path / "full.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(tmp_path), {"results": str(full)})))
    proc = run_snakemake(
        tmp_path,
        "--cores",
        "2",
        f"{full}/indices/s1/NDVI.tif",
        configfiles=[cfg],
        demo_config=False,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "No space left on device" in output  # libtiff's own words, on stderr
    log = (full / "logs" / "index" / "s1.log").read_text()
    assert (
        "the disk is full (look for 'No space left on device' above) or not writable. "
        "Free space there, or set results to a larger disk"
    ) in log, log[-3000:]
    assert leftovers(full) == [] and hidden(full) == []
