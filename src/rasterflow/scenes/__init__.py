"""Scene inputs: the scene sheet, band roles, and reading a scene onto one grid.

The package, by concern: :mod:`.sheet` (the scene sheet CSV: decoding, dates, ids),
:mod:`.model` (:class:`Scene` and :class:`BandFile`, as planning and jobs pass them),
:mod:`.resolve` (each role's file from the sheet and the ``scenes`` config; no file
shared by two scenes), :mod:`.headers` (headers, bands and extents checked before any
pixel is computed) and :mod:`.read` (job time: a scene's bands and mask in a window of
its grid). The names below are the public face.
"""

from rasterflow.scenes.headers import check_headers, require_data, scene_grid
from rasterflow.scenes.model import BandFile, Scene
from rasterflow.scenes.read import clear_fraction, read_window, unclear_distance
from rasterflow.scenes.resolve import (
    Listing,
    check_distinct_files,
    filesystem_listing,
    load_scenes,
    mask_rule,
    planned_listing,
    real_paths,
    recording_listing,
    resolve_scene,
    shared_file,
)
from rasterflow.scenes.sheet import (
    DATE,
    FIRST_DATE,
    LAST_DATE,
    SCENE_ID,
    SCENE_ID_MAX,
    SHEET_COLUMNS,
    SheetRow,
    check_no_braces,
    decode_sheet,
    parse_date,
    periodic_tail,
    read_sheet,
)

__all__ = [
    "DATE",
    "FIRST_DATE",
    "LAST_DATE",
    "SCENE_ID",
    "SCENE_ID_MAX",
    "SHEET_COLUMNS",
    "BandFile",
    "Listing",
    "Scene",
    "SheetRow",
    "check_distinct_files",
    "clear_fraction",
    "check_headers",
    "check_no_braces",
    "decode_sheet",
    "filesystem_listing",
    "load_scenes",
    "mask_rule",
    "parse_date",
    "periodic_tail",
    "planned_listing",
    "read_sheet",
    "read_window",
    "real_paths",
    "recording_listing",
    "unclear_distance",
    "require_data",
    "resolve_scene",
    "scene_grid",
    "shared_file",
]
