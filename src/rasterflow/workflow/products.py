"""The products a plan adds to the composites: the band composite, trends, terrain and
contours, zonal statistics and point samples, each checked against the config."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rasterflow import demo
from rasterflow import io as rf_io
from rasterflow.errors import ConfigError
from rasterflow.workflow.plan import BANDS, Paths


def plan_band_spec(
    config: Mapping[str, Any], indices: Mapping[str, Any], names: Sequence[str]
) -> dict[str, Any] | None:
    """composite.bands and its settings as run_scenes' ``bands``; None when empty.

    Raises ConfigError naming the key: a role scenes.bands lacks, a band composite of
    index rasters (scene_indices: true), a quality score that is no index."""
    from rasterflow import indices as rf_indices
    from rasterflow.band_composite import BandSpec

    ccfg = config["composite"]
    roles = list(ccfg["bands"])
    if not roles:
        return None
    known = set(config["scenes"]["bands"])
    if unknown := [r for r in roles if r not in known]:
        raise ConfigError(
            f"composite.bands: {', '.join(unknown)} not in scenes.bands "
            f"({', '.join(sorted(known))}); list band roles defined there"
        )
    if len(set(roles)) != len(roles):
        raise ConfigError(f"composite.bands: {roles} lists a band twice")
    if config["scene_indices"]:
        raise ConfigError(
            "composite.bands: a band composite reads the scenes' bands, and "
            "scene_indices: true composites index rasters; set scene_indices: false "
            "(the index products are the same bytes) or composite.bands: []"
        )
    if BANDS in names:
        raise ConfigError(
            f"composite.bands: an index is named {BANDS!r}, the band "
            "composite's product name; rename the index"
        )
    spec: dict[str, Any] = {
        "roles": roles,
        "statistic": ccfg["band_statistic"],
        "tolerance": float(ccfg["geomedian"]["tolerance"]),
        "max_iterations": int(ccfg["geomedian"]["max_iterations"]),
    }
    if ccfg["band_statistic"] == "quality":
        qcfg = ccfg["quality"]
        score = qcfg["index"]
        terms = (
            score,
            qcfg["target_day"] is not None,
            qcfg["cloud_distance"],
            qcfg["valid_weight"],
        )
        if not any(terms):
            raise ConfigError(
                "composite.quality.index: band_statistic quality keeps each "
                "pixel's observation with the highest score; name the index, "
                "e.g. quality: {index: NDVI}, or set quality.target_day, "
                "cloud_distance or valid_weight"
            )
        if score:
            try:
                expr = (
                    indices.get(score)
                    or rf_indices.resolve([score], config["custom_indices"], roles=known)[score]
                )
            except ConfigError as exc:
                raise ConfigError(f"composite.quality.index: {exc}") from None
            spec.update(score=score, score_text=expr.text)
        if qcfg["target_day"] is not None:
            spec.update(
                target_day=int(qcfg["target_day"]),
                day_weight=float(qcfg["day_weight"]),
                day_sigma=float(qcfg["day_sigma"]),
            )
        if qcfg["cloud_distance"]:
            spec.update(
                cloud_distance=float(qcfg["cloud_distance"]),
                cloud_weight=float(qcfg["cloud_weight"]),
            )
        if qcfg["valid_weight"]:
            spec.update(valid_weight=float(qcfg["valid_weight"]))
    BandSpec(**{**spec, "roles": tuple(roles)})  # its own checks, before any job
    return spec


def band_roles(spec: Mapping[str, Any] | None) -> list[str]:
    """The scene bands a band composite reads: its bands and its score's."""
    if not spec:
        return []
    from rasterflow import indices as rf_indices

    roles = set(spec["roles"])
    if spec.get("score_text"):
        roles |= rf_indices.parse(spec["score"], spec["score_text"]).roles
    return sorted(roles)


def plan_trend(
    config: Mapping[str, Any],
    composite_indices: Sequence[str],
    spans: Mapping[str, tuple[dt.date, dt.date]],
) -> tuple[list[str], dict[str, float], list[str]]:
    """The indices whose trend the run fits, the periods' times, and warnings.

    An index that is not composited is a config error. Too few periods (or none: an
    area of interest away from the scenes) is a warning and no trend, not an error:
    the same config may plan a subset of the scenes (a dry run of one month, one tile).
    """
    from rasterflow.trend import period_times

    tcfg = config["trend"]
    if not tcfg["enabled"]:
        return [], {}, []
    wanted = list(tcfg["indices"] or composite_indices)
    known = composite_indices or config["composite"]["indices"] or config["indices"]
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ConfigError(
            f"trend.indices: {', '.join(unknown)} not composited (composite.indices: "
            f"{', '.join(known)}); add it to composite.indices or remove it from "
            "trend.indices"
        )
    if len(spans) < tcfg["min_periods"]:
        found = ", ".join(sorted(spans, key=lambda p: spans[p])) or "none"
        warning = (
            f"trend.enabled: no trend is made: trend.min_periods is {tcfg['min_periods']}, "
            f"but the composites fall in {len(spans)} period(s) ({found}); lower "
            "trend.min_periods (at least 2), choose shorter periods (periods.kind), add "
            "scenes, or set trend.enabled: false"
        )
        return [], {}, [warning]
    return wanted, period_times(spans), []


