"""Snakemake adapter: every spectral index of a batch of scenes (scenes.batch > 1)."""

from rasterflow import indices
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        indices.run_batch(
            scenes=smk.params.scenes,
            expressions=smk.params.expressions,
            outputs=smk.params.outputs,
            manifest=smk.output[0],
            chunk=smk.params.chunk,
            resampling=smk.params.resampling,
            threads=smk.threads,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
