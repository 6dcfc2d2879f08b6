"""Open rasters with QGIS's own Python (Debian's python3-qgis, installed by
tools/system-deps) and report what QGIS made of their ``.qml`` default styles and the
colours it draws. Shared by the integration and workflow tests of rasterflow.qgis."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"

# runs under Debian's Python with PyQGIS: opens each raster as QGIS does, prints what
# QGIS made of its style and the RGBA it draws for every pixel
_QGIS_CHILD = r"""
import json, os, sys
from qgis.core import QgsApplication, QgsRasterLayer
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False)
app.initQgis()
out = {}
for path in sys.argv[1:]:
    layer = QgsRasterLayer(path, "layer", "gdal")  # loads <name>.qml: the default style
    r = layer.renderer()
    info = {"valid": layer.isValid(), "type": r.type(),
            "nodata": layer.dataProvider().sourceNoDataValue(1)}
    if r.type() == "singlebandpseudocolor":
        info["range"] = [r.classificationMin(), r.classificationMax()]
        info["ramp"] = int(r.shader().rasterShaderFunction().colorRampType())
    if r.type() == "multibandcolor":
        info["bands"] = [r.redBand(), r.greenBand(), r.blueBand()]
    w, h = layer.width(), layer.height()
    block = r.block(1, layer.extent(), w, h)
    info["rgba"] = [[list(QColor.fromRgba(block.color(y, x)).getRgb()) for x in range(w)]
                    for y in range(h)]
    out[path] = info
print(json.dumps(out), flush=True)
# PyQGIS 3.22 crashes in its own teardown (exitQgis, then the interpreter's) once layers
# were drawn: leave without it, the answer is printed
os._exit(0)
"""


def qgis_draws(paths, tmp_path):
    """path -> what QGIS made of it: renderer, range, nodata, RGBA per pixel."""
    if (
        not os.path.exists(SYSTEM_PYTHON)
        or subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode
    ):
        pytest.fail("PyQGIS missing: run tools/system-deps (Debian: apt-get install python3-qgis)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path), HOME=str(tmp_path))
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", _QGIS_CHILD, *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
