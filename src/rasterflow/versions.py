"""Installed software versions: the one look-up, for product provenance and the report.

Products record the versions that determine their bytes (:data:`PRODUCT_SOFTWARE`, in
:func:`rasterflow.io.provenance_tags`); the report lists more (``rasterflow.report``
passes its own names). Both ask the installed distributions' metadata, so a version is
what ``pip list`` shows, never an import side effect; this module imports neither
rasterio nor the packages it names (GDAL's version is asked for only when called).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata

#: Distributions whose versions determine product bytes (besides Python and GDAL). No
#: host names or times: products of the same inputs are the same bytes anywhere.
PRODUCT_SOFTWARE: tuple[str, ...] = ("rasterflow", "numpy", "dask", "xarray", "rasterio")


def software_versions(names: Sequence[str] = PRODUCT_SOFTWARE) -> dict[str, str]:
    """Versions of the distributions ``names`` plus Python and GDAL, by name.

    A distribution that is not installed is ``"not installed"``; rasterflow itself is
    :data:`rasterflow.__version__` (``"0+unknown"`` in a source tree that was never
    installed), the version its own code reports.
    """
    import rasterio

    from rasterflow import __version__

    found = {"python": platform.python_version(), "gdal": rasterio.__gdal_version__}
    for name in names:
        if name == "rasterflow":
            found[name] = __version__
            continue
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
