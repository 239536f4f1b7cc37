"""Lowering of `shard_map` to a manual region of XLA's GSPMD partitioner, and of the collectives
inside it to StableHLO collectives over the mesh's replica groups.

The recipe (tested with jaxlib 0.10.2; the module compiles with `num_partitions` = the mesh's
size and the mesh's devices, row-major, as the device assignment, so partition id = a device's
position in the mesh grid):

    %a = custom_call @Sharding(%x)              {mhlo.sharding = <global sharding of in spec>}
    %s = custom_call @SPMDFullToShardShape(%a)  {mhlo.sharding = "{manual}"}   : full -> shard
    ... the body, lowered on shard types ...
    %m = custom_call @Sharding(%y)              {mhlo.sharding = "{manual}"}
    %r = custom_call @SPMDShardToFullShape(%m)  {mhlo.sharding = <global sharding of out spec>}

Inside, a collective over axes `A` runs within *replica groups*: one group per combination of
the other mesh axes, listing the device positions in the instance order of `A` (row-major over
the names as given); each has its own `channel_handle` and `use_global_device_ids` (ids are
partition ids). `psum` is `all_reduce` (sum region), `all_gather` is `all_gather`, `ppermute` is
`collective_permute` (pairs in every group; devices that are no destination get zeros),
`all_to_all` and `psum_scatter` are `all_to_all` and `reduce_scatter` (their untiled forms
reshape a unit dimension in or out), and `axis_index` is computed from `partition_id`.

A result whose out spec leaves out an axis is read at index 0 along it. When the body is not
proven to make it the same along that axis (`vma.varying`; only possible with
`check_vma=False`), each device takes index 0's value first (an `all_gather` over those axes,
then row 0), so compiled and evaluated results agree.

Outside a `shard_map` a collective has no devices to act across: its rule raises the
`TransformError` of `interpreters.lower.collectives` (vmap eliminates collectives over its own
axes before anything is lowered).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import attrs
import numpy as np

from dsl import dtypes
from dsl.errors import ShardingError
from dsl.ops.collectives import (COLLECTIVES, AllGather, AllToAll, AxisIndex, CollectiveOp,
                                 Ppermute, Psum, PsumScatter)
from dsl.ops.shard_map import ShardMap
from dsl.sharding import AxisType, Mesh, get_mesh, hlo_sharding
from dsl.types import TensorType
import interpreters.lower.collectives  # noqa: F401  (its refusals first; replaced below)
from interpreters.lower import RULES, Ctx, Value, i64_array
from interpreters.shard_map.semantics import omitted
from interpreters.shard_map.vma import varying


@attrs.frozen
class Manual:
    """The mesh of the manual region being lowered: axis names and sizes (mesh order)."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]

    def size_of(self, axes: Sequence[str]) -> tuple[int, ...]:
        return tuple(self.sizes[self.names.index(a)] for a in axes)

    def groups(self, axes: Sequence[str]) -> list[list[int]]:
        """The replica groups of a collective over `axes`: per combination of the other axes,
        the device positions in instance order (row-major over `axes` as given)."""
        sizes = dict(zip(self.names, self.sizes))
        others = [a for a in self.names if a not in axes]
        out = []
        for oc in itertools.product(*(range(sizes[a]) for a in others)):
            group = []
            for ic in itertools.product(*(range(sizes[a]) for a in axes)):
                coord = dict(zip(others, oc))
                coord.update(zip(axes, ic))
                group.append(int(np.ravel_multi_index([coord[a] for a in self.names],
                                                      self.sizes)) if self.names else 0)
            out.append(group)
        return out


MANUAL: list[Manual] = []
"""The manual regions being lowered, innermost last (their collectives look the mesh up here)."""


def _groups_attr(groups: list[list[int]]) -> str:
    rows = ", ".join("[" + ", ".join(str(p) for p in g) + "]" for g in groups)
    return f"dense<[{rows}]> : tensor<{len(groups)}x{len(groups[0])}xi64>"


def _channel(ctx: Ctx) -> str:
    handle = int(ctx.module.fresh()[1:])  # unique within the module
    return f"#stablehlo.channel_handle<handle = {handle}, type = 1>"


def _custom(ctx: Ctx, target: str, v: Value, sharding: str, t: TensorType) -> Value:
    return ctx.op("stablehlo.custom_call", [v], [t], attributes={
        "call_target_name": f'"{target}"', "mhlo.sharding": f'"{sharding}"'})[0]


def _reshape(ctx: Ctx, v: Value, shape: tuple[int, ...]) -> Value:
    if v.type.shape == shape:
        return v
    return ctx.op("stablehlo.reshape", [v], [TensorType(shape, v.type.dtype)])[0]


def _sum_region(ctx: Ctx, dtype: np.dtype) -> str:
    scalar = TensorType((), dtype)
    return ctx.region([scalar, scalar], lambda c, a: c.op("stablehlo.add", a, [scalar]))


