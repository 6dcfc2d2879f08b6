"""A scene as planning and jobs pass it around: its id, date, band files and mask rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BandFile:
    """Where one band of a scene is and how to turn its numbers into physical values."""

    path: str
    band: int = 1
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None


@dataclass(frozen=True)
class Scene:
    """One acquisition: an id, a date, and a file (and band) for each role it uses."""

    id: str
    date: dt.date
    bands: dict[str, BandFile]
    mask: BandFile | None = None
    valid_classes: tuple[int, ...] = ()
    known_classes: tuple[int, ...] | None = None
    #: what changes when the scene's data does, where file times cannot tell (a STAC
    #: item's ``updated`` and checksums: rasterflow.stac_scenes); "" for a sheet's scenes
    version: str = ""
    #: instead of valid_classes: clear unless any of these bits of the mask is set
    invalid_bits: tuple[int, ...] = ()
    #: pixels around every unclear one masked too (a square of 2 x dilate + 1)
    dilate: int = 0
    #: mask values holding no data (outside the swath): not counted by clear_fraction
    fill_classes: tuple[int, ...] = ()

    def files(self, roles: Iterable[str] | None = None) -> list[str]:
        """Distinct files holding ``roles`` (all roles when None) and the mask."""
        wanted = self.bands if roles is None else {r: self.bands[r] for r in roles}
        paths = [b.path for b in wanted.values()]
        if self.mask is not None:
            paths.append(self.mask.path)
        return sorted(set(paths))

    def subset(self, roles: Iterable[str]) -> Scene:
        """The same scene with only ``roles``: a job's params then change only with them."""
        return Scene(
            self.id,
            self.date,
            {r: self.bands[r] for r in sorted(roles)},
            self.mask,
            self.valid_classes,
            self.known_classes,
            self.version,
            self.invalid_bits,
            self.dilate,
            self.fill_classes,
        )

    def to_params(self) -> dict[str, Any]:
        """Plain, JSON-able dict: Snakemake ``params`` (reruns when it changes)."""
        # field by field, not dataclasses.asdict: its deep copies cost ~35 us a scene,
        # seconds at planning time for 100,000 scenes
        params: dict[str, Any] = {
            "id": self.id,
            "date": self.date.isoformat(),
            "bands": {r: dict(vars(b)) for r, b in self.bands.items()},
            "mask": None if self.mask is None else dict(vars(self.mask)),
            "valid_classes": list(self.valid_classes),
            "known_classes": None if self.known_classes is None else list(self.known_classes),
        }
        # each absent at its default: the jobs of older configs keep the params they had
        if self.version:
            params["version"] = self.version
        if self.invalid_bits:
            params["invalid_bits"] = list(self.invalid_bits)
        if self.dilate:
            params["dilate"] = self.dilate
        if self.fill_classes:
            params["fill_classes"] = list(self.fill_classes)
        return params

    @classmethod
    def from_params(cls, d: Mapping[str, Any]) -> Scene:
        return cls(
            id=d["id"],
            date=dt.date.fromisoformat(d["date"]),
            bands={k: BandFile(**v) for k, v in d["bands"].items()},
            mask=BandFile(**d["mask"]) if d.get("mask") else None,
            valid_classes=tuple(d.get("valid_classes") or ()),
            known_classes=None if d.get("known_classes") is None else tuple(d["known_classes"]),
            version=str(d.get("version", "")),
            invalid_bits=tuple(d.get("invalid_bits") or ()),
            dilate=int(d.get("dilate") or 0),
            fill_classes=tuple(d.get("fill_classes") or ()),
        )
