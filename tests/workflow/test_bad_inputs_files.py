"""Bad input files and a full disk, round 2 (issue 15): through the real workflow.

Each case asserts the message the user reads (naming the file, band or key and the
fix), a non-zero exit, no product and no temporary in the results, and that the
user's own files are byte-identical afterwards. Header checks run as dry runs (caught
at the DAG build: no results folder at all); the rest run the one job that meets the
bad input. Full disks are real tmpfs mounts (root only), filled to fail each step at a
different point: the scratch store, the overviews and the COG copy of an index, the
VRT of a mosaic, the GeoParquet of a zonal table and of the long table.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from helpers import run_snakemake
from rasterio.control import GroundControlPoint
from rasterio.transform import from_origin
from test_bad_inputs import (  # noqa: F401 (tmpfs is a fixture)
    INSIDE,
    ORIGIN,
    Case,
    _scene,
    assert_refused,
    base_config,
    case_config,
    hidden,
    leftovers,
    merge,
    needs_root,
    run_case,
    scene_data,
    tmpfs,
    write_sheet,
    write_zones,
)

pytestmark = pytest.mark.workflow

INDEX_TARGET = "results/indices/s1/NDVI.tif"


def user_files(ws: Path) -> dict[str, str]:
    """Digest of every file of the user's: all but the results (here or on a mount of
    the test's), Snakemake's own folder and the test's configs."""
    out = {}
    for p in sorted(ws.rglob("*")):
        rel = p.relative_to(ws)
        top = ws / rel.parts[0]
        if (
            not p.is_file()
            or rel.parts[0] in ("results", ".snakemake")
            or p.suffix == ".yaml"
            or os.path.ismount(top)
        ):
            continue
        out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def compressed_scene(ws: Path, *, size: int = 512) -> Path:
    """The scene as a deflate-compressed GeoTIFF of 64-pixel tiles (a download's layout)."""
    data = np.random.default_rng(5).integers(1, 10_000, (4, size, size), dtype=np.uint16)
    path = ws / "scene.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=4,
        dtype="uint16",
        crs="EPSG:32633",
        compress="deflate",
        tiled=True,
        blockxsize=64,
        blockysize=64,
        transform=from_origin(*ORIGIN, 10.0, 10.0),
    ) as dst:
        dst.write(data)
    write_sheet(ws, [("s1", "2024-06-01", "scene.tif")])
    return path


