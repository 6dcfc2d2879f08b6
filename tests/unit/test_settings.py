"""rasterflow.settings: the config checked before planning, one short line per problem."""

from __future__ import annotations

import copy
import datetime as dt
import time
from typing import Any

import pytest
import yaml
from helpers import REPO

from rasterflow import settings
from rasterflow.errors import ConfigError

SCHEMA_PATH = REPO / "config" / "schema.yaml"
SCHEMA = settings.load_schema(SCHEMA_PATH)


def _checked(cfg: dict[str, Any]) -> dict[str, Any]:
    settings.check_config(cfg, SCHEMA_PATH)
    return cfg


def _error(cfg: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        settings.check_config(cfg, SCHEMA_PATH)
    return str(info.value)


def test_defaults_are_filled_as_snakemakes_validate_did():
    cfg = _checked({"scenes": {"bands": {"red": {"band": 3}}}})
    assert cfg["results"] == "results" and cfg["scenes"]["batch"] == 1
    assert cfg["scenes"]["bands"]["red"] == {
        "band": 3,
        "pattern": None,
        "asset": None,
        "scale": 1.0,
        "offset": 0.0,
        "nodata": None,
    }
    assert cfg["grid"]["aoi"]["bounds"] is None and cfg["grid"]["max_tiles"] == 100_000
    assert cfg["scenes"]["mask"] is None  # a null mask is not filled in
    # defaults are copies: filling one config leaves the schema's defaults untouched
    _checked({})["zonal"]["rasters"]["x"] = "y.tif"
    assert _checked({})["zonal"]["rasters"] == {}


def test_the_shipped_configs_pass():
    for path in (REPO / "config").glob("*.yaml"):
        if path.name != "schema.yaml":
            _checked(yaml.safe_load(path.read_text()))


def test_unknown_key_says_did_you_mean_in_one_line():
    msg = _error({"indeces": ["NDVI"]})
    assert msg == (
        "config: unknown key 'indeces' at top level; did you mean 'indices'? (keys: "
        "composite, container, contours, custom_indices, dask, demo, grid, indices, mosaic, "
        "periods, points, report, results, scene_indices, scenes, stac, terrain, trend, zonal)"
    )
    assert _error({"scenes": {"chunks": 1024}}).startswith(
        "config: unknown key 'chunks' in scenes; did you mean 'chunk'? (keys: bands, batch, chunk,"
    )


def test_type_errors_name_the_key_and_the_value():
    assert _error({"scenes": {"chunk": "big"}}) == (
        "config key scenes.chunk: 'big' is not of type 'integer' (scenes.chunk: Dask chunk "
        "side in pixels for reading scenes.)"
    )
    assert _error({"composite": {"statistic": 5}}).startswith(
        "config key composite.statistic: 5 is not of type 'string' (composite.statistic: "
        "median, mean, min, max or a percentile pXX (NumPy linear).)"
    )


def test_yaml_text_that_looks_like_a_number_gets_a_hint():
    # YAML 1.1 (PyYAML) reads 1e-6 without a dot as a string
    msg = _error(yaml.safe_load("grid:\n  resolution: 1e-6\n"))
    assert msg.startswith(
        "config key grid.resolution: '1e-6' is not of type 'number'; YAML reads 1e-6 as "
        "text: write it as a number with a dot and a signed exponent (1.0e-6) or in full "
        "(0.000001)"
    )


def test_enum_errors_list_the_allowed_values():
    assert _error({"scenes": {"resampling": "lanczos9"}}) == (
        "config key scenes.resampling: 'lanczos9' is not one of ['nearest', 'bilinear', "
        "'cubic', 'average']"
    )
    assert _error({"composite": {"resampling": "lanczos9"}}).endswith(
        "is not one of ['nearest', 'bilinear', 'cubic', 'cubic_spline', 'lanczos', "
        "'average']; did you mean 'lanczos'?"
    )


def test_several_problems_are_listed_at_most_five():
    msg = _error({f"bad{i}": 1 for i in range(8)} | {"scenes": {"chunk": "x"}})
    lines = msg.splitlines()
    assert len(lines) == 6 and lines[-1] == "(and 4 more)"


def test_statistic_is_parsed_as_the_composite_job_parses_it():
    assert _error({"composite": {"statistic": "p100.5"}}) == (
        "composite.statistic: 'p100.5' is not one of median, mean, min, max or pXX (a "
        "percentile between p0 and p100, e.g. p10 or p97.5)"
    )
    assert _checked({"composite": {"statistic": "p97.5"}})


def test_results_with_braces_is_refused():
    assert _error({"results": "out{x}"}) == (
        "results: 'out{x}' contains a brace; Snakemake reads braces in output paths as "
        "wildcards, so choose a folder name without { or }"
    )


def test_custom_indices_are_checked_even_when_unused():
    assert _error({"custom_indices": {"x": "nir * 10 ** 400"}}).startswith(
        "custom_indices.x: 'nir * 10 ** 400' cannot be computed: 10 ** 400 overflows"
    )


def test_unquoted_yaml_dates_are_read_as_iso_text():
    cfg = yaml.safe_load(
        "periods:\n  kind: ranges\n  ranges:\n    spring: [2024-03-01, 2024-05-31]\n"
    )
    assert isinstance(cfg["periods"]["ranges"]["spring"][0], dt.date)
    assert _checked(cfg)["periods"]["ranges"]["spring"] == ["2024-03-01", "2024-05-31"]
    stamp = settings.dates_to_text({"a": [dt.datetime(2024, 3, 1, 10, 0)]})
    assert stamp == {"a": ["2024-03-01T10:00:00"]}  # then refused by the period parser


def _alias_bomb(levels: int = 9) -> dict[str, Any]:
    text = 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    return {"lols": yaml.safe_load(text)}


def test_an_alias_bomb_is_refused_in_well_under_a_second():
    cfg = _alias_bomb()  # 9^9 = 387 million strings once expanded
    t0 = time.perf_counter()
    msg = _error(cfg)
    assert time.perf_counter() - t0 < 1.0
    assert msg == (
        "config: key lols expands to more than 100,000 values: YAML aliases (*name) "
        "repeat their anchor (&name) at every use; remove the aliases or that key"
    )


def test_a_self_referencing_alias_is_refused():
    cfg = yaml.safe_load("scenes: &s\n  bands: *s\n")
    assert _error(cfg).startswith("config: key scenes nests more than 32 levels deep")
    cfg = yaml.safe_load("scenes: &s [*s, *s]\n")
    assert _error(cfg).startswith("config: key scenes nests more than 32 levels deep")


def test_deep_nesting_is_refused_before_jsonschema_recurses():
    deep: Any = "x"
    for _ in range(500):
        deep = [deep]
    assert _error({"junk": deep}) == (
        "config: key junk nests more than 32 levels deep; no config key nests more than 5 "
        "(config/README.md)"
    )


def test_no_message_formats_a_large_value():
    big = {"x": list(range(50_000))}
    msg = _error({"results": big})
    assert len(msg) < 300, msg
    assert msg.startswith("config key results: {'x': [0, 1, 2, 3, ...]} is not of type")


def test_short_is_bounded():
    assert len(settings.short("x" * 10_000)) < 70
    assert settings.short([[[[1]]]]) == "[[[...]]]"


def test_validation_is_cheap():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    t0 = time.perf_counter()
    for _ in range(5):
        _checked(copy.deepcopy(cfg))
    assert (time.perf_counter() - t0) / 5 < 0.5


@pytest.mark.parametrize("mask", [{"band": 2}, {"band": 2, "valid": [4], "invalid_bits": [3]}])
def test_a_mask_has_valid_classes_or_invalid_bits(mask):
    message = _error({"scenes": {"mask": mask}})
    assert message.startswith("scenes.mask: give either valid (the class values of clear pixels")


def test_a_bit_mask_is_accepted():
    cfg = _checked({"scenes": {"mask": {"band": 2, "invalid_bits": [0, 3, 4], "dilate": 3}}})
    assert cfg["scenes"]["mask"]["invalid_bits"] == [0, 3, 4]
