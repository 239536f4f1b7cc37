"""NumPy-named elementwise functions: arithmetic, comparisons, complex parts, rounding,
floating-point predicates, logical and bitwise operations, `where`, `clip` and casts.

Operands meet in `dsl.np_promotion.promote_args` (common dtype, NumPy broadcasting); the
transcendental and special functions live in `dsl.np_transcendental`. Both modules' public
names are re-exported here, so `dsl.np_elementwise` still offers every elementwise function.
Everything here is derived from primitives and needs no interpreter rules of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import Tracer, _bind_eager, bind
from dsl.errors import ArgumentTypeError, DTypeError, ShapeError
from dsl.np_promotion import (_float_args, asarray, broadcast_shapes, dtypes_of,  # noqa: F401
                              promote_args)
from dsl.np_transcendental import (  # noqa: F401  (re-exported)
    _unary_float, acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, asin,
    asinh, atan, atan2, atanh, cbrt, cos, cosh, deg2rad, degrees, digamma, erf, erf_inv, erfc,
    erfinv, exp, exp2, expm1, gammaln, hypot, lgamma, log, log1p, log2, log10, logaddexp,
    logistic, rad2deg, radians, rsqrt, sigmoid, sin, sinc, sinh, sqrt, tan, tanh)


def _unary_same(op_cls: type[P.Op], name: str) -> Any:
    op = op_cls()

    def f(x: Any) -> Any:
        (x,) = promote_args(name, x)
        return bind(op, x)

    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}`."
    return f


isfinite = _unary_float(P.IsFinite, "isfinite")
sign = _unary_same(P.Sign, "sign")
abs = absolute = _unary_same(P.Abs, "abs")


def _passthrough_int(op_cls: type[P.Op], name: str) -> Any:
    op = op_cls()

    def f(x: Any) -> Any:
        (x,) = promote_args(name, x)
        if dtypes.is_integer(x.dtype) or dtypes.is_bool(x.dtype):
            return x
        return bind(op, x)

    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}` (integers pass through unchanged)."
    return f


floor = _passthrough_int(P.Floor, "floor")
ceil = _passthrough_int(P.Ceil, "ceil")


def conj(x: Any) -> Any:  # noqa: F811  (real inputs pass through, as in NumPy)
    """Complex conjugate; real inputs are returned unchanged."""
    (x,) = promote_args("conj", x)
    return bind(P.Conj(), x) if dtypes.is_complex(x.dtype) else x


conjugate = conj


def real(x: Any) -> Any:
    """Real part (real inputs unchanged)."""
    (x,) = promote_args("real", x)
    return bind(P.Real(), x) if dtypes.is_complex(x.dtype) else x


def imag(x: Any) -> Any:
    """Imaginary part (zeros for real inputs)."""
    (x,) = promote_args("imag", x)
    if dtypes.is_complex(x.dtype):
        return bind(P.Imag(), x)
    return multiply(x, 0)


def negative(x: Any) -> Any:
    """`-x`."""
    (x,) = promote_args("negative", x)
    if dtypes.is_bool(x.dtype):
        raise DTypeError("negative: bool operands are not supported; use d.logical_not")
    return bind(P.Neg(), x)


def _binary(op_cls: type[P.Op], name: str, bool_op: type[P.Op] | None = None) -> Any:
    op, bop = op_cls(), (bool_op() if bool_op else None)

    def f(x: Any, y: Any) -> Any:
        if type(x) is Array and type(y) is Array:  # eager, one dtype, one shape: straight in
            vx, vy = x._value, y._value
            if vx.dtype == vy.dtype and vx.shape == vy.shape and vx.dtype != dtypes.bool_:
                return _bind_eager(op, (x, y))
        x, y = promote_args(name, x, y)
        if bop is not None and x.dtype == dtypes.bool_:
            return bind(bop, x, y)
        return bind(op, x, y)

    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}` with NumPy promotion and broadcasting."
    return f


add = _binary(P.Add, "add", P.Or)
multiply = _binary(P.Mul, "multiply", P.And)
maximum = _binary(P.Max, "maximum")
minimum = _binary(P.Min, "minimum")
equal = _binary(P.Eq, "equal")
not_equal = _binary(P.Ne, "not_equal")
less = _binary(P.Lt, "less")
less_equal = _binary(P.Le, "less_equal")
greater = _binary(P.Gt, "greater")
greater_equal = _binary(P.Ge, "greater_equal")
nextafter = _binary(P.Nextafter, "nextafter")


def subtract(x: Any, y: Any) -> Any:
    """`x - y`."""
    x, y = promote_args("subtract", x, y)
    if x.dtype == dtypes.bool_:
        raise DTypeError("subtract: bool operands are not supported; use d.logical_xor")
    return bind(P.Sub(), x, y)


def true_divide(x: Any, y: Any) -> Any:
    """`x / y`; integer operands divide as f32 (as in NumPy, with 32-bit defaults)."""
    x, y = _float_args("true_divide", x, y)
    return bind(P.Div(), x, y)


divide = true_divide


def floor_divide(x: Any, y: Any) -> Any:
    """`x // y`, rounding toward minus infinity (integers by zero give -1... as XLA does)."""
    x, y = promote_args("floor_divide", x, y)
    if dtypes.is_inexact(x.dtype):
        if dtypes.is_complex(x.dtype):
            raise DTypeError("floor_divide: complex operands are not ordered")
        return bind(P.Floor(), bind(P.Div(), x, y))
    if dtypes.is_bool(x.dtype):
        x, y = lax.convert(x, dtypes.int8), lax.convert(y, dtypes.int8)
    q = bind(P.Div(), x, y)
    if dtypes.is_unsigned(x.dtype):
        return q
    r = bind(P.Rem(), x, y)
    zero = lax.scalar_like(0, x.dtype)
    fix = bind(P.And(), bind(P.Ne(), r, zero),
               bind(P.Ne(), bind(P.Lt(), r, zero), bind(P.Lt(), y, zero)))
    return bind(P.Select(), fix, bind(P.Sub(), q, lax.scalar_like(1, x.dtype)), q)


def remainder(x: Any, y: Any) -> Any:
    """`x % y` with the sign of `y` (Python / NumPy semantics)."""
    x, y = promote_args("remainder", x, y)
    if dtypes.is_complex(x.dtype) or dtypes.is_bool(x.dtype):
        raise DTypeError(f"remainder: dtype {dtypes.short_name(x.dtype)} is not supported")
    r = bind(P.Rem(), x, y)
    if dtypes.is_unsigned(x.dtype):
        return r
    zero = lax.scalar_like(0, x.dtype)
    fix = bind(P.And(), bind(P.Ne(), r, zero),
               bind(P.Ne(), bind(P.Lt(), r, zero), bind(P.Lt(), y, zero)))
    return bind(P.Select(), fix, bind(P.Add(), r, y), r)


mod = remainder


def fmod(x: Any, y: Any) -> Any:
    """C-style remainder (sign of `x`)."""
    x, y = promote_args("fmod", x, y)
    return bind(P.Rem(), x, y)


def divmod(x: Any, y: Any) -> tuple[Any, Any]:
    return floor_divide(x, y), remainder(x, y)


def power(x: Any, y: Any) -> Any:
    """`x ** y`. A Python int exponent keeps `x`'s dtype (repeated multiplication)."""
    if isinstance(y, int) and not isinstance(y, bool) and type(x) in (Tracer, Array):
        if y >= 0 or dtypes.is_inexact(x.dtype):
            return bind(P.IntegerPow(y=y), x)
    x, y = promote_args("power", x, y)
    if dtypes.is_inexact(x.dtype):
        return bind(P.Pow(), x, y)
    return _integer_power(x, y)


