"""Bytes one windowed composite job reads over HTTP: scenes as COGs behind a real nginx,
found through a STAC item collection (issue #18's closing figure).

Data: the end-to-end benchmark's synthetic Sentinel-2 L2A scenes (``e2e_bench.make_data``:
``--scenes`` scenes of ``--size``² 10 m pixels, B04 and B08 at 10 m, B12 and SCL at 20 m,
uint16 DEFLATE COGs in 512 px blocks, two overlapping footprints, June and July 2024)
served by nginx (Debian's, started here on loopback with tests/servers.py, which logs
every request's Range header and bytes sent). The items (one per scene, one asset per
band, ``proj:*`` and ``raster:bands`` stated as Element 84's and CSC's catalogs state
them) are a local item collection whose hrefs are the server's URLs; the config is the
end-to-end one (NDVI and NBR, monthly median, SCL mask) with ``--tile-px`` tiles.

Then, in a fresh folder: ``snakemake -n`` (planning: it must send no request, since the
items state every header), then the composite job of one tile and month
(``--tile``, default the first tile whose window all of the month's scenes cover), as a
user's ``snakemake <that composite>`` runs it. From the access log, per asset: requests
and bytes sent, against

* ``needed``: the header (the file's bytes before its first image block: IFDs and
  COG ghost area) plus the compressed bytes of the full-resolution blocks the job's
  window touches (one pixel of margin for bilinear), from GDAL's BLOCK_OFFSET/SIZE;
* ``file``: the whole file, what a download (or a stage-in) would move.

Last, the same job from the same files on disk (an item collection of paths): its
products' pixels must equal the served run's.

Run: ``.venv/bin/python benchmarks/remote_bench.py [--size 2048] [--scenes 4]
[--tile-px 512] [--workdir DIR] [--json FILE]``; smoke size: ``--size 512 --tile-px 256``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import _harness as h  # benchmarks/_harness.py: benchmarks/ is sys.path[0]
import e2e_bench as e2e
import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the tests' nginx fixture, not a copy of it
from servers import nginx  # noqa: E402

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
ASSETS = {"red": "B04", "nir": "B08", "swir2": "B12", "scl": "SCL"}  # role -> asset key


def write_items(path: Path, base: str, layout: list[dict], data: Path) -> None:
    """An item collection of the scenes, hrefs under ``base`` (a URL or a folder)."""
    import rasterio
    from pyproj import Transformer

    features = []
    for sc, files in zip(layout, e2e.scene_files(data, layout), strict=True):
        assets = {}
        for role, key in ASSETS.items():
            local = Path(files["files"][role])
            with rasterio.open(local) as src:
                assets[key] = {
                    "href": f"{base}/{local.relative_to(data).as_posix()}",
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "proj:epsg": src.crs.to_epsg(),
                    "proj:shape": [src.height, src.width],
                    "proj:transform": list(src.transform)[:6],
                    "raster:bands": [{"data_type": src.dtypes[0], "nodata": 0}],
                }
                left, bottom, right, top = src.bounds
        to_lonlat = Transformer.from_crs(e2e.CRS, "EPSG:4326", always_xy=True)
        (x0, x1), (y0, y1) = to_lonlat.transform([left, right], [bottom, top])
        features.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "stac_extensions": [],
                "id": sc["scene_id"],
                "bbox": [x0, y0, x1, y1],
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
                },
                "properties": {"datetime": f"{sc['date']}T10:00:31Z"},
                "assets": assets,
                "links": [],
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def stac_scenes(items: Path) -> dict:
    """The e2e config's ``scenes`` section, the bands by asset key from ``items``."""
    bands = {
        role: {"asset": ASSETS[role], "scale": e2e.SCALE, "offset": e2e.OFFSET, "nodata": 0}
        for role in ("red", "nir", "swir2")
    }
    return {
        "stac": {"source": str(items)},
        "bands": bands,
        "mask": {"asset": "SCL", "valid": e2e.VALID},
    }


