"""The workflow's config, checked before anything is planned: size, types, keys, values.

:func:`check_config` replaces Snakemake's ``validate(config, schema)`` for rasterflow's
config. Snakemake's version prints jsonschema's whole error: the schema of the key and
the offending value, formatted in full. For a typo that is an 88-line dump; for a YAML
alias bomb under an unknown key (nested anchors, 9^9 values sharing a few lists) the
formatting itself took 12.9 GB and ignored Ctrl-C. Here the config is first walked
within a budget, and each message is one line: key path, what is wrong, what is allowed.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import reprlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from rasterflow.errors import ConfigError

#: Values (mappings, lists and scalars) the config may hold, each shared YAML alias
#: counted at every place it appears. The demo config holds about 150; a config with a
#: thousand named periods or zonal rasters a few thousand. The budget stops an alias
#: bomb (9^9 expansions) after a few milliseconds, before anything formats it.
MAX_VALUES = 100_000

#: Nesting of the config. The schema nests 5 deep; jsonschema and repr() recurse, and
#: a deeper value can only be a mistake or an attack.
MAX_DEPTH = 32

#: Errors listed at once: the first few name the problem, a screenful hides it.
MAX_ERRORS = 5

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlevel = 2
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = 4


def short(value: Any) -> str:
    """``repr(value)``, bounded in length and depth whatever the value holds."""
    return _SHORT.repr(value)


def _key(path: tuple[Any, ...]) -> str:
    return ".".join(map(str, path)) if path else "(top level)"


def check_size(config: Any, *, max_values: int = MAX_VALUES, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a config that expands to more than ``max_values`` values or nests deeper.

    The walk follows shared references every time they occur (what formatting or
    copying the config would do) but stops at the budget, so a self-referencing
    alias (``&a [*a]``) or an alias bomb costs at most ``max_values`` steps.
    """
    seen = 0
    stack: list[tuple[Any, tuple[Any, ...]]] = [(config, ())]
    while stack:
        value, path = stack.pop()
        seen += 1
        if seen > max_values:
            raise ConfigError(
                f"config: key {_key(path[:1])} expands to more than {max_values:,} values: "
                "YAML aliases (*name) repeat their anchor (&name) at every use; remove the "
                "aliases or that key"
            )
        if len(path) > max_depth:
            raise ConfigError(
                f"config: key {_key(path[:1])} nests more than {max_depth} levels deep; "
                "no config key nests more than 5 (config/README.md)"
            )
        if isinstance(value, Mapping):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))


def dates_to_text(value: Any) -> Any:
    """``value`` with YAML's dates (``2024-03-01`` unquoted) as ISO text, in place.

    The schema and the period parser read dates as ``YYYY-MM-DD`` strings, which is what
    a user means by an unquoted date. A timestamp (``2024-03-01 10:00``) becomes its ISO
    text, which the period parser then refuses by name.
    """
    if isinstance(value, dict):
        for k, v in value.items():
            value[k] = dates_to_text(v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = dates_to_text(v)
    elif isinstance(value, dt.date):
        return value.isoformat()
    return value


def load_schema(path: str | Path) -> dict[str, Any]:
    """The config schema at ``path`` as a dict."""
    # libyaml's loader when there is one: PyYAML's own took 40 ms of every DAG build
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        schema: dict[str, Any] = yaml.load(f, Loader=loader)
    return schema


def _validator(schema: Mapping[str, Any]) -> Any:
    """A Draft 2020-12 validator that also fills in the schema's defaults, as Snakemake's.

    Defaults are copied (Snakemake's share the schema's objects) and set only on
    mappings: a key whose value is null (``scenes.mask``) keeps null.
    """
    from jsonschema import Draft202012Validator, validators

    properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, props: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from properties(validator, props, instance, schema)

    cls = validators.extend(Draft202012Validator, {"properties": set_defaults})
    return cls(schema)


def _subschema(schema: Mapping[str, Any], path: tuple[Any, ...]) -> Mapping[str, Any]:
    """The schema of the value at ``path`` (through properties, additionalProperties, items)."""
    node: Any = schema
    for part in path:
        if not isinstance(node, Mapping):
            return {}
        if isinstance(part, int) and "items" in node:
            node = node["items"]
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        else:
            return {}
    return node if isinstance(node, Mapping) else {}


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _messages(error: Any, schema: Mapping[str, Any]) -> list[str]:
    """The lines for one jsonschema error: one per unknown key, else one."""
    if error.validator == "additionalProperties":
        path = tuple(error.absolute_path)
        known = sorted(error.schema.get("properties", {}))
        where = "at top level" if not path else f"in {_key(path)}"
        return [
            f"config: unknown key {short(name)} {where}; "
            f"{_did_you_mean(str(name), known)}(keys: {', '.join(known)})"
            for name in error.instance
            if name not in known
        ]
    return [_message(error, schema)]


def _message(error: Any, schema: Mapping[str, Any]) -> str:
    """One line for one jsonschema error, built from its parts, never from its message."""
    path = tuple(error.absolute_path)
    key = _key(path)
    kind, expected, value = error.validator, error.validator_value, error.instance
    sub = _subschema(schema, path)
    about = _first_sentence(str(sub.get("description", "")))
    hint = f" ({key}: {about})" if about else ""
    if "propertyNames" in error.schema_path:
        return (
            f"config key {key}: the name {short(value)} is not allowed (it must match "
            f"{expected}){hint}"
        )
    if kind == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        text = f"config key {key}: {short(value)} is not of type {', '.join(map(repr, types))}"
        if isinstance(value, str) and ({"number", "integer"} & set(types)):
            try:
                float(value)
                text += (
                    f"; YAML reads {value} as text: write it as a number with a dot "
                    "and a signed exponent (1.0e-6) or in full (0.000001)"
                )
            except ValueError:
                pass
        return text + hint
    if kind == "enum":
        choices = [str(c) for c in expected]
        return (
            f"config key {key}: {short(value)} is not one of {expected!r}; "
            f"{_did_you_mean(str(value), choices)}".rstrip("; ").rstrip()
        )
    if kind == "required":
        return f"config key {key}: {error.message}{hint}"
    if kind == "pattern":
        return f"config key {key}: {short(value)} is not allowed{hint}"
    limits = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
        "minLength": "of length >=",
        "maxLength": "of length <=",
        "minItems": "with items >=",
        "maxItems": "with items <=",
        "multipleOf": "a multiple of",
    }
    if kind in limits:
        return f"config key {key}: {short(value)} must be {limits[kind]} {expected}{hint}"
    if kind == "uniqueItems":
        return f"config key {key}: {short(value)} lists an item twice{hint}"
    return f"config key {key}: {short(value)} is not valid ({kind}: {short(expected)}){hint}"


