"""Spectral indices: built-in formulas and safe user expressions over band roles.

Expressions are parsed with :mod:`ast` and only numbers, band names, ``+ - * / **``,
unary minus and parentheses are accepted; nothing is ever passed to ``eval``. Pixels
that are masked, nodata in any band used, or whose result is not finite (a zero
denominator) become NaN, the products' nodata value.
"""

from __future__ import annotations

import ast
import json
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rasterflow.atomic import write_atomic
from rasterflow.errors import ExpressionError

#: Built-in indices, over surface reflectance (0..1) in the roles named here.
BUILTIN: dict[str, str] = {
    "NDVI": "(nir - red) / (nir + red)",
    # McFeeters (1996): open water positive
    "NDWI": "(green - nir) / (green + nir)",
    "NBR": "(nir - swir2) / (nir + swir2)",
    "NDMI": "(nir - swir1) / (nir + swir1)",
    "EVI": "2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1)",
    "SAVI": "1.5 * (nir - red) / (nir + red + 0.5)",
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_ALLOWED = "band names, numbers, + - * / ** and parentheses"


@dataclass(frozen=True)
class Expression:
    """A parsed index expression."""

    name: str
    text: str
    tree: ast.expr
    roles: frozenset[str]

    def evaluate(self, bands: Mapping[str, Any]) -> Any:
        """Evaluate over arrays (or scalars) keyed by role."""
        return _evaluate(self.tree, bands)


#: Limits on an expression, far above real indices and far below what breaks. EVI, the
#: largest built-in, has 17 parts (numbers, bands, operations) nested 5 deep; published
#: ones such as TCARI/OSAVI about 40, 8 deep. What breaks: Dask cannot pickle a tree
#: nested about 500 deep (its tasks carry the expression), evaluation recurses past
#: Python's limit at about 1000, and ast.parse at about 3000 terms.
MAX_PARTS = 200
MAX_DEPTH = 32
#: characters, checked before parsing: 200 parts with long band names fit in 4000
MAX_CHARS = 4000


def _size(tree: ast.expr) -> tuple[int, int]:
    """(parts, depth) of an expression tree, without recursion."""
    parts = depth = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, ast.expr):
            parts += 1
            depth = max(depth, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return parts, depth


def parse(name: str, text: str, *, key: str | None = None) -> Expression:
    """Parse ``text`` into an :class:`Expression`, or raise ExpressionError naming ``name``.

    ``key`` names the expression in the messages of the size limits (the config key,
    e.g. ``custom_indices.x``); other messages name the index.
    """
    where = key or f"index '{name}'"
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(
            f"index '{name}': the expression is empty; write e.g. '(nir - red) / (nir + red)'"
        )
    if len(text) > MAX_CHARS:
        raise ExpressionError(
            f"{where}: the expression has {len(text)} characters (at most {MAX_CHARS}); "
            "an index is a short formula over band names"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(
            f"index '{name}': cannot parse {text!r} ({exc.msg} at column {exc.offset}); "
            f"use only {_ALLOWED}"
        ) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            f"{where}: the expression nests too deeply to parse; at most {MAX_DEPTH} levels"
        ) from None
    parts, depth = _size(tree)
    if parts > MAX_PARTS:
        raise ExpressionError(
            f"{where}: the expression has {parts} parts (numbers, bands and operations; at "
            f"most {MAX_PARTS}); an index is a short formula over band names"
        )
    if depth > MAX_DEPTH:
        raise ExpressionError(
            f"{where}: the expression nests {depth} operations deep (at most {MAX_DEPTH}); "
            "a chain a + b + c + ... nests one level per term: group it, e.g. "
            "(a + b) + (c + d)"
        )
    roles: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            roles.add(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ExpressionError(
                    f"index '{name}': constant {node.value!r} in {text!r} is not a number; "
                    f"use only {_ALLOWED}"
                )
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ExpressionError(
                    f"index '{name}': operator {type(node.op).__name__} in {text!r} is not "
                    f"allowed; use only {_ALLOWED}"
                )
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ExpressionError(
                    f"index '{name}': operator {type(node.op).__name__} in {text!r} is not "
                    f"allowed; use only {_ALLOWED}"
                )
        elif not isinstance(node, ast.operator | ast.unaryop | ast.expr_context):
            raise ExpressionError(
                f"index '{name}': {type(node).__name__} at column "
                f"{getattr(node, 'col_offset', 0) + 1}"
                f" of {text!r} is not allowed (no calls, attributes, imports or comparisons); "
                f"use only {_ALLOWED}"
            )
    if not roles:
        raise ExpressionError(f"index '{name}': {text!r} uses no band; name at least one band role")
    return Expression(name=name, text=text.strip(), tree=tree, roles=frozenset(roles))


def _evaluate(node: ast.expr, bands: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, bands), _evaluate(node.right, bands))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, bands))
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]  # parse() allows numbers only
    if isinstance(node, ast.Name):
        return bands[node.id]
    raise AssertionError(f"unreachable: {ast.dump(node)}")  # parse() rejected it


