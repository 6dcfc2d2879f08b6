"""config/examples/own-data.yaml, as README "Your own data" uses it, on real rasters laid
out like Sentinel-2 SAFE folders (tests/data/rgbn.tif split into band files)."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from helpers import DATA, REPO, run_snakemake
from shapely.geometry import box

pytestmark = pytest.mark.workflow

EXAMPLE = REPO / "config" / "examples" / "own-data.yaml"
DATES = ("2020-07-01", "2020-08-03")


def _band_file(path: Path, data: np.ndarray, profile: dict, *, factor: int = 1) -> None:
    """A GeoTIFF named like the SAFE's .jp2 (GDAL opens files by content, not name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = data[::factor, ::factor]
    prof = {
        **profile,
        "count": 1,
        "dtype": out.dtype.name,
        "height": out.shape[0],
        "width": out.shape[1],
        "nodata": 0,
        "transform": profile["transform"] * profile["transform"].scale(factor),
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(out, 1)


def _dn(band: np.ndarray) -> np.ndarray:
    """8-bit aerial values as L2A-like digital numbers (reflectance x 10000 + 1000)."""
    return (band * 40 + 1000).astype("uint16")


def make_own_data(root: Path) -> None:
    """Two SAFE-like scenes, a scene sheet and a GeoPackage of two zones under ``root``."""
    with rasterio.open(DATA / "rgbn.tif") as src:
        red, green, _blue, nir = src.read().astype("uint16")
        profile = {k: src.profile[k] for k in ("driver", "crs", "transform")}
        bounds = src.bounds
    lines = ["scene_id,date,path"]
    for i, date in enumerate(DATES):
        stamp = date.replace("-", "")
        safe = f"S2B_MSIL2A_{stamp}T153619_N0500_R068_T18QWF_{stamp}T190000.SAFE"
        granule = root / "scenes" / safe / "GRANULE" / f"L2A_T18QWF_A0{i}" / "IMG_DATA"
        _band_file(granule / "R10m" / f"T18QWF_{stamp}_B04_10m.jp2", _dn(red), profile)
        _band_file(granule / "R10m" / f"T18QWF_{stamp}_B08_10m.jp2", _dn(nir), profile)
        _band_file(granule / "R20m" / f"T18QWF_{stamp}_B12_20m.jp2", _dn(green), profile, factor=2)
        scl = np.where(nir > np.percentile(nir, 5), 4, 9).astype("uint16")  # 9: cloud
        _band_file(granule / "R20m" / f"T18QWF_{stamp}_SCL_20m.jp2", scl, profile, factor=2)
        lines.append(f"S2_{stamp},{date},scenes/{safe}")
    (root / "scenes.csv").write_text("\n".join(lines) + "\n")
    mid = (bounds.left + bounds.right) / 2
    gpd.GeoDataFrame(
        {"field_id": [1, 2], "crop": ["wheat", "maize"]},
        geometry=[
            box(bounds.left, bounds.bottom, mid, bounds.top),
            box(mid, bounds.bottom, bounds.right, bounds.top),
        ],
        crs=profile["crs"],
    ).to_file(root / "zones.gpkg")


def own_config(root: Path) -> Path:
    """The example with its EDIT lines filled in for this data: only the grid's CRS."""
    cfg = yaml.safe_load(EXAMPLE.read_text())
    cfg["grid"]["crs"] = "EPSG:32618"  # the scenes' UTM zone
    path = root / "own-data.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_example_config_plans_a_run_on_own_data(tmp_path):
    make_own_data(tmp_path)
    cfg = own_config(tmp_path)
    proc = run_snakemake(
        tmp_path, "--dry-run", "--quiet", "rules", configfiles=[cfg], demo_config=False
    )
    out = proc.stdout + proc.stderr
    jobs = {
        m[1]: int(m[2])
        for m in re.finditer(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.MULTILINE)
    }
    # 2 scenes, both indices composited from their bands (no index job); one tile,
    # 2 months (both indices in one composite job each, one mosaic job per month); a
    # zonal table per mosaic
    assert "index" not in jobs and jobs["composite"] == 2 and jobs["mosaic"] == 2
    assert jobs["zonal"] == 4 and jobs["zonal_long"] == 1
    assert "demo_data" not in jobs and "terrain" not in jobs
    assert jobs["quicklooks"] == 1 and jobs["stac"] == 1
    # the dry run's cost estimate (rasterflow.estimate): every heavy job, sizes known
    table = out.split("rasterflow estimate of the heavy jobs")[1].split("total:")[0]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.strip()}
    assert "index" not in rows and int(rows["composite"][1]) == 2
    assert "unknown size" not in table
    assert float(rows["composite"][3]) > 0  # the scenes' bytes, read by the composites
    assert "dask_reports" not in jobs  # dask.report is off by default


def test_example_config_names_a_missing_sheet(tmp_path):
    cfg = own_config(tmp_path)
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False, check=False)
    assert proc.returncode != 0
    assert "scenes.csv" in proc.stdout + proc.stderr
