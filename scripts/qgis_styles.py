"""Snakemake adapter: a QGIS style (.qml) beside each raster product."""

from rasterflow import qgis
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        for raster, product in zip(smk.params.rasters, smk.params.products, strict=True):
            log.info("style of %s written to %s", raster, qgis.write_style(raster, product=product))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
