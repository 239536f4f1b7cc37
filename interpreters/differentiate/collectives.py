"""Derivative rules of the collectives.

Every collective but `axis_index` is linear in its operand, so its jvp applies it to the tangent,
and its vjp is its transpose, another collective over the same axes:

- `psum` -> `psum` (as in JAX, a psum is read as a sum followed by a broadcast to every instance,
  so the cotangents of all instances are summed back);
- `all_gather` -> `psum_scatter` along the gathered axis (each instance sums the cotangents of its
  own slice from every instance), and `psum_scatter` -> `all_gather`, with the same `tiled`;
- `ppermute` -> `ppermute` with the inverse permutation (each pair reversed);
- `all_to_all` -> `all_to_all` with `split_axis` and `concat_axis` swapped.

`axis_index` has no operand and an integer result: zero derivative.
"""

from __future__ import annotations

from typing import Any

from dsl.core import bind
from dsl.ops.collectives import AllGather, AllToAll, AxisIndex, Ppermute, Psum, PsumScatter
from interpreters.differentiate import JVP_RULES, VJP_RULES, Zero, instantiate, type_of

Rules = tuple[list[Any], list[Any]]


def linear_jvp(op: Any, primals: list[Any], tangents: list[Any]) -> Rules:
    """A collective applied to the primal and to the tangent."""
    return [bind(op, primals[0])], [bind(op, instantiate(tangents[0]))]


def axis_index_jvp(op: AxisIndex, primals: list[Any], tangents: list[Any]) -> Rules:
    out = bind(op)
    return [out], [Zero(type_of(out))]


def psum_vjp(op: Psum, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    return [bind(op, instantiate(cts[0]))]


def all_gather_vjp(op: AllGather, xs: list[Any], outs: list[Any], cts: list[Any]
                   ) -> list[Any]:
    new = PsumScatter(axes=op.axes, sizes=op.sizes, scatter_dimension=op.axis, tiled=op.tiled)
    return [bind(new, instantiate(cts[0]))]


def psum_scatter_vjp(op: PsumScatter, xs: list[Any], outs: list[Any], cts: list[Any]
                     ) -> list[Any]:
    new = AllGather(axes=op.axes, sizes=op.sizes, axis=op.scatter_dimension, tiled=op.tiled)
    return [bind(new, instantiate(cts[0]))]


def ppermute_vjp(op: Ppermute, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    new = Ppermute(axes=op.axes, sizes=op.sizes, perm=tuple((b, a) for a, b in op.perm))
    return [bind(new, instantiate(cts[0]))]


def all_to_all_vjp(op: AllToAll, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    new = AllToAll(axes=op.axes, sizes=op.sizes, split_axis=op.concat_axis,
                   concat_axis=op.split_axis, tiled=op.tiled)
    return [bind(new, instantiate(cts[0]))]


def axis_index_vjp(op: AxisIndex, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    return []


for _cls in (Psum, AllGather, PsumScatter, Ppermute, AllToAll):
    JVP_RULES[_cls] = linear_jvp
JVP_RULES[AxisIndex] = axis_index_jvp
VJP_RULES[Psum] = psum_vjp
VJP_RULES[AllGather] = all_gather_vjp
VJP_RULES[PsumScatter] = psum_scatter_vjp
VJP_RULES[Ppermute] = ppermute_vjp
VJP_RULES[AllToAll] = all_to_all_vjp
VJP_RULES[AxisIndex] = axis_index_vjp

__all__ = ["all_gather_vjp", "all_to_all_vjp", "axis_index_jvp", "axis_index_vjp", "linear_jvp",
           "ppermute_vjp", "psum_scatter_vjp", "psum_vjp"]
