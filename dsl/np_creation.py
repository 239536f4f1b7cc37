"""NumPy-named functions that create arrays: constants, ranges, grids and triangular masks.

Shapes, counts and offsets are static Python integers (a negative size is a `ValueError` naming
it). The default dtype is f32 (i32 for integer ranges), and an explicit dtype is never changed.
A constant built from static values is an ordinary concrete `Array`; where a value may be
symbolic (`full`'s fill value, `linspace`'s end points, the array of `tril` or `diag`), the
same code stages equations instead.

Each function is derived from primitives: constants are a broadcast scalar, ranges are `iota`
scaled and shifted, masks compare two `iota`s, and diagonals are strided slices of a flattened
matrix.
"""

from __future__ import annotations

import operator
from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl.array import Array
from dsl.core import Tracer
from dsl.errors import ArgumentTypeError, ArgumentValueError, ConcretizationError, ShapeError
from dsl.np_elementwise import add, dtypes_of, floor, multiply, power, subtract, true_divide
from dsl.np_manip import (ShapeLike, array_arg, broadcast_arrays, moveaxis, normalize_axis,
                          normalize_shape, promote, ravel, reshape)

__all__ = [
    "arange", "array", "diag", "diag_indices", "diagflat", "diagonal", "empty", "empty_like",
    "eye", "full", "full_like", "geomspace", "identity", "indices", "linspace", "logspace",
    "meshgrid", "ones", "ones_like", "tri", "tril", "tril_indices", "tril_indices_from", "triu",
    "triu_indices", "triu_indices_from", "zeros", "zeros_like",
]


def _dtype(dtype: Any, default: np.dtype = dtypes.float32) -> np.dtype:
    return default if dtype is None else dtypes.canonicalize(dtype)


def _constant(value: Any, shape: tuple[int, ...], dt: np.dtype, weak: bool = False) -> Any:
    return lax.broadcast_in_dim(Array(np.asarray(value, dtype=dt), weak), shape, ())


def zeros(shape: ShapeLike, dtype: Any = None) -> Any:
    """An array of zeros (f32 unless `dtype` says otherwise)."""
    return _constant(0, normalize_shape("zeros", shape), _dtype(dtype))


def ones(shape: ShapeLike, dtype: Any = None) -> Any:
    """An array of ones (f32 unless `dtype` says otherwise)."""
    return _constant(1, normalize_shape("ones", shape), _dtype(dtype))


empty = zeros


def full(shape: ShapeLike, fill_value: Any, dtype: Any = None) -> Any:
    """An array of `shape` filled with `fill_value` (a scalar, or an array broadcast to
    `shape`). The dtype is `fill_value`'s unless given; a Python scalar stays weak."""
    dims = normalize_shape("full", shape)
    if dtype is None:
        v = array_arg("full", fill_value)
    else:
        (v,) = promote("full", fill_value, dtype=dtypes.canonicalize(dtype))
    lead = len(dims) - v.ndim
    if lead < 0 or any(n not in (1, m) for n, m in zip(v.shape, dims[lead:])):
        raise ShapeError(f"full: fill value {v.type} does not broadcast to {dims}")
    return lax.broadcast_to_rank_shape(v, dims)


def _like_shape(name: str, a: Any, shape: ShapeLike | None) -> tuple[int, ...]:
    return tuple(a.shape) if shape is None else normalize_shape(name, shape)


def full_like(a: Any, fill_value: Any, dtype: Any = None, shape: ShapeLike | None = None
              ) -> Any:
    """An array shaped (and typed) like `a`, filled with `fill_value`."""
    x = array_arg("full_like", a)
    dt = _dtype(dtype, x.dtype)
    (v,) = promote("full_like", fill_value, dtype=dt)
    dims = _like_shape("full_like", x, shape)
    if dtype is None and x.weak and type(v) is Array and v.ndim == 0:
        v = Array(np.asarray(v), True)  # like JAX: the value keeps `a`'s weak type
    return full(dims, v)


def zeros_like(a: Any, dtype: Any = None, shape: ShapeLike | None = None) -> Any:
    """Zeros shaped (and typed) like `a`."""
    x = array_arg("zeros_like", a)
    return _constant(0, _like_shape("zeros_like", x, shape), _dtype(dtype, x.dtype),
                     x.weak and dtype is None)