# what the operators call on float64 arrays; ** is left out: NumPy's operator turns
# x ** 2 into square(x), x ** 0.5 into sqrt(x), whose bits may differ from power()
_UFUNC: dict[type[ast.AST], np.ufunc] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.USub: np.negative,
    ast.UAdd: np.positive,
}


def _evaluate_inplace(node: ast.expr, bands: Mapping[str, np.ndarray]) -> tuple[Any, bool]:
    """Like :func:`_evaluate` on float64 arrays, reusing intermediate results as outputs.

    Returns (value, owned): an owned value is a temporary of this evaluation, which the
    next operation may overwrite; band arrays never are (a role may appear twice). The
    same ufuncs in the same order give the same bits as :func:`_evaluate`.
    """
    if isinstance(node, ast.Constant):
        return float(node.value), False  # type: ignore[arg-type]  # parse(): numbers only
    if isinstance(node, ast.Name):
        return bands[node.id], False
    if isinstance(node, ast.UnaryOp):
        value, owned = _evaluate_inplace(node.operand, bands)
        result = _UFUNC[type(node.op)](value, out=value if owned else None)
        return result, isinstance(result, np.ndarray)
    if isinstance(node, ast.BinOp):
        left, left_owned = _evaluate_inplace(node.left, bands)
        right, right_owned = _evaluate_inplace(node.right, bands)
        if type(node.op) not in _UFUNC:
            result = _BINARY[type(node.op)](left, right)
            return result, isinstance(result, np.ndarray)
        shape = np.broadcast_shapes(np.shape(left), np.shape(right))
        out = next(
            (
                v
                for v, owned in ((left, left_owned), (right, right_owned))
                if owned and v.shape == shape
            ),
            None,
        )
        result = _UFUNC[type(node.op)](left, right, out=out)
        return result, isinstance(result, np.ndarray)
    raise AssertionError(f"unreachable: {ast.dump(node)}")  # parse() rejected it


#: Test pixels of :func:`check`: reflectances, and the same as digital numbers (a band
#: with scale 1). Each role gets them in another order, so two roles never share a
#: pixel's value (nir - red would be 0 everywhere).
_TEST_VALUES = (0.05, 0.12, 0.27, 0.41, 0.66)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _test_bands(roles: frozenset[str]) -> dict[str, np.ndarray]:
    base = np.array(_TEST_VALUES, dtype=np.float64)
    out = {}
    for i, role in enumerate(sorted(roles)):
        values = np.roll(base, i)
        out[role] = np.concatenate([values, values * 10_000])
    return out


def _failing_part(tree: ast.expr, bands: Mapping[str, np.ndarray]) -> tuple[ast.expr, Exception]:
    """The smallest part of ``tree`` whose evaluation raises, and the exception."""
    node = tree
    while True:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                try:
                    with np.errstate(all="ignore"):
                        _evaluate_inplace(child, bands)
                except ArithmeticError:
                    node = child
                    break
        else:
            try:
                with np.errstate(all="ignore"):
                    _evaluate_inplace(node, bands)
            except ArithmeticError as exc:
                return node, exc
            raise AssertionError("unreachable: the tree raised")  # pragma: no cover


