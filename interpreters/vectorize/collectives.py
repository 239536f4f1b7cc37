"""Batching rules of the collectives: under `vmap(f, axis_name='i')` the instances of axis `'i'`
are the examples of the batch.

A collective over the axis being vectorized (`current_axis()`) acts across the batch dimension
and disappears from the program:

- `psum`: a sum over the batch dimension; the result is the same for every example (unbatched).
  An operand that is the same in every example is multiplied by the batch size.
- `all_gather`: the batch dimension becomes the gathered axis; unbatched.
- `axis_index`: an iota over the batch (int32), batched.
- `ppermute`: example `dst` takes example `src`'s slice (a gather along the batch dimension);
  examples that are no destination get zeros.
- `all_to_all`: the split axis is cut into one chunk per example and chunk `k` of example `j`
  becomes chunk `j` of example `k` along the concat axis: a reshape and a transpose that swaps
  the batch dimension with the chunk index.
- `psum_scatter`: a sum over the batch dimension, whose block `k` goes to example `k` (the block
  index becomes the batch dimension).

A collective over other axes only (those of an enclosing `vmap` or `shard_map`) is re-bound
with its axis fields shifted for the batch dimension, which is moved to the front; the result
stays batched. When a collective names the current axis together with others (`psum(x, ('i',
'j'))`), the names before the current one (`major`) and after it (`minor`) are split off: the
batch part is done here and the rest is re-bound as collectives over `major` and `minor`, which
the enclosing binding eliminates in turn. Instances are numbered row-major over the names, so
the group is laid out as `(major, batch, minor)`. `ppermute` over several names gathers the
whole group and lets each example pick its source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from dsl import dtypes, lax
from dsl.array import Array
from dsl.core import bind
from dsl.errors import TransformError
from dsl.ops.collectives import (AllGather, AllToAll, AxisIndex, CollectiveOp, Ppermute, Psum,
                                 PsumScatter)
from interpreters.vectorize import BATCH_RULES, bdim_to_front, current_axis, moveaxis

Dim = int | None
Names = tuple[tuple[str, ...], tuple[int, ...]]
Rule = tuple[list[Any], list[Dim]]


# ----------------------------------------------------------------------------------------------
# Helpers


def _around(op: CollectiveOp, cur: str, size: int) -> tuple[Names, Names]:
    """The names of `op` before and after the current axis `cur`, with their sizes."""
    axes, sizes = op.axes, op.sizes  # type: ignore[attr-defined]
    k = axes.index(cur)
    if sizes[k] != size:
        raise TransformError(f"vmap: {op.name} over axis {cur!r} was staged for an axis of size "
                             f"{sizes[k]}, but the batch of {cur!r} has size {size}")
    return (axes[:k], sizes[:k]), (axes[k + 1:], sizes[k + 1:])


def _merge(x: Any, start: int, count: int) -> Any:
    """`x` with its dimensions [start, start + count) merged into one (row-major)."""
    if count == 1:
        return x
    shape = tuple(x.shape)
    return lax.reshape(x, shape[:start] + (math.prod(shape[start: start + count]),)
                       + shape[start + count:])


def _zero_lanes(x: Any, keep: np.ndarray) -> Any:
    """`x` (batch dimension first) with the examples where `keep` is False set to zero."""
    if keep.all():
        return x
    mask = lax.broadcast_in_dim(Array(keep), tuple(x.shape), (0,))
    zero = lax.broadcast_in_dim(Array(np.zeros((), x.dtype), x.weak), tuple(x.shape), ())
    return lax.select(mask, x, zero)


def _gather_all(x: Any, dim: Dim, size: int, major: Names, minor: Names, axis: int) -> Any:
    """The untiled `all_gather` over (major, batch, minor) of `x` (batched at `dim`): an unbatched
    value with the whole group stacked at `axis`."""
    y = moveaxis(bdim_to_front(x, dim, size), 0, axis)
    count = 1
    if minor[0]:
        y = bind(AllGather(axes=minor[0], sizes=minor[1], axis=axis + 1), y)
        count += 1
    if major[0]:
        y = bind(AllGather(axes=major[0], sizes=major[1], axis=axis), y)
        count += 1
    return _merge(y, axis, count)


def _linear_index(size: int, major: Names, minor: Names) -> Any:
    """Each example's index in the group (major, batch, minor): int32 of shape [size]."""
    idx = lax.iota(dtypes.int32, (size,))
    if major[0]:
        idx = lax.add(idx, lax.mul(bind(AxisIndex(axes=major[0], sizes=major[1])), size))
    if minor[0]:
        n = math.prod(minor[1])
        idx = lax.add(lax.mul(idx, n), bind(AxisIndex(axes=minor[0], sizes=minor[1])))
    return idx


