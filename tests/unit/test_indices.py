"""Index math against NumPy references (and gdal_calc.py, in
tests/integration/test_indices_reference.py); the expression parser's safety."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import dask.array as da
import numpy as np
import pytest
import rasterio
from helpers import DATA, write_raster

from rasterflow import demo, indices
from rasterflow.errors import ExpressionError
from rasterflow.scenes import BandFile, Scene

RNG = np.random.default_rng(42)


def _bands(shape=(64, 48)):
    return {
        r: RNG.uniform(0.0, 0.6, shape).astype(np.float32)
        for r in ("blue", "green", "red", "nir", "swir1", "swir2")
    }


REFERENCE = {
    "NDVI": lambda b: (b["nir"] - b["red"]) / (b["nir"] + b["red"]),
    "NDWI": lambda b: (b["green"] - b["nir"]) / (b["green"] + b["nir"]),
    "NBR": lambda b: (b["nir"] - b["swir2"]) / (b["nir"] + b["swir2"]),
    "NDMI": lambda b: (b["nir"] - b["swir1"]) / (b["nir"] + b["swir1"]),
    "EVI": lambda b: 2.5 * (b["nir"] - b["red"]) / (b["nir"] + 6 * b["red"] - 7.5 * b["blue"] + 1),
    "SAVI": lambda b: 1.5 * (b["nir"] - b["red"]) / (b["nir"] + b["red"] + 0.5),
}


@pytest.mark.parametrize("name", sorted(indices.BUILTIN))
def test_builtin_matches_numpy_formula(name):
    bands = _bands()
    expr = indices.parse(name, indices.BUILTIN[name])
    got = indices.compute_block(expr, bands)
    want = REFERENCE[name]({k: v.astype(np.float64) for k, v in bands.items()})
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert got.dtype == np.float32


def test_custom_expression_with_power_and_unary_minus():
    bands = _bands()
    expr = indices.parse("x", "-(nir - red) ** 2 / (nir + red + 0.5) * 1.5")
    want = -((bands["nir"] - bands["red"]) ** 2) / (bands["nir"] + bands["red"] + 0.5) * 1.5
    np.testing.assert_allclose(indices.compute_block(expr, bands), want, rtol=1e-6)
    assert expr.roles == {"nir", "red"}


def test_zero_denominator_mask_and_nodata_become_nan():
    red = np.array([[0.0, 0.1, 0.2, 0.3]], dtype=np.float32)
    nir = np.array([[0.0, 0.3, 0.4, np.nan]], dtype=np.float32)
    valid = np.array([[True, True, False, True]])
    out = indices.compute_block(
        indices.parse("NDVI", indices.BUILTIN["NDVI"]), {"red": red, "nir": nir}, valid
    )
    assert np.isnan(out[0, 0])  # 0 / 0
    assert out[0, 1] == pytest.approx(0.5)
    assert np.isnan(out[0, 2])  # masked
    assert np.isnan(out[0, 3])  # nodata input


def test_to_reflectance_casts_before_offset_so_uint16_does_not_wrap():
    dn = np.array([0, 500, 1000, 11000, 65534], dtype=np.uint16)
    got = indices.to_reflectance(dn, scale=1e-4, offset=-0.1, nodata=0)
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], [-0.05, 0.0, 1.0, 6.4534], atol=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "nir.real",
        "open('/etc/passwd')",
        "red if nir else 1",
        "[red, nir]",
        "lambda: red",
        "nir > red",
        "nir // red",
        "nir % red",
        "nir ^ red",
        "'red'",
        "True * nir",
        "(nir := 1)",
        "nir; red",
        "",
        "1 + 2",
    ],
)
def test_unsafe_or_invalid_expressions_are_rejected(text):
    with pytest.raises(ExpressionError, match="index 'bad'"):
        indices.parse("bad", text)


def test_rejection_message_says_what_is_allowed():
    with pytest.raises(ExpressionError) as err:
        indices.parse("evil", "__import__('os').system('x')")
    assert "Call" in str(err.value)
    assert "band names, numbers, + - * / ** and parentheses" in str(err.value)


def test_resolve_unknown_index_and_missing_band():
    roles = {"red", "nir"}
    with pytest.raises(ExpressionError, match="unknown index 'NVDI'.*NDVI"):
        indices.resolve(["NVDI"], {}, roles=roles)
    with pytest.raises(ExpressionError, match="needs band.*swir2"):
        indices.resolve(["NBR"], {}, roles=roles)
    with pytest.raises(ExpressionError, match="built-in index name"):
        indices.resolve(["NDVI"], {"NDVI": "nir"}, roles=roles)
    got = indices.resolve(["NDVI", "mine"], {"mine": "nir * 2"}, roles=roles)
    assert list(got) == ["NDVI", "mine"] and got["mine"].roles == {"nir"}


def _scene_on_disk(tmp_path, *, chunky_mask: bool):
    """A two-band uint16 scene plus a coarser mask, with nodata and zero sums."""
    shape = (96, 80)
    red = RNG.integers(1, 6000, shape).astype(np.uint16)
    nir = RNG.integers(1, 9000, shape).astype(np.uint16)
    red[:5, :] = 0  # nodata rows
    red[10, 10] = nir[10, 10] = 1000  # reflectance 0 + 0 -> zero denominator
    scl = RNG.choice(np.array([3, 4, 5, 8, 9], dtype=np.uint8), (48, 40))
    write_raster(tmp_path / "scene.tif", np.stack([red, nir]), nodata=0)
    write_raster(tmp_path / "scl.tif", scl, res=20.0)
    bands = {
        "red": BandFile(str(tmp_path / "scene.tif"), 1, 1e-4, -0.1, 0.0),
        "nir": BandFile(str(tmp_path / "scene.tif"), 2, 1e-4, -0.1, 0.0),
    }
    scene = Scene(
        "s1",
        __import__("datetime").date(2024, 6, 1),
        bands,
        BandFile(str(tmp_path / "scl.tif")),
        valid_classes=(4, 5),
        known_classes=(3, 4, 5, 8, 9),
    )
    return scene, red, nir, scl


def test_dask_index_equals_numpy_reference_with_mask_at_other_resolution(tmp_path):
    scene, red, nir, scl = _scene_on_disk(tmp_path, chunky_mask=True)
    expr = indices.parse("NDVI", indices.BUILTIN["NDVI"])
    lazy, geobox = indices.index_array(scene, expr, chunk=256)
    assert isinstance(lazy, da.Array)
    got = lazy.compute(scheduler="threads")

    r = red.astype(np.float64) * 1e-4 - 0.1
    n = nir.astype(np.float64) * 1e-4 - 0.1
    with np.errstate(divide="ignore", invalid="ignore"):
        want = (n - r) / (n + r)
    mask10 = np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1)  # nearest 20 m -> 10 m
    want[(red == 0) | (nir == 0) | ~np.isin(mask10, [4, 5]) | ~np.isfinite(want)] = np.nan
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.isnan(got[10, 10])
    assert geobox.shape == red.shape


def test_dask_and_numpy_paths_agree_for_any_chunking(tmp_path):
    scene, *_ = _scene_on_disk(tmp_path, chunky_mask=False)
    expr = indices.parse("SAVI", indices.BUILTIN["SAVI"])
    a = indices.index_array(scene, expr, chunk=256)[0].compute(scheduler="sync")
    b = indices.index_array(scene, expr, chunk=512)[0].rechunk((17, 23)).compute()
    np.testing.assert_array_equal(a, b)


def test_unknown_mask_class_is_an_error_naming_the_file(tmp_path):
    scene, *_ = _scene_on_disk(tmp_path, chunky_mask=False)
    scene = Scene(scene.id, scene.date, scene.bands, scene.mask, (4,), (4, 5))
    lazy, _ = indices.index_array(scene, indices.parse("NDVI", indices.BUILTIN["NDVI"]))
    with pytest.raises(Exception, match=r"scl.tif: class value\(s\) 3, 8, 9 are not among"):
        lazy.compute(scheduler="sync")


def _plain_block(expr, bands, valid=None):
    """compute_block as NumPy's operators give it, one temporary per operation."""
    wide = {k: np.asarray(v, dtype=np.float64) for k, v in bands.items()}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = np.asarray(expr.evaluate(wide), dtype=np.float32)
    bad = ~np.isfinite(result) if valid is None else ~np.isfinite(result) | ~valid
    result[bad] = np.nan
    return result


