"""Every call into jaxlib's XLA runtime lives in this module (jaxlib's Python surface below `jax`
is internal and changes between releases; keeping it in one place makes an upgrade one file).

Facts this module relies on are in `JAXLIB.md`: `compile_and_load` takes MLIR text;
`batched_device_put` needs an aval-like object and a Python subclass of a C++ sharding class;
`execute_sharded(...).consume_with_handlers(...)` with `_skip_checks=True` is the fast way back.

Sharded storage: a `Layout` (a Python subclass of jaxlib's `GSPMDSharding`) is a mesh plus a GSPMD
`HloSharding`, and, when the sharding splits dimensions along whole mesh axes, the per-dimension
axes (`parts`) that make it a `NamedSharding`. Layouts are cached, so one (mesh, parts) pair is
one object, and avals are shared per (type, device or layout). A sharded buffer is one jaxlib
array over the mesh's devices (in the mesh's row-major order, the order of the SPMD device
assignment). Its per-device pieces are read without `jax` (the C++ `_arrays` and
`_single_device_array_to_np_array_did_copy` of a multi-device array build `jax.core.ShapedArray`
avals, importing `jax`): `reorder_shards` brings device k's shard to the front (no copy) and
DLPack exposes that first shard's memory (on CPU, read by NumPy without copying).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl.errors import ArgumentValueError, ShardingError
from dsl.sharding import Mesh, NamedSharding, P, hlo_sharding, type_sharding
from dsl.types import Sharding, TensorType


class Aval:
    """What jaxlib's put and result handlers read from a value's type, plus where the value
    lives: `place` is the device (single-device buffers) or the `Layout` (sharded ones), and
    `layout` the `Layout` or None. Buffers share one aval per (type, place), so an aval's
    identity says type and placement at once: `jit` keys its cache on it."""

    __slots__ = ("shape", "dtype", "weak_type", "ndim", "place", "layout")

    def __init__(self, t: TensorType, place: Any = None):
        self.shape = t.shape
        self.dtype = t.dtype
        self.weak_type = False
        self.ndim = len(t.shape)
        self.place = place
        self.layout: Any = place if getattr(place, "is_layout", False) else None


_AVALS: dict[tuple[TensorType, int], Aval] = {}


def aval_of(t: TensorType, place: Any = None) -> Aval:
    """The one shared aval of type `t` (made plain) on `place` (a device or a `Layout`)."""
    t = _plain(t)
    key = (t, id(place))
    a = _AVALS.get(key)
    if a is None:
        a = _AVALS[key] = Aval(t, place)
        _KEEP.append(place)  # ids must stay unique: places live as long as their avals
    return a


_KEEP: list[Any] = []


def _xc() -> Any:
    from jaxlib import xla_client

    return xla_client


def cpu_device_count() -> int:
    """CPU devices requested through `XLA_FLAGS=--xla_force_host_platform_device_count=N`."""
    m = re.search(r"--xla_force_host_platform_device_count=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return int(m.group(1)) if m else 1


@functools.lru_cache(maxsize=None)
def cpu_client(num_devices: int | None = None) -> Any:
    """jaxlib's CPU PJRT client (made once per device count)."""
    n = num_devices if num_devices is not None else cpu_device_count()
    return _xc().make_cpu_client(num_devices=n)


@functools.lru_cache(maxsize=None)
def single_device_sharding(device: Any) -> Any:
    """A `SingleDeviceSharding` that jaxlib's put and result handlers accept without `jax`."""
    xc = _xc()

    class OneDevice(xc.SingleDeviceSharding):  # type: ignore[misc, name-defined]
        def _to_xla_hlo_sharding(self, ndim: int) -> Any:
            return xc.HloSharding.replicate()

        @property
        def _device_assignment(self) -> tuple[Any, ...]:
            return (device,)

        @property
        def memory_kind(self) -> None:
            return None

        def devices_indices_map(self, shape: tuple[int, ...]) -> dict[Any, tuple[slice, ...]]:
            return {device: tuple(slice(None) for _ in shape)}

        @property
        def device(self) -> Any:
            """The one device holding the array."""
            return device

        def __repr__(self) -> str:
            return f"SingleDeviceSharding(device={device})"

    return OneDevice(device)


