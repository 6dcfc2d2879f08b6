# Contour lines of the DEM, terrain products and mosaics (rasterflow.contours): one
# job per product, its tiles contoured in parallel and joined across tile borders.


rule contours:
    input:
        raster=get_contour_raster,
    output:
        PLAN.contour_outputs("{product}"),
    log:
        logs("contours/{product}"),
    benchmark:
        benchmarks("contours/{product}")
    threads: 2
    resources:
        mem_mb=heavy_mem_mb,
        runtime=runtime_30,
    params:
        formats=PLAN.contour_formats,
        # the levels: a changed one reruns the contours
        options=lambda w: PLAN.contour_options[w.product],
        chunk=config["contours"]["chunk"],
    script:
        "../scripts/contours.py"