@pytest.mark.parametrize(
    "text",
    [
        *indices.BUILTIN.values(),
        "nir",
        "-nir",
        "2 * 3 * nir - 1",
        "-(nir - red) ** 2 / (nir + red + 0.5) * 1.5",
        "nir ** 0.5 - red ** 2 + (nir - red) ** -1",
        "1 / (nir - nir)",
    ],
)
def test_in_place_evaluation_gives_the_same_bits_and_leaves_bands_alone(text):
    bands = {k: v.astype(np.float64) for k, v in _bands((40, 30)).items()}
    bands["red"][0, :4] = [0.0, np.nan, -0.2, 0.3]
    bands["nir"][0, :4] = [0.0, 0.5, 0.2, np.nan]
    before = {k: v.copy() for k, v in bands.items()}
    valid = RNG.random((40, 30)) > 0.2
    expr = indices.parse("x", text)
    got = indices.compute_block(expr, bands, valid)
    want = _plain_block(expr, bands, valid)
    assert got.dtype == np.float32 and got.shape == (40, 30)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    for role, values in bands.items():
        np.testing.assert_array_equal(values, before[role])
    # one NaN bit pattern for nodata, whatever produced it (0/0 gives a negative NaN)
    nan_bits = {int(b) for b in got.view(np.uint32)[np.isnan(got)]}
    assert nan_bits <= {int(np.float32(np.nan).view(np.uint32))} and nan_bits


