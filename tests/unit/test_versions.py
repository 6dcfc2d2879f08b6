"""rasterflow.versions: the one software_versions, for product tags and the report."""

from __future__ import annotations

import json
import platform

from rasterflow import io, report
from rasterflow.versions import software_versions


def test_product_versions_are_the_imported_modules_own():
    """Products' RASTERFLOW_SOFTWARE tag is unchanged by the distribution look-up: the
    same names and the same values as the modules report (what io used to record)."""
    import dask
    import numpy as np
    import rasterio
    import xarray

    import rasterflow

    modules = {
        "rasterflow": rasterflow.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "dask": dask.__version__,
        "xarray": xarray.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
    }
    assert software_versions() == modules
    tags = io.provenance_tags(inputs=[], params={})
    assert tags["RASTERFLOW_SOFTWARE"] == json.dumps(modules, sort_keys=True)


def test_the_report_lists_its_own_names_and_what_is_missing():
    import snakemake

    versions = software_versions([*report.SOFTWARE, "surely-not-installed-pkg"])
    assert set(versions) == {*report.SOFTWARE, "surely-not-installed-pkg", "python", "gdal"}
    assert versions["surely-not-installed-pkg"] == "not installed"
    assert versions["snakemake"] == snakemake.__version__
    assert versions["gdal"] and versions["python"] == platform.python_version()


def test_citation_licence_and_changelog_carry_the_packages_version():
    """CITATION.cff, LICENSE and the CHANGELOG agree with pyproject.toml: one version,
    one licence (the citation a user copies names the release they ran)."""
    import tomllib

    import yaml
    from helpers import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    assert str(citation["version"]) == project["version"]
    assert citation["license"] == project["license"] == "MIT"
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {project['version']} " in changelog
