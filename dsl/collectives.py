"""The collectives users call: `d.psum`, `d.pmean`, `d.all_gather`, `d.ppermute`, `d.all_to_all`,
`d.psum_scatter`, `d.axis_index`, with `jax.lax`'s signatures and semantics.

Each acts across the instances of one or several named axes (`axis_name`: a name, or a tuple of
names numbered row-major), bound by `vmap(f, axis_name=...)` or `shard_map` while `f` is staged.
The names are looked up in `dsl.axes` here, at staging time, and their sizes stored in the
primitive. Operands may be pytrees of arrays (each leaf is one collective). As in JAX:

- a concrete operand (a constant, the same in every instance) of `psum` is multiplied by the
  number of instances (`psum(1, 'i')` is the axis size), and boolean operands are summed as int32;
- an empty tuple of names makes `psum`, `pmean`, `all_gather` and `psum_scatter` the identity and
  `axis_index` zero;
- `axis_index_groups` is not supported (only None).

Negative axes count from the end (for an untiled `all_gather`, of the result's rank).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from dsl import dtypes, lax
from dsl.array import Array
from dsl.axes import resolve
from dsl.core import bind, is_tracer
from dsl.errors import ArgumentTypeError, ArgumentValueError
from dsl.ops.collectives import (AllGather, AllToAll, AxisIndex, Ppermute, Psum, PsumScatter,
                                 check_perm)
from dsl.pytree import tree_map


def _value(what: str, x: Any) -> Any:
    from dsl.numpy_api import asarray

    if is_tracer(x) or type(x) is Array:
        return x
    try:
        return asarray(x)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{what}: operands must be arrays or pytrees of arrays, got a "
                                f"{type(x).__name__}") from None


def _no_groups(what: str, axis_index_groups: Any) -> None:
    if axis_index_groups is not None:
        raise ArgumentValueError(f"{what}: axis_index_groups is not supported (got "
                                 f"{axis_index_groups!r}); pass None")


def _axis(what: str, name: str, axis: Any, x: Any, ndim: int) -> int:
    try:
        a = operator.index(axis)
    except TypeError:
        raise ArgumentTypeError(f"{what}: {name} must be an integer, got {axis!r}") from None
    if not -ndim <= a < ndim:
        from dsl.errors import ShapeError

        raise ShapeError(f"{what}: {name} {a} is out of bounds for an operand of type {x.type} "
                         f"(the valid range is [{-ndim}, {ndim}))")
    return a % ndim


def psum(x: Any, axis_name: Any, *, axis_index_groups: Any = None) -> Any:
    """The sum of `x` over the instances of `axis_name` (the same result in every instance)."""
    _no_groups("psum", axis_index_groups)

    def one(leaf: Any) -> Any:
        v = _value("psum", leaf)
        names, sizes = resolve("psum", axis_name, v)
        if not names:
            return v
        if v.dtype == dtypes.bool_:
            v = lax.convert(v, dtypes.int32)
        if not is_tracer(v):  # a constant is the same in every instance
            return lax.mul(v, math.prod(sizes))
        return bind(Psum(axes=names, sizes=sizes), v)

    return tree_map(one, x)


def pmean(x: Any, axis_name: Any, *, axis_index_groups: Any = None) -> Any:
    """The mean of `x` over the instances of `axis_name` (integers give floats, as `/` does)."""
    _no_groups("pmean", axis_index_groups)

    def one(leaf: Any) -> Any:
        v = _value("pmean", leaf)
        _, sizes = resolve("pmean", axis_name, v)
        return psum(v, axis_name) / math.prod(sizes)

    return tree_map(one, x)


def all_gather(x: Any, axis_name: Any, *, axis_index_groups: Any = None, axis: int = 0,
               tiled: bool = False) -> Any:
    """Every instance's `x`, stacked along a new axis `axis` of the result (`tiled`:
    concatenated along `x`'s axis `axis`), in every instance."""
    _no_groups("all_gather", axis_index_groups)

    def one(leaf: Any) -> Any:
        v = _value("all_gather", leaf)
        names, sizes = resolve("all_gather", axis_name, v)
        if not names:
            return v
        ax = _axis("all_gather", "axis", axis, v, v.ndim if tiled else v.ndim + 1)
        return bind(AllGather(axes=names, sizes=sizes, axis=ax, tiled=bool(tiled)), v)

    return tree_map(one, x)