def test_strips_give_the_same_bits_as_one_pass(monkeypatch):
    shape = (37, 29)
    red = RNG.integers(0, 6000, shape).astype(np.uint16)
    nir = RNG.integers(0, 9000, shape).astype(np.uint16)
    red[3, :] = 0
    valid = RNG.random(shape) > 0.3
    expr = indices.parse("EVI", indices.BUILTIN["EVI"])
    spec = BandFile("x.tif", 1, 1e-4, -0.1, 0.0)
    kwargs = {
        "exprs": (expr,),
        "roles": ("nir", "red", "blue"),
        "specs": (spec,) * 3,
        "has_mask": True,
    }
    whole = indices.compute_block(
        expr,
        {
            r: indices.to_reflectance(b, scale=1e-4, offset=-0.1, nodata=0.0)
            for r, b in (("nir", nir), ("red", red), ("blue", red))
        },
        valid,
    )
    for strip_pixels in (29 * 5, 100, 1, 10**6):  # strips of 5 rows + a rest, 3, 1, one
        monkeypatch.setattr(indices, "STRIP_PIXELS", strip_pixels)
        got = indices._index_block(nir, red, red, valid, **kwargs)[0]
        np.testing.assert_array_equal(got.view(np.uint32), whole.view(np.uint32))


def _numpy_index(expr, blocks, specs, valid):
    """The NumPy path of _index_block: to_reflectance per band, then compute_block."""
    bands = {
        r: indices.to_reflectance(b, scale=s.scale, offset=s.offset, nodata=s.nodata)
        for r, b, s in zip(("nir", "red"), blocks, specs, strict=True)
    }
    return indices.compute_block(expr, bands, valid)


