"""Points to sample and how: the points file (:func:`read_points`, :class:`PointSet`),
the sampling options (:class:`SampleSpec`) and their result (:class:`Samples`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rasterflow.errors import InputDataError
from rasterflow.ids import check_id_column, some

if TYPE_CHECKING:
    import geopandas as gpd

#: Side in pixels of the blocks points are grouped by: rasterflow's COG tile size, and
#: a window small enough that a lone point does not read much more than its block.
BLOCK = 512
#: Columns of the long table after the points' id and attributes.
COLUMNS = ("kind", "source", "date", "product", "value", "valid")
METHODS = ("nearest", "bilinear")

#: reads window (x0, y0, width, height) of a raster: (products, height, width) float
Reader = Callable[[tuple[int, int, int, int]], np.ndarray]


@dataclass(frozen=True)
class SampleSpec:
    """How a value is taken at a point: ``method`` and the ``window`` mean's side."""

    method: str = "nearest"
    window: int = 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"points.method: {self.method!r}; use one of {', '.join(METHODS)}")
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"points.window: {self.window}; use an odd number from 1")
        if self.window > 1 and self.method != "nearest":
            raise ValueError("points.window above 1 needs points.method: nearest")


@dataclass(frozen=True)
class Samples:
    """Values of ``products`` raster layers at ``n`` points."""

    values: np.ndarray  # (products, n) float64, NaN where not valid
    inside: np.ndarray  # (n,) bool: the point lies on the raster

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.values)


# --------------------------------------------------------------------------- points


def read_points(
    path: str | os.PathLike[str], *, layer: str | int | None = None, id_column: str = "point_id"
) -> gpd.GeoDataFrame:
    """The points layer at ``path`` (any format OGR reads, or GeoParquet; any CRS), in
    file order, checked: a CRS, a unique id per point, no attribute named like a column
    of the long table (:data:`COLUMNS`), point geometries.

    Whole-number float ids (a Shapefile's ``Real``) become integers, as zone ids do
    (:func:`rasterflow.zonal.zone_ids`). Raises InputDataError naming the file, the key
    and how to fix it.
    """
    import geopandas as gpd

    from rasterflow.io import vector_layer
    from rasterflow.zonal import zone_ids

    p = Path(path)
    if not p.exists():
        raise InputDataError(f"points.file: {p} not found; fix the path or set it to ''")
    try:
        if p.suffix.lower() in {".parquet", ".geoparquet"}:
            points = gpd.read_parquet(p)
        else:
            points = gpd.read_file(
                p, layer=vector_layer(p, layer, key="points.layer"), engine="pyogrio"
            )
    except InputDataError:
        raise
    except Exception as exc:  # noqa: BLE001 (pyogrio/pyarrow raise many types: unreadable)
        raise InputDataError(
            f"points.file: cannot read {p} ({exc}); use a GeoPackage, GeoJSON, Shapefile "
            "or GeoParquet file (and points.layer for a file of several layers)"
        ) from None
    if points.crs is None:
        raise InputDataError(
            f"points.file: {p} has no CRS; assign one, e.g. "
            f"ogr2ogr -a_srs EPSG:4326 fixed.gpkg '{p}'"
        )
    check_id_column(
        points,
        id_column,
        source=str(p),
        what="points.id_column",
        key="points.id_column",
        noun="point",
    )
    ids = points[id_column]
    clash = [
        str(c)
        for c in points.columns
        if c in COLUMNS and c not in (id_column, points.geometry.name)
    ]
    if clash:
        raise InputDataError(
            f"points.file: {p} has column(s) {', '.join(clash)}, which the long table "
            f"uses itself ({', '.join(COLUMNS)}); rename them, e.g. ogr2ogr -sql "
            f'"SELECT {clash[0]} AS {clash[0]}_ ..."'
        )
    geoms = points.geometry
    bad = geoms.isna() | geoms.is_empty | (geoms.geom_type != "Point")
    if bad.any():
        kinds = sorted({str(t) for t in geoms[bad].geom_type.fillna("none")})
        raise InputDataError(
            f"points.file: {int(bad.sum())} feature(s) of {p} are not points "
            f"({', '.join(kinds)}; ids {some(ids[bad].tolist())}); give each a point "
            "geometry (for polygons use zonal statistics, or their centroids: "
            "ogr2ogr -dialect sqlite -sql 'SELECT *, ST_Centroid(geometry) ...')"
        )
    points = points.reset_index(drop=True)
    points[id_column] = zone_ids(points[id_column])
    return points


@dataclass(frozen=True)
class PointSet:
    """Point coordinates in their CRS, projected on demand into each raster's CRS."""

    x: np.ndarray
    y: np.ndarray
    crs: str  # WKT
    #: CRS WKT -> (x, y) projected: the scenes of a job share a few CRSs
    _projected: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, points: gpd.GeoDataFrame) -> PointSet:
        return cls(
            x=points.geometry.x.to_numpy(np.float64),
            y=points.geometry.y.to_numpy(np.float64),
            crs=points.crs.to_wkt(),
        )

    def __len__(self) -> int:
        return len(self.x)

    def to_crs(self, crs: Any) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in ``crs`` (anything pyproj reads); inf where PROJ cannot project."""
        from pyproj import CRS, Transformer

        wkt = crs if isinstance(crs, str) else str(crs.to_wkt())
        if wkt not in self._projected:
            target, source = CRS.from_user_input(wkt), CRS.from_wkt(self.crs)
            if source == target:
                self._projected[wkt] = self.x, self.y
            else:
                t = Transformer.from_crs(source, target, always_xy=True)
                x, y = t.transform(self.x, self.y, errcheck=False)
                self._projected[wkt] = (
                    np.asarray(x, dtype=np.float64),
                    np.asarray(y, dtype=np.float64),
                )
        return self._projected[wkt]
