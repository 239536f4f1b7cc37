"""Elementwise primitives, made by family.

One helper per family (`unary`, `binary`, `compare`) makes a primitive class from a name and the
dtypes it accepts, so every member of a family shares one type rule, and each interpreter gives a
whole family its rules in one place. Operands of an n-ary elementwise op have one dtype and one
shape, except that rank-0 operands broadcast (so `mul x 2.0:f32[]` needs no broadcast equation).
The NumPy-level API (`d.add`, `x * 2`) does the promotion and broadcasting before it binds these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import attrs
import numpy as np

from dsl import dtypes
from dsl.ir import Op, primitive
from dsl.types import TensorType

UNARY: list[type[Op]] = []
BINARY: list[type[Op]] = []
COMPARE: list[type[Op]] = []


def elementwise_shape(op: Op, in_types: tuple[TensorType, ...]) -> tuple[int, ...]:
    """The common shape of elementwise operands (rank-0 operands broadcast)."""
    shape: tuple[int, ...] = ()
    for t in in_types:
        if t.shape == () or t.shape == shape:
            continue
        if shape == ():
            shape = t.shape
        else:
            op.fail("operands must have equal shapes (or be scalars)", in_types)
    return shape


def _weak(in_types: tuple[TensorType, ...]) -> bool:
    return all(t.weak for t in in_types)


class UnaryOp(Op):
    """`y = f(x)`, elementwise. `allowed` are the accepted dtypes; `result` maps the dtype."""

    allowed: ClassVar[tuple[np.dtype, ...]] = dtypes.NUMERIC
    result: ClassVar[Callable[[np.dtype], np.dtype] | None] = None

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        if x.dtype not in self.allowed:
            self.fail(f"does not accept dtype {dtypes.short_name(x.dtype)}", in_types, dtype=True)
        dt = self.result(x.dtype) if self.result is not None else x.dtype
        return (TensorType(x.shape, dt, x.weak and dt == x.dtype),)


def unary(name: str, allowed: tuple[np.dtype, ...],
          result: Callable[[np.dtype], np.dtype] | None = None) -> type[Op]:
    cls = type(_class_name(name), (UnaryOp,), {"__module__": __name__,
                                                 "allowed": allowed, "result": staticmethod(result) if result else None})
    cls = primitive(name, family="unary")(cls)
    UNARY.append(cls)
    return cls


class BinaryOp(Op):
    """`z = f(x, y)`, elementwise, equal dtypes."""

    allowed: ClassVar[tuple[np.dtype, ...]] = dtypes.NUMERIC
    result: ClassVar[Callable[[np.dtype], np.dtype] | None] = None

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 2)
        x, y = in_types
        if x.dtype != y.dtype:
            self.fail("operands must have the same dtype", in_types, dtype=True)
        if x.dtype not in self.allowed:
            self.fail(f"does not accept dtype {dtypes.short_name(x.dtype)}", in_types, dtype=True)
        shape = elementwise_shape(self, in_types)
        dt = self.result(x.dtype) if self.result is not None else x.dtype
        return (TensorType(shape, dt, _weak(in_types) and dt == x.dtype),)


def binary(name: str, allowed: tuple[np.dtype, ...],
           result: Callable[[np.dtype], np.dtype] | None = None,
           family: str = "binary") -> type[Op]:
    cls = type(_class_name(name), (BinaryOp,), {"__module__": __name__, "allowed": allowed,
                                                  "result": staticmethod(result) if result else None})
    cls = primitive(name, family=family)(cls)
    (COMPARE if family == "compare" else BINARY).append(cls)
    return cls


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _to_bool(_: np.dtype) -> np.dtype:
    return dtypes.bool_


INEXACT, FLOAT, NUMERIC = dtypes.INEXACT, dtypes.FLOATING, dtypes.NUMERIC
INT_BOOL = dtypes.INTEGER + (dtypes.bool_,)
ALL = dtypes.ALL
SIGNED_NUMERIC = dtypes.SIGNED + INEXACT

# Unary math on floats (and complex where it is defined).
Exp = unary("exp", INEXACT)
Exp2 = unary("exp2", INEXACT)
Log = unary("log", INEXACT)
Log1p = unary("log1p", INEXACT)
Expm1 = unary("expm1", INEXACT)
Sqrt = unary("sqrt", INEXACT)
Rsqrt = unary("rsqrt", INEXACT)
Cbrt = unary("cbrt", FLOAT)
Sin = unary("sin", INEXACT)
Cos = unary("cos", INEXACT)
Tan = unary("tan", INEXACT)
Asin = unary("asin", INEXACT)
Acos = unary("acos", INEXACT)
Atan = unary("atan", INEXACT)
Sinh = unary("sinh", INEXACT)
Cosh = unary("cosh", INEXACT)
Tanh = unary("tanh", INEXACT)
Asinh = unary("asinh", INEXACT)
Acosh = unary("acosh", INEXACT)
Atanh = unary("atanh", INEXACT)
Logistic = unary("logistic", INEXACT)
Erf = unary("erf", FLOAT)
Erfc = unary("erfc", FLOAT)
ErfInv = unary("erf_inv", FLOAT)
Lgamma = unary("lgamma", FLOAT)
Digamma = unary("digamma", FLOAT)
Floor = unary("floor", FLOAT)
Ceil = unary("ceil", FLOAT)
IsFinite = unary("is_finite", FLOAT, _to_bool)
# Unary on numbers.
Neg = unary("neg", SIGNED_NUMERIC + dtypes.UNSIGNED)
Sign = unary("sign", NUMERIC)
Abs = unary("abs", NUMERIC, dtypes.real_dtype)
Real = unary("real", dtypes.COMPLEX, dtypes.real_dtype)
Imag = unary("imag", dtypes.COMPLEX, dtypes.real_dtype)
Conj = unary("conj", dtypes.COMPLEX)
# Bitwise.
Not = unary("not", INT_BOOL)
PopulationCount = unary("population_count", dtypes.INTEGER)
Clz = unary("clz", dtypes.INTEGER)
StopGradient = unary("stop_gradient", ALL)

ROUNDING_METHODS = ("half_even", "half_away_from_zero")


@primitive("round", family="unary")
class Round(UnaryOp):
    """Round to an integral value: ties to even (NumPy) or away from zero."""

    method: str = attrs.field(default="half_even")
    allowed = FLOAT

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        if self.method not in ROUNDING_METHODS:
            self.fail(f"unknown rounding method {self.method!r}", in_types)
        return UnaryOp.infer(self, *in_types)


UNARY.append(Round)


@primitive("integer_pow", family="unary")
class IntegerPow(UnaryOp):
    """`x ** y` for a static Python integer `y` (repeated multiplication); negative `y` only for
    inexact `x`, as in JAX (an integer reciprocal is not a power)."""

    y: int
    allowed = NUMERIC

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        out = super().infer(*in_types)
        if self.y < 0 and not dtypes.is_inexact(in_types[0].dtype):
            self.fail(f"negative exponent {self.y} needs a float or complex operand",
                      in_types, dtype=True)
        return out


UNARY.append(IntegerPow)


@primitive("convert", family="cast")
class Convert(Op):
    """Cast to `dtype` (float->int truncates toward zero and saturates; NaN becomes 0).

    `weak` marks the result weakly typed: promotion among weak operands (`x + 1` with `x` a weak
    `~i32[]` traced from a Python scalar, and a weak float) converts without strengthening.
    """

    dtype: np.dtype = attrs.field(converter=dtypes.canonicalize)
    weak: bool = False

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        if dtypes.is_complex(x.dtype) and not dtypes.is_complex(self.dtype):
            self.fail(f"cannot convert complex to {dtypes.short_name(self.dtype)} "
                      "(take real() or abs() first)", in_types, dtype=True)
        return (TensorType(x.shape, self.dtype, bool(self.weak)),)


@primitive("bitcast", family="cast")
class Bitcast(Op):
    """Reinterpret the bits as `dtype`, which must have the same width."""

    dtype: np.dtype = attrs.field(converter=dtypes.canonicalize)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        if x.dtype.itemsize != self.dtype.itemsize or dtypes.is_bool(x.dtype) \
                or dtypes.is_bool(self.dtype):
            self.fail(f"bitcast to {dtypes.short_name(self.dtype)} needs an operand of the same "
                      "bit width (and not bool)", in_types, dtype=True)
        return (TensorType(x.shape, self.dtype),)


# Binary arithmetic.
Add = binary("add", NUMERIC)
Sub = binary("sub", NUMERIC)
Mul = binary("mul", NUMERIC)
Div = binary("div", NUMERIC)
Rem = binary("rem", dtypes.INTEGER + FLOAT)
Pow = binary("pow", INEXACT)
Max = binary("max", ALL)
Min = binary("min", ALL)
Atan2 = binary("atan2", FLOAT)
Nextafter = binary("nextafter", FLOAT)
And = binary("and", INT_BOOL)
Or = binary("or", INT_BOOL)
Xor = binary("xor", INT_BOOL)
ShiftLeft = binary("shift_left", dtypes.INTEGER)
ShiftRightArithmetic = binary("shift_right_arithmetic", dtypes.INTEGER)
ShiftRightLogical = binary("shift_right_logical", dtypes.INTEGER)
Complex = binary("complex", (dtypes.float32, dtypes.float64), dtypes.complex_dtype)
# Comparisons.
Eq = binary("eq", ALL, _to_bool, "compare")
Ne = binary("ne", ALL, _to_bool, "compare")
Lt = binary("lt", dtypes.INTEGER + FLOAT + (dtypes.bool_,), _to_bool, "compare")
Le = binary("le", dtypes.INTEGER + FLOAT + (dtypes.bool_,), _to_bool, "compare")
Gt = binary("gt", dtypes.INTEGER + FLOAT + (dtypes.bool_,), _to_bool, "compare")
Ge = binary("ge", dtypes.INTEGER + FLOAT + (dtypes.bool_,), _to_bool, "compare")


@primitive("select", family="ternary")
class Select(Op):
    """`where(pred, on_true, on_false)` with a bool predicate."""

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 3)
        p, t, f = in_types
        if p.dtype != dtypes.bool_:
            self.fail("predicate must be bool", in_types, dtype=True)
        if t.dtype != f.dtype:
            self.fail("branches must have the same dtype", in_types, dtype=True)
        shape = elementwise_shape(self, in_types)
        return (TensorType(shape, t.dtype, t.weak and f.weak),)


@primitive("clamp", family="ternary")
class Clamp(Op):
    """`min(max(x, lo), hi)`: operands (lo, x, hi), lo and hi may be scalars."""

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 3)
        lo, x, hi = in_types
        if not (lo.dtype == x.dtype == hi.dtype):
            self.fail("operands must have the same dtype", in_types, dtype=True)
        if dtypes.is_complex(x.dtype):
            self.fail("complex values are not ordered", in_types, dtype=True)
        if lo.shape not in ((), x.shape) or hi.shape not in ((), x.shape):
            self.fail("bounds must be scalars or have the operand's shape", in_types)
        return (TensorType(x.shape, x.dtype, x.weak),)


TERNARY: list[type[Op]] = [Select, Clamp]
