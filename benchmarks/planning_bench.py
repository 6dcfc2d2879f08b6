"""Planning (``snakemake --dry-run``) of rasterflow vs bare Snakemake with as many jobs.

    .venv/bin/python benchmarks/planning_bench.py --scenes 10000 --runs 3
    .venv/bin/python benchmarks/planning_bench.py --scenes 100000 --batch 1000 --runs 1
    .venv/bin/python benchmarks/planning_bench.py --scenes 50 --runs 1      # smoke size
    .venv/bin/python benchmarks/planning_bench.py --scenes 100000 --batch 1000 --stac

``--stac`` plans from a STAC item collection of the same scenes whose assets state
their grids (proj:*) and pixel types (raster:bands), as a STAC API answers, instead of
the sheet: no header is read, in the first run either.

The data are honest about header reads: every scene is its own tiny GeoTIFF (4 x 4
pixels, two uint16 bands, 3 km pixels, so a scene's footprint is 12 km and touches
one to four 10 km tiles), at its own place in a 100 km square, on one of the 366 days
of 2024 (scene_date) (copies of one template with the origin patched: see make_scenes).
The rasterflow config reads red and nir from them, computes NDVI, and composites
monthly on a 10 m grid in 1000 px tiles (100 tiles); no terrain, no zones.

Variants, each a fresh ``snakemake --dry-run --quiet`` process, run alternately:
  rasterflow   this project's Snakefile on that config (``--batch``: scenes.batch)
  bare         a 2-rule Snakefile (``all`` + one rule with one wildcard) planning the
               same number of jobs as rasterflow's dry run reported
  bare_rich    the same, each job with an input file, log, benchmark, resources that
               grow with the attempt, params, conda and script, as rasterflow's jobs
The first rasterflow run reads every scene header and writes the header cache and the
plan cache (see rasterflow.planning: later runs load the plan while the sheet, config,
code and scene files are unchanged), so its time is printed apart; medians are of the
later runs, which plan from the cache, as a user's repeated dry runs do, of
wall time (the table) and of CPU time (user + sys: on a shared machine, what a run
costs without the time it waited for a core).
``--targets core`` plans the index products and mosaics only (not the report).
``--profile`` writes a cProfile of one in-process rasterflow dry run instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
import time
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CRS = "EPSG:32633"
AREA = (300_000.0, 6_000_000.0, 400_000.0, 6_100_000.0)  # xmin, ymin, xmax, ymax
PIXEL = 3000.0
SIZE = 4


# the template's origin, patched per file: distinctive doubles found once in its bytes
_X0, _Y0 = 123456.25, 7654321.75


def _template() -> bytes:
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            width=SIZE,
            height=SIZE,
            count=2,
            dtype="uint16",
            crs=CRS,
            nodata=0,
            transform=from_origin(_X0, _Y0, PIXEL, PIXEL),
        ) as dst:
            dst.write(np.full((2, SIZE, SIZE), 1000, dtype=np.uint16))
        data = mem.read()
    return data


def scene_date(i: int) -> dt.date:
    """Scene ``i``'s date: every 31st day of 2024, so a dozen scenes cover every month."""
    return dt.date(2024, 1, 1) + dt.timedelta(days=(31 * i) % 366)