def compile_text(text: str | bytes, devices: Sequence[Any], client: Any | None = None) -> Any:
    """Compile a StableHLO module (MLIR text or bytecode) for `devices`; returns the loaded
    executable."""
    xc = _xc()
    client = client if client is not None else devices[0].client
    return client.compile_and_load(text, xc.DeviceList(tuple(devices)), xc.CompileOptions())


def compile_spmd(text: str, devices: Sequence[Any], propagate: Sequence[bool]) -> Any:
    """Compile an SPMD module annotated with GSPMD `mhlo.sharding` attributes for `devices`
    (one partition each, in this order); `propagate[i]` lets XLA choose output i's sharding."""
    xc = _xc()
    n = len(devices)
    options = xc.CompileOptions()
    options.num_replicas = 1
    options.num_partitions = n
    build = options.executable_build_options
    build.num_replicas = 1
    build.num_partitions = n
    build.use_spmd_partitioning = True
    build.use_shardy_partitioner = False
    build.allow_spmd_sharding_propagation_to_output = list(propagate) or [False]
    options.device_assignment = xc.DeviceAssignment.create(
        np.array([[d.id for d in devices]], dtype=np.int64))
    return devices[0].client.compile_and_load(text, xc.DeviceList(tuple(devices)), options)


def output_hlo_shardings(executable: Any, n: int) -> list[Any]:
    """The `HloSharding` XLA chose for each of an SPMD executable's `n` outputs."""
    xc = _xc()
    protos = executable.get_output_shardings()
    if protos is None:
        return [xc.HloSharding.replicate()] * n
    return [xc.HloSharding.from_proto(p) for p in protos]


def put(value: np.ndarray, t: TensorType, device: Any) -> Any:
    """Copy a host array (of exactly type `t`) to `device`."""
    return _xc().batched_device_put(aval_of(t, device), single_device_sharding(device), [value],
                                    [device], enable_x64=True)


@functools.lru_cache(maxsize=4096)
def result_handler(t: TensorType, device: Any) -> Any:
    return _xc().array_result_handler(aval_of(t, device), single_device_sharding(device), True,
                                      _skip_checks=True)


def _plain(t: TensorType) -> TensorType:
    return t if not t.weak and t.sharding is None else TensorType(t.shape, t.dtype)


def execute(executable: Any, buffers: Sequence[Any], out_types: Sequence[TensorType],
            device: Any) -> list[Any]:
    """Run a single-device executable on device buffers; returns device buffers."""
    handlers = [result_handler(t, device) for t in out_types]
    return executable.execute_sharded(list(buffers)).consume_with_handlers(handlers)


def sharding_of(buffer: Any) -> Any:
    """`Array.sharding` of a device-backed array (see `backends.placement`)."""
    from backends import placement

    return placement.sharding_of(buffer)


def shards_of(array: Any) -> list[Any]:
    """`Array.addressable_shards` (see `backends.placement`)."""
    from backends import placement

    return placement.shards_of(array)


def layout_of(buffer: Any) -> Any:
    """The `Layout` of a sharded buffer, or None for a single-device one."""
    return getattr(buffer.aval, "layout", None)


# `backends.distributed` installs here a wait that raises `PeerLostError` (instead of blocking
# forever in a collective) once another process of a multi-process job has stopped
WAIT_HOOK: list[Callable[[list[Any]], None] | None] = [None]


def wait_ready(buffer: Any) -> None:
    """Block until a device buffer is computed."""
    hook = WAIT_HOOK[0]
    if hook is None:
        buffer.block_until_ready()
    else:
        hook([buffer])


def to_host(buffer: Any) -> np.ndarray:
    """A host NumPy array of a device buffer (zero-copy and read-only on CPU for a
    single-device buffer; a sharded buffer is gathered into a new array)."""
    if WAIT_HOOK[0] is not None:
        WAIT_HOOK[0]([buffer])
    layout = getattr(buffer.aval, "layout", None)
    if layout is not None:
        return gather(buffer, layout)
    return buffer._single_device_array_to_np_array_did_copy()[0]


