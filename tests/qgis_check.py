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


def _run(child: str, args, tmp_path) -> str:
    """Run ``child`` under Debian's Python with PyQGIS, offscreen; its last line."""
    if (
        not os.path.exists(SYSTEM_PYTHON)
        or subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode
    ):
        pytest.fail("PyQGIS missing: run tools/system-deps (Debian: apt-get install python3-qgis)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    # TMPDIR: Qt's temporary folders (qt_temp-*) were left behind in /tmp, one per draw
    env.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_RUNTIME_DIR=str(tmp_path),
        HOME=str(tmp_path),
        TMPDIR=str(tmp_path),
    )
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", child, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def qgis_draws(paths, tmp_path):
    """path -> what QGIS made of it: renderer, range, nodata, RGBA per pixel."""
    return json.loads(_run(_QGIS_CHILD, [str(p) for p in paths], tmp_path))


# reads a project as QGIS does: its CRS and, per layer, validity, group, visibility and
# (rasters) renderer and range
_PROJECT_CHILD = r"""
import json, os, sys
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
app = QgsApplication([], False)
app.initQgis()
project = QgsProject.instance()
ok = project.read(sys.argv[1])
root = project.layerTreeRoot()
layers = []
for node in root.findLayers():
    layer = project.mapLayer(node.layerId())
    info = {"name": node.name(), "group": node.parent().name(), "valid": layer.isValid(),
            "visible": node.isVisible(), "source": layer.source()}
    if isinstance(layer, QgsRasterLayer):
        r = layer.renderer()
        info["renderer"] = r.type()
        if r.type() == "singlebandpseudocolor":
            info["range"] = [r.classificationMin(), r.classificationMax()]
    else:
        info["features"] = layer.featureCount()
    layers.append(info)
print(json.dumps({"read": ok, "crs": project.crs().authid(), "layers": layers}), flush=True)
os._exit(0)  # as above: PyQGIS's teardown crashes
"""


def qgis_project(path, tmp_path):
    """What QGIS makes of the project at ``path``: read, CRS, layers in tree order."""
    return json.loads(_run(_PROJECT_CHILD, [str(path)], tmp_path))
