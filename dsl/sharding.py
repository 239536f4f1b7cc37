"""Meshes and partition specs: how arrays are laid out over devices.

A `Mesh` is an n-dimensional grid of devices with a name and an `AxisType` per axis. A `P`
(PartitionSpec) says, per array dimension, which mesh axes split it (`None` or `()` for a
replicated dimension, a name, or a tuple of names, major first). A `NamedSharding` pairs a spec
with a mesh.

Shardings over `Explicit` axes are part of an array's type: `TensorType.sharding` holds, per
dimension, the tuple of Explicit axis names splitting it, printed `f32[512@data,512]`. Auto axes
are left to XLA's partitioner and are not part of the type. Manual axes are those a `shard_map`
body runs over (the body sees per-device shards).

`set_mesh(mesh)` makes a mesh current (and, used as `with set_mesh(mesh):`, restores the previous
one on exit); `P` shardings and explicit types are read against the current mesh.

`dsl` never imports `backends`: the device list comes from `DEVICES_HOOK`, which `backends`
fills when it is imported (pass `devices=` to `make_mesh` otherwise).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import numpy as np

from dsl.errors import ShardingError
from dsl.types import Sharding

# backends installs `devices() -> list[device]` here when it is imported
DEVICES_HOOK: list[Callable[[], list[Any]] | None] = [None]


class AxisType(enum.Enum):
    """How a mesh axis is treated: by XLA (`Auto`), by the types (`Explicit`), or by the user's
    per-device code (`Manual`, inside `shard_map`)."""

    Auto = "auto"
    Explicit = "explicit"
    Manual = "manual"


def _entry(e: Any) -> tuple[str, ...]:
    if e is None:
        return ()
    if isinstance(e, str):
        return (e,)
    if isinstance(e, tuple) and all(isinstance(a, str) for a in e):
        return e
    raise ShardingError(f"P: each entry must be None, an axis name or a tuple of axis names, "
                        f"got {e!r}")


class P:
    """A partition spec: per array dimension, the mesh axes that split it (`P('data', None)`).

    Dimensions past the spec's length are replicated.
    """

    __slots__ = ("parts",)
    parts: tuple[tuple[str, ...], ...]

    def __init__(self, *parts: Any):
        object.__setattr__(self, "parts", tuple(_entry(e) for e in parts))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("P is immutable")

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[Any]:
        return iter(None if not p else p[0] if len(p) == 1 else p for p in self.parts)

    def __getitem__(self, i: int) -> Any:
        return tuple(self)[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, P) and _trim(self.parts) == _trim(other.parts)

    def __hash__(self) -> int:
        return hash(_trim(self.parts))

    def __repr__(self) -> str:
        return f"P({', '.join(repr(e) for e in self)})"

    def axes(self) -> tuple[str, ...]:
        """Every mesh axis the spec uses, in order."""
        return tuple(a for p in self.parts for a in p)

    def padded(self, ndim: int) -> Sharding:
        """The spec as one tuple of axis names per dimension of a rank-`ndim` array."""
        return self.parts + ((),) * (ndim - len(self.parts))


def _trim(parts: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
    n = len(parts)
    while n and not parts[n - 1]:
        n -= 1
    return parts[:n]


PartitionSpec = P


@attrs.frozen(eq=False, repr=False)
class Mesh:
    """A grid of devices with named axes; `devices` is an object array of shape `axis_sizes`."""

    devices: np.ndarray
    axis_names: tuple[str, ...]
    axis_types: tuple[AxisType, ...]

    def __attrs_post_init__(self) -> None:
        if len(set(self.axis_names)) != len(self.axis_names):
            raise ShardingError(f"Mesh: axis names must be distinct, got {self.axis_names}")
        if self.devices.ndim != len(self.axis_names) or len(self.axis_types) != len(
                self.axis_names):
            raise ShardingError(f"Mesh: {len(self.axis_names)} axis names and "
                                f"{len(self.axis_types)} axis types for a device grid of shape "
                                f"{self.devices.shape}")

    @property
    def axis_sizes(self) -> tuple[int, ...]:
        return tuple(self.devices.shape)

    @property
    def shape(self) -> dict[str, int]:
        return dict(zip(self.axis_names, self.axis_sizes))

    @property
    def size(self) -> int:
        return int(self.devices.size)

    @property
    def device_list(self) -> list[Any]:
        """The devices in row-major order of the grid (the order of XLA's device assignment)."""
        return list(self.devices.flat)

    def axis_type(self, name: str) -> AxisType:
        return self.axis_types[self.axis_names.index(name)]

    def explicit_axes(self) -> tuple[str, ...]:
        return tuple(n for n, t in zip(self.axis_names, self.axis_types)
                     if t is AxisType.Explicit)

    def _key(self) -> tuple[Any, ...]:
        return (self.axis_names, self.axis_types, tuple(id(d) for d in self.devices.flat),
                self.axis_sizes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mesh) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}={s}" + ("" if t is AxisType.Auto else f" ({t.name})")
                         for n, s, t in zip(self.axis_names, self.axis_sizes, self.axis_types))
        return f"Mesh({axes})"

    def __enter__(self) -> Mesh:
        _MESH_STACK.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _MESH_STACK.pop()


