"""NumPy-named scans along one axis: running sums and products (`cumsum`, `cumprod`, the
Array API's `cumulative_sum`/`cumulative_prod`, `nancumsum`) and discrete differences (`diff`).

`axis=None` scans the flattened array; bools count in i32, and f16/bf16 accumulate in f32 and
round back, as the reductions of `dsl.np_reductions` do.
"""

from __future__ import annotations

import operator
from typing import Any, SupportsIndex

from dsl import dtypes, lax
from dsl import ops as P
from dsl.core import bind
from dsl.errors import ArgumentTypeError, ArgumentValueError, ShapeError
from dsl.np_elementwise import subtract
from dsl.np_manip import array_arg, normalize_axis, ravel
from dsl.np_reductions import _compute_dtype, _dtype_arg, _nan_fill

__all__ = ["cumprod", "cumsum", "cumulative_prod", "cumulative_sum", "diff", "nancumsum"]


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


def nancumsum(a: Any, axis: SupportsIndex | None = None, dtype: Any = None) -> Any:
    """`cumsum` treating NaNs as zero."""
    return cumsum(_nan_fill(array_arg("nancumsum", a), 0), axis, dtype)
