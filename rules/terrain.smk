# Terrain products (slope, aspect, hillshade, ...) of one DEM, tile-parallel with a halo.


rule terrain:
    input:
        dem=get_dem,
    output:
        [f"{RESULTS}/terrain/{product}.tif" for product in TERRAIN_PRODUCTS],
    log:
        f"{RESULTS}/logs/terrain.log",
    benchmark:
        f"{RESULTS}/benchmarks/terrain.tsv"
    conda:
        "../envs/rasterflow.yaml"
    threads: 2
    resources:
        mem_mb=heavy_mem_mb,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        products=TERRAIN_PRODUCTS,
        options=TERRAIN_OPTIONS,
        chunk=config["terrain"]["chunk"],
    script:
        "../scripts/terrain.py"
