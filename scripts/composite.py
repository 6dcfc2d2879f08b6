"""Snakemake adapter: one temporal composite of one index on one target-grid tile."""

from rasterflow import composite
from rasterflow.cluster import dask_client, dask_report_path
from rasterflow.logs import log_to


def main(smk) -> None:
    with (
        log_to(smk.log[0]),
        dask_client(
            threads=smk.threads,
            mem_mb=smk.resources.mem_mb,
            settings=smk.config["dask"],
            report=dask_report_path(smk.log[0]),
        ),
    ):
        composite.run(
            inputs=list(smk.input),
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
    main(snakemake)  # noqa: F821 (injected by Snakemake)