def make_mesh(axis_shapes: Sequence[int], axis_names: Sequence[str],
              axis_types: Sequence[AxisType] | None = None,
              devices: Sequence[Any] | None = None) -> Mesh:
    """A mesh of the first `prod(axis_shapes)` devices, reshaped to `axis_shapes`."""
    shape = tuple(axis_shapes)
    names = tuple(axis_names)
    if len(shape) != len(names):
        raise ShardingError(f"make_mesh: {len(shape)} axis sizes {shape} but {len(names)} axis "
                            f"names {names}")
    if not all(isinstance(n, str) for n in names):
        raise ShardingError(f"make_mesh: axis names must be strings, got {names}")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise ShardingError(f"make_mesh: axis sizes must be positive ints, got {shape}")
    types = tuple(axis_types) if axis_types is not None else (AxisType.Auto,) * len(names)
    if not all(isinstance(t, AxisType) for t in types):
        raise ShardingError(f"make_mesh: axis_types must be AxisType values, got {types}")
    if devices is None:
        source = DEVICES_HOOK[0]
        if source is None:
            raise ShardingError("make_mesh: no devices are known yet; import backends (or "
                                "interpreters) first, or pass devices=")
        devices = source()
    n = math.prod(shape)
    if n > len(devices):
        raise ShardingError(f"make_mesh: a mesh of shape {shape} needs {n} devices, but only "
                            f"{len(devices)} are available (for N CPU devices set XLA_FLAGS="
                            f"--xla_force_host_platform_device_count=N or call "
                            f"backends.configure(cpu_devices=N) before first use)")
    grid = np.empty(n, dtype=object)
    for i, dev in enumerate(list(devices)[:n]):
        grid[i] = dev
    return Mesh(grid.reshape(shape), names, types)


_MESH_STACK: list[Mesh] = []


class _MeshSetting:
    """What `set_mesh` returns: the mesh is already current; `with` restores the previous one."""

    def __init__(self, previous: list[Mesh]):
        self._previous = previous

    def __enter__(self) -> Mesh | None:
        return get_mesh()

    def __exit__(self, *exc: Any) -> None:
        _MESH_STACK[:] = self._previous


def set_mesh(mesh: Mesh | None) -> _MeshSetting:
    """Make `mesh` current (for `P` shardings and explicit types); `None` clears it."""
    if mesh is not None and not isinstance(mesh, Mesh):
        raise ShardingError(f"set_mesh: expected a Mesh, got {type(mesh).__name__}")
    previous = list(_MESH_STACK)
    _MESH_STACK.clear()
    if mesh is not None:
        _MESH_STACK.append(mesh)
    return _MeshSetting(previous)


def get_mesh() -> Mesh | None:
    """The current mesh (set by `set_mesh` or `with mesh:`), or None."""
    return _MESH_STACK[-1] if _MESH_STACK else None


@attrs.frozen(repr=False)
class NamedSharding:
    """A partition spec over a mesh."""

    mesh: Mesh
    spec: P = attrs.field(factory=P)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.spec, P):
            raise ShardingError(f"NamedSharding: spec must be a P, got {self.spec!r}")
        check_spec_axes(self.spec, self.mesh, "NamedSharding")

    def __repr__(self) -> str:
        return f"NamedSharding({self.mesh!r}, {self.spec!r})"

    def shard_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one device's shard of an array of `shape`."""
        sizes = self.mesh.shape
        return tuple(n // math.prod(sizes[a] for a in axes)
                     for n, axes in zip(shape, self.spec.padded(len(shape))))

    def is_replicated(self) -> bool:
        return not self.spec.axes()


