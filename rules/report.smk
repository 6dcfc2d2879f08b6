# What `snakemake --report` shows (outputs flagged with report()), and a STAC catalog of
# the raster products. All light: they read results, never recompute them.


report: "../report/workflow.rst"


from rasterflow import stac as rf_stac

REPORT = f"{RESULTS}/report"
CAPTIONS = "../report"


_PERIOD_SPEC = rf_periods.PeriodSpec.from_config(config["periods"])
_PERIOD_SPANS = {
    p: (
        rf_periods.period_by_id(p, _PERIOD_SPEC).start,
        rf_periods.period_by_id(p, _PERIOD_SPEC).end,
    )
    for p in PERIODS
}
# period ids do not sort by time (2024-JJA < 2024-MAM): order by first day
ORDERED_PERIODS = sorted(PERIODS, key=lambda p: _PERIOD_SPANS[p][0])
STAC_PRODUCTS = rf_stac.plan_products(
    results=RESULTS,
    scene_dates={sid: sc.date for sid, sc in SCENES.items()},
    indices=SCENE_INDICES,
    periods=_PERIOD_SPANS,
    composite_indices=COMPOSITE_INDICES,
    statistic=config["composite"]["statistic"],
    terrain=TERRAIN_PRODUCTS,
    dem=str(DEM),
)
# the products the catalog describes; batch manifests stand in for index rasters
STAC_INPUTS = index_outputs() + [
    p.path for p in STAC_PRODUCTS if not p.path.startswith(f"{RESULTS}/indices/")
]
# what rule all asks for (common.smk, get_final_outputs): every report figure and page
REPORT_OUTPUTS = [
    f"{REPORT}/quicklooks/mosaics/{period}/{index}{suffix}.png"
    for period in PERIODS
    for index in COMPOSITE_INDICES
    for suffix in ("", "_count")
]
REPORT_OUTPUTS += [f"{REPORT}/quicklooks/terrain/{p}.png" for p in TERRAIN_PRODUCTS]
if any(period != "static" for _product, period in ZONAL_TARGETS):
    REPORT_OUTPUTS.append(f"{REPORT}/zonal/timeseries.png")
REPORT_OUTPUTS += [
    f"{REPORT}/zonal/tables/{p}/{period}.html" for p, period in ZONAL_TARGETS
]
REPORT_OUTPUTS += [f"{REPORT}/benchmarks.png", f"{REPORT}/run_info.html"]
if config["dask"]["report"]:  # the heavy jobs' Dask performance reports, gathered
    REPORT_OUTPUTS.append(f"{REPORT}/dask")
REPORT_OUTPUTS.append(f"{RESULTS}/stac")


# every quicklook in one job: each is a fraction of a second, a job's start is seconds
QUICKLOOKS = [
    (f"{RESULTS}/mosaics/{period}/{index}{suffix}.tif", period, index, suffix)
    for period in PERIODS
    for index in COMPOSITE_INDICES
    for suffix in ("", "_count")
]


rule quicklooks:
    input:
        [q[0] for q in QUICKLOOKS]
        + [f"{RESULTS}/terrain/{p}.tif" for p in TERRAIN_PRODUCTS],
    output:
        [
            report(
                f"{REPORT}/quicklooks/mosaics/{period}/{index}{suffix}.png",
                caption=f"{CAPTIONS}/quicklook_{'count' if suffix else 'mosaic'}.rst",
                category="Maps",
                subcategory="Composites",
                labels={
                    "product": index,
                    "period": period,
                    "layer": "count" if suffix else "statistic",
                },
            )
            for _path, period, index, suffix in QUICKLOOKS
        ]
        + [
            report(
                f"{REPORT}/quicklooks/terrain/{p}.png",
                caption=f"{CAPTIONS}/quicklook_terrain.rst",
                category="Maps",
                subcategory="Terrain",
                labels={"product": p, "period": "static", "layer": p},
            )
            for p in TERRAIN_PRODUCTS
        ],
    log:
        f"{RESULTS}/logs/report/quicklooks.log",
    conda:
        "../envs/rasterflow.yaml"
    params:
        products=[f"{index}{suffix}" for _p, _period, index, suffix in QUICKLOOKS]
        + TERRAIN_PRODUCTS,
        titles=[
            (
                f"{index}: valid observations, {period}"
                if suffix
                else f"{index} {config['composite']['statistic']}, {period}"
            )
            for _p, period, index, suffix in QUICKLOOKS
        ]
        + [f"{p} of {DEM}" for p in TERRAIN_PRODUCTS],
    script:
        "../scripts/quicklook.py"