def check(expr: Expression, *, key: str) -> None:
    """Evaluate ``expr`` once, with the jobs' arithmetic, on a few test pixels.

    Catches at the dry run what would otherwise fail every index job or silently give
    nodata everywhere: a constant beyond float64 (``10 ** 400``, also as an exponent,
    ``nir ** 9 ** 9 ** 9``), where Python's float arithmetic raises OverflowError, and an
    expression that is not finite for any test pixel (``nir / 0``).
    """
    bands = _test_bands(expr.roles)
    try:
        result = compute_block(expr, bands)
    except ArithmeticError:
        part, exc = _failing_part(expr.tree, bands)
        what = "overflows" if isinstance(exc, OverflowError) else f"raises {exc}"
        raise ExpressionError(
            f"{key}: {_clip(expr.text)!r} cannot be computed: {_clip(ast.unparse(part))} "
            f"{what} in float64, the type indices are computed in (at most about 1.8e308); "
            "use smaller numbers"
        ) from None
    if not np.isfinite(result).any():
        sample = ", ".join(f"{r}={bands[r][0]:g}" for r in sorted(expr.roles))
        raise ExpressionError(
            f"{key}: {_clip(expr.text)!r} is not a finite number for any test pixel (e.g. "
            f"{sample}), so every pixel would be nodata; check the formula (a division by "
            "zero, a root of a negative number, a number beyond float32)"
        )


def resolve(
    names: list[str], custom: Mapping[str, str], *, roles: set[str] | frozenset[str]
) -> dict[str, Expression]:
    """Map each requested index name to its parsed expression, checking band roles.

    Raises ExpressionError naming the index when it is unknown or needs a band role
    that the ``scenes.bands`` config does not define.
    """
    out: dict[str, Expression] = {}
    for name in custom:
        if name in BUILTIN:
            raise ExpressionError(
                f"custom_indices: '{name}' is a built-in index name; pick another name"
            )
    for name in names:
        if name in custom:
            expr = parse(name, custom[name], key=f"custom_indices.{name}")
        elif name in BUILTIN:
            expr = parse(name, BUILTIN[name])
        else:
            known = ", ".join(sorted(BUILTIN) + sorted(custom))
            raise ExpressionError(
                f"indices: unknown index '{name}'. Known: {known}. "
                "Define your own under custom_indices: {name: expression}."
            )
        if name in custom:
            check(expr, key=f"custom_indices.{name}")
        missing = expr.roles - set(roles)
        if missing:
            raise ExpressionError(
                f"index '{name}' ({expr.text}) needs band(s) {', '.join(sorted(missing))}, "
                f"which scenes.bands does not define (it has "
                f"{', '.join(sorted(roles)) or 'none: give each band a role there'})"
            )
        out[name] = expr
    return out


