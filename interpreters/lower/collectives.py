"""Lowering rules of the collectives: an explicit refusal outside a binding context.

A collective (`psum`, `all_gather`, `ppermute`, `all_to_all`, `psum_scatter`, `axis_index`) acts
across the instances of a named axis. `vmap(f, axis_name=...)` turns the collectives over its
axis into operations on the batch before anything is lowered, so a program that still holds one
was staged under a binding context that did not eliminate it: its rule here raises a
`TransformError` naming the primitive and its axes. Inside `shard_map` the named axes are mesh
axes, and the collectives lower to StableHLO's `all_reduce`, `all_gather`, `collective_permute`,
`all_to_all` and `reduce_scatter` over the mesh's replica groups (rules that `shard_map`'s
lowering supplies in place of these).
"""

from __future__ import annotations

from dsl.ops.collectives import COLLECTIVES, CollectiveOp
from dsl.types import TensorType
from interpreters.evaluate.collectives import refuse
from interpreters.lower import RULES, Ctx, Value


def collective_lower(ctx: Ctx, op: CollectiveOp, ins: list[Value],
                     outs: tuple[TensorType, ...]) -> list[Value]:
    raise refuse(op, "the lowering")


for _cls in COLLECTIVES:
    RULES[_cls] = collective_lower

__all__ = ["collective_lower"]