def to_dlpack(buffer: Any, stream: Any = None) -> Any:
    """A DLPack capsule sharing a single-device buffer's memory."""
    import jaxlib._jax as runtime

    layout = layout_of(buffer)
    if layout is not None:
        raise ShardingError(f"DLPack: an array laid out over {len(layout.device_list)} "
                            f"devices ({layout.describe()}) has no single buffer to share; "
                            "gather it first (np.asarray) or device_put it on one device")
    return runtime.buffer_to_dlpack_managed_tensor(buffer, stream=stream)


def dlpack_device(buffer: Any) -> tuple[int, int]:
    """(DLPack device type, device index) of a buffer: 1 is CPU, 2 CUDA, 10 ROCm."""
    device = buffer._sharding._device_assignment[0]
    kind = {"cpu": 1, "cuda": 2, "rocm": 10}.get(device.platform, 1)
    return (kind, device.local_hardware_id if kind != 1 else 0)


def from_dlpack(x: Any, device: Any) -> Any:
    """A device buffer built from a DLPack producer living on `device`."""
    import jaxlib._jax as runtime

    b = runtime.dlpack_managed_tensor_to_buffer(x.__dlpack__(), device, None)
    aval = b.aval
    if aval is None:
        return b
    t = TensorType(tuple(aval.shape), aval.dtype)  # our aval: `jit` keys on it
    return b._rewrap_with_aval_and_sharding(aval_of(t, device), single_device_sharding(device))


# ---- sharded storage --------------------------------------------------------------------------

def is_addressable(device: Any) -> bool:
    """Whether this process can read and write `device`'s memory."""
    return bool(device.process_index == device.client.process_index())


@functools.lru_cache(maxsize=None)
def _layout_class() -> type:
    xc = _xc()

    class Layout(xc.GSPMDSharding):  # type: ignore[misc, name-defined]
        """A GSPMD sharding over a mesh's devices (see the module docstring)."""

        is_layout = True

        def __init__(self, mesh: Mesh, hlo: Any, parts: Sharding | None, ndim: int):
            devices = tuple(mesh.device_list)
            super().__init__(xc.DeviceList(devices), hlo)
            self.mesh = mesh
            self.hlo = hlo
            self.hlo_text = str(hlo)
            self.parts = parts
            self.ndim = ndim
            self.device_list = devices
            self.addressable_devices = tuple(d for d in devices if is_addressable(d))
            self.named = NamedSharding(mesh, P(*_trimmed(parts))) if parts is not None else None
            self.type_sharding = (type_sharding(P(*parts), ndim, mesh)
                                  if parts is not None else None)
            self._maps: dict[tuple[int, ...], dict[Any, tuple[slice, ...]]] = {}
            self._firsts: dict[int, Any] = {}

        # identity semantics: two layouts are the same only if they are the same object
        __hash__ = object.__hash__

        def __eq__(self, other: object) -> bool:
            return self is other

        def _to_xla_hlo_sharding(self, ndim: int) -> Any:
            return self.hlo

        @property
        def _device_assignment(self) -> tuple[Any, ...]:
            return self.device_list

        @property
        def memory_kind(self) -> None:
            return None

        def devices_indices_map(self, shape: tuple[int, ...]) -> dict[Any, tuple[slice, ...]]:
            m = self._maps.get(shape)
            if m is None:
                m = self._maps[shape] = _indices(self.hlo, shape, self.device_list)
            return m

        def is_replicated(self) -> bool:
            return bool(self.hlo.is_replicated())

        def describe(self) -> str:
            if self.named is not None:
                return repr(self.named)
            return f"GSPMD sharding {self.hlo_text} over {self.mesh!r}"

        def __repr__(self) -> str:
            return f"Layout({self.describe()})"

        def first(self, k: int) -> Any:
            """A sharding over the same devices with device `k` first (see `gather`)."""
            s = self._firsts.get(k)
            if s is None:
                order = (self.device_list[k],) + tuple(
                    d for i, d in enumerate(self.device_list) if i != k)
                s = self._firsts[k] = xc.GSPMDSharding(xc.DeviceList(order), self.hlo)
            return s

    return Layout


_LAYOUTS: dict[tuple[Any, ...], Any] = {}


