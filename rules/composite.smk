# Temporal composites per (tile, period), every index of composite.indices in one job
# (from the scenes' bands, or their index rasters), and their mosaics per period.


rule composite:
    input:
        get_composite_inputs,
    output:
        stat=composite_outputs(""),
        counts=composite_outputs("_count"),
        # composite.bands: one multi-band COG and its count, from the same windows
        bands=composite_band_outputs(""),
        band_counts=composite_band_outputs("_count"),
    log:
        logs("composite/{period}/{tile}"),
    benchmark:
        benchmarks("composite/{period}/{tile}")
    threads: HEAVY_THREADS
    resources:
        mem_mb=heavy_mem_mb,
        runtime=runtime_30,
    params:
        # index -> its rasters; with scenes.batch > 1 the inputs are their batches' manifests
        sources=get_composite_sources,
        # or the scenes and the indices computed from their bands (scene_indices: false)
        scenes=get_composite_scenes,
        expressions=COMPOSITE_EXPRESSIONS,
        scene_resampling=config["scenes"]["resampling"],
        tile=get_tile_params,
        statistic=config["composite"]["statistic"],
        resampling=config["composite"]["resampling"],
        chunk=config["composite"]["chunk"],
        bands=PLAN.band_spec,
    script:
        "../scripts/composite.py"


rule mosaic:
    input:
        stat=get_mosaic_inputs,
        counts=get_mosaic_count_inputs,
    output:
        vrt=mosaic_outputs_of(".vrt"),
        cog=mosaic_outputs_of(".tif"),
        counts_vrt=mosaic_outputs_of("_count.vrt"),
        counts_cog=mosaic_outputs_of("_count.tif"),
    log:
        logs("mosaic/{period}"),
    benchmark:
        benchmarks("mosaic/{period}")
    threads: HEAVY_THREADS
    resources:
        mem_mb=heavy_mem_mb,
        runtime=runtime_30,
    params:
        tiles=get_mosaic_tiles,
        grid=get_grid_params,
        chunk=config["mosaic"]["chunk"],
    script:
        "../scripts/mosaic.py"