def _manual(op: CollectiveOp) -> Manual:
    if not MANUAL:
        from interpreters.evaluate.collectives import refuse

        raise refuse(op, "the lowering")
    m = MANUAL[-1]
    missing = [a for a in op.axes if a not in m.names]  # type: ignore[attr-defined]
    if missing:
        raise ShardingError(f"lowering: {op.name} over axis {missing[0]!r} inside a shard_map "
                            f"over mesh axes {m.names}: only mesh axes are device axes here")
    return m


def _collective_attrs(ctx: Ctx, m: Manual, axes: Sequence[str], global_ids: bool = True
                      ) -> dict[str, str]:
    out = {"channel_handle": _channel(ctx), "replica_groups": _groups_attr(m.groups(axes))}
    if global_ids:
        out["use_global_device_ids"] = "unit"
    return out


# ----------------------------------------------------------------------------------------------
# The collectives


def _all_gather(ctx: Ctx, x: Value, m: Manual, axes: Sequence[str], dim: int) -> Value:
    """Tiled all-gather of `x` along its dimension `dim`."""
    n = math.prod(m.size_of(axes))
    shape = list(x.type.shape)
    shape[dim] *= n
    attrs_ = {"all_gather_dim": f"{dim} : i64", **_collective_attrs(ctx, m, axes)}
    return ctx.op("stablehlo.all_gather", [x], [TensorType(tuple(shape), x.type.dtype)],
                  attributes=attrs_)[0]


def psum_lower(ctx: Ctx, op: Psum, ins: list[Value], outs: tuple[TensorType, ...]
               ) -> list[Value]:
    m = _manual(op)
    (x,) = ins
    return ctx.op("stablehlo.all_reduce", [x], [x.type], regions=[_sum_region(ctx, x.type.dtype)],
                  attributes=_collective_attrs(ctx, m, op.axes))


def all_gather_lower(ctx: Ctx, op: AllGather, ins: list[Value], outs: tuple[TensorType, ...]
                     ) -> list[Value]:
    m = _manual(op)
    (x,) = ins
    if not op.tiled:
        shape = list(x.type.shape)
        shape.insert(op.axis, 1)
        x = _reshape(ctx, x, tuple(shape))
    return [_all_gather(ctx, x, m, op.axes, op.axis)]


def ppermute_lower(ctx: Ctx, op: Ppermute, ins: list[Value], outs: tuple[TensorType, ...]
                   ) -> list[Value]:
    m = _manual(op)
    (x,) = ins
    if not op.perm:
        return [ctx.constant(np.zeros((), x.type.dtype), x.type)]
    pairs = [[g[s], g[t]] for g in m.groups(op.axes) for s, t in op.perm]
    rows = ", ".join(f"[{s}, {t}]" for s, t in pairs)
    return ctx.op("stablehlo.collective_permute", [x], [x.type], attributes={
        "channel_handle": _channel(ctx),
        "source_target_pairs": f"dense<[{rows}]> : tensor<{len(pairs)}x2xi64>"})


def all_to_all_lower(ctx: Ctx, op: AllToAll, ins: list[Value], outs: tuple[TensorType, ...]
                     ) -> list[Value]:
    m = _manual(op)
    (x,) = ins
    n = op.group_size
    s, c = op.split_axis, op.concat_axis
    if not op.tiled:  # a unit dimension to concatenate into, placed so that it ends up at c
        q = c if c < s else c + 1
        shape = list(x.type.shape)
        shape.insert(q, 1)
        x = _reshape(ctx, x, tuple(shape))
        s, c = (s + 1 if q <= s else s), q
    shape = list(x.type.shape)
    shape[s] //= n
    shape[c] *= n
    attrs_ = {"split_dimension": f"{s} : i64", "concat_dimension": f"{c} : i64",
              "split_count": f"{n} : i64", **_collective_attrs(ctx, m, op.axes, False)}
    y = ctx.op("stablehlo.all_to_all", [x], [TensorType(tuple(shape), x.type.dtype)],
               attributes=attrs_)[0]
    return [_reshape(ctx, y, outs[0].shape)]


def psum_scatter_lower(ctx: Ctx, op: PsumScatter, ins: list[Value],
                       outs: tuple[TensorType, ...]) -> list[Value]:
    m = _manual(op)
    (x,) = ins
    dim = op.scatter_dimension
    shape = list(x.type.shape)
    shape[dim] //= op.group_size
    attrs_ = {"scatter_dimension": f"{dim} : i64", **_collective_attrs(ctx, m, op.axes)}
    y = ctx.op("stablehlo.reduce_scatter", [x], [TensorType(tuple(shape), x.type.dtype)],
               regions=[_sum_region(ctx, x.type.dtype)], attributes=attrs_)[0]
    return [_reshape(ctx, y, outs[0].shape)]


_I32 = TensorType((), dtypes.int32)


