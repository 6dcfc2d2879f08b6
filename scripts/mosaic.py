"""Snakemake adapter: VRT and COG mosaics of one index (and its count) for one period."""

from rasterflow import mosaic
from rasterflow.cluster import dask_client, dask_report_path
from rasterflow.logs import log_to


def main(smk) -> None:
    tags = {"PERIOD": smk.wildcards.period, "INDEX": smk.wildcards.index}
    with (
        log_to(smk.log[0]),
        dask_client(
            threads=smk.threads,
            mem_mb=smk.resources.mem_mb,
            settings=smk.config["dask"],
            report=dask_report_path(smk.log[0]),
        ),
    ):
        for inputs, vrt, cog in (
            (smk.input.stat, smk.output.vrt, smk.output.cog),
            (smk.input.counts, smk.output.counts_vrt, smk.output.counts_cog),
        ):
            mosaic.run(inputs=list(inputs), vrt=vrt, cog=cog, geobox=smk.params.grid,
                       chunk=smk.params.chunk, threads=smk.threads, tags=tags)


if __name__ == "__main__":  # Dask worker processes re-import this module
    main(snakemake)  # noqa: F821 (injected by Snakemake)