def input_file(
    config: Mapping[str, Any], paths: Paths, section: str, key: str, demo_file: str
) -> str:
    """A vector/raster path from config; the demo's own file when empty in demo mode."""
    path = config[section][key]
    if not path and config["demo"]:
        return f"{paths.demo_root}/{demo_file}"
    if path and not os.path.exists(path):
        raise ConfigError(f"{section}.{key}: {path} not found; fix the path or set it to ''")
    if path and section == "terrain":
        rf_io.check_raster(path, what="terrain.dem", where="terrain.dem")
    if path and section == "zonal":
        # imported here: geopandas and exactextract cost 0.6 s of every DAG build
        from rasterflow.zonal import check_zones

        check_zones(path, layer=config["zonal"]["layer"], id_column=config["zonal"]["id_column"])
    return str(path or "")


def count_points(config: Mapping[str, Any], path: str) -> int:
    """The points of ``path``, checked now, not in a job (:func:`rasterflow.points
    .read_points`); the demo's, which a rule writes after planning, by their number."""
    if not path:
        return 0
    if not config["points"]["file"]:
        return len(demo.POINTS)
    from rasterflow.points import read_points  # geopandas: only when points are set

    return len(
        read_points(path, layer=config["points"]["layer"], id_column=config["points"]["id_column"])
    )


def plan_contours(
    config: Mapping[str, Any],
    paths: Paths,
    dem: str,
    terrain: Sequence[str],
    composite_indices: Sequence[str] = (),
    periods: Sequence[str] = (),
) -> tuple[dict[str, str], dict[str, dict[str, float]], list[str]]:
    """Product -> raster for every contour job (empty unless contours.interval is set),
    product -> its levels (interval, base: contours.intervals overrides the interval per
    name), and warnings. A composited index contours each period's mosaic, as product
    ``<index>-<period>`` (e.g. NDVI-2024-JJA).

    Without a DEM the DEM and terrain products are not contoured: a warning, not an
    error, as terrain.products is then ignored too (a config built on the demo's,
    which sets both, stays valid).
    """
    ccfg = config["contours"]
    if ccfg["interval"] is None:
        return {}, {}, []
    if unknown := sorted(set(ccfg["intervals"]) - set(ccfg["products"])):
        raise ConfigError(
            f"contours.intervals: {', '.join(unknown)} not in contours.products "
            f"({', '.join(ccfg['products'])}); add it there or remove its interval"
        )
    out: dict[str, str] = {}
    options: dict[str, dict[str, float]] = {}
    warnings: list[str] = []
    for product in ccfg["products"]:
        # as the config has them (the rule's params: a changed level reruns the job)
        levels = {
            "interval": ccfg["intervals"].get(product, ccfg["interval"]),
            "base": ccfg["base"],
        }
        if product in composite_indices:
            for p in periods:
                out[f"{product}-{p}"] = paths.mosaic(p, product)
                options[f"{product}-{p}"] = levels
        elif not dem:
            warnings = [
                "contours.interval is set but there is no DEM, so no contours of the "
                "DEM or terrain: set terrain.dem to your DEM, or contours.interval to null"
            ]
        elif product == "dem":
            out[product], options[product] = dem, levels
        elif product in terrain:
            out[product], options[product] = paths.terrain(product), levels
        else:
            raise ConfigError(
                f"contours.products: {product} is not made by this run; name dem, a "
                f"product of terrain.products ({', '.join(terrain) or 'none'}) or an "
                f"index of composite.indices ({', '.join(composite_indices) or 'none'}), "
                "or remove it here"
            )
    return out, options, warnings


def plan_zonal(
    config: Mapping[str, Any],
    paths: Paths,
    zones: str,
    indices: Mapping[str, Any],
    composite_indices: Sequence[str],
    periods: Sequence[str],
    terrain: Sequence[str],
) -> dict[tuple[str, str], str]:
    """(product, period) -> raster for every table the zonal stage writes."""
    if not zones:
        return {}
    zcfg = config["zonal"]
    targets = {}
    if "mosaics" in zcfg["products"]:
        for index in composite_indices:
            for period in periods:
                targets[(index, period)] = paths.mosaic(period, index)
    if "terrain" in zcfg["products"]:
        for product in terrain:
            targets[(product, "static")] = paths.terrain(product)
    for name, path in zcfg["rasters"].items():
        if (name, "static") in targets or name in indices:
            raise ConfigError(f"zonal.rasters: name {name!r} is taken by a product; rename it")
        rf_io.check_raster(path, what=f"zonal.rasters.{name}", where="zonal.rasters")
        targets[(name, "static")] = path
    if not targets:
        raise ConfigError(
            f"zonal.zones: nothing to summarise over {zones}: zonal.products "
            f"({', '.join(zcfg['products']) or 'none'}) makes no raster here; add "
            "zonal.rasters (name: path), a scene sheet for mosaics, or terrain.dem"
        )
    return targets
