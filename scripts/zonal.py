"""Snakemake adapter: zonal statistics of one product (and period) over the zones."""

from rasterflow import zonal
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    p = smk.params
    with heavy_step(smk):
        zonal.run(
            raster=smk.input.raster,
            zones=smk.input.zones,
            layer=p.layer,
            id_column=p.id_column,
            outputs=dict(zip(p.formats, smk.output, strict=True)),
            stats=p.stats,
            percentiles=p.percentiles,
            rule=p.rule,
            categorical=p.categorical,
            batch_size=p.batch_size,
        )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
