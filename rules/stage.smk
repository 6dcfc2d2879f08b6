# Remote scene files copied where Snakemake runs (the login node, which has internet),
# for compute nodes without it (scenes.stage_in): the jobs then read the copies.


if PLAN.staged:
    # as rasterflow.remote.stage_path spells it: the planned paths are PLAN.staged's keys
    STAGE_IN = config["scenes"]["stage_in"].rstrip("/")

    rule stage_in:
        output:
            f"{STAGE_IN}/{{scene}}/{{name}}",
        log:
            logs("stage_in/{scene}/{name}"),
        wildcard_constraints:
            name=r"[A-Za-z0-9._-]+",
        localrule: True
        params:
            url=lambda w: PLAN.staged[f"{STAGE_IN}/{w.scene}/{w.name}"],
            # a changed STAC item (updated, checksums) copies its files again
            version=lambda w: PLAN.scenes[w.scene].version,
        script:
            "../scripts/stage_in.py"
