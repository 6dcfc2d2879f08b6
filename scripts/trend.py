"""Snakemake adapter: per-pixel trend of each index over the periods' mosaics."""

from rasterflow import trend
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        trend.run(
            mosaics=smk.params.mosaics,
            periods=smk.params.periods,
            times=smk.params.times,
            outputs=dict(zip(smk.params.mosaics, smk.output, strict=True)),
            min_periods=smk.params.min_periods,
            chunk=smk.params.chunk,
            threads=smk.threads,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
