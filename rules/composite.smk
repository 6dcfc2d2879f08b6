# Temporal composites per (tile, period, index) on the target grid, and their mosaics.


rule composite:
    input:
        get_composite_inputs,
    output:
        stat=f"{RESULTS}/composites/{{period}}/{{index}}/{{tile}}.tif",
        counts=f"{RESULTS}/composites/{{period}}/{{index}}/{{tile}}_count.tif",
    log:
        f"{RESULTS}/logs/composite/{{period}}/{{index}}/{{tile}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/composite/{{period}}/{{index}}/{{tile}}.tsv"
    conda:
        "../envs/rasterflow.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        # the index rasters; with scenes.batch > 1 the inputs are their batches' manifests
        sources=get_composite_sources,
        tile=get_tile_params,
        statistic=config["composite"]["statistic"],
        resampling=config["composite"]["resampling"],
        chunk=config["composite"]["chunk"],
    script:
        "../scripts/composite.py"


rule mosaic:
    input:
        stat=get_mosaic_inputs,
        counts=get_mosaic_count_inputs,
    output:
        vrt=f"{RESULTS}/mosaics/{{period}}/{{index}}.vrt",
        cog=f"{RESULTS}/mosaics/{{period}}/{{index}}.tif",
        counts_vrt=f"{RESULTS}/mosaics/{{period}}/{{index}}_count.vrt",
        counts_cog=f"{RESULTS}/mosaics/{{period}}/{{index}}_count.tif",
    log:
        f"{RESULTS}/logs/mosaic/{{period}}/{{index}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/mosaic/{{period}}/{{index}}.tsv"
    conda:
        "../envs/rasterflow.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        grid=get_grid_params,
        chunk=config["mosaic"]["chunk"],
    script:
        "../scripts/mosaic.py"
