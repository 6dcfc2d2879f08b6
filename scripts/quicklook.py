"""Snakemake adapter: quicklook PNGs of raster products and contour lines, and the
report's map pages (one each per input)."""

from rasterflow import quicklook
from rasterflow.logs import log_to
from rasterflow.workflow import BANDS


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        for raster, png, page, product, title, band in zip(
            smk.params.rasters,
            smk.output.pngs,
            smk.output.pages,
            smk.params.products,
            smk.params.titles,
            smk.params.bands,
            strict=True,
        ):
            if raster.endswith((".gpkg", ".parquet")):  # contour lines
                quicklook.render_lines(raster, png, title=title)
            elif product == BANDS:  # composite.bands: a colour composite
                quicklook.render_rgb(raster, png, title=title)
            else:
                quicklook.render(raster, png, product=product, title=title, band=band)
            quicklook.map_page(png, page, title=title)
            log.info("quicklook of %s written to %s and %s", raster, png, page)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
