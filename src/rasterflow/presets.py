"""Sensor presets (``scenes.preset``) and products' own scaling metadata.

A preset fills ``scenes.bands`` and ``scenes.mask`` for a common product, so that a
user names the product instead of typing ten band entries; a role the user lists
keeps the user's entry. Band roles follow STAC's ``eo:common_name`` (blue, green,
red, nir, swir16 as swir1, swir22 as swir2, rededge...), so one index formula works for
every sensor, and every preset gives surface reflectance in the same units (0..1):

* ``sentinel2-l2a``: SAFE folders (``*_B04_10m.jp2``...), DN x 0.0001 - 0.1 (baseline
  04.00 and later), SCL classes 4, 5, 6, 7, 11 clear; the scale and offset of each
  scene are then read from its ``MTD_MSIL2A.xml`` (:func:`safe_scaling`), so that
  scenes before and after baseline 04.00 (January 2022, ``BOA_ADD_OFFSET`` -1000)
  give the same reflectance;
* ``landsat8-9-c2-l2`` and ``landsat4-7-c2-l2``: Collection 2 Level-2 folders
  (``*_SR_B4.TIF``...), DN x 0.0000275 - 0.2, ``QA_PIXEL`` bits 0-4 (fill, dilated
  cloud, cirrus, cloud, cloud shadow) unclear.

Cross-sensor band adjustment (Landsat to Sentinel-2 spectral response) is not made:
the reflectances are in the same units, not harmonised bands.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from rasterflow.errors import InputDataError

_S2_OFFSET = {"scale": 0.0001, "offset": -0.1, "nodata": 0}
_LANDSAT = {"scale": 0.0000275, "offset": -0.2, "nodata": 0}
# QA_PIXEL 1 is fill alone (outside the scene): USGS's nodata value of the band
_QA_PIXEL = {"pattern": "*_QA_PIXEL.TIF", "invalid_bits": [0, 1, 2, 3, 4], "fill": [1]}

PRESETS: dict[str, dict[str, Any]] = {
    "sentinel2-l2a": {
        "bands": {
            role: {"pattern": f"*_{band}_{res}m.jp2", **_S2_OFFSET}
            for role, band, res in [
                ("blue", "B02", 10),
                ("green", "B03", 10),
                ("red", "B04", 10),
                ("nir", "B08", 10),
                ("rededge1", "B05", 20),
                ("rededge2", "B06", 20),
                ("rededge3", "B07", 20),
                ("nir08", "B8A", 20),
                ("swir1", "B11", 20),
                ("swir2", "B12", 20),
            ]
        },
        "mask": {"pattern": "*_SCL_20m.jp2", "valid": [4, 5, 6, 7, 11], "fill": [0]},
    },
    "landsat8-9-c2-l2": {
        "bands": {
            role: {"pattern": f"*_SR_{band}.TIF", **_LANDSAT}
            for role, band in [
                ("coastal", "B1"),
                ("blue", "B2"),
                ("green", "B3"),
                ("red", "B4"),
                ("nir", "B5"),
                ("swir1", "B6"),
                ("swir2", "B7"),
            ]
        },
        "mask": _QA_PIXEL,
    },
    "landsat4-7-c2-l2": {
        "bands": {
            role: {"pattern": f"*_SR_{band}.TIF", **_LANDSAT}
            for role, band in [
                ("blue", "B1"),
                ("green", "B2"),
                ("red", "B3"),
                ("nir", "B4"),
                ("swir1", "B5"),
                ("swir2", "B7"),
            ]
        },
        "mask": _QA_PIXEL,
    },
}


def apply_preset(scenes: dict[str, Any]) -> None:
    """Fill ``scenes`` (the validated ``scenes`` config section) from its preset, in
    place: the preset's bands where the user lists none of that role, its mask where
    the user gives none."""
    name = scenes.get("preset") or ""
    if not name:
        return
    preset = PRESETS[name]  # the schema's enum lists them
    bands = {role: {"band": None, "asset": None, **spec} for role, spec in preset["bands"].items()}
    bands.update(scenes.get("bands") or {})
    scenes["bands"] = bands
    if scenes.get("mask") is None:
        scenes["mask"] = dict(preset["mask"])


#: Sentinel-2 band name in a file name (T33UVP_20240601T100031_B04_10m.jp2) -> its
#: band_id in MTD_MSIL2A.xml
_S2_BANDS = [
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
]
_S2_FILE = re.compile(r"_(B\d\d|B8A)_\d\dm\.")


#: a Sentinel-2 L2A SAFE's product metadata, at the top of its folder
SAFE_METADATA = "MTD_MSIL2A.xml"


def metadata_files(folders: Iterable[str]) -> list[str]:
    """The product metadata files :func:`safe_scaling` reads in these folders."""
    return [m for d in folders if os.path.isfile(m := os.path.join(d, SAFE_METADATA))]


def safe_scaling(folder: str) -> dict[str, tuple[float, float]] | None:
    """Band name (B02...) -> (scale, offset) of a Sentinel-2 L2A SAFE ``folder`` from its
    ``MTD_MSIL2A.xml`` (1 / BOA_QUANTIFICATION_VALUE, BOA_ADD_OFFSET / it; no offset
    before baseline 04.00); None when the folder has no such file."""
    path = os.path.join(folder, SAFE_METADATA)
    if not os.path.isfile(path):
        return None
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InputDataError(
            f"{path}: not readable XML ({exc}); restore the SAFE's metadata file"
        ) from None
    quant = next((e.text for e in root.iter() if e.tag.endswith("BOA_QUANTIFICATION_VALUE")), None)
    if quant is None:
        raise InputDataError(
            f"{path}: no BOA_QUANTIFICATION_VALUE; is it a Level-2A product's metadata?"
        )
    q = float(quant)
    offsets = {
        int(e.get("band_id", -1)): float(e.text or 0)
        for e in root.iter()
        if e.tag.endswith("BOA_ADD_OFFSET")
    }
    return {band: (1.0 / q, offsets.get(i, 0.0) / q) for i, band in enumerate(_S2_BANDS)}


def s2_band_of(path: str) -> str | None:
    """``B04`` for a Sentinel-2 band file name, else None."""
    m = _S2_FILE.search(os.path.basename(path))
    return m.group(1) if m else None


def scaled_by_product(bands: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """``bands`` (role -> BandFile) with each Sentinel-2 band file's scale and offset as
    the SAFE ``folder``'s metadata states them; unchanged without such metadata."""
    from dataclasses import replace

    scaling = safe_scaling(folder)
    if scaling is None:
        return dict(bands)
    out = {}
    for role, bf in bands.items():
        band = s2_band_of(bf.path)
        out[role] = (
            bf if band is None else replace(bf, scale=scaling[band][0], offset=scaling[band][1])
        )
    return out
