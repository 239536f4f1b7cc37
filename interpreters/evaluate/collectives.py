"""Evaluate rules of the collectives: an explicit refusal.

A collective (`psum`, `all_gather`, `ppermute`, `all_to_all`, `psum_scatter`, `axis_index`) acts
across the instances of a named axis, which only exist inside a binding context: `vmap(f,
axis_name=...)` turns each collective over its axis into operations on the batch (so none is left
to evaluate), and `shard_map` runs them across devices. A collective that reaches `evaluate` on
its own has no instances to act across, so its rule raises a `TransformError` naming the
primitive and its axes. (Staging never evaluates collectives, even on known values; see
`Op.collective`.)
"""

from __future__ import annotations

import numpy as np

from dsl.errors import TransformError
from dsl.ops.collectives import COLLECTIVES, CollectiveOp
from interpreters.evaluate import RULES


def refuse(op: CollectiveOp, interpreter: str) -> TransformError:
    """The error of a collective `op` that reached `interpreter` outside a binding context."""
    axes = op.axes  # type: ignore[attr-defined]
    shown = repr(axes[0]) if len(axes) == 1 else repr(axes)
    return TransformError(
        f"{op.name} over axis {shown} reached {interpreter} outside a binding context: a "
        f"collective acts across the instances of a named axis, so it runs only inside "
        f"vmap(..., axis_name={axes[0]!r}) (which turns it into operations on the batch) or "
        "shard_map (across devices)")


def collective_evaluate(op: CollectiveOp, *values: np.ndarray) -> list[np.ndarray]:
    raise refuse(op, "evaluate")


for _cls in COLLECTIVES:
    RULES[_cls] = collective_evaluate

__all__ = ["collective_evaluate", "refuse"]
