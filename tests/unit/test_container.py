"""The Apptainer recipe (container/rasterflow.def), read as Apptainer reads it.

No Apptainer or Singularity installs on Debian 12 or from PyPI here, so the image is
not built in CI: spython (Singularity's own recipe parser, PyPI) reads the sections,
and the tests check what a build needs from this repository.
"""

from __future__ import annotations

import re

from helpers import REPO
from spython.main.parse.parsers import SingularityParser

DEF = REPO / "container" / "rasterflow.def"
ROOT = "/opt/rasterflow"


def _recipe():
    (recipe,) = SingularityParser(str(DEF)).recipe.values()
    return recipe


def test_the_image_has_the_python_of_the_lock_and_installs_the_lock():
    recipe = _recipe()
    assert recipe.fromHeader == "python:3.12-slim-bookworm"  # tools/bootstrap's Python
    post = "\n".join(recipe.install)
    assert f"pip install --no-cache-dir -r {ROOT}/requirements.lock" in post
    assert f"pip install --no-cache-dir --no-deps {ROOT}" in post  # nothing beyond the lock
    assert "gdal-bin" in post
    assert recipe.cmd == f'exec snakemake -s {ROOT}/Snakefile "$@"'


def test_the_image_copies_every_file_the_workflow_reads():
    copied = {}
    for line in _recipe().files:
        source, dest = line.split()
        assert (REPO / source).exists(), source
        assert dest == f"{ROOT}/{source}", line  # the repository's layout, kept
        copied[source] = dest
    # what the rules name relative to themselves (scripts, captions, schema)
    named = {
        m
        for smk in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
        for m in re.findall(r'"\.\./([A-Za-z_]+)/', smk.read_text())
    }
    assert named and named <= set(copied), named - set(copied)
    needed = {"Snakefile", "rules", "src", "pyproject.toml", "requirements.lock", "profiles"}
    assert needed <= set(copied), needed - set(copied)
