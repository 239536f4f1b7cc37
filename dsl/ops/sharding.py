"""`sharding_constraint`: the identity on values that fixes how its result is laid out.

`parts` holds, per dimension of the operand, the mesh axes splitting it (major first); `auto`
names the axes among them that are `Auto` (left to XLA: they go into the compiler annotation
but not into the type). The result's type carries the remaining (Explicit) axes as its
sharding, or no sharding when none remain. `d.reshard(x, spec)` binds it with every axis
Explicit; `d.with_sharding_constraint(x, spec)` with the spec's Auto axes in `auto`.

Printed `sharding_constraint[parts=(("data",), ())]`; the lowering emits XLA's `Sharding`
custom call with the GSPMD attribute of `parts` on the current mesh.
"""

from __future__ import annotations

import attrs

from dsl.ir import Op, primitive
from dsl.types import TensorType


def _parts(v: object) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(str(a) for a in p) for p in v)  # type: ignore[attr-defined]


def _names(v: object) -> tuple[str, ...]:
    return tuple(str(a) for a in v)  # type: ignore[attr-defined]


@primitive("sharding_constraint", family="sharding")
class ShardingConstraint(Op):
    """The identity, with its result laid out as `parts` (see the module docstring)."""

    parts: tuple[tuple[str, ...], ...] = attrs.field(converter=_parts)
    auto: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        if len(self.parts) != x.ndim:
            self.fail(f"needs one entry of mesh axes per dimension, got {len(self.parts)} "
                      f"entries {self.parts} for rank {x.ndim}", in_types)
        used = [a for p in self.parts for a in p]
        if len(set(used)) != len(used):
            self.fail(f"parts {self.parts} use a mesh axis twice", in_types)
        explicit = tuple(tuple(a for a in p if a not in self.auto) for p in self.parts)
        return (TensorType(x.shape, x.dtype, x.weak, explicit if any(explicit) else None),)


__all__ = ["ShardingConstraint"]
