"""NumPy-named transcendental and special functions: exponentials and logarithms, roots,
trigonometric and hyperbolic functions and their inverses, the logistic, error and gamma
functions, and the ones derived from them (`hypot`, `logaddexp`, `sinc`, angle conversions).

Integer and bool operands are first cast to the default float (f32), as in NumPy's `sin(int)`.
Everything here is derived from primitives and needs no interpreter rules of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsl import lax
from dsl import ops as P
from dsl.core import bind
from dsl.np_promotion import _float_args


def _unary_float(op_cls: type[P.Op], name: str) -> Any:
    op = op_cls()

    def f(x: Any) -> Any:
        (x,) = _float_args(name, x)
        return bind(op, x)

    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}` (integers and bools are first cast to f32)."
    return f


exp = _unary_float(P.Exp, "exp")
exp2 = _unary_float(P.Exp2, "exp2")
log = _unary_float(P.Log, "log")
log1p = _unary_float(P.Log1p, "log1p")
expm1 = _unary_float(P.Expm1, "expm1")
sqrt = _unary_float(P.Sqrt, "sqrt")
rsqrt = _unary_float(P.Rsqrt, "rsqrt")
cbrt = _unary_float(P.Cbrt, "cbrt")
sin = _unary_float(P.Sin, "sin")
cos = _unary_float(P.Cos, "cos")
tan = _unary_float(P.Tan, "tan")
arcsin = asin = _unary_float(P.Asin, "arcsin")
arccos = acos = _unary_float(P.Acos, "arccos")
arctan = atan = _unary_float(P.Atan, "arctan")
sinh = _unary_float(P.Sinh, "sinh")
cosh = _unary_float(P.Cosh, "cosh")
tanh = _unary_float(P.Tanh, "tanh")
arcsinh = asinh = _unary_float(P.Asinh, "arcsinh")
arccosh = acosh = _unary_float(P.Acosh, "arccosh")
arctanh = atanh = _unary_float(P.Atanh, "arctanh")
logistic = sigmoid = _unary_float(P.Logistic, "logistic")
erf = _unary_float(P.Erf, "erf")
erfc = _unary_float(P.Erfc, "erfc")
erf_inv = erfinv = _unary_float(P.ErfInv, "erf_inv")
lgamma = gammaln = _unary_float(P.Lgamma, "lgamma")
digamma = _unary_float(P.Digamma, "digamma")


def arctan2(y: Any, x: Any) -> Any:
    y, x = _float_args("arctan2", y, x)
    return bind(P.Atan2(), y, x)


atan2 = arctan2


def hypot(x: Any, y: Any) -> Any:
    x, y = _float_args("hypot", x, y)
    ax, ay = bind(P.Abs(), x), bind(P.Abs(), y)
    hi, lo = bind(P.Max(), ax, ay), bind(P.Min(), ax, ay)
    safe = bind(P.Select(), bind(P.Eq(), hi, lax.scalar_like(0, hi.dtype)),
                lax.scalar_like(1, hi.dtype), hi)
    r = bind(P.Div(), lo, safe)
    return bind(P.Mul(), hi, bind(P.Sqrt(), bind(P.Add(), lax.scalar_like(1, hi.dtype),
                                                 bind(P.Mul(), r, r))))


def log2(x: Any) -> Any:
    (x,) = _float_args("log2", x)
    return bind(P.Div(), bind(P.Log(), x), lax.scalar_like(np.log(2.0), x.dtype))


def log10(x: Any) -> Any:
    (x,) = _float_args("log10", x)
    return bind(P.Div(), bind(P.Log(), x), lax.scalar_like(np.log(10.0), x.dtype))


def logaddexp(x: Any, y: Any) -> Any:
    x, y = _float_args("logaddexp", x, y)
    m = bind(P.Max(), x, y)
    finite = bind(P.IsFinite(), m)
    safe_m = bind(P.Select(), finite, m, lax.scalar_like(0, m.dtype))
    s = bind(P.Add(), bind(P.Exp(), bind(P.Sub(), x, safe_m)),
             bind(P.Exp(), bind(P.Sub(), y, safe_m)))
    return bind(P.Add(), safe_m, bind(P.Log(), s))


def deg2rad(x: Any) -> Any:
    (x,) = _float_args("deg2rad", x)
    return bind(P.Mul(), x, lax.scalar_like(np.pi / 180, x.dtype))


def rad2deg(x: Any) -> Any:
    (x,) = _float_args("rad2deg", x)
    return bind(P.Mul(), x, lax.scalar_like(180 / np.pi, x.dtype))


radians, degrees = deg2rad, rad2deg


def sinc(x: Any) -> Any:
    (x,) = _float_args("sinc", x)
    zero = bind(P.Eq(), x, lax.scalar_like(0, x.dtype))
    safe = bind(P.Select(), zero, lax.scalar_like(1, x.dtype), x)
    px = bind(P.Mul(), safe, lax.scalar_like(np.pi, x.dtype))
    return bind(P.Select(), zero, lax.scalar_like(1, x.dtype), bind(P.Div(), bind(P.Sin(), px),
                                                                   px))