def _zero(path: Path, start: int, stop: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[start:stop] = bytes(stop - start)
    path.write_bytes(bytes(raw))


def preallocated_download(ws: Path) -> dict[str, Any]:
    path = compressed_scene(ws)
    size = path.stat().st_size
    _zero(path, size // 3, 2 * size // 3)  # full size, the middle never arrived
    return {}


def damaged_block(ws: Path) -> dict[str, Any]:
    path = compressed_scene(ws)
    with rasterio.open(path) as src:  # a block the header check does not sample
        offset = int(src.get_tag_item("BLOCK_OFFSET_5_2", "TIFF", bidx=1))
        length = int(src.get_tag_item("BLOCK_SIZE_5_2", "TIFF", bidx=1))
    _zero(path, offset + 8, offset + length)
    return {}


def gcp_only(ws: Path) -> dict[str, Any]:
    gcps = [
        GroundControlPoint(r, c, ORIGIN[0] + 10 * c, ORIGIN[1] - 10 * r)
        for r, c in [(0, 0), (0, 64), (64, 0), (64, 64)]
    ]
    with rasterio.open(
        ws / "scene.tif",
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=4,
        dtype="uint16",
        gcps=gcps,
        crs="EPSG:32633",
    ) as dst:
        dst.write(scene_data())
    write_sheet(ws, [("s1", "2024-06-01", "scene.tif")])
    return {}


def _zonal(ws: Path, zones: Path, **extra: Any) -> dict[str, Any]:
    _scene(ws)
    return {
        "zonal": {
            "zones": str(zones),
            "products": [],
            "rasters": {"elev": str(ws / "scene.tif")},
            **extra,
        }
    }


def multi_layer_zones(ws: Path) -> dict[str, Any]:
    zones = write_zones(ws / "zones.gpkg", [INSIDE])
    gpd.read_file(zones).to_file(zones, layer="roads", driver="GPKG")
    return _zonal(ws, zones)


def multi_layer_aoi(ws: Path) -> dict[str, Any]:
    _scene(ws)
    aoi = write_zones(ws / "aoi.gpkg", [INSIDE])
    gpd.read_file(aoi).to_file(aoi, layer="buffer", driver="GPKG")
    return {"grid": {"crs": "EPSG:32633", "aoi": {"vector": str(aoi)}}}


def stat_named_attributes(ws: Path) -> dict[str, Any]:
    zones = gpd.GeoDataFrame(
        {"zone_id": [1], "p5": [0.3], "frac_forest": [0.5], "owner": ["x"]},
        geometry=[INSIDE],
        crs="EPSG:32633",
    )
    zones.to_file(ws / "zones.gpkg", driver="GPKG")
    return _zonal(ws, ws / "zones.gpkg")


def band_extents_differ(ws: Path) -> dict[str, Any]:
    from helpers import write_raster

    folder = ws / "S2_T33"
    folder.mkdir()
    data = scene_data()
    write_raster(folder / "T33_B04.tif", data[2], nodata=0)
    # B08 of a neighbouring tile: same size, 320 m (half the scene) further east
    write_raster(folder / "T33_B08.tif", data[3], nodata=0, origin=(ORIGIN[0] + 320, ORIGIN[1]))
    write_sheet(ws, [("s1", "2024-06-01", "S2_T33")])
    return {"scenes": {"bands": {"red": {"pattern": "*_B04.tif"}, "nir": {"pattern": "*_B08.tif"}}}}


CASES = [
    Case(
        "preallocated-download",
        preallocated_download,
        "scene 's1': {ws}/scene.tif is damaged: block (3, 3) of band 1 (rows 192-255) "
        "holds only zero bytes where compressed data must be (an unfinished or "
        "preallocated download?). Download or copy it again.",
    ),
    Case(
        "damaged-block",
        damaged_block,
        "scene 's1': {ws}/scene.tif is damaged at band 1, rows 128-191, columns 320-383 (GDAL: ",
        target=INDEX_TARGET,
        where="job",
    ),
    Case(
        "gcp-only-raster",
        gcp_only,
        "scene 's1': {ws}/scene.tif is georeferenced only by 4 ground control points "
        "(GCPs), without a geotransform, so it has no grid to read onto. Warp it first "
        "and use the warped file, e.g. gdalwarp -t_srs EPSG:32633 '{ws}/scene.tif' "
        "warped.tif",
    ),
    Case(
        "zones-several-layers",
        multi_layer_zones,
        "zonal.layer: {ws}/zones.gpkg holds 2 layers (zones, roads) and zonal.layer is "
        "empty, so which one to use is unclear; set zonal.layer to one of them",
    ),
    Case(
        "aoi-several-layers",
        multi_layer_aoi,
        "grid.aoi.layer: {ws}/aoi.gpkg holds 2 layers (aoi, buffer) and grid.aoi.layer is "
        "empty, so which one to use is unclear; set grid.aoi.layer to one of them",
    ),
    Case(
        "zone-attributes-named-like-statistics",
        stat_named_attributes,
        "zones: {ws}/zones.gpkg has attribute column(s) p5, frac_forest, named like the "
        "statistic columns of the zonal tables (count, sum, mean, min, max, std, median, "
        "majority, p<q>, frac_<class>), which they would be mixed up with. Rename them in "
        "the zones file (e.g. p5 -> attr_p5, in QGIS's field editor or with ogr2ogr -sql), "
        "or drop them",
    ),
    Case(
        "band-files-of-other-extents",
        band_extents_differ,
        "scene 's1': its band files cover different areas: {ws}/S2_T33/T33_B08.tif "
        "(scenes.bands.nir) spans 500320, 5999360, 500960, 6000000 but "
        "{ws}/S2_T33/T33_B04.tif (scenes.bands.red) spans 500000, 5999360, 500640, "
        "6000000 (left, bottom, right, top in EPSG:32633); every band of a scene must "
        "cover the same area (resolutions may differ). Use band files of one product, or "
        "cut them to one extent (gdalwarp -te)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_file_is_refused_clearly_leaving_no_output(tmp_path, case):
    cfg = case_config(tmp_path, case)
    before = user_files(tmp_path)  # the digests of the user's files just before the run
    assert_refused(tmp_path, case, run_case(tmp_path, case, cfg))
    assert user_files(tmp_path) == before


def test_ten_and_twenty_metre_bands_of_one_tile_are_accepted(tmp_path):
    from helpers import write_raster

    folder = tmp_path / "S2_T33"
    folder.mkdir()
    data = scene_data()
    write_raster(folder / "T33_B04_10m.tif", data[2], nodata=0)
    write_raster(folder / "T33_B11_20m.tif", data[3, ::2, ::2], res=20.0, nodata=0)
    write_sheet(tmp_path, [("s1", "2024-06-01", "S2_T33")])
    cfg = tmp_path / "s2.yaml"
    cfg.write_text(
        yaml.safe_dump(
            merge(
                base_config(tmp_path),
                {
                    "scenes": {
                        "bands": {
                            "red": {"pattern": "*_B04_10m.tif"},
                            "nir": {"pattern": "*_B11_20m.tif"},
                        }
                    }
                },
            )
        )
    )
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False)
    assert INDEX_TARGET in proc.stdout


# --- a full disk: real tmpfs mounts ---------------------------------------------------

DISK_ADVICE = (
    "the disk is full (look for 'No space left on device' above) or not "
    "writable. Free space there, or set results to a larger disk; no partial "
    "product was left behind"
)


def _fill(mount: Path, *, leave: int) -> Path:
    """A file of the test's on ``mount`` that leaves ``leave`` bytes free there."""
    st = os.statvfs(mount)
    free = st.f_bavail * st.f_frsize
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        os.posix_fallocate(fd, 0, max(1, free - leave))
    finally:
        os.close(fd)
    return filler


def _run(
    ws: Path, config: dict[str, Any], target: str, *extra: str, check: bool
) -> subprocess.CompletedProcess[str]:
    cfg = ws / "full.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(ws), config)))
    return run_snakemake(
        ws, "--cores", "2", target, *extra, configfiles=[cfg], demo_config=False, check=check
    )


def _assert_refused(
    proc: subprocess.CompletedProcess[str],
    results: Path,
    product: Path,
    before: dict[str, str],
    ws: Path,
) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    # in the job's log when there was room for it, else on the job's stderr
    logs = " ".join(p.read_text(errors="replace") for p in results.rglob("*.log"))
    assert "writing an output failed" in output + logs, output[-4000:]
    assert DISK_ADVICE in output + logs, (output + logs)[-4000:]
    assert not product.exists() and hidden(results) == []
    assert user_files(ws) == before


# sizes at which the index of a 1024² scene (4 MiB of float32) fails in each pass of
# rasterflow.io.write_cogs, as GDAL reported it on this tmpfs: the Dask store into the
# scratch file ("Write failed"), the overviews ("TIFFReadDirectory" of the scratch
# file), the COG copy ("TIFFAppendToStrip:Seek error")
@needs_root
@pytest.mark.parametrize("size", ["1m", "4300k", "5600k"])
def test_full_disk_at_each_pass_of_an_index_gives_the_disk_advice(tmp_path, tmpfs, size):  # noqa: F811 (tmpfs: the imported fixture)
    full = tmpfs(f"small-{size}", f"size={size}")
    big = np.random.default_rng(3).integers(1, 10_000, (4, 1024, 1024), dtype=np.uint16)
    _scene(tmp_path, data=big)
    before = user_files(tmp_path)
    proc = _run(tmp_path, {"results": str(full)}, f"{full}/indices/s1/NDVI.tif", check=False)
    _assert_refused(proc, full, full / "indices" / "s1" / "NDVI.tif", before, tmp_path)
    assert leftovers(full) == []


@needs_root
def test_full_disk_at_a_mosaic_gives_the_disk_advice(tmp_path, tmpfs):  # noqa: F811 (tmpfs: the imported fixture)
    mount = tmpfs("disk", "size=8m")
    results = mount / "results"
    _scene(tmp_path)
    grid = {
        "grid": {
            "crs": "EPSG:32633",
            "tile_px": 64,
            "aoi": {"bounds": [ORIGIN[0], ORIGIN[1] - 640, ORIGIN[0] + 640, ORIGIN[1]]},
        },
        "results": str(results),
    }
    # everything the mosaic needs, on a disk with room for it
    _run(tmp_path, grid, f"{results}/mosaics/2024/NDVI.vrt", "--omit-from", "mosaic", check=True)
    assert list((results / "composites").rglob("*.tif")), "the composites did not run"
    _fill(mount, leave=0)
    before = user_files(tmp_path)
    proc = _run(tmp_path, grid, f"{results}/mosaics/2024/NDVI.vrt", check=False)
    _assert_refused(proc, results, results / "mosaics" / "2024" / "NDVI.vrt", before, tmp_path)
    assert not (results / "mosaics" / "2024" / "NDVI.tif").exists()


@needs_root
def test_full_disk_at_zonal_tables_gives_the_disk_advice(tmp_path, tmpfs):  # noqa: F811 (tmpfs: the imported fixture)
    mount = tmpfs("disk", "size=4m")
    results = mount / "results"
    zonal = _zonal(tmp_path, write_zones(tmp_path / "zones.gpkg", [INSIDE]))
    zonal["results"] = str(results)
    filler = _fill(mount, leave=0)
    before = user_files(tmp_path)
    proc = _run(tmp_path, zonal, f"{results}/zonal/elev/static.parquet", check=False)
    _assert_refused(proc, results, results / "zonal" / "elev" / "static.parquet", before, tmp_path)
    assert leftovers(results) == []
    # the long table (a light step: no Dask), once the zonal table had room
    filler.unlink()
    _run(tmp_path, zonal, f"{results}/zonal/elev/static.parquet", check=True)
    _fill(mount, leave=0)
    proc = _run(tmp_path, zonal, f"{results}/zonal/zonal_long.parquet", check=False)
    _assert_refused(proc, results, results / "zonal" / "zonal_long.parquet", before, tmp_path)
    assert not (results / "zonal" / "zonal_long.csv").exists()
