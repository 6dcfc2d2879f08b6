# Spectral indices per scene on the scene's native grid: one job per scene computes all
# its indices, or with scenes.batch > 1 one job per batch of scenes (README, Many scenes).


if not BATCHED:

    rule index:
        input:
            get_scene_files,
        output:
            scene_index_outputs(),
        log:
            f"{RESULTS}/logs/index/{{scene}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/index/{{scene}}.tsv"
        conda:
            "../envs/rasterflow.yaml"
        threads: HEAVY_THREADS
        resources:
            mem_mb=heavy_mem_mb,
            runtime=lambda wildcards, attempt: 30 * attempt,
        params:
            scene=get_scene_params,
            expressions=EXPRESSIONS,
            chunk=config["scenes"]["chunk"],
            resampling=config["scenes"]["resampling"],
        script:
            "../scripts/index.py"

else:

    rule index_batch:
        input:
            get_batch_fingerprint,
        output:
            manifest_path("{batch}"),
        log:
            f"{RESULTS}/logs/index/_batches/{{batch}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/index/_batches/{{batch}}.tsv"
        conda:
            "../envs/rasterflow.yaml"
        threads: HEAVY_THREADS
        resources:
            # scenes run one after another: memory is one scene's, time grows with the batch
            mem_mb=heavy_mem_mb,
            runtime=lambda wildcards, attempt: (30 + 5 * len(BATCHES[wildcards.batch]))
            * attempt,
        params:
            scenes=get_batch_params,
            outputs=get_batch_outputs,
            expressions=EXPRESSIONS,
            chunk=config["scenes"]["chunk"],
            resampling=config["scenes"]["resampling"],
        script:
            "../scripts/index_batch.py"

    if config["demo"]:

        # the demo's scenes are written by rule demo_data, after planning: their
        # fingerprints too, once (later plans rewrite them as for any other scenes)
        rule batch_fingerprint:
            input:
                get_batch_files,
            output:
                fingerprint_path("{batch}"),
            log:
                f"{RESULTS}/logs/index/_batches/{{batch}}.inputs.log",
            localrule: True
            run:
                rf_planning.write_fingerprint(output[0], input)
