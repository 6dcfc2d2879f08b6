"""Hold ``params.hog_mb`` MB of touched memory for a while, then record the allocation."""

import json
import os
import time
from pathlib import Path


def main(smk) -> None:
    block = bytearray(smk.params.hog_mb * 2**20)
    for i in range(0, len(block), 4096):  # touch every page: resident, not just reserved
        block[i] = 1
    time.sleep(4)  # SLURM samples memory every second (JobAcctGatherFrequency=task=1)
    Path(smk.log[0]).write_text(f"held {smk.params.hog_mb} MB\n")
    Path(smk.output[0]).write_text(
        json.dumps(
            {
                "mem_mb": smk.resources.mem_mb,
                "slurm_job": os.environ.get("SLURM_JOB_ID"),
                # not set inside the plugin's srun step (Slurm 22.05): docs/slurm.md
                "slurm_mem_per_node": os.environ.get("SLURM_MEM_PER_NODE"),
            }
        )
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
