"""Snakemake adapter: the temporal composites of every index on one tile and period."""

from rasterflow import composite
from rasterflow.step import heavy_step, run_step


def main(smk) -> None:
    p = smk.params
    common = {
        "tile": p.tile,
        "statistic": p.statistic,
        "resampling": p.resampling,
        "chunk": p.chunk,
        "threads": smk.threads,
    }
    tags = {"TILE": smk.wildcards.tile, "PERIOD": smk.wildcards.period}
    with heavy_step(smk):
        if p.scenes is not None:  # from the bands, every index (and composite.bands) in one pass
            bands = (
                {
                    "bands": p.bands,
                    "band_output": smk.output.bands[0],
                    "band_count_output": smk.output.band_counts[0],
                }
                if p.bands
                else {}
            )
            composite.run_scenes(
                scenes=p.scenes,
                expressions=p.expressions,
                outputs=list(smk.output.stat),
                count_outputs=list(smk.output.counts),
                scene_resampling=p.scene_resampling,
                tags=tags,
                **bands,
                **common,
            )
            return
        for (index, sources), stat, counts in zip(
            p.sources.items(), smk.output.stat, smk.output.counts, strict=True
        ):
            composite.run(
                inputs=sources,
                output=stat,
                count_output=counts,
                tags={**tags, "INDEX": index},
                **common,
            )


if __name__ == "__main__":  # Dask worker processes re-import this module
    run_step(main, snakemake)  # noqa: F821 (injected by Snakemake)
