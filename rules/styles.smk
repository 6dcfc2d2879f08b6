# QGIS styles: a .qml beside every raster product, so QGIS opens it drawn as the report
# draws it (rasterflow.qgis). One light job: a style is a header read, and for ranges
# taken from the data an overview read.


from rasterflow import qgis as rf_qgis


def styled_rasters():
    """(raster, product drawn) of every raster product, in a stable order."""
    out = []
    for period in PLAN.periods:
        for product in PLAN.mosaic_products:
            for suffix in ("", "_count"):
                name = f"{product}{suffix}"
                out.append((PATHS.mosaic(period, product, f"{suffix}.tif"), name))
                out += [
                    (PATHS.composite(period, product, tile, suffix), name)
                    for tile, p in PLAN.composites
                    if p == period
                ]
    out += [(PATHS.terrain(p), p) for p in PLAN.terrain_products]
    out += [(PATHS.trend(i), f"{i}_trend") for i in PLAN.trend_indices]
    out += [(PATHS.index(s, i), i) for s in PLAN.scenes for i in PLAN.scene_indices]
    return out


STYLED = styled_rasters()
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