@pytest.mark.parametrize(
    ("nir_type", "red_type", "nodata"),
    [
        ("uint16", "uint16", 0.0),  # Sentinel-2 digital numbers
        ("uint16", "float32", 0.0),  # a 20 m band warped to float32 (NaN beside nodata 0)
        ("float32", "float32", float("nan")),
        ("int16", "uint8", None),
        ("float64", "int32", -9999.0),
        ("float32", "uint16", 0.1),  # float32 compares with float32(0.1), as NumPy does
    ],
)
@pytest.mark.parametrize("text", ["(nir - red) / (nir + red)", "(nir - red) / (red + nir)"])
@pytest.mark.parametrize("masked", [True, False])
def test_the_compiled_normalized_difference_gives_numpy_s_bits(
    nir_type, red_type, nodata, text, masked
):
    shape = (33, 47)
    blocks = []
    for dtype in (nir_type, red_type):
        top = 12000 if np.dtype(dtype).kind == "f" else min(12000, np.iinfo(dtype).max)
        values = RNG.integers(0, top, shape).astype(dtype)
        if np.dtype(dtype).kind == "f":
            values = (values + RNG.random(shape)).astype(dtype)
            values[RNG.random(shape) < 0.05] = np.nan
            values[0, :3] = np.float32(0.1)  # a nodata of 0.1, as float32 holds it
        values[RNG.random(shape) < 0.05] = 0
        blocks.append(values)
    blocks[0][2, :5] = blocks[1][2, :5] = 100  # both reflectance 0: 0 / 0 is nodata
    blocks[0][3, 0] = 0  # nodata
    # and red as Landsat's digital numbers
    specs = (BandFile("n.tif", 1, 1e-3, -0.1, nodata), BandFile("r.tif", 1, 1e-3, -0.1, nodata))
    landsat = (specs[0], BandFile("r.tif", 1, 2.75e-5, -0.2, nodata))
    valid = RNG.random(shape) > 0.2 if masked else None
    expr = indices.parse("ND", text)
    assert indices.normalized_difference(expr) == ("nir", "red")
    for band_specs in (specs, landsat):
        # through the kernel, not NumPy's fallback
        by_role = {"nir": (blocks[0], band_specs[0]), "red": (blocks[1], band_specs[1])}
        assert indices._compiled_index(expr, by_role, valid, np.empty(shape, np.float32))
        got = indices._index_block(
            *blocks,
            *([valid] if masked else []),
            exprs=(expr,),
            roles=("nir", "red"),
            specs=band_specs,
            has_mask=masked,
        )[0]
        want = _numpy_index(expr, blocks, band_specs, valid)
        assert np.isfinite(want).mean() > 0.5
        assert np.isnan(want).any() or band_specs is landsat  # 0 / 0 at least
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize(
    "text",
    [
        "(nir - red) / (nir - red)",
        "(nir - nir) / (nir + nir)",
        "(nir + red) / (nir - red)",
        "(nir - red) / (nir + red + 0)",
        "-(nir - red) / (nir + red)",
        "nir / red",
    ],
)
def test_other_expressions_are_not_taken_for_a_normalized_difference(text):
    assert indices.normalized_difference(indices.parse("x", text)) is None


def test_a_block_of_several_indices_is_each_one_s_numpy_bits():
    """NDVI and NBR by the kernel, EVI and SAVI by NumPy, in one block."""
    shape = (40, 31)
    roles = ("blue", "nir", "red", "swir2")
    blocks = [RNG.integers(0, 12000, shape).astype(np.uint16) for _ in roles]
    blocks[3] = blocks[3].astype(np.float32)
    blocks[3][RNG.random(shape) < 0.1] = np.nan
    for b in blocks:
        b[RNG.random(shape) < 0.05] = 0
    specs = tuple(BandFile(f"{r}.tif", 1, 1e-4, -0.1, 0.0) for r in roles)
    valid = RNG.random(shape) > 0.2
    exprs = tuple(indices.parse(n, indices.BUILTIN[n]) for n in ("NDVI", "EVI", "NBR", "SAVI"))
    got = indices._index_block(*blocks, valid, exprs=exprs, roles=roles, specs=specs, has_mask=True)
    bands = {
        r: indices.to_reflectance(b, scale=s.scale, offset=s.offset, nodata=s.nodata)
        for r, b, s in zip(roles, blocks, specs, strict=True)
    }
    for i, expr in enumerate(exprs):
        want = indices.compute_block(expr, {r: bands[r] for r in expr.roles}, valid)
        np.testing.assert_array_equal(got[i].view(np.uint32), want.view(np.uint32), expr.name)


def test_all_indices_of_a_scene_in_one_pass_are_the_bytes_of_one_job_each(tmp_path):
    """One job per scene (run_all) decodes each band once and writes what one job per
    index wrote, byte for byte (tags included)."""
    src = DATA / "rgbn.tif"
    bands = {
        "red": BandFile(str(src), 1),
        "green": BandFile(str(src), 2),
        "nir": BandFile(str(src), 4),
    }
    scene = Scene("rgbn", __import__("datetime").date(2020, 1, 1), bands)
    exprs = [indices.parse(n, indices.BUILTIN[n]) for n in ("NDVI", "NDWI")]
    together = [tmp_path / f"all-{e.name}.tif" for e in exprs]
    indices.run_all(scene=scene, exprs=exprs, outputs=[str(p) for p in together], chunk=256)
    for expr, both in zip(exprs, together, strict=True):
        alone = tmp_path / f"one-{expr.name}.tif"
        indices.run(scene=scene.subset(expr.roles), expr=expr, output=str(alone), chunk=256)
        assert both.read_bytes() == alone.read_bytes(), expr.name
    with pytest.raises(ValueError, match="2 indices but 1 outputs"):
        indices.run_all(scene=scene, exprs=exprs, outputs=[str(together[0])])


