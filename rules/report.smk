# What `snakemake --report` shows (outputs flagged with report()), and a STAC catalog of
# the raster products. All light: they read results, never recompute them.


report: "../report/workflow.rst"


REPORT = f"{RESULTS}/report"
CAPTIONS = "../report"


# what rule all asks for (common.smk, get_final_outputs): every report figure and page
REPORT_OUTPUTS = [
    f"{REPORT}/quicklooks/mosaics/{period}/{index}{suffix}.png"
    for period in PLAN.periods
    for index in PLAN.composite_indices
    for suffix in ("", "_count")
]
REPORT_OUTPUTS += [
    f"{REPORT}/quicklooks/terrain/{p}.png" for p in PLAN.terrain_products
]
TREND_PLOTS = PLAN.trend_indices
REPORT_OUTPUTS += [f"{REPORT}/quicklooks/trend/{i}.png" for i in TREND_PLOTS]
if any(period != "static" for _product, period in PLAN.zonal_targets):
    REPORT_OUTPUTS.append(f"{REPORT}/zonal/timeseries.png")
REPORT_OUTPUTS += [
    f"{REPORT}/zonal/tables/{p}/{period}.html" for p, period in PLAN.zonal_targets
]
if PLAN.points:
    REPORT_OUTPUTS.append(f"{REPORT}/points/timeseries.png")
REPORT_OUTPUTS += [f"{REPORT}/benchmarks.png", f"{REPORT}/run_info.html"]
if config["dask"]["report"]:  # the heavy jobs' Dask performance reports, gathered
    REPORT_OUTPUTS.append(f"{REPORT}/dask")
REPORT_OUTPUTS.append(f"{RESULTS}/stac")


# the points' long table as an item of its own: its footprint the points', its time the
# scenes' and periods' span
STAC_TABLES = (
    [
        {
            "path": PATHS.points_table("parquet"),
            "id": "points-samples",
            "start": min(sc.date for sc in PLAN.scenes.values()).isoformat(),
            "end": max(
                [sc.date for sc in PLAN.scenes.values()]
                + [end for _start, end in PLAN.period_spans.values()]
            ).isoformat(),
            "title": "values of every index at the points, per scene and period",
            "properties": {"rasterflow:table": "points"},
            "dated_by": None,
        }
    ]
    if PLAN.points
    else []
)


# every quicklook in one job: each is a fraction of a second, a job's start is seconds
QUICKLOOKS = [
    (PATHS.mosaic(period, index, f"{suffix}.tif"), period, index, suffix)
    for period in PLAN.periods
    for index in PLAN.composite_indices
    for suffix in ("", "_count")
]


rule quicklooks:
    input:
        [q[0] for q in QUICKLOOKS]
        + [PATHS.terrain(p) for p in PLAN.terrain_products]
        + PLAN.trend_outputs(),
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
            for p in PLAN.terrain_products
        ]
        + [
            report(
                f"{REPORT}/quicklooks/trend/{i}.png",
                caption=f"{CAPTIONS}/quicklook_trend.rst",
                category="Maps",
                subcategory="Trends",
                labels={"product": i, "period": "all periods", "layer": "slope"},
            )
            for i in PLAN.trend_indices
        ],
    log:
        logs("report/quicklooks"),
    conda:
        "../envs/rasterflow.yaml"
    params:
        products=[f"{index}{suffix}" for _p, _period, index, suffix in QUICKLOOKS]
        + PLAN.terrain_products
        + [f"{i}_trend" for i in PLAN.trend_indices],
        titles=[
            (
                f"{index}: valid observations, {period}"
                if suffix
                else f"{index} {config['composite']['statistic']}, {period}"
            )
            for _p, period, index, suffix in QUICKLOOKS
        ]
        + [f"{p} of {PLAN.dem}" for p in PLAN.terrain_products]
        + [
            f"{i}: Theil-Sen slope per year, {len(PLAN.trend_times)} periods"
            for i in PLAN.trend_indices
        ],
        # the band drawn: the slope, band 1 of a trend COG (rasterflow.trend.BANDS)
        bands=[1] * (len(QUICKLOOKS) + len(PLAN.terrain_products) + len(TREND_PLOTS)),
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
        logs("report/zonal_timeseries"),
    conda:
        "../envs/rasterflow.yaml"
    params:
        id_column=config["zonal"]["id_column"],
        periods=PLAN.ordered_periods,
    script:
        "../scripts/zonal_timeseries.py"


rule points_timeseries:
    input:
        PATHS.points_table("parquet"),
    output:
        report(
            f"{REPORT}/points/timeseries.png",
            caption=f"{CAPTIONS}/points_timeseries.rst",
            category="Points",
            subcategory="Time series",
            labels={"figure": "values at a few points"},
        ),
    log:
        logs("report/points_timeseries"),
    conda:
        "../envs/rasterflow.yaml"
    params:
        id_column=config["points"]["id_column"],
        periods={
            p: [first.isoformat(), last.isoformat()]
            for p, (first, last) in PLAN.period_spans.items()
        },
    script:
        "../scripts/points_timeseries.py"


rule zonal_tables:
    input:
        [PATHS.zonal(p, period) for p, period in PLAN.zonal_targets],
    output:
        [
            report(
                f"{REPORT}/zonal/tables/{p}/{period}.html",
                caption=f"{CAPTIONS}/zonal_table.rst",
                category="Zonal statistics",
                subcategory="Tables",
                labels={"product": p, "period": period},
            )
            for p, period in PLAN.zonal_targets
        ],
    log:
        logs("report/zonal_tables"),
    conda:
        "../envs/rasterflow.yaml"
    params:
        titles=[
            f"Zonal statistics of {p}, {period}" for p, period in PLAN.zonal_targets
        ],
    script:
        "../scripts/zonal_tables.py"


# The benchmark TSVs and Dask pages are not outputs Snakemake can depend on, so these
# two rules wait for every product and then read what the jobs left beside them.


rule benchmark_chart:
    input:
        PLAN.product_outputs(),
    output:
        report(
            f"{REPORT}/benchmarks.png",
            caption=f"{CAPTIONS}/benchmarks.rst",
            category="Run",
            subcategory="Benchmarks",
            labels={"page": "wall time and memory per job"},
        ),
    log:
        logs("report/benchmark_chart"),
    conda:
        "../envs/rasterflow.yaml"
    params:
        benchmarks=f"{RESULTS}/benchmarks",
    script:
        "../scripts/benchmark_chart.py"


rule dask_reports:
    input:
        PLAN.product_outputs(),
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
        logs("report/dask_reports"),
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
        logs("report/run_info"),
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
        PLAN.stac_inputs() + [p["path"] for p in STAC_TABLES],
    output:
        directory(f"{RESULTS}/stac"),
    log:
        logs("stac"),
    conda:
        "../envs/rasterflow.yaml"
    params:
        products=[p.to_params() for p in PLAN.stac_products],
        license=config["stac"]["license"],
        license_href=config["stac"]["license_href"],
        tables=STAC_TABLES,
    script:
        "../scripts/stac.py"
