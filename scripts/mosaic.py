"""Snakemake adapter: VRT and COG mosaics of one index (and its count) for one period."""

from rasterflow import mosaic
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    tags = {"PERIOD": smk.wildcards.period, "INDEX": smk.wildcards.index}
    with heavy_step(smk):
        for inputs, vrt, cog in (
            (smk.input.stat, smk.output.vrt, smk.output.cog),
            (smk.input.counts, smk.output.counts_vrt, smk.output.counts_cog),
        ):
            mosaic.run(inputs=list(inputs), vrt=vrt, cog=cog, geobox=smk.params.grid,
                       chunk=smk.params.chunk, threads=smk.threads, tags=tags)


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