rule zonal_timeseries:
    input:
        f"{RESULTS}/zonal/zonal_long.parquet",
    output:
        report(
            f"{REPORT}/zonal/timeseries.png",
            caption=f"{CAPTIONS}/zonal_timeseries.rst",
            category="Zonal statistics",
            subcategory="Time series",
            labels={"figure": "per-zone time series"},
        ),
    log:
        f"{RESULTS}/logs/report/zonal_timeseries.log",
    conda:
        "../envs/rasterflow.yaml"
    params:
        id_column=config["zonal"]["id_column"],
        periods=ORDERED_PERIODS,
    script:
        "../scripts/zonal_timeseries.py"


rule zonal_tables:
    input:
        [f"{RESULTS}/zonal/{p}/{period}.parquet" for p, period in ZONAL_TARGETS],
    output:
        [
            report(
                f"{REPORT}/zonal/tables/{p}/{period}.html",
                caption=f"{CAPTIONS}/zonal_table.rst",
                category="Zonal statistics",
                subcategory="Tables",
                labels={"product": p, "period": period},
            )
            for p, period in ZONAL_TARGETS
        ],
    log:
        f"{RESULTS}/logs/report/zonal_tables.log",
    conda:
        "../envs/rasterflow.yaml"
    params:
        titles=[f"Zonal statistics of {p}, {period}" for p, period in ZONAL_TARGETS],
    script:
        "../scripts/zonal_tables.py"


# The benchmark TSVs and Dask pages are not outputs Snakemake can depend on, so these
# two rules wait for every product and then read what the jobs left beside them.


rule benchmark_chart:
    input:
        get_product_outputs(),
    output:
        report(
            f"{REPORT}/benchmarks.png",
            caption=f"{CAPTIONS}/benchmarks.rst",
            category="Run",
            subcategory="Benchmarks",
            labels={"page": "wall time and memory per job"},
        ),
    log:
        f"{RESULTS}/logs/report/benchmark_chart.log",
    conda:
        "../envs/rasterflow.yaml"
    params:
        benchmarks=f"{RESULTS}/benchmarks",
    script:
        "../scripts/benchmark_chart.py"


rule dask_reports:
    input:
        get_product_outputs(),
    output:
        report(
            directory(f"{REPORT}/dask"),
            patterns=["{job}.html"],
            caption=f"{CAPTIONS}/dask.rst",
            category="Run",
            subcategory="Dask performance reports",
            labels={"job": "{job}"},
        ),
    log:
        f"{RESULTS}/logs/report/dask_reports.log",
    conda:
        "../envs/rasterflow.yaml"
    params:
        logs=f"{RESULTS}/logs",
    script:
        "../scripts/dask_reports.py"


rule run_info:
    output:
        report(
            f"{REPORT}/run_info.html",
            caption=f"{CAPTIONS}/run_info.rst",
            category="Run",
            subcategory="Config and software",
            labels={"page": "config and software versions"},
        ),
    log:
        f"{RESULTS}/logs/report/run_info.log",
    conda:
        "../envs/rasterflow.yaml"
    params:
        # the validated config: a changed key reruns this page
        config=config,
        configfiles=[os.path.relpath(f) for f in workflow.configfiles],
    script:
        "../scripts/run_info.py"


rule stac:
    input:
        STAC_INPUTS,
    output:
        directory(f"{RESULTS}/stac"),
    log:
        f"{RESULTS}/logs/stac.log",
    conda:
        "../envs/rasterflow.yaml"
    params:
        products=[p.to_params() for p in STAC_PRODUCTS],
    script:
        "../scripts/stac.py"
