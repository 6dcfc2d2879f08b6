"""Snakemake adapter: the long table of every point's values, from the jobs' parts."""

from rasterflow import points
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        rows = points.write_table(
            points_file=smk.input.points,
            layer=smk.params.layer,
            id_column=smk.params.id_column,
            parts=list(smk.input.parts),
            outputs=dict(zip(smk.params.formats, smk.output, strict=True)),
            params={"method": smk.params.method, "window": smk.params.window,
                    "outside": smk.params.outside},
        )
        log.info("long table of %d rows written to %s", rows, ", ".join(smk.output))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
