"""Every call into jaxlib's XLA runtime lives in this module (jaxlib's Python surface below `jax`
is internal and changes between releases; keeping it in one place makes an upgrade one file).

Facts this module relies on are in `JAXLIB.md`: `compile_and_load` takes MLIR text;
`batched_device_put` needs an aval-like object and a Python subclass of a C++ sharding class;
`execute_sharded(...).consume_with_handlers(...)` with `_skip_checks=True` is the fast way back.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from dsl.types import TensorType


class Aval:
    """What jaxlib's put and result handlers read from a value's type."""

    __slots__ = ("shape", "dtype", "weak_type", "ndim")

    def __init__(self, t: TensorType):
        self.shape = t.shape
        self.dtype = t.dtype
        self.weak_type = False
        self.ndim = len(t.shape)


@functools.lru_cache(maxsize=None)
def aval_of(t: TensorType) -> Aval:
    """One shared aval per (shape, dtype): buffers of one type carry the same aval object, so
    `jit` can key its cache on the aval's identity."""
    return Aval(t)


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

    return OneDevice(device)


def compile_text(text: str | bytes, devices: Sequence[Any], client: Any | None = None) -> Any:
    """Compile a StableHLO module (MLIR text or bytecode) for `devices`; returns the loaded
    executable."""
    xc = _xc()
    client = client if client is not None else devices[0].client
    return client.compile_and_load(text, xc.DeviceList(tuple(devices)), xc.CompileOptions())


def put(value: np.ndarray, t: TensorType, device: Any) -> Any:
    """Copy a host array (of exactly type `t`) to `device`."""
    return _xc().batched_device_put(aval_of(_plain(t)), single_device_sharding(device), [value],
                                    [device], enable_x64=True)


@functools.lru_cache(maxsize=4096)
def result_handler(t: TensorType, device: Any) -> Any:
    return _xc().array_result_handler(aval_of(_plain(t)), single_device_sharding(device), True,
                                      _skip_checks=True)


def _plain(t: TensorType) -> TensorType:
    return t if not t.weak and t.sharding is None else TensorType(t.shape, t.dtype)


def execute(executable: Any, buffers: Sequence[Any], out_types: Sequence[TensorType],
            device: Any) -> list[Any]:
    """Run a single-device executable on device buffers; returns device buffers."""
    handlers = [result_handler(t, device) for t in out_types]
    return executable.execute_sharded(list(buffers)).consume_with_handlers(handlers)


def to_host(buffer: Any) -> np.ndarray:
    """A host NumPy array of a device buffer (zero-copy and read-only on CPU)."""
    return buffer._single_device_array_to_np_array_did_copy()[0]


def to_dlpack(buffer: Any, stream: Any = None) -> Any:
    """A DLPack capsule sharing a device buffer's memory."""
    import jaxlib._jax as runtime

    return runtime.buffer_to_dlpack_managed_tensor(buffer, stream=stream)


def dlpack_device(buffer: Any) -> tuple[int, int]:
    """(DLPack device type, device index) of a buffer: 1 is CPU, 2 CUDA, 10 ROCm."""
    device = buffer._sharding._device_assignment[0]
    kind = {"cpu": 1, "cuda": 2, "rocm": 10}.get(device.platform, 1)
    return (kind, device.local_hardware_id if kind != 1 else 0)


def from_dlpack(x: Any, device: Any) -> Any:
    """A device buffer built from a DLPack producer living on `device`."""
    import jaxlib._jax as runtime

    return runtime.dlpack_managed_tensor_to_buffer(x.__dlpack__(), device, None)
