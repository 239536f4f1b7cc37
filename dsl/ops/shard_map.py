"""`shard_map`: a body program run once per device of a mesh, on that device's shards.

`ShardMap` holds the body (a closed program staged on per-device *shard* types), the mesh it
maps over (axis names and sizes, the devices' ids in the mesh's row-major order, and which axes
are Explicit), and one spec per operand and per result: per dimension, the mesh axes splitting
that dimension, major first (`(("i",), ())` splits dimension 0 over axis `i`). A dimension of size
`n` split over axes of sizes `s1, s2` is `n / (s1 * s2)` long in the body; an operand whose spec
leaves a mesh axis out is the same (whole) on every device along that axis. A result whose spec
leaves an axis out is taken from the device at index 0 along that axis (with `check_vma` the
result must be the same along it; `shard_map` checks that when it stages the body).

Printed `shard_map[mesh_axes=(i,) mesh_sizes=(8,) in_specs=(((i,),),) out_specs=((),) ...]`
with the body as a block, and parsed back like every op. The meaning (one mechanism for every
interpreter) is nested `vmap`s over the mesh axes: see `interpreters.shard_map`.
"""

from __future__ import annotations

import math

import attrs

from dsl.ir import Op, Program, primitive
from dsl.types import Sharding, TensorType


def _names(v: object) -> tuple[str, ...]:
    return tuple(str(a) for a in v)  # type: ignore[attr-defined]


def _ints(v: object) -> tuple[int, ...]:
    return tuple(int(a) for a in v)  # type: ignore[attr-defined]


def _specs(v: object) -> tuple[Sharding, ...]:
    return tuple(tuple(tuple(str(a) for a in axes) for axes in spec)  # type: ignore[attr-defined]
                 for spec in v)  # type: ignore[attr-defined]


def spec_split(spec: Sharding, sizes: dict[str, int]) -> tuple[int, ...]:
    """Per dimension, how many pieces `spec` cuts it into (the product of its axes' sizes)."""
    return tuple(math.prod(sizes[a] for a in axes) for axes in spec)


@primitive("shard_map", multiple_results=True, family="control")
class ShardMap(Op):
    """`body` on each device's shards of the operands (see the module docstring)."""

    body: Program
    mesh_axes: tuple[str, ...] = attrs.field(converter=_names)
    mesh_sizes: tuple[int, ...] = attrs.field(converter=_ints)
    in_specs: tuple[Sharding, ...] = attrs.field(converter=_specs)
    out_specs: tuple[Sharding, ...] = attrs.field(converter=_specs)
    device_ids: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    explicit_axes: tuple[str, ...] = attrs.field(default=(), converter=_names)
    check_vma: bool = True

    @property
    def sizes(self) -> dict[str, int]:
        return dict(zip(self.mesh_axes, self.mesh_sizes))

    def _check_mesh(self, in_types: tuple[TensorType, ...]) -> None:
        axes, sizes = self.mesh_axes, self.mesh_sizes
        if len(axes) != len(sizes) or len(set(axes)) != len(axes):
            self.fail(f"mesh axes {axes} and sizes {sizes} must pair up, with distinct names",
                      in_types)
        if any(s < 1 for s in sizes):
            self.fail(f"mesh sizes must be positive, got {sizes}", in_types)
        if self.device_ids and len(self.device_ids) != math.prod(sizes):
            self.fail(f"{len(self.device_ids)} device ids for a mesh of {math.prod(sizes)} "
                      "devices", in_types)
        if any(a not in axes for a in self.explicit_axes):
            self.fail(f"explicit axes {self.explicit_axes} are not all mesh axes {axes}",
                      in_types)

    def _check_spec(self, what: str, spec: Sharding, shape: tuple[int, ...],
                    in_types: tuple[TensorType, ...]) -> tuple[int, ...]:
        if len(spec) != len(shape):
            self.fail(f"{what} has {len(spec)} entries for a value of rank {len(shape)}",
                      in_types)
        used = [a for axes in spec for a in axes]
        unknown = [a for a in used if a not in self.mesh_axes]
        if unknown:
            self.fail(f"{what} names axis {unknown[0]!r}, which is not a mesh axis "
                      f"{self.mesh_axes}", in_types)
        if len(set(used)) != len(used):
            self.fail(f"{what} uses a mesh axis twice: {spec}", in_types)
        return spec_split(spec, self.sizes)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self._check_mesh(in_types)
        body_in, body_out = self.body.in_types, self.body.out_types
        if not len(in_types) == len(self.in_specs) == len(body_in):
            self.fail(f"{len(in_types)} operands, {len(self.in_specs)} in_specs and a body of "
                      f"{len(body_in)} inputs", in_types)
        if len(self.out_specs) != len(body_out):
            self.fail(f"{len(self.out_specs)} out_specs for a body of {len(body_out)} outputs",
                      in_types)
        for k, (t, spec, b) in enumerate(zip(in_types, self.in_specs, body_in)):
            split = self._check_spec(f"in_specs[{k}]", spec, t.shape, in_types)
            if any(n % s for n, s in zip(t.shape, split)):
                self.fail(f"operand {k} of type {t} does not divide evenly by in_specs[{k}] "
                          f"{spec} (pieces per dimension {split})", in_types)
            shard = tuple(n // s for n, s in zip(t.shape, split))
            if shard != b.shape or t.dtype != b.dtype:
                self.fail(f"operand {k} of type {t} split by {spec} has shards "
                          f"{TensorType(shard, t.dtype)}, but the body takes {b}", in_types)
        outs = []
        explicit = set(self.explicit_axes)
        for k, (b, spec) in enumerate(zip(body_out, self.out_specs)):
            split = self._check_spec(f"out_specs[{k}]", spec, b.shape, in_types)
            parts = tuple(tuple(a for a in axes if a in explicit) for axes in spec)
            outs.append(TensorType(tuple(n * s for n, s in zip(b.shape, split)), b.dtype,
                                   b.weak, parts if any(parts) else None))
        return tuple(outs)


__all__ = ["ShardMap", "spec_split"]