def check_spec_axes(spec: P, mesh: Mesh, what: str) -> None:
    """Every axis of `spec` is in `mesh`, used once."""
    used = spec.axes()
    for a in used:
        if a not in mesh.axis_names:
            raise ShardingError(f"{what}: axis {a!r} of {spec!r} is not in the mesh "
                                f"{mesh!r}")
    if len(set(used)) != len(used):
        raise ShardingError(f"{what}: {spec!r} uses a mesh axis twice")


def check_spec(spec: P, shape: tuple[int, ...], mesh: Mesh, what: str) -> None:
    """`spec` fits an array of `shape` on `mesh`: not longer than its rank, axes in the mesh and
    used once, every split dimension divisible by the product of its axes' sizes."""
    if len(spec) > len(shape):
        raise ShardingError(f"{what}: {spec!r} has {len(spec)} entries for an array of rank "
                            f"{len(shape)} (shape {shape})")
    check_spec_axes(spec, mesh, what)
    sizes = mesh.shape
    for i, (n, axes) in enumerate(zip(shape, spec.padded(len(shape)))):
        k = math.prod(sizes[a] for a in axes)
        if n % k:
            raise ShardingError(f"{what}: dimension {i} of size {n} (shape {shape}) is not "
                                f"divisible by {k}, the size of mesh axes {axes} in {spec!r}")


def resolve(sharding: Any, what: str) -> NamedSharding:
    """A `NamedSharding` from a `NamedSharding` or a bare `P` (read against the current mesh)."""
    if isinstance(sharding, NamedSharding):
        return sharding
    if isinstance(sharding, P):
        mesh = get_mesh()
        if mesh is None:
            raise ShardingError(f"{what}: a bare {sharding!r} needs a current mesh; call "
                                f"set_mesh(mesh) first or pass NamedSharding(mesh, spec)")
        return NamedSharding(mesh, sharding)
    raise ShardingError(f"{what}: expected a P or a NamedSharding, got {type(sharding).__name__}")


def type_sharding(spec: P, ndim: int, mesh: Mesh) -> Sharding | None:
    """The part of `spec` that belongs in a type: its Explicit axes (None when it has none)."""
    explicit = set(mesh.explicit_axes())
    parts = tuple(tuple(a for a in axes if a in explicit) for axes in spec.padded(ndim))
    return parts if any(parts) else None


def hlo_sharding(parts: Sharding, mesh: Mesh) -> str:
    """The GSPMD sharding attribute (`mhlo.sharding`) of per-dimension axes on `mesh`:
    `{replicated}`, or `{devices=[a,b,...,r]<=[dims]T(perm) last_tile_dim_replicate}` where
    the device grid is the mesh's, reordered so each array dimension's axes come first."""
    names, sizes = mesh.axis_names, mesh.axis_sizes
    if not any(parts):
        return "{replicated}"
    used = [a for axes in parts for a in axes]
    rest = [a for a in names if a not in used]
    order = used + rest
    tile = [math.prod(sizes[names.index(a)] for a in axes) for axes in parts]
    replicate = math.prod(sizes[names.index(a)] for a in rest)
    perm = [names.index(a) for a in order]
    dims = ",".join(str(t) for t in tile + ([replicate] if replicate > 1 else []))
    if perm == sorted(perm):
        iota, trans = str(mesh.size), ""
    else:
        iota = ",".join(str(s) for s in sizes)
        trans = "T(" + ",".join(str(p) for p in perm) + ")"
    suffix = " last_tile_dim_replicate" if replicate > 1 else ""
    return f"{{devices=[{dims}]<=[{iota}]{trans}{suffix}}}"


def typeof(x: Any) -> Any:
    """The type of `x` (an array, a symbolic value or a Python scalar), shardings included:
    `f32[512@data,512]`."""
    from dsl.numpy_api import asarray

    t = getattr(x, "type", None)
    return t if t is not None else asarray(x).type


__all__ = ["AxisType", "DEVICES_HOOK", "Mesh", "NamedSharding", "P", "PartitionSpec",
           "check_spec", "check_spec_axes", "get_mesh", "hlo_sharding", "make_mesh", "resolve",
           "set_mesh", "type_sharding", "typeof"]
