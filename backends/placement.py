"""Placing arrays on devices and meshes: `device_put`, the views of sharded storage behind
`d.Array` (`.sharding`, `.addressable_shards`, host copies), and eager ops on arrays whose types
carry shardings.

A sharded `Array` is device-backed by one jaxlib array over a mesh's devices; its aval's
`layout` (a `backends.xla` `Layout`) says how it is split. `Array.sharding` is the
`NamedSharding` of that layout (or, for a layout XLA chose that does not split along whole mesh
axes, the layout itself). An `Array` on one device reports that device's `SingleDeviceSharding`.

Eager ops on an array whose type carries Explicit axes run on host (the gathered values, the
language's reference semantics) and their results are laid out again as the type rules say, so
`x * 2` of an `f32[8@data]` array is an `f32[8@data]` array placed over the mesh.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from backends import xla
from dsl.array import Array
from dsl.errors import ArgumentTypeError, ShardingError
from dsl.pytree import flatten_up_to, tree_flatten, tree_unflatten
from dsl.sharding import Mesh, NamedSharding, P, check_spec, resolve
from dsl.types import TensorType

@attrs.frozen(repr=False)
class Shard:
    """One device's piece of an array: the device, the index (a tuple of slices) of the piece
    in the whole array, and the piece itself (an `Array` on that device)."""

    device: Any
    index: tuple[slice, ...]
    data: Array

    def __repr__(self) -> str:
        return f"Shard(device={self.device}, index={self.index}, data={self.data.type})"


def sharding_of(buffer: Any) -> Any:
    """The sharding of a device buffer: a `NamedSharding` for a sharded one, the device's
    `SingleDeviceSharding` for a single-device one."""
    lay = xla.layout_of(buffer)
    if lay is None:
        return buffer._sharding
    return lay.named if lay.named is not None else lay


def shards_of(a: Array) -> list[Shard]:
    """The pieces of `a` this process holds, one per device, in the mesh's device order."""
    b = a._buffer
    full = tuple(slice(None) for _ in a.shape)
    if b is None:
        return [Shard(None, full, a)]
    lay = xla.layout_of(b)
    if lay is None:
        return [Shard(buffer_device(b), full, a)]
    index = lay.devices_indices_map(tuple(a.shape))
    out = []
    for k, device in enumerate(lay.device_list):
        if not xla.is_addressable(device):
            continue
        host = np.array(xla.shard_host(b, lay, k))  # a copy: the view dies with the buffer
        piece = xla.put(host, TensorType(host.shape, host.dtype), device)
        out.append(Shard(device, index[device], Array._on_device(piece, a.weak)))
    return out


def buffer_device(buffer: Any) -> Any:
    """The device holding a single-device buffer."""
    return buffer._sharding._device_assignment[0]


def _is_target(where: Any) -> bool:
    return where is None or isinstance(where, (P, NamedSharding)) or hasattr(where, "client")


def device_put(x: Any, where: Any = None) -> Any:
    """`x` (an array, NumPy array, Python scalar, or a pytree of them) placed on `where`: a
    device (default: the first device), a `NamedSharding`, or a bare `P` read against the
    current mesh (`set_mesh`); or a pytree of those matching `x`'s structure."""
    if _is_target(where):
        leaves, tree = tree_flatten(x)
        return tree_unflatten(tree, [put_one(v, where) for v in leaves])
    leaves, tree = tree_flatten(x)
    try:
        targets = flatten_up_to(tree, where)
    except (TypeError, ValueError) as e:
        raise ShardingError(f"device_put: the shardings {where!r} do not match the structure "
                            f"of the values ({tree}): {e}") from None
    for t in targets:
        if not _is_target(t):
            raise ShardingError(f"device_put: expected a device, a P or a NamedSharding, got "
                                f"{type(t).__name__} {t!r}")
    return tree_unflatten(tree, [put_one(v, t) for v, t in zip(leaves, targets)])


def _as_array(x: Any) -> Array:
    from dsl.numpy_api import asarray

    a = x if type(x) is Array else asarray(x)
    if type(a) is not Array:
        raise ArgumentTypeError(f"device_put: needs a concrete value, got a symbolic {a.type}")
    return a


