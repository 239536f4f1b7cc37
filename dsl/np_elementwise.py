"""NumPy-named elementwise functions, with promotion and broadcasting.

`asarray` turns anything array-like into an `Array` (or leaves a tracer alone). `promote_args`
is the one place where operands meet: it finds the common dtype under the promotion rules of
`dsl.dtypes` (weak Python scalars included), casts, and broadcasts NumPy-style, so that the
primitives below only ever see operands of one dtype and one shape (or rank-0 ones).
Everything here is derived from primitives and needs no interpreter rules of its own.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import Tracer, _bind_eager, bind
from dsl.errors import ArgumentTypeError, CombinaxError, DTypeError, ShapeError

_PY_SCALARS = (bool, int, float, complex)
_RANK: dict[Any, int] = {"b": 0, "i": 1, "u": 1, "f": 2, "V": 2, "c": 3, int: 1, float: 2}


def asarray(x: Any, dtype: Any = None, copy: Any = None) -> Any:
    """An `Array` (or tracer) from an array-like: arrays, NumPy values, Python scalars, lists.

    Python floats become f32 (weak when a bare scalar); a NumPy float64 array stays f64.
    """
    dt = None if dtype is None else dtypes.canonicalize(dtype)
    if type(x) is Tracer or type(x) is Array:
        return x if dt is None else lax.convert(x, dt)
    if isinstance(x, _PY_SCALARS) and not isinstance(x, np.generic):
        sdt = dtypes.scalar_dtype(x)
        return Array(np.asarray(x, dtype=dt or sdt), weak=dt is None)
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype not in dtypes.SHORT_NAMES:
            raise DTypeError(f"asarray: NumPy dtype {x.dtype} is not supported")
        v = np.array(x, dtype=dt or x.dtype)  # a private, immutable copy
        return Array(v)
    if isinstance(x, (list, tuple)):
        return _from_sequence(x, dt)
    if hasattr(x, "__array__") and not isinstance(x, type):
        return asarray(np.asarray(x), dtype)
    raise ArgumentTypeError(f"asarray: {type(x).__name__} is not an array, a Python scalar or a nested "
                    "list of them")


def _from_sequence(x: list[Any] | tuple[Any, ...], dt: np.dtype | None) -> Any:
    flat: list[Any] = []
    stack: list[Any] = [x]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            flat.append(item)
    if any(type(v) is Tracer for v in flat):
        from dsl.np_manip import stack as stack_fn

        return stack_fn([asarray(v, dt) for v in x])
    if any(type(v) is Array for v in flat):
        x = _to_numpy_nested(x)
        strong = [dtypes_of(v) for v in flat if type(v) is Array and not v.weak]
    else:
        strong = []
    try:
        arr = np.asarray(x)
    except ValueError:
        raise ShapeError("asarray: the nested sequence is ragged (its rows differ in length)"
                         ) from None
    if arr.dtype == object:
        raise ArgumentTypeError("asarray: the nested sequence is ragged or holds non-numbers")
    if dt is None:
        kinds = [dtypes.kind_rank(dtypes.scalar_dtype(v)) for v in flat if isinstance(
            v, _PY_SCALARS)]
        dt, _ = dtypes.result_type(*(strong or [(np.dtype(arr.dtype) if arr.dtype in
                                                  dtypes.SHORT_NAMES else dtypes.float32,
                                                  bool(kinds))]))
        if kinds and not strong:
            dt = {0: dtypes.bool_, 1: dtypes.int32, 2: dtypes.float32,
                  3: dtypes.complex64}[builtins.max(kinds)]
            if dt == dtypes.int32 and arr.size and (arr.max() >= 2**31 or arr.min() < -2**31):
                dt = dtypes.int64
        elif not flat:  # `[]` holds no numbers: the default float, as jax.numpy has it
            dt = dtypes.float32
    return Array(np.array(arr, dtype=dt))


def _to_numpy_nested(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_to_numpy_nested(v) for v in x]
    return np.asarray(x) if type(x) is Array else x


def dtypes_of(x: Any) -> tuple[np.dtype, bool]:
    """(dtype, weak) of an operand: arrays, tracers, NumPy values, Python scalars."""
    t = type(x)
    if t is Tracer:
        ty = x._var.type
        return ty.dtype, ty.weak
    if t is Array:
        return x._value.dtype, x._weak
    if isinstance(x, (np.ndarray, np.generic)):  # before Python scalars: np.float64 is a float
        if x.dtype not in dtypes.SHORT_NAMES:
            raise DTypeError(f"NumPy dtype {x.dtype} is not supported")
        return x.dtype, False
    if isinstance(x, _PY_SCALARS):
        return dtypes.scalar_dtype(x), True
    return asarray(x).dtype, False


_SCALARS: dict[tuple[Any, ...], Array] = {}


def _cast_scalar(x: Any, dt: np.dtype, weak: bool) -> Array:
    """A Python scalar as a rank-0 value of `dt`, refusing values that do not fit.

    Arrays are immutable, so the constants are cached and shared.
    """
    key = (type(x), x, dt, weak)
    hit = _SCALARS.get(key)
    if hit is not None:
        return hit
    if len(_SCALARS) > 4096:
        _SCALARS.clear()
    out = _SCALARS[key] = _make_scalar(x, dt, weak)
    return out


def _make_scalar(x: Any, dt: np.dtype, weak: bool) -> Array:
    if isinstance(x, int) and not isinstance(x, bool) and dtypes.is_integer(dt):
        info = np.iinfo(dt)
        if not info.min <= x <= info.max:
            raise DTypeError(f"Python int {x} does not fit in {dtypes.short_name(dt)} "
                             f"(range {info.min}..{info.max})")
    if isinstance(x, complex) and not dtypes.is_complex(dt):
        raise DTypeError(f"complex {x} cannot be cast to {dtypes.short_name(dt)}")
    return Array(np.asarray(x, dtype=dt), weak)


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes, with a `ShapeError` naming them on a mismatch."""
    nd = builtins.max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        for i, n in enumerate(s, nd - len(s)):
            if n != out[i]:
                if out[i] == 1:
                    out[i] = n
                elif n != 1:
                    raise ShapeError("shapes " + " and ".join(str(list(s)) for s in shapes)
                                     + " do not broadcast together")
    return tuple(out)


