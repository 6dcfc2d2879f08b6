"""Config mistakes caught at the dry run (or, for a job's memory, at its start).

The same contract as test_bad_inputs.py: the message the user reads, a non-zero exit,
and no product or temporary under results. These configs used to pass the dry run and
fail every job, hang the planning, or print a raw traceback or a schema dump.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, run_snakemake
from test_bad_inputs import INSIDE, Case, _scene, base_config, hidden, leftovers, merge


def _schema_keys(section: str | None = None) -> str:
    """The keys a message lists, from config/schema.yaml (not a copy that goes stale
    with every new key)."""
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    props = schema["properties"] if section is None else schema["properties"][section]["properties"]
    return ", ".join(sorted(props))


pytestmark = pytest.mark.workflow

#: a planning that hangs must still end the test: the dry run of these takes seconds
TIMEOUT = 120.0

GRID = {"crs": "EPSG:32633", "tile_px": 64, "aoi": {"bounds": list(INSIDE.bounds)}}


def statistic_above_p100(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"grid": GRID, "composite": {"statistic": "p100.5"}}


def expression_overflow(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"indices": ["x"], "custom_indices": {"x": "nir * 10 ** 400"}}


def expression_huge_exponent(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"indices": ["x"], "custom_indices": {"x": "nir ** 9 ** 9 ** 9"}}


def expression_500_terms(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"indices": ["x"], "custom_indices": {"x": " + ".join(["nir"] * 500)}}


def expression_3000_terms(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"indices": ["x"], "custom_indices": {"x": " + ".join(["nir"] * 3000)}}


def expression_never_finite(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"indices": ["x"], "custom_indices": {"x": "nir / (red - red)"}}


def grid_resolution_far_too_fine(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"grid": {**GRID, "resolution": 1e-6}}


def config_key_typo(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"indeces": ["NDVI"]}


def config_nested_key_typo(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"composite": {"statistc": "mean"}}


def config_wrong_type(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"composite": {"statistic": 90}}


def results_with_braces(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {"results": "out{x}"}


def mem_mb_far_too_low(ws: Path) -> dict[str, Any]:
    _scene(ws)
    return {}


CASES = [
    Case(
        "statistic-above-p100",
        statistic_above_p100,
        "composite.statistic: 'p100.5' is not one of median, mean, min, max or pXX (a "
        "percentile between p0 and p100, e.g. p10 or p97.5)",
    ),
    Case(
        "expression-overflow",
        expression_overflow,
        "custom_indices.x: 'nir * 10 ** 400' cannot be computed: 10 ** 400 overflows in "
        "float64, the type indices are computed in (at most about 1.8e308); use smaller "
        "numbers",
    ),
    Case(
        "expression-huge-exponent",
        expression_huge_exponent,
        "custom_indices.x: 'nir ** 9 ** 9 ** 9' cannot be computed: 9 ** 9 ** 9 overflows "
        "in float64",
    ),
    Case(
        "expression-500-terms",
        expression_500_terms,
        "custom_indices.x: the expression has 999 parts (numbers, bands and operations; at "
        "most 200); an index is a short formula over band names",
    ),
    Case(
        "expression-3000-terms",
        expression_3000_terms,
        "custom_indices.x: the expression has 17997 characters (at most 4000); an index is "
        "a short formula over band names",
    ),
    Case(
        "expression-never-finite",
        expression_never_finite,
        "custom_indices.x: 'nir / (red - red)' is not a finite number for any test pixel "
        "(e.g. nir=0.05, red=0.66), so every pixel would be nodata",
    ),
    Case(
        "grid-resolution-far-too-fine",
        grid_resolution_far_too_fine,
        "grid: grid.aoi at grid.resolution 1e-06 is 250000001 x 250000001 pixels (6.3e+16) "
        "in 1.5e+13 tiles of 64 px, more than grid.max_tiles (100000); check "
        "grid.resolution (in grid.crs units), raise grid.tile_px, or raise grid.max_tiles",
    ),
    Case(
        "config-key-typo",
        config_key_typo,
        "config: unknown key 'indeces' at top level; did you mean 'indices'? (keys: "
        f"{_schema_keys()})",
    ),
    Case(
        "config-nested-key-typo",
        config_nested_key_typo,
        "config: unknown key 'statistc' in composite; did you mean 'statistic'? (keys: "
        f"{_schema_keys('composite')})",
    ),
    Case(
        "config-wrong-type",
        config_wrong_type,
        "config key composite.statistic: 90 is not of type 'string' (composite.statistic: "
        "median, mean, min, max or a percentile pXX (NumPy linear).)",
    ),
    Case(
        "results-with-braces",
        results_with_braces,
        # doubled: the message is a format string ({ws})
        "results: 'out{{x}}' contains a brace; Snakemake reads braces in output paths as "
        "wildcards, so choose a folder name without {{ or }}",
    ),
    Case(
        "mem-mb-far-too-low",
        mem_mb_far_too_low,
        "mem_mb of rule index: 2 MB is far below what a Dask worker needs before its first "
        "chunk (about 250 MB); give rule index at least 400 MB, e.g. --set-resources "
        "index:mem_mb=2000",
        target="results/indices/s1/NDVI.tif",
        where="job",
        extra=["--set-resources", "index:mem_mb=2"],
    ),
]


def _run(ws: Path, cfg: Path, case: Case) -> tuple[subprocess.CompletedProcess[str], float]:
    # --cores before a target ends the --configfile list, which would swallow it
    args = ["--cores", "2", case.target] if case.target else ["--dry-run"]
    t0 = time.perf_counter()
    proc = run_snakemake(
        ws, *args, *case.extra, configfiles=[cfg], demo_config=False, check=False, timeout=TIMEOUT
    )
    return proc, time.perf_counter() - t0


def _assert_refused(ws: Path, proc: subprocess.CompletedProcess[str], case: Case) -> str:
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert case.message.format(ws=ws) in output, output[-4000:]
    assert "Failed validating" not in output  # jsonschema's dump of schema and value
    results = ws / "results"
    if case.where == "DAG":  # refused before any job: nothing was written at all
        assert "Traceback" not in output
        assert not results.exists()
        assert not (ws / "out{x}").exists()
    assert leftovers(results) == [] and hidden(results) == []
    return output


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_is_refused_clearly_leaving_no_output(tmp_path, case):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(tmp_path), case.setup(tmp_path))))
    proc, seconds = _run(tmp_path, cfg, case)
    _assert_refused(tmp_path, proc, case)
    # the grid case hung the planning; no check may cost more than a moment
    assert seconds < 60 or case.where != "DAG", seconds


def _alias_bomb(levels: int = 9) -> str:
    """'Billion laughs': 9 levels of 9 aliases each, 9^9 strings once expanded."""
    lines = ["lols:", '  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_within_seconds(tmp_path):
    """It used 12.9 GB and ignored Ctrl-C for 10+ minutes (the schema error formatted it)."""
    _scene(tmp_path)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(base_config(tmp_path)) + _alias_bomb())
    case = Case(
        "yaml-alias-bomb",
        lambda ws: {},
        "config: key lols expands to more than 100,000 values: YAML aliases (*name) "
        "repeat their anchor (&name) at every use; remove the aliases or that key",
    )
    proc, seconds = _run(tmp_path, cfg, case)
    _assert_refused(tmp_path, proc, case)
    assert seconds < 60, seconds  # a dry run of one scene; the bomb adds milliseconds


def test_unquoted_yaml_dates_in_periods_ranges_are_accepted(tmp_path):
    """YAML reads 2024-03-01 unquoted as a date; the user means the day."""
    _scene(tmp_path)  # one scene of 2024-06-01
    cfg = tmp_path / "dates.yaml"
    cfg.write_text(
        yaml.safe_dump(base_config(tmp_path))
        + (
            f"grid: {{crs: 'EPSG:32633', tile_px: 64, aoi: {{bounds: {list(INSIDE.bounds)}}}}}\n"
            "periods:\n  kind: ranges\n  ranges:\n    summer: [2024-05-01, 2024-08-31]\n"
        )
    )
    assert "summer: [2024-05-01, 2024-08-31]" in cfg.read_text()  # unquoted, as a user writes
    proc = run_snakemake(
        tmp_path, "--dry-run", configfiles=[cfg], demo_config=False, timeout=TIMEOUT
    )
    assert "results/mosaics/summer/NDVI.tif" in proc.stdout
    assert not (tmp_path / "results").exists()