def _origins(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The scenes' upper-left corners (x, y), the same for the same ``n``."""
    rng = np.random.default_rng(0)
    xs = np.round(rng.uniform(AREA[0], AREA[2] - PIXEL * SIZE, n))
    ys = np.round(rng.uniform(AREA[1] + PIXEL * SIZE, AREA[3], n))
    return xs, ys


def make_scenes(root: Path, n: int) -> Path:
    """``n`` tiny GeoTIFFs, each at its own place and date, and a sheet listing them.

    One template is written with rasterio and each file is a copy with its origin's
    two doubles replaced (100,000 files in seconds instead of minutes); a sample of the
    copies is read back to check they are what they claim.
    """
    import struct

    import rasterio

    template = _template()
    at_x = template.index(struct.pack("<d", _X0))
    at_y = template.index(struct.pack("<d", _Y0))
    xs, ys = _origins(n)
    (root / "scenes").mkdir(parents=True, exist_ok=True)
    lines = ["scene_id,date,path"]
    buf = bytearray(template)
    for i in range(n):
        sid = f"S{i:06d}"
        buf[at_x : at_x + 8] = struct.pack("<d", xs[i])
        buf[at_y : at_y + 8] = struct.pack("<d", ys[i])
        (root / "scenes" / f"{sid}.tif").write_bytes(buf)
        lines.append(f"{sid},{scene_date(i)},scenes/{sid}.tif")
    for i in sorted({0, n // 2, n - 1}):
        with rasterio.open(root / "scenes" / f"S{i:06d}.tif") as src:
            assert (src.bounds.left, src.bounds.top) == (xs[i], ys[i]), src.bounds
    sheet = root / "scenes.csv"
    sheet.write_text("\n".join(lines) + "\n")
    return sheet


def make_items(root: Path, sheet: Path) -> Path:
    """The sheet's scenes as a STAC item collection whose assets state their grids and
    pixel types (proj:epsg, proj:shape, proj:transform, raster:bands): what a STAC API
    answers, planned without opening a file (rasterflow.stac_scenes)."""
    import json

    import rasterio

    lines = sheet.read_text().splitlines()[1:]
    xs, ys = _origins(len(lines))
    features = []
    for i, line in enumerate(lines):
        sid, day, path = line.split(",")
        transform, shape = [PIXEL, 0.0, xs[i], 0.0, -PIXEL, ys[i]], [SIZE, SIZE]
        if i in (0, len(lines) - 1):  # the items state the files' truth
            with rasterio.open(root / path) as src:
                assert list(src.transform)[:6] == transform and src.shape == tuple(shape)
        features.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "id": sid,
                "geometry": None,
                "properties": {"datetime": f"{day}T10:00:00Z"},
                "links": [],
                "assets": {
                    "image": {
                        "href": str(root / path),
                        "proj:epsg": 32633,
                        "proj:shape": shape,
                        "proj:transform": transform,
                        "raster:bands": [{"data_type": "uint16"}] * 2,
                    }
                },
            }
        )
    items = root / "items.json"
    items.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return items


def write_config(root: Path, sheet: Path, *, batch: int, items: Path | None = None) -> Path:
    import yaml

    cfg = {
        "results": "results",  # relative to --directory, as the targets
        "demo": False,
        "scenes": {
            "sheet": "" if items else str(sheet),
            "batch": batch,
            "bands": {
                "red": {"band": 1, "scale": 1e-4, "nodata": 0},
                "nir": {"band": 2, "scale": 1e-4, "nodata": 0},
            },
        },
        "indices": ["NDVI"],
        "scene_indices": True,  # the per-scene index jobs are what batching plans
        "grid": {"crs": CRS, "resolution": 10, "tile_px": 1000, "aoi": {"bounds": list(AREA)}},
        "periods": {"kind": "monthly"},
    }
    cfg["scenes"]["batch"] = batch
    if items:
        cfg["scenes"]["stac"] = {"source": str(items), "raster_bands": False}
        for band in cfg["scenes"]["bands"].values():
            band["asset"] = "image"
    path = root / f"config-batch{batch}{'-stac' if items else ''}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


BARE = """\
N = {n}


rule all:
    input:
        expand("out/{{i}}.txt", i=range(N)),


rule work:
    output:
        "out/{{i}}.txt",
    shell:
        "touch {{output}}"
"""


# the same 2 rules, but each job carries what a rasterflow job carries: an input file,
# log, benchmark, resources that grow with the attempt, params, conda and a script
RICH = """\
N = {n}


rule all:
    input:
        expand("out/{{i}}.txt", i=range(N)),


rule work:
    input:
        "in.txt",
    output:
        "out/{{i}}.txt",
    log:
        "logs/{{i}}.log",
    benchmark:
        "benchmarks/{{i}}.tsv"
    conda:
        "env.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        i=lambda wildcards: wildcards.i,
    script:
        "work.py"
"""


def write_bare(root: Path, jobs: int, *, rich: bool = False) -> Path:
    """A 2-rule Snakefile that plans ``jobs`` jobs (``jobs - 1`` of ``work`` + ``all``)."""
    path = root / f"bare-{'rich-' if rich else ''}{jobs}" / "Snakefile"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((RICH if rich else BARE).format(n=jobs - 1))
    if rich:
        for name, text in (
            ("in.txt", ""),
            ("env.yaml", "dependencies: []\n"),
            ("work.py", "open(snakemake.output[0], 'w').close()\n"),
        ):
            (path.parent / name).write_text(text)
    return path


def core_targets(n: int, batch: int) -> list[str]:
    """The index products and the mosaics: what planning scenes is about, no report."""
    months = sorted({scene_date(i).month for i in range(min(n, 366))})
    targets = [f"results/mosaics/2024-{m:02d}/NDVI.tif" for m in months]
    if batch > 1:
        return targets + [f"results/indices/_batches/b{b:05d}.json" for b in range(-(-n // batch))]
    return targets + [f"results/indices/S{i:06d}/NDVI.tif" for i in range(n)]


def rasterflow_cmd(root: Path, config: Path, targets: list[str]) -> list[str]:
    return [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(root),
        "--configfile",
        str(config),
        "--dry-run",
        *targets,
        "--quiet",
        "rules",
        "--cores",
        "2",
    ]


def bare_cmd(snakefile: Path) -> list[str]:
    return [
        SNAKEMAKE,
        "--snakefile",
        str(snakefile),
        "--directory",
        str(snakefile.parent),
        "--dry-run",
        "--quiet",
        "rules",
        "--cores",
        "2",
    ]


def timed(cmd: list[str]) -> tuple[float, str, float]:
    """Wall time, stdout and CPU time (user + sys) of one run of ``cmd``."""
    elapsed, cpu, proc = h.timed_run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"failed: {' '.join(cmd[:12])} ...\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return elapsed, proc.stdout, cpu


def job_counts(stdout: str) -> dict[str, int]:
    """Rule -> job count from the job stats a dry run prints."""
    table = stdout.split("Job stats:")[1] if "Job stats:" in stdout else ""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def profile(root: Path, config: Path, targets: list[str], out: Path) -> None:
    """cProfile of one rasterflow dry run inside this process (Snakemake's own API)."""
    import cProfile
    import os
    import pstats

    from snakemake.cli import main as snakemake_main

    os.chdir(root)
    prof = cProfile.Profile()
    prof.enable()
    try:
        snakemake_main(rasterflow_cmd(root, config, targets)[1:])
    except SystemExit:
        pass
    prof.disable()
    prof.dump_stats(out)
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(40)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=1, help="scenes.batch (1 = one job per scene)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, help="keep data here (default: a temp dir)")
    ap.add_argument("--profile", type=Path, help="write a cProfile here instead of timing")
    ap.add_argument(
        "--stac",
        action="store_true",
        help="plan from a STAC item collection of the scenes (stated grids) instead of the sheet",
    )
    ap.add_argument(
        "--targets",
        choices=["all", "core"],
        default="all",
        help="all: rule all (with the report); core: index products and mosaics",
    )
    h.add_json_argument(ap)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="planning-bench-") as tmp:
        root = args.workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        sheet = root / "scenes.csv"
        t0 = time.perf_counter()
        if not sheet.exists() or len(sheet.read_text().splitlines()) != args.scenes + 1:
            sheet = make_scenes(root, args.scenes)
        print(f"{args.scenes} scenes ready in {time.perf_counter() - t0:.1f} s under {root}")
        items = make_items(root, sheet) if args.stac else None
        config = write_config(root, sheet, batch=args.batch, items=items)
        targets = core_targets(args.scenes, args.batch) if args.targets == "core" else []
        ours = rasterflow_cmd(root, config, targets)
        if args.profile:
            profile(root, config, targets, args.profile)
            return
        cold, out, _cpu = timed(ours)
        counts = job_counts(out)
        total = counts.pop("total")
        print(
            f"rasterflow plans {total} jobs: {counts}; first run {cold:.2f} s "
            "(headers read unless cached)"
        )
        bares = {"bare": write_bare(root, total), "bare_rich": write_bare(root, total, rich=True)}
        for name, bare in bares.items():
            bare_jobs = job_counts(timed(bare_cmd(bare))[1]).get("total")
            if bare_jobs != total:
                raise SystemExit(f"{name} Snakefile planned {bare_jobs} jobs, not {total}")
        variants = [
            h.Variant(name, command=cmd, options={"text": True})
            for name, cmd in (("rasterflow", ours), *((k, bare_cmd(b)) for k, b in bares.items()))
        ]
        result = h.measure(
            f"{args.scenes} scenes, batch {args.batch}, {total} jobs: later dry runs "
            f"(the plan cached), median of {args.runs}",
            variants,
            rounds=args.runs,
            reference="bare",
            also=["bare_rich"],
        )
        result.notes.update(jobs=total, first_run_s=cold, job_counts=counts)
        med = {k: result.median(k) for k in result.names}
        mcpu = {k: result.median(k, "cpu") for k in result.names}
        print(
            "\n| scenes | batch | jobs | rasterflow s | bare Snakemake s | ratio "
            "| bare, rich jobs s | ratio |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {args.scenes} | {args.batch} | {total} | {med['rasterflow']:.2f} | "
            f"{med['bare']:.2f} | {med['rasterflow'] / med['bare']:.2f} | "
            f"{med['bare_rich']:.2f} | {med['rasterflow'] / med['bare_rich']:.2f} |"
        )
        print(
            f"CPU s (user+sys, median): rasterflow {mcpu['rasterflow']:.2f}, "
            f"bare {mcpu['bare']:.2f} (ratio {mcpu['rasterflow'] / mcpu['bare']:.2f}), "
            f"bare rich {mcpu['bare_rich']:.2f} "
            f"(ratio {mcpu['rasterflow'] / mcpu['bare_rich']:.2f})"
        )
        print(f"\n{result.report()}")
        h.write_json(args.json, [result], args=args)


if __name__ == "__main__":
    main()