def _take(table: Any, idx: Any) -> Any:
    """`table[idx]` along its first axis, for an int32 index vector `idx`."""
    return lax.gather(table, lax.reshape(idx, (idx.shape[0], 1)), (0,))


# ----------------------------------------------------------------------------------------------
# Rules


def psum_vectorize(op: Psum, values: Sequence[Any], dims: Sequence[Dim], size: int) -> Rule:
    (x,), (d,) = values, dims
    cur = current_axis()
    if cur not in op.axes:
        return [bind(op, x)], [d]
    major, minor = _around(op, cur, size)
    y = lax.mul(x, size) if d is None else lax.reduce_sum(x, (d,))
    rest = (major[0] + minor[0], major[1] + minor[1])
    if rest[0]:
        y = bind(Psum(axes=rest[0], sizes=rest[1]), y)
    return [y], [None]


def all_gather_vectorize(op: AllGather, values: Sequence[Any], dims: Sequence[Dim], size: int
                         ) -> Rule:
    (x,), (d,) = values, dims
    cur = current_axis()
    if cur not in op.axes:
        if d is None:
            return [bind(op, x)], [None]
        return [bind(attrs.evolve(op, axis=op.axis + 1), moveaxis(x, d, 0))], [0]
    major, minor = _around(op, cur, size)
    y = _gather_all(x, d, size, major, minor, op.axis)
    if op.tiled:  # the group's dimension, then the operand's own dimension `axis`
        y = _merge(y, op.axis, 2)
    return [y], [None]


def axis_index_vectorize(op: AxisIndex, values: Sequence[Any], dims: Sequence[Dim], size: int
                         ) -> Rule:
    cur = current_axis()
    if cur not in op.axes:
        return [bind(op)], [None]
    major, minor = _around(op, cur, size)
    return [_linear_index(size, major, minor)], [0]


def ppermute_vectorize(op: Ppermute, values: Sequence[Any], dims: Sequence[Dim], size: int
                       ) -> Rule:
    (x,), (d,) = values, dims
    cur = current_axis()
    if cur not in op.axes:
        return [bind(op, x)], [d]
    major, minor = _around(op, cur, size)
    n = op.group_size
    source = {dst: src for src, dst in op.perm}
    table = np.array([source.get(k, 0) for k in range(n)], dtype=np.int32)
    keep = np.array([k in source for k in range(n)])
    if not major[0] and not minor[0]:
        if d is None and keep.all():  # every example gets the shared value
            return [x], [None]
        x, d = (bdim_to_front(x, d, size), 0) if d is None else (x, d)
        out = lax.gather(x, Array(table.reshape(n, 1)), (d,))
        return [_zero_lanes(out, keep)], [0]
    # Several names: gather the whole group; each example picks its source by its index.
    group = _gather_all(x, d, size, major, minor, 0)
    idx = _linear_index(size, major, minor)
    out = _take(group, _take(Array(table), idx))
    if not keep.all():
        mask = lax.broadcast_in_dim(_take(Array(keep), idx), tuple(out.shape), (0,))
        zero = lax.broadcast_in_dim(Array(np.zeros((), out.dtype), out.weak), tuple(out.shape),
                                    ())
        out = lax.select(mask, out, zero)
    return [out], [0]


