"""Batching rules of the structural, indexing, reduction, cumulative, dot and sort primitives.

Each rule re-binds its primitive once on the whole batch with shifted static parameters. Where
the batch axis can stay where it is (reductions, `rev`, `slice`, cumulative ops, one-sided
`dot_general`) the rule shifts the op's axes around it and reports where it ends up; elsewhere the
batch axis moves to the front first (unbatched operands are broadcast when the op needs every
operand to carry it).

Per-example *dynamic* positions are the interesting cases. `dynamic_slice` and
`dynamic_update_slice` with batched start indices become a `gather` / `scatter` over explicit
window indices, clamped exactly as the primitive clamps (start into `[0, n - size]`). A batched
`gather` or `scatter` indexes the batch axis too: an iota column of batch positions joins the
indices. That column is always in bounds, so the `clip`/`fill` modes and the
`set`/`add`/`mul`/`min`/`max` kinds keep their per-example meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from dsl import dtypes
from dsl import lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import bind
from interpreters.vectorize import BATCH_RULES, bdim_to_front, moveaxis

Dims = Sequence[int | None]


def _rule(*classes: type[P.Op]) -> Any:
    def register(fn: Any) -> Any:
        for cls in classes:
            BATCH_RULES[cls] = fn
        return fn

    return register


def _shift(a: int, d: int) -> int:
    """Axis `a` of one example, as an axis of the batch whose batch axis sits at `d`."""
    return a + 1 if a >= d else a


def _batched_dim(dims: Dims) -> int:
    return next(d for d in dims if d is not None)


# --- shapes ----------------------------------------------------------------------------------

@_rule(P.Iota)
def _iota(op: P.Iota, values: list[Any], dims: Dims, size: int) -> tuple[list[Any], list[Any]]:
    return [bind(op)], [None]  # never reached: iota has no operands to be batched


@_rule(P.BroadcastInDim)
def _broadcast_in_dim(op: P.BroadcastInDim, values: list[Any], dims: Dims, size: int
                      ) -> tuple[list[Any], list[Any]]:
    x = bdim_to_front(values[0], dims[0], size)
    out = lax.broadcast_in_dim(x, (size,) + op.shape,
                               (0,) + tuple(b + 1 for b in op.broadcast_dimensions))
    return [out], [0]


@_rule(P.Reshape)
def _reshape(op: P.Reshape, values: list[Any], dims: Dims, size: int
             ) -> tuple[list[Any], list[Any]]:
    x = bdim_to_front(values[0], dims[0], size)
    return [lax.reshape(x, (size,) + op.new_sizes)], [0]


@_rule(P.Transpose)
def _transpose(op: P.Transpose, values: list[Any], dims: Dims, size: int
               ) -> tuple[list[Any], list[Any]]:
    d = dims[0]
    assert d is not None
    perm = (d,) + tuple(_shift(p, d) for p in op.permutation)
    return [lax.transpose(values[0], perm)], [0]


@_rule(P.Squeeze)
def _squeeze(op: P.Squeeze, values: list[Any], dims: Dims, size: int
             ) -> tuple[list[Any], list[Any]]:
    x = bdim_to_front(values[0], dims[0], size)
    return [lax.squeeze(x, tuple(a + 1 for a in op.dimensions))], [0]


@_rule(P.ExpandDims)
def _expand_dims(op: P.ExpandDims, values: list[Any], dims: Dims, size: int
                 ) -> tuple[list[Any], list[Any]]:
    x = bdim_to_front(values[0], dims[0], size)
    return [lax.expand_dims(x, tuple(a + 1 for a in op.dimensions))], [0]


@_rule(P.Rev)
def _rev(op: P.Rev, values: list[Any], dims: Dims, size: int) -> tuple[list[Any], list[Any]]:
    d = _batched_dim(dims)
    return [lax.rev(values[0], tuple(_shift(a, d) for a in op.dimensions))], [d]


@_rule(P.Pad)
def _pad(op: P.Pad, values: list[Any], dims: Dims, size: int) -> tuple[list[Any], list[Any]]:
    x, v = values
    config = ((0, 0, 0),) + op.config
    if dims[1] is None:
        return [lax.pad(bdim_to_front(x, dims[0], size), v, config)], [0]
    # A padding value per example: pad with any value, then choose the example's value at the
    # positions that padding made (a mask computed once, for one example).
    xb = bdim_to_front(x, dims[0], size)
    padded = lax.pad(xb, lax.scalar_like(0, x.dtype), config)
    one_shape = tuple(padded.shape[1:])
    inside = lax.pad(lax.broadcast_in_dim(Array(np.array(True)), tuple(xb.shape[1:]), ()),
                     Array(np.array(False)), op.config)
    mask = lax.broadcast_in_dim(inside, padded.shape, tuple(range(1, len(one_shape) + 1)))
    vb = lax.broadcast_in_dim(moveaxis(v, dims[1], 0), padded.shape, (0,))
    return [lax.select(mask, padded, vb)], [0]


@_rule(P.Concatenate)
def _concatenate(op: P.Concatenate, values: list[Any], dims: Dims, size: int
                 ) -> tuple[list[Any], list[Any]]:
    xs = [bdim_to_front(x, d, size) for x, d in zip(values, dims)]
    return [bind(P.Concatenate(dimension=op.dimension + 1), *xs)], [0]


@_rule(P.Slice)
def _slice(op: P.Slice, values: list[Any], dims: Dims, size: int) -> tuple[list[Any], list[Any]]:
    d = _batched_dim(dims)
    start, limit = list(op.start_indices), list(op.limit_indices)
    start.insert(d, 0)
    limit.insert(d, size)
    strides = None
    if op.strides is not None:
        strides = list(op.strides)
        strides.insert(d, 1)
    return [bind(attrs.evolve(op, start_indices=start, limit_indices=limit, strides=strides),
                 values[0])], [d]


# --- dynamic windows -------------------------------------------------------------------------

def _index_dtype(starts: Sequence[Any]) -> np.dtype:
    wide = any(s.dtype.itemsize > 4 or s.dtype == dtypes.uint32 for s in starts)
    return dtypes.int64 if wide else dtypes.int32


def _window_column(start: Any, dim: int | None, n: int, width: int, shape: tuple[int, ...],
                   axis: int, dt: np.dtype) -> Any:
    """Positions `clamp(start, 0, n - width) + t` along `axis` of an index grid of `shape`
    (the batch axis first), for a start that is batched (at `dim`) or shared."""
    s = lax.convert(start, dt)
    s = lax.clamp(lax.scalar_like(0, dt), s, lax.scalar_like(n - width, dt))
    s = lax.broadcast_in_dim(s, shape, () if dim is None else (0,))
    return lax.add(s, lax.iota(dt, shape, axis))


def _stack_columns(cols: list[Any]) -> Any:
    return lax.concatenate([lax.expand_dims(c, (c.ndim,)) for c in cols], cols[0].ndim)


@_rule(P.DynamicSlice)
def _dynamic_slice(op: P.DynamicSlice, values: list[Any], dims: Dims, size: int
                   ) -> tuple[list[Any], list[Any]]:
    x, starts = values[0], values[1:]
    xd, sds = dims[0], dims[1:]
    if all(sd is None for sd in sds):
        assert xd is not None
        sizes = list(op.slice_sizes)
        sizes.insert(xd, size)
        zero = lax.scalar_like(0, starts[0].dtype) if starts else Array(np.array(0, np.int32))
        idx = list(starts)
        idx.insert(xd, zero)
        return [bind(P.DynamicSlice(slice_sizes=sizes), x, *idx)], [xd]
    # The shared starts slice first (the primitive clamps them); the batched ones become a
    # gather of explicit window positions.
    rank = len(op.slice_sizes)
    moving = [k for k in range(rank) if sds[k] is not None]
    xb = x if xd is None else moveaxis(x, xd, 0)
    off = 0 if xd is None else 1
    n = tuple(xb.shape[off:])
    dt = _index_dtype(starts)
    zero = lax.scalar_like(0, starts[0].dtype)
    sizes = [size] * off + [n[k] if k in moving else op.slice_sizes[k] for k in range(rank)]
    first = [zero] * off + [zero if k in moving else starts[k] for k in range(rank)]
    xb = bind(P.DynamicSlice(slice_sizes=sizes), xb, *first)
    grid = (size,) + tuple(op.slice_sizes[k] for k in moving)
    cols = [lax.iota(dt, grid, 0)] if xd is not None else []
    for j, k in enumerate(moving):
        sd = sds[k]
        st = starts[k] if sd is None else moveaxis(starts[k], sd, 0)
        cols.append(_window_column(st, sd, n[k], op.slice_sizes[k], grid, j + 1, dt))
    axes = ([0] if xd is not None else []) + [k + off for k in moving]
    out = lax.gather(xb, _stack_columns(cols), axes)
    # `out` is (batch, moving window dims..., other dims...): put the dims back in order.
    rest = [k for k in range(rank) if k not in moving]
    order = [0] + [1 + (moving.index(k) if k in moving else len(moving) + rest.index(k))
                   for k in range(rank)]
    return [lax.transpose(out, order)], [0]


@_rule(P.DynamicUpdateSlice)
def _dynamic_update_slice(op: P.DynamicUpdateSlice, values: list[Any], dims: Dims, size: int
                          ) -> tuple[list[Any], list[Any]]:
    x, u, starts = values[0], values[1], values[2:]
    xb, ub = bdim_to_front(x, dims[0], size), bdim_to_front(u, dims[1], size)
    sds = dims[2:]
    if all(sd is None for sd in sds):
        zero = lax.scalar_like(0, starts[0].dtype) if starts else Array(np.array(0, np.int32))
        return [bind(op, xb, ub, zero, *starts)], [0]
    # Per-example starts: scatter the update into its clamped window, batch position included.
    dt = _index_dtype(starts)
    grid = tuple(ub.shape)
    cols = [lax.iota(dt, grid, 0)]
    for k, (s, sd) in enumerate(zip(starts, sds)):
        st = s if sd is None else moveaxis(s, sd, 0)
        cols.append(_window_column(st, sd, xb.shape[k + 1], ub.shape[k + 1], grid, k + 1, dt))
    axes = tuple(range(xb.ndim))
    return [lax.scatter(xb, _stack_columns(cols), ub, axes, "set")], [0]


# --- gather and scatter ----------------------------------------------------------------------

def _with_batch_column(idx: Any, size: int) -> Any:
    """Batch-first indices `(B, ..., k)` with the example's position as a new first column."""
    dt = idx.dtype
    if size > 1 and np.iinfo(dt).max < size - 1:  # the narrow dtype cannot name every example
        dt = dtypes.int32 if np.iinfo(dt).max <= np.iinfo(np.int32).max and size <= 2**31 \
            else dtypes.int64
        idx = lax.convert(idx, dt)
    column = lax.iota(dt, tuple(idx.shape[:-1]) + (1,), 0)
    return lax.concatenate([column, idx], idx.ndim - 1)