def validate(config: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Check ``config`` against ``schema`` and fill in its defaults, in place.

    Raises ConfigError listing at most :data:`MAX_ERRORS` problems, one line each.
    """
    errors = sorted(
        _validator(schema).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]
    )
    if errors:
        lines = [line for e in errors for line in _messages(e, schema)]
        more = len(lines) - MAX_ERRORS
        lines = lines[:MAX_ERRORS]
        if more > 0:
            lines.append(f"(and {more} more)")
        raise ConfigError("\n".join(lines))


def check_results(results: str) -> None:
    """``results`` is part of every output pattern: a brace there would be a wildcard."""
    if "{" in results or "}" in results:
        raise ConfigError(
            f"results: {short(results)} contains a brace; Snakemake reads braces in output "
            "paths as wildcards, so choose a folder name without { or }"
        )


def check_config(config: dict[str, Any], schema: str | Path) -> None:
    """Everything about ``config`` that needs neither files nor pixels, in place.

    In order: the size walk (nothing else may format or copy an unbounded value), dates
    to text, the schema with its defaults, then values the schema cannot express:
    ``results``, ``composite.statistic`` (the parser the composite jobs use) and every
    custom index expression (:func:`rasterflow.indices.check`).
    """
    from rasterflow import composite, indices, presets

    check_size(config)
    dates_to_text(config)
    validate(config, load_schema(schema))
    check_results(config["results"])
    composite.parse_statistic(config["composite"]["statistic"])
    presets.apply_preset(config["scenes"])
    mask = config["scenes"]["mask"]
    if mask is not None and ("valid" in mask) == ("invalid_bits" in mask):
        raise ConfigError(
            "scenes.mask: give either valid (the class values of clear pixels, e.g. "
            "Sentinel-2 SCL [4, 5, 6, 7, 11]) or invalid_bits (the bits that mark unclear "
            "pixels, e.g. Landsat QA_PIXEL [0, 1, 2, 3, 4]), not both or neither"
        )
    if mask is not None and (
        both := sorted(set(mask.get("fill") or ()) & set(mask.get("valid") or ()))
    ):
        raise ConfigError(
            f"scenes.mask: {', '.join(map(str, both))} in both fill (no data) and valid "
            "(clear); a value is one or the other: drop it from one list"
        )
    check_points(config["points"])
    for name, text in config["custom_indices"].items():
        indices.check(
            indices.parse(name, text, key=f"custom_indices.{name}"), key=f"custom_indices.{name}"
        )


def check_points(points: Mapping[str, Any]) -> None:
    """``points.window``: odd (the window is centred on the point's pixel), and above 1
    only with ``method: nearest`` (a window of interpolated values means nothing more)."""
    window = points["window"]
    if window % 2 == 0:
        raise ConfigError(
            f"points.window: {window} is even, but the window is centred on the pixel "
            f"holding the point; use an odd side ({window - 1} or {window + 1}), or 1 for "
            "that pixel alone"
        )
    if window > 1 and points["method"] != "nearest":
        raise ConfigError(
            f"points.window: {window} averages the pixels around the point's pixel, which "
            f"needs points.method: nearest (it is {points['method']}); set method: nearest "
            "or window: 1"
        )
