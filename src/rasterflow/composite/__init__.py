"""Temporal composites: the scenes of one period, on one tile, reduced to one value.

A composite job gets the index rasters (one per scene, each on its scene's own grid
and CRS) of the scenes that overlap one tile of the target grid in one period. With
bilinear resampling (the default) each chunk is one call of a compiled kernel
(:mod:`rasterflow._warp_kernel`): it reads each scene's source window once, samples
it with GDAL's bilinear rule at positions given by the scene's geotransform (same CRS)
or by :func:`rasterflow.warp.polynomial_to_pixels` (a third-order polynomial fitted to
exact PROJ points on the scene's own grid), and reduces over time, in one pass without
the GIL. It gives GDAL's warper's pixels: bit for bit in the same CRS, within a few
float32 ulps (0.002-0.02 % of pixels differ) across CRSs, where GDAL fits its own
polynomial to the same points. Sources the kernel cannot reproduce (a mask band,
non-float32 pixels, a scale below 0.95 where GDAL widens its kernel, a rotated grid,
a poor polynomial fit) and other resampling methods go through GDAL's warper,
:func:`rasterflow.warp.read_onto` (through :func:`rasterflow.warp.polynomial_vrt` in
another CRS), and NumPy reduces the stack. Either way NaN never bleeds into valid
pixels and a pixel's value does not depend on tile or chunk size. The stack is reduced
over time per pixel:

* ``median`` (default), ``mean``, ``min``, ``max``, or ``pXX``, the XX-th percentile
  (0 <= XX <= 100, decimals allowed: ``p2.5``), NumPy's ``linear`` method;
* the number of valid (non-NaN) observations, always computed, written as its own
  uint16 product when ``count_output`` is given.

Pixels without a valid observation are NaN in the statistic and 0 in the count. The
count records 0 as its nodata value (:data:`COUNT_NODATA`), so that GIS software draws
outside the footprints and fully clouded pixels as empty rather than as a colour; the
0s are in the file all the same (read it unmasked to count them).

Several bands at once (``composite.bands``, :mod:`rasterflow.band_composite`): for
scene sources the bands (each an expression of itself, so scaled and masked as the
indices' inputs are) and the quality score are extra layers of the same windows, after
the indices; each chunk then also warps those layers into a (layers, scenes, y, x)
stack and reduces it with a medoid, geometric median or best-available-pixel kernel.
The index layers are reduced exactly as without them (GDAL's warper takes the two
groups in separate calls), so adding bands changes no index byte.

Memory. The work is one Dask task per spatial chunk of ``chunk`` x ``chunk`` pixels;
the time axis is never split. The kernel holds every scene's source window (about a
chunk each at equal resolutions), a row of samples and the result, about
(1.1 n + 2) x chunk^2 x 4 bytes; the fallback holds the whole (n scenes, chunk, chunk)
float32 stack and reduces it at once: the stack, its sorted copy and a validity mask
(2.25 n), plus GDAL's source window and destination for the one scene being warped
and the result (~4), so about (2.5 n + 4) x chunk^2 x 4 bytes. Each finished chunk
goes to disk at once (``da.store``), and at most ``threads`` tasks run at a time, so
the Dask part of a job peaks near threads x (2.5 n + 4) x chunk^2 x 4 bytes whatever
the tile's size: 4 threads, 30 scenes and chunk 512 need ~320 MiB. A band composite
adds its stack, (bands + score) x n x chunk^2 x 4 bytes, and its windows. On top come GDAL's
block cache (``GDAL_CACHEMAX``; sources stay open per thread so that neighbouring
chunks share decoded blocks) and the COG writer of :mod:`rasterflow.io`. Without a
``chunk`` (the default) :func:`auto_chunk` picks the largest side that keeps that
estimate within half the job's memory per thread and gives every thread a chunk.

Determinism. Inputs are ordered by their DATE tag, SCENE tag and path, whatever order
they come in (a mean's float sum depends on the order); the warp is chunk-independent;
the reductions are per pixel. So chunk, threads and tile size leave the bytes unchanged.

The package (issue #20): :mod:`._reduce` (statistics, the reduction over time),
:mod:`._sources` (inputs, kernel views, footprints and source windows), :mod:`._blocks`
(a chunk's warp and reduction, the lazy array) and :mod:`._jobs` (job planning, chunk
size, running a job and writing its COGs).
"""

from rasterflow.composite._blocks import composite_array
from rasterflow.composite._jobs import AUTO_CHUNKS, auto_chunk, plan_jobs, run, run_scenes
from rasterflow.composite._reduce import (
    COUNT_NODATA,
    STATISTICS,
    Statistic,
    parse_statistic,
    reduce_stack,
)
from rasterflow.composite._sources import (
    KernelWarp,
    SceneInput,
    Source,
    _kernel_for,  # noqa: F401  # rasterflow.scenes imports these three
    _kernel_window,  # noqa: F401
    _tile_gt,  # noqa: F401
    inspect_scenes,
    inspect_sources,
)

__all__ = [
    "AUTO_CHUNKS",
    "COUNT_NODATA",
    "STATISTICS",
    "KernelWarp",
    "SceneInput",
    "Source",
    "Statistic",
    "auto_chunk",
    "composite_array",
    "inspect_scenes",
    "inspect_sources",
    "parse_statistic",
    "plan_jobs",
    "reduce_stack",
    "run",
    "run_scenes",
]
