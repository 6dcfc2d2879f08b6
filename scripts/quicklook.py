"""Snakemake adapter: quicklook PNGs of raster products and contour lines (one per input)."""

from rasterflow import quicklook
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        for raster, png, product, title, band in zip(smk.input, smk.output,
                                                     smk.params.products, smk.params.titles,
                                                     smk.params.bands, strict=True):
            if raster.endswith((".gpkg", ".parquet")):  # contour lines
                quicklook.render_lines(raster, png, title=title)
            else:
                quicklook.render(raster, png, product=product, title=title, band=band)
            log.info("quicklook of %s written to %s", raster, png)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
