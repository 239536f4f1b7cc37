"""Collective primitives: operations across the instances of a named axis.

A named axis is bound by `vmap(f, axis_name=...)` (the instances are the examples of the batch)
or by `shard_map` (the instances are devices). Every collective names its axes (`axes`, one or
several names) and holds their sizes (`sizes`, looked up in `dsl.axes` when the op was staged),
so its type rule is self-contained. Over several names the instances are numbered in row-major
order of the names as given: `(i, j)` with sizes `(2, 3)` numbers instance (1, 2) as 5.

- `psum`: the sum over the instances, the same in each.
- `all_gather`: every instance gets every instance's operand, stacked on a new axis `axis`
  (`tiled`: concatenated along the existing axis `axis`).
- `ppermute`: instance `dst` gets the operand of instance `src` for each pair `(src, dst)` of
  `perm`; an instance that is no destination gets zeros. Sources and destinations are distinct.
- `all_to_all`: `split_axis` is cut into one chunk per instance; instance `k` gets chunk `k` of
  every instance, placed along `concat_axis` in instance order. Untiled, the split axis has the
  group's size and is removed, and the chunks form a new axis at `concat_axis`; tiled, the split
  axis is divided and the concat axis multiplied by the group's size.
- `psum_scatter`: the sum over the instances, cut along `scatter_dimension` into one block per
  instance; instance `k` keeps block `k` (untiled: the dimension has the group's size and is
  removed).
- `axis_index`: the instance's index along the axes (int32, no operands).

Collectives are never evaluated on their own: they need the binding context (`Op.collective`).
`vmap` eliminates the ones over its axis; one that reaches `evaluate` or the lowering outside a
binding context is refused with a `TransformError` (see those interpreters).
"""

from __future__ import annotations

import math
from typing import ClassVar

import attrs

from dsl import dtypes
from dsl.errors import ArgumentValueError
from dsl.ir import Op, primitive
from dsl.ops.structural import _ints, check_axes
from dsl.types import TensorType, types_str

COLLECTIVES: list[type[Op]] = []


def _names(v: object) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    return tuple(v)  # type: ignore[call-overload]


def _pairs(v: object) -> tuple[tuple[int, int], ...]:
    out = []
    for p in v:  # type: ignore[attr-defined]
        src, dst = p
        out.append((int(src), int(dst)))
    return tuple(out)


class CollectiveOp(Op):
    """Base of the collectives: `axes` (names) and `sizes` (their sizes), checked alike."""

    collective: ClassVar[bool] = True

    @property
    def group_size(self) -> int:
        """The number of instances: the product of the sizes."""
        return math.prod(self.sizes)  # type: ignore[attr-defined]

    def describe_axes(self) -> str:
        axes = self.axes  # type: ignore[attr-defined]
        return repr(axes[0]) if len(axes) == 1 else repr(axes)

    def check_names(self, in_types: tuple[TensorType, ...]) -> None:
        axes, sizes = self.axes, self.sizes  # type: ignore[attr-defined]
        bad = None
        if not axes:
            bad = "needs at least one axis name"
        elif any(not isinstance(a, str) or not a for a in axes):
            bad = f"axis names must be non-empty strings, got {axes}"
        elif len(set(axes)) != len(axes):
            bad = f"axis names must be distinct, got {axes}"
        elif len(sizes) != len(axes):
            bad = f"{len(axes)} axis names but {len(sizes)} sizes {sizes}"
        elif any(s < 1 for s in sizes):
            bad = f"axis sizes must be positive, got {sizes}"
        if bad is not None:
            raise ArgumentValueError(f"{self.name}: {bad}; got {types_str(in_types)}")


def _collective(name: str):
    def wrap(cls: type[Op]) -> type[Op]:
        cls = primitive(name, family="collective")(cls)
        COLLECTIVES.append(cls)
        return cls
    return wrap


@_collective("psum")
class Psum(CollectiveOp):
    """The sum over the instances of `axes` (the result is the same in every instance)."""

    axes: tuple[str, ...] = attrs.field(converter=_names)
    sizes: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        self.check_names(in_types)
        (x,) = in_types
        if x.dtype not in dtypes.NUMERIC:
            self.fail(f"does not accept dtype {dtypes.short_name(x.dtype)}", in_types, dtype=True)
        return (x,)


@_collective("all_gather")
class AllGather(CollectiveOp):
    """Every instance's operand, stacked on a new axis `axis` (`tiled`: concatenated along the
    existing axis `axis`)."""

    axes: tuple[str, ...] = attrs.field(converter=_names)
    sizes: tuple[int, ...] = attrs.field(converter=_ints)
    axis: int = 0
    tiled: bool = False

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        self.check_names(in_types)
        (x,) = in_types
        n, shape = self.group_size, list(x.shape)
        if self.tiled:
            check_axes(self, (self.axis,), x.ndim, in_types, "axis")
            shape[self.axis] *= n
        else:
            check_axes(self, (self.axis,), x.ndim + 1, in_types, "axis")
            shape.insert(self.axis, n)
        return (TensorType(tuple(shape), x.dtype, x.weak),)


