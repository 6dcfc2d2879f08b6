"""Snakemake adapter: every index of a batch of scenes at the points."""

from rasterflow import points
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        points.run_scenes(
            points_file=smk.input.points,
            layer=smk.params.layer,
            id_column=smk.params.id_column,
            scenes=smk.params.scenes,
            expressions=smk.params.expressions,
            output=smk.output[0],
            method=smk.params.method,
            window=smk.params.window,
            outside=smk.params.outside,
            resampling=smk.params.resampling,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