pow = power


def _integer_power(x: Any, y: Any) -> Any:
    """Integer `x ** y` by binary exponentiation over the bits of `y` (negative y gives 0,
    except for bases 1 and -1, as in XLA)."""
    if dtypes.is_bool(x.dtype):
        return bitwise_or(x, logical_not(y))
    dt = x.dtype
    one = lax.scalar_like(1, dt)
    acc = bind(P.Mul(), x, lax.scalar_like(0, dt))
    acc = bind(P.Add(), acc, one)
    base, e = x, y
    for _ in range(dt.itemsize * 8):
        bit = bind(P.Ne(), bind(P.And(), e, one), lax.scalar_like(0, dt))
        acc = bind(P.Select(), bit, bind(P.Mul(), acc, base), acc)
        base = bind(P.Mul(), base, base)
        e = bind(P.ShiftRightLogical(), e, one)
    if dtypes.is_unsigned(dt):
        return acc
    neg = bind(P.Lt(), y, lax.scalar_like(0, dt))
    special = bind(P.Select(), bind(P.Eq(), x, one), one,
                   bind(P.Select(), bind(P.Eq(), x, lax.scalar_like(-1, dt)),
                        bind(P.Select(), bind(P.Eq(), bind(P.And(), y, one), one),
                             lax.scalar_like(-1, dt), one), lax.scalar_like(0, dt)))
    return bind(P.Select(), neg, special, acc)


