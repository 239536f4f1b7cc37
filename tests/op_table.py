"""The op table: every user-level operation with its NumPy oracle, arity, dtypes and domain.

One entry per operation. `check_op` (in test_ops.py) draws operands of the listed dtypes and
domain with hypothesis, runs the operation eagerly and staged-then-evaluated, and compares both
with the NumPy oracle computed in float64 (or the exact integer result). Later interpreters reuse
this table for their laws (XLA vs evaluate, finite differences, vmap vs loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import dsl as d
from dsl import dtypes as D

FLOATS = (D.float32, D.float64, D.float16, D.bfloat16)
F32_64 = (D.float32, D.float64)
INTS = (D.int32, D.int8, D.int64, D.uint8, D.uint32)
SIGNED = (D.int32, D.int8, D.int64)
COMPLEX = (D.complex64, D.complex128)


@dataclass(frozen=True)
class OpCase:
    """One row of the table.

    `ours` and `ref` take the same operands (NumPy arrays for `ref`). `domain` names an entry of
    `dsl.testing.DOMAINS` (or a (lo, hi) pair), one per operand or one for all. `ref_in_f64`:
    compute the oracle in float64 and round to the result dtype. `same_shape`: operands share one
    shape (otherwise the second operand is drawn as a broadcastable shape).
    """

    name: str
    ours: Callable[..., Any]
    ref: Callable[..., Any]
    arity: int
    dtypes: tuple[np.dtype, ...]
    domain: Any = "real"
    ref_in_f64: bool = True
    same_shape: bool = False
    rtol: dict[str, float] = field(default_factory=dict)


def _np_round_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _erf(x: np.ndarray) -> np.ndarray:
    import scipy.special as sp

    return sp.erf(x)


def _erfinv(x: np.ndarray) -> np.ndarray:
    import scipy.special as sp

    return sp.erfinv(x)


def _lgamma(x: np.ndarray) -> np.ndarray:
    import scipy.special as sp

    return sp.gammaln(x)


def _digamma(x: np.ndarray) -> np.ndarray:
    import scipy.special as sp

    return sp.digamma(x)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _trunc_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.trunc(x / y)


UNARY = [
    OpCase("exp", d.exp, np.exp, 1, FLOATS + COMPLEX, "small"),
    OpCase("exp2", d.exp2, np.exp2, 1, FLOATS, "small"),
    OpCase("log", d.log, np.log, 1, FLOATS + COMPLEX, "positive"),
    OpCase("log1p", d.log1p, np.log1p, 1, FLOATS, "positive"),
    OpCase("expm1", d.expm1, np.expm1, 1, FLOATS, "small"),
    OpCase("sqrt", d.sqrt, np.sqrt, 1, FLOATS + COMPLEX, "positive"),
    OpCase("rsqrt", d.rsqrt, lambda x: 1 / np.sqrt(x), 1, FLOATS, "positive"),
    OpCase("cbrt", d.cbrt, np.cbrt, 1, FLOATS, "real"),
    OpCase("sin", d.sin, np.sin, 1, FLOATS + COMPLEX, "real"),
    OpCase("cos", d.cos, np.cos, 1, FLOATS + COMPLEX, "real"),
    OpCase("tan", d.tan, np.tan, 1, FLOATS, "unit"),
    OpCase("arcsin", d.arcsin, np.arcsin, 1, FLOATS, "unit"),
    OpCase("arccos", d.arccos, np.arccos, 1, FLOATS, "unit"),
    OpCase("arctan", d.arctan, np.arctan, 1, FLOATS, "real"),
    OpCase("sinh", d.sinh, np.sinh, 1, FLOATS, "small"),
    OpCase("cosh", d.cosh, np.cosh, 1, FLOATS, "small"),
    OpCase("tanh", d.tanh, np.tanh, 1, FLOATS + COMPLEX, "small"),
    OpCase("arcsinh", d.arcsinh, np.arcsinh, 1, FLOATS, "real"),
    OpCase("arccosh", d.arccosh, np.arccosh, 1, FLOATS, "ge1"),
    OpCase("arctanh", d.arctanh, np.arctanh, 1, FLOATS, "unit"),
    OpCase("logistic", d.logistic, _logistic, 1, FLOATS, "real"),
    OpCase("erf", d.erf, _erf, 1, FLOATS, "small"),
    OpCase("erfc", d.erfc, lambda x: 1 - _erf(x), 1, F32_64, (-1.0, 1.0)),
    OpCase("erf_inv", d.erf_inv, _erfinv, 1, F32_64, "unit"),
    OpCase("lgamma", d.lgamma, _lgamma, 1, FLOATS, "positive"),
    OpCase("digamma", d.digamma, _digamma, 1, F32_64, "positive"),
    OpCase("floor", d.floor, np.floor, 1, FLOATS + INTS, "real"),
    OpCase("ceil", d.ceil, np.ceil, 1, FLOATS + INTS, "real"),
    OpCase("round", d.round, np.round, 1, FLOATS, "real"),
    OpCase("trunc", d.trunc, np.trunc, 1, FLOATS, "real"),
    OpCase("isfinite", d.isfinite, np.isfinite, 1, FLOATS, "real"),
    OpCase("isnan", d.isnan, np.isnan, 1, FLOATS, "real"),
    OpCase("negative", d.negative, np.negative, 1, FLOATS + SIGNED + COMPLEX, "real"),
    OpCase("sign", d.sign, np.sign, 1, FLOATS + SIGNED, "real"),
    OpCase("abs", d.abs, np.abs, 1, FLOATS + SIGNED + COMPLEX, "real"),
    OpCase("real", d.real, np.real, 1, COMPLEX, "real"),
    OpCase("imag", d.imag, np.imag, 1, COMPLEX, "real"),
    OpCase("conj", d.conj, np.conj, 1, COMPLEX, "real"),
    OpCase("invert", d.invert, np.invert, 1, INTS + (D.bool_,), "real", ref_in_f64=False),
    OpCase("square", d.square, np.square, 1, FLOATS + INTS, "small"),
    OpCase("log2", d.log2, np.log2, 1, F32_64, "positive"),
    OpCase("log10", d.log10, np.log10, 1, F32_64, "positive"),
]

BINARY = [
    OpCase("add", d.add, np.add, 2, FLOATS + INTS + COMPLEX, "small"),
    OpCase("subtract", d.subtract, np.subtract, 2, FLOATS + SIGNED + COMPLEX, "small"),
    OpCase("multiply", d.multiply, np.multiply, 2, FLOATS + INTS + COMPLEX, "small"),
    OpCase("true_divide", d.true_divide, np.true_divide, 2, FLOATS + COMPLEX,
           ("real", "nonzero")),
    OpCase("floor_divide", d.floor_divide, np.floor_divide, 2, SIGNED, ("real", "nonzero"),
           ref_in_f64=False),
    OpCase("remainder", d.remainder, np.remainder, 2, SIGNED + F32_64, ("real", "nonzero"),
           ref_in_f64=False),
    OpCase("fmod", d.fmod, np.fmod, 2, SIGNED + F32_64, ("real", "nonzero"), ref_in_f64=False),
    OpCase("power", d.power, np.power, 2, F32_64, ("positive", "small")),
    OpCase("maximum", d.maximum, np.maximum, 2, FLOATS + INTS, "real"),
    OpCase("minimum", d.minimum, np.minimum, 2, FLOATS + INTS, "real"),
    OpCase("arctan2", d.arctan2, np.arctan2, 2, FLOATS, "real"),
    OpCase("hypot", d.hypot, np.hypot, 2, F32_64, "real"),
    OpCase("logaddexp", d.logaddexp, np.logaddexp, 2, F32_64, "real"),
    OpCase("bitwise_and", d.bitwise_and, np.bitwise_and, 2, INTS + (D.bool_,), "real",
           ref_in_f64=False),
    OpCase("bitwise_or", d.bitwise_or, np.bitwise_or, 2, INTS + (D.bool_,), "real",
           ref_in_f64=False),
    OpCase("bitwise_xor", d.bitwise_xor, np.bitwise_xor, 2, INTS + (D.bool_,), "real",
           ref_in_f64=False),
    OpCase("left_shift", d.left_shift, np.left_shift, 2, (D.int32, D.uint8, D.uint32),
           (0.0, 6.0), ref_in_f64=False),
    OpCase("right_shift", d.right_shift, np.right_shift, 2, (D.int32, D.int8, D.uint32),
           (0.0, 6.0), ref_in_f64=False),
    OpCase("equal", d.equal, np.equal, 2, FLOATS + INTS + (D.bool_,), "small"),
    OpCase("not_equal", d.not_equal, np.not_equal, 2, FLOATS + INTS, "small"),
    OpCase("less", d.less, np.less, 2, FLOATS + INTS, "small"),
    OpCase("less_equal", d.less_equal, np.less_equal, 2, FLOATS + INTS, "small"),
    OpCase("greater", d.greater, np.greater, 2, FLOATS + INTS, "small"),
    OpCase("greater_equal", d.greater_equal, np.greater_equal, 2, FLOATS + INTS, "small"),
    OpCase("logical_and", d.logical_and, np.logical_and, 2, (D.bool_, D.int32), "small"),
    OpCase("logical_or", d.logical_or, np.logical_or, 2, (D.bool_, D.int32), "small"),
    OpCase("logical_xor", d.logical_xor, np.logical_xor, 2, (D.bool_,), "small"),
    OpCase("copysign", d.copysign, np.copysign, 2, F32_64, "real"),
    OpCase("nextafter", d.nextafter, np.nextafter, 2, F32_64, "real", ref_in_f64=False),
]

TERNARY = [
    OpCase("where", lambda c, x, y: d.where(c > 0, x, y),
           lambda c, x, y: np.where(c > 0, x, y), 3, FLOATS + INTS, "real", ref_in_f64=False),
    OpCase("clip", lambda x, lo, hi: d.clip(x, lo, d.maximum(lo, hi)),
           lambda x, lo, hi: np.clip(x, lo, np.maximum(lo, hi)), 3, F32_64 + SIGNED, "real",
           ref_in_f64=False),
]

TABLE = UNARY + BINARY + TERNARY
