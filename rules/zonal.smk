# Zonal statistics of every product per zone, and a long table across periods.


rule zonal:
    input:
        raster=get_zonal_raster,
        zones=get_zones,
    output:
        [
            f"{RESULTS}/zonal/{{product}}/{{period}}.{fmt}"
            for fmt in config["zonal"]["formats"]
        ],
    log:
        f"{RESULTS}/logs/zonal/{{product}}/{{period}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/zonal/{{product}}/{{period}}.tsv"
    conda:
        "../envs/rasterflow.yaml"
    threads: HEAVY_THREADS
    resources:
        mem_mb=heavy_mem_mb,
        runtime=lambda wildcards, attempt: 60 * attempt,
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
        [f"{RESULTS}/zonal/{p}/{period}.parquet" for p, period in ZONAL_TARGETS],
    output:
        parquet=f"{RESULTS}/zonal/zonal_long.parquet",
        csv=f"{RESULTS}/zonal/zonal_long.csv",
    log:
        f"{RESULTS}/logs/zonal_long.log",
    conda:
        "../envs/rasterflow.yaml"
    params:
        targets=ZONAL_TARGETS,
        id_column=config["zonal"]["id_column"],
    script:
        "../scripts/zonal_long.py"
