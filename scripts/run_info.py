"""Snakemake adapter: the config the run used and the software versions, as a page."""

from rasterflow import report
from rasterflow.logs import log_to
from rasterflow.versions import software_versions


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        versions = software_versions(report.SOFTWARE)
        report.run_info_page(
            smk.output[0],
            config=smk.params.config,
            versions=versions,
            configfiles=smk.params.configfiles,
        )
        log.info("run info written to %s", smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