def layout(mesh: Mesh, parts: Sharding) -> Any:
    """The one `Layout` splitting each dimension along `parts[i]` (mesh axes, major first)."""
    key = ("parts", mesh, parts)
    lay = _LAYOUTS.get(key)
    if lay is None:
        for axes in parts:
            for a in axes:
                if a not in mesh.axis_names:
                    raise ShardingError(f"layout: axis {a!r} of {P(*parts)!r} is not in the "
                                        f"mesh {mesh!r}")
        hlo = _xc().HloSharding.from_string(hlo_sharding(parts, mesh))
        lay = _LAYOUTS[key] = _layout_class()(mesh, hlo, parts, len(parts))
        if lay.type_sharding is not None and not EXPLICIT_CREATED[0]:
            EXPLICIT_CREATED[0] = True
            from backends.placement import install_eager_hook

            install_eager_hook()
    return lay


def replicated(mesh: Mesh, ndim: int) -> Any:
    """The replicated `Layout` of a rank-`ndim` array on `mesh`."""
    return layout(mesh, ((),) * ndim)


def layout_from_hlo(mesh: Mesh, hlo: Any, ndim: int) -> Any:
    """The `Layout` of an `HloSharding` XLA chose on `mesh`: the named one when it splits
    dimensions along whole mesh axes, else one that keeps only the `HloSharding`."""
    key = ("hlo", mesh, str(hlo), ndim)
    lay = _LAYOUTS.get(key)
    if lay is None:
        parts = _parts_of(mesh, hlo, ndim)
        lay = layout(mesh, parts) if parts is not None else _layout_class()(mesh, hlo, None,
                                                                            ndim)
        _LAYOUTS[key] = lay
    return lay


def _trimmed(parts: Sharding) -> Sharding:
    n = len(parts)
    while n and not parts[n - 1]:
        n -= 1
    return parts[:n]


# set when the first layout over Explicit mesh axes is made (arrays whose types carry shardings)
EXPLICIT_CREATED: list[bool] = [False]


