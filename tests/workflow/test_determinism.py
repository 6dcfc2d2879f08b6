"""Same inputs and config, same product bytes: any cores, threads or processes, any place.

The matrix (docs/reliability.md): 1 or 2 cores per job x Dask threads or processes,
locally, here; local vs SLURM in tests/slurm/test_slurm_demo.py; threads and chunking
of the writer in tests/unit/test_io.py.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import DATA, run_snakemake

pytestmark = pytest.mark.workflow

SCENES = {"full": "rgbn.tif", "suba": "rgbn_suba.tif", "subb": "rgbn_subb.tif"}
TARGETS = [
    # SR is written per scene; NDVI's composites compute it from the bands in memory
    *(f"results/indices/{s}/SR.tif" for s in SCENES),
    "results/mosaics/2020/NDVI.tif",
    "results/mosaics/2020/NDVI_count.tif",
    "results/mosaics/2020/NDVI.vrt",
    # composite.bands (band_statistic quality by default, medoid and geomedian below)
    "results/mosaics/2020/bands.tif",
    "results/mosaics/2020/bands_count.tif",
    "results/terrain/slope.tif",
    "results/terrain/hillshade.tif",
]


def project(root: Path, band_statistic: str = "quality") -> Path:
    """A user's project at ``root``: data inside it, referenced by absolute paths."""
    data = root / "data"
    data.mkdir(parents=True)
    for name in (*SCENES.values(), "rmnp-dem.tif"):
        shutil.copy(DATA / name, data / name)
    with (data / "scenes.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scene_id", "date", "path"])
        for i, (sid, name) in enumerate(SCENES.items()):
            w.writerow([sid, f"2020-07-0{i + 1}", name])
    (root / "own.yaml").write_text(
        yaml.safe_dump(
            {
                "demo": False,
                "scenes": {
                    "sheet": str(data / "scenes.csv"),
                    "chunk": 256,
                    "bands": {
                        "red": {"band": 1, "nodata": 0},
                        "green": {"band": 2, "nodata": 0},
                        "nir": {"band": 4, "nodata": 0},
                    },
                },
                "indices": ["NDVI", "SR"],
                "custom_indices": {"SR": "nir / red"},
                # small tiles and chunks: several Dask blocks and several jobs per stage
                "grid": {
                    "crs": "EPSG:32618",
                    "resolution": 10,
                    "tile_px": 128,
                    "origin": [0, 0],
                    "aoi": {"bounds": [792900, 2048300, 795600, 2050400]},
                },
                "composite": {
                    "chunk": 64,
                    "indices": ["NDVI"],
                    "bands": ["red", "green", "nir"],
                    "band_statistic": band_statistic,
                    "quality": {"index": "NDVI"},
                },
                "mosaic": {"chunk": 256},
                "terrain": {
                    "dem": str(data / "rmnp-dem.tif"),
                    "products": ["slope", "hillshade"],
                    "chunk": 64,
                },
                "dask": {"progress_interval": 60},
            }
        )
    )
    return root


def run(root: Path, *args: str) -> dict[str, str]:
    # targets right after --cores: --configfile and --set-threads would take them as theirs
    run_snakemake(
        root, *args[:2], *TARGETS, *args[2:], configfiles=[root / "own.yaml"], demo_config=False
    )
    return {t: hashlib.sha256((root / t).read_bytes()).hexdigest() for t in TARGETS}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    root = project(tmp_path_factory.mktemp("ref"))
    return run(root, "--cores", "1")


TWO = ["--set-threads", "index=2", "composite=2", "mosaic=2", "terrain=2"]


@pytest.mark.parametrize(
    ("cells", "args", "processes"),
    [
        ("2 cores per job, threads", ["--cores", "2", *TWO], False),
        ("1 core per job, processes", ["--cores", "1"], True),
        ("2 cores per job, processes", ["--cores", "2", *TWO], True),
    ],
)
def test_same_bytes_for_any_cores_threads_or_processes(tmp_path, reference, cells, args, processes):
    root = project(tmp_path / "p")
    if processes:
        cfg = yaml.safe_load((root / "own.yaml").read_text())
        cfg["dask"]["processes"] = True
        (root / "own.yaml").write_text(yaml.safe_dump(cfg))
    assert run(root, *args) == reference, cells
    if "2" in args:
        log = (root / "results" / "logs" / "terrain.log").read_text()
        workers = "2 worker(s) x 1 thread(s)" if processes else "1 worker(s) x 2 thread(s)"
        assert workers in log  # the cell really ran in that shape


def test_same_bytes_wherever_the_project_lives(tmp_path, reference):
    """Provenance records paths relative to the project: a moved copy gives equal bytes."""
    root = project(tmp_path / "somewhere" / "else" / "entirely")
    assert run(root, "--cores", "1") == reference


@pytest.mark.parametrize("statistic", ["medoid", "geomedian"])
def test_band_statistics_same_bytes_one_core_threads_or_two_cores_processes(tmp_path, statistic):
    """The other band statistics (quality is in the matrix above): the corner cells."""
    one = run(project(tmp_path / "one", statistic), "--cores", "1")
    root = project(tmp_path / "two", statistic)
    cfg = yaml.safe_load((root / "own.yaml").read_text())
    cfg["dask"]["processes"] = True
    (root / "own.yaml").write_text(yaml.safe_dump(cfg))
    assert run(root, "--cores", "2", *TWO) == one
