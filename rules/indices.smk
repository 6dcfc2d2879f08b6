# Spectral indices per scene on the scene's native grid.


rule index:
    input:
        get_scene_files,
    output:
        f"{RESULTS}/indices/{{scene}}/{{index}}.tif",
    params:
        scene=get_scene_params,
        expression=get_expression,
        chunk=config["scenes"]["chunk"],
        resampling=config["scenes"]["resampling"],
    log:
        f"{RESULTS}/logs/index/{{scene}}/{{index}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/index/{{scene}}/{{index}}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../scripts/index.py"