def test_a_batch_writes_the_same_bytes_as_single_jobs_and_a_manifest(tmp_path):
    rng = np.random.default_rng(1)
    scenes = []
    for i in range(2):
        path = write_raster(
            tmp_path / f"in{i}.tif", rng.integers(1, 5000, (2, 40, 50)).astype(np.uint16), nodata=0
        )
        scenes.append(
            Scene(
                f"s{i}",
                dt.date(2024, 6, i + 1),
                {
                    "red": BandFile(str(path), 1, 1e-4, -0.1, 0.0),
                    "nir": BandFile(str(path), 2, 1e-4, -0.1, 0.0),
                },
            )
        )
    names = ("NDVI", "EVI2")
    expressions = {
        "NDVI": indices.BUILTIN["NDVI"],
        "EVI2": "2.5 * (nir - red) / (nir + 2.4 * red + 1)",
    }
    singles = []
    for sc in scenes:
        for name in names:
            out = tmp_path / "single" / sc.id / f"{name}.tif"
            out.parent.mkdir(parents=True, exist_ok=True)
            indices.run(
                scene=sc,
                expr=indices.parse(name, expressions[name]),
                output=str(out),
                chunk=256,
                resampling="bilinear",
            )
            singles.append(out)
    outputs = {
        sc.id: [str(tmp_path / "batch" / sc.id / f"{n}.tif") for n in names] for sc in scenes
    }
    manifest = tmp_path / "b00000.json"
    indices.run_batch(
        scenes=[sc.to_params() for sc in scenes],
        expressions=expressions,
        outputs=outputs,
        manifest=str(manifest),
        chunk=256,
        resampling="bilinear",
        threads=1,
    )

    def digest(p):
        return hashlib.sha256(open(p, "rb").read()).hexdigest()

    flat = [p for sc in scenes for p in outputs[sc.id]]
    assert [digest(p) for p in flat] == [digest(p) for p in singles]
    assert json.loads(manifest.read_text()) == {
        f"{sc.id}/{n}": {"path": out, "bytes": os.path.getsize(out)}
        for sc in scenes
        for n, out in zip(names, outputs[sc.id], strict=True)
    }


# --- checked at the dry run: what would fail every index job, or give only nodata ----


def _checked(text: str) -> None:
    indices.resolve(["x"], {"x": text}, roles={"nir", "red"})


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("nir * 10 ** 400", "10 ** 400"),
        ("nir ** 9 ** 9 ** 9", "9 ** 9 ** 9"),  # a huge exponent: never a Python big int
        ("nir * " + "9" * 400, "9" * 57 + "..."),  # an int literal beyond float64
    ],
)
def test_a_constant_beyond_float64_is_refused_naming_it(text, part):
    with pytest.raises(ExpressionError) as info:
        _checked(text)
    msg = str(info.value)
    assert msg.startswith("custom_indices.x: ")
    assert (
        f"cannot be computed: {part} overflows in float64, the type indices are computed "
        "in (at most about 1.8e308); use smaller numbers" in msg
    )


def test_the_overflow_is_what_the_job_would_raise():
    expr = indices.parse("x", "nir * 10 ** 400")
    with pytest.raises(OverflowError):
        indices.compute_block(expr, {"nir": np.ones((2, 2))})


def test_an_expression_without_any_finite_value_is_refused():
    with pytest.raises(ExpressionError) as info:
        _checked("(nir - red) / (red - red)")
    assert str(info.value) == (
        "custom_indices.x: '(nir - red) / (red - red)' is not a finite number for any test "
        "pixel (e.g. nir=0.05, red=0.66), so every pixel would be nodata; check the formula "
        "(a division by zero, a root of a negative number, a number beyond float32)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "(2 * nir + 1 - ((2 * nir + 1) ** 2 - 8 * (nir - red)) ** 0.5) / 2",  # MSAVI
        "(nir - 1000) ** 0.5",  # NaN for reflectances, finite for digital numbers (scale 1)
        "nir ** 400",  # underflows to 0 for reflectances: finite
        " + ".join(["nir"] * 32),
    ],
)
def test_real_expressions_pass(text):
    _checked(text)


