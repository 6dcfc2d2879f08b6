"""The demo's QGIS styles as QGIS reads them (tests/qgis_check.py: Debian's PyQGIS)."""

from __future__ import annotations

import pytest
from qgis_check import qgis_draws

pytestmark = pytest.mark.workflow


def test_qgis_loads_the_styles_of_the_demo_run(demo_run, tmp_path):
    """Every raster product of the demo has a .qml beside it, QGIS loads each with the
    renderer rasterflow chose, and rasterflow's count COGs have nodata 0."""
    results = demo_run / "results"
    rasters = sorted(p for p in results.rglob("*.tif") if not p.is_relative_to(results / "report"))
    assert rasters and all(r.with_suffix(".qml").is_file() for r in rasters), [
        str(r) for r in rasters if not r.with_suffix(".qml").is_file()
    ]
    kinds = {r.relative_to(results).parts[0] for r in rasters}
    assert {"mosaics", "composites", "terrain", "trend", "indices"} <= kinds
    drawn = qgis_draws(rasters, tmp_path)
    for raster in rasters:
        info = drawn[str(raster)]
        assert info["valid"] and info["type"] == "singlebandpseudocolor", raster
        if raster.stem.endswith("_count"):
            assert info["nodata"] == 0 and info["ramp"] == 2, raster  # QgsColorRampShader.Exact
        else:
            assert info["ramp"] == 0, raster  # QgsColorRampShader.Interpolated