@_rule(P.Gather)
def _gather(op: P.Gather, values: list[Any], dims: Dims, size: int
            ) -> tuple[list[Any], list[Any]]:
    x, idx = values
    xd, id_ = dims
    if id_ is None:
        assert xd is not None
        # The batch axis is one more operand axis that is taken whole.
        out = bind(attrs.evolve(op, axes=tuple(_shift(a, xd) for a in op.axes)), x, idx)
        kept_before = sum(1 for k in range(x.ndim - 1) if k < xd and k not in op.axes)
        return [out], [idx.ndim - 1 + kept_before]
    ib = moveaxis(idx, id_, 0)
    if xd is None:
        return [bind(op, x, ib)], [0]
    xb = moveaxis(x, xd, 0)
    op2 = attrs.evolve(op, axes=(0,) + tuple(a + 1 for a in op.axes))
    return [bind(op2, xb, _with_batch_column(ib, size))], [0]


@_rule(P.Scatter)
def _scatter(op: P.Scatter, values: list[Any], dims: Dims, size: int
             ) -> tuple[list[Any], list[Any]]:
    x, idx, u = values
    xd, id_, ud = dims
    xb = bdim_to_front(x, xd, size)
    if id_ is None:
        # Shared indices: the batch axis is a non-indexed operand axis; in the updates it sits
        # where the first non-indexed axis goes, right after the index batch dimensions.
        pos = idx.ndim - 1
        if ud is None:
            ub = lax.broadcast_in_dim(u, u.shape[:pos] + (size,) + u.shape[pos:],
                                      tuple(k for k in range(u.ndim + 1) if k != pos))
        else:
            ub = moveaxis(u, ud, pos)
        op2 = attrs.evolve(op, axes=tuple(a + 1 for a in op.axes))
        return [bind(op2, xb, idx, ub)], [0]
    ib = _with_batch_column(moveaxis(idx, id_, 0), size)
    ub = bdim_to_front(u, ud, size)
    op2 = attrs.evolve(op, axes=(0,) + tuple(a + 1 for a in op.axes))
    return [bind(op2, xb, ib, ub)], [0]


