"""The config schema: complete, documented, and in sync with config/README.md."""

from __future__ import annotations

import jsonschema
import yaml
from helpers import REPO

from rasterflow.configdoc import render

SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())


def _properties(node, prefix=""):
    for key, sub in node.get("properties", {}).items():
        yield f"{prefix}{key}", sub
        yield from _properties(sub, f"{prefix}{key}.")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict):
            yield from _properties(extra, f"{prefix}{key}.<name>.")


def test_every_key_has_type_description_and_default():
    keys = list(_properties(SCHEMA))
    assert len(keys) > 15
    for name, node in keys:
        assert "type" in node, name
        assert node.get("description"), name
        # inside the nullable scenes.mask defaults cannot be set (see the schema)
        assert "default" in node or name.startswith("scenes.mask."), name


def test_objects_reject_unknown_keys():
    for name, node in _properties(SCHEMA):
        if "properties" in node:
            assert node.get("additionalProperties") is False, name


def test_shipped_configs_are_valid():
    for cfg in (REPO / "config").glob("*.yaml"):
        if cfg.name != "schema.yaml":
            jsonschema.validate(yaml.safe_load(cfg.read_text()), SCHEMA)


def test_config_readme_is_generated_from_the_schema():
    assert (REPO / "config" / "README.md").read_text() == render(SCHEMA)


def test_dask_defaults_match_the_cluster_module():
    from rasterflow.cluster import DEFAULT_SETTINGS, DEFAULT_SLURM_SETTINGS

    dask = SCHEMA["properties"]["dask"]["properties"]
    for key, value in DEFAULT_SETTINGS.items():
        assert dask[key]["default"] == value, key
    slurm = dask["slurm"]["properties"]
    assert set(slurm) == set(DEFAULT_SLURM_SETTINGS)
    for key, value in DEFAULT_SLURM_SETTINGS.items():
        assert slurm[key]["default"] == value, key
