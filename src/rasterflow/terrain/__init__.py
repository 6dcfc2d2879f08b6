"""Terrain products of a DEM: slope, aspect, hillshade, TRI, TPI and roughness.

Every product is a function of a pixel's 3x3 window, so a raster is computed block by
block with a one-pixel halo (:func:`dask.array.map_overlap`, depth 1). One compiled
kernel (:mod:`rasterflow._terrain_kernel`, numba, no GIL) serves both paths: the
whole-raster call pads the DEM by one pixel and runs the kernel once; the Dask path runs
it on every halo-extended block. The arithmetic of a pixel never depends on the block it
falls in, so tiled and whole-raster results are identical bit for bit, with no seams.

The formulas and rules are those of ``gdaldem`` (GDAL 3.6, ``apps/gdaldem_lib.cpp``),
checked against it in ``tests/unit/test_terrain.py``:

* Gradients by Horn (1981) by default, or Zevenbergen & Thorne (1987). Slope and
  hillshade use the horizontal spacing of the pixels (see "Scale" below).
* Aspect is the downslope direction in degrees clockwise from north (0..<360);
  flat cells (both differences exactly zero) get the nodata value, or 0 with
  ``zero_for_flat``. (``gdaldem -zero_for_flat`` also writes 0 into nodata cells,
  dropping the nodata value; here they stay -9999.)
* Hillshade is 8-bit: 1..255 for lit to shaded-out, 0 is nodata; ``z_factor``
  exaggerates heights for hillshade only (as ``gdaldem -z``).
* TRI is Riley et al. (1999) by default (GDAL's default since 3.3) or Wilson et al.
  (2007); TPI is the centre minus the mean of the 8 neighbours; roughness is the
  largest minus the smallest height of the window. All three are in height units.
* Float products use -9999 as nodata (gdaldem's value); hillshade uses 0.

Edges and nodata (``TerrainParams.edges``):

* ``"gdaldem"`` (default): a cell is nodata when it or any of its 8 neighbours is
  nodata or lies outside the raster, so the 1-pixel outer border is nodata.
* ``"compute"`` (``gdaldem -compute_edges``): only nodata cells are nodata. Missing
  neighbours are filled as GDAL does: a neighbour outside the raster is extrapolated
  linearly from the two cells inward of it (``2 * edge - next``), except that at the
  four corner cells the neighbour column beyond the side edge repeats the centre
  column; a neighbour that is nodata (or extrapolated from nodata) takes the value of
  the centre cell.

NaN heights are always nodata, whatever the file's nodata value.

Scale (``TerrainParams.scale``), i.e. the horizontal distance between pixel centres,
in the units of the heights:

* ``None`` (default) derives it from the CRS, never silently. Projected CRS: pixel size
  times the CRS's metres per unit. Geographic CRS: per row, from the latitude ``phi``
  of the row's centre on the CRS's ellipsoid (semi-major axis ``a``, eccentricity
  ``e``)::

      W  = sqrt(1 - e^2 sin^2(phi))
      dy = |pixel height in radians| * a (1 - e^2) / W^3     (meridian arc)
      dx =  pixel width in radians   * a cos(phi) / W        (parallel arc)

  The whole 3x3 window uses its centre row's spacing (the error is of the order of
  the pixel height in radians times tan(phi): negligible). Heights are taken to be in
  metres unless the band's unit says feet or US survey feet. A DEM without a CRS, or
  with heights in an unknown unit, is an error that asks for a CRS or an explicit
  scale.
* A number reproduces ``gdaldem -s <scale>`` exactly: spacing = pixel size times
  ``scale`` on both axes (``111120`` for degrees and metres, ``370400`` for degrees and
  feet). Like gdaldem, aspect then ignores the pixel size altogether (it treats pixels
  as square); with ``scale=None`` aspect uses the true spacing on each axis.

The package (issue #20): :mod:`._params` (products, options, pixel spacing),
:mod:`._arrays` (the kernel on blocks, NumPy and Dask arrays) and :mod:`._files` (DEM
files in, COGs out).
"""

from rasterflow.terrain._arrays import (
    aspect,
    hillshade,
    roughness,
    slope,
    terrain,
    terrain_block,
    tpi,
    tri,
    working_dtype,
)
from rasterflow.terrain._files import DemInfo, dem_info, open_dem, run
from rasterflow.terrain._params import (
    FLOAT_NODATA,
    HILLSHADE_NODATA,
    PRODUCTS,
    Product,
    ProductInfo,
    Spacing,
    TerrainParams,
    pixel_spacing,
)

__all__ = [
    "FLOAT_NODATA",
    "HILLSHADE_NODATA",
    "PRODUCTS",
    "DemInfo",
    "Product",
    "ProductInfo",
    "Spacing",
    "TerrainParams",
    "aspect",
    "dem_info",
    "hillshade",
    "open_dem",
    "pixel_spacing",
    "roughness",
    "run",
    "slope",
    "terrain",
    "terrain_block",
    "tpi",
    "tri",
    "working_dtype",
]
