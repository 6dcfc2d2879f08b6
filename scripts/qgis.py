"""Snakemake adapter: a QGIS style (.qml) beside each raster product, then the QGIS
project of the run (its raster layers carry those styles)."""

from rasterflow import qgis
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        for raster, product in zip(smk.params.rasters, smk.params.products, strict=True):
            log.info("style of %s written to %s", raster, qgis.write_style(raster, product=product))
        layers = [qgis.ProjectLayer(**layer) for layer in smk.params.layers]
        project = qgis.write_project(smk.output.project, layers, title="rasterflow results")
        log.info("QGIS project of %d layers written to %s", len(layers), project)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
