"""Snakemake adapter: every spectral index of one scene, each band decoded once."""

from rasterflow import indices
from rasterflow.scenes import Scene
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        indices.run_all(
            scene=Scene.from_params(smk.params.scene),
            exprs=[indices.parse(n, text) for n, text in smk.params.expressions.items()],
            outputs=list(smk.output),
            chunk=smk.params.chunk,
            resampling=smk.params.resampling,
            threads=smk.threads,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
