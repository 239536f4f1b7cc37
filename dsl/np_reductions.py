"""NumPy-named reductions: sums and products, extremes, truth tests, arg-extremes, their
NaN-ignoring variants, and stable `logsumexp`/`softmax`.

Each reduction is one monoid primitive (`reduce_sum`, `reduce_max`, ..., `argmax`) wrapped in
NumPy's conventions: `axis` may be None (every axis), an int, a negative int or a tuple;
`keepdims` keeps reduced axes as length one; `where` masks elements out (they count as the
monoid's identity); `initial` joins one more value into every reduction.

Dtypes follow JAX's 32-bit defaults: `sum` and `prod` accumulate bools and small integers in
i32 (u32 for small unsigned integers), while wider ones and floats keep their dtype, and f16/bf16
accumulate in f32 and round back. A `max` or `min` over an empty axis has no identity and raises
(as in NumPy) unless `initial` is given; `argmax`/`argmin` of an empty axis always raise.

`logsumexp`, `softmax` and `log_softmax` subtract the (gradient-stopped) maximum before
exponentiating, so they neither overflow nor lose precision for large inputs.

Statistics (`mean`, `var`, `median`, `quantile`, ...) are in `dsl.np_statistics`; running sums
and products and `diff` in `dsl.np_cumulative`. Both build on the helpers here.
"""

from __future__ import annotations

import builtins
from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import bind
from dsl.errors import ArgumentValueError, DTypeError, ShapeError
from dsl.np_elementwise import (abs, exp, isfinite, isnan, log, multiply, sign, stop_gradient,
                                subtract, true_divide, where)
from dsl.np_manip import AxisLike, array_arg, normalize_axes, normalize_axis, promote, ravel

__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "count_nonzero", "log_softmax",
    "logsumexp", "max", "min", "nanargmax", "nanargmin", "nanmax", "nanmin", "nanprod",
    "nansum", "prod", "ptp", "softmax", "sum",
]

_builtin_any = any


def _dtype_arg(name: str, dtype: Any) -> np.dtype:
    """An explicit `dtype=` argument, with an error naming the function."""
    try:
        return dtypes.canonicalize(dtype)
    except DTypeError as e:
        raise DTypeError(f"{name}: {e.raw_message}") from None


def _accumulation_dtype(name: str, x: Any, dtype: Any) -> np.dtype:
    """JAX's `sum`/`prod` dtype: small integers widen to 32 bits, everything else stays."""
    if dtype is not None:
        return _dtype_arg(name, dtype)
    dt = x.dtype
    if dtypes.is_bool(dt) or dt in (dtypes.int8, dtypes.int16):
        return dtypes.int32
    if dt in (dtypes.uint8, dtypes.uint16):
        return dtypes.uint32
    return dt


def _compute_dtype(dt: np.dtype) -> np.dtype:
    """Accumulate f16/bf16 in f32 (as XLA and JAX do), other dtypes in themselves."""
    return dtypes.float32 if dt in (dtypes.float16, dtypes.bfloat16) else dt


