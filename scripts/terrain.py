"""Snakemake adapter: terrain products of the DEM."""

from rasterflow import terrain
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    with heavy_step(smk):
        terrain.run(
            dem=smk.input.dem,
            outputs=dict(zip(smk.params.products, smk.output, strict=True)),
            params=terrain.TerrainParams(**smk.params.options),
            chunk=smk.params.chunk,
            threads=smk.threads,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
