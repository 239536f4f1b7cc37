"""Lowering rules of the structural and indexing primitives, and the small emitters they share
with the reduction rules (`compare`, `convert`, `select`, `splat`, scalar regions).

Most structural primitives are one StableHLO op each; `squeeze` and `expand_dims` are reshapes.
The rules follow the semantics pinned in `interpreters/evaluate/structural.py`:

- `dynamic_slice`/`dynamic_update_slice` clamp their starts so the window fits, which is what
  StableHLO does. StableHLO wants start indices of one element type, so when the indices mix
  types each is clamped in its own type first (where no value is lost) and then converted.
- `gather` and `scatter` index with int64, as the reference does (an unsigned index past the
  int64 range wraps to a negative one, so it is out of bounds). Mode `clip` is the clamping of
  StableHLO's gather itself; mode `fill` gathers with clamping and then selects the fill value
  where any index was out of bounds. `scatter` relies on XLA skipping every update window that
  does not fit, negative starts included; f16/bf16 updates combine in f32 and round once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl import ops as P
from dsl.types import TensorType
from interpreters.evaluate.structural import fill_value
from interpreters.lower import RULES, Ctx, Value, i64_array

LOW = frozenset((dtypes.float16, dtypes.bfloat16))


def rule(*classes: type[P.Op]) -> Callable[[Callable[..., list[Value]]],
                                            Callable[..., list[Value]]]:
    """Register one lowering function for these op classes."""
    def register(fn: Callable[..., list[Value]]) -> Callable[..., list[Value]]:
        for cls in classes:
            RULES[cls] = fn
        return fn

    return register


# --- shared emitters -------------------------------------------------------------------------

def scalar(dtype: np.dtype) -> TensorType:
    return TensorType((), dtype)


def compare_type(dtype: np.dtype) -> str:
    if dtypes.is_bool(dtype) or dtypes.is_unsigned(dtype):
        return "UNSIGNED"
    return "SIGNED" if dtypes.is_integer(dtype) else "FLOAT"


def compare(ctx: Ctx, a: Value, b: Value, direction: str, kind: str | None = None) -> Value:
    """`a <direction> b` elementwise (`LT`, `EQ`, ...); `kind` overrides the comparison type."""
    ctype = kind or compare_type(a.type.dtype)
    return ctx.op("stablehlo.compare", [a, b], [TensorType(a.type.shape, dtypes.bool_)],
                  attributes={"comparison_direction": f"#stablehlo<comparison_direction "
                                                      f"{direction}>",
                              "compare_type": f"#stablehlo<comparison_type {ctype}>"})[0]


def convert(ctx: Ctx, v: Value, dtype: np.dtype) -> Value:
    if v.type.dtype == dtype:
        return v
    return ctx.op("stablehlo.convert", [v], [TensorType(v.type.shape, dtype)])[0]


def select(ctx: Ctx, pred: Value, a: Value, b: Value) -> Value:
    return ctx.op("stablehlo.select", [pred, a, b], [a.type])[0]


def binary(ctx: Ctx, name: str, a: Value, b: Value) -> Value:
    return ctx.op(f"stablehlo.{name}", [a, b], [a.type])[0]


def splat(ctx: Ctx, value: Any, t: TensorType) -> Value:
    """A constant of type `t` filled with `value` (a scalar constant broadcast, not a big literal)."""
    c = ctx.constant(value, scalar(t.dtype))
    if t.shape == ():
        return c
    return ctx.op("stablehlo.broadcast_in_dim", [c], [TensorType(t.shape, t.dtype)],
                  attributes={"broadcast_dimensions": i64_array([])})[0]


def monoid_region(ctx: Ctx, dtype: np.dtype, kind: str) -> str:
    """A region combining two scalars of `dtype`: kind in add, mul, max, min, and, or, set.

    On booleans add/max are `or` and mul/min are `and` (NumPy's meaning of them)."""
    if dtypes.is_bool(dtype):
        kind = {"add": "or", "max": "or", "mul": "and", "min": "and"}.get(kind, kind)
    name = {"add": "add", "mul": "multiply", "max": "maximum", "min": "minimum", "and": "and",
            "or": "or"}.get(kind)

    def build(inner: Ctx, args: list[Value]) -> list[Value]:
        if name is None:  # `set`: the update wins
            return [args[1]]
        if dtypes.is_complex(dtype) and kind in ("max", "min"):
            return [_complex_extreme(inner, args[0], args[1], kind)]
        return [binary(inner, name, args[0], args[1])]

    return ctx.region([scalar(dtype), scalar(dtype)], build)


def _complex_extreme(ctx: Ctx, a: Value, b: Value, kind: str) -> Value:
    """NumPy's complex maximum/minimum (XLA's compares real parts only): lexicographic on
    (real, imag), keeping `a` when it holds a NaN, so NaNs propagate."""
    part = TensorType(a.type.shape, dtypes.real_dtype(a.type.dtype))
    ar, ai = (ctx.op(f"stablehlo.{f}", [a], [part])[0] for f in ("real", "imag"))
    br, bi = (ctx.op(f"stablehlo.{f}", [b], [part])[0] for f in ("real", "imag"))
    a_nan = binary(ctx, "or", compare(ctx, ar, ar, "NE"), compare(ctx, ai, ai, "NE"))
    no_nan_imag = binary(ctx, "and", compare(ctx, ai, ai, "EQ"), compare(ctx, bi, bi, "EQ"))
    strict, weak = ("GT", "GE") if kind == "max" else ("LT", "LE")
    ahead = binary(ctx, "and", compare(ctx, ar, br, strict), no_nan_imag)
    tie = binary(ctx, "and", compare(ctx, ar, br, "EQ"), compare(ctx, ai, bi, weak))
    keep_a = binary(ctx, "or", a_nan, binary(ctx, "or", ahead, tie))
    return select(ctx, keep_a, a, b)


# --- shapes ----------------------------------------------------------------------------------

@rule(P.Iota)
def _iota(ctx: Ctx, op: P.Iota, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    (out,) = outs
    # Counting happens in an integer type and converts once, as the reference's `astype` does.
    work = dtypes.int64 if op.shape[op.dimension] > 2**31 - 1 else dtypes.int32
    if dtypes.is_integer(out.dtype) and out.dtype.itemsize >= work.itemsize:
        work = out.dtype
    line = ctx.op("stablehlo.iota", [], [TensorType(out.shape, work)],
                  attributes={"iota_dimension": f"{op.dimension} : i64"})[0]
    return [convert(ctx, line, out.dtype)]


@rule(P.BroadcastInDim)
def _broadcast_in_dim(ctx: Ctx, op: P.BroadcastInDim, ins: list[Value],
                      outs: tuple[TensorType, ...]) -> list[Value]:
    return ctx.op("stablehlo.broadcast_in_dim", ins, outs,
                  attributes={"broadcast_dimensions": i64_array(op.broadcast_dimensions)})


@rule(P.Reshape, P.Squeeze, P.ExpandDims)
def _reshape(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    if ins[0].type.shape == outs[0].shape:
        return [ins[0]]
    return ctx.op("stablehlo.reshape", ins, outs)


@rule(P.Transpose)
def _transpose(ctx: Ctx, op: P.Transpose, ins: list[Value],
               outs: tuple[TensorType, ...]) -> list[Value]:
    return ctx.op("stablehlo.transpose", ins, outs,
                  attributes={"permutation": i64_array(op.permutation)})


@rule(P.Rev)
def _rev(ctx: Ctx, op: P.Rev, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    return ctx.op("stablehlo.reverse", ins, outs,
                  attributes={"dimensions": i64_array(op.dimensions)})


@rule(P.Pad)
def _pad(ctx: Ctx, op: P.Pad, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    """Negative edge padding lowers as a pad with the positive part, then a slice: XLA's SPMD
    partitioner aborts the process on a negative pad of a sharded dimension."""
    lows, highs = [c[0] for c in op.config], [c[1] for c in op.config]
    if min(lows + highs, default=0) >= 0:
        return ctx.op("stablehlo.pad", ins, outs, attributes={
            "edge_padding_low": i64_array(lows), "edge_padding_high": i64_array(highs),
            "interior_padding": i64_array([c[2] for c in op.config])})
    x = ins[0]
    grown = tuple(max(lo, 0) + max(hi, 0) + n + max(n - 1, 0) * interior
                  for n, (lo, hi, interior) in zip(x.type.shape, op.config))
    padded = ctx.op("stablehlo.pad", ins, [outs[0].with_shape(grown)], attributes={
        "edge_padding_low": i64_array([max(lo, 0) for lo in lows]),
        "edge_padding_high": i64_array([max(hi, 0) for hi in highs]),
        "interior_padding": i64_array([c[2] for c in op.config])})
    return ctx.op("stablehlo.slice", padded, outs, attributes={
        "start_indices": i64_array([-min(lo, 0) for lo in lows]),
        "limit_indices": i64_array([g + min(hi, 0) for g, hi in zip(grown, highs)]),
        "strides": i64_array([1] * len(grown))})


@rule(P.Concatenate)
def _concatenate(ctx: Ctx, op: P.Concatenate, ins: list[Value],
                 outs: tuple[TensorType, ...]) -> list[Value]:
    if len(ins) == 1:
        return [ins[0]]
    return ctx.op("stablehlo.concatenate", ins, outs,
                  attributes={"dimension": f"{op.dimension} : i64"})


@rule(P.Slice)
def _slice(ctx: Ctx, op: P.Slice, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    strides = op.strides or (1,) * ins[0].type.ndim
    return ctx.op("stablehlo.slice", ins, outs, attributes={
        "start_indices": i64_array(op.start_indices),
        "limit_indices": i64_array(op.limit_indices),
        "strides": i64_array(strides)})


def _starts(ctx: Ctx, starts: Sequence[Value], sizes: Sequence[int],
            bounds: Sequence[int]) -> list[Value]:
    """Start indices of one element type for StableHLO, each already clamped into range when
    they had to be converted (a conversion could otherwise wrap an out-of-range value)."""
    kinds = {s.type.dtype for s in starts}
    if len(kinds) <= 1:
        return list(starts)  # StableHLO clamps these itself
    out = []
    for s, size, n in zip(starts, sizes, bounds):
        dt = s.type.dtype
        hi = min(n - size, int(np.iinfo(dt).max))
        lo_c, hi_c = ctx.constant(0, scalar(dt)), ctx.constant(hi, scalar(dt))
        clamped = ctx.op("stablehlo.clamp", [lo_c, s, hi_c], [s.type])[0]
        out.append(convert(ctx, clamped, dtypes.int64))
    return out


@rule(P.DynamicSlice)
def _dynamic_slice(ctx: Ctx, op: P.DynamicSlice, ins: list[Value],
                   outs: tuple[TensorType, ...]) -> list[Value]:
    x, starts = ins[0], ins[1:]
    if x.type.ndim == 0:
        return [x]
    idx = _starts(ctx, starts, op.slice_sizes, x.type.shape)
    return ctx.op("stablehlo.dynamic_slice", [x, *idx], outs,
                  attributes={"slice_sizes": i64_array(op.slice_sizes)})


@rule(P.DynamicUpdateSlice)
def _dynamic_update_slice(ctx: Ctx, op: P.DynamicUpdateSlice, ins: list[Value],
                          outs: tuple[TensorType, ...]) -> list[Value]:
    x, u, starts = ins[0], ins[1], ins[2:]
    if x.type.ndim == 0:
        return [u]
    idx = _starts(ctx, starts, u.type.shape, x.type.shape)
    return ctx.op("stablehlo.dynamic_update_slice", [x, u, *idx], outs)


# --- gather and scatter ----------------------------------------------------------------------

def _index_i64(ctx: Ctx, idx: Value) -> Value:
    """Indices as int64, the reference's index type (unsigned values past its range wrap)."""
    return convert(ctx, idx, dtypes.int64)


def _inside(ctx: Ctx, idx: Value, sizes: Sequence[int]) -> Value:
    """Per batch position: is every index of the row within [0, size)? (shape idx[:-1])."""
    t = idx.type
    lo = splat(ctx, 0, t)
    bound_row = ctx.constant(np.asarray(sizes, np.int64), TensorType((len(sizes),), t.dtype))
    bound = ctx.op("stablehlo.broadcast_in_dim", [bound_row], [t],
                   attributes={"broadcast_dimensions": i64_array([t.ndim - 1])})[0]
    ok = binary(ctx, "and", compare(ctx, idx, lo, "GE"), compare(ctx, idx, bound, "LT"))
    init = ctx.constant(True, scalar(dtypes.bool_))
    return ctx.op("stablehlo.reduce", [ok, init], [TensorType(t.shape[:-1], dtypes.bool_)],
                  attributes={"dimensions": i64_array([t.ndim - 1])},
                  regions=[monoid_region(ctx, dtypes.bool_, "and")])[0]


@rule(P.Gather)
def _gather(ctx: Ctx, op: P.Gather, ins: list[Value], outs: tuple[TensorType, ...]
            ) -> list[Value]:
    x, idx = ins
    (out,) = outs
    sizes = [x.type.shape[a] for a in op.axes]
    if 0 in sizes:  # nothing to clamp into: every position is a fill
        return [splat(ctx, fill_value(out.dtype), out)]
    if out.size == 0:
        return [splat(ctx, 0, out)]
    idx = _index_i64(ctx, idx)
    nb = idx.type.ndim - 1
    rest = x.type.ndim - len(op.axes)
    dims = (f"#stablehlo.gather<offset_dims = [{', '.join(str(nb + i) for i in range(rest))}], "
            f"collapsed_slice_dims = [{', '.join(str(a) for a in sorted(op.axes))}], "
            f"start_index_map = [{', '.join(str(a) for a in op.axes)}], "
            f"index_vector_dim = {nb}>")
    slice_sizes = [1 if i in op.axes else n for i, n in enumerate(x.type.shape)]
    got = ctx.op("stablehlo.gather", [x, idx], [out], attributes={
        "dimension_numbers": dims, "indices_are_sorted": "false",
        "slice_sizes": i64_array(slice_sizes)})[0]
    if op.mode == "clip":
        return [got]
    inside = _inside(ctx, idx, sizes)
    mask = ctx.op("stablehlo.broadcast_in_dim", [inside], [out.with_dtype(dtypes.bool_)],
                  attributes={"broadcast_dimensions": i64_array(range(nb))})[0]
    return [select(ctx, mask, got, splat(ctx, fill_value(out.dtype), out))]


@rule(P.Scatter)
def _scatter(ctx: Ctx, op: P.Scatter, ins: list[Value], outs: tuple[TensorType, ...]
             ) -> list[Value]:
    x, idx, u = ins
    (out,) = outs
    if u.type.size == 0 or 0 in (x.type.shape[a] for a in op.axes):
        return [x]  # no updates, or none in bounds
    work = dtypes.float32 if out.dtype in LOW else out.dtype
    xw, uw = convert(ctx, x, work), convert(ctx, u, work)
    idx = _index_i64(ctx, idx)
    nb = idx.type.ndim - 1
    rest = x.type.ndim - len(op.axes)
    dims = (f"#stablehlo.scatter<update_window_dims = "
            f"[{', '.join(str(nb + i) for i in range(rest))}], "
            f"inserted_window_dims = [{', '.join(str(a) for a in sorted(op.axes))}], "
            f"scatter_dims_to_operand_dims = [{', '.join(str(a) for a in op.axes)}], "
            f"index_vector_dim = {nb}>")
    res = ctx.op("stablehlo.scatter", [xw, idx, uw], [out.with_dtype(work)], attributes={
        "scatter_dimension_numbers": dims, "indices_are_sorted": "false",
        "unique_indices": "false"}, regions=[monoid_region(ctx, work, op.kind)])[0]
    return [convert(ctx, res, out.dtype)]
