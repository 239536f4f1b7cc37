"""Evaluate rules of the elementwise families: unary, binary, comparison, casts, select, clamp.

One helper per family turns a NumPy function into a rule. Conventions pinned here (they are the
language's semantics, and XLA's):
- f16 and bf16 compute in f32 and round back, as XLA's CPU and GPU backends do;
- integer `div` truncates toward zero, `rem` takes the dividend's sign; division by zero gives -1
  (all ones) and `rem` by zero gives the dividend; `INT_MIN / -1` gives `INT_MIN`;
- shifts by a count outside [0, bits) give 0 (or the sign fill for an arithmetic right shift);
- float -> integer `convert` truncates toward zero and saturates; NaN converts to 0;
- `max`/`min` propagate NaN; `round` ties to even or away from zero by its `method`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dsl import dtypes
from dsl import ops as P
from interpreters.evaluate import RULES

_LOW = frozenset((dtypes.float16, dtypes.bfloat16))


def _special() -> Any:
    from interpreters import _special as special  # imported on first use

    return special


def _family(fn: Callable[..., Any]) -> Callable[..., list[np.ndarray]]:
    """A rule computing `fn` on the operands (f16/bf16 via f32), cast to the first's dtype."""

    def rule(op: P.Op, *xs: np.ndarray) -> list[np.ndarray]:
        dt = xs[0].dtype
        if dt in _LOW:
            out = np.asarray(fn(*(x.astype(np.float32) for x in xs)))
        else:
            out = np.asarray(fn(*xs))
        result = getattr(op, "result", None)
        want = result(dt) if result is not None else dt
        return [out if out.dtype == want else out.astype(want)]

    return rule


def _round_away(x: np.ndarray) -> Any:
    t = np.trunc(x)
    return t + np.where(np.abs(x - t) >= 0.5, np.sign(x), 0).astype(x.dtype)