def tile_bounds(grid: dict, tile: tuple[int, int], tile_px: int) -> tuple[float, ...]:
    left, top = grid["bounds"][0], grid["bounds"][3]
    span = tile_px * grid["res"]
    x0 = left + tile[0] * span
    y1 = top - tile[1] * span
    return (x0, max(y1 - span, grid["bounds"][1]), min(x0 + span, grid["bounds"][2]), y1)


def first_covered_tile(grid: dict, layout: list[dict], size: int, tile_px: int) -> tuple[int, int]:
    """The first tile (row by row) inside the footprints of every scene of June."""
    june = [sc for sc in layout if sc["date"].startswith("2024-06")]
    nx = math.ceil(grid["width"] / tile_px)
    ny = math.ceil(grid["height"] / tile_px)
    for ty in range(ny):
        for tx in range(nx):
            x0, y0, x1, y1 = tile_bounds(grid, (tx, ty), tile_px)
            if all(
                sc["left"] <= x0
                and x1 <= sc["left"] + size * 10
                and y1 <= sc["top"]
                and sc["top"] - size * 10 <= y0
                for sc in june
            ):
                return tx, ty
    raise SystemExit("no tile lies inside every June scene: use a smaller --tile-px")


def needed_bytes(path: Path, bounds: tuple[float, ...]) -> tuple[int, int, int]:
    """(header bytes, bytes of the blocks ``bounds`` touches plus a pixel, file size)."""
    import rasterio
    from rasterio.windows import from_bounds

    with rasterio.open(path) as src:
        win = from_bounds(*bounds, transform=src.transform)
        bw, bh = src.block_shapes[0][1], src.block_shapes[0][0]
        c0 = max(0, math.floor(win.col_off) - 1)
        r0 = max(0, math.floor(win.row_off) - 1)
        c1 = min(src.width, math.ceil(win.col_off + win.width) + 1)
        r1 = min(src.height, math.ceil(win.row_off + win.height) + 1)
        blocks = 0
        first = path.stat().st_size
        for by in range(math.ceil(src.height / bh)):
            for bx in range(math.ceil(src.width / bw)):
                offset = int(src.get_tag_item(f"BLOCK_OFFSET_{bx}_{by}", "TIFF", bidx=1) or 0)
                size = int(src.get_tag_item(f"BLOCK_SIZE_{bx}_{by}", "TIFF", bidx=1) or 0)
                if offset:
                    first = min(first, offset)
                if bx * bw < c1 and c0 < (bx + 1) * bw and by * bh < r1 and r0 < (by + 1) * bh:
                    blocks += size
        for level in range(len(src.overviews(1))):  # overview blocks: before the image
            offset = src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1, ovr=level)
            if offset:
                first = min(first, int(offset))
    return first, blocks, path.stat().st_size


def snakemake(ws: Path, config: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(ws)]
        + ["--configfile", str(config), "--cores", "2", *args],
        capture_output=True,
        text=True,
        cwd=ws,
    )
    if proc.returncode:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - t0, proc.stdout + proc.stderr


