"""`shard_map(f, mesh=None, in_specs=..., out_specs=..., check_vma=True)`, as in JAX.

`f` runs once per device of `mesh` (the current mesh when not given), on that device's shards of
the arguments: `in_specs` says, per argument, how it is split over the mesh axes (a `P` per
leaf, or a pytree prefix of the arguments whose `P`s apply to whole subtrees), and `out_specs`
how the per-device results are put together (a prefix of the results). Inside `f` the mesh
axes are named axes, so the collectives (`d.psum(x, 'i')`, `d.axis_index('i')`, ...) act across
devices. A result whose out spec leaves an axis out must be the same on every device along it;
with `check_vma=True` (the default) that is checked when `f` is staged, with `check_vma=False`
the device at index 0 along that axis gives the result.

The body is staged once per call signature on the shard types into one `ShardMap` equation, so
`shard_map` composes with `jit` (one manual region of the SPMD program), `grad`, `jvp`, `vjp`,
`vmap` and itself; eagerly it evaluates as nested named `vmap`s (see `semantics`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from dsl.axes import bound_axes
from dsl.core import as_leaf, bind, stage_flat
from dsl.errors import ArgumentTypeError, ShardingError
from dsl.ops.shard_map import ShardMap
from dsl.pytree import (KeyPath, flatten_up_to, keystr, tree_flatten, tree_flatten_with_path,
                        tree_structure, tree_unflatten)
from dsl.sharding import (AxisType, Mesh, P, check_spec, check_spec_axes, get_mesh,
                          make_mesh)
from dsl.types import Sharding, TensorType
from interpreters.shard_map.vma import varying


def _is_spec(x: Any) -> bool:
    return x is None or isinstance(x, P)


def _specs_for(what: str, specs: Any, value: Any, n: int) -> list[P]:
    """One `P` per leaf of `value`, from `specs`, a pytree prefix of it."""
    if isinstance(specs, P):
        return [specs] * n
    spec_leaves, spec_def = tree_flatten(specs, is_leaf=_is_spec)
    try:
        subtrees = flatten_up_to(spec_def, value)
    except (TypeError, ValueError) as e:
        raise ShardingError(f"shard_map: {what} {specs!r} does not match the structure of "
                            f"{tree_structure(value)}: {getattr(e, 'raw_message', e)}") from None
    out: list[P] = []
    for spec, sub in zip(spec_leaves, subtrees):
        if not isinstance(spec, P):
            raise ShardingError(f"shard_map: {what} entries must be P(...) (P() for a replicated "
                                f"value), got {spec!r}")
        out.extend([spec] * len(tree_flatten(sub)[0]))
    return out


def _shard_type(t: TensorType, parts: Sharding, sizes: dict[str, int]) -> TensorType:
    shape = []
    for n, axes in zip(t.shape, parts):
        k = 1
        for a in axes:
            k *= sizes[a]
        shape.append(n // k)
    return TensorType(tuple(shape), t.dtype, t.weak)


def _path(paths: Sequence[KeyPath], k: int) -> str:
    return keystr(paths[k]) if k < len(paths) else f"[{k}]"


def shard_map(f: Callable[..., Any] | None = None, /, *, out_specs: Any,
              in_specs: Any = None, mesh: Mesh | None = None,
              check_vma: bool = True) -> Any:
    """Run `f` once per device of `mesh` on the shards of its arguments (module docstring).

    Used as a decorator without `f`: `@shard_map(mesh=mesh, in_specs=P('i'), out_specs=P())`.
    """
    if f is None:
        return lambda g: shard_map(g, out_specs=out_specs, in_specs=in_specs, mesh=mesh,
                                   check_vma=check_vma)
    if not callable(f):
        raise ArgumentTypeError(f"shard_map: expected a function, got {type(f).__name__}")
    if in_specs is None:
        raise ShardingError("shard_map: in_specs is required (a P per argument, e.g. "
                            "in_specs=(P('i'), P()))")
    if mesh is not None and not isinstance(mesh, Mesh):
        raise ShardingError(f"shard_map: mesh must be a Mesh, got {type(mesh).__name__}")
    if not isinstance(check_vma, bool):
        raise ArgumentTypeError(f"shard_map: check_vma must be a bool, got {check_vma!r}")

    @functools.wraps(f, updated=())  # (never merge the wrapped object's __dict__ into ours)
    def mapped(*args: Any) -> Any:
        m = mesh if mesh is not None else get_mesh()
        if m is None:
            raise ShardingError("shard_map: no mesh: pass mesh=, or make one current with "
                                "set_mesh(mesh) / `with mesh:`")
        pairs, in_tree = tree_flatten_with_path(args)
        leaves = [as_leaf("shard_map", x) for _, x in pairs]
        specs = _specs_for("in_specs", tuple(in_specs) if isinstance(in_specs, list)
                           else in_specs, args, len(leaves))
        sizes = m.shape
        parts: list[Sharding] = []
        for (path, _), x, spec in zip(pairs, leaves, specs):
            check_spec(spec, tuple(x.shape), m,
                       f"shard_map: in_specs for argument{keystr(path)} of type {x.type}")
            parts.append(spec.padded(x.ndim))
        types = [_shard_type(x.type, p, sizes) for x, p in zip(leaves, parts)]
        box: list[Any] = []

        def flat(*xs: Any) -> list[Any]:
            out = f(*tree_unflatten(in_tree, list(xs)))
            out_pairs, out_tree = tree_flatten_with_path(out)
            box.append((out_tree, [p for p, _ in out_pairs]))
            return [as_leaf("shard_map", o) for _, o in out_pairs]

        with bound_axes(list(zip(m.axis_names, m.axis_sizes))):
            program, captured, _ = stage_flat(flat, types)
        out_tree, out_paths = box[0]
        n_out = len(program.outputs)
        ospecs = _specs_for("out_specs", out_specs, tree_unflatten(out_tree, list(range(n_out))),
                            n_out)
        out_parts: list[Sharding] = []
        for k, (t, spec) in enumerate(zip(program.out_types, ospecs)):
            what = f"shard_map: out_specs for output{_path(out_paths, k)} of type {t} (per device)"
            if len(spec) > t.ndim:
                raise ShardingError(f"{what}: {spec!r} has {len(spec)} entries for a value of "
                                    f"rank {t.ndim}")
            check_spec_axes(spec, m, what)
            out_parts.append(spec.padded(t.ndim))
        in_parts = [((),) * c.ndim for c in captured] + parts
        if check_vma:
            _check_vma(program, in_parts, out_parts, ospecs, m, out_paths)
        devices = m.device_list
        ids = tuple(getattr(dv, "id", None) for dv in devices)
        op = ShardMap(body=program, mesh_axes=m.axis_names, mesh_sizes=m.axis_sizes,
                      in_specs=tuple(in_parts), out_specs=tuple(out_parts),
                      device_ids=ids if all(isinstance(i, int) for i in ids) else (),
                      explicit_axes=m.explicit_axes(), check_vma=check_vma)
        outs = bind(op, *captured, *leaves)
        return tree_unflatten(out_tree, list(outs))

    return mapped


def _check_vma(program: Any, in_parts: list[Sharding], out_parts: list[Sharding],
               shown: list[P], mesh: Mesh, out_paths: list[KeyPath]) -> None:
    vary = varying(program, [frozenset(a for axes in p for a in axes) for p in in_parts])
    for k, (v, spec) in enumerate(zip(vary, out_parts)):
        used = {a for axes in spec for a in axes}
        bad = [a for a in mesh.axis_names if a in v and a not in used]
        if bad:
            t = program.out_types[k]
            raise ShardingError(
                f"shard_map: output{_path(out_paths, k)} of type {t} (per device) varies along "
                f"mesh axis {bad[0]!r}, but its out_specs {shown[k]!r} leave that axis out, which "
                f"says it is the same on every device along {bad[0]!r}. Fix: reduce it over the "
                f"axis (d.psum / d.pmean / d.all_gather over {bad[0]!r}), name the axis in its "
                "out_specs, or pass check_vma=False to take the value of the device at index 0")


_MESHES: dict[tuple[Any, ...], Mesh] = {}


def program_mesh(program: Any) -> Mesh | None:
    """The mesh of the first `shard_map` in `program` (nested bodies included), rebuilt from its
    device ids, or None when it holds none (`jit` compiles such a program for this mesh when no
    argument is sharded and no mesh is current)."""
    for eqn in program.walk():
        op = eqn.op
        if isinstance(op, ShardMap) and op.device_ids:
            key = (op.mesh_axes, op.mesh_sizes, op.device_ids, op.explicit_axes)
            m = _MESHES.get(key)
            if m is None:
                from backends import devices

                by_id = {dv.id: dv for dv in devices()}
                missing = [i for i in op.device_ids if i not in by_id]
                if missing:
                    raise ShardingError(f"shard_map over mesh axes {op.mesh_axes}: device "
                                        f"{missing[0]} is not one of this process's devices")
                types = tuple(AxisType.Explicit if a in op.explicit_axes else AxisType.Auto
                              for a in op.mesh_axes)
                m = _MESHES[key] = make_mesh(op.mesh_sizes, op.mesh_axes, types,
                                             devices=[by_id[i] for i in op.device_ids])
            return m
    return None


__all__ = ["program_mesh", "shard_map"]