def promote_args(name: str, *args: Any, dtype: np.dtype | None = None,
                 broadcast: bool = True) -> list[Any]:
    """Operands of `name` cast to their common dtype (or `dtype`) and broadcast together.

    Rank-0 operands are left rank-0 (elementwise primitives accept them).
    """
    if dtype is None and len(args) == 2:  # the hot paths: arrays of one type, array and scalar
        a, b = args
        ta, tb = type(a), type(b)
        if ta is Array or ta is Tracer:
            if tb is Array or tb is Tracer:
                if a.dtype == b.dtype and a.shape == b.shape:
                    return [a, b]
            elif (tb is float or tb is int) and _RANK[a.dtype.kind] >= _RANK[tb]:
                return [a, _cast_scalar(b, a.dtype, a.weak)]
        elif (tb is Array or tb is Tracer) and (ta is float or ta is int) \
                and _RANK[b.dtype.kind] >= _RANK[ta]:
            return [_cast_scalar(a, b.dtype, b.weak), b]
    elif dtype is None and len(args) == 1 and (type(args[0]) is Array
                                               or type(args[0]) is Tracer):
        return [args[0]]
    try:
        dws = [dtypes_of(a) for a in args]
    except (TypeError, ValueError) as e:
        if isinstance(e, CombinaxError):  # keep its class (a ragged list is a ShapeError)
            raise type(e)(f"{name}: {e.raw_message}") from None
        raise ArgumentTypeError(f"{name}: {e}") from None
    dt, weak = (dtype, False) if dtype is not None else dtypes.result_type(*dws)
    out = []
    for a, (adt, aweak) in zip(args, dws):
        if isinstance(a, _PY_SCALARS) and not isinstance(a, np.generic):
            out.append(_cast_scalar(a, dt, weak))
        elif adt != dt:
            out.append(bind(P.Convert(dtype=dt, weak=weak), asarray(a)))
        else:
            out.append(a if type(a) in (Tracer, Array) else asarray(a))
    if broadcast and len(out) > 1:
        shapes = [tuple(a.shape) for a in out]
        if any(s != shapes[0] and s != () for s in shapes):
            try:
                shape = broadcast_shapes(*shapes)
            except ShapeError:
                raise ShapeError(f"{name}: operand shapes "
                                 + " and ".join(str(a.type) for a in out)
                                 + " do not broadcast together") from None
            out = [a if a.shape in ((), shape) else lax.broadcast_to_rank_shape(a, shape)
                   for a in out]
    return out


def _float_args(name: str, *args: Any) -> list[Any]:
    """Promote, then move integers and bools to the default float (NumPy's `sin(int)`)."""
    xs = promote_args(name, *args)
    dt = xs[0].dtype
    if not dtypes.is_inexact(dt):
        xs = [lax.convert(x, dtypes.float32) if not x.weak else
              bind(P.Convert(dtype=dtypes.float32), x) for x in xs]
    return xs


def _unary_float(op_cls: type[P.Op], name: str) -> Any:
    op = op_cls()

    def f(x: Any) -> Any:
        (x,) = _float_args(name, x)
        return bind(op, x)

    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}` (integers and bools are first cast to f32)."
    return f


def _unary_same(op_cls: type[P.Op], name: str) -> Any:
    op = op_cls()

    def f(x: Any) -> Any:
        (x,) = promote_args(name, x)
        return bind(op, x)

    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}`."
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
