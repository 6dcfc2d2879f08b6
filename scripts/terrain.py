"""Snakemake adapter: terrain products of the DEM."""

from rasterflow import terrain
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
        terrain.run(
            dem=smk.input.dem,
            outputs=dict(zip(smk.params.products, smk.output, strict=True)),
            params=terrain.TerrainParams(**smk.params.options),
            chunk=smk.params.chunk,
            threads=smk.threads,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    main(snakemake)  # noqa: F821 (injected by Snakemake)
