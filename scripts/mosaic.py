"""Snakemake adapter: VRT and COG mosaics of every index (and its count) of one period."""

from rasterflow import mosaic
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    out = smk.output
    with heavy_step(smk):
        for i, (index, (stat, counts)) in enumerate(smk.params.tiles.items()):
            tags = {"PERIOD": smk.wildcards.period, "INDEX": index}
            for inputs, vrt, cog in (
                (stat, out.vrt[i], out.cog[i]),
                (counts, out.counts_vrt[i], out.counts_cog[i]),
            ):
                mosaic.run(
                    inputs=list(inputs),
                    vrt=vrt,
                    cog=cog,
                    geobox=smk.params.grid,
                    chunk=smk.params.chunk,
                    threads=smk.threads,
                    tags=tags,
                )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
