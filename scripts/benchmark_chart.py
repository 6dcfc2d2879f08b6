"""Snakemake adapter: wall time and peak memory of every job, from the benchmark TSVs,
as a chart and in the run's summary page (one job: both read the same files)."""

from rasterflow import report
from rasterflow.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]) as log:
        jobs = report.read_benchmarks(smk.params.benchmarks)
        report.plot_benchmarks(jobs, smk.output.chart)
        results = smk.params.summary["results"]
        products = report.group_products(smk.params.summary["products"], results=results)
        report.run_summary_page(smk.output.summary, jobs=jobs, products=products, results=results)
        log.info(
            "benchmark chart and summary of %d jobs written to %s and %s",
            len(jobs),
            smk.output.chart,
            smk.output.summary,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
