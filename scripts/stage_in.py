"""Snakemake adapter: copy one remote scene file to the local folder the jobs read."""

from rasterflow.logs import log_to
from rasterflow.remote import download


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        download(smk.params.url, smk.output[0])
        log.info("copied %s to %s", smk.params.url, smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
