"""Snakemake adapter: one temporal composite of one index on one target-grid tile."""

from rasterflow import composite
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        composite.run(
            inputs=smk.params.sources,
            tile=smk.params.tile,
            output=smk.output.stat,
            count_output=smk.output.counts,
            statistic=smk.params.statistic,
            resampling=smk.params.resampling,
            chunk=smk.params.chunk,
            threads=smk.threads,
            tags={"TILE": smk.wildcards.tile, "PERIOD": smk.wildcards.period,
                  "INDEX": smk.wildcards.index},
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
