"""The function forms of indexing: `take`, `take_along_axis`, `put`, `put_along_axis`,
`dynamic_slice`, `dynamic_update_slice`, `dynamic_slice_in_dim` and `dynamic_index_in_dim`.

Each is built on reading (`dsl.np_index_read`), the functional updates (`dsl.np_updates`) or the
index operands (`dsl.np_index_parse`) directly; the out-of-range modes are those of indexing
(see the docstring of `dsl.np_indexing`).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from dsl import dtypes, lax
from dsl.array import Array
from dsl.core import Tracer
from dsl.errors import DTypeError, ShapeError
from dsl.np_elementwise import asarray, remainder
from dsl.np_index_parse import (IndexOutOfBounds, _column, _gather, _has_tracer, _index_dtype,
                                _scalar_index, _stack)
from dsl.np_index_read import _check_mode, _get
from dsl.np_updates import _fit, _update, _updates
from dsl.types import TensorType


def _axis(name: str, axis: Any, x_type: TensorType) -> int:
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name}: axis must be an integer, not {axis!r}") from None
    if not -x_type.ndim <= a < x_type.ndim:
        raise ShapeError(f"{name}: axis {a} is out of range for {x_type}")
    return a % x_type.ndim


def _int_operand(name: str, i: Any) -> Any:
    if isinstance(i, (list, tuple)) and not _has_tracer(i) and np.asarray(i).size == 0:
        i = np.zeros(np.shape(i), np.int32)  # an empty list is an empty integer index (NumPy)
    i = asarray(i)
    if not dtypes.is_integer(i.dtype):
        raise DTypeError(f"{name}: indices must be integers, not {i.type}")
    return i


def take(a: Any, indices: Any, axis: Any = None, mode: Any = None, fill_value: Any = None, *,
         unique_indices: bool = False, indices_are_sorted: bool = False) -> Any:
    """Elements of `a` at `indices` along `axis` (of the flattened `a` when None), as `jnp.take`.

    Negative indices count from the end in mode 'fill' (the default), where indices still out of
    range give `fill_value` (NaN for floats, the minimum of signed integers, ...). Mode 'clip'
    clamps into `[0, n)` without counting from the end (as NumPy and JAX do: -1 reads element
    0), and 'wrap' takes indices modulo the axis size.
    """
    a = asarray(a)
    i = _int_operand("take", indices)
    if axis is None:
        a, axis = lax.reshape(a, (a.size,)), 0
    axis = _axis("take", axis, a.type)
    mode = "fill" if mode is None else mode
    if mode == "raise":
        raise ValueError("take: mode 'raise' would need the values of the indices; use 'fill', "
                         "'clip' or 'wrap'")
    if mode not in ("fill", "clip", "wrap"):
        raise ValueError(f"take: mode must be one of 'fill', 'clip' or 'wrap', not {mode!r}")
    n = a.shape[axis]
    if n == 0 and i.size:
        raise IndexOutOfBounds(f"take: cannot take {i.type} indices from axis {axis} of size 0 "
                               f"({a.type})")
    if mode == "wrap" and n:
        i, mode = remainder(i, n), "clip"
    elif mode == "clip" and not dtypes.is_unsigned(i.dtype):
        i = lax.max(i, 0)
    return _get("take", a, (slice(None),) * axis + (i,), mode, fill_value)


def _along_axis(name: str, a: Any, i: Any, axis: Any, clamp: bool
                ) -> tuple[Any, list[Any], tuple[int, ...]]:
    """(operand, index columns, result shape) of `take_along_axis`/`put_along_axis`: the
    indices on `axis`, and positions along every other dimension (broadcast NumPy-style)."""
    if axis is None:
        if i.ndim != 1:
            raise ShapeError(f"{name}: with axis=None the indices must be 1-d, not {i.type}")
        a, axis = lax.reshape(a, (a.size,)), 0
    axis = _axis(name, axis, a.type)
    if a.ndim != i.ndim:
        raise ShapeError(f"{name}: indices {i.type} must have the rank of the array {a.type}")
    shape = []
    for d, (m, k) in enumerate(zip(a.shape, i.shape)):
        if d != axis and m != k and 1 not in (m, k):
            raise ShapeError(f"{name}: indices {i.type} do not broadcast against {a.type} "
                             f"outside axis {axis}")
        shape.append(k if d == axis or m == 1 else m)
    batch = tuple(shape)
    dt = _index_dtype([i], a.shape)
    cols = []
    for d in range(a.ndim):
        if d == axis:
            cols.append(_column(i, a.shape[d], batch, range(a.ndim), dt, clamp))
        else:
            pos = np.arange(batch[d]) if a.shape[d] == batch[d] else np.zeros(batch[d], int)
            cols.append(_column(pos, a.shape[d], batch, [d], dt, False))
    return a, cols, batch


def take_along_axis(arr: Any, indices: Any, axis: Any, mode: Any = None,
                    fill_value: Any = None) -> Any:
    """`out[..., j, ...] = arr[..., indices[..., j, ...], ...]` along `axis` (NumPy), with JAX's
    out-of-range modes (default 'fill')."""
    name = "take_along_axis"
    _check_mode(name, mode)
    a, cols, batch = _along_axis(name, asarray(arr), _int_operand(name, indices), axis, False)
    if 0 in a.shape and 0 not in batch:  # every index is out of range: zeros, as in JAX
        return lax.broadcast_in_dim(Array(np.zeros((), a.dtype), a.weak), batch, ())
    clip = mode in ("clip", "promise_in_bounds")
    return _gather(name, a, cols, range(a.ndim), batch, "clip" if clip else "fill", fill_value)


def put_along_axis(arr: Any, indices: Any, values: Any, axis: Any, inplace: bool = True,
                   mode: Any = None) -> Any:
    """A copy of `arr` with `values` written where `take_along_axis` would read. Arrays are
    immutable, so `inplace=False` must be passed (as in jax.numpy)."""
    name = "put_along_axis"
    if inplace:
        raise ValueError(f"{name}: arrays are immutable; pass inplace=False and use the result")
    _check_mode(name, mode)
    a = asarray(arr)
    clip = mode in ("clip", "promise_in_bounds")
    flat, cols, batch = _along_axis(name, a, _int_operand(name, indices), axis, clip)
    u = _fit(name, _updates(name, a, values), batch)
    out = lax.scatter(flat, _stack(cols, len(batch)), u, range(flat.ndim), "set")
    return lax.reshape(out, a.shape)


def put(a: Any, ind: Any, v: Any, mode: Any = None, *, inplace: bool = True) -> Any:
    """A copy of `a` with the flat positions `ind` set to `v` (repeated to the length of `ind`),
    as `jnp.put`. Arrays are immutable, so `inplace=False` must be passed. With no mode, negative
    indices count from the end and the rest are clamped into range (JAX's behaviour); 'clip'
    clamps without counting from the end and 'wrap' takes indices modulo `a.size`."""
    name = "put"
    if inplace:
        raise ValueError(f"{name}: arrays are immutable; pass inplace=False and use the result")
    a = asarray(a)
    i = _int_operand(name, ind)
    u = _updates(name, a, v)
    if mode not in (None, "clip", "wrap"):
        raise ValueError(f"{name}: mode must be None, 'clip' or 'wrap', not {mode!r}")
    if not (a.size and i.size and u.size):
        return a
    i, u = lax.reshape(i, (i.size,)), lax.reshape(u, (u.size,))
    if u.size < i.size:  # NumPy repeats the values to the number of indices
        u = lax.concatenate([u] * -(-i.size // u.size), 0)
    u = lax.slice(u, (0,), (i.size,))
    if mode == "wrap":
        i = remainder(i, a.size)
    elif mode == "clip" and not dtypes.is_unsigned(i.dtype):
        i = lax.max(i, 0)
    flat = _update(name, lax.reshape(a, (a.size,)), i, u, "set", "clip")
    return lax.reshape(flat, a.shape)


def _starts(name: str, start_indices: Any) -> list[Any]:
    if type(start_indices) in (Tracer, Array) or isinstance(start_indices, np.ndarray):
        if start_indices.ndim != 1:
            raise ShapeError(f"{name}: start indices must be a sequence or a 1-d array, not "
                             f"{asarray(start_indices).type}")
        return [start_indices[k] for k in range(start_indices.shape[0])]
    if not isinstance(start_indices, (list, tuple)):
        raise TypeError(f"{name}: start indices must be a sequence, not "
                        f"{type(start_indices).__name__}")
    return list(start_indices)


def _clamped_start(name: str, s: Any, n: int, size: int) -> Any:
    s = _scalar_index(name, s, n)
    return s if type(s) is Tracer else min(max(s, 0), n - size)


def dynamic_slice(operand: Any, start_indices: Any, slice_sizes: Sequence[int]) -> Any:
    """The window of static `slice_sizes` at (possibly symbolic) `start_indices`, as
    `jax.lax.dynamic_slice`: negative starts count from the end, and starts are clamped so the
    window fits."""
    x = asarray(operand)
    starts = _starts("dynamic_slice", start_indices)
    try:
        sizes = [operator.index(s) for s in slice_sizes]
    except TypeError:
        raise TypeError(f"dynamic_slice: slice sizes must be integers, not {slice_sizes!r}"
                        ) from None
    if len(starts) != x.ndim or len(sizes) != x.ndim:
        raise ShapeError(f"dynamic_slice: {x.type} needs {x.ndim} start indices and slice "
                         f"sizes, got {len(starts)} and {len(sizes)}")
    if any(not 0 <= s <= n for s, n in zip(sizes, x.shape)):
        raise ShapeError(f"dynamic_slice: slice sizes {sizes} do not fit in {x.type}")
    return lax.dynamic_slice(x, [_clamped_start("dynamic_slice", s, n, k)
                                 for s, n, k in zip(starts, x.shape, sizes)], sizes)


def dynamic_update_slice(operand: Any, update: Any, start_indices: Any) -> Any:
    """A copy of `operand` with `update` written at (possibly symbolic) `start_indices`, as
    `jax.lax.dynamic_update_slice` (starts clamped so the update fits)."""
    x, u = asarray(operand), asarray(update)
    if u.dtype != x.dtype:
        if not u.weak:
            raise DTypeError(f"dynamic_update_slice: the update {u.type} must have the "
                             f"operand's dtype ({x.type})")
        u = lax.convert(u, x.dtype)
    starts = _starts("dynamic_update_slice", start_indices)
    if u.ndim != x.ndim or len(starts) != x.ndim or any(
            k > n for k, n in zip(u.shape, x.shape)):
        raise ShapeError(f"dynamic_update_slice: the update {u.type} must fit in {x.type}, "
                         f"with one start index per dimension (got {len(starts)})")
    return lax.dynamic_update_slice(x, u, [_clamped_start("dynamic_update_slice", s, n, k)
                                           for s, n, k in zip(starts, x.shape, u.shape)])


def dynamic_slice_in_dim(operand: Any, start_index: Any, slice_size: int, axis: int = 0) -> Any:
    """`dynamic_slice` along one axis: `slice_size` elements from `start_index`."""
    x = asarray(operand)
    axis = _axis("dynamic_slice_in_dim", axis, x.type)
    starts: list[Any] = [0] * x.ndim
    starts[axis] = start_index
    sizes = list(x.shape)
    sizes[axis] = slice_size
    return dynamic_slice(x, starts, sizes)


def dynamic_index_in_dim(operand: Any, index: Any, axis: int = 0, keepdims: bool = True) -> Any:
    """The element at (possibly symbolic) `index` along `axis`, clamped into range."""
    x = asarray(operand)
    y = dynamic_slice_in_dim(x, index, 1, axis)
    return y if keepdims else lax.squeeze(y, [_axis("dynamic_index_in_dim", axis, x.type)])