def _parts_of(mesh: Mesh, hlo: Any, ndim: int) -> Sharding | None:
    """Per-dimension mesh axes giving exactly `hlo`, or None when no assignment of whole mesh
    axes does (searched over the assignments whose tile counts match)."""
    if hlo.is_replicated():
        return ((),) * ndim
    if hlo.is_maximal() or hlo.is_manual() or not hlo.is_tiled():
        return None
    tiles = list(hlo.tile_assignment_dimensions())[:ndim]
    if len(tiles) < ndim:
        return None
    sizes = mesh.shape
    names = mesh.axis_names
    xc = _xc()

    def options(n: int, free: tuple[str, ...]) -> list[tuple[str, ...]]:
        # ordered tuples of distinct free axes whose sizes multiply to n
        if n == 1:
            return [()]
        out = []
        for a in free:
            if n % sizes[a] == 0 and sizes[a] > 1:
                rest = tuple(b for b in free if b != a)
                out += [(a,) + tail for tail in options(n // sizes[a], rest)]
        return out

    def search(i: int, free: tuple[str, ...], acc: tuple[tuple[str, ...], ...]
               ) -> Sharding | None:
        if i == ndim:
            return acc if xc.HloSharding.from_string(hlo_sharding(acc, mesh)) == hlo else None
        for axes in options(tiles[i], free):
            found = search(i + 1, tuple(b for b in free if b not in axes), acc + (axes,))
            if found is not None:
                return found
        return None

    return search(0, tuple(names), ())


def _indices(hlo: Any, shape: tuple[int, ...], devices: Sequence[Any]
             ) -> dict[Any, tuple[slice, ...]]:
    """Which slice of an array of `shape` each device holds under `hlo` (tile ids in the
    sharding are positions in `devices`, the device assignment)."""
    full = tuple(slice(None) for _ in shape)
    if hlo.is_replicated() or hlo.is_maximal() or not shape:
        return {d: full for d in devices}
    dims = list(hlo.tile_assignment_dimensions())
    ids = list(hlo.tile_assignment_devices())
    out: dict[Any, tuple[slice, ...]] = {}
    for flat, dev_id in enumerate(ids):
        coords = np.unravel_index(flat, dims)
        index = []
        for i, n in enumerate(shape):
            if dims[i] == 1:
                index.append(slice(None))
                continue
            chunk = -(-n // dims[i])
            c = int(coords[i])
            index.append(slice(min(c * chunk, n), min((c + 1) * chunk, n)))
        out[devices[dev_id]] = tuple(index)
    return out


def put_sharded(value: np.ndarray, t: TensorType, lay: Any) -> Any:
    """Copy a host array (of exactly type `t`) onto `lay`'s devices, one piece per device."""
    index = lay.devices_indices_map(tuple(value.shape))
    devices = list(lay.addressable_devices)
    # (np.ascontiguousarray would turn a 0-d piece into shape (1,))
    pieces = [np.array(value[index[d]], order="C") for d in devices]
    return _xc().batched_device_put(aval_of(t, lay), lay, pieces, devices, enable_x64=True)


@functools.lru_cache(maxsize=4096)
def sharded_result_handler(t: TensorType, lay: Any) -> Any:
    return _xc().array_result_handler(aval_of(t, lay), lay, True, _skip_checks=True)


class _Capsule:
    """Hands NumPy an existing DLPack capsule (CPU memory)."""

    __slots__ = ("capsule",)

    def __init__(self, capsule: Any):
        self.capsule = capsule

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


def shard_host(buffer: Any, lay: Any, k: int) -> np.ndarray:
    """The piece of a sharded buffer held by `lay.device_list[k]`, as a host array (a read-only
    view of the device memory on CPU, so copy it before the buffer can go away)."""
    import jaxlib._jax as runtime

    check_live(buffer, "reading a shard")
    device = lay.device_list[k]
    if not is_addressable(device):
        raise ShardingError(f"the shard on {device} belongs to another process; only "
                            f"addressable shards can be read here")
    if device.platform != "cpu":
        # no jax-free route to one shard of a multi-device array off CPU: `_arrays` builds
        # `jax.core.ShapedArray` avals (it imports `jax` when it is installed)
        for piece in buffer._arrays:
            if piece._sharding._device_assignment[0] == device:
                return np.asarray(piece._single_device_array_to_np_array_did_copy()[0])
        raise ShardingError(f"no shard of the array lives on {device}")
    moved = buffer if k == 0 else runtime.reorder_shards(
        buffer, lay.first(k), runtime.ArrayCopySemantics.REUSE_INPUT)
    capsule = runtime.buffer_to_dlpack_managed_tensor(moved, stream=None)
    dtype = np.dtype(buffer.aval.dtype)
    if dtype.kind == "V" or dtype.name == "bfloat16":
        # NumPy's DLPack reader knows no bfloat16: relabel the tensor as unsigned ints of the same
        # width (the DLDataType code byte at offset 20 of the DLTensor) and view the bits
        _relabel_unsigned(capsule)
        return np.from_dlpack(_Capsule(capsule)).view(dtype)
    return np.from_dlpack(_Capsule(capsule))


_DL_DTYPE_CODE_OFFSET = 20  # data pointer (8), device (8), ndim (4), then the dtype code byte
_DL_UINT = 1


def _relabel_unsigned(capsule: Any) -> None:
    import ctypes

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    address = get(capsule, b"dltensor")
    ctypes.c_uint8.from_address(address + _DL_DTYPE_CODE_OFFSET).value = _DL_UINT


def check_live(buffer: Any, what: str) -> None:
    """A deleted (donated) buffer is an error here, not a crash inside jaxlib."""
    if buffer.is_deleted():
        raise ArgumentValueError(f"{what}: the array was donated to a jitted call (or deleted); "
                                 "its memory is gone")


def gather(buffer: Any, lay: Any) -> np.ndarray:
    """The whole value of a sharded buffer in one new host array."""
    check_live(buffer, "reading a sharded array")
    shape = tuple(buffer.aval.shape)
    index = lay.devices_indices_map(shape)
    out = np.empty(shape, dtype=buffer.aval.dtype)
    done: set[tuple[tuple[Any, Any], ...]] = set()
    for k, device in enumerate(lay.device_list):
        idx = index[device]
        key = tuple((s.start, s.stop) for s in idx)
        if key in done:
            continue  # a replica of a piece already copied
        if not is_addressable(device):
            continue
        out[idx] = shard_host(buffer, lay, k)
        done.add(key)
    missing = {tuple((s.start, s.stop) for s in idx) for idx in index.values()} - done
    if missing:
        raise ShardingError(f"the array ({lay.describe()}) is not fully addressable from this "
                            "process; gather it with a replicated layout in a jitted program "
                            "first")
    out.flags.writeable = False
    return out
