# Remote scene files copied where Snakemake runs (the login node, which has internet),
# for compute nodes without it (scenes.stage_in): the jobs then read the copies.


if PLAN.staged:

    rule stage_in:
        output:
            f"{config['scenes']['stage_in'].rstrip('/')}/{{scene}}/{{name}}",
        log:
            logs("stage_in/{scene}/{name}"),
        wildcard_constraints:
            name=r"[A-Za-z0-9._-]+",
        localrule: True
        params:
            url=lambda wildcards, output: PLAN.staged[output[0]],
            # a changed STAC item (updated, checksums) copies its files again
            version=lambda wildcards: PLAN.scenes[wildcards.scene].version,
        script:
            "../scripts/stage_in.py"
