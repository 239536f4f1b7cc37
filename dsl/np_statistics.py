"""NumPy-named statistics: `mean`, `var`, `std`, `average`, `median`, `quantile` and
`percentile`, and the NaN-ignoring `nanmean`, `nanvar` and `nanstd`.

They follow the axis, `keepdims` and `where` conventions of `dsl.np_reductions` and are built
from its `sum`. `mean`, `var` and `std` of integers are f32, and f16/bf16 statistics accumulate
in f32 and round back. `median` and `quantile` sort the reduced axes (flattened into one) and
give NaN where a slice holds a NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.core import Tracer, bind
from dsl.errors import ArgumentValueError, DTypeError, ShapeError
from dsl.np_elementwise import (asarray, conj, isnan, logical_not, maximum, multiply, real,
                                sqrt, subtract, true_divide, where)
from dsl.np_manip import AxisLike, array_arg, normalize_axes, promote, ravel, take_static
from dsl.np_reductions import _compute_dtype, _dtype_arg, _keep, sum

__all__ = [
    "average", "mean", "median", "nanmean", "nanstd", "nanvar", "percentile", "quantile",
    "std", "var",
]


def _float_dtype(name: str, x: Any, dtype: Any) -> np.dtype:
    """The result dtype of a statistic: integers and bools become the default float."""
    if dtype is not None:
        return _dtype_arg(name, dtype)
    return x.dtype if dtypes.is_inexact(x.dtype) else dtypes.float32


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