def _perm(perm: Any) -> tuple[tuple[int, int], ...]:
    try:
        pairs = tuple((operator.index(s), operator.index(t)) for s, t in perm)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"ppermute: perm must be a sequence of (source, destination) "
                                f"pairs of ints, got {perm!r}") from None
    return pairs


def ppermute(x: Any, axis_name: Any, perm: Any) -> Any:
    """Instance `dst` gets instance `src`'s `x` for each `(src, dst)` of `perm`; an instance that
    is no destination gets zeros. Sources must be distinct, and so must destinations."""
    pairs = _perm(perm)

    def one(leaf: Any) -> Any:
        v = _value("ppermute", leaf)
        names, sizes = resolve("ppermute", axis_name, v)
        if not names:
            raise ArgumentValueError("ppermute: needs at least one axis name")
        check_perm("ppermute", pairs, math.prod(sizes),
                   repr(names[0]) if len(names) == 1 else repr(names))
        return bind(Ppermute(axes=names, sizes=sizes, perm=pairs), v)

    return tree_map(one, x)


def all_to_all(x: Any, axis_name: Any, split_axis: int, concat_axis: int, *,
               axis_index_groups: Any = None, tiled: bool = False) -> Any:
    """Cut `x` along `split_axis` into one chunk per instance, send chunk `k` to instance `k`,
    and place the received chunks along `concat_axis` in instance order. Untiled, `split_axis`
    must have the group's size and is removed, and the chunks make a new axis `concat_axis`."""
    _no_groups("all_to_all", axis_index_groups)

    def one(leaf: Any) -> Any:
        v = _value("all_to_all", leaf)
        names, sizes = resolve("all_to_all", axis_name, v)
        if not names:
            raise ArgumentValueError("all_to_all: needs at least one axis name")
        s = _axis("all_to_all", "split_axis", split_axis, v, v.ndim)
        c = _axis("all_to_all", "concat_axis", concat_axis, v, v.ndim)
        return bind(AllToAll(axes=names, sizes=sizes, split_axis=s, concat_axis=c,
                             tiled=bool(tiled)), v)

    return tree_map(one, x)


def psum_scatter(x: Any, axis_name: Any, *, scatter_dimension: int = 0,
                 axis_index_groups: Any = None, tiled: bool = False) -> Any:
    """`psum(x)` cut along `scatter_dimension` into one block per instance; instance `k` keeps
    block `k`. Untiled, the dimension must have the group's size and is removed."""
    _no_groups("psum_scatter", axis_index_groups)

    def one(leaf: Any) -> Any:
        v = _value("psum_scatter", leaf)
        names, sizes = resolve("psum_scatter", axis_name, v)
        if not names:
            return v
        dim = _axis("psum_scatter", "scatter_dimension", scatter_dimension, v, v.ndim)
        return bind(PsumScatter(axes=names, sizes=sizes, scatter_dimension=dim,
                                tiled=bool(tiled)), v)

    return tree_map(one, x)


def axis_index(axis_name: Any) -> Any:
    """This instance's index along `axis_name` (int32; row-major over a tuple of names)."""
    names, sizes = resolve("axis_index", axis_name)
    if not names:
        return Array(np.asarray(0, dtype=dtypes.int32))
    return bind(AxisIndex(axes=names, sizes=sizes))


__all__ = ["all_gather", "all_to_all", "axis_index", "pmean", "ppermute", "psum",
           "psum_scatter"]
