"""How `jit` places a program over a mesh of devices (see `interpreters.jit`).

`Spmd` is a compiled program's placement: the mesh and each input's layout (a `backends.xla`
`Layout`). Arguments are annotated with their layouts' GSPMD shardings (`mhlo.sharding`,
unsharded ones replicated), results with the sharding their types fix when they carry Explicit
axes (or the mesh is all Explicit), others left to XLA's propagation. All sharded arguments of a
call must share one mesh; without sharded arguments a program that places values
(`sharding_constraint`, `shard_map`, explicit types) runs on the current mesh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dsl.array import Array
from dsl.errors import ShardingError
from dsl.ir import Program
from dsl.sharding import AxisType, Mesh, get_mesh, hlo_sharding
from dsl.types import TensorType


class Spmd:
    """Where an SPMD program runs: its mesh and each input's layout (`backends.xla.Layout`)."""

    __slots__ = ("mesh", "in_layouts", "_key")

    def __init__(self, mesh: Mesh, in_layouts: tuple[Any, ...]):
        self.mesh = mesh
        self.in_layouts = in_layouts
        self._key = (mesh, tuple(id(lay) for lay in in_layouts))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spmd) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def out_annotation(self, t: TensorType) -> str | None:
        """The GSPMD sharding a result of type `t` must have, or None to let XLA choose."""
        if t.sharding is not None:
            return _hlo_attr(t.sharding, self.mesh, t)
        if self.mesh.axis_types and all(a is AxisType.Explicit for a in self.mesh.axis_types):
            return "{replicated}"  # an unsharded type on an all-Explicit mesh is replicated
        return None

    def propagate(self, program: Program) -> list[bool]:
        return [self.out_annotation(t) is None for t in program.out_types]


def _hlo_attr(parts: Any, mesh: Mesh, t: TensorType) -> str:
    for axes in parts:
        for a in axes:
            if a not in mesh.axis_names:
                raise ShardingError(f"jit: a result of type {t} is split over mesh axis {a!r}, "
                                    f"which the mesh {mesh!r} of the arguments does not have")
    return hlo_sharding(parts, mesh)


def spmd_module_text(program: Program, donate: tuple[int, ...], platform: str, spmd: Spmd
                     ) -> str:
    """The SPMD module of `program`: arguments annotated with their layouts (and donation),
    results with the shardings their types fix; lowered with the mesh current."""
    from interpreters.lower import lower_program

    args = []
    for i, lay in enumerate(spmd.in_layouts):
        items = [f'mhlo.sharding = "{lay.hlo_text}"']
        if i in donate:
            items.append("jax.buffer_donor = true")
        args.append("{" + ", ".join(items) + "}")
    results = []
    for t in program.out_types:
        attr = spmd.out_annotation(t)
        results.append(f'{{mhlo.sharding = "{attr}"}}' if attr is not None else "")
    with spmd.mesh:  # lowering rules find the mesh with dsl.sharding.get_mesh()
        return lower_program(program, name="jit", num_partitions=spmd.mesh.size,
                             arg_attrs=args, result_attrs=results, platform=platform)


def arg_layouts(leaves: Sequence[Any]) -> tuple[Mesh | None, list[Any]]:
    """The mesh of the sharded leaves (None without any) and each leaf's layout (None for
    unsharded ones). Sharded leaves on different meshes are a `ShardingError`."""
    from backends import xla

    mesh: Mesh | None = None
    first = -1
    layouts: list[Any] = []
    for i, x in enumerate(leaves):
        lay = None
        if type(x) is Array and x._buffer is not None:
            lay = xla.layout_of(x._buffer)
        if lay is not None:
            if mesh is None:
                mesh, first = lay.mesh, i
            elif lay.mesh != mesh:
                raise ShardingError(
                    f"jit: argument {first} is laid out over {mesh!r} but argument {i} "
                    f"({x.type}) over {lay.mesh!r}; the sharded arguments of one call must "
                    "share a mesh (device_put them onto one)")
        layouts.append(lay)
    return mesh, layouts


_MESH_OPS = frozenset({"sharding_constraint", "shard_map"})


def places_values(program: Program) -> bool:
    """Whether `program` says how values are laid out (so it compiles for the current mesh)."""
    if any(t.sharding is not None for t in program.in_types + program.out_types):
        return True
    for eqn in program.walk():
        if eqn.op.name in _MESH_OPS or any(v.type.sharding is not None for v in eqn.outputs):
            return True
    return False


def spmd_for(program: Program, mesh: Mesh | None, layouts: list[Any], ambient: bool
              ) -> Spmd | None:
    """The placement of a program staged on arguments with these layouts (`ambient`: it
    places values but no argument is sharded, so it runs on the current mesh, if any)."""
    from backends import xla

    if mesh is None:
        mesh = get_mesh() if ambient else None
        if mesh is None and ambient:  # no mesh current: that of the program's shard_maps
            from interpreters.shard_map.api import program_mesh

            mesh = program_mesh(program)
        if mesh is None:
            return None
    return Spmd(mesh, tuple(lay if lay is not None else xla.replicated(mesh, t.ndim)
                            for lay, t in zip(layouts, program.in_types)))


__all__ = ["Spmd", "arg_layouts", "places_values", "spmd_for", "spmd_module_text"]