@_collective("ppermute")
class Ppermute(CollectiveOp):
    """Instance `dst` gets instance `src`'s operand for each `(src, dst)` in `perm` (zeros where
    an instance is no destination)."""

    axes: tuple[str, ...] = attrs.field(converter=_names)
    sizes: tuple[int, ...] = attrs.field(converter=_ints)
    perm: tuple[tuple[int, int], ...] = attrs.field(converter=_pairs)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        self.check_names(in_types)
        check_perm(self.name, self.perm, self.group_size, self.describe_axes())
        return (in_types[0],)


def check_perm(what: str, perm: tuple[tuple[int, int], ...], n: int, axes: str) -> None:
    """`perm`'s pairs lie in [0, n) and repeat no source and no destination."""
    for src, dst in perm:
        if not (0 <= src < n and 0 <= dst < n):
            raise ArgumentValueError(f"{what}: pair {(src, dst)} of perm is out of range for "
                                     f"axis {axes} of size {n}")
    for k, what_k in ((0, "source"), (1, "destination")):
        seen: set[int] = set()
        for p in perm:
            if p[k] in seen:
                raise ArgumentValueError(f"{what}: perm {list(perm)} repeats the {what_k} "
                                         f"{p[k]}; sources and destinations must be distinct")
            seen.add(p[k])


@_collective("all_to_all")
class AllToAll(CollectiveOp):
    """Chunk `k` of `split_axis` goes to instance `k`; the received chunks are placed along
    `concat_axis` in instance order (untiled: the split axis has the group's size and is
    removed, the chunks make a new axis at `concat_axis`)."""

    axes: tuple[str, ...] = attrs.field(converter=_names)
    sizes: tuple[int, ...] = attrs.field(converter=_ints)
    split_axis: int
    concat_axis: int
    tiled: bool = False

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        self.check_names(in_types)
        (x,) = in_types
        n, shape = self.group_size, list(x.shape)
        check_axes(self, (self.split_axis,), x.ndim, in_types, "split_axis")
        check_axes(self, (self.concat_axis,), x.ndim, in_types, "concat_axis")
        m = shape[self.split_axis]
        if self.tiled:
            if m % n:
                self.fail(f"split_axis {self.split_axis} has size {m}, not divisible by the "
                          f"size {n} of axis {self.describe_axes()}", in_types)
            shape[self.split_axis] //= n
            shape[self.concat_axis] *= n
        else:
            if m != n:
                self.fail(f"split_axis {self.split_axis} has size {m}, but untiled all_to_all "
                          f"needs the size {n} of axis {self.describe_axes()}", in_types)
            del shape[self.split_axis]
            shape.insert(self.concat_axis, n)
        return (TensorType(tuple(shape), x.dtype, x.weak),)


@_collective("psum_scatter")
class PsumScatter(CollectiveOp):
    """The sum over the instances, of which instance `k` keeps block `k` along
    `scatter_dimension` (untiled: the dimension has the group's size and is removed)."""

    axes: tuple[str, ...] = attrs.field(converter=_names)
    sizes: tuple[int, ...] = attrs.field(converter=_ints)
    scatter_dimension: int = 0
    tiled: bool = False

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        self.check_names(in_types)
        (x,) = in_types
        if x.dtype not in dtypes.NUMERIC:
            self.fail(f"does not accept dtype {dtypes.short_name(x.dtype)}", in_types, dtype=True)
        dim = self.scatter_dimension
        check_axes(self, (dim,), x.ndim, in_types, "scatter_dimension")
        n, shape = self.group_size, list(x.shape)
        if self.tiled:
            if shape[dim] % n:
                self.fail(f"scatter_dimension {dim} has size {shape[dim]}, not divisible by the "
                          f"size {n} of axis {self.describe_axes()}", in_types)
            shape[dim] //= n
        else:
            if shape[dim] != n:
                self.fail(f"scatter_dimension {dim} has size {shape[dim]}, but untiled "
                          f"psum_scatter needs the size {n} of axis {self.describe_axes()}",
                          in_types)
            del shape[dim]
        return (TensorType(tuple(shape), x.dtype, x.weak),)


@_collective("axis_index")
class AxisIndex(CollectiveOp):
    """The index of the instance along `axes` (row-major over several names), int32."""

    axes: tuple[str, ...] = attrs.field(converter=_names)
    sizes: tuple[int, ...] = attrs.field(converter=_ints)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 0)
        self.check_names(in_types)
        return (TensorType((), dtypes.int32),)


__all__ = ["COLLECTIVES", "AllGather", "AllToAll", "AxisIndex", "CollectiveOp", "Ppermute",
           "Psum", "PsumScatter", "check_perm"]
