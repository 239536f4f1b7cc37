"""Structural primitives: they move, copy or select elements without arithmetic.

Shapes and axes are static fields; index operands of the dynamic ops are scalar integers.
Out-of-bounds conventions follow XLA: `dynamic_slice`/`dynamic_update_slice` clamp the start so
the window fits; `gather` clamps (mode `clip`) or fills (mode `fill`); `scatter` drops updates
whose index is out of bounds.
"""

from __future__ import annotations

import attrs
import numpy as np

from dsl import dtypes
from dsl.ir import Op, primitive
from dsl.types import TensorType


def _ints(v: object) -> tuple[int, ...]:
    return tuple(int(i) for i in v)  # type: ignore[attr-defined]


def _int_pairs(v: object) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(i) for i in p) for p in v)  # type: ignore[attr-defined]


def check_axes(op: Op, axes: tuple[int, ...], ndim: int, in_types: tuple[TensorType, ...],
               what: str = "axes") -> None:
    """Axes must be distinct and in [0, ndim)."""
    if any(not 0 <= a < ndim for a in axes) or len(set(axes)) != len(axes):
        op.fail(f"{what} {axes} out of range or repeated for rank {ndim}", in_types)


def _check_index_scalars(op: Op, idx: tuple[TensorType, ...],
                         in_types: tuple[TensorType, ...]) -> None:
    for t in idx:
        if t.shape != () or not dtypes.is_integer(t.dtype):
            op.fail("indices must be integer scalars", in_types, dtype=True)


@primitive("iota", family="structural")
class Iota(Op):
    """`0, 1, 2, ...` along `dimension` of an array of `shape`."""

    dtype: np.dtype = attrs.field(converter=dtypes.canonicalize)
    shape: tuple[int, ...] = attrs.field(converter=_ints)
    dimension: int = 0

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 0)
        if not 0 <= self.dimension < len(self.shape) or any(n < 0 for n in self.shape):
            self.fail(f"bad shape {self.shape} / dimension {self.dimension}", in_types)
        if self.dtype not in dtypes.NUMERIC:
            self.fail("dtype must be numeric", in_types, dtype=True)
        return (TensorType(self.shape, self.dtype),)


@primitive("broadcast_in_dim", family="structural")
class BroadcastInDim(Op):
    """Broadcast to `shape`; operand dimension i becomes output dimension `broadcast_dimensions[i]`."""

    shape: tuple[int, ...] = attrs.field(converter=_ints)
    broadcast_dimensions: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        dims = self.broadcast_dimensions
        if len(dims) != x.ndim or list(dims) != sorted(set(dims)) or any(
                not 0 <= d < len(self.shape) for d in dims):
            self.fail(f"broadcast_dimensions {dims} do not fit {x} -> {list(self.shape)}", in_types)
        for i, d in enumerate(dims):
            if x.shape[i] not in (1, self.shape[d]):
                self.fail(f"cannot broadcast dimension {i} to shape {list(self.shape)}", in_types)
        return (TensorType(self.shape, x.dtype, x.weak),)


@primitive("reshape", family="structural")
class Reshape(Op):
    """Row-major reshape to `new_sizes` (same number of elements)."""

    new_sizes: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        if any(n < 0 for n in self.new_sizes) or int(np.prod(self.new_sizes)) != x.size:
            self.fail(f"cannot reshape to {list(self.new_sizes)}", in_types)
        return (TensorType(self.new_sizes, x.dtype, x.weak),)


@primitive("transpose", family="structural")
class Transpose(Op):
    """Permute dimensions: output dimension i is operand dimension `permutation[i]`."""

    permutation: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        if sorted(self.permutation) != list(range(x.ndim)):
            self.fail(f"{self.permutation} is not a permutation of rank {x.ndim}", in_types)
        return (TensorType(tuple(x.shape[p] for p in self.permutation), x.dtype, x.weak),)


