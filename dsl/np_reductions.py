"""NumPy-named reductions: sums, extremes, statistics, quantiles, cumulative sums and
differences, and stable softmax.

Each reduction is one monoid primitive (`reduce_sum`, `reduce_max`, ..., `argmax`, `cumsum`)
wrapped in NumPy's conventions: `axis` may be None (every axis), an int, a negative int or a
tuple; `keepdims` keeps reduced axes as length one; `where` masks elements out (they count as the
monoid's identity); `initial` joins one more value into every reduction.

Dtypes follow JAX's 32-bit defaults: `sum` and `prod` accumulate bools and small integers in
i32 (u32 for small unsigned integers), while wider ones and floats keep their dtype; `mean`,
`var` and `std` of integers are f32, and f16/bf16 statistics accumulate in f32 and round back.
A `max` or `min` over an empty axis has no identity and raises (as in NumPy) unless `initial`
is given; `argmax`/`argmin` of an empty axis always raise.

`logsumexp`, `softmax` and `log_softmax` subtract the (gradient-stopped) maximum before
exponentiating, so they neither overflow nor lose precision for large inputs.
"""

from __future__ import annotations

import builtins
import operator
from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import Tracer, bind
from dsl.errors import ArgumentTypeError, ArgumentValueError, DTypeError, ShapeError
from dsl.np_elementwise import (abs, asarray, conj, exp, isfinite, isnan, log, logical_not,
                                maximum, multiply, real, sign, sqrt, stop_gradient, subtract,
                                true_divide, where)
from dsl.np_manip import (AxisLike, array_arg, normalize_axes, normalize_axis, promote, ravel,
                          take_static)

__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "average", "count_nonzero",
    "cumprod", "cumsum", "cumulative_prod", "cumulative_sum", "diff", "log_softmax",
    "logsumexp", "max", "mean", "median", "min", "nanargmax", "nanargmin", "nancumsum",
    "nanmax", "nanmean", "nanmin", "nanprod", "nanstd", "nansum", "nanvar", "percentile",
    "prod", "ptp", "quantile", "softmax", "std", "sum", "var",
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


def _float_dtype(name: str, x: Any, dtype: Any) -> np.dtype:
    """The result dtype of a statistic: integers and bools become the default float."""
    if dtype is not None:
        return _dtype_arg(name, dtype)
    return x.dtype if dtypes.is_inexact(x.dtype) else dtypes.float32


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


def _cumulative(name: str, op_cls: type[P.Op], a: Any, axis: SupportsIndex | None,
                dtype: Any) -> Any:
    x = array_arg(name, a)
    if axis is None:
        x, axis = ravel(x), 0
    ax = normalize_axis(name, axis, x)
    dt = _dtype_arg(name, dtype) if dtype is not None else (
        dtypes.int32 if dtypes.is_bool(x.dtype) else x.dtype)
    cdt = _compute_dtype(dt)
    return lax.convert(bind(op_cls(axis=ax), lax.convert(x, cdt)), dt)


def cumsum(a: Any, axis: SupportsIndex | None = None, dtype: Any = None) -> Any:
    """Running sum along `axis` (of the flattened array when None); bools count in i32."""
    return _cumulative("cumsum", P.Cumsum, a, axis, dtype)


def cumprod(a: Any, axis: SupportsIndex | None = None, dtype: Any = None) -> Any:
    """Running product along `axis` (of the flattened array when None)."""
    return _cumulative("cumprod", P.Cumprod, a, axis, dtype)


def _with_initial(name: str, out: Any, x: Any, axis: SupportsIndex | None, value: int) -> Any:
    ax = 0 if axis is None else normalize_axis(name, axis, x)
    cfg = [(1 if i == ax else 0, 0, 0) for i in range(out.ndim)]
    return lax.pad(out, lax.scalar_like(value, out.dtype), cfg)


def cumulative_sum(x: Any, /, *, axis: SupportsIndex | None = None, dtype: Any = None,
                   include_initial: bool = False) -> Any:
    """Running sum (the Array API's name); `include_initial` prepends the zero."""
    x = array_arg("cumulative_sum", x)
    if axis is None and x.ndim > 1:
        raise ShapeError(f"cumulative_sum: axis is required for arrays of rank > 1, got "
                         f"{x.type}")
    out = cumsum(x, axis, dtype)
    return _with_initial("cumulative_sum", out, x, axis, 0) if include_initial else out


