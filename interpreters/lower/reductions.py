"""Lowering rules of the reductions, the cumulative reductions, `dot_general` and `sort`.

They follow the semantics pinned in `interpreters/evaluate/structural.py`:

- monoid reductions are `stablehlo.reduce` with the monoid's identity as initial value (so an
  empty reduction gives the identity); on booleans `sum`/`max` are `or` and `prod`/`min` are `and`;
  f16/bf16 sums and products accumulate in f32 and round once;
- `argmax`/`argmin` are one variadic reduce over (value, index) whose combiner is a total order
  (NaN above every number, ties to the smaller index), so any reduction tree finds the first
  extreme, NaN first, like NumPy;
- cumulative reductions are `stablehlo.reduce_window` with a window spanning the whole axis,
  padded with the identity on the side the running value comes from;
- `dot_general` converts its operands to the accumulation dtype (f32 for f16/bf16 results, else
  the result dtype) and multiplies at HIGHEST precision on accelerators, so none silently uses TF32;
- `sort` is stable, with a comparator lexicographic over the keys that treats -0.0 as 0.0 and
  every NaN as +NaN and then compares in IEEE total order, as JAX does: NaN sorts last.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsl import dtypes
from dsl import ops as P
from dsl.types import TensorType
from interpreters.lower import Ctx, Value, gather_reduced, i64_array
from interpreters.lower.structural import (LOW, binary, compare, convert, monoid_region, rule,
                                           scalar, select, splat)


def _lowest(dtype: np.dtype) -> Any:
    if dtypes.is_bool(dtype):
        return False
    return np.iinfo(dtype).min if dtypes.is_integer(dtype) else -np.inf


def _highest(dtype: np.dtype) -> Any:
    if dtypes.is_bool(dtype):
        return True
    return np.iinfo(dtype).max if dtypes.is_integer(dtype) else np.inf


def _all_ones(dtype: np.dtype) -> Any:
    return True if dtypes.is_bool(dtype) else np.array(-1).astype(dtype)


# The combining kind and the identity of each monoid, and whether f16/bf16 widen to f32.
_MONOIDS: dict[type[P.Op], tuple[str, Any, bool]] = {
    P.ReduceSum: ("add", lambda dt: 0, True),
    P.ReduceProd: ("mul", lambda dt: 1, True),
    P.ReduceMax: ("max", _lowest, False),
    P.ReduceMin: ("min", _highest, False),
    P.ReduceAnd: ("and", _all_ones, False),
    P.ReduceOr: ("or", lambda dt: 0, False),
    P.Cumsum: ("add", lambda dt: 0, True),
    P.Cumprod: ("mul", lambda dt: 1, True),
    P.Cummax: ("max", _lowest, False),
    P.Cummin: ("min", _highest, False),
}


@rule(P.ReduceSum, P.ReduceProd, P.ReduceMax, P.ReduceMin, P.ReduceAnd, P.ReduceOr)
def _reduce(ctx: Ctx, op: Any, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    (x,) = ins
    (out,) = outs
    kind, identity, widen = _MONOIDS[type(op)]
    work = dtypes.float32 if widen and out.dtype in LOW else out.dtype
    if not op.axes:
        if not widen:
            return [x]
        # NumPy's sum/product over no axes still combines with the identity (-0.0 + 0 is 0.0).
        res = binary(ctx, "add" if kind == "add" else "multiply", convert(ctx, x, work),
                     splat(ctx, identity(work), x.type.with_dtype(work)))
        return [convert(ctx, res, out.dtype)]
    if kind in ("and", "or") and x.type.dtype != dtypes.bool_:
        x = gather_reduced(ctx, x, op.axes)  # no integer and/or in XLA's CPU all-reduce
    init = ctx.constant(identity(work), scalar(work))
    res = ctx.op("stablehlo.reduce", [convert(ctx, x, work), init], [out.with_dtype(work)],
                 attributes={"dimensions": i64_array(op.axes)},
                 regions=[monoid_region(ctx, work, kind)])[0]
    return [convert(ctx, res, out.dtype)]


@rule(P.Cumsum, P.Cumprod, P.Cummax, P.Cummin)
def _cumulative(ctx: Ctx, op: Any, ins: list[Value], outs: tuple[TensorType, ...]
                ) -> list[Value]:
    (x,) = ins
    (out,) = outs
    n = x.type.shape[op.axis]
    if x.type.size == 0 or n == 1:
        return [x]
    kind, identity, widen = _MONOIDS[type(op)]
    work = dtypes.float32 if widen and out.dtype in LOW else out.dtype
    rank = x.type.ndim
    window = [n if i == op.axis else 1 for i in range(rank)]
    along = (0, n - 1) if op.reverse else (n - 1, 0)
    pad = [along if i == op.axis else (0, 0) for i in range(rank)]
    padding = ("dense<[" + ", ".join(f"[{lo}, {hi}]" for lo, hi in pad)
               + f"]> : tensor<{rank}x2xi64>")
    init = ctx.constant(identity(work), scalar(work))
    res = ctx.op("stablehlo.reduce_window", [convert(ctx, x, work), init],
                 [out.with_dtype(work)], attributes={
                     "window_dimensions": i64_array(window),
                     "window_strides": i64_array([1] * rank),
                     "base_dilations": i64_array([1] * rank),
                     "window_dilations": i64_array([1] * rank),
                     "padding": padding},
                 regions=[monoid_region(ctx, work, kind)])[0]
    return [convert(ctx, res, out.dtype)]


@rule(P.Argmax, P.Argmin)
def _argminmax(ctx: Ctx, op: Any, ins: list[Value], outs: tuple[TensorType, ...]
               ) -> list[Value]:
    (x,) = ins
    (out,) = outs
    dt = x.type.dtype
    n = x.type.shape[op.axis]
    it = dtypes.int32 if n <= 2**31 - 1 else dtypes.int64
    index = ctx.op("stablehlo.iota", [], [x.type.with_dtype(it)],
                   attributes={"iota_dimension": f"{op.axis} : i64"})[0]
    is_max = isinstance(op, P.Argmax)
    floating = dtypes.is_floating(dt)
    # The initial pair loses to, or ties with, element 0 (which has index 0).
    init_v = ctx.constant(_lowest(dt) if is_max else _highest(dt), scalar(dt))
    init_i = ctx.constant(0, scalar(it))

    def better(inner: Ctx, args: list[Value]) -> list[Value]:
        av, ai, bv, bi = args
        beats = compare(inner, av, bv, "GT" if is_max else "LT")
        same = compare(inner, av, bv, "EQ")
        if floating:  # NaN is above every number, and all NaNs tie
            a_nan, b_nan = compare(inner, av, av, "NE"), compare(inner, bv, bv, "NE")
            not_b_nan = binary(inner, "xor", b_nan, inner.constant(True, scalar(dtypes.bool_)))
            beats = binary(inner, "or", beats, binary(inner, "and", a_nan, not_b_nan))
            same = binary(inner, "or", same, binary(inner, "and", a_nan, b_nan))
        first = binary(inner, "and", same, compare(inner, ai, bi, "LT"))
        pick = binary(inner, "or", beats, first)
        return [select(inner, pick, av, bv), select(inner, pick, ai, bi)]

    region = ctx.region([scalar(dt), scalar(it), scalar(dt), scalar(it)], better)
    shape = out.shape
    _, res = ctx.op("stablehlo.reduce", [x, index, init_v, init_i],
                    [TensorType(shape, dt), TensorType(shape, it)],
                    attributes={"dimensions": i64_array([op.axis])}, regions=[region])
    return [convert(ctx, res, out.dtype)]


@rule(P.DotGeneral)
def _dot_general(ctx: Ctx, op: P.DotGeneral, ins: list[Value], outs: tuple[TensorType, ...]
                 ) -> list[Value]:
    x, y = ins
    (out,) = outs
    work = dtypes.float32 if out.dtype in LOW else out.dtype
    boolean = dtypes.is_bool(work)
    if boolean:  # an "or of ands": count the true products
        work = dtypes.int32
    (lc, rc), (lb, rb) = op.contracting, op.batch
    dims = (f"#stablehlo.dot<lhs_batching_dimensions = [{', '.join(map(str, lb))}], "
            f"rhs_batching_dimensions = [{', '.join(map(str, rb))}], "
            f"lhs_contracting_dimensions = [{', '.join(map(str, lc))}], "
            f"rhs_contracting_dimensions = [{', '.join(map(str, rc))}]>")
    # accelerators may round f32 products to TF32 at DEFAULT precision: ask for HIGHEST there;
    # on CPU DEFAULT already multiplies in full precision, and HIGHEST takes a slower kernel
    precision = "HIGHEST" if dtypes.is_inexact(work) and ctx.module.platform != "cpu" \
        else "DEFAULT"
    res = ctx.op("stablehlo.dot_general", [convert(ctx, x, work), convert(ctx, y, work)],
                 [out.with_dtype(work)], attributes={
                     "dot_dimension_numbers": dims,
                     "precision_config": f"[#stablehlo<precision {precision}>, "
                                         f"#stablehlo<precision {precision}>]"})[0]
    if boolean:
        return [compare(ctx, res, splat(ctx, 0, res.type), "GT")]
    return [convert(ctx, res, out.dtype)]


def _sort_key(ctx: Ctx, v: Value) -> Value:
    """-0.0 as 0.0 and every NaN as +NaN, so total order compares as the language orders."""
    zero = ctx.constant(0, v.type)
    v = select(ctx, compare(ctx, v, zero, "EQ"), zero, v)
    return select(ctx, compare(ctx, v, v, "NE"), ctx.constant(np.nan, v.type), v)


@rule(P.Sort)
def _sort(ctx: Ctx, op: P.Sort, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    if ins[0].type.size == 0 or ins[0].type.shape[op.dimension] == 1:
        return list(ins)

    def less(inner: Ctx, args: list[Value]) -> list[Value]:
        result: Value | None = None
        for k in reversed(range(op.num_keys)):
            a, b = args[2 * k], args[2 * k + 1]
            kind = None
            if dtypes.is_floating(a.type.dtype):
                a, b, kind = _sort_key(inner, a), _sort_key(inner, b), "TOTALORDER"
            lt = compare(inner, a, b, "LT", kind)
            if result is None:
                result = lt
            else:
                eq = compare(inner, a, b, "EQ", kind)
                result = binary(inner, "or", lt, binary(inner, "and", eq, result))
        assert result is not None
        return [result]

    arg_types = [scalar(v.type.dtype) for v in ins for _ in range(2)]
    region = ctx.region(arg_types, less)
    return ctx.op("stablehlo.sort", ins, outs,
                  attributes={"dimension": f"{op.dimension} : i64", "is_stable": "true"},
                  regions=[region])
