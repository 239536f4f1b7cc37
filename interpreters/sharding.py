"""The rules of `sharding_constraint` in every interpreter.

`sharding_constraint` (bound by `d.reshard` and `d.with_sharding_constraint`) is the identity on
values; only the layout of its result changes. So:
- evaluate: the identity;
- jvp: the identity, the tangent constrained likewise;
- vjp: the cotangent constrained likewise (the reverse walker then gives every cotangent its
  primal's sharding, see `interpreters.differentiate.backward`);
- vmap: the batch dimension is inserted replicated;
- lower: XLA's `Sharding` custom call with the GSPMD attribute of the constraint's axes (Auto
  ones included) on the current mesh (`dsl.sharding.get_mesh()`); with no mesh current it
  lowers to nothing.

Importing `interpreters` registers these rules (the rule tables are keyed by op class).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from dsl.core import bind
from dsl.ops import ShardingConstraint
from dsl.types import TensorType
from interpreters.differentiate import JVP_RULES, VJP_RULES, Zero
from interpreters.evaluate import RULES as EVAL_RULES
from interpreters.lower import RULES as LOWER_RULES
from interpreters.lower import Ctx, Value, annotate_sharding
from interpreters.vectorize import BATCH_RULES


def sharding_constraint_evaluate(op: ShardingConstraint, x: np.ndarray) -> list[np.ndarray]:
    return [x]


def sharding_constraint_jvp(op: ShardingConstraint, primals: list[Any], tangents: list[Any]
                            ) -> tuple[list[Any], list[Any]]:
    (x,), (x_dot,) = primals, tangents
    y = bind(op, x)
    return [y], [x_dot if isinstance(x_dot, Zero) else bind(op, x_dot)]


def sharding_constraint_vjp(op: ShardingConstraint, ins: list[Any], outs: list[Any],
                            cts: list[Any]) -> list[Any]:
    (y_bar,) = cts
    return [y_bar if isinstance(y_bar, Zero) else bind(op, y_bar)]


def sharding_constraint_vectorize(op: ShardingConstraint, values: list[Any],
                                  dims: list[int | None], size: int
                                  ) -> tuple[list[Any], list[int | None]]:
    (x,), (x_bdim,) = values, dims
    if x_bdim is None:
        return [bind(op, x)], [None]
    batched = op.parts[:x_bdim] + ((),) + op.parts[x_bdim:]
    return [bind(attrs.evolve(op, parts=batched), x)], [x_bdim]


def sharding_constraint_lower(ctx: Ctx, op: ShardingConstraint, ins: list[Value],
                              outs: tuple[TensorType, ...]) -> list[Value]:
    return [annotate_sharding(ctx, ins[0], op.parts)]


EVAL_RULES[ShardingConstraint] = sharding_constraint_evaluate
JVP_RULES[ShardingConstraint] = sharding_constraint_jvp
VJP_RULES[ShardingConstraint] = sharding_constraint_vjp
BATCH_RULES[ShardingConstraint] = sharding_constraint_vectorize
LOWER_RULES[ShardingConstraint] = sharding_constraint_lower

__all__ = ["sharding_constraint_evaluate", "sharding_constraint_jvp",
           "sharding_constraint_lower", "sharding_constraint_vectorize",
           "sharding_constraint_vjp"]
