"""Snakemake adapter: a static STAC catalog, one collection per product kind."""

from rasterflow import stac
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        products = [stac.Product.from_params(p) for p in smk.params.products]
        tables = [stac.Product.from_params(p) for p in smk.params.get("tables", [])]
        catalog = stac.write_catalog(
            products,
            smk.output[0],
            tables=tables,
            description="Raster products of one rasterflow run",
            license=smk.params.license,
            license_href=smk.params.license_href,
        )
        log.info(
            "STAC catalog of %d rasters and %d tables in %d collections written to %s",
            len(products),
            len(tables),
            len({p.kind for p in [*products, *tables]}),
            catalog,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
