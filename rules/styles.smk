# QGIS: a style (.qml) beside every raster product, so QGIS opens each drawn as the
# report draws it, and a project (rasterflow.qgs) of the mosaics, terrain, trends,
# contours and zonal layers (rasterflow.qgis). One light job: a style is a header read,
# and for ranges taken from the data an overview read. Per-scene index rasters get
# theirs from the index jobs.


from rasterflow import qgis as rf_qgis

STYLED = rf_qgis.styled_rasters(PLAN)
STYLE_OUTPUTS = [str(rf_qgis.style_path(raster)) for raster, _product in STYLED]
PROJECT_LAYERS = rf_qgis.project_layers(PLAN, zonal_formats=config["zonal"]["formats"])
QGIS_PROJECT = f"{RESULTS}/rasterflow.qgs"


rule qgis:
    input:
        [r for r, _p in STYLED],
        # the project's vector layers
        [layer.path for layer in PROJECT_LAYERS if layer.vector],
    output:
        styles=STYLE_OUTPUTS,
        project=QGIS_PROJECT,
    log:
        logs("qgis"),
    params:
        rasters=[r for r, _p in STYLED],
        products=[p for _r, p in STYLED],
        layers=[vars(layer) for layer in PROJECT_LAYERS],
    script:
        "../scripts/qgis.py"
