# What `snakemake --report` shows (outputs flagged with report()), and a STAC catalog of
# the raster products. All light: they read results, never recompute them.


from rasterflow import quicklook as rf_quicklook


report: "../report/workflow.rst"


REPORT = f"{RESULTS}/report"
CAPTIONS = "../report"


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
# (contours: drawn from their first format's file)
CONTOUR_FILES = [PLAN.contour_outputs(p)[0] for p in PLAN.contour_rasters]
QUICKLOOKS = [
    (PATHS.mosaic(period, index, f"{suffix}.tif"), period, index, suffix)
    for period in PLAN.periods
    for index in PLAN.mosaic_products  # the indices, then composite.bands' "bands"
    for suffix in ("", "_count")
]
# per-scene index products of a few scenes (report.scene_quicklooks, report.scenes)
try:
    SCENES_DRAWN = rf_quicklook.scenes_to_draw(
        list(PLAN.scenes),
        chosen=config["report"]["scenes"],
        count=config["report"]["scene_quicklooks"],
    )
except RasterflowError as exc:
    raise WorkflowError(str(exc)) from None
SCENE_QUICKLOOKS = [
    (PATHS.index(scene, index), scene, index)
    for scene in SCENES_DRAWN
    for index in PLAN.scene_indices
]
SCENE_MAPS = [f"scenes/{scene}/{index}" for _r, scene, index in SCENE_QUICKLOOKS]
MOSAIC_MAPS = [
    f"mosaics/{period}/{index}{suffix}" for _p, period, index, suffix in QUICKLOOKS
]
TERRAIN_MAPS = [f"terrain/{p}" for p in PLAN.terrain_products]
TREND_PLOTS = PLAN.trend_indices
TREND_MAPS = [f"trend/{i}" for i in TREND_PLOTS]
CONTOUR_MAPS = [f"contours/{p}" for p in PLAN.contour_rasters]
ALL_MAPS = MOSAIC_MAPS + TERRAIN_MAPS + TREND_MAPS + CONTOUR_MAPS + SCENE_MAPS


# what rule all asks for (common.smk, get_final_outputs): every report figure and page
REPORT_OUTPUTS = [
    f"{REPORT}/{kind}/{name}.{ext}"
    for name in ALL_MAPS
    for kind, ext in (("quicklooks", "png"), ("maps", "html"))
]
if any(period != "static" for _product, period in PLAN.zonal_targets):
    REPORT_OUTPUTS.append(f"{REPORT}/zonal/timeseries.png")
REPORT_OUTPUTS += [
    f"{REPORT}/zonal/tables/{p}/{period}.html" for p, period in PLAN.zonal_targets
]
if PLAN.points:
    REPORT_OUTPUTS.append(f"{REPORT}/points/timeseries.png")
REPORT_OUTPUTS += [
    f"{REPORT}/benchmarks.png",
    f"{REPORT}/summary.html",
    f"{REPORT}/run_info.html",
]
if config["dask"]["report"]:  # the heavy jobs' Dask performance reports, gathered
    REPORT_OUTPUTS += [f"{REPORT}/dask", f"{REPORT}/dask_reports.html"]
REPORT_OUTPUTS.append(f"{RESULTS}/stac")


QUICKLOOK_RASTERS = (
    [q[0] for q in QUICKLOOKS]
    + [PATHS.terrain(p) for p in PLAN.terrain_products]
    + PLAN.trend_outputs()
    + CONTOUR_FILES
    + [q[0] for q in SCENE_QUICKLOOKS]
)