@primitive("squeeze", family="structural")
class Squeeze(Op):
    """Remove the size-1 `dimensions`."""

    dimensions: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        check_axes(self, self.dimensions, x.ndim, in_types, "dimensions")
        if any(x.shape[d] != 1 for d in self.dimensions):
            self.fail(f"can only squeeze dimensions of size 1, not {self.dimensions}", in_types)
        shape = tuple(n for i, n in enumerate(x.shape) if i not in self.dimensions)
        return (TensorType(shape, x.dtype, x.weak),)


@primitive("expand_dims", family="structural")
class ExpandDims(Op):
    """Insert size-1 dimensions at the output positions `dimensions`."""

    dimensions: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        out_rank = x.ndim + len(self.dimensions)
        check_axes(self, self.dimensions, out_rank, in_types, "dimensions")
        rest = iter(x.shape)
        shape = tuple(1 if i in self.dimensions else next(rest) for i in range(out_rank))
        return (TensorType(shape, x.dtype, x.weak),)


@primitive("rev", family="structural")
class Rev(Op):
    """Reverse the order of elements along `dimensions`."""

    dimensions: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        check_axes(self, self.dimensions, in_types[0].ndim, in_types, "dimensions")
        return (in_types[0],)


@primitive("pad", family="structural")
class Pad(Op):
    """Pad with a scalar value: per dimension (low, high, interior); low/high may be negative."""

    config: tuple[tuple[int, ...], ...] = attrs.field(converter=_int_pairs)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 2)
        x, v = in_types
        if v.shape != () or v.dtype != x.dtype:
            self.fail("padding value must be a scalar of the operand's dtype", in_types)
        if len(self.config) != x.ndim or any(len(c) != 3 or c[2] < 0 for c in self.config):
            self.fail(f"config {self.config} needs one (low, high, interior>=0) per dimension",
                      in_types)
        shape = []
        for n, (lo, hi, interior) in zip(x.shape, self.config):
            m = lo + hi + n + max(n - 1, 0) * interior
            if m < 0:
                self.fail(f"config {self.config} crops below zero size", in_types)
            shape.append(m)
        return (TensorType(tuple(shape), x.dtype, x.weak and v.weak),)


@primitive("concatenate", family="structural")
class Concatenate(Op):
    """Join operands of one dtype along `dimension`."""

    dimension: int

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        if not in_types:
            self.fail("needs at least one operand", in_types)
        x = in_types[0]
        if not 0 <= self.dimension < x.ndim:
            self.fail(f"dimension {self.dimension} out of range for rank {x.ndim}", in_types)
        for t in in_types[1:]:
            if t.dtype != x.dtype:
                self.fail("operands must have the same dtype", in_types, dtype=True)
            if t.ndim != x.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, x.shape))
                                       if i != self.dimension):
                self.fail(f"operands must agree except along dimension {self.dimension}",
                          in_types)
        shape = list(x.shape)
        shape[self.dimension] = sum(t.shape[self.dimension] for t in in_types)
        return (TensorType(tuple(shape), x.dtype, all(t.weak for t in in_types)),)


