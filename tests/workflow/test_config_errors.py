"""Config mistakes stop Snakemake before any job runs, naming the key."""

from __future__ import annotations

import pytest
from helpers import run_snakemake

pytestmark = pytest.mark.workflow


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "indeces: [NDVI]\n",
            "config: unknown key 'indeces' at top level; did you mean 'indices'? (keys: ",
        ),
        ("scenes:\n  chunk: big\n", "config key scenes.chunk: 'big' is not of type 'integer'"),
        (
            "scenes:\n  resampling: lanczos9\n",
            "config key scenes.resampling: 'lanczos9' is not one of ['nearest', 'bilinear', ",
        ),
        ("indices: [NVDI]\n", "unknown index 'NVDI'"),
        (
            ("custom_indices:\n  evil: \"__import__('os').system('id')\"\nindices: [evil]\n"),
            "index 'evil': Call at column 1",
        ),
        ("demo: false\n", "nothing to do: set scenes.sheet to your scene sheet CSV"),
        ("demo: false\nscenes:\n  sheet: nowhere.csv\n", "scene sheet nowhere.csv not found"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, yaml_text, expected):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=[cfg], check=False)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
    # one line of rasterflow's, not jsonschema's dump of the schema and the value
    assert "Failed validating" not in proc.stdout + proc.stderr
