"""Snakemake adapter: one spectral index of one scene."""

from rasterflow import indices
from rasterflow.scenes import Scene
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        indices.run(
            scene=Scene.from_params(smk.params.scene),
            expr=indices.parse(smk.wildcards.index, smk.params.expression),
            output=smk.output[0],
            chunk=smk.params.chunk,
            resampling=smk.params.resampling,
            threads=smk.threads,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
