"""Snakemake adapter: quicklook PNGs of raster products and contour lines, and the
report's map pages (one each per input)."""

from rasterflow import quicklook
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        drawings = [
            quicklook.Drawing(*fields)
            for fields in zip(
                smk.params.rasters,
                smk.output.pngs,
                smk.output.pages,
                smk.params.products,
                smk.params.titles,
                smk.params.bands,
                strict=True,
            )
        ]
        for d in quicklook.draw_all(drawings, processes=smk.threads):
            log.info("quicklook of %s written to %s and %s", d.raster, d.png, d.page)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