def square(x: Any) -> Any:
    (x,) = promote_args("square", x)
    return bind(P.IntegerPow(y=2), x)


def reciprocal(x: Any) -> Any:
    return true_divide(1, x)




def trunc(x: Any) -> Any:
    (x,) = promote_args("trunc", x)
    if not dtypes.is_floating(x.dtype):
        return x
    neg = bind(P.Lt(), x, lax.scalar_like(0, x.dtype))
    return bind(P.Select(), neg, bind(P.Ceil(), x), bind(P.Floor(), x))


fix = trunc


def rint(x: Any) -> Any:
    (x,) = promote_args("rint", x)
    if not dtypes.is_floating(x.dtype):
        return x
    return bind(P.Round(method="half_even"), x)


def round(x: Any, decimals: int = 0) -> Any:
    """Round half to even, at `decimals` places (as NumPy)."""
    (x,) = promote_args("round", x)
    if not dtypes.is_floating(x.dtype):
        return x
    if decimals == 0:
        return bind(P.Round(method="half_even"), x)
    f = lax.scalar_like(10.0 ** decimals, x.dtype)
    return bind(P.Div(), bind(P.Round(method="half_even"), bind(P.Mul(), x, f)), f)


around = round


def isnan(x: Any) -> Any:
    (x,) = promote_args("isnan", x)
    return bind(P.Ne(), x, x)


def isinf(x: Any) -> Any:
    (x,) = promote_args("isinf", x)
    if not dtypes.is_inexact(x.dtype):
        return bind(P.Ne(), x, x)
    if dtypes.is_complex(x.dtype):
        return logical_or(isinf(real(x)), isinf(imag(x)))
    return bind(P.Eq(), bind(P.Abs(), x), lax.scalar_like(np.inf, x.dtype))


def signbit(x: Any) -> Any:
    (x,) = promote_args("signbit", x)
    if dtypes.is_floating(x.dtype):
        bits = {2: dtypes.int16, 4: dtypes.int32, 8: dtypes.int64}[x.dtype.itemsize]
        return bind(P.Lt(), bind(P.Bitcast(dtype=bits), x), lax.scalar_like(0, bits))
    return bind(P.Lt(), x, lax.scalar_like(0, x.dtype))


def copysign(x: Any, y: Any) -> Any:
    x, y = _float_args("copysign", x, y)
    ax = bind(P.Abs(), x)
    return bind(P.Select(), signbit(y), bind(P.Neg(), ax), ax)




def _to_bool(name: str, *xs: Any) -> list[Any]:
    out = []
    for x in promote_args(name, *xs):
        out.append(x if x.dtype == dtypes.bool_ else bind(P.Ne(), x, lax.scalar_like(0, x.dtype)))
    return out


def logical_and(x: Any, y: Any) -> Any:
    return bind(P.And(), *_to_bool("logical_and", x, y))


def logical_or(x: Any, y: Any) -> Any:
    return bind(P.Or(), *_to_bool("logical_or", x, y))


def logical_xor(x: Any, y: Any) -> Any:
    return bind(P.Xor(), *_to_bool("logical_xor", x, y))


def logical_not(x: Any) -> Any:
    (x,) = _to_bool("logical_not", x)
    return bind(P.Not(), x)


