"""Render the config schema as the Markdown reference in config/README.md.

    python -m rasterflow.configdoc config/schema.yaml > config/README.md

A test regenerates it and compares, so the reference cannot drift from the schema.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml


def _type(node: Mapping[str, Any]) -> str:
    t = node.get("type", "any")
    return " or ".join(t) if isinstance(t, list) else str(t)


def _rows(node: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for key, sub in node.get("properties", {}).items():
        name = f"{prefix}{key}"
        default = json.dumps(sub["default"]) if "default" in sub else "(none)"
        extra = f" One of: {', '.join(map(str, sub['enum']))}." if "enum" in sub else ""
        yield name, _type(sub), default, " ".join(sub.get("description", "").split()) + extra
        yield from _rows(sub, f"{name}.")
        if (
            isinstance(sub.get("additionalProperties"), dict)
            and "properties" in sub["additionalProperties"]
        ):
            yield from _rows(sub["additionalProperties"], f"{name}.<name>.")


def render(schema: Mapping[str, Any]) -> str:
    """The Markdown reference of a config schema: one section per top-level key."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `config/schema.yaml` by `python -m rasterflow.configdoc "
        "config/schema.yaml`; a test keeps the two in sync. Unknown keys are errors.",
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for name, typ, default, desc in _rows(schema, ""):
        lines.append(f"| `{name}` | {typ} | `{default}` | {desc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    """Print the reference of the schema at ``argv[1]`` (default config/schema.yaml)."""
    schema = yaml.safe_load(Path(argv[1] if len(argv) > 1 else "config/schema.yaml").read_text())
    sys.stdout.write(render(schema))


if __name__ == "__main__":
    main(sys.argv)
