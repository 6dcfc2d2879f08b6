# Values at points through time (README, "Values at points"): each batch of scenes'
# indices, computed from the bands where the points are, and each period's mosaics,
# sampled at the points of points.file; then one long table.


rule points_scenes:
    input:
        points=get_points,
        scenes=get_point_batch_files,
    output:
        PATHS.points_part("scenes", "{batch}"),
    log:
        logs("points/scenes/{batch}"),
    benchmark:
        benchmarks("points/scenes/{batch}")
    threads: HEAVY_THREADS
    resources:
        mem_mb=heavy_mem_mb,
        runtime=point_batch_runtime,
    params:
        scenes=get_point_batch_scenes,
        expressions=POINT_EXPRESSIONS,
        layer=config["points"]["layer"],
        id_column=config["points"]["id_column"],
        method=config["points"]["method"],
        window=config["points"]["window"],
        outside=config["points"]["outside"],
        resampling=config["scenes"]["resampling"],
    script:
        "../scripts/points.py"


rule points_periods:
    input:
        points=get_points,
        rasters=get_period_mosaic_files,
    output:
        PATHS.points_part("periods", "{period}"),
    log:
        logs("points/periods/{period}"),
    benchmark:
        benchmarks("points/periods/{period}")
    threads: HEAVY_THREADS
    resources:
        mem_mb=heavy_mem_mb,
        runtime=runtime_30,
    params:
        rasters=get_period_mosaics,
        date=get_period_start,
        layer=config["points"]["layer"],
        id_column=config["points"]["id_column"],
        method=config["points"]["method"],
        window=config["points"]["window"],
        outside=config["points"]["outside"],
    script:
        "../scripts/points_periods.py"


rule points_table:
    input:
        points=get_points,
        parts=PLAN.point_parts(),
    output:
        [PATHS.points_table(fmt) for fmt in PLAN.point_formats],
    log:
        logs("points/table"),
    benchmark:
        benchmarks("points/table")
    threads: HEAVY_THREADS
    resources:
        mem_mb=heavy_mem_mb,
        runtime=runtime_30,
    params:
        formats=PLAN.point_formats,
        layer=config["points"]["layer"],
        id_column=config["points"]["id_column"],
        method=config["points"]["method"],
        window=config["points"]["window"],
        outside=config["points"]["outside"],
    script:
        "../scripts/points_table.py"