def axis_index_lower(ctx: Ctx, op: AxisIndex, ins: list[Value], outs: tuple[TensorType, ...]
                     ) -> list[Value]:
    m = _manual(op)
    pid = ctx.op("stablehlo.partition_id", [], [TensorType((), dtypes.uint32)])[0]
    pid = ctx.op("stablehlo.convert", [pid], [_I32])[0]
    index: Value | None = None
    for a in op.axes:  # row-major over the names as given
        k = m.names.index(a)
        stride = math.prod(m.sizes[k + 1:])
        coord = ctx.op("stablehlo.divide", [pid, ctx.constant(stride, _I32)], [_I32])[0]
        coord = ctx.op("stablehlo.remainder", [coord, ctx.constant(m.sizes[k], _I32)], [_I32])[0]
        if index is None:
            index = coord
        else:
            index = ctx.op("stablehlo.multiply", [index, ctx.constant(m.sizes[k], _I32)],
                           [_I32])[0]
            index = ctx.op("stablehlo.add", [index, coord], [_I32])[0]
    assert index is not None
    return [index]


# ----------------------------------------------------------------------------------------------
# shard_map


def _spec_mesh(op: ShardMap) -> Mesh:
    """A device-less mesh of `op`'s axes (for the GSPMD sharding strings)."""
    grid = np.empty(op.mesh_sizes, dtype=object)
    return Mesh(grid, op.mesh_axes, (AxisType.Auto,) * len(op.mesh_axes))


def _check_mesh(op: ShardMap) -> None:
    mesh = get_mesh()
    n = math.prod(op.mesh_sizes)
    where = f"shard_map over mesh axes {op.mesh_axes} of sizes {op.mesh_sizes}"
    if mesh is None:
        if n == 1:
            return
        raise ShardingError(f"lowering: {where} needs the program compiled for its {n} "
                            "devices, but no mesh is current while lowering (jit compiles for "
                            "the shard_map's mesh; lowering by hand needs `with mesh:` and "
                            f"num_partitions={n})")
    ids = tuple(getattr(d, "id", -1) for d in mesh.device_list)
    if op.device_ids and ids != op.device_ids:
        raise ShardingError(f"lowering: {where} runs on devices {list(op.device_ids)}, but the "
                            f"program is compiled for {mesh!r} on devices {list(ids)}: a "
                            "program can hold shard_maps and sharded values of one set of "
                            "devices only, in one order")
    if mesh.size != n:
        raise ShardingError(f"lowering: {where} needs {n} devices, but the program is compiled "
                            f"for {mesh!r}")


def _index0(ctx: Ctx, y: Value, m: Manual, axes: tuple[str, ...]) -> Value:
    """Inside the region: every device's `y` replaced by that of the device at index 0 along
    `axes` (an all-gather, then row 0)."""
    shape = y.type.shape
    g = _all_gather(ctx, _reshape(ctx, y, (1,) + shape), m, axes, 0)
    starts, limits = [0] * (len(shape) + 1), [1] + list(shape)
    row = ctx.op("stablehlo.slice", [g], [TensorType((1,) + shape, y.type.dtype)], attributes={
        "start_indices": i64_array(starts), "limit_indices": i64_array(limits),
        "strides": i64_array([1] * (len(shape) + 1))})[0]
    return _reshape(ctx, row, shape)


def shard_map_lower(ctx: Ctx, op: ShardMap, ins: list[Value], outs: tuple[TensorType, ...]
                    ) -> list[Value]:
    _check_mesh(op)
    if MANUAL:
        raise ShardingError(f"lowering: a shard_map inside another shard_map (over mesh axes "
                            f"{MANUAL[-1].names}) is not supported by the lowering; it "
                            "evaluates, but under jit use one shard_map over all the axes")
    mesh = _spec_mesh(op)
    body = op.body
    shards = []
    for x, spec, t in zip(ins, op.in_specs, body.in_types):
        full = _custom(ctx, "Sharding", x, hlo_sharding(spec, mesh), x.type)
        shards.append(_custom(ctx, "SPMDFullToShardShape", full, "{manual}",
                              TensorType(t.shape, t.dtype)))
    manual = Manual(op.mesh_axes, op.mesh_sizes)
    MANUAL.append(manual)
    try:
        ys = ctx.inline(body, shards)
        vary = None
        results = []
        for k, (y, spec) in enumerate(zip(ys, op.out_specs)):
            left_out = omitted(op, spec)
            if left_out:
                if vary is None:
                    vary = varying(body, [frozenset(a for axes in s for a in axes)
                                          for s in op.in_specs])
                unsure = tuple(a for a in left_out if a in vary[k])
                if unsure:
                    y = _index0(ctx, y, manual, unsure)
            results.append(y)
    finally:
        MANUAL.pop()
    out = []
    for y, spec, t in zip(results, op.out_specs, outs):
        y = _custom(ctx, "Sharding", y, "{manual}", y.type)
        out.append(_custom(ctx, "SPMDShardToFullShape", y, hlo_sharding(spec, mesh),
                           TensorType(t.shape, t.dtype)))
    return out


RULES[ShardMap] = shard_map_lower
for _cls, _rule in ((Psum, psum_lower), (AllGather, all_gather_lower),
                    (Ppermute, ppermute_lower), (AllToAll, all_to_all_lower),
                    (PsumScatter, psum_scatter_lower), (AxisIndex, axis_index_lower)):
    RULES[_cls] = _rule
assert all(c in RULES for c in COLLECTIVES)

__all__ = ["MANUAL", "Manual", "shard_map_lower"]
