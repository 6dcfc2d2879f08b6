"""Snakemake adapter: the long table of every point's values, from the jobs' parts."""

from rasterflow import points
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    # a heavy step like the others (log, benchmark, Dask report), though Arrow does
    # the work: the table of 1,000 scenes holds hundreds of millions of rows
    with heavy_step(smk):
        points.write_table(
            points_file=smk.input.points,
            layer=smk.params.layer,
            id_column=smk.params.id_column,
            parts=list(smk.input.parts),
            outputs=dict(zip(smk.params.formats, smk.output, strict=True)),
            params={
                "method": smk.params.method,
                "window": smk.params.window,
                "outside": smk.params.outside,
            },
        )


if __name__ == "__main__":
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