def cumulative_prod(x: Any, /, *, axis: SupportsIndex | None = None, dtype: Any = None,
                    include_initial: bool = False) -> Any:
    """Running product (the Array API's name); `include_initial` prepends the one."""
    x = array_arg("cumulative_prod", x)
    if axis is None and x.ndim > 1:
        raise ShapeError(f"cumulative_prod: axis is required for arrays of rank > 1, got "
                         f"{x.type}")
    out = cumprod(x, axis, dtype)
    return _with_initial("cumulative_prod", out, x, axis, 1) if include_initial else out


def _count(x: Any, axes: tuple[int, ...], where_: Any, dt: np.dtype) -> Any:
    """How many elements each reduction sees, as a value of `dt`."""
    if where_ is None:
        n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
        return lax.scalar_like(n, dt)
    return lax.convert(sum(lax.broadcast_to_rank_shape(asarray(where_), x.shape), axis=axes,
                           dtype=dtypes.int32 if dtypes.is_inexact(dt) else dt), dt)


def mean(a: Any, axis: AxisLike = None, dtype: Any = None, keepdims: bool = False,
         where: Any = None) -> Any:
    """Arithmetic mean over `axis` (f32 for integer inputs; NaN for an empty axis)."""
    x = array_arg("mean", a)
    axes = normalize_axes("mean", axis, x)
    dt = _float_dtype("mean", x, dtype)
    cdt = _compute_dtype(dt)
    total = sum(lax.convert(x, cdt), axis=axes, where=where)
    out = lax.div(total, _count(x, axes, where, cdt))
    return _keep(lax.convert(out, dt), axes, keepdims)


def var(a: Any, axis: AxisLike = None, dtype: Any = None, ddof: int = 0,
        keepdims: bool = False, *, where: Any = None, correction: int | float | None = None
        ) -> Any:
    """Variance over `axis`, dividing by `N - ddof` (real-valued for complex inputs)."""
    x = array_arg("var", a)
    if correction is not None:
        ddof = correction  # type: ignore[assignment]
    axes = normalize_axes("var", axis, x)
    dt = _float_dtype("var", x, dtype)
    cdt = _compute_dtype(dt)
    xc = lax.convert(x, cdt)
    centered = subtract(xc, mean(xc, axis=axes, keepdims=True, where=where))
    sq = real(multiply(centered, conj(centered))) if dtypes.is_complex(cdt) else multiply(
        centered, centered)
    rdt = dtypes.real_dtype(cdt)
    n = subtract(_count(x, axes, where, rdt), lax.scalar_like(ddof, rdt))
    n = maximum(n, lax.scalar_like(0, rdt))
    out = true_divide(sum(sq, axis=axes, where=where), n)
    return _keep(lax.convert(out, dtypes.real_dtype(dt)), axes, keepdims)


def std(a: Any, axis: AxisLike = None, dtype: Any = None, ddof: int = 0,
        keepdims: bool = False, *, where: Any = None, correction: int | float | None = None
        ) -> Any:
    """Standard deviation over `axis` (the square root of `var`)."""
    x = array_arg("std", a)
    normalize_axes("std", axis, x)  # so that a bad axis is reported as std's
    if dtype is not None:
        _float_dtype("std", x, dtype)
    return sqrt(var(x, axis, dtype, ddof, keepdims, where=where, correction=correction))


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


def average(a: Any, axis: AxisLike = None, weights: Any = None, returned: bool = False,
            keepdims: bool = False) -> Any:
    """Weighted mean over `axis`; with `returned`, also the sum of the weights."""
    x = array_arg("average", a)
    if weights is None:
        avg = mean(x, axis, keepdims=keepdims)
        if not returned:
            return avg
        axes = normalize_axes("average", axis, x)
        return avg, lax.broadcast_to_rank_shape(_count(x, axes, None, avg.dtype), avg.shape)
    w = array_arg("average", weights)
    axes = normalize_axes("average", axis, x)
    if w.shape != x.shape:
        if len(axes) != 1 or w.ndim != 1 or w.shape[0] != x.shape[axes[0]]:
            raise ShapeError(f"average: weights {w.type} must have the shape of a ({x.type}) "
                             "or be 1-D along the single reduced axis")
        w = lax.broadcast_in_dim(w, x.shape, (axes[0],))
    x, w = promote("average", x, w, broadcast=False)
    if not dtypes.is_inexact(x.dtype):
        x, w = lax.convert(x, dtypes.float32), lax.convert(w, dtypes.float32)
    wsum = sum(w, axis=axes, keepdims=keepdims)
    avg = true_divide(sum(multiply(x, w), axis=axes, keepdims=keepdims), wsum)
    return (avg, wsum) if returned else avg


