"""Snakemake adapter: per-zone time series of the composites' zonal statistics."""

import pandas as pd

from rasterflow import report
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        long = pd.read_parquet(smk.input[0])
        choices = report.plot_time_series(
            long,
            smk.output[0],
            id_column=smk.params.id_column,
            period_order=smk.params.periods,
            zones=smk.params.zones,
            max_zones=smk.params.max_zones,
        )
        for product, choice in choices.items():
            log.info("%s: %s", product, choice.describe())
        log.info("time series of %d rows written to %s", len(long), smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
