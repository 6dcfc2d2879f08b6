"""Snakemake adapter: a static STAC catalog, one collection per product kind."""

from rasterflow import stac
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        products = [stac.Product.from_params(p) for p in smk.params.products]
        catalog = stac.write_catalog(products, smk.output[0],
                                     description="Raster products of one rasterflow run",
                                     license=smk.params.license,
                                     license_href=smk.params.license_href)
        log.info("STAC catalog of %d rasters in %d collections written to %s",
                 len(products), len({p.kind for p in products}), catalog)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