@primitive("slice", family="structural")
class Slice(Op):
    """Static strided slice `x[start:limit:stride]` per dimension."""

    start_indices: tuple[int, ...] = attrs.field(converter=_ints)
    limit_indices: tuple[int, ...] = attrs.field(converter=_ints)
    strides: tuple[int, ...] | None = attrs.field(
        default=None, converter=lambda v: None if v is None else _ints(v))

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        strides = self.strides or (1,) * x.ndim
        if not len(self.start_indices) == len(self.limit_indices) == len(strides) == x.ndim:
            self.fail("needs one start, limit and stride per dimension", in_types)
        shape = []
        for n, lo, hi, s in zip(x.shape, self.start_indices, self.limit_indices, strides):
            if not (0 <= lo <= hi <= n) or s < 1:
                self.fail(f"slice {self.start_indices}:{self.limit_indices}:{strides} "
                          "out of bounds", in_types)
            shape.append(-(-(hi - lo) // s))
        return (TensorType(tuple(shape), x.dtype, x.weak),)


@primitive("dynamic_slice", family="structural")
class DynamicSlice(Op):
    """A window of `slice_sizes` at run-time start indices (one scalar per dimension, clamped)."""

    slice_sizes: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        if not in_types:
            self.fail("needs an operand", in_types)
        x, idx = in_types[0], in_types[1:]
        if len(idx) != x.ndim or len(self.slice_sizes) != x.ndim:
            self.fail(f"needs {x.ndim} start indices and slice sizes", in_types)
        _check_index_scalars(self, idx, in_types)
        if any(not 0 <= s <= n for s, n in zip(self.slice_sizes, x.shape)):
            self.fail(f"slice sizes {self.slice_sizes} exceed the operand", in_types)
        return (TensorType(self.slice_sizes, x.dtype, x.weak),)


@primitive("dynamic_update_slice", family="structural")
class DynamicUpdateSlice(Op):
    """Write `update` into `operand` at run-time start indices (clamped so it fits)."""

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        if len(in_types) < 2:
            self.fail("needs an operand and an update", in_types)
        x, u, idx = in_types[0], in_types[1], in_types[2:]
        if u.dtype != x.dtype:
            self.fail("update must have the operand's dtype", in_types, dtype=True)
        if u.ndim != x.ndim or len(idx) != x.ndim or any(a > b for a, b in zip(u.shape, x.shape)):
            self.fail("update must fit in the operand, with one start index per dimension",
                      in_types)
        _check_index_scalars(self, idx, in_types)
        return (TensorType(x.shape, x.dtype, x.weak),)


GATHER_MODES = ("clip", "fill")
SCATTER_KINDS = ("set", "add", "mul", "min", "max")


def _indexed_shape(op: Op, x: TensorType, i: TensorType, axes: tuple[int, ...],
                   in_types: tuple[TensorType, ...]) -> tuple[int, ...]:
    if not dtypes.is_integer(i.dtype):
        op.fail("indices must be integers", in_types, dtype=True)
    check_axes(op, axes, x.ndim, in_types)
    if i.ndim < 1 or i.shape[-1] != len(axes):
        op.fail(f"indices need a last dimension of size {len(axes)} (one per indexed axis)",
                in_types)
    return i.shape[:-1] + tuple(n for d, n in enumerate(x.shape) if d not in axes)


@primitive("gather", family="indexing")
class Gather(Op):
    """Point indexing on `axes`: `out[b..., rest...] = x[...i[b..., k] at axes[k]...]`.

    `indices` has shape `batch + (len(axes),)`; the output has shape `batch` followed by the
    operand's dimensions that are not indexed, in order. Out-of-bounds indices are clamped (mode
    `clip`) or give a fill value (mode `fill`: NaN, the minimum signed / maximum unsigned integer,
    True).
    """

    axes: tuple[int, ...] = attrs.field(converter=_ints)
    mode: str = "clip"

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 2)
        x, i = in_types
        if self.mode not in GATHER_MODES:
            self.fail(f"mode must be one of {GATHER_MODES}", in_types)
        return (TensorType(_indexed_shape(self, x, i, self.axes, in_types), x.dtype, x.weak),)


@primitive("scatter", family="indexing")
class Scatter(Op):
    """The functional update of `gather`'s positions: `kind` in set, add, mul, min, max.

    Operands are (operand, indices, updates) with `updates` shaped like the matching gather's
    output. Updates at out-of-bounds indices are dropped; with repeated indices, `add`/`mul`/
    `min`/`max` combine every update and `set` keeps one of them.
    """

    axes: tuple[int, ...] = attrs.field(converter=_ints)
    kind: str = "set"

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 3)
        x, i, u = in_types
        if self.kind not in SCATTER_KINDS:
            self.fail(f"kind must be one of {SCATTER_KINDS}", in_types)
        if u.dtype != x.dtype:
            self.fail("updates must have the operand's dtype", in_types, dtype=True)
        if u.shape != _indexed_shape(self, x, i, self.axes, in_types):
            self.fail("updates must have the shape indices[:-1] + the non-indexed dimensions",
                      in_types)
        return (TensorType(x.shape, x.dtype, x.weak),)
