"""Evaluate rules of the structural, indexing, reduction, dot and sort primitives.

Semantics pinned here (XLA's, so that lowering can be tested against this file):
- out-of-bounds starts of `dynamic_slice`/`dynamic_update_slice` are clamped so the window fits;
- `gather` clamps each index into range (mode `clip`) or yields the fill value (mode `fill`:
  NaN, the minimum signed / maximum unsigned integer, True); `scatter` drops out-of-bounds updates;
- empty reductions give the monoid's identity (`max` of nothing is -inf or the integer minimum);
- `max`/`min` reductions propagate NaN; `argmax`/`argmin` take the first extreme, NaN first;
- `sort` is stable and lexicographic over its keys, with -0.0 equal to 0.0 and NaN after all
  numbers (the order of JAX's comparator);
- f16/bf16 arithmetic (sums, products, dot) accumulates in f32 and rounds once at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dsl import dtypes
from dsl import ops as P
from interpreters.evaluate import RULES

_LOW = frozenset((dtypes.float16, dtypes.bfloat16))


def _rule(*classes: type[P.Op]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for cls in classes:
            RULES[cls] = fn
        return fn

    return register


def _wide(x: np.ndarray) -> np.ndarray:
    """f16/bf16 values as f32 for arithmetic; other dtypes as they are."""
    return x.astype(np.float32) if x.dtype in _LOW else x


def _as(x: Any, dtype: Any) -> np.ndarray:
    out = np.asarray(x)
    return out if out.dtype == dtype else out.astype(dtype)


# --- shapes ----------------------------------------------------------------------------------

@_rule(P.Iota)
def _iota(op: P.Iota) -> list[np.ndarray]:
    n = op.shape[op.dimension]
    line = np.arange(n).astype(op.dtype)
    view = [1] * len(op.shape)
    view[op.dimension] = n
    return [np.broadcast_to(line.reshape(view), op.shape)]


@_rule(P.BroadcastInDim)
def _broadcast_in_dim(op: P.BroadcastInDim, x: np.ndarray) -> list[np.ndarray]:
    view = [1] * len(op.shape)
    for i, d in enumerate(op.broadcast_dimensions):
        view[d] = x.shape[i]
    return [np.broadcast_to(x.reshape(view), op.shape)]


@_rule(P.Reshape)
def _reshape(op: P.Reshape, x: np.ndarray) -> list[np.ndarray]:
    return [x.reshape(op.new_sizes)]


@_rule(P.Transpose)
def _transpose(op: P.Transpose, x: np.ndarray) -> list[np.ndarray]:
    return [x.transpose(op.permutation)]


@_rule(P.Squeeze)
def _squeeze(op: P.Squeeze, x: np.ndarray) -> list[np.ndarray]:
    return [x.reshape([n for i, n in enumerate(x.shape) if i not in op.dimensions])]


@_rule(P.ExpandDims)
def _expand_dims(op: P.ExpandDims, x: np.ndarray) -> list[np.ndarray]:
    rest = iter(x.shape)
    rank = x.ndim + len(op.dimensions)
    return [x.reshape([1 if i in op.dimensions else next(rest) for i in range(rank)])]


@_rule(P.Rev)
def _rev(op: P.Rev, x: np.ndarray) -> list[np.ndarray]:
    index = tuple(slice(None, None, -1) if i in op.dimensions else slice(None)
                  for i in range(x.ndim))
    return [np.asarray(x[index])]


@_rule(P.Pad)
def _pad(op: P.Pad, x: np.ndarray, value: np.ndarray) -> list[np.ndarray]:
    # Interior padding first (dilate), then edge padding, then cropping by negative edges.
    dilated_shape = tuple(n + max(n - 1, 0) * c[2] for n, c in zip(x.shape, op.config))
    dilated = np.full(dilated_shape, value, dtype=x.dtype)
    dilated[tuple(slice(None, None, c[2] + 1) for c in op.config)] = x
    grown_shape = tuple(n + max(c[0], 0) + max(c[1], 0) for n, c in zip(dilated_shape, op.config))
    grown = np.full(grown_shape, value, dtype=x.dtype)
    grown[tuple(slice(max(c[0], 0), max(c[0], 0) + n)
                for n, c in zip(dilated_shape, op.config))] = dilated
    crop = tuple(slice(max(-c[0], 0), n - max(-c[1], 0)) for n, c in zip(grown_shape, op.config))
    return [np.asarray(grown[crop])]


@_rule(P.Concatenate)
def _concatenate(op: P.Concatenate, *xs: np.ndarray) -> list[np.ndarray]:
    return [np.concatenate(xs, axis=op.dimension)]


@_rule(P.Slice)
def _slice(op: P.Slice, x: np.ndarray) -> list[np.ndarray]:
    strides = op.strides or (1,) * x.ndim
    return [np.asarray(x[tuple(slice(lo, hi, s) for lo, hi, s in
                               zip(op.start_indices, op.limit_indices, strides))])]


def _clamped_starts(starts: tuple[np.ndarray, ...], sizes: tuple[int, ...],
                    bounds: tuple[int, ...]) -> tuple[slice, ...]:
    out = []
    for s, size, n in zip(starts, sizes, bounds):
        lo = min(max(int(s), 0), n - size)
        out.append(slice(lo, lo + size))
    return tuple(out)


@_rule(P.DynamicSlice)
def _dynamic_slice(op: P.DynamicSlice, x: np.ndarray, *starts: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(x[_clamped_starts(starts, op.slice_sizes, x.shape)])]


@_rule(P.DynamicUpdateSlice)
def _dynamic_update_slice(op: P.DynamicUpdateSlice, x: np.ndarray, u: np.ndarray,
                          *starts: np.ndarray) -> list[np.ndarray]:
    out = x.copy()
    out[_clamped_starts(starts, u.shape, x.shape)] = u
    return [out]


# --- gather and scatter ----------------------------------------------------------------------

def fill_value(dtype: np.dtype) -> Any:
    """What mode-`fill` gathers give for an out-of-bounds index."""
    if dtypes.is_bool(dtype):
        return True
    if dtypes.is_unsigned(dtype):
        return np.iinfo(dtype).max
    if dtypes.is_integer(dtype):
        return np.iinfo(dtype).min
    return np.nan


def _split_indices(x: np.ndarray, idx: np.ndarray, axes: tuple[int, ...]
                   ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """The operand with the indexed axes first, the indices as int64, and the indexed sizes."""
    front = np.moveaxis(x, axes, tuple(range(len(axes))))
    sizes = tuple(x.shape[a] for a in axes)
    return front, idx.astype(np.int64), sizes


@_rule(P.Gather)
def _gather(op: P.Gather, x: np.ndarray, idx: np.ndarray) -> list[np.ndarray]:
    front, idx, sizes = _split_indices(x, idx, op.axes)
    batch = idx.shape[:-1]
    rest = front.shape[len(sizes):]
    inside = np.all((idx >= 0) & (idx < np.asarray(sizes, np.int64)), axis=-1)
    if any(n == 0 for n in sizes):  # nothing to clamp into: every position is a fill
        return [np.full(batch + rest, fill_value(x.dtype), dtype=x.dtype)]
    clamped = np.clip(idx, 0, np.asarray(sizes, np.int64) - 1)
    out = np.asarray(front[tuple(clamped[..., j] for j in range(len(sizes)))])
    if op.mode == "fill" and not inside.all():
        out = out.copy()
        out[~inside] = fill_value(x.dtype)  # `inside` has the batch shape: rows are filled
    return [_as(out, x.dtype)]


_SCATTER_UFUNCS = {"add": np.add, "mul": np.multiply, "min": np.minimum, "max": np.maximum}


@_rule(P.Scatter)
def _scatter(op: P.Scatter, x: np.ndarray, idx: np.ndarray, u: np.ndarray) -> list[np.ndarray]:
    out = _wide(x).copy()
    front, idx, sizes = _split_indices(out, idx, op.axes)  # `front` is a view of `out`
    inside = np.all((idx >= 0) & (idx < np.asarray(sizes, np.int64)), axis=-1)
    where = tuple(idx[inside][:, j] for j in range(len(sizes)))
    vals = _wide(u)[inside]
    if op.kind == "set":
        front[where] = vals
    else:
        _SCATTER_UFUNCS[op.kind].at(front, where, vals)
    return [_as(out, x.dtype)]


# --- reductions ------------------------------------------------------------------------------

def _lowest(dtype: np.dtype) -> Any:
    if dtypes.is_bool(dtype):
        return False
    return np.iinfo(dtype).min if dtypes.is_integer(dtype) else -np.inf


def _highest(dtype: np.dtype) -> Any:
    if dtypes.is_bool(dtype):
        return True
    return np.iinfo(dtype).max if dtypes.is_integer(dtype) else np.inf


@_rule(P.ReduceSum)
def _reduce_sum(op: P.Op, x: np.ndarray) -> list[np.ndarray]:
    w = _wide(x)
    return [_as(np.sum(w, axis=op.axes, dtype=w.dtype), x.dtype)]  # type: ignore[attr-defined]


@_rule(P.ReduceProd)
def _reduce_prod(op: P.Op, x: np.ndarray) -> list[np.ndarray]:
    w = _wide(x)
    return [_as(np.prod(w, axis=op.axes, dtype=w.dtype), x.dtype)]  # type: ignore[attr-defined]


@_rule(P.ReduceMax)
def _reduce_max(op: P.Op, x: np.ndarray) -> list[np.ndarray]:
    w = _wide(x)
    return [_as(np.max(w, axis=op.axes, initial=_lowest(x.dtype)), x.dtype)]  # type: ignore


@_rule(P.ReduceMin)
def _reduce_min(op: P.Op, x: np.ndarray) -> list[np.ndarray]:
    w = _wide(x)
    return [_as(np.min(w, axis=op.axes, initial=_highest(x.dtype)), x.dtype)]  # type: ignore


def _bitwise_reduce(ufunc: np.ufunc, identity: Callable[[np.dtype], Any]
                    ) -> Callable[..., list[np.ndarray]]:
    def rule(op: P.Op, x: np.ndarray) -> list[np.ndarray]:
        axes = op.axes  # type: ignore[attr-defined]
        shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
        if not axes:
            return [x]
        if any(x.shape[a] == 0 for a in axes):
            return [np.full(shape, identity(x.dtype), dtype=x.dtype)]
        return [_as(ufunc.reduce(x, axis=axes), x.dtype)]

    return rule


def _all_ones(dtype: np.dtype) -> Any:
    return True if dtypes.is_bool(dtype) else np.array(-1).astype(dtype)


RULES[P.ReduceAnd] = _bitwise_reduce(np.bitwise_and, _all_ones)
RULES[P.ReduceOr] = _bitwise_reduce(np.bitwise_or, lambda dt: np.zeros((), dt))


def _arg_rule(pick: Callable[..., Any]) -> Callable[..., list[np.ndarray]]:
    def rule(op: Any, x: np.ndarray) -> list[np.ndarray]:
        # NumPy's argmax/argmin already return the first NaN when there is one.
        return [_as(pick(_wide(x), axis=op.axis), op.index_dtype)]

    return rule


RULES[P.Argmax] = _arg_rule(np.argmax)
RULES[P.Argmin] = _arg_rule(np.argmin)


def _cumulative(accumulate: Callable[[np.ndarray, int], np.ndarray]
                ) -> Callable[..., list[np.ndarray]]:
    def rule(op: Any, x: np.ndarray) -> list[np.ndarray]:
        w = _wide(x)
        if op.reverse:
            w = np.flip(w, op.axis)
        out = accumulate(w, op.axis) if w.size else w
        if op.reverse:
            out = np.flip(out, op.axis)
        return [_as(out, x.dtype)]

    return rule


RULES[P.Cumsum] = _cumulative(lambda w, a: np.cumsum(w, axis=a, dtype=w.dtype))
RULES[P.Cumprod] = _cumulative(lambda w, a: np.cumprod(w, axis=a, dtype=w.dtype))
RULES[P.Cummax] = _cumulative(lambda w, a: np.maximum.accumulate(w, axis=a))
RULES[P.Cummin] = _cumulative(lambda w, a: np.minimum.accumulate(w, axis=a))


# --- dot_general and sort --------------------------------------------------------------------

@_rule(P.DotGeneral)
def _dot_general(op: P.DotGeneral, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    (lc, rc), (lb, rb) = op.contracting, op.batch
    out_dtype = op.preferred or x.dtype
    work = np.dtype(np.float32) if out_dtype in _LOW else out_dtype
    if dtypes.is_bool(x.dtype) and not dtypes.is_bool(out_dtype):
        work = out_dtype
    lf = [i for i in range(x.ndim) if i not in lc + lb]
    rf = [i for i in range(y.ndim) if i not in rc + rb]
    xt = np.transpose(x, lb + tuple(lf) + lc).astype(work, copy=False)
    yt = np.transpose(y, rb + rc + tuple(rf)).astype(work, copy=False)
    b = [x.shape[i] for i in lb]
    m = [x.shape[i] for i in lf]
    n = [y.shape[i] for i in rf]
    k = int(np.prod([x.shape[i] for i in lc], dtype=np.int64))
    bsz = int(np.prod(b, dtype=np.int64))
    xm = xt.reshape(bsz, int(np.prod(m, dtype=np.int64)), k)
    ym = yt.reshape(bsz, k, int(np.prod(n, dtype=np.int64)))
    if dtypes.is_bool(work):  # logical "or of ands", as XLA defines a bool dot
        res = np.matmul(xm.astype(np.int32), ym.astype(np.int32)) > 0
    else:
        res = np.matmul(xm, ym)
    return [_as(res.reshape(b + m + n), out_dtype)]


def _sort_key(x: np.ndarray) -> np.ndarray:
    """A key NumPy orders as the language does: -0.0 == 0.0, NaN (either sign) last."""
    if dtypes.is_floating(x.dtype):
        w = _wide(x)
        return np.where(w == 0, np.zeros((), w.dtype), w)  # NumPy already puts NaN last
    return x


@_rule(P.Sort)
def _sort(op: P.Sort, *xs: np.ndarray) -> list[np.ndarray]:
    d = op.dimension
    moved = [np.moveaxis(x, d, -1) for x in xs]
    keys = [_sort_key(k) for k in moved[: op.num_keys]]
    if keys[0].size == 0:
        return list(xs)
    if len(keys) == 1:
        order = np.argsort(keys[0], axis=-1, kind="stable")
    else:
        shape = keys[0].shape
        flat = [k.reshape(-1, shape[-1]) for k in keys]
        rows = [np.lexsort([f[r] for f in reversed(flat)]) for r in range(flat[0].shape[0])]
        order = np.asarray(rows, dtype=np.int64).reshape(shape)
    return [np.moveaxis(np.take_along_axis(m, order, axis=-1), -1, d) for m in moved]