def compute_block(
    expr: Expression,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Evaluate ``expr`` on reflectance blocks; invalid or non-finite -> NaN.

    Arithmetic runs in float64 and only the result is float32: ratios like EVI's
    lose digits to cancellation near a zero denominator in float32.
    """
    wide = {k: np.asarray(v, dtype=np.float64) for k, v in bands.items()}
    shape = next(iter(bands.values())).shape
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        value, _owned = _evaluate_inplace(expr.tree, wide)
        result = np.asarray(value, dtype=np.float32)
    if result.shape != shape or np.may_share_memory(result, value):
        result = np.broadcast_to(result, shape).copy()
    good = np.isfinite(result)
    if valid is not None:
        good &= valid
    # every NaN the same bits (0/0 gives a negative one): same bytes on any CPU path
    np.copyto(result, np.float32(np.nan), where=~good)
    return result


def to_reflectance(
    dn: np.ndarray, *, scale: float, offset: float, nodata: float | None
) -> np.ndarray:
    """Digital numbers to float64 physical values; nodata -> NaN.

    The cast comes first: ``uint16 + offset`` in integer arithmetic would wrap around
    for negative offsets (Sentinel-2's BOA_ADD_OFFSET = -1000). float64, so that a
    reflectance of exactly 0 (DN 1000 at offset -0.1) stays 0 and 0/0 is nodata.
    """
    values = dn.astype(np.float64)
    values *= scale
    values += offset
    if nodata is not None:
        if np.isnan(nodata):
            values[np.isnan(dn)] = np.nan
        else:
            values[dn == nodata] = np.nan
    return values


#: Pixels evaluated at a time within a block. The float64 temporaries of a strip (512 KiB
#: each) stay in the CPU's cache and are reused by the allocator, where those of a whole
#: 1024² block (8 MiB each) went to fresh pages: as much time in page faults as in
#: arithmetic (docs/benchmarks.md, index step). The math is elementwise: same bits.
STRIP_PIXELS = 65536


def _index_block(
    *blocks: np.ndarray,
    exprs: tuple[Expression, ...],
    roles: tuple[str, ...],
    specs: tuple[Any, ...],
    has_mask: bool,
) -> np.ndarray:
    """(len(exprs), y, x) float32: every index of one block, each band converted once.

    Normalized differences go through the compiled kernel of :mod:`rasterflow._index_kernel`
    (the same bits in one pass); the other expressions through NumPy, strip by strip.
    """
    shape = blocks[0].shape
    out = np.empty((len(exprs), *shape), dtype=np.float32)
    by_role = dict(zip(roles, zip(blocks, specs, strict=False), strict=False))
    valid = blocks[-1] if has_mask else None
    rest = [i for i, e in enumerate(exprs) if not _compiled_index(e, by_role, valid, out[i])]
    if not rest:
        return out
    needed = sorted(set().union(*(exprs[i].roles for i in rest)))
    rows = max(1, STRIP_PIXELS // max(1, shape[-1]))
    for start in range(0, shape[0], rows):
        strip = slice(start, start + rows)
        bands = {
            role: to_reflectance(block[strip], scale=s.scale, offset=s.offset, nodata=s.nodata)
            for role in needed
            for block, s in [by_role[role]]
        }
        for i in rest:  # band arrays are never written to: shared
            expr = exprs[i]
            out[i, strip] = compute_block(
                expr, {r: bands[r] for r in expr.roles}, None if valid is None else valid[strip]
            )
    return out


def normalized_difference(expr: Expression) -> tuple[str, str] | None:
    """(a, b) where ``expr`` is ``(a - b) / (a + b)`` (or ``/ (b + a)``: IEEE addition
    is commutative) of two band roles; None otherwise."""
    tree = expr.tree
    if not (isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Div)):
        return None
    num, den = tree.left, tree.right
    if not (
        isinstance(num, ast.BinOp)
        and isinstance(num.op, ast.Sub)
        and isinstance(den, ast.BinOp)
        and isinstance(den.op, ast.Add)
    ):
        return None
    names = [n.id if isinstance(n, ast.Name) else None for n in (num.left, num.right)]
    summed = {n.id if isinstance(n, ast.Name) else None for n in (den.left, den.right)}
    a, b = names
    if a is None or b is None or a == b or summed != {a, b}:
        return None
    return a, b


def _compiled_index(
    expr: Expression,
    by_role: Mapping[str, tuple[np.ndarray, Any]],
    valid: np.ndarray | None,
    out: np.ndarray,
) -> bool:
    """``expr`` into ``out`` by the compiled kernel where it has the kernel's form and
    pixel types; False, ``out`` untouched, otherwise."""
    pair = normalized_difference(expr)
    if pair is None:
        return False
    (a, a_spec), (b, b_spec) = by_role[pair[0]], by_role[pair[1]]
    if not all(
        x.ndim == 2 and x.dtype.kind in "iuf" and x.dtype != np.float16 and x.dtype.itemsize <= 8
        for x in (a, b)
    ):
        return False
    a_args, b_args = _reflectance_args(a, a_spec), _reflectance_args(b, b_spec)
    if a_args is None or b_args is None or (valid is not None and valid.shape != a.shape):
        return False
    from rasterflow._index_kernel import normalized_difference as kernel

    mask = np.ones((1, 1), dtype=np.bool_) if valid is None else valid
    kernel(a, *a_args, b, *b_args, mask, valid is not None, out)
    return True


def _reflectance_args(dn: np.ndarray, spec: Any) -> tuple[float, float, int, Any] | None:
    """(scale, offset, nodata kind, nodata) of :func:`to_reflectance`'s rule for the
    kernel, the nodata value in the type NumPy compares ``dn == nodata`` in; None for a
    nodata that type cannot hold (NumPy's own rule for it is left to NumPy)."""
    from rasterflow._index_kernel import NO_NODATA, NODATA_NAN, NODATA_VALUE

    scale, offset = float(spec.scale), float(spec.offset)
    if spec.nodata is None:
        return scale, offset, NO_NODATA, dn.dtype.type(0)
    nodata = float(spec.nodata)
    if np.isnan(nodata):
        return scale, offset, NODATA_NAN, dn.dtype.type(0)
    with np.errstate(over="ignore"):
        typed = np.result_type(dn.dtype, nodata).type(nodata)
    if float(typed) != nodata and not np.isfinite(typed):
        return None
    return scale, offset, NODATA_VALUE, typed


def window_indices(
    scene: Any,
    exprs: Sequence[Expression],
    grid: Any,
    window: tuple[int, int, int, int],
    *,
    resampling: str,
) -> np.ndarray:
    """(len(exprs), height, width) float32: indices ``exprs`` of ``scene`` in ``window``
    (x0, y0, width, height) of its grid (:func:`rasterflow.scenes.scene_grid`).

    The one way an index is computed: each block of a per-scene index raster, and each
    window a composite computes in memory, so the two give the same bits.
    """
    from rasterflow.scenes import read_window

    exprs = tuple(exprs)
    roles = tuple(sorted(set().union(*(e.roles for e in exprs))))
    blocks, valid = read_window(scene, roles, grid, window, resampling=resampling)
    if valid is not None:
        blocks.append(valid)
    return _index_block(
        *blocks,
        exprs=exprs,
        roles=roles,
        specs=tuple(scene.bands[r] for r in roles),
        has_mask=valid is not None,
    )


def _indices_chunk(
    *, scene: Any, exprs: tuple[Expression, ...], grid: Any, resampling: str, block_info: Any = None
) -> np.ndarray:
    (_, _), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    return window_indices(scene, exprs, grid, (c0, r0, c1 - c0, r1 - r0), resampling=resampling)


def indices_array(
    scene: Any, exprs: Sequence[Expression], *, chunk: int = 2048, resampling: str = "bilinear"
) -> tuple[Any, Any]:
    """Lazy (len(exprs), y, x) float32 indices of ``scene`` on its finest band grid:
    (dask array, GeoBox). Each block task decodes every band it needs once, for all
    the indices (one job per scene: NDVI and NBR share red and nir's blocks)."""
    import dask.array as da
    from dask.base import tokenize

    from rasterflow.scenes import scene_grid

    exprs = tuple(exprs)
    roles = set().union(*(e.roles for e in exprs))
    grid = scene_grid(scene, roles)
    ny, nx = grid.shape.yx
    splits = [tuple(min(chunk, n - i) for i in range(0, n, chunk)) for n in (ny, nx)]
    result = da.map_blocks(
        _indices_chunk,
        dtype=np.float32,
        chunks=((len(exprs),), *splits),
        name="indices-" + tokenize(scene.to_params(), [e.text for e in exprs], chunk, resampling),
        meta=np.empty((0, 0, 0), dtype=np.float32),
        scene=scene,
        exprs=exprs,
        grid=grid,
        resampling=resampling,
    )
    return result, grid


def index_array(
    scene: Any, expr: Expression, *, chunk: int = 2048, resampling: str = "bilinear"
) -> tuple[Any, Any]:
    """Lazy float32 index of ``scene`` on its finest band grid: (dask array, GeoBox)."""
    result, geobox = indices_array(scene, [expr], chunk=chunk, resampling=resampling)
    return result[0], geobox


def run(
    *,
    scene: Any,
    expr: Expression,
    output: str,
    chunk: int = 2048,
    resampling: str = "bilinear",
    threads: int = 1,
) -> None:
    """Compute one index of one scene and write it as a float32 COG with provenance."""
    run_all(
        scene=scene,
        exprs=[expr],
        outputs=[output],
        chunk=chunk,
        resampling=resampling,
        threads=threads,
    )


def run_all(
    *,
    scene: Any,
    exprs: Sequence[Expression],
    outputs: Sequence[str],
    chunk: int = 2048,
    resampling: str = "bilinear",
    threads: int = 1,
) -> None:
    """Compute indices ``exprs`` of one scene into ``outputs`` (float32 COGs with
    provenance) in one pass: the same bytes as one :func:`run` per index."""
    import logging

    from rasterflow.io import Cog, close_cached, provenance_tags, write_cogs

    log = logging.getLogger(__name__)
    if len(exprs) != len(outputs):
        raise ValueError(f"{len(exprs)} indices but {len(outputs)} outputs")
    result, geobox = indices_array(scene, exprs, chunk=chunk, resampling=resampling)
    cogs = []
    for i, (expr, output) in enumerate(zip(exprs, outputs, strict=True)):
        log.info(
            "index %s of scene %s: %d x %d pixels, %s",
            expr.name,
            scene.id,
            geobox.shape.x,
            geobox.shape.y,
            expr.text,
        )
        # the tags one job per index wrote: the scene as that index's bands see it
        own = scene.subset(expr.roles)
        tags = provenance_tags(
            inputs=own.files(expr.roles),
            params={
                "index": expr.name,
                "expression": expr.text,
                "scene": own.to_params(),
                "resampling": resampling,
            },
        )
        cogs.append(
            Cog(
                result[i],
                output,
                crs=geobox.crs.to_wkt(),
                transform=geobox.affine,
                nodata=np.nan,
                tags={**tags, "DATE": scene.date.isoformat(), "SCENE": scene.id},
                band_names=[expr.name],
                band_tags=[{"INDEX": expr.name, "UNITS": "1"}],
            )
        )
    write_cogs(cogs, threads=threads)
    close_cached()
    from rasterflow.qgis import write_style

    # each raster's QGIS style beside it, written here rather than by rule qgis: with
    # scenes.batch the rasters are not outputs of any rule, and an index's style
    # depends on its name only (-1..1)
    for expr, output in zip(exprs, outputs, strict=True):
        write_style(output, product=expr.name)
    log.info(
        "indices %s of scene %s: %d pixels each written to %s",
        ", ".join(e.name for e in exprs),
        scene.id,
        geobox.shape.x * geobox.shape.y,
        ", ".join(outputs),
    )


def run_batch(
    *,
    scenes: Sequence[Mapping[str, Any]],
    expressions: Mapping[str, str],
    outputs: Mapping[str, Sequence[str]],
    manifest: str,
    chunk: int,
    resampling: str,
    threads: int,
) -> None:
    """Every index of each scene (``Scene.to_params`` form) into ``outputs[scene id]``
    (one path per expression, in order), then the batch's manifest.

    Each raster is the very file an ``index`` job would write; the scenes run one
    after another on the job's Dask cluster.
    """
    from rasterflow.scenes import Scene

    exprs = [parse(name, text) for name, text in expressions.items()]
    written: dict[str, str] = {}
    for params in scenes:
        scene = Scene.from_params(params)
        paths = list(outputs[scene.id])
        for path in paths:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        run_all(
            scene=scene,
            exprs=exprs,
            outputs=paths,
            chunk=chunk,
            resampling=resampling,
            threads=threads,
        )
        written.update({f"{scene.id}/{e.name}": p for e, p in zip(exprs, paths, strict=True)})
    write_manifest(manifest, written)


def write_manifest(path: str | os.PathLike[str], outputs: Mapping[str, str]) -> None:
    """Record a finished batch: ``scene/index`` -> the raster written for it, and its size.

    Written last and atomically, so a batch whose manifest exists is complete.
    """
    entries = {scene: {"path": str(p), "bytes": os.path.getsize(p)} for scene, p in outputs.items()}
    write_atomic(path, json.dumps(entries, indent=1, sort_keys=True) + "\n")