def put_one(x: Any, where: Any) -> Array:
    """One value placed on one device, `NamedSharding` or `P`."""
    a = _as_array(x)
    if where is None or hasattr(where, "client"):
        if where is None:
            from backends import devices

            where = devices()[0]
        b = a._buffer
        if b is not None and xla.layout_of(b) is None and buffer_device(b) == where:
            return a
        host = np.require(a._value, requirements="C")
        return Array._on_device(xla.put(host, TensorType(host.shape, host.dtype), where), a.weak)
    ns = resolve(where, "device_put")
    lay = layout_for(ns, a.type, "device_put")
    b = a._buffer
    if b is not None and xla.layout_of(b) is lay:
        return a
    host = np.require(a._value, requirements="C")
    return Array._on_device(xla.put_sharded(host, TensorType(host.shape, host.dtype), lay),
                            a.weak)


def layout_for(ns: NamedSharding, t: TensorType, what: str) -> Any:
    """The layout of a value of type `t` placed as `ns` (checked: rank, axes, divisibility)."""
    mesh = ns.mesh
    check_spec(ns.spec, t.shape, mesh, f"{what} of {TensorType(t.shape, t.dtype)} onto "
                                       f"{mesh!r}")
    platforms = {d.platform for d in mesh.device_list}
    if len(platforms) != 1:
        raise ShardingError(f"{what}: the mesh {mesh!r} mixes devices of platforms "
                            f"{sorted(platforms)}")
    return xla.layout(mesh, ns.spec.padded(len(t.shape)))


def put_value(x: Any, t: TensorType, lay: Any) -> Any:
    """A buffer of `x` (any concrete value, converted to `t`'s dtype) laid out as `lay`."""
    host = x._value if type(x) is Array else np.asarray(x)
    if host.dtype != t.dtype:
        host = host.astype(t.dtype)
    return xla.put_sharded(np.require(host, requirements="C"), t, lay)


# ---- eager ops on arrays with explicit shardings ----------------------------------------------

def _explicit_mesh(args: tuple[Any, ...]) -> Mesh | None:
    for a in args:
        if type(a) is Array:
            b = a._buffer
            if b is not None:
                lay = getattr(b.aval, "layout", None)
                if lay is not None and lay.type_sharding is not None:
                    return lay.mesh  # type: ignore[no-any-return]
    return None


def eager_explicit(op: Any, args: tuple[Any, ...]) -> Any:
    """An eager op on arguments of which one carries Explicit axes in its type: the numbers
    from the host values, the result types (and layouts) from the type rules."""
    mesh = _explicit_mesh(args)
    if mesh is None:
        return NotImplemented
    from dsl import core

    in_types = []
    plain = []
    for a in args:
        if type(a) is Array:
            in_types.append(a.type)
            plain.append(Array(a._value, a._weak) if a._buffer is not None else a)
        else:
            v, w = core.concrete(a)
            in_types.append(TensorType(v.shape, v.dtype, w))
            plain.append(a)
    with mesh:
        out_types = core.infer(op, tuple(in_types))
    result = core._bind_eager(op, tuple(plain))
    outs = result if op.multiple_results else (result,)
    placed = []
    for r, t in zip(outs, out_types):
        if t.sharding is not None:
            lay = xla.layout(mesh, t.sharding)
            host = np.require(r._value, requirements="C")
            r = Array._on_device(xla.put_sharded(host, TensorType(host.shape, host.dtype), lay),
                                 r.weak)
        placed.append(r)
    return tuple(placed) if op.multiple_results else placed[0]


def install_eager_hook() -> None:
    """Route eager ops through `eager_explicit` (once arrays with explicit types exist)."""
    from dsl import core

    core.EXPLICIT_EAGER_HOOK[0] = eager_explicit


__all__ = ["Shard", "buffer_device", "device_put", "eager_explicit", "layout_for", "put_one",
           "put_value", "shards_of", "sharding_of"]
