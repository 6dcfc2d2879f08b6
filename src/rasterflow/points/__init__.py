"""Values at points through time: each scene's indices and each period's mosaics
sampled at the points of a vector layer, into one long table.

Why this shape:

* **Per-scene values without per-scene rasters.** Composites no longer need per-scene
  index rasters, so a scene's values are computed where the points are: the scene's
  bands are read in the windows that hold points and the index is computed there by
  :func:`rasterflow.indices.window_indices`, the very function that writes each block
  of a per-scene index raster. A pixel's value does not depend on the window
  (:func:`rasterflow.scenes.read_window`), so a sampled value is the index raster's
  pixel, bit for bit (tested against the raster the index stage writes).
* **Only the blocks that hold points are read.** Points are grouped by the
  :data:`BLOCK`-pixel block of the raster they fall in; each group reads the smallest
  window holding its points' pixels (and the neighbours bilinear or a window mean
  needs), once for all the indices.
* **Every point keeps its row** (``outside: keep``, the default): a point outside a
  raster, on nodata, masked, or whose index is not finite gets value NaN and
  ``valid`` false, so the table has a row per point, scene or period and product, and
  "not observed" is never confused with "not asked". ``outside: drop`` leaves out the
  rows of points outside a raster (on nodata they stay, with ``valid`` false).

Conventions: pixel (0, 0)'s corner is the raster's origin and its centre half a pixel
in (GDAL's). ``nearest`` is the pixel holding the point (``floor`` of the pixel
coordinates, as :func:`rasterio.sample.sample_gen`); a point on the raster's right or
bottom edge is outside. ``bilinear`` interpolates between the four pixel centres
around the point; within half a pixel of the raster's edge the edge pixels stand in
for the missing neighbours (``scipy.ndimage.map_coordinates(order=1,
mode="nearest")``); a neighbour with a non-zero weight that is nodata makes the value
nodata (an average over fewer pixels than claimed would pass for a valid one).
``window: w`` (odd, nearest only) is the mean of the valid pixels of the w x w square
centred on the pixel holding the point, pixels beyond the raster left out; valid when
any is.

The package (issue #20): :mod:`._points` (the points and the sampling options),
:mod:`._sample` (values at points), :mod:`._tables` (part and long tables) and
:mod:`._steps` (the jobs' steps).
"""

from rasterflow.points._points import (
    BLOCK,
    COLUMNS,
    METHODS,
    PointSet,
    Reader,
    Samples,
    SampleSpec,
    read_points,
)
from rasterflow.points._sample import sample, sample_raster, sample_scene
from rasterflow.points._steps import SCENES_AT_ONCE, run_rasters, run_scenes
from rasterflow.points._tables import geo_metadata, part_schema, samples_table, write_table

__all__ = [
    "BLOCK",
    "COLUMNS",
    "METHODS",
    "SCENES_AT_ONCE",
    "PointSet",
    "Reader",
    "SampleSpec",
    "Samples",
    "geo_metadata",
    "part_schema",
    "read_points",
    "run_rasters",
    "run_scenes",
    "sample",
    "sample_raster",
    "sample_scene",
    "samples_table",
    "write_table",
]