def _all_to_all_tiled(x: Any, split: int, concat: int, size: int, major: Names, minor: Names
                      ) -> Any:
    """Tiled `all_to_all` over (major, batch, minor) of `x` (batch first; `split` and `concat`
    are the example's axes). Returns the result, batch first."""
    shape = tuple(x.shape)
    n_major, n_minor = math.prod(major[1]), math.prod(minor[1])
    group = n_major * size * n_minor
    a = 1 + split
    chunk = shape[a] // group
    # split_axis -> (destination major, destination example, destination minor, chunk)
    y = lax.reshape(x, shape[:a] + (n_major, size, n_minor, chunk) + shape[a + 1:])
    perm = list(range(y.ndim))
    perm[0], perm[a + 1] = a + 1, 0  # this example's chunk from every example: the batch swap
    y = lax.transpose(y, perm)
    # the destination coordinates of the other axes become source coordinates, in place
    if major[0]:
        y = bind(AllToAll(axes=major[0], sizes=major[1], split_axis=a, concat_axis=a), y)
    if minor[0]:
        y = bind(AllToAll(axes=minor[0], sizes=minor[1], split_axis=a + 2, concat_axis=a + 2),
                 y)
    y = lax.reshape(y, shape[:a] + (group, chunk) + shape[a + 1:])  # (source, chunk)
    if split == concat:
        return lax.reshape(y, shape)
    c = 1 + concat if concat < split else 2 + concat  # where concat_axis is in y
    dest = c - 1 if c > a else c
    return _merge(moveaxis(y, a, dest), dest, 2)  # the sources go in front of concat_axis


def all_to_all_vectorize(op: AllToAll, values: Sequence[Any], dims: Sequence[Dim], size: int
                         ) -> Rule:
    (x,), (d,) = values, dims
    cur = current_axis()
    if cur not in op.axes:
        if d is None:
            return [bind(op, x)], [None]
        new = attrs.evolve(op, split_axis=op.split_axis + 1, concat_axis=op.concat_axis + 1)
        return [bind(new, moveaxis(x, d, 0))], [0]
    major, minor = _around(op, cur, size)
    y = bdim_to_front(x, d, size)
    split, concat = op.split_axis, op.concat_axis
    if not op.tiled:  # as a tiled all_to_all with a new unit axis at concat, then squeezed
        if split < concat:
            concat += 1
            y = lax.expand_dims(y, (1 + concat,))
        elif concat < split:
            y = lax.expand_dims(y, (1 + concat,))
            split += 1
    y = _all_to_all_tiled(y, split, concat, size, major, minor)
    if not op.tiled and split != concat:
        y = lax.squeeze(y, (1 + split,))
    return [y], [0]


def psum_scatter_vectorize(op: PsumScatter, values: Sequence[Any], dims: Sequence[Dim],
                           size: int) -> Rule:
    (x,), (d,) = values, dims
    cur = current_axis()
    if cur not in op.axes:
        if d is None:
            return [bind(op, x)], [None]
        new = attrs.evolve(op, scatter_dimension=op.scatter_dimension + 1)
        return [bind(new, moveaxis(x, d, 0))], [0]
    major, minor = _around(op, cur, size)
    s = op.scatter_dimension
    total = lax.mul(x, size) if d is None else lax.reduce_sum(x, (d,))
    shape = tuple(total.shape)
    n_major, n_minor = math.prod(major[1]), math.prod(minor[1])
    block = shape[s] // (n_major * size * n_minor)
    y = lax.reshape(total, shape[:s] + (n_major, size, n_minor, block) + shape[s + 1:])
    y = moveaxis(y, s + 1, 0)  # block k of the batch's sum goes to example k
    if minor[0]:
        y = bind(PsumScatter(axes=minor[0], sizes=minor[1], scatter_dimension=s + 2), y)
    if major[0]:
        y = bind(PsumScatter(axes=major[0], sizes=major[1], scatter_dimension=s + 1), y)
    out = shape[:s] + ((block,) if op.tiled else ()) + shape[s + 1:]
    return [lax.reshape(y, (size,) + out)], [0]


BATCH_RULES[Psum] = psum_vectorize
BATCH_RULES[AllGather] = all_gather_vectorize
BATCH_RULES[AxisIndex] = axis_index_vectorize
BATCH_RULES[Ppermute] = ppermute_vectorize
BATCH_RULES[AllToAll] = all_to_all_vectorize
BATCH_RULES[PsumScatter] = psum_scatter_vectorize

__all__ = ["all_gather_vectorize", "all_to_all_vectorize", "axis_index_vectorize",
           "ppermute_vectorize", "psum_scatter_vectorize", "psum_vectorize"]
