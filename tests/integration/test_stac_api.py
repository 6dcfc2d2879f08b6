"""Scenes from a STAC API search (rustac's server on loopback, in memory or over
pgstac in PostgreSQL for the query and filter extensions), frozen into the run."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pystac
import pytest
from helpers import DATA
from servers import pgstac_api, postgres, stac_api

from rasterflow.errors import InputDataError
from rasterflow.stac_scenes import frozen_search, load_stac_scenes

BANDS = {"red": {"asset": "image", "band": 1}, "nir": {"asset": "image", "band": 4}}
#: the scenes' footprint in degrees (rgbn.tif lies in UTM 18N, near 41.4 N 75.6 W)
AREA = [-76.0, 41.0, -75.0, 42.0]


def _items(tmp_path, scenes=(("a", "2020-07-01"), ("b", "2020-08-01"), ("old", "2019-07-01"))):
    """An item collection of copies of rgbn.tif; a scene's third field, if any, is its
    ``eo:cloud_cover``."""
    features = []
    for sid, day, *cloud in scenes:
        path = tmp_path / f"{sid}.tif"
        shutil.copy(DATA / "rgbn.tif", path)
        ring = [[-75.7, 41.3], [-75.5, 41.3], [-75.5, 41.5], [-75.7, 41.5], [-75.7, 41.3]]
        item = pystac.Item(
            sid,
            {"type": "Polygon", "coordinates": [ring]},
            [-75.7, 41.3, -75.5, 41.5],
            dt.datetime.fromisoformat(f"{day}T15:00:00+00:00"),
            {"eo:cloud_cover": cloud[0]} if cloud else {},
            collection="aerial",
        )
        item.add_asset("image", pystac.Asset(path.as_uri()))  # an API's hrefs are URLs
        features.append(item.to_dict())
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _search(**changes):
    return {
        "api": "",
        "collections": ["aerial"],
        "bbox": None,
        "datetime": "2020-01-01/2020-12-31",
        "query": {},
        "filter": None,
        "max_items": 100,
        **changes,
    }


def test_a_search_is_frozen_and_plans_its_items_without_the_api_later(tmp_path):
    items = _items(tmp_path)
    cache = tmp_path / "cache"
    with stac_api(items, tmp_path / "api") as url:
        frozen = frozen_search(_search(api=url), bbox=AREA, cache_dir=str(cache))
    assert frozen.startswith(str(cache / "stac" / "search-"))
    found = load_stac_scenes(frozen, bands=BANDS, mask=None)
    assert list(found.scenes) == ["a", "b"]  # 2019's is outside the time range
    static = load_stac_scenes(str(items), bands=BANDS, mask=None)
    assert found.scenes == {s: static.scenes[s] for s in ("a", "b")}
    # the server is gone: the same search is the frozen file, a changed one is not
    assert frozen_search(_search(api=url), bbox=AREA, cache_dir=str(cache)) == frozen
    with pytest.raises(InputDataError, match=f"scenes.stac.api: searching {url} failed"):
        frozen_search(
            _search(api=url, datetime="2019-01-01/2019-12-31"), bbox=AREA, cache_dir=str(cache)
        )


def test_a_search_that_finds_nothing_says_so_and_freezes_nothing(tmp_path):
    items = _items(tmp_path)
    with stac_api(items, tmp_path / "api") as url:
        with pytest.raises(InputDataError) as err:
            frozen_search(
                _search(api=url), bbox=[10.0, 60.0, 11.0, 61.0], cache_dir=str(tmp_path / "cache")
            )
    assert str(err.value) == (
        f"scenes.stac.api: the search of {url} returned no items (collections ['aerial'], "
        "bbox [10.0, 60.0, 11.0, 61.0], datetime 2020-01-01/2020-12-31); widen the search"
    )
    assert not (tmp_path / "cache" / "stac").exists()


def test_a_search_needs_an_area(tmp_path):
    with pytest.raises(Exception, match="scenes.stac.bbox: give the search area"):
        frozen_search(_search(api="http://127.0.0.1:9"), bbox=None, cache_dir=str(tmp_path))


@pytest.fixture(scope="module")
def pg():
    """One PostgreSQL cluster for the module's pgstac servers (a database each)."""
    with postgres() as dsn:
        yield dsn


CLOUDY = (("a", "2020-07-01", 10), ("b", "2020-08-01", 55), ("c", "2020-09-01", 25),
          ("old", "2019-07-01", 5))  # fmt: skip


@pytest.mark.parametrize(
    "search",
    [
        {"query": {"eo:cloud_cover": {"lt": 30}}},
        {"filter": "eo:cloud_cover < 30"},  # CQL2 text, as in the README
        {"filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]}},  # CQL2 JSON
    ],
    ids=["query", "cql2-text", "cql2-json"],
)
def test_query_and_filter_reach_the_api_and_plan_only_what_it_returns(tmp_path, pg, search):
    """scenes.stac.query and .filter, as an API with those extensions (pgstac) answers
    them: the cloudy scene and the one outside the dates are not planned."""
    items = _items(tmp_path, CLOUDY)
    cache = tmp_path / "cache"
    with pgstac_api(items, tmp_path / "api", postgres_dsn=pg) as url:
        everything = frozen_search(_search(api=url), bbox=AREA, cache_dir=str(cache))
        frozen = frozen_search(_search(api=url, **search), bbox=AREA, cache_dir=str(cache))
    # (pgstac answers newest first; the plan orders scenes by date downstream)
    assert sorted(load_stac_scenes(everything, bands=BANDS, mask=None).scenes) == ["a", "b", "c"]
    found = load_stac_scenes(frozen, bands=BANDS, mask=None)
    assert sorted(found.scenes) == ["a", "c"]  # b is 55 % cloudy
    assert frozen != everything  # a search of its own, frozen apart
    # frozen: the same search plans without the server
    assert frozen_search(_search(api=url, **search), bbox=AREA, cache_dir=str(cache)) == frozen
