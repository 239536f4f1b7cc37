"""Lowering rules of the elementwise families: unary, binary, comparison, casts, select, clamp.

Most primitives are one StableHLO (or CHLO) operation once their rank-0 operands are broadcast to
the common shape (`broadcast_operands`, shared with the other rule modules). The evaluate rules
define the semantics; where XLA's own operation already has them, it is used as is:

- integer `div`/`rem` (division by zero gives all ones, `rem` by zero the dividend, `INT_MIN / -1`
  gives `INT_MIN`) and the shifts (counts outside [0, bits) give 0 or the sign fill);
- float -> integer `convert` truncates toward zero, saturates and sends NaN to 0 (XLA's CPU and GPU
  emitters and its constant folder all do; StableHLO itself leaves it open);
- `max`/`min` of real numbers propagate NaN; comparisons are IEEE ones (compare_type FLOAT), not
  the total order;
- f16/bf16 operations compute in f32 and round once.

The rest are compositions: `sign`/`abs` of unsigned integers, `conj`, `exp2` (exp(x ln 2)),
`integer_pow` (binary exponentiation in the evaluate rule's multiplication order, f16/bf16 in f32
and rounded once), converts to bool (`x != 0`), complex `max`/`min` (NumPy's lexicographic order
with NaN first) and bitcasts between c64 and 64-bit types (built from the two f32 halves).

Known differences from evaluate, inherent to XLA's CPU runtime: subnormal floats are flushed to
zero (inputs and results), and complex functions at infinities or NaN follow XLA's formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from dsl import dtypes
from dsl import ops as P
from dsl.types import TensorType
from interpreters.lower import RULES, Ctx, Value, i64_array

_LOW = (dtypes.float16, dtypes.bfloat16)


def broadcast_to(ctx: Ctx, v: Value, shape: tuple[int, ...]) -> Value:
    """`v` broadcast to `shape`, its dimensions aligned with the trailing ones (NumPy's rule)."""
    if v.type.shape == shape:
        return v
    dims = list(range(len(shape) - len(v.type.shape), len(shape)))
    t = TensorType(shape, v.type.dtype)
    return ctx.op("stablehlo.broadcast_in_dim", [v], [t],
                  attributes={"broadcast_dimensions": i64_array(dims)})[0]


def broadcast_operands(ctx: Ctx, ins: Sequence[Value], shape: tuple[int, ...]) -> list[Value]:
    """The operands of an elementwise op with the rank-0 ones broadcast to `shape`."""
    return [broadcast_to(ctx, v, shape) for v in ins]


def like(v: Value, dtype: np.dtype) -> TensorType:
    """The type of `v`'s shape with another dtype."""
    return TensorType(v.type.shape, dtype)


def full(ctx: Ctx, value: object, shape: tuple[int, ...], dtype: np.dtype) -> Value:
    """A constant of `shape` filled with `value` (a rank-0 constant, broadcast)."""
    return broadcast_to(ctx, ctx.constant(value, TensorType((), dtype)), shape)


def compare_type(dtype: np.dtype) -> str:
    """StableHLO's comparison type for a dtype: IEEE comparisons on floats (not TOTALORDER)."""
    if dtypes.is_inexact(dtype):
        return "FLOAT"
    if np.dtype(dtype).kind == "i":
        return "SIGNED"
    return "UNSIGNED"  # unsigned integers and bool


def compare(ctx: Ctx, direction: str, x: Value, y: Value) -> Value:
    """`x <direction> y` (EQ, NE, LT, LE, GT, GE) as a bool tensor; shapes must be equal."""
    return ctx.op("stablehlo.compare", [x, y], [like(x, dtypes.bool_)], attributes={
        "comparison_direction": f"#stablehlo<comparison_direction {direction}>",
        "compare_type": f"#stablehlo<comparison_type {compare_type(x.type.dtype)}>"})[0]


def select(ctx: Ctx, pred: Value, on_true: Value, on_false: Value) -> Value:
    return ctx.op("stablehlo.select", [pred, on_true, on_false], [on_true.type])[0]


def convert(ctx: Ctx, v: Value, dtype: np.dtype) -> Value:
    """A plain `stablehlo.convert` (to bool it is `x != 0`; `_convert` is the language's cast)."""
    if v.type.dtype == dtype:
        return v
    return ctx.op("stablehlo.convert", [v], [like(v, dtype)])[0]


def in_f32(ctx: Ctx, ins: Sequence[Value], build: Callable[[Sequence[Value]], Value]) -> Value:
    """`build(ins)`, computed in f32 when the operands are f16/bf16 and rounded back once."""
    dt = ins[0].type.dtype
    if dt not in _LOW:
        return build(ins)
    return convert(ctx, build([convert(ctx, v, dtypes.float32) for v in ins]), dt)


Rule = Callable[[Ctx, P.Op, list[Value], tuple[TensorType, ...]], list[Value]]


def _simple(name: str) -> Rule:
    def rule(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
        shape = outs[0].shape
        return ctx.op(name, broadcast_operands(ctx, ins, shape),
                      [TensorType(shape, outs[0].dtype)])

    return rule


_UNARY = {
    P.Exp: "stablehlo.exponential", P.Log: "stablehlo.log", P.Log1p: "stablehlo.log_plus_one",
    P.Expm1: "stablehlo.exponential_minus_one", P.Sqrt: "stablehlo.sqrt",
    P.Rsqrt: "stablehlo.rsqrt", P.Cbrt: "stablehlo.cbrt", P.Sin: "stablehlo.sine",
    P.Cos: "stablehlo.cosine", P.Tan: "stablehlo.tan", P.Asin: "chlo.asin", P.Acos: "chlo.acos",
    P.Atan: "chlo.atan", P.Sinh: "chlo.sinh", P.Cosh: "chlo.cosh", P.Tanh: "stablehlo.tanh",
    P.Asinh: "chlo.asinh", P.Acosh: "chlo.acosh", P.Atanh: "chlo.atanh",
    P.Logistic: "stablehlo.logistic", P.Erf: "chlo.erf", P.Erfc: "chlo.erfc",
    P.ErfInv: "chlo.erf_inv", P.Lgamma: "chlo.lgamma", P.Digamma: "chlo.digamma",
    P.Floor: "stablehlo.floor", P.Ceil: "stablehlo.ceil", P.IsFinite: "stablehlo.is_finite",
    P.Neg: "stablehlo.negate", P.Real: "stablehlo.real", P.Imag: "stablehlo.imag",
    P.Not: "stablehlo.not", P.PopulationCount: "stablehlo.popcnt",
    P.Clz: "stablehlo.count_leading_zeros",
}

_BINARY = {
    P.Add: "stablehlo.add", P.Sub: "stablehlo.subtract", P.Mul: "stablehlo.multiply",
    P.Div: "stablehlo.divide", P.Rem: "stablehlo.remainder", P.Pow: "stablehlo.power",
    P.Max: "stablehlo.maximum", P.Min: "stablehlo.minimum", P.Atan2: "stablehlo.atan2",
    P.Nextafter: "chlo.next_after", P.And: "stablehlo.and", P.Or: "stablehlo.or",
    P.Xor: "stablehlo.xor", P.ShiftLeft: "stablehlo.shift_left",
    P.ShiftRightArithmetic: "stablehlo.shift_right_arithmetic",
    P.ShiftRightLogical: "stablehlo.shift_right_logical", P.Complex: "stablehlo.complex",
}

_DIRECTIONS = {P.Eq: "EQ", P.Ne: "NE", P.Lt: "LT", P.Le: "LE", P.Gt: "GT", P.Ge: "GE"}

for _cls, _name in {**_UNARY, **_BINARY}.items():
    RULES[_cls] = _simple(_name)


def _compare_rule(direction: str) -> Rule:
    def rule(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
        x, y = broadcast_operands(ctx, ins, outs[0].shape)
        return [compare(ctx, direction, x, y)]

    return rule


for _cls, _direction in _DIRECTIONS.items():
    RULES[_cls] = _compare_rule(_direction)


def _identity(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    return [ins[0]]


RULES[P.StopGradient] = _identity


def _is_unsigned(dtype: np.dtype) -> bool:
    return np.dtype(dtype).kind == "u"


def _sign(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    (x,) = ins
    if _is_unsigned(x.type.dtype):  # StableHLO's sign takes signed types only
        nonzero = compare(ctx, "NE", x, full(ctx, 0, x.type.shape, x.type.dtype))
        return [convert(ctx, nonzero, x.type.dtype)]
    return ctx.op("stablehlo.sign", [x], [x.type])


def _abs(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    (x,) = ins
    if _is_unsigned(x.type.dtype):
        return [x]
    return ctx.op("stablehlo.abs", [x], [outs[0]])


def _conj(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    (x,) = ins
    part = like(x, dtypes.real_dtype(x.type.dtype))
    re = ctx.op("stablehlo.real", [x], [part])[0]
    im = ctx.op("stablehlo.imag", [x], [part])[0]
    neg = ctx.op("stablehlo.negate", [im], [part])[0]
    return ctx.op("stablehlo.complex", [re, neg], [x.type])


def _exp2(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    (x,) = ins

    def build(vs: Sequence[Value]) -> Value:
        (v,) = vs
        ln2 = full(ctx, math.log(2.0), v.type.shape, v.type.dtype)
        scaled = ctx.op("stablehlo.multiply", [v, ln2], [v.type])[0]
        return ctx.op("stablehlo.exponential", [scaled], [v.type])[0]

    return [in_f32(ctx, [x], build)]


_ROUND = {"half_even": "stablehlo.round_nearest_even",
          "half_away_from_zero": "stablehlo.round_nearest_afz"}


def _round(ctx: Ctx, op: P.Round, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    return ctx.op(_ROUND[op.method], ins, [outs[0]])


def _integer_pow(ctx: Ctx, op: P.IntegerPow, ins: list[Value],
                 outs: tuple[TensorType, ...]) -> list[Value]:
    (x,) = ins
    y = op.y

    def build(vs: Sequence[Value]) -> Value:
        (v,) = vs
        if y == 0:
            return full(ctx, 1, v.type.shape, v.type.dtype)
        acc: Value | None = None
        base, e = v, abs(y)
        while e:  # binary exponentiation, the multiplication order of the evaluate rule
            if e & 1:
                acc = base if acc is None else ctx.op("stablehlo.multiply", [acc, base],
                                                      [v.type])[0]
            e >>= 1
            if e:
                base = ctx.op("stablehlo.multiply", [base, base], [v.type])[0]
        assert acc is not None
        if y < 0:  # on integers XLA's division truncates, as evaluate's cast of 1 / x**|y| does
            one = full(ctx, 1, v.type.shape, v.type.dtype)
            return ctx.op("stablehlo.divide", [one, acc], [v.type])[0]
        return acc

    return [in_f32(ctx, [x], build)]


RULES[P.Sign] = _sign
RULES[P.Abs] = _abs
RULES[P.Conj] = _conj
RULES[P.Exp2] = _exp2
RULES[P.Round] = _round
RULES[P.IntegerPow] = _integer_pow


def _select(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    p, t, f = broadcast_operands(ctx, ins, outs[0].shape)
    return [select(ctx, p, t, f)]


def _clamp(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    # max then min, as the evaluate rule does (both propagate NaN from any operand)
    lo, x, hi = broadcast_operands(ctx, ins, outs[0].shape)
    up = ctx.op("stablehlo.maximum", [x, lo], [x.type])[0]
    return ctx.op("stablehlo.minimum", [up, hi], [x.type])


def _extremum(name: str, direction: str) -> Rule:
    simple = _simple(name)

    def rule(ctx: Ctx, op: P.Op, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
        if not dtypes.is_complex(outs[0].dtype):
            return simple(ctx, op, ins, outs)  # XLA's max/min propagate NaN on real types
        # NumPy's complex order: lexicographic with IEEE comparisons (0.0 == -0.0); a NaN
        # operand (either part) is the result, the first one if both are
        x, y = broadcast_operands(ctx, ins, outs[0].shape)
        part = like(x, dtypes.real_dtype(x.type.dtype))
        xr, xi, yr, yi = (ctx.op(f"stablehlo.{p}", [v], [part])[0]
                          for v in (x, y) for p in ("real", "imag"))
        pred = like(x, dtypes.bool_)
        ties = ctx.op("stablehlo.and", [compare(ctx, "EQ", xr, yr),
                                        compare(ctx, direction[0] + "E", xi, yi)], [pred])[0]
        first = ctx.op("stablehlo.or", [compare(ctx, direction, xr, yr), ties], [pred])[0]
        best = select(ctx, first, x, y)
        best = select(ctx, compare(ctx, "NE", y, y), y, best)
        return [select(ctx, compare(ctx, "NE", x, x), x, best)]

    return rule


RULES[P.Max] = _extremum("stablehlo.maximum", "GT")
RULES[P.Min] = _extremum("stablehlo.minimum", "LT")
RULES[P.Select] = _select
RULES[P.Clamp] = _clamp


def _convert(ctx: Ctx, op: P.Convert, ins: list[Value],
             outs: tuple[TensorType, ...]) -> list[Value]:
    (x,) = ins
    src, to = x.type.dtype, outs[0].dtype
    if src == to:
        return [x]
    if to == dtypes.bool_:
        return [compare(ctx, "NE", x, full(ctx, 0, x.type.shape, src))]
    return [convert(ctx, x, to)]


def _bitcast(ctx: Ctx, op: P.Bitcast, ins: list[Value],
             outs: tuple[TensorType, ...]) -> list[Value]:
    (x,) = ins
    src, to = x.type.dtype, outs[0].dtype
    if dtypes.is_complex(src) == dtypes.is_complex(to):
        return ctx.op("stablehlo.bitcast_convert", ins, [outs[0]])
    # StableHLO bitcasts no complex value to a real type: c64 is two f32 words, the real part in
    # the low half (NumPy's little-endian layout), so it is built from or split into them.
    u32, u64, f32 = like(x, dtypes.uint32), like(x, dtypes.uint64), like(x, dtypes.float32)
    thirty_two = full(ctx, 32, x.type.shape, dtypes.uint64)
    if dtypes.is_complex(src):
        halves = []
        for part in ("stablehlo.real", "stablehlo.imag"):
            word = ctx.op("stablehlo.bitcast_convert", ctx.op(part, [x], [f32]), [u32])[0]
            halves.append(convert(ctx, word, dtypes.uint64))
        high = ctx.op("stablehlo.shift_left", [halves[1], thirty_two], [u64])[0]
        both = ctx.op("stablehlo.or", [high, halves[0]], [u64])[0]
        return ctx.op("stablehlo.bitcast_convert", [both], [outs[0]])
    both = ctx.op("stablehlo.bitcast_convert", [x], [u64])[0] if src != dtypes.uint64 else x
    high = ctx.op("stablehlo.shift_right_logical", [both, thirty_two], [u64])[0]
    parts = [ctx.op("stablehlo.bitcast_convert", [convert(ctx, w, dtypes.uint32)], [f32])[0]
             for w in (both, high)]  # the u64 -> u32 convert keeps the low bits
    return ctx.op("stablehlo.complex", parts, [outs[0]])


RULES[P.Convert] = _convert
RULES[P.Bitcast] = _bitcast