def _keep(x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """Reinsert reduced axes as length one when `keepdims`."""
    return lax.expand_dims(x, sorted(axes)) if keepdims and axes else x


def _mask(name: str, x: Any, where_: Any, fill: Any) -> Any:
    """`x` with the elements outside `where_` replaced by `fill` (x's shape is kept)."""
    w = array_arg(name, where_)
    if not dtypes.is_bool(w.dtype):
        raise DTypeError(f"{name}: where must be a bool array, got {w.type}")
    try:
        shape = np.broadcast_shapes(tuple(w.shape), tuple(x.shape))
    except ValueError:
        shape = None
    if shape != tuple(x.shape):
        raise ShapeError(f"{name}: where {w.type} does not broadcast to the operand {x.type}")
    w = lax.broadcast_to_rank_shape(w, x.shape)
    return lax.select(w, x, lax.convert(array_arg(name, fill), x.dtype))


def _reduce(name: str, op_cls: type[P.Op], x: Any, axes: tuple[int, ...]) -> Any:
    return bind(op_cls(axes=axes), x) if axes else x


_FAST_SUM_KINDS = frozenset("fc")


def _eager_float_sum(a: Array, axis: Any, keepdims: bool) -> Array | None:
    """The eager fast path of `sum` on f32/f64/complex arrays: NumPy's own sum, which is what
    the `reduce_sum` rule computes. None when the general path is needed (other dtypes, or an
    axis NumPy rejects, so that the typed error comes from the general path)."""
    v = a._value
    if v.dtype.kind not in _FAST_SUM_KINDS or v.dtype.itemsize < 4:
        return None
    if axis is not None and type(axis) is not int and not (
            type(axis) is tuple and builtins.all(type(i) is int for i in axis)):
        return None
    if type(axis) is int and not -v.ndim <= axis < v.ndim:
        return None
    if type(axis) is tuple and (len(set(i % builtins.max(v.ndim, 1) for i in axis)) != len(axis)
                                or builtins.any(not -v.ndim <= i < v.ndim for i in axis)):
        return None
    out = np.sum(v, axis=axis, keepdims=keepdims)
    return Array(out if type(out) is np.ndarray else np.asarray(out))


def sum(a: Any, axis: AxisLike = None, dtype: Any = None, keepdims: bool = False,
        initial: Any = None, where: Any = None) -> Any:
    """Sum over `axis`. Bools and 8/16-bit integers accumulate in (u)i32."""
    if type(a) is Array and not a._weak and dtype is None and initial is None and where is None:
        fast = _eager_float_sum(a, axis, keepdims)
        if fast is not None:
            return fast
    x = array_arg("sum", a)
    axes = normalize_axes("sum", axis, x)
    dt = _accumulation_dtype("sum", x, dtype)
    x = lax.convert(x, dt) if dt != x.dtype else x
    if where is not None:
        x = _mask("sum", x, where, 0)
    if dtypes.is_bool(dt):  # an explicit dtype=bool sums as "any"
        out = _reduce("sum", P.ReduceOr, x, axes)
    else:
        cdt = _compute_dtype(dt)
        out = lax.convert(_reduce("sum", P.ReduceSum, lax.convert(x, cdt), axes), dt)
    if initial is not None:
        init = lax.convert(array_arg("sum", initial), dt)
        out = bind(P.Or(), out, init) if dtypes.is_bool(dt) else lax.add(out, init)
    return _keep(out, axes, keepdims)


def prod(a: Any, axis: AxisLike = None, dtype: Any = None, keepdims: bool = False,
         initial: Any = None, where: Any = None) -> Any:
    """Product over `axis`. Bools and 8/16-bit integers accumulate in (u)i32."""
    x = array_arg("prod", a)
    axes = normalize_axes("prod", axis, x)
    dt = _accumulation_dtype("prod", x, dtype)
    x = lax.convert(x, dt) if dt != x.dtype else x
    if where is not None:
        x = _mask("prod", x, where, 1)
    if dtypes.is_bool(dt):
        out = _reduce("prod", P.ReduceAnd, x, axes)
    else:
        cdt = _compute_dtype(dt)
        out = lax.convert(_reduce("prod", P.ReduceProd, lax.convert(x, cdt), axes), dt)
    if initial is not None:
        init = lax.convert(array_arg("prod", initial), dt)
        out = bind(P.And(), out, init) if dtypes.is_bool(dt) else lax.mul(out, init)
    return _keep(out, axes, keepdims)


def _extreme(name: str, op_cls: type[P.Op], combine: Any, a: Any, axis: AxisLike,
             keepdims: bool, initial: Any, where_: Any) -> Any:
    x = array_arg(name, a)
    axes = normalize_axes(name, axis, x)
    if dtypes.is_complex(x.dtype):
        raise DTypeError(f"{name}: complex values are not ordered; got {x.type}")
    if where_ is not None:
        if initial is None:
            raise ArgumentValueError(f"{name}: reduction with `where` needs an `initial` value")
        x = _mask(name, x, where_, initial)
    empty = _builtin_any(x.shape[i] == 0 for i in axes)
    if empty and initial is None:
        raise ShapeError(f"{name}: zero-size reduction over axes {axes} of {x.type} has no "
                         "identity; pass initial=")
    if empty:
        shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
        out = lax.broadcast_in_dim(lax.convert(array_arg(name, initial), x.dtype), shape, ())
    else:
        out = _reduce(name, op_cls, x, axes)
        if initial is not None:
            out = combine(out, lax.convert(array_arg(name, initial), x.dtype))
    return _keep(out, axes, keepdims)


def max(a: Any, axis: AxisLike = None, keepdims: bool = False, initial: Any = None,
        where: Any = None) -> Any:
    """Largest element over `axis` (NaN if any is NaN)."""
    return _extreme("max", P.ReduceMax, lax.max, a, axis, keepdims, initial, where)


def min(a: Any, axis: AxisLike = None, keepdims: bool = False, initial: Any = None,
        where: Any = None) -> Any:
    """Smallest element over `axis` (NaN if any is NaN)."""
    return _extreme("min", P.ReduceMin, lax.min, a, axis, keepdims, initial, where)


amax, amin = max, min


def _truth(name: str, x: Any) -> Any:
    return x if dtypes.is_bool(x.dtype) else lax.ne(x, lax.scalar_like(0, x.dtype))


def any(a: Any, axis: AxisLike = None, keepdims: bool = False, where: Any = None) -> Any:
    """Whether any element over `axis` is nonzero (False for empty axes)."""
    x = _truth("any", array_arg("any", a))
    axes = normalize_axes("any", axis, x)
    if where is not None:
        x = _mask("any", x, where, False)
    return _keep(_reduce("any", P.ReduceOr, x, axes), axes, keepdims)


def all(a: Any, axis: AxisLike = None, keepdims: bool = False, where: Any = None) -> Any:
    """Whether every element over `axis` is nonzero (True for empty axes)."""
    x = _truth("all", array_arg("all", a))
    axes = normalize_axes("all", axis, x)
    if where is not None:
        x = _mask("all", x, where, True)
    return _keep(_reduce("all", P.ReduceAnd, x, axes), axes, keepdims)


def _arg(name: str, op_cls: type[P.Op], a: Any, axis: SupportsIndex | None,
         keepdims: bool) -> Any:
    x = array_arg(name, a)
    if axis is None:
        if x.size == 0:
            raise ShapeError(f"{name}: attempt to get {name} of an empty sequence ({x.type})")
        out = _arg(name, op_cls, ravel(x), 0, False)
        return lax.reshape(out, (1,) * x.ndim) if keepdims else out
    ax = normalize_axis(name, axis, x)
    if x.shape[ax] == 0:
        raise ShapeError(f"{name}: attempt to get {name} of an empty sequence (axis {ax} of "
                         f"{x.type})")
    if dtypes.is_complex(x.dtype):
        raise DTypeError(f"{name}: complex values are not ordered; got {x.type}")
    out = bind(op_cls(axis=ax, index_dtype=dtypes.int32), x)
    return _keep(out, (ax,), keepdims)


def argmax(a: Any, axis: SupportsIndex | None = None, keepdims: bool = False) -> Any:
    """Index (i32) of the first largest element along `axis` (of the flattened array when
    None); a NaN counts as the largest."""
    return _arg("argmax", P.Argmax, a, axis, keepdims)


def argmin(a: Any, axis: SupportsIndex | None = None, keepdims: bool = False) -> Any:
    """Index (i32) of the first smallest element along `axis`; a NaN counts as the
    smallest."""
    return _arg("argmin", P.Argmin, a, axis, keepdims)


def _nonempty(name: str, x: Any, axis: AxisLike) -> None:
    """Refuse a reduction without identity (max, min) over an empty axis, naming `name`."""
    axes = normalize_axes(name, axis, x)
    if _builtin_any(x.shape[i] == 0 for i in axes):
        raise ShapeError(f"{name}: zero-size reduction over axes {axes} of {x.type} has no "
                         "identity")


def ptp(a: Any, axis: AxisLike = None, keepdims: bool = False) -> Any:
    """Range (max - min) over `axis`."""
    x = array_arg("ptp", a)
    _nonempty("ptp", x, axis)
    if dtypes.is_bool(x.dtype):
        raise DTypeError(f"ptp: bool values cannot be subtracted; got {x.type}")
    return subtract(max(x, axis, keepdims), min(x, axis, keepdims))


def count_nonzero(a: Any, axis: AxisLike = None, keepdims: bool = False) -> Any:
    """How many elements over `axis` are nonzero (i32)."""
    x = _truth("count_nonzero", array_arg("count_nonzero", a))
    normalize_axes("count_nonzero", axis, x)
    return sum(x, axis=axis, dtype=dtypes.int32, keepdims=keepdims)



def _nan_fill(x: Any, value: Any) -> Any:
    return where(isnan(x), lax.scalar_like(value, x.dtype), x) if dtypes.is_inexact(
        x.dtype) else x


def nansum(a: Any, axis: AxisLike = None, dtype: Any = None, keepdims: bool = False) -> Any:
    """`sum` treating NaNs as zero."""
    x = array_arg("nansum", a)
    normalize_axes("nansum", axis, x)
    return sum(_nan_fill(x, 0), axis, dtype, keepdims)


def nanprod(a: Any, axis: AxisLike = None, dtype: Any = None, keepdims: bool = False) -> Any:
    """`prod` treating NaNs as one."""
    x = array_arg("nanprod", a)
    normalize_axes("nanprod", axis, x)
    return prod(_nan_fill(x, 1), axis, dtype, keepdims)


def _nan_extreme(name: str, fn: Any, fill: float, a: Any, axis: AxisLike,
                 keepdims: bool) -> Any:
    x = array_arg(name, a)
    _nonempty(name, x, axis)
    if not dtypes.is_floating(x.dtype):
        return fn(x, axis, keepdims)
    nan = isnan(x)
    out = fn(where(nan, lax.scalar_like(fill, x.dtype), x), axis, keepdims)
    return where(all(nan, axis, keepdims), lax.scalar_like(np.nan, x.dtype), out)


def nanmax(a: Any, axis: AxisLike = None, keepdims: bool = False) -> Any:
    """`max` ignoring NaNs (NaN where every element is NaN)."""
    return _nan_extreme("nanmax", max, -np.inf, a, axis, keepdims)


def nanmin(a: Any, axis: AxisLike = None, keepdims: bool = False) -> Any:
    """`min` ignoring NaNs (NaN where every element is NaN)."""
    return _nan_extreme("nanmin", min, np.inf, a, axis, keepdims)


def nanargmax(a: Any, axis: SupportsIndex | None = None, keepdims: bool = False) -> Any:
    """`argmax` ignoring NaNs (an all-NaN slice gives index 0)."""
    x = array_arg("nanargmax", a)
    return argmax(_nan_fill(x, -np.inf) if dtypes.is_floating(x.dtype) else x, axis, keepdims)


def nanargmin(a: Any, axis: SupportsIndex | None = None, keepdims: bool = False) -> Any:
    """`argmin` ignoring NaNs (an all-NaN slice gives index 0)."""
    x = array_arg("nanargmin", a)
    return argmin(_nan_fill(x, np.inf) if dtypes.is_floating(x.dtype) else x, axis, keepdims)


def _float_input(name: str, a: Any) -> Any:
    x = array_arg(name, a)
    if dtypes.is_complex(x.dtype):
        raise DTypeError(f"{name}: complex inputs are not supported, got {x.type}")
    return x if dtypes.is_floating(x.dtype) else lax.convert(x, dtypes.float32)


def _safe_max(x: Any, axes: tuple[int, ...]) -> Any:
    """The maximum over `axes` (kept as length one), 0 where it is not finite, gradient-free."""
    m = stop_gradient(max(x, axes, keepdims=True))
    return where(isfinite(m), m, lax.scalar_like(0, x.dtype))


def logsumexp(a: Any, axis: AxisLike = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Any:
    """`log(sum(b * exp(a)))` over `axis`, computed without overflow.

    With `return_sign`, returns `(log|s|, sign(s))` so that negative weights `b` are allowed.
    """
    x = _float_input("logsumexp", a)
    if b is not None:  # the weights join the promotion and may broadcast `a`
        from dsl.np_manip import broadcast_arrays

        x, b = broadcast_arrays(*promote("logsumexp", x, b))
    axes = normalize_axes("logsumexp", axis, x)
    if _builtin_any(x.shape[i] == 0 for i in axes):
        shift = lax.scalar_like(0, x.dtype)
    else:
        shift = _safe_max(x, axes)
    e = exp(subtract(x, shift))
    if b is not None:
        e = multiply(b, e)
    s = sum(e, axis=axes, keepdims=True)
    if return_sign:
        sgn = sign(s)
        s = abs(s)
    out = lax.add(log(s), shift)
    if not keepdims:
        out = lax.squeeze(out, axes)
    if return_sign:
        return out, sgn if keepdims else lax.squeeze(sgn, axes)
    return out


def softmax(x: Any, axis: AxisLike = -1) -> Any:
    """`exp(x) / sum(exp(x))` over `axis`, shifted by the maximum for stability."""
    x = _float_input("softmax", x)
    axes = normalize_axes("softmax", axis, x)
    e = exp(subtract(x, stop_gradient(max(x, axes, keepdims=True))))
    return true_divide(e, sum(e, axis=axes, keepdims=True))


def log_softmax(x: Any, axis: AxisLike = -1) -> Any:
    """`x - logsumexp(x)` over `axis`, computed stably."""
    x = _float_input("log_softmax", x)
    axes = normalize_axes("log_softmax", axis, x)
    shifted = subtract(x, stop_gradient(max(x, axes, keepdims=True)))
    return subtract(shifted, log(sum(exp(shifted), axis=axes, keepdims=True)))
