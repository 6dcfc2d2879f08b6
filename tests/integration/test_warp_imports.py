"""What importing the planning modules costs a Snakemake process: not the job-time
warping module (a child Python, so that nothing imported it before)."""

from __future__ import annotations

import subprocess
import sys


def test_planning_imports_neither_the_warp_module_nor_its_filters():
    # Snakemake's own process plans; only jobs import rasterflow.warp (and its filters)
    code = (
        "import logging, sys\n"
        "import rasterflow.grid, rasterflow.workflow\n"
        "assert 'rasterflow.warp' not in sys.modules, 'warp imported'\n"
        "assert not logging.getLogger('rasterio._env').filters, 'filter installed'\n"
        "import rasterflow.warp\n"
        "assert logging.getLogger('rasterio._env').filters, 'warp installs its filters'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
