"""Snakemake adapter: one spectral index of one scene."""

from rasterflow import indices
from rasterflow.cluster import dask_client, dask_report_path
from rasterflow.logs import log_to
from rasterflow.scenes import Scene


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
        indices.run(
            scene=Scene.from_params(smk.params.scene),
            expr=indices.parse(smk.wildcards.index, smk.params.expression),
            output=smk.output[0],
            chunk=smk.params.chunk,
            resampling=smk.params.resampling,
            threads=smk.threads,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    main(snakemake)  # noqa: F821 (injected by Snakemake)
