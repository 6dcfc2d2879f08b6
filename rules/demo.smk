# Built-in synthetic demo data (config demo: true).


if config["demo"]:

    rule demo_data:
        output:
            [f"{PATHS.demo_root}/{f}" for f in demo.planned_files()],
        log:
            logs("demo_data"),
        localrule: True
        script:
            "../scripts/demo_data.py"
