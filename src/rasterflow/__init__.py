"""rasterflow: parallel geospatial raster analysis as a Snakemake workflow.

The package holds the logic; the Snakemake rules and scripts only wire files to it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rasterflow")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