def ones_like(a: Any, dtype: Any = None, shape: ShapeLike | None = None) -> Any:
    """Ones shaped (and typed) like `a`."""
    x = array_arg("ones_like", a)
    return _constant(1, _like_shape("ones_like", x, shape), _dtype(dtype, x.dtype),
                     x.weak and dtype is None)


empty_like = zeros_like


def _static_number(name: str, what: str, v: Any) -> Any:
    if type(v) is Tracer:
        try:
            v = v.item()
        except ConcretizationError as e:
            raise ConcretizationError(f"{name}: {what} must be a static number; "
                                      f"{e.raw_message}") from None
    arr = np.asarray(v)
    if arr.shape != ():
        raise ArgumentTypeError(f"{name}: {what} must be a scalar, got {v!r}")
    return arr.item()


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> Any:
    """Evenly spaced values in `[start, stop)`: `start + step * iota`.

    Integer arguments give i32, floating ones f32 (unless `dtype` is given). The arguments are
    static numbers, so the result is always a concrete array.
    """
    given = [v for v in (start, stop, step) if v is not None]
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    if dtype is None:
        dt, _ = dtypes.result_type(*(dtypes_of(array_arg("arange", v)) for v in given))
        if dtypes.is_bool(dt):
            dt = dtypes.int32
    else:
        dt = dtypes.canonicalize(dtype)
    lo, hi, st = (_static_number("arange", w, v) for w, v in
                  (("start", start), ("stop", stop), ("step", step)))
    if st == 0:
        raise ArgumentValueError("arange: step must not be zero")
    if all(isinstance(v, int) for v in (lo, hi, st)):
        n = max(0, -((lo - hi) // st))
    else:
        n = max(0, int(np.ceil((hi - lo) / st)))
    # Static arguments make every op below eager, so compute in the widest type of the kind,
    # as NumPy does, and round once.
    wide = (dtypes.complex128 if dtypes.is_complex(dt) else dtypes.float64
            if dtypes.is_inexact(dt) else dtypes.int64)
    vals = add(multiply(lax.iota(wide, (n,)), Array(np.asarray(st, wide))),
               Array(np.asarray(lo, wide)))
    return lax.convert(vals, dt)


def _count(name: str, num: Any) -> int:
    try:
        n = operator.index(num)
    except TypeError:
        raise ArgumentTypeError(f"{name}: num must be an integer, got {num!r}") from None
    if n < 0:
        raise ArgumentValueError(f"{name}: num must be non-negative, got {n}")
    return n


def linspace(start: Any, stop: Any, num: SupportsIndex = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: SupportsIndex = 0) -> Any:
    """`num` evenly spaced values from `start` to `stop` (inclusive unless not `endpoint`).

    `start` and `stop` may be arrays (broadcast together; the new axis goes at `axis`) or
    symbolic values. The result is f32 unless they or `dtype` say otherwise; integer dtypes
    round toward minus infinity, as NumPy 2 does.
    """
    n = _count("linspace", num)
    lo, hi = promote("linspace", start, stop)
    cdt = lo.dtype if dtypes.is_inexact(lo.dtype) else dtypes.float32
    dt = _dtype(dtype, cdt)
    if dtypes.is_inexact(dt):  # compute at least as precisely as the result
        cdt = dtypes.result_type((cdt, False), (dt, False))[0]
    # Python scalars go straight to the compute dtype, so f64 end points stay exact.
    lo, hi = broadcast_arrays(*promote("linspace", start, stop, dtype=cdt))
    div = n - 1 if endpoint else n
    delta = subtract(hi, lo)
    shp = tuple(lo.shape)
    steps = lax.iota(cdt, (n,) + shp, 0)
    if div > 0:
        step = true_divide(delta, lax.scalar_like(div, cdt))
        y = add(multiply(steps, step), lo)
        if endpoint and n > 1:
            last = lax.broadcast_in_dim(hi, (1,) + shp, range(1, len(shp) + 1))
            y = lax.concatenate([lax.slice(y, (0,) * y.ndim, (n - 1,) + shp), last], 0)
    else:
        step = true_divide(delta, lax.scalar_like(np.nan, cdt))
        y = add(multiply(steps, delta), lo)
    if dtypes.is_integer(dt) and dtypes.is_floating(cdt):
        y = floor(y)
    y = lax.convert(y, dt)
    ax = normalize_axis("linspace", axis, y)
    y = moveaxis(y, 0, ax) if ax else y
    return (y, step) if retstep else y


def logspace(start: Any, stop: Any, num: SupportsIndex = 50, endpoint: bool = True,
             base: Any = 10.0, dtype: Any = None, axis: SupportsIndex = 0) -> Any:
    """`base ** linspace(start, stop, num)`."""
    y = linspace(start, stop, num, endpoint)
    b = array_arg("logspace", base)
    if b.ndim:
        b = lax.broadcast_in_dim(b, (1,) + tuple(b.shape), range(1, b.ndim + 1))
    out = power(b, y)
    if dtype is not None:
        dt = dtypes.canonicalize(dtype)
        out = lax.convert(floor(out) if dtypes.is_integer(dt) else out, dt)
    ax = normalize_axis("logspace", axis, out)
    return moveaxis(out, 0, ax) if ax else out


def geomspace(start: Any, stop: Any, num: SupportsIndex = 50, endpoint: bool = True,
              dtype: Any = None, axis: SupportsIndex = 0) -> Any:
    """`num` values spaced evenly on a log scale from `start` to `stop` (both nonzero, of one
    sign; the end points are exact)."""
    from dsl.np_elementwise import abs as abs_, log10, sign

    lo, hi = promote("geomspace", start, stop)
    if not dtypes.is_inexact(lo.dtype):
        lo, hi = lax.convert(lo, dtypes.float32), lax.convert(hi, dtypes.float32)
    s = sign(lo)
    y = multiply(s, logspace(log10(abs_(lo)), log10(abs_(hi)), num, endpoint, 10.0))
    n = _count("geomspace", num)
    if n:
        shp = tuple(y.shape[1:])
        first = lax.broadcast_in_dim(lo, (1,) + shp, range(1, len(shp) + 1))
        parts = [first, lax.slice(y, (1,) + (0,) * len(shp), (n,) + shp)]
        if endpoint and n > 1:
            last = lax.broadcast_in_dim(hi, (1,) + shp, range(1, len(shp) + 1))
            parts = [first, lax.slice(y, (1,) + (0,) * len(shp), (n - 1,) + shp), last]
        y = lax.concatenate(parts, 0)
    if dtype is not None:
        y = lax.convert(y, dtypes.canonicalize(dtype))
    ax = normalize_axis("geomspace", axis, y)
    return moveaxis(y, 0, ax) if ax else y


def _offsets(n: int, m: int) -> Any:
    """`col - row` over an n x m grid (i32)."""
    return lax.sub(lax.iota(dtypes.int32, (n, m), 1), lax.iota(dtypes.int32, (n, m), 0))


def _rows_cols(name: str, N: Any, M: Any) -> tuple[int, int]:
    n = normalize_shape(name, N)
    m = n if M is None else normalize_shape(name, M)
    if len(n) != 1 or len(m) != 1:
        raise ArgumentTypeError(f"{name}: N and M must be integers, got {N!r}, {M!r}")
    return n[0], m[0]


def eye(N: SupportsIndex, M: SupportsIndex | None = None, k: SupportsIndex = 0,
        dtype: Any = None) -> Any:
    """A 2-D array with ones on the `k`-th diagonal and zeros elsewhere."""
    n, m = _rows_cols("eye", N, M)
    mask = lax.eq(_offsets(n, m), lax.scalar_like(operator.index(k), dtypes.int32))
    return lax.convert(mask, _dtype(dtype))


def identity(n: SupportsIndex, dtype: Any = None) -> Any:
    """The n x n identity matrix."""
    return eye(n, dtype=dtype)


def tri(N: SupportsIndex, M: SupportsIndex | None = None, k: SupportsIndex = 0,
        dtype: Any = None) -> Any:
    """Ones at and below the `k`-th diagonal, zeros above."""
    n, m = _rows_cols("tri", N, M)
    mask = lax.le(_offsets(n, m), lax.scalar_like(operator.index(k), dtypes.int32))
    return lax.convert(mask, _dtype(dtype))


def _triangle(name: str, m: Any, k: SupportsIndex, lower: bool) -> Any:
    x = array_arg(name, m)
    if x.ndim == 0:
        raise ShapeError(f"{name}: needs at least 1 dimension, got {x.type}")
    shp = tuple(x.shape) if x.ndim >= 2 else (x.shape[0],) + tuple(x.shape)
    kk = lax.scalar_like(operator.index(k), dtypes.int32)
    off = _offsets(shp[-2], shp[-1])
    keep = lax.le(off, kk) if lower else lax.ge(off, kk)
    keep = lax.broadcast_to_rank_shape(keep, shp)
    x = lax.broadcast_to_rank_shape(x, shp)
    return lax.select(keep, x, lax.scalar_like(0, x.dtype))


def tril(m: Any, k: SupportsIndex = 0) -> Any:
    """`m` with the elements above the `k`-th diagonal (of the last two axes) zeroed."""
    return _triangle("tril", m, k, True)


def triu(m: Any, k: SupportsIndex = 0) -> Any:
    """`m` with the elements below the `k`-th diagonal (of the last two axes) zeroed."""
    return _triangle("triu", m, k, False)


def diagonal(a: Any, offset: SupportsIndex = 0, axis1: SupportsIndex = 0,
             axis2: SupportsIndex = 1) -> Any:
    """The `offset`-th diagonal of the planes `(axis1, axis2)`, as a new last axis.

    The two axes go last and are flattened together; the diagonal is then one strided slice.
    """
    x = array_arg("diagonal", a)
    if x.ndim < 2:
        raise ShapeError(f"diagonal: needs at least 2 dimensions, got {x.type}")
    a1 = normalize_axis("diagonal", axis1, x)
    a2 = normalize_axis("diagonal", axis2, x)
    if a1 == a2:
        raise ShapeError(f"diagonal: axis1 and axis2 cannot be the same axis ({a1}) of "
                         f"{x.type}")
    k = operator.index(offset)
    rest = [i for i in range(x.ndim) if i not in (a1, a2)]
    x = lax.transpose(x, rest + [a1, a2])
    n1, n2 = x.shape[-2], x.shape[-1]
    length = max(0, min(n1, n2 - k) if k >= 0 else min(n1 + k, n2))
    batch = tuple(x.shape[:-2])
    flat = lax.reshape(x, batch + (n1 * n2,))
    if length == 0:
        start, stop = 0, 0
    else:
        start = k if k >= 0 else -k * n2
        stop = start + (length - 1) * (n2 + 1) + 1
    nb = len(batch)
    return lax.slice(flat, (0,) * nb + (start,), batch + (stop,), (1,) * nb + (n2 + 1,))


def diag(v: Any, k: SupportsIndex = 0) -> Any:
    """The `k`-th diagonal of a 2-D array, or a 2-D array with the 1-D `v` on its `k`-th
    diagonal."""
    x = array_arg("diag", v)
    kk = operator.index(k)
    if x.ndim == 2:
        return diagonal(x, kk)
    if x.ndim != 1:
        raise ShapeError(f"diag: input must be 1-D or 2-D, got {x.type}")
    n = x.shape[0] + abs(kk)
    # Row i of the result holds v[i] (k >= 0), column j holds v[j] (k < 0); pad v to n.
    col = lax.pad(x, lax.scalar_like(0, x.dtype), [(0, abs(kk), 0)])
    grid = lax.broadcast_in_dim(col, (n, n), (0,) if kk >= 0 else (1,))
    mask = lax.eq(_offsets(n, n), lax.scalar_like(kk, dtypes.int32))
    return lax.select(mask, grid, lax.scalar_like(0, x.dtype))


def diagflat(v: Any, k: SupportsIndex = 0) -> Any:
    """A 2-D array with the flattened `v` on its `k`-th diagonal."""
    return diag(ravel(v), k)


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy"
             ) -> tuple[Any, ...]:
    """Coordinate arrays from 1-D coordinate vectors (`indexing` 'xy' swaps the first two
    axes, as for plotting; 'ij' is matrix indexing). `sparse` leaves length-one axes."""
    if indexing not in ("xy", "ij"):
        raise ArgumentValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [ravel(array_arg("meshgrid", x)) for x in xi]
    nd = len(xs)
    sizes = [x.shape[0] for x in xs]
    pos = list(range(nd))
    if indexing == "xy" and nd > 1:
        pos[0], pos[1] = 1, 0
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for x, p in zip(xs, pos):
        if sparse:
            shp = [1] * nd
            shp[p] = x.shape[0]
            out.append(reshape(x, shp))
        else:
            out.append(lax.broadcast_in_dim(x, sizes, (p,)))
    return tuple(out)


def array(object: Any, dtype: Any = None, copy: bool = True, ndmin: int = 0) -> Any:
    """An array from an array-like (arrays are immutable, so `copy` changes nothing);
    `ndmin` prepends length-one axes."""
    x = array_arg("array", object, dtype)
    if x.ndim < ndmin:
        x = lax.reshape(x, (1,) * (ndmin - x.ndim) + tuple(x.shape))
    return x



def indices(dimensions: ShapeLike, dtype: Any = None, sparse: bool = False) -> Any:
    """The index grid of an array of shape `dimensions`: `out[i][..., j_i, ...] = j_i`, stacked
    into one array of shape `(len(dimensions),) + dimensions` (i32 unless `dtype` says), or a
    tuple of broadcastable arrays when `sparse`."""
    dims = normalize_shape("indices", dimensions)
    dt = _dtype(dtype, dtypes.int32)
    if sparse:
        return tuple(lax.iota(dt, tuple(n if j == i else 1 for j, n in enumerate(dims)), i)
                     for i in range(len(dims)))
    if not dims:
        return Array(np.zeros((0,), dt))
    return lax.concatenate([lax.expand_dims(lax.iota(dt, dims, i), (0,))
                            for i in range(len(dims))], 0)


def _triangle_indices(name: str, n: Any, k: Any, m: Any, lower: bool) -> tuple[Any, Any]:
    # The shape and offset are static, so the indices are static too: computed once here.
    rows, cols = _rows_cols(name, n, m)
    kk = operator.index(k)
    r, c = np.indices((rows, cols))
    keep = c - r <= kk if lower else c - r >= kk
    return Array(r[keep].astype(np.int32)), Array(c[keep].astype(np.int32))


def tril_indices(n: SupportsIndex, k: SupportsIndex = 0, m: SupportsIndex | None = None
                 ) -> tuple[Any, Any]:
    """(rows, cols) (i32) of the elements at and below the `k`-th diagonal of an n x m array,
    in row-major order."""
    return _triangle_indices("tril_indices", n, k, m, True)


def triu_indices(n: SupportsIndex, k: SupportsIndex = 0, m: SupportsIndex | None = None
                 ) -> tuple[Any, Any]:
    """(rows, cols) (i32) of the elements at and above the `k`-th diagonal of an n x m array,
    in row-major order."""
    return _triangle_indices("triu_indices", n, k, m, False)


def _square_shape(name: str, arr: Any) -> tuple[int, int]:
    x = arr if type(arr) in (Array, Tracer) else array_arg(name, arr)
    if x.ndim != 2:
        raise ShapeError(f"{name}: needs a 2-D array, got {x.type}")
    return x.shape[0], x.shape[1]


def tril_indices_from(arr: Any, k: SupportsIndex = 0) -> tuple[Any, Any]:
    """`tril_indices` for the shape of the 2-D `arr`."""
    n, m = _square_shape("tril_indices_from", arr)
    return tril_indices(n, k, m)


def triu_indices_from(arr: Any, k: SupportsIndex = 0) -> tuple[Any, Any]:
    """`triu_indices` for the shape of the 2-D `arr`."""
    n, m = _square_shape("triu_indices_from", arr)
    return triu_indices(n, k, m)


def diag_indices(n: SupportsIndex, ndim: SupportsIndex = 2) -> tuple[Any, ...]:
    """`ndim` copies of `arange(n)` (i32): the indices of the main diagonal of an n^ndim
    array."""
    dims = normalize_shape("diag_indices", n)
    if len(dims) != 1:
        raise ArgumentTypeError(f"diag_indices: n must be an integer, got {n!r}")
    (size,) = dims
    k = operator.index(ndim)
    if k < 0:
        raise ArgumentValueError(f"diag_indices: ndim must be non-negative, got {k}")
    i = lax.iota(dtypes.int32, (size,))
    return (i,) * k
