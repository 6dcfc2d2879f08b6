"""Snakemake adapter: the series of a few points, from the long points table."""

from rasterflow import report
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        report.plot_point_series(
            smk.input[0], smk.output[0], id_column=smk.params.id_column, periods=smk.params.periods
        )
        log.info("series of a few points written to %s", smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
