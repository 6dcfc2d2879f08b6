# QGIS styles: a .qml beside every raster product, so QGIS opens it drawn as the report
# draws it (rasterflow.qgis). One light job: a style is a header read, and for ranges
# taken from the data an overview read.


from rasterflow import qgis as rf_qgis

STYLED = rf_qgis.styled_rasters(PLAN)
STYLE_OUTPUTS = [str(rf_qgis.style_path(raster)) for raster, _product in STYLED]


rule qgis_styles:
    input:
        # the rasters, or with scenes.batch > 1 the index batches' manifests for theirs
        [r for r, _p in STYLED if not r.startswith(f"{RESULTS}/indices/")]
        + PLAN.index_outputs(),
    output:
        STYLE_OUTPUTS,
    log:
        logs("qgis_styles"),
    params:
        rasters=[r for r, _p in STYLED],
        products=[p for _r, p in STYLED],
    script:
        "../scripts/qgis_styles.py"
