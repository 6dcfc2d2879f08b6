# Per-pixel trend over the periods' mosaics (Theil-Sen slope, Mann-Kendall p-value,
# valid periods), every index of trend.indices in one job: one 3-band COG per index.


rule trend:
    input:
        get_trend_inputs,
    output:
        PLAN.trend_outputs(),
    log:
        logs("trend"),
    benchmark:
        benchmarks("trend")
    threads: HEAVY_THREADS
    resources:
        mem_mb=heavy_mem_mb,
        runtime=runtime_30,
    params:
        # index -> its mosaics, chronological (the periods' order in times)
        mosaics=get_trend_mosaics,
        periods=list(PLAN.trend_times),
        times=list(PLAN.trend_times.values()),
        min_periods=config["trend"]["min_periods"],
        chunk=config["trend"]["chunk"],
    script:
        "../scripts/trend.py"
