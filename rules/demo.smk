# Built-in synthetic demo data (config demo: true).


if config["demo"]:

    rule demo_data:
        output:
            [f"{DEMO_ROOT}/{f}" for f in demo.planned_files()],
        log:
            f"{RESULTS}/logs/demo_data.log",
        localrule: True
        conda:
            "../envs/rasterflow.yaml"
        script:
            "../scripts/demo_data.py"