def test_builtin_indices_pass_the_checks():
    for name, text in indices.BUILTIN.items():
        indices.check(indices.parse(name, text), key=name)


def test_a_long_chain_is_refused_by_depth_with_how_to_group_it():
    with pytest.raises(ExpressionError) as info:
        _checked(" + ".join(["nir"] * 33))
    assert str(info.value) == (
        "custom_indices.x: the expression nests 33 operations deep (at most 32); a chain "
        "a + b + c + ... nests one level per term: group it, e.g. (a + b) + (c + d)"
    )


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        (
            500,
            (
                "custom_indices.x: the expression has 999 parts (numbers, bands and operations; "
                "at most 200); an index is a short formula over band names"
            ),
        ),
        (
            3000,
            (
                "custom_indices.x: the expression has 17997 characters (at most 4000); an index "
                "is a short formula over band names"
            ),
        ),
    ],
)
def test_a_huge_expression_is_refused_before_dask_or_the_parser_break(terms, message):
    # 500 terms: Dask could not pickle the tree; 3000: RecursionError in ast.parse
    with pytest.raises(ExpressionError) as info:
        _checked(" + ".join(["nir"] * terms))
    assert str(info.value) == message


def test_a_balanced_expression_over_the_size_limit_is_refused():
    text = "nir"
    while text.count("nir") < 128:
        text = f"({text} + {text})"
    with pytest.raises(ExpressionError, match=r"has 255 parts .* at most 200"):
        _checked(text)


@pytest.fixture(scope="module")
def demo_scene(demo_data):
    """A demo scene as the shipped config reads it: 10 m nir, 20 m swir2 and SCL mask."""
    import yaml
    from helpers import REPO

    from rasterflow.scenes import load_scenes

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["scenes"]
    scenes = load_scenes(demo_data / "scenes.csv", bands=cfg["bands"], mask=cfg["mask"])
    return next(s for s in scenes.values() if s.bands["swir2"].path != s.bands["nir"].path)


def test_mixed_resolution_index_is_chunk_independent_and_a_whole_raster_gdal_resample(demo_scene):
    """NBR from a 10 m nir and a 20 m swir2 (bilinear onto 10 m), masked by a 20 m SCL
    (nearest): every scenes.chunk from 256 to the whole raster gives the same bits, and
    those are the formula over GDAL's resample of each whole raster (issue #17: odc-geo's
    chunked reproject gave seams of up to 0.24 NBR along its chunk edges)."""
    from rasterio.warp import Resampling, reproject

    scene = demo_scene
    expr = indices.parse("NBR", indices.BUILTIN["NBR"])
    runs = {
        chunk: indices.index_array(scene, expr, chunk=chunk)[0].compute(scheduler="sync")
        for chunk in (256, 100, 4096)
    }
    for chunk, got in runs.items():
        np.testing.assert_array_equal(got, runs[4096], err_msg=f"chunk {chunk}")
    with rasterio.open(scene.bands["nir"].path) as src:
        nir = src.read(scene.bands["nir"].band)
        box = {"dst_transform": src.transform, "dst_crs": src.crs}
    assert scene.mask is not None
    with rasterio.open(scene.bands["swir2"].path) as src:
        assert src.res[0] == 2 * box["dst_transform"].a  # really 20 m onto 10 m
        swir2 = np.full(nir.shape, np.nan, dtype=np.float32)
        reproject(
            rasterio.band(src, scene.bands["swir2"].band),
            swir2,
            src_nodata=0,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
            **box,
        )
    with rasterio.open(scene.mask.path) as src:
        scl = np.full(nir.shape, -1, dtype=np.int32)
        reproject(
            rasterio.band(src, scene.mask.band),
            scl,
            resampling=Resampling.nearest,
            dst_nodata=-1,
            **box,
        )
    n = np.where(nir == 0, np.nan, nir.astype(np.float64) * 1e-4 - 0.1)
    s = swir2.astype(np.float64) * 1e-4 - 0.1
    with np.errstate(divide="ignore", invalid="ignore"):
        want = ((n - s) / (n + s)).astype(np.float32)
    want[~np.isin(scl, demo.SCL_VALID) | ~np.isfinite(want)] = np.nan
    np.testing.assert_array_equal(runs[4096], want)
    assert np.isfinite(want).mean() > 0.3 and np.isnan(want).any()
