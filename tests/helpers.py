"""Test helpers (importable as ``helpers``): paths, running Snakemake, small rasters.

The one ``DATA`` path (tests/data) and the one raster writer (:func:`write_raster`) of
the test tree: test modules import them from here rather than define their own.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from affine import Affine

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def run_snakemake(
    workdir: Path,
    *args: str,
    configfiles: Sequence[Path] = (),
    check: bool = True,
    timeout: float = 900,
    env: dict[str, str] | None = None,
    demo_config: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run the project's Snakefile with ``workdir`` as working directory.

    The repo's config/config.yaml (the demo) comes first unless ``demo_config`` is
    false, then ``configfiles`` (later ones win), as a user's ``--configfile`` would.
    """
    base = [REPO / "config" / "config.yaml"] if demo_config else []
    cmd = [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        *map(str, [*base, *configfiles]),
        *args,
    ]
    if not any(a.startswith(("--cores", "-c")) for a in args):
        cmd += ["--cores", "2"]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:32633",
    res: float = 10.0,
    origin: tuple[float, float] = (500_000.0, 6_000_000.0),
    transform: Affine | None = None,
    nodata: float | None = None,
    tags: Mapping[str, str] | None = None,
    descriptions: Sequence[str] | None = None,
    units: str | None = None,
    **creation: Any,
) -> Path:
    """Write a small GeoTIFF (2-D or band-first 3-D) for a test.

    The grid is ``origin`` and square ``res`` pixels unless ``transform`` is given;
    ``tags`` are dataset tags, ``descriptions`` and ``units`` go on the bands (one
    description per band, the same unit on each), ``creation`` are GTiff creation
    options (``tiled=True, blockxsize=64, blockysize=64``).
    """
    import rasterio
    from rasterio.transform import from_origin

    data = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype.name,
        crs=crs,
        transform=transform if transform is not None else from_origin(*origin, res, res),
        nodata=nodata,
        **creation,
    ) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**tags)
        for band, description in enumerate(descriptions or (), start=1):
            dst.set_band_description(band, description)
        if units is not None:
            for band in range(1, data.shape[0] + 1):
                dst.set_band_unit(band, units)
    return path


def digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (outputs compared byte for byte)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def planned_jobs(workdir: Path, *args: str, configfiles=()) -> dict[str, int]:
    """Rule -> job count from a dry run's job stats (``args``: targets and options)."""
    # args go before --quiet, whose values would swallow targets placed after it
    out = run_snakemake(
        workdir, "--dry-run", *args, "--quiet", "rules", configfiles=configfiles
    ).stdout
    table = out.split("Job stats:")[1] if "Job stats:" in out else ""
    return {
        m[1]: int(m[2])
        for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)
        if m[1] != "total"
    }
