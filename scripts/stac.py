"""Snakemake adapter: a static STAC catalog with one item per raster product."""

from rasterflow import stac
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        products = [stac.Product.from_params(p) for p in smk.params.products]
        tables = [stac.Product.from_params(p) for p in smk.params.get("tables", [])]
        catalog = stac.write_catalog(products, smk.output[0], tables=tables,
                                     description="Raster products of one rasterflow run")
        log.info("STAC catalog of %d items written to %s", len(products) + len(tables),
                 catalog)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
