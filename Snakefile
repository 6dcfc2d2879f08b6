# rasterflow: geospatial raster analysis from a laptop to a SLURM cluster.
# Stages live in rules/*.smk, logic in src/rasterflow, adapters in scripts/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"


# The software of every job: the Apptainer image of container/rasterflow.def, used only
# with --software-deployment-method apptainer (README, "On a cluster"). No conda
# environment: conda-forge is out of reach where rasterflow is tested, and an untested
# environment file is a promise nobody checked.
container: config["container"]


# Light rules run where Snakemake runs: a SLURM job for each would cost more than the work.


localrules:
    all,
    zonal_long,
    quicklooks,
    zonal_timeseries,
    points_timeseries,
    zonal_tables,
    benchmark_chart,
    dask_reports,
    run_info,
    stac,
    qgis,


include: "rules/demo.smk"
include: "rules/stage.smk"
include: "rules/indices.smk"
include: "rules/composite.smk"
include: "rules/trend.smk"
include: "rules/terrain.smk"
include: "rules/contours.smk"
include: "rules/zonal.smk"
include: "rules/points.smk"
include: "rules/report.smk"
include: "rules/styles.smk"


onstart:
    rf_ownership.claim(RESULTS)  # the results folder is rasterflow's from now on


onsuccess:
    # the last lines of a run: where to look (what this run's targets made)
    _made = [
        (what, os.path.join(os.path.abspath(RESULTS), name))
        for what, name in (
            ("STAC catalog", "stac/catalog.json"),
            ("QGIS project", "rasterflow.qgs"),
        )
        if os.path.exists(os.path.join(RESULTS, name))
    ]
    logger.info(
        f"rasterflow: products under {os.path.abspath(RESULTS)}/ (mosaics/, indices/, "
        "terrain/, contours/, zonal/, points/)"
        + "".join(f"\nrasterflow: {what}: {path}" for what, path in _made)
        + f"\nrasterflow: the report: run again with --report {RESULTS}/report.html"
    )


rule all:
    default_target: True
    input:
        get_final_outputs(),
