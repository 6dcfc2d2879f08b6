"""Snakemake adapter: contour lines of one raster (the DEM or a terrain product)."""

from rasterflow import contours
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        contours.run(
            raster=smk.input.raster,
            outputs=dict(zip(smk.params.formats, smk.output, strict=True)),
            params=contours.ContourParams(**smk.params.options),
            chunk=smk.params.chunk,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
