# Spectral indices per scene on the scene's native grid: one job per scene computes all
# its indices, or with scenes.batch > 1 one job per batch of scenes (README, Many scenes).


if not PLAN.batched:

    rule index:
        input:
            get_scene_files,
        output:
            scene_index_outputs(),
        log:
            logs("index/{scene}"),
        benchmark:
            benchmarks("index/{scene}")
        threads: HEAVY_THREADS
        resources:
            mem_mb=heavy_mem_mb,
            runtime=runtime_30,
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
            PATHS.manifest("{batch}"),
        log:
            logs("index/_batches/{batch}"),
        benchmark:
            benchmarks("index/_batches/{batch}")
        threads: HEAVY_THREADS
        resources:
            mem_mb=heavy_mem_mb,
            runtime=batch_runtime,
        params:
            scenes=get_batch_params,
            outputs=get_batch_outputs,
            expressions=EXPRESSIONS,
            chunk=config["scenes"]["chunk"],
            resampling=config["scenes"]["resampling"],
        script:
            "../scripts/index_batch.py"

    if config["demo"] or PLAN.staged:

        # the demo's scenes are written by rule demo_data, and staged copies by rule
        # stage_in, after planning: their fingerprints too, once (later plans rewrite
        # them as for any other scenes)
        rule batch_fingerprint:
            input:
                get_batch_files,
            output:
                PLAN.fingerprint_path("{batch}"),
            log:
                logs("index/_batches/{batch}.inputs"),
            localrule: True
            run:
                rf_planning.write_fingerprint(output[0], input)
