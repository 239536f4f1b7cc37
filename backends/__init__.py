"""Where programs run: PJRT clients by platform, devices, and device storage behind `d.Array`.

`cpu` comes with jaxlib (N devices from `XLA_FLAGS=--xla_force_host_platform_device_count=N`, the
habit JAX users have, or from `configure(cpu_devices=N)` before first use); `cuda`, `rocm` and
`tpu` come from installed PJRT plugins (`backends.plugins`), loaded without importing `jax`.
The default backend is the first available of tpu, cuda, rocm, cpu, unless `configure(platform=)`
or the environment variable `COMBINAX_PLATFORM` names one.

Every call into jaxlib's runtime lives in `backends.xla`, except the multi-process runtime
(coordination service, Gloo collectives, the distributed cpu client) in `backends.distributed`.
"""

from __future__ import annotations

import os
from typing import Any

# XLA's C++ INFO logs and warnings (device counts, the GSPMD deprecation notice on every
# SPMD compile) stay quiet by default; set
# TF_CPP_MIN_LOG_LEVEL=0 to see them. This must happen before jaxlib is loaded.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from backends import placement, plugins, xla
from dsl.array import DEVICE_HOOK, Array
from dsl.errors import ArgumentTypeError, ArgumentValueError
from dsl.sharding import DEVICES_HOOK

_CONFIG: dict[str, Any] = {"cpu_devices": None, "platform": None}
_CLIENTS: dict[str, Any] = {}


class BackendUnavailable(ArgumentValueError):
    """The requested platform has no usable PJRT client on this machine."""


def configure(*, cpu_devices: int | None = None, platform: str | None = None) -> None:
    """Choose the number of CPU devices and the default platform; call before first use."""
    if cpu_devices is not None:
        if isinstance(cpu_devices, bool) or not isinstance(cpu_devices, int) or cpu_devices < 1:
            raise ArgumentValueError(f"configure: cpu_devices must be a positive int, got "
                                     f"{cpu_devices!r}")
        if "cpu" in _CLIENTS and len(_CLIENTS["cpu"].devices()) != cpu_devices:
            raise ArgumentValueError(
                f"configure: the cpu client already exists with {len(_CLIENTS['cpu'].devices())} "
                f"devices; call configure(cpu_devices={cpu_devices}) before the first use")
        _CONFIG["cpu_devices"] = cpu_devices
    if platform is not None:
        if platform not in plugins.PLATFORMS:
            raise ArgumentValueError(f"configure: unknown platform {platform!r}; choose one of "
                                     f"{', '.join(plugins.PLATFORMS)}")
        _CONFIG["platform"] = platform


def client(platform: str | None = None) -> Any:
    """The PJRT client of `platform` (default: `default_backend()`), made on first use."""
    platform = platform or default_backend()
    c = _CLIENTS.get(platform)
    if c is None:
        if platform == "cpu":
            c = xla.cpu_client(_CONFIG["cpu_devices"] or xla.cpu_device_count())
        else:
            c = plugins.make_client(platform)
            if c is None:
                raise BackendUnavailable(plugins.missing_message(platform))
        _CLIENTS[platform] = c
        DEVICE_HOOK[0] = xla
    return c


def default_backend() -> str:
    """The platform programs run on by default: `cpu`, `cuda`, `rocm` or `tpu`."""
    chosen = _CONFIG["platform"] or os.environ.get("COMBINAX_PLATFORM")
    if chosen:
        return str(chosen)
    for platform in ("tpu", "cuda", "rocm"):
        if plugins.find(platform) is not None:
            return platform
    return "cpu"


def devices(platform: str | None = None) -> list[Any]:
    """The devices of `platform` (default: `default_backend()`)."""
    return list(client(platform).devices())


def device_put(x: Any, where: Any = None) -> Any:
    """`x` (an array, NumPy array, Python scalar, or a pytree of them) placed on `where`: a
    device (default: the first device of the default backend), a `NamedSharding`, a bare `P`
    (read against the current mesh, `set_mesh`), or a pytree of those matching `x`.

    A sharded result holds one piece per device of the mesh; `x.sharding` and
    `x.addressable_shards` show the layout. Bad specs raise `ShardingError` naming the spec,
    the value's type and the mesh.
    """
    if where is not None and not placement._is_target(where) and not isinstance(
            where, (list, tuple, dict)) and not hasattr(where, "__dataclass_fields__"):
        raise ArgumentTypeError(f"device_put: {where!r} is not a device, a P or a "
                                "NamedSharding (see backends.devices())")
    return placement.device_put(x, where)


def from_dlpack(x: Any, device: Any = None) -> Array:
    """An `Array` sharing (or copying) the memory of any DLPack producer (`__dlpack__`)."""
    if not hasattr(x, "__dlpack__"):
        raise ArgumentTypeError(f"from_dlpack: a {type(x).__name__} does not implement __dlpack__")
    if type(x) is Array:
        return x
    host = np.from_dlpack(x) if device is None or device.platform == "cpu" else None
    if host is not None:
        return device_put(np.array(host), device) if device is not None else Array(
            np.array(host), False)
    return Array._on_device(xla.from_dlpack(x, device))


def local_devices(platform: str | None = None) -> list[Any]:
    """The devices of `platform` that this process drives (all of them unless several processes
    share the job: see `backends.distributed`)."""
    return list(client(platform).local_devices())


def process_index(platform: str | None = None) -> int:
    """This process's index in a multi-process job (0 when it runs alone)."""
    return int(client(platform).process_index())


def process_count(platform: str | None = None) -> int:
    """The number of processes whose devices `devices()` lists (1 when this one runs alone)."""
    return len({d.process_index for d in client(platform).devices()})


def has_client(platform: str) -> bool:
    """Whether the client of `platform` has been made already."""
    return platform in _CLIENTS


def configured_cpu_devices() -> int | None:
    """The CPU device count chosen with `configure(cpu_devices=)`, if any."""
    return _CONFIG["cpu_devices"]


def install_client(platform: str, c: Any) -> None:
    """Make `c` the client of `platform` (`backends.distributed.initialize` installs its
    multi-process cpu client this way)."""
    if platform in _CLIENTS:
        raise ArgumentValueError(f"install_client: the {platform} client already exists")
    _CLIENTS[platform] = c
    DEVICE_HOOK[0] = xla


buffer_device = placement.buffer_device


DEVICES_HOOK[0] = devices

from backends import distributed  # noqa: E402,F401  (backends.distributed.initialize)

__all__ = ["BackendUnavailable", "client", "configure", "default_backend", "device_put",
           "devices", "from_dlpack", "local_devices", "process_count", "process_index"]
