"""Snakemake adapter: one HTML page per zonal table, for the report."""

from rasterflow import report
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        for table, page, title in zip(smk.input, smk.output, smk.params.titles, strict=True):
            report.zonal_table_page(table, page, title=title)
        log.info("%d zonal table pages written", len(smk.output))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
