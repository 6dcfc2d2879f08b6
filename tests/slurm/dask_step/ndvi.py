"""NDVI of a 4-band (red, green, blue, nir) scene, and where the Dask workers ran."""

import datetime as dt
import json
import os
from pathlib import Path

from rasterflow import indices
from rasterflow.cluster import dask_client
from rasterflow.logs import log_to
from rasterflow.scenes import BandFile, Scene


def _where(dask_worker) -> dict:
    return {
        "node": os.environ.get("SLURMD_NODENAME"),
        "job": os.environ.get("SLURM_JOB_ID"),
        "lifetime": dask_worker.lifetime,
        "walltime_s": _walltime_s(os.environ.get("SLURM_JOB_ID")),
    }


def _walltime_s(job):
    """The worker job's time limit as SLURM has it (scontrol), in seconds."""
    import subprocess

    if not job:
        return None
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", job], capture_output=True, text=True, check=False
    ).stdout
    limit = dict(f.split("=", 1) for f in out.split() if "=" in f).get("TimeLimit", "")
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


def main(smk) -> None:
    with (
        log_to(smk.log[0]),
        dask_client(
            threads=smk.threads, mem_mb=smk.resources.mem_mb, settings=smk.config["dask"]
        ) as client,
    ):
        # a one-thread local step has no cluster (Dask's synchronous scheduler): no Client
        workers = client.run(_where) if client is not None else {}
        info = {
            "scheduler": client.scheduler.address if client is not None else None,
            "workers": workers,
            "step_node": os.environ.get("SLURMD_NODENAME"),
        }
        path = smk.input[0]
        scene = Scene(
            id="rgbn",
            date=dt.date(2020, 1, 1),
            bands={"red": BandFile(path, band=1), "nir": BandFile(path, band=4)},
        )
        indices.run(
            scene=scene,
            expr=indices.parse("NDVI", "(nir - red) / (nir + red)"),
            output=smk.output.tif,
            chunk=256,
            threads=smk.threads,
        )
    Path(smk.output.workers).write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