def _logistic(x: np.ndarray) -> Any:
    if np.iscomplexobj(x):
        return 1 / (1 + np.exp(-x))
    e = np.exp(-np.abs(x))  # stable on both sides
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _clz(x: np.ndarray) -> Any:
    bits = x.dtype.itemsize * 8
    u = x.view(np.dtype(f"u{x.dtype.itemsize}")).astype(np.uint64)
    n = np.zeros(x.shape, np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        if shift >= bits:
            continue
        hi = u >> np.uint64(bits - shift)
        empty = hi == 0
        n += np.where(empty, shift, 0)
        u = np.where(empty, u << np.uint64(shift), u) & np.uint64(2**bits - 1)
    n += (u >> np.uint64(bits - 1)) == 0
    return n.astype(x.dtype)


def _popcount(x: np.ndarray) -> Any:
    # the bits of the two's-complement pattern (NumPy would count those of |x| for signed ints)
    return np.bitwise_count(x.view(np.dtype(f"u{x.dtype.itemsize}"))).astype(x.dtype)


UNARY_FNS: dict[type[P.Op], Callable[[np.ndarray], Any]] = {
    P.Exp: np.exp, P.Exp2: np.exp2, P.Log: np.log, P.Log1p: np.log1p, P.Expm1: np.expm1,
    P.Sqrt: np.sqrt, P.Rsqrt: lambda x: 1 / np.sqrt(x), P.Cbrt: np.cbrt,
    P.Sin: np.sin, P.Cos: np.cos, P.Tan: np.tan, P.Asin: np.arcsin, P.Acos: np.arccos,
    P.Atan: np.arctan, P.Sinh: np.sinh, P.Cosh: np.cosh, P.Tanh: np.tanh,
    P.Asinh: np.arcsinh, P.Acosh: np.arccosh, P.Atanh: np.arctanh, P.Logistic: _logistic,
    P.Erf: lambda x: _special().erf(x), P.Erfc: lambda x: _special().erfc(x),
    P.ErfInv: lambda x: _special().erf_inv(x), P.Lgamma: lambda x: _special().lgamma(x),
    P.Digamma: lambda x: _special().digamma(x),
    P.Floor: np.floor, P.Ceil: np.ceil, P.IsFinite: np.isfinite,
    P.Neg: np.negative, P.Sign: np.sign, P.Abs: np.abs, P.Real: np.real, P.Imag: np.imag,
    P.Conj: np.conj, P.Not: np.invert, P.PopulationCount: _popcount, P.Clz: _clz,
    P.StopGradient: lambda x: x,
}

for _cls, _fn in UNARY_FNS.items():
    RULES[_cls] = _family(_fn)


_ROUND_RULES = {"half_even": _family(np.round), "half_away_from_zero": _family(_round_away)}


def _round(op: P.Round, x: np.ndarray) -> list[np.ndarray]:
    return _ROUND_RULES[op.method](op, x)


def _integer_pow(op: P.IntegerPow, x: np.ndarray) -> list[np.ndarray]:
    y = op.y

    def power(v: np.ndarray) -> Any:
        if y == 0:
            return np.ones_like(v)
        acc, base, e = None, v, abs(y)
        while e:  # binary exponentiation, the order XLA multiplies in
            if e & 1:
                acc = base if acc is None else acc * base
            e >>= 1
            if e:
                base = base * base
        return 1 / acc if y < 0 else acc

    return _family(power)(op, x)


RULES[P.Round] = _round
RULES[P.IntegerPow] = _integer_pow


def _int_div(x: np.ndarray, y: np.ndarray) -> Any:
    x, y = np.broadcast_arrays(x, y)
    zero = y == 0
    safe = np.where(zero, 1, y)
    if x.dtype.kind == "i":
        overflow = (x == np.iinfo(x.dtype).min) & (safe == -1)
        safe = np.where(overflow, 1, safe)
        q = np.abs(x.astype(np.int64)) // np.abs(safe.astype(np.int64))  # trunc toward zero
        q = np.where((x < 0) != (safe < 0), -q, q).astype(x.dtype)
        q = np.where(overflow, x, q)
        return np.where(zero, np.array(-1, x.dtype), q)
    return np.where(zero, np.array(np.iinfo(x.dtype).max, x.dtype), x // safe)


def _int_div_u64_safe(x: np.ndarray, y: np.ndarray) -> Any:
    if x.dtype == np.int64:  # the int64 path above would overflow abs(INT64_MIN)
        zero = y == 0
        safe = np.where(zero, 1, y)
        overflow = (x == np.iinfo(np.int64).min) & (safe == -1)
        safe = np.where(overflow, 1, safe)
        q = np.fmod(x, safe)
        q = (x - q) // safe
        q = np.where(overflow, x, q)
        return np.where(zero, np.int64(-1), q)
    return _int_div(x, y)


def _div(x: np.ndarray, y: np.ndarray) -> Any:
    if x.dtype.kind in "iu":
        return _int_div_u64_safe(x, y)
    return np.true_divide(x, y)


def _rem(x: np.ndarray, y: np.ndarray) -> Any:
    if x.dtype.kind in "iu":
        x, y = np.broadcast_arrays(x, y)
        zero = y == 0
        safe = np.where(zero, 1, y)
        if x.dtype.kind == "i":
            safe = np.where((x == np.iinfo(x.dtype).min) & (safe == -1), 1, safe)
        return np.where(zero, x, np.fmod(x, safe))
    return np.fmod(x, y)


def _shift(kind: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def shift(x: np.ndarray, y: np.ndarray) -> Any:
        bits = x.dtype.itemsize * 8
        udt = np.dtype(f"u{x.dtype.itemsize}")
        count = np.asarray(y).view(udt) if np.asarray(y).dtype != udt else np.asarray(y)
        inside = count < bits
        c = np.where(inside, count, 0).astype(udt)
        if kind == "left":
            out = (x.view(udt) << c).view(x.dtype)
            return np.where(inside, out, np.zeros((), x.dtype))
        if kind == "logical":
            out = (x.view(udt) >> c).view(x.dtype)
            return np.where(inside, out, np.zeros((), x.dtype))
        sx = x.view(np.dtype(f"i{x.dtype.itemsize}"))
        fill = np.where(sx < 0, -1, 0).astype(sx.dtype)
        return np.where(inside, sx >> c.astype(sx.dtype), fill).view(x.dtype)

    return shift


def _complex(x: np.ndarray, y: np.ndarray) -> Any:
    x, y = np.broadcast_arrays(x, y)
    out = np.empty(x.shape, dtypes.complex_dtype(x.dtype))
    out.real, out.imag = x, y  # not x + 1j*y: an infinite y would make the real part NaN
    return out


BINARY_FNS: dict[type[P.Op], Callable[[np.ndarray, np.ndarray], Any]] = {
    P.Add: np.add, P.Sub: np.subtract, P.Mul: np.multiply, P.Div: _div, P.Rem: _rem,
    P.Pow: np.power, P.Max: np.maximum, P.Min: np.minimum, P.Atan2: np.arctan2,
    P.Nextafter: np.nextafter, P.And: np.bitwise_and, P.Or: np.bitwise_or,
    P.Xor: np.bitwise_xor, P.ShiftLeft: _shift("left"),
    P.ShiftRightArithmetic: _shift("arithmetic"), P.ShiftRightLogical: _shift("logical"),
    P.Complex: _complex, P.Eq: np.equal, P.Ne: np.not_equal, P.Lt: np.less,
    P.Le: np.less_equal, P.Gt: np.greater, P.Ge: np.greater_equal,
}

for _cls, _fn in BINARY_FNS.items():
    RULES[_cls] = _family(_fn)

# The eager fast path (`dsl.core`) calls these NumPy ufuncs directly, without the rule's wrapper,
# for operands whose dtype is not f16/bf16, once it has checked on the first call that the ufunc's
# result has the declared dtype. Integer `pow` is left out: NumPy rejects negative exponents.
FAST: dict[type[P.Op], np.ufunc] = {
    cls: fn for cls, fn in {**UNARY_FNS, **BINARY_FNS}.items()
    if isinstance(fn, np.ufunc) and cls is not P.Pow and getattr(cls, "result", None) is None}


def _nextafter_low(op: P.Op, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    # nextafter must step in the operand's own precision, not in f32
    return [np.asarray(np.nextafter(x, y)).astype(x.dtype, copy=False)]


RULES[P.Nextafter] = _nextafter_low


def _select(op: P.Select, p: np.ndarray, t: np.ndarray, f: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(np.where(p, t, f))]


def _clamp(op: P.Clamp, lo: np.ndarray, x: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(np.minimum(np.maximum(x, lo), hi)).astype(x.dtype, copy=False)]


def _convert(op: P.Convert, x: np.ndarray) -> list[np.ndarray]:
    to = op.dtype
    if to == dtypes.bool_:
        return [np.asarray(x != 0)]
    if dtypes.is_integer(to) and x.dtype.kind in "fV":
        info = np.iinfo(to)
        v = np.trunc(x.astype(np.float64))
        v = np.where(np.isnan(v), 0, v)
        hi = np.float64(info.max)
        big = v >= hi  # float64(max of i64/u64) rounds up, so compare before casting
        v = np.clip(v, info.min, hi)
        out = np.where(big, np.array(info.max, to), v.astype(to))
        return [np.asarray(out, dtype=to)]
    if x.dtype in _LOW and to in _LOW:
        return [x.astype(np.float32).astype(to)]
    return [np.asarray(x.astype(to))]


def _bitcast(op: P.Bitcast, x: np.ndarray) -> list[np.ndarray]:
    # (np.ascontiguousarray would turn a rank-0 array into rank 1)
    return [(x if x.flags.c_contiguous else x.copy()).view(op.dtype)]


RULES[P.Select] = _select
RULES[P.Clamp] = _clamp
RULES[P.Convert] = _convert
RULES[P.Bitcast] = _bitcast