def _flat_sorted(name: str, x: Any, axes: tuple[int, ...]) -> Any:
    """`x` with `axes` moved last and flattened into one axis, sorted along it, as a float."""
    from dsl.np_manip import reshape, sort, transpose

    rest = [i for i in range(x.ndim) if i not in axes]
    n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    y = reshape(transpose(x, rest + list(axes)), [x.shape[i] for i in rest] + [n])
    y = lax.convert(y, _float_dtype(name, x, None))
    return sort(y, axis=-1) if n else y


def _nan_slices(y: Any, out: Any) -> Any:
    """`out` with NaN wherever the matching slice of the sorted `y` holds a NaN (last)."""
    if not dtypes.is_floating(y.dtype) or y.shape[-1] == 0:
        return out
    last = lax.squeeze(take_static(y, np.array([y.shape[-1] - 1]), y.ndim - 1), (y.ndim - 1,))
    return where(isnan(last), lax.scalar_like(np.nan, out.dtype), out)


def median(a: Any, axis: AxisLike = None, keepdims: bool = False) -> Any:
    """Median over `axis` (NaN where a slice holds a NaN); computed by sorting."""
    x = array_arg("median", a)
    axes = normalize_axes("median", axis, x)
    y = _flat_sorted("median", x, axes)
    n = y.shape[-1]
    if n == 0:
        out = mean(y, axis=-1)
    else:
        mid = take_static(y, np.array([(n - 1) // 2, n // 2]), y.ndim - 1)
        out = _nan_slices(y, mean(mid, axis=-1))
    return _keep(out, axes, keepdims)


_QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def quantile(a: Any, q: Any, axis: AxisLike = None, method: str = "linear",
             keepdims: bool = False) -> Any:
    """The `q`-th quantiles (q in [0, 1], a scalar or an array) over `axis`, by sorting.

    The result has `q`'s shape followed by the reduced shape. `method` says how a position
    between two sorted elements is read: `linear` interpolates, `lower`/`higher` take the
    neighbour below/above, `nearest` the closer one (ties to even), `midpoint` their mean.
    NaN where a slice holds a NaN. `q` may be symbolic.
    """
    if method not in _QUANTILE_METHODS:
        raise ArgumentValueError(f"quantile: method must be one of {_QUANTILE_METHODS}, got "
                                 f"{method!r}")
    x = array_arg("quantile", a)
    axes = normalize_axes("quantile", axis, x)
    if dtypes.is_complex(x.dtype):
        raise DTypeError(f"quantile: complex values are not ordered; got {x.type}")
    qs = _fractions("quantile", q, 1)
    y = _flat_sorted("quantile", x, axes)
    n = y.shape[-1]
    if n == 0:
        raise ShapeError(f"quantile: cannot take quantiles of the empty axes {axes} of {x.type}")
    dt, _ = dtypes.result_type((y.dtype, False), (qs.dtype, qs.weak))
    y, qf = lax.convert(y, dt), lax.convert(qs, dt)
    cdt = _compute_dtype(dt)
    pos = lax.mul(lax.convert(ravel(qf), cdt), lax.scalar_like(n - 1, cdt))
    lo_f = bind(P.Floor(), pos)
    if method == "nearest":
        lo_f = hi_f = bind(P.Round(method="half_even"), pos)
    else:
        hi_f = bind(P.Ceil(), pos)

    yc = lax.convert(y, cdt)

    def pick(i: Any) -> Any:  # the sorted elements at positions i: q's size first, then rest
        ind = lax.reshape(lax.convert(i, dtypes.int32), (i.shape[0], 1))
        return lax.gather(yc, ind, (y.ndim - 1,))

    lo, hi = pick(lo_f), pick(hi_f)
    if method in ("lower", "nearest"):
        out = lo
    elif method == "higher":
        out = hi
    else:
        t = lax.scalar_like(0.5, cdt) if method == "midpoint" else lax.sub(pos, lo_f)
        t = lax.broadcast_in_dim(t, lo.shape, (0,)) if t.ndim else t
        out = lax.add(lo, lax.mul(lax.sub(hi, lo), t))
    rest = tuple(y.shape[:-1])
    out = _nan_slices(y, lax.reshape(lax.convert(out, dt), tuple(qs.shape) + rest))
    if keepdims:
        out = lax.expand_dims(out, [qs.ndim + i for i in sorted(axes)])
    return out


def percentile(a: Any, q: Any, axis: AxisLike = None, method: str = "linear",
               keepdims: bool = False) -> Any:
    """The `q`-th percentiles (q in [0, 100]) over `axis`: `quantile(a, q / 100)`."""
    return quantile(a, true_divide(_fractions("percentile", q, 100), 100), axis, method,
                    keepdims)


def _fractions(name: str, q: Any, top: int) -> Any:
    """`q` as an array of real numbers, checked to lie in [0, top] when it is concrete."""
    qs = array_arg(name, q)
    if not (dtypes.is_floating(qs.dtype) or dtypes.is_integer(qs.dtype)):
        raise DTypeError(f"{name}: q must be real numbers, got {qs.type}")
    if type(qs) is not Tracer:
        qv = np.asarray(qs)
        if not ((qv >= 0) & (qv <= top)).all():
            raise ArgumentValueError(f"{name}: q must be in [0, {top}], got {qv.tolist()}")
    return qs


def diff(a: Any, n: int = 1, axis: SupportsIndex = -1, prepend: Any = None,
         append: Any = None) -> Any:
    """The `n`-th discrete difference along `axis` (`not_equal` for bools, as in NumPy).

    `prepend`/`append` are joined to `a` along `axis` first; scalars are broadcast to one slice.
    """
    from dsl.np_elementwise import not_equal
    from dsl.np_manip import broadcast_to, concatenate

    x = array_arg("diff", a)
    if x.ndim == 0:
        raise ShapeError(f"diff: needs at least 1 dimension, got {x.type}")
    ax = normalize_axis("diff", axis, x)
    try:
        k = operator.index(n)
    except TypeError:
        raise ArgumentTypeError(f"diff: order n must be an integer, got {n!r}") from None
    if k < 0:
        raise ArgumentValueError(f"diff: order n must be non-negative, got {k}")
    parts = []
    for extra in (prepend, x, append):
        if extra is None:
            continue
        e = array_arg("diff", extra)
        if e.ndim == 0:
            shape = list(x.shape)
            shape[ax] = 1
            e = broadcast_to(e, shape)
        parts.append(e)
    if len(parts) > 1:
        x = concatenate(parts, axis=ax)
    for _ in range(k):
        m = x.shape[ax]
        if m == 0:
            break
        hi = [0] * x.ndim
        hi[ax] = 1
        upper = lax.slice(x, hi, x.shape)
        lim = list(x.shape)
        lim[ax] = m - 1
        lower = lax.slice(x, [0] * x.ndim, lim)
        x = not_equal(upper, lower) if dtypes.is_bool(x.dtype) else subtract(upper, lower)
    return x


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


def nancumsum(a: Any, axis: SupportsIndex | None = None, dtype: Any = None) -> Any:
    """`cumsum` treating NaNs as zero."""
    return cumsum(_nan_fill(array_arg("nancumsum", a), 0), axis, dtype)


def _not_nan(x: Any) -> Any | None:
    return logical_not(isnan(x)) if dtypes.is_inexact(x.dtype) else None


def nanmean(a: Any, axis: AxisLike = None, dtype: Any = None, keepdims: bool = False) -> Any:
    """`mean` of the elements that are not NaN (NaN where there are none)."""
    x = array_arg("nanmean", a)
    normalize_axes("nanmean", axis, x)
    return mean(x, axis, dtype, keepdims, where=_not_nan(x))


def nanvar(a: Any, axis: AxisLike = None, dtype: Any = None, ddof: int = 0,
           keepdims: bool = False) -> Any:
    """`var` of the elements that are not NaN."""
    x = array_arg("nanvar", a)
    normalize_axes("nanvar", axis, x)
    return var(x, axis, dtype, ddof, keepdims, where=_not_nan(x))


def nanstd(a: Any, axis: AxisLike = None, dtype: Any = None, ddof: int = 0,
           keepdims: bool = False) -> Any:
    """`std` of the elements that are not NaN."""
    x = array_arg("nanstd", a)
    normalize_axes("nanstd", axis, x)
    return std(x, axis, dtype, ddof, keepdims, where=_not_nan(x))


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

