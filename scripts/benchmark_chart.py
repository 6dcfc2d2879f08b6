"""Snakemake adapter: wall time and peak memory of every job, from the benchmark TSVs."""

from rasterflow import report
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        jobs = report.read_benchmarks(smk.params.benchmarks)
        report.plot_benchmarks(jobs, smk.output[0])
        log.info("benchmark chart of %d jobs written to %s", len(jobs), smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