# --- reductions, cumulative ops, dot_general, sort -------------------------------------------

def _reduce(op: P.Op, values: list[Any], dims: Dims, size: int) -> tuple[list[Any], list[Any]]:
    d = _batched_dim(dims)
    axes = op.axes  # type: ignore[attr-defined]
    out = bind(attrs.evolve(op, axes=tuple(_shift(a, d) for a in axes)), values[0])
    return [out], [d - sum(1 for a in axes if a < d)]


for _cls in P.REDUCTIONS:
    BATCH_RULES[_cls] = _reduce


@_rule(P.Argmax, P.Argmin)
def _arg(op: Any, values: list[Any], dims: Dims, size: int) -> tuple[list[Any], list[Any]]:
    d = _batched_dim(dims)
    out = bind(attrs.evolve(op, axis=_shift(op.axis, d)), values[0])
    return [out], [d - 1 if op.axis < d else d]


def _cumulative(op: Any, values: list[Any], dims: Dims, size: int
                ) -> tuple[list[Any], list[Any]]:
    d = _batched_dim(dims)
    return [bind(attrs.evolve(op, axis=_shift(op.axis, d)), values[0])], [d]


for _cls in P.CUMULATIVE:
    BATCH_RULES[_cls] = _cumulative


@_rule(P.DotGeneral)
def _dot_general(op: P.DotGeneral, values: list[Any], dims: Dims, size: int
                 ) -> tuple[list[Any], list[Any]]:
    x, y = values
    xd, yd = dims
    (lc, rc), (lb, rb) = op.contracting, op.batch
    if xd is not None and yd is not None:
        xb, yb = moveaxis(x, xd, 0), moveaxis(y, yd, 0)
        up = lambda axes: tuple(a + 1 for a in axes)  # noqa: E731
        op2 = attrs.evolve(op, contracting=(up(lc), up(rc)),
                           batch=((0,) + up(lb), (0,) + up(rb)))
        return [bind(op2, xb, yb)], [0]
    # One side batched: its batch axis is one more free dimension of that side.
    if xd is not None:
        lc2, lb2 = tuple(_shift(a, xd) for a in lc), tuple(_shift(a, xd) for a in lb)
        free = [k for k in range(x.ndim) if k not in lc2 + lb2]
        op2 = attrs.evolve(op, contracting=(lc2, rc), batch=(lb2, rb))
        return [bind(op2, x, y)], [len(lb) + free.index(xd)]
    assert yd is not None
    rc2, rb2 = tuple(_shift(a, yd) for a in rc), tuple(_shift(a, yd) for a in rb)
    free = [k for k in range(y.ndim) if k not in rc2 + rb2]
    x_free = x.ndim - len(lc) - len(lb)
    op2 = attrs.evolve(op, contracting=(lc, rc2), batch=(lb, rb2))
    return [bind(op2, x, y)], [len(lb) + x_free + free.index(yd)]


@_rule(P.Sort)
def _sort(op: P.Sort, values: list[Any], dims: Dims, size: int) -> tuple[list[Any], list[Any]]:
    xs = [bdim_to_front(x, d, size) for x, d in zip(values, dims)]
    outs = bind(attrs.evolve(op, dimension=op.dimension + 1), *xs)
    return list(outs), [0] * len(xs)


FAMILIES = ("structural", "indexing", "reduction", "cumulative", "linalg", "sort")
"""The families of primitives whose batching rules this module holds."""

__all__ = ["FAMILIES"]