rule quicklooks:
    input:
        get_quicklook_inputs,
    output:
        # the PNGs (to use elsewhere), and the report's map pages: the PNG fitted to
        # the window, full resolution on a click
        pngs=[f"{REPORT}/quicklooks/{name}.png" for name in ALL_MAPS],
        pages=[
            report(
                f"{REPORT}/maps/mosaics/{period}/{index}{suffix}.html",
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
                f"{REPORT}/maps/terrain/{p}.html",
                caption=f"{CAPTIONS}/quicklook_terrain.rst",
                category="Maps",
                subcategory="Terrain",
                labels={"product": p, "period": "static", "layer": p},
            )
            for p in PLAN.terrain_products
        ]
        + [
            report(
                f"{REPORT}/maps/trend/{i}.html",
                caption=f"{CAPTIONS}/quicklook_trend.rst",
                category="Maps",
                subcategory="Trends",
                labels={"product": i, "period": "all periods", "layer": "slope"},
            )
            for i in TREND_PLOTS
        ]
        + [
            report(
                f"{REPORT}/maps/contours/{p}.html",
                caption=f"{CAPTIONS}/quicklook_contours.rst",
                category="Maps",
                subcategory="Contours",
                labels={
                    "product": p,
                    "period": PLAN.contour_period(p),
                    "layer": "contours",
                },
            )
            for p in PLAN.contour_rasters
        ]
        + [
            report(
                f"{REPORT}/maps/scenes/{scene}/{index}.html",
                caption=f"{CAPTIONS}/quicklook_scene.rst",
                category="Maps",
                subcategory="Scenes",
                labels={"product": index, "period": scene, "layer": "scene"},
            )
            for _r, scene, index in SCENE_QUICKLOOKS
        ],
    log:
        logs("report/quicklooks"),
    # maps drawn side by side, in forked processes (rasterflow.quicklook.draw_all): a
    # run ends with them
    threads: 2
    params:
        rasters=QUICKLOOK_RASTERS,
        products=[f"{index}{suffix}" for _p, _period, index, suffix in QUICKLOOKS]
        + PLAN.terrain_products
        + [f"{i}_trend" for i in TREND_PLOTS]
        + [f"contours_{p}" for p in PLAN.contour_rasters]
        + [index for _r, _scene, index in SCENE_QUICKLOOKS],
        titles=[
            (
                f"{index}: valid observations, {period}"
                if suffix
                else (
                    f"bands, {config['composite']['band_statistic']}, {period}"
                    if index == rf_workflow.BANDS
                    else f"{index} {config['composite']['statistic']}, {period}"
                )
            )
            for _p, period, index, suffix in QUICKLOOKS
        ]
        # the product's name, not the DEM's path
        + [f"{p} (terrain of the DEM)" for p in PLAN.terrain_products]
        + [
            f"{i}: Theil-Sen slope per year, {len(PLAN.trend_times)} periods"
            for i in TREND_PLOTS
        ]
        + [
            f"contours of {p}, every {PLAN.contour_options[p]['interval']}"
            for p in PLAN.contour_rasters
        ]
        + [f"{index} of scene {scene}" for _r, scene, index in SCENE_QUICKLOOKS],
        # the band drawn: band 1 of each (a trend COG's slope, rasterflow.trend.BANDS;
        # contour lines have none: rasterflow.quicklook.render_lines)
        bands=[1] * len(QUICKLOOK_RASTERS),
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
    params:
        id_column=config["zonal"]["id_column"],
        periods=PLAN.ordered_periods,
        zones=config["report"]["zones"],
        max_zones=config["report"]["max_zones"],
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
    params:
        titles=[
            f"Zonal statistics of {p}, {period}" for p, period in PLAN.zonal_targets
        ],
    script:
        "../scripts/zonal_tables.py"


# The benchmark TSVs and Dask pages are not outputs Snakemake can depend on, so these
# two rules wait for every product and then read what the jobs left beside them.


# the benchmark chart and the run's summary page: one job, both read the same TSVs
rule benchmark_chart:
    input:
        PLAN.product_outputs(),
    output:
        chart=report(
            f"{REPORT}/benchmarks.png",
            caption=f"{CAPTIONS}/benchmarks.rst",
            category="Run",
            subcategory="Benchmarks",
            labels={"page": "wall time and memory per job"},
        ),
        summary=report(
            f"{REPORT}/summary.html",
            caption=f"{CAPTIONS}/summary.rst",
            category="Run",
            subcategory="Summary",
            labels={"page": "what ran, how long, where every product is"},
        ),
    log:
        logs("report/benchmark_chart"),
    params:
        benchmarks=f"{RESULTS}/benchmarks",
        # the summary's "where every product is" (a dict: not a path to stage)
        summary={
            "results": RESULTS,
            "products": PLAN.product_outputs()
            + [q[0] for q in QUICKLOOKS]  # the count mosaics too
            + [PATHS.zonal(p, period) for p, period in PLAN.zonal_targets]
            + [f"{RESULTS}/stac/catalog.json"]
            + [o for o in REPORT_OUTPUTS if o.endswith((".html", ".png"))],
        },
    script:
        "../scripts/benchmark_chart.py"


rule dask_reports:
    input:
        PLAN.product_outputs(),
    output:
        # each job's page, BokehJS shared in the folder (to browse on disk, offline)
        directory(f"{REPORT}/dask"),
        # every job's report on one page, BokehJS inlined once: what --report embeds
        # (it shows a result from a data: URL, which cannot reach a shared file)
        report(
            f"{REPORT}/dask_reports.html",
            caption=f"{CAPTIONS}/dask.rst",
            category="Run",
            subcategory="Dask performance reports",
            labels={"page": "Dask performance reports of the heavy jobs"},
        ),
    log:
        logs("report/dask_reports"),
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
    params:
        products=[p.to_params() for p in PLAN.stac_products],
        license=config["stac"]["license"],
        license_href=config["stac"]["license_href"],
        tables=STAC_TABLES,
    script:
        "../scripts/stac.py"
