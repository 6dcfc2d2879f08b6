"""Scenes from a static STAC catalog (rasterflow.stac_scenes)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pystac
import pytest
import rasterio
from helpers import write_raster

from rasterflow.errors import InputDataError
from rasterflow.planning import read_header
from rasterflow.stac_scenes import load_stac_scenes

BANDS = {"red": {}, "nir": {}}


def _asset(path, common_name, *, proj=True, raster=True):
    extra = {"eo:bands": [{"name": common_name, "common_name": common_name}]}
    with rasterio.open(path) as src:
        if proj:
            extra |= {
                "proj:epsg": src.crs.to_epsg(),
                "proj:shape": [src.height, src.width],
                "proj:transform": list(src.transform)[:6],
            }
        if raster:
            extra["raster:bands"] = [
                {"data_type": src.dtypes[0], "scale": 0.0001, "offset": -0.1, "nodata": 0}
            ]
    return pystac.Asset(href=path.name, media_type=pystac.MediaType.COG, extra_fields=extra)


def _catalog(tmp_path, **asset_options):
    root = tmp_path / "catalog"
    catalog = pystac.Catalog("scenes", "test scenes")
    for i, day in enumerate(["2024-06-01", "2024-07-15"]):
        folder = root / f"s{i}"
        folder.mkdir(parents=True)
        data = np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) + 1
        red = write_raster(folder / "B04.tif", data)
        nir = write_raster(folder / "B08.tif", data, res=20.0)
        item = pystac.Item(
            f"s{i}",
            geometry=None,
            bbox=None,
            datetime=dt.datetime.fromisoformat(f"{day}T23:30:00+00:00"),
            properties={"updated": f"{day}T00:00:00Z"},
        )
        item.add_asset("B04", _asset(red, "red", **asset_options))
        item.add_asset("B08", _asset(nir, "nir", **asset_options))
        catalog.add_item(item)
    catalog.normalize_hrefs(str(root))
    # items keep the files beside them: the hrefs written are relative to each item
    for item in catalog.get_items(recursive=True):
        for asset in item.assets.values():
            asset.href = str(root / item.id / asset.href)
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


def test_items_become_scenes_with_their_assets_metadata_and_stated_grids(tmp_path):
    found = load_stac_scenes(str(_catalog(tmp_path)), bands=BANDS, mask=None)
    assert list(found.scenes) == ["s0", "s1"]
    s0 = found.scenes["s0"]
    assert s0.date == dt.date(2024, 6, 1)  # the UTC day of 23:30
    root = tmp_path / "catalog"
    assert s0.bands["red"].path == str(root / "s0" / "B04.tif")  # by eo:bands common name
    assert s0.bands["nir"].path == str(root / "s0" / "B08.tif")
    assert (s0.bands["red"].scale, s0.bands["red"].offset, s0.bands["red"].nodata) == (
        0.0001,
        -0.1,
        0.0,
    )
    assert s0.version == "2024-06-01T00:00:00Z"
    assert s0.to_params()["version"] == s0.version  # a changed item reruns its jobs
    # planning's headers as the items state them, equal to the files' own
    assert set(found.headers) == {b.path for sc in found.scenes.values() for b in sc.bands.values()}
    for path, stated in found.headers.items():
        read = read_header(path)
        assert (stated.count, stated.dtypes, stated.width, stated.height) == (
            read.count,
            read.dtypes,
            read.width,
            read.height,
        )
        assert tuple(stated.bounds) == pytest.approx(tuple(read.bounds))
        assert stated.bounds.crs == read.bounds.crs
    assert str(root / "catalog.json") in found.files
    assert str(root / "s1" / "s1.json") in found.files


def test_config_values_stand_without_raster_bands_or_when_asked(tmp_path):
    bands = {"red": {"asset": "B04", "scale": 2.0}, "nir": {"asset": "B08", "nodata": 7}}
    found = load_stac_scenes(str(_catalog(tmp_path)), bands=bands, mask=None, raster_bands=False)
    red = found.scenes["s0"].bands["red"]
    assert (red.scale, red.offset, red.nodata) == (2.0, 0.0, None)
    assert found.scenes["s0"].bands["nir"].nodata == 7.0


def test_items_without_proj_metadata_leave_the_header_to_be_read(tmp_path):
    found = load_stac_scenes(str(_catalog(tmp_path, proj=False)), bands=BANDS, mask=None)
    assert found.headers == {}
    assert found.scenes["s1"].bands["red"].scale == 0.0001


def test_a_role_without_an_asset_names_item_and_key(tmp_path):
    catalog = _catalog(tmp_path)
    with pytest.raises(InputDataError) as err:
        load_stac_scenes(str(catalog), bands={**BANDS, "swir16": {}}, mask=None)
    assert str(err.value) == (
        f"STAC item 's0' of {catalog}: no asset for band role 'swir16' (no asset key or "
        "eo:bands common name 'swir16'); set scenes.bands.swir16.asset to one of B04, B08"
    )
    with pytest.raises(InputDataError, match=r"no asset 'B8A' \(scenes.bands.nir.asset\)"):
        load_stac_scenes(str(catalog), bands={"nir": {"asset": "B8A"}}, mask=None)


def test_an_item_collection_resolves_relative_hrefs_against_its_file(tmp_path):
    write_raster(tmp_path / "red.tif", np.ones((8, 8), np.uint16))
    write_raster(tmp_path / "nir.tif", np.ones((8, 8), np.uint16))
    item = pystac.Item("x1", None, None, dt.datetime(2024, 5, 2, tzinfo=dt.UTC), {})
    item.add_asset("red", pystac.Asset("red.tif"))
    item.add_asset("nir", pystac.Asset("./nir.tif"))
    (tmp_path / "items.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [item.to_dict()]})
    )
    found = load_stac_scenes(str(tmp_path / "items.geojson"), bands=BANDS, mask=None)
    assert found.scenes["x1"].bands["red"].path == str(tmp_path / "red.tif")
    assert found.scenes["x1"].bands["nir"].path == str(tmp_path / "nir.tif")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "FeatureCollection", "features": []}', "holds no STAC items"),
        ("not json", "is not a readable STAC catalog"),
    ],
)
def test_empty_or_broken_sources_are_refused(tmp_path, text, message):
    (tmp_path / "c.json").write_text(text)
    with pytest.raises(InputDataError, match=message):
        load_stac_scenes(str(tmp_path / "c.json"), bands=BANDS, mask=None)


def test_two_items_sharing_a_file_are_refused_as_two_sheet_lines_are(tmp_path):
    """A file in two items would count twice on every pixel (the sheet's rule)."""
    write_raster(tmp_path / "red.tif", np.ones((8, 8), np.uint16))
    write_raster(tmp_path / "nir.tif", np.ones((8, 8), np.uint16))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "red.tif").symlink_to(tmp_path / "red.tif")  # the same file
    write_raster(tmp_path / "other" / "nir.tif", np.ones((8, 8), np.uint16))
    items = []
    for sid, folder in (("a", "."), ("b", "other")):
        item = pystac.Item(sid, None, None, dt.datetime(2024, 5, 2, tzinfo=dt.UTC), {})
        item.add_asset("red", pystac.Asset(f"{folder}/red.tif"))
        item.add_asset("nir", pystac.Asset(f"{folder}/nir.tif"))
        items.append(item.to_dict())
    source = tmp_path / "items.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    with pytest.raises(InputDataError) as err:
        load_stac_scenes(str(source), bands=BANDS, mask=None)
    assert str(err.value) == (
        f"STAC items 'a' and 'b' of {source} both use {tmp_path / 'red.tif'}, which would "
        "count twice in every composite; drop one of them from the catalog (or narrow the "
        "search)"
    )
    (tmp_path / "other" / "red.tif").unlink()  # its own file now: accepted
    write_raster(tmp_path / "other" / "red.tif", np.ones((8, 8), np.uint16))
    assert list(load_stac_scenes(str(source), bands=BANDS, mask=None).scenes) == ["a", "b"]
