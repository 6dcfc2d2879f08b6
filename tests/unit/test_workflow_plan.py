"""Planning a run without Snakemake: rasterflow.workflow.plan_workflow."""

from __future__ import annotations

import copy
import os
import shutil

import numpy as np
import pytest
import yaml
from helpers import DATA, REPO, write_raster

from rasterflow import settings
from rasterflow.errors import ConfigError
from rasterflow.workflow import plan_workflow

SCHEMA = REPO / "config" / "schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _config(tmp_path, **changes):
    """The shipped config (the demo) with ``changes`` merged in, validated."""
    config = copy.deepcopy(DEMO)
    config["results"] = str(tmp_path / "results")
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        if sub:
            config.setdefault(section, {})[sub] = value
        else:
            config[section] = value
    settings.check_config(config, SCHEMA)
    return config


def _plan(tmp_path, config):
    return plan_workflow(config, basedir=str(REPO), cache_dir=str(tmp_path / "cache"))


def test_the_demo_plans_its_stages_and_writes_nothing_under_results(tmp_path):
    plan = _plan(tmp_path, _config(tmp_path))
    results = tmp_path / "results"
    assert len(plan.scenes) == 6 and not plan.batched and plan.direct
    # NDVI is composited from the bands; the other indices are written per scene
    assert plan.composite_indices == ["NDVI"]
    assert plan.scene_indices == ["NBR", "MSAVI"]
    assert plan.periods == ["2024-JJA", "2024-MAM"]
    assert plan.ordered_periods == ["2024-MAM", "2024-JJA"]
    assert len(plan.tiles) == 4 and plan.grid.crs.epsg == 3067
    assert {t for t, _p in plan.composites} <= set(plan.tiles)
    for (tile, period), ids in plan.composites.items():
        assert ids and all(plan.scenes[s].date.isoformat()[:4] == "2024" for s in ids)
        inputs = plan.composite_inputs(tile, period)
        # NDVI's bands and the band composite's (blue, green, red, nir)
        roles = ["blue", "green", "nir", "red"]
        assert plan.composite_roles == roles
        assert inputs == sorted({f for s in ids for f in plan.scenes[s].files(roles)})
    assert plan.index_outputs() == [
        f"{results}/indices/{s}/{i}.tif" for s in plan.scenes for i in ("NBR", "MSAVI")
    ]
    assert plan.mosaic_outputs() == [
        f"{results}/mosaics/{p}/{product}.tif"
        for p in plan.periods
        for product in ("NDVI", "bands")
    ]
    assert plan.terrain_products == ["slope", "aspect", "hillshade", "tri"]
    assert plan.dem == f"{results}/demo/dem.tif"
    # zonal statistics of each mosaic and terrain product
    assert sorted(plan.zonal_targets) == sorted(
        [("NDVI", p) for p in plan.periods] + [(t, "static") for t in plan.terrain_products]
    )
    assert f"{results}/zonal/zonal_long.parquet" in plan.product_outputs()
    stac = {p.path for p in plan.stac_products}
    assert set(plan.mosaic_outputs()) <= stac and set(plan.index_outputs()) <= stac
    assert not results.exists()  # planning claims nothing: the run does


def test_the_demo_plans_a_trend_over_its_seasons_in_time_order(tmp_path):
    plan = _plan(tmp_path, _config(tmp_path))
    results = tmp_path / "results"
    assert plan.trend_indices == ["NDVI"]  # the composited ones by default
    assert list(plan.trend_times) == ["2024-MAM", "2024-JJA"]  # by time, not by id
    assert plan.trend_times["2024-MAM"] == 0 and 0.2 < plan.trend_times["2024-JJA"] < 0.3
    assert plan.trend_inputs("NDVI") == [
        f"{results}/mosaics/2024-MAM/NDVI.tif",
        f"{results}/mosaics/2024-JJA/NDVI.tif",
    ]
    assert f"{results}/trend/NDVI.tif" in plan.product_outputs()
    item = {p.path: p for p in plan.stac_products}[f"{results}/trend/NDVI.tif"]
    assert (item.start.isoformat(), item.end.isoformat()) == ("2024-03-01", "2024-08-31")
    from rasterflow.estimate import planned_jobs

    [job] = [j for j in planned_jobs(plan, mem_mb=2000) if j.rule == "trend"]
    assert job.units == pytest.approx(312 * 252 / 1e6 * 2)  # grid Mpx x 1 index x 2 periods
    assert job.outputs == (f"{results}/trend/NDVI.tif",)
    off = _plan(tmp_path, _config(tmp_path, trend={"enabled": False}))
    assert off.trend_indices == [] and not any("/trend/" in p for p in off.product_outputs())


def test_trend_of_an_index_not_composited_is_an_error_too_few_periods_a_warning(tmp_path):
    with pytest.raises(ConfigError, match="trend.indices: NBR not composited"):
        _plan(tmp_path, _config(tmp_path, trend={"enabled": True, "indices": ["NBR"]}))
    plan = _plan(tmp_path, _config(tmp_path, trend={"enabled": True, "min_periods": 3}))
    assert plan.trend_indices == [] and plan.trend_outputs() == []
    assert any(
        "trend.min_periods is 3, but the composites fall in 2 period(s) (2024-MAM, 2024-JJA)" in w
        for w in plan.warnings
    )


