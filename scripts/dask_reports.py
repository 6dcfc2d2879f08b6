"""Snakemake adapter: the heavy jobs' Dask performance reports, gathered for the report."""

from rasterflow.dask_reports import collect_dask_reports
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        folder = collect_dask_reports(smk.params.logs, smk.output[0], page=smk.output[1])
        pages = len(list(folder.glob("*.html")))
        log.info(
            "%d Dask reports copied to %s (BokehJS shared there) and drawn on one page, %s",
            pages,
            folder,
            smk.output[1],
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
