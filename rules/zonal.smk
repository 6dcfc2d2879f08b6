# Zonal statistics of every product per zone, and a long table across periods.


rule zonal:
    input:
        raster=get_zonal_raster,
        zones=get_zones,
    output:
        [
            PATHS.zonal("{product}", "{period}", fmt)
            for fmt in config["zonal"]["formats"]
        ],
    log:
        logs("zonal/{product}/{period}"),
    benchmark:
        benchmarks("zonal/{product}/{period}")
    threads: HEAVY_THREADS
    resources:
        mem_mb=heavy_mem_mb,
        runtime=runtime_60,
    params:
        layer=config["zonal"]["layer"],
        id_column=config["zonal"]["id_column"],
        stats=config["zonal"]["stats"],
        percentiles=config["zonal"]["percentiles"],
        rule=config["zonal"]["rule"],
        categorical=is_categorical,
        formats=config["zonal"]["formats"],
        batch_size=config["zonal"]["batch_size"],
    script:
        "../scripts/zonal.py"


rule zonal_long:
    input:
        [PATHS.zonal(p, period) for p, period in PLAN.zonal_targets],
    output:
        parquet=f"{RESULTS}/zonal/zonal_long.parquet",
        csv=f"{RESULTS}/zonal/zonal_long.csv",
    log:
        logs("zonal_long"),
    params:
        targets=PLAN.zonal_targets,
        id_column=config["zonal"]["id_column"],
    script:
        "../scripts/zonal_long.py"