def _sheet(tmp_path, n=3):
    folder = tmp_path / "scenes"
    folder.mkdir(exist_ok=True)
    lines = ["scene_id,date,path"]
    for i in range(n):
        if not (folder / f"s{i}.tif").exists():
            shutil.copy(DATA / "rgbn.tif", folder / f"s{i}.tif")
        lines.append(f"s{i},2020-0{i + 6}-01,scenes/s{i}.tif")
    (tmp_path / "scenes.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "scenes.csv"


def _own(tmp_path, **changes):
    bands = {"red": {"band": 1}, "green": {"band": 2}, "blue": {"band": 3}, "nir": {"band": 4}}
    own = {
        "demo": False,
        "indices": ["NDVI", "NDWI"],
        "custom_indices": {},
        "scenes": {
            "sheet": str(_sheet(tmp_path)),
            "bands": bands,
            "mask": None,
            **changes.pop("scenes", {}),
        },
        "grid": {"crs": "EPSG:32613", "resolution": 1.0, "tile_px": 512},
        "composite": {"indices": ["NDVI"]},
        "terrain": {"products": []},
        "zonal": {"zones": ""},
    }
    return _config(tmp_path, **{**own, **changes})


def test_a_second_start_loads_the_plan_until_a_scene_file_changes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the sheet's relative paths are part of the plan's key
    config = _own(tmp_path)
    first = _plan(tmp_path, config)
    assert not first.loaded and len(first.scenes) == 3 and first.composites
    second = _plan(tmp_path, config)
    assert second.loaded
    assert (second.scenes, second.composites, second.tiles, second.grid) == (
        first.scenes,
        first.composites,
        first.tiles,
        first.grid,
    )
    os.utime(tmp_path / "scenes" / "s1.tif", ns=(10**18, 10**18))
    assert not _plan(tmp_path, config).loaded
    config = copy.deepcopy(config)
    config["periods"]["kind"] = "yearly"
    changed = _plan(tmp_path, config)
    assert not changed.loaded and changed.periods == ["2020"]


def test_batches_get_fingerprints_beside_the_plan_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = _plan(tmp_path, _own(tmp_path, scenes={"batch": 2}))
    assert plan.batched and plan.batches == {"b00000": ["s0", "s1"], "b00001": ["s2"]}
    assert plan.index_outputs() == [plan.paths.manifest(b) for b in plan.batches]
    for batch in plan.batches:
        fingerprint = plan.fingerprint_path(batch)
        assert fingerprint.startswith(str(tmp_path / "cache"))
        assert os.path.exists(fingerprint)
    assert not (tmp_path / "results").exists()


def test_composites_of_an_index_not_computed_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _own(tmp_path, composite={"indices": ["EVI"]})
    with pytest.raises(ConfigError, match=r"composite.indices: EVI not in indices \(NDVI, NDWI\)"):
        _plan(tmp_path, config)


def test_zonal_rasters_may_not_take_a_product_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raster = write_raster(tmp_path / "r.tif", np.ones((4, 4), np.float32))
    plan = _plan(tmp_path, _config(tmp_path, zonal={"rasters": {"wetness": str(raster)}}))
    assert plan.zones.endswith("demo/zones.gpkg")  # the demo's zones
    assert plan.zonal_rasters[("wetness", "static")] == str(raster)
    with pytest.raises(ConfigError, match="zonal.rasters: name 'NDVI' is taken by a product"):
        _plan(tmp_path, _config(tmp_path, zonal={"rasters": {"NDVI": str(raster)}}))


def test_nothing_to_do_names_the_keys_to_set(tmp_path):
    config = _config(tmp_path, demo=False)
    with pytest.raises(ConfigError, match="nothing to do: set scenes.sheet"):
        _plan(tmp_path, config)


def test_a_stac_catalog_plans_like_its_sheet_and_its_item_files_expire_the_plan(
    tmp_path, monkeypatch
):
    import datetime as dt

    import pystac

    monkeypatch.chdir(tmp_path)
    sheet_plan = _plan(tmp_path, _own(tmp_path))
    catalog = pystac.Catalog("c", "the sheet's scenes")
    for sid, scene in sheet_plan.scenes.items():
        item = pystac.Item(
            sid, None, None, dt.datetime.combine(scene.date, dt.time(12), dt.UTC), {}
        )
        item.add_asset("image", pystac.Asset(scene.bands["red"].path))
        catalog.add_item(item)
    catalog.normalize_hrefs(str(tmp_path / "stac"))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    config = _own(
        tmp_path, scenes={"sheet": "", "stac": {"source": str(tmp_path / "stac" / "catalog.json")}}
    )
    for spec in config["scenes"]["bands"].values():
        spec["asset"] = "image"
    plan = _plan(tmp_path, config)
    assert not plan.loaded
    assert (plan.scenes, plan.composites, plan.tiles) == (
        sheet_plan.scenes,
        sheet_plan.composites,
        sheet_plan.tiles,
    )
    assert _plan(tmp_path, config).loaded
    os.utime(tmp_path / "stac" / "s1" / "s1.json", ns=(10**18, 10**18))
    assert not _plan(tmp_path, config).loaded
