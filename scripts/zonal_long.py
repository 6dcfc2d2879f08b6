"""Snakemake adapter: one long table (zone, product, period, statistics) for time series."""

from rasterflow import zonal
from rasterflow.atomic import atomic_output
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        tables = {tuple(t): path for t, path in zip(smk.params.targets, smk.input, strict=True)}
        table = zonal.long_table(tables, id_column=smk.params.id_column)
        with atomic_output(smk.output.parquet) as tmp:
            table.to_parquet(tmp, index=False)
        with atomic_output(smk.output.csv) as tmp:
            table.to_csv(tmp, index=False)
        log.info("long table: %d rows from %d tables", len(table), len(tables))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
