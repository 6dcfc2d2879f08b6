# Spectral indices per scene on the scene's native grid.


rule index:
    input:
        get_scene_files,
    output:
        f"{RESULTS}/indices/{{scene}}/{{index}}.tif",
    log:
        f"{RESULTS}/logs/index/{{scene}}/{{index}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/index/{{scene}}/{{index}}.tsv"
    conda:
        "../envs/rasterflow.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        scene=get_scene_params,
        expression=get_expression,
        chunk=config["scenes"]["chunk"],
        resampling=config["scenes"]["resampling"],
    script:
        "../scripts/index.py"
