"""What a `shard_map` means, by one mechanism: nested `vmap`s over the mesh axes.

`shard_map(f)` over mesh axes `(a, b)` of sizes `(sa, sb)` is

    vmap(vmap(f, axis_name='b'), axis_name='a')

applied to the operands *reshaped so that each split dimension is cut into (axis sizes...,
shard)* and with those mesh-axis dimensions moved to the front (in mesh order). An operand whose
spec leaves an axis out is not mapped over it (`in_axes=None`: every device along it sees the
whole operand). The stacked results are put back by the out specs: the mesh-axis dimensions of a
result go back into the dimensions they split (major first), and a mesh axis its spec leaves out
is taken at index 0 (`check_vma` guarantees the result is the same along it).

`by_vmap(op, operands)` computes exactly that with the language's own ops, so it runs eagerly (the
evaluate rule) or staged. The other rules keep the `shard_map` (so it still lowers to one manual
region under `jit`) and are derived so that they agree with this meaning:

- vmap (`shard_map_vectorize`): the batch dimension of each batched operand moves to the front,
  where it is replicated (its spec gets a leading `()`); the body is batched over it (its
  collectives over mesh axes are other axes to that batch, re-bound with shifted dimensions);
  batched results come back with their batch dimension first, replicated.
- jvp (`shard_map_jvp`): `vmap` commutes with `jvp`, and the reshapes are linear: the jvp of a
  `shard_map` is the `shard_map` of the body's jvp, tangents split like their primals.
- vjp (`shard_map_vjp`): the `shard_map` of the body's vjp, where (i) a result's cotangent flows
  only into index 0 of the mesh axes its out spec leaves out (the instances where the result was
  read): each device masks it with `axis_index(...) == 0`; and (ii) an operand that every device
  along an axis sees whole (its in spec leaves the axis out) gets the sum of all their
  cotangents: a `psum` over those axes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dsl import lax
from dsl.array import Array
from dsl.axes import bound_axes
from dsl.core import bind, inline, stage_flat
from dsl.errors import TransformError
from dsl.ir import Program
from dsl.ops.collectives import AxisIndex, Psum
from dsl.ops.shard_map import ShardMap
from dsl.types import Sharding, TensorType

Dim = int | None


def mesh_binding(op: ShardMap) -> list[tuple[str, int]]:
    """The mesh axes as the axis environment binds them (name, size), in mesh order."""
    return list(zip(op.mesh_axes, op.mesh_sizes))


def axes_of(spec: Sharding) -> list[str]:
    """The mesh axes a spec uses."""
    return [a for axes in spec for a in axes]


def omitted(op: ShardMap, spec: Sharding) -> tuple[str, ...]:
    """The mesh axes (in mesh order) that `spec` leaves out."""
    used = set(axes_of(spec))
    return tuple(a for a in op.mesh_axes if a not in used)


# ----------------------------------------------------------------------------------------------
# The vmap form


def _split(op: ShardMap, x: Any, spec: Sharding) -> Any:
    """`x` with each split dimension cut into (its axes' sizes..., shard) and the mesh-axis
    dimensions moved to the front in mesh order."""
    sizes = op.sizes
    shape: list[int] = []
    labels: list[Any] = []
    for d, (n, axes) in enumerate(zip(x.shape, spec)):
        k = math.prod(sizes[a] for a in axes)
        shape += [sizes[a] for a in axes] + [n // k]
        labels += list(axes) + [d]
    if not axes_of(spec):
        return x
    y = lax.reshape(x, tuple(shape))
    order = [labels.index(a) for a in op.mesh_axes if a in labels]
    order += [i for i, lab in enumerate(labels) if not isinstance(lab, str)]
    return lax.transpose(y, order) if order != sorted(order) else y


def _join(op: ShardMap, y: Any, spec: Sharding) -> Any:
    """The inverse of `_split` for a result: `y` has one leading dimension per mesh axis (mesh
    order) then the shard's; axes `spec` leaves out are read at index 0."""
    names = list(op.mesh_axes)
    used = set(axes_of(spec))
    for k in reversed(range(len(names))):  # drop the axes the spec leaves out
        if names[k] not in used:
            y = lax.squeeze(lax.slice(y, (0,) * y.ndim,
                                      tuple(1 if i == k else n for i, n in enumerate(y.shape))),
                            (k,))
            del names[k]
    m = len(names)
    shard = tuple(y.shape[m:])
    order: list[int] = []
    full: list[int] = []
    for d, axes in enumerate(spec):
        order += [names.index(a) for a in axes] + [m + d]
        full.append(shard[d] * math.prod(op.sizes[a] for a in axes))
    if order != sorted(order):
        y = lax.transpose(y, order)
    return lax.reshape(y, tuple(full)) if tuple(y.shape) != tuple(full) else y


def by_vmap(op: ShardMap, operands: Sequence[Any]) -> list[Any]:
    """The results of `op` on `operands`, computed as nested named `vmap`s (module docstring)."""
    from interpreters.vectorize.api import vmap

    body = op.body
    xs = [_split(op, x, spec) for x, spec in zip(operands, op.in_specs)]
    present = [set(axes_of(spec)) for spec in op.in_specs]

    def run(*args: Any) -> list[Any]:
        return inline(body, list(args))

    fn: Any = run
    for name, size in reversed(mesh_binding(op)):
        in_axes = tuple(0 if name in p else None for p in present)
        fn = vmap(fn, in_axes=in_axes, out_axes=0, axis_name=name, axis_size=size)
    outs = fn(*xs) if op.mesh_axes else run(*xs)
    return [_join(op, y, spec) for y, spec in zip(outs, op.out_specs)]


def shard_map_evaluate(op: ShardMap, *values: np.ndarray) -> list[np.ndarray]:
    args = [Array(np.asarray(v), t.weak) for v, t in zip(values, op.body.in_types)]
    outs = by_vmap(op, args)
    return [np.asarray(np.asarray(o), dtype=t.dtype)
            for o, t in zip(outs, op.body.out_types)]


# ----------------------------------------------------------------------------------------------
# Transformed bodies


def closed(op: ShardMap, fn: Any, types: Sequence[TensorType]) -> Program:
    """Stage `fn` (a transformed body) on `types` with the mesh axes bound."""
    with bound_axes(mesh_binding(op)):
        program, captured, _ = stage_flat(fn, list(types))
    if captured:
        raise TransformError("shard_map: internal error: a transformed body captured values "
                             "from outside it")
    return program


def rebuilt(op: ShardMap, body: Program, in_specs: Sequence[Sharding],
            out_specs: Sequence[Sharding]) -> ShardMap:
    """`op` with another body and specs (same mesh)."""
    return ShardMap(body=body, mesh_axes=op.mesh_axes, mesh_sizes=op.mesh_sizes,
                    in_specs=tuple(in_specs), out_specs=tuple(out_specs),
                    device_ids=op.device_ids, explicit_axes=op.explicit_axes,
                    check_vma=op.check_vma)


def mask_index0(op: ShardMap, x: Any, axes: tuple[str, ...]) -> Any:
    """Inside a body: `x` on the devices at index 0 along `axes`, zeros on the others."""
    if not axes:
        return x
    sizes = op.sizes
    idx = bind(AxisIndex(axes=axes, sizes=tuple(sizes[a] for a in axes)))
    keep = lax.broadcast_in_dim(lax.eq(idx, Array(np.zeros((), np.int32))), tuple(x.shape), ())
    zero = lax.broadcast_in_dim(Array(np.zeros((), x.dtype)), tuple(x.shape), ())
    return lax.select(keep, x, zero)


def psum_over(op: ShardMap, x: Any, axes: tuple[str, ...]) -> Any:
    """Inside a body: the sum of `x` over the devices along `axes`."""
    if not axes:
        return x
    sizes = op.sizes
    return bind(Psum(axes=axes, sizes=tuple(sizes[a] for a in axes)), x)


__all__ = ["axes_of", "by_vmap", "closed", "mask_index0", "mesh_binding", "omitted",
           "psum_over", "rebuilt", "shard_map_evaluate"]
