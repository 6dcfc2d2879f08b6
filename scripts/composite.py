"""Snakemake adapter: the temporal composites of every index on one tile and period."""

from rasterflow import composite
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        for (index, sources), stat, counts in zip(
            smk.params.sources.items(), smk.output.stat, smk.output.counts, strict=True
        ):
            composite.run(
                inputs=sources,
                tile=smk.params.tile,
                output=stat,
                count_output=counts,
                statistic=smk.params.statistic,
                resampling=smk.params.resampling,
                chunk=smk.params.chunk,
                threads=smk.threads,
                tags={"TILE": smk.wildcards.tile, "PERIOD": smk.wildcards.period,
                      "INDEX": index},
            )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
