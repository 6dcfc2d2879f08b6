"""A user's own data, not the demo: a scene sheet, real rasters, hostile file names."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import rasterio
from helpers import DATA, run_snakemake

pytestmark = pytest.mark.workflow

HOSTILE = 'my scenes; it\'s "$(touch PWNED)" `id` é\nnew line'


def test_real_scene_with_hostile_path_through_the_workflow(tmp_path):
    folder = tmp_path / HOSTILE
    folder.mkdir()
    shutil.copy(DATA / "rgbn.tif", folder / "aerial $(id).tif")
    sheet = tmp_path / "scenes.csv"
    with sheet.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scene_id", "date", "path"])
        w.writerow(["aerial_2020", "2020-07-01", f"{HOSTILE}/aerial $(id).tif"])
    cfg = tmp_path / "own.yaml"
    # the user's own config alone, as README "Your own data" writes it
    cfg.write_text(
        f"scenes:\n  sheet: {sheet}\n"
        "  bands:\n"
        "    red: {band: 1}\n    green: {band: 2}\n    blue: {band: 3}\n    nir: {band: 4}\n"
        "indices: [NDVI, NDWI]\n"
    )
    plan = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], demo_config=False).stdout
    assert "rule index:" in plan and "rule demo_data:" not in plan
    run_snakemake(tmp_path, configfiles=[cfg], demo_config=False)

    assert not list(tmp_path.rglob("PWNED"))  # nothing was run by a shell
    out = tmp_path / "results" / "indices" / "aerial_2020"
    # each index COG and its QGIS style
    assert sorted(p.name for p in out.iterdir()) == ["NDVI.qml", "NDVI.tif", "NDWI.qml", "NDWI.tif"]
    with rasterio.open(DATA / "rgbn.tif") as src:
        red, nir = src.read(1).astype("f8"), src.read(4).astype("f8")
    with np.errstate(divide="ignore", invalid="ignore"):
        want = (nir - red) / (nir + red)
    with rasterio.open(out / "NDVI.tif") as ndvi:
        got = ndvi.read(1)
        inputs = json.loads(ndvi.tags()["RASTERFLOW_INPUTS"])
    # the name byte for byte, relative to the run's directory (io.portable_path)
    assert inputs == [str((folder / "aerial $(id).tif").relative_to(tmp_path))]
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], atol=1e-6)