def _bitwise(op_cls: type[P.Op], name: str) -> Any:
    op = op_cls()

    def f(x: Any, y: Any) -> Any:
        x, y = promote_args(name, x, y)
        if not (dtypes.is_integer(x.dtype) or dtypes.is_bool(x.dtype)):
            raise DTypeError(f"{name}: needs integer or bool operands, got "
                             f"{x.type} and {y.type}")
        return bind(op, x, y)

    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}` of integers or bools."
    return f


bitwise_and = _bitwise(P.And, "bitwise_and")
bitwise_or = _bitwise(P.Or, "bitwise_or")
bitwise_xor = _bitwise(P.Xor, "bitwise_xor")


def invert(x: Any) -> Any:
    """Bitwise not (logical not for bools)."""
    (x,) = promote_args("invert", x)
    if not (dtypes.is_integer(x.dtype) or dtypes.is_bool(x.dtype)):
        raise DTypeError(f"invert: needs an integer or bool operand, got {x.type}")
    return bind(P.Not(), x)


bitwise_not = bitwise_invert = invert


def left_shift(x: Any, y: Any) -> Any:
    x, y = promote_args("left_shift", x, y)
    if not dtypes.is_integer(x.dtype):
        raise DTypeError(f"left_shift: needs integer operands, got {x.type} and {y.type}")
    return bind(P.ShiftLeft(), x, y)


def right_shift(x: Any, y: Any) -> Any:
    """Arithmetic shift for signed integers, logical for unsigned (as NumPy)."""
    x, y = promote_args("right_shift", x, y)
    if not dtypes.is_integer(x.dtype):
        raise DTypeError(f"right_shift: needs integer operands, got {x.type} and {y.type}")
    op = P.ShiftRightLogical() if dtypes.is_unsigned(x.dtype) else P.ShiftRightArithmetic()
    return bind(op, x, y)


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """`x` where `condition` holds, else `y` (all three broadcast). The one-argument form
    (indices of nonzeros) has a data-dependent shape and is not supported."""
    if x is None or y is None:
        raise ArgumentTypeError("where: the one-argument form has a data-dependent shape; pass x and y "
                        "(or use d.nonzero with a static size)")
    (c,) = _to_bool("where", condition)
    x, y = promote_args("where", x, y)
    c, x, y = _broadcast_all("where", c, x, y)
    return bind(P.Select(), c, x, y)


def _broadcast_all(name: str, *xs: Any) -> list[Any]:
    shapes = [tuple(x.shape) for x in xs]
    try:
        shape = broadcast_shapes(*shapes)
    except ShapeError:
        raise ShapeError(f"{name}: shapes " + " and ".join(str(x.type) for x in xs)
                         + " do not broadcast together") from None
    return [x if x.shape in ((), shape) else lax.broadcast_to_rank_shape(x, shape) for x in xs]


def clip(x: Any, min: Any = None, max: Any = None) -> Any:
    """Limit values to [min, max] (either may be None)."""
    if min is not None:
        x = maximum(x, min)
    if max is not None:
        x = minimum(x, max)
    return x if min is not None or max is not None else asarray(x)


def astype(x: Any, dtype: Any) -> Any:
    """Cast to `dtype` (float -> int truncates toward zero; complex -> real is refused)."""
    x = asarray(x)
    dt = dtypes.canonicalize(dtype)
    if x.dtype == dt and not x.weak:
        return x
    return bind(P.Convert(dtype=dt), x)


def stop_gradient(x: Any) -> Any:
    """The identity, seen by differentiation as a constant."""
    return bind(P.StopGradient(), asarray(x))


def nan_to_num(x: Any, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Any:
    (x,) = promote_args("nan_to_num", x)
    if not dtypes.is_floating(x.dtype):
        return x
    info = dtypes.finfo(x.dtype)
    hi = float(info.max) if posinf is None else posinf
    lo = float(info.min) if neginf is None else neginf
    x = where(isnan(x), nan, x)
    x = where(bind(P.Eq(), x, lax.scalar_like(np.inf, x.dtype)), hi, x)
    return where(bind(P.Eq(), x, lax.scalar_like(-np.inf, x.dtype)), lo, x)


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Any:
    a, b = promote_args("isclose", a, b)
    if not dtypes.is_inexact(a.dtype):
        return equal(a, b)
    close = less_equal(abs(subtract(a, b)), add(atol, multiply(rtol, abs(b))))
    close = logical_or(close, equal(a, b))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close
