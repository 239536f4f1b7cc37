"""PJRT plugins for accelerators, found and loaded without importing `jax`.

The CUDA plugin ships as the wheel `jax-cuda12-pjrt` (or `jax-cuda13-pjrt`): a shared library
under the namespace package `jax_plugins`. Its own `initialize()` imports `jax`, so we locate the
library file ourselves and load it through jaxlib's C API client. TPU uses libtpu's library the
same way. Versions must equal jaxlib's (the `cuda12`/`cuda13` extras pin them).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

PLATFORMS = ("cpu", "cuda", "rocm", "tpu")

# (module holding the plugin library, library file name, pip extra that installs it)
_CANDIDATES: dict[str, list[tuple[str, str, str]]] = {
    "cuda": [("jax_plugins.xla_cuda13", "xla_cuda_plugin.so", "cuda13"),
             ("jax_plugins.xla_cuda12", "xla_cuda_plugin.so", "cuda12")],
    "rocm": [("jax_plugins.xla_rocm7", "xla_rocm_plugin.so", "rocm"),
             ("jax_plugins.xla_rocm60", "xla_rocm_plugin.so", "rocm")],
    "tpu": [("libtpu", "libtpu.so", "tpu")],
}


def find(platform: str) -> str | None:
    """The path of an installed plugin library for `platform`, or None."""
    for module, filename, _ in _CANDIDATES.get(platform, []):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            path = os.path.join(folder, filename)
            if os.path.exists(path):
                return path
    return None


def missing_message(platform: str) -> str:
    """What to install to get `platform`."""
    if platform not in _CANDIDATES:
        return f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}"
    extras = sorted({extra for _, _, extra in _CANDIDATES[platform]})
    hint = " or ".join(f'pip install "combinax[{e}]"' for e in extras)
    return (f"no PJRT plugin for platform {platform!r} is installed; {hint} (the plugin's "
            "version must equal jaxlib's, 0.10.2)")


def make_client(platform: str) -> Any | None:
    """A PJRT client for `platform` from its plugin, or None when none is installed."""
    path = find(platform)
    if path is None:
        return None
    from jaxlib import xla_client as xc

    name = platform
    if not xc.pjrt_plugin_loaded(name):
        xc.load_pjrt_plugin_dynamically(name, path)
    if not xc.pjrt_plugin_initialized(name):
        xc.initialize_pjrt_plugin(name)
    options = xc.generate_pjrt_gpu_plugin_options() if platform in ("cuda", "rocm") else {}
    return xc.make_c_api_client(name, options, None)
