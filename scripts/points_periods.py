"""Snakemake adapter: a period's mosaics at the points."""

from rasterflow import points
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        points.run_rasters(
            points_file=smk.input.points,
            layer=smk.params.layer,
            id_column=smk.params.id_column,
            rasters=smk.params.rasters,
            kind="period",
            source=smk.wildcards.period,
            date=smk.params.date,
            output=smk.output[0],
            method=smk.params.method,
            window=smk.params.window,
            outside=smk.params.outside,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
