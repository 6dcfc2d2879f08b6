# Terrain products (slope, aspect, hillshade, ...) of one DEM, tile-parallel with a halo.


rule terrain:
    input:
        dem=get_dem,
    output:
        [PATHS.terrain(p) for p in PLAN.terrain_products],
    log:
        logs("terrain"),
    benchmark:
        benchmarks("terrain")
    threads: 2
    resources:
        mem_mb=heavy_mem_mb,
        runtime=runtime_60,
    params:
        products=PLAN.terrain_products,
        # the algorithms' options: a changed one reruns terrain
        options={
            k: v
            for k, v in config["terrain"].items()
            if k not in ("dem", "products", "chunk")
        },
        chunk=config["terrain"]["chunk"],
    script:
        "../scripts/terrain.py"
