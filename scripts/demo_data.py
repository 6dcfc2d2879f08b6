"""Snakemake adapter: write the synthetic demo dataset."""

from pathlib import Path

from rasterflow import demo
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        root = Path(smk.output[0]).parent  # scenes.csv is at the demo root
        written = demo.generate(root)
        log.info("demo data: %d files under %s", len(written), root)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