def products(ws: Path, month: str, tile: str) -> dict[str, np.ndarray]:
    import rasterio

    out = {}
    for path in sorted((ws / "results" / "composites" / month).glob(f"*/{tile}*.tif")):
        with rasterio.open(path) as src:
            out[str(path.relative_to(ws))] = src.read()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--tile-px", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, help="keep data and runs here (default: a temp dir)")
    h.add_json_argument(ap)
    args = ap.parse_args(argv)

    root = args.workdir or Path(tempfile.mkdtemp(prefix="remote-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    www = root / "www"
    if not (www / "scenes.csv").exists():
        print(f"making {args.scenes} scenes of {args.size}² in {www} ...", flush=True)
        e2e.make_data(www, size=args.size, scenes=args.scenes, seed=args.seed)
    layout = e2e.scene_layout(args.size, args.scenes)
    grid = e2e.target_grid(args.size, args.scenes)
    tx, ty = first_covered_tile(grid, layout, args.size, args.tile_px)
    tile, month = f"x{tx:03d}_y{ty:03d}", "2024-06"
    bounds = tile_bounds(grid, (tx, ty), args.tile_px)
    target = f"results/composites/{month}/{next(iter(e2e.INDICES))}/{tile}.tif"

    runs = {}
    with nginx(www, root / "nginx") as server:
        for kind, base in (("http", server.url), ("disk", str(www))):
            ws = root / f"ws-{kind}"
            shutil.rmtree(ws, ignore_errors=True)
            ws.mkdir()
            items = ws / "items.json"
            write_items(items, base, layout, www)
            config = ws / "config.yaml"
            e2e.write_config(config, stac_scenes(items), grid, tile_px=args.tile_px)
            before = len(server.requests())
            plan_s, _ = snakemake(ws, config, "-n", target)
            planned = len(server.requests())
            job_s, _ = snakemake(ws, config, target)
            log = server.requests()
            runs[kind] = {
                "plan_s": plan_s,
                "job_s": job_s,
                "plan_requests": planned - before,
                "job_log": log[planned:],
                "products": products(ws, month, tile),
            }

    http, disk = runs["http"], runs["disk"]
    if disk["job_log"]:
        raise SystemExit(f"the run from disk sent {len(disk['job_log'])} requests")
    same = sorted(http["products"]) == sorted(disk["products"]) and all(
        np.array_equal(http["products"][k], disk["products"][k], equal_nan=True)
        for k in http["products"]
    )
    per_asset: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "sent": 0})
    for method, path, status, _rng, sent in http["job_log"]:
        if method == "GET" and status in (200, 206):
            per_asset[path]["requests"] += 1
            per_asset[path]["sent"] += sent
        elif status not in (200, 206):
            per_asset[path]["requests"] += 1
    rows, total = [], defaultdict(int)
    whole = [s for s in http["job_log"] if s[0] == "GET" and s[2] == 200]
    for path in sorted(per_asset):
        header, blocks, size = needed_bytes(www / path.lstrip("/"), bounds)
        got = per_asset[path]
        rows.append(
            [
                path.rsplit("/", 1)[-1],
                got["requests"],
                f"{got['sent'] / 1e3:.1f}",
                f"{(header + blocks) / 1e3:.1f}",
                f"{size / 1e3:.1f}",
                f"{got['sent'] / (header + blocks):.2f}",
                f"{got['sent'] / size:.3f}",
            ]
        )
        for key, value in (("requests", got["requests"]), ("sent", got["sent"])):
            total[key] += value
        total["needed"] += header + blocks
        total["file"] += size
    rows.append(
        [
            "all",
            total["requests"],
            f"{total['sent'] / 1e3:.1f}",
            f"{total['needed'] / 1e3:.1f}",
            f"{total['file'] / 1e3:.1f}",
            f"{total['sent'] / max(total['needed'], 1):.2f}",
            f"{total['sent'] / max(total['file'], 1):.3f}",
        ]
    )
    print(
        f"\ncomposite job {target} ({args.tile_px}² of a {grid['width']} x {grid['height']} "
        f"grid; {len(per_asset)} assets of {args.size}² scenes), over HTTP from nginx:"
    )
    print(
        h.markdown_table(
            ["asset", "requests", "kB sent", "kB needed", "kB file", "sent/needed", "sent/file"],
            rows,
        )
    )
    print(
        f"\nplanning sent {http['plan_requests']} requests ({http['plan_s']:.1f} s); "
        f"whole-file answers (200): {len(whole)}; job {http['job_s']:.1f} s over HTTP, "
        f"{disk['job_s']:.1f} s from disk; products equal to the run from disk: {same}"
    )
    if not same or not per_asset:
        raise SystemExit("the served run's products differ from the run from disk")
    h.write_json(
        args.json,
        [],
        args=args,
        extra={
            "size": args.size,
            "scenes": args.scenes,
            "tile_px": args.tile_px,
            "target": target,
            "assets": len(per_asset),
            "requests": total["requests"],
            "bytes_sent": total["sent"],
            "bytes_needed": total["needed"],
            "bytes_files": total["file"],
            "plan_requests": http["plan_requests"],
            "whole_file_answers": len(whole),
            "job_s_http": http["job_s"],
            "job_s_disk": disk["job_s"],
            "same_products": same,
        },
    )


if __name__ == "__main__":
    main()
