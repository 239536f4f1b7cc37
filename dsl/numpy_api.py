"""The NumPy-named user API, gathered from its modules (all derived from primitives).

`dsl.array.ArrayOps` (the operators of arrays and tracers) calls into this namespace.
"""

from __future__ import annotations

import importlib
import sys

from dsl.array import ArrayOps as _ArrayOps  # noqa: F401  (loads the module)
from dsl.np_elementwise import *  # noqa: F401,F403
from dsl.np_promotion import *  # noqa: F401,F403  (what np_elementwise exported before its split)
from dsl.np_elementwise import asarray, broadcast_shapes, promote_args  # noqa: F401

_MODULES = ("dsl.np_creation", "dsl.np_manip", "dsl.np_reductions", "dsl.np_statistics",
            "dsl.np_cumulative", "dsl.np_indexing", "dsl.np_linalg")
for _name in _MODULES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _e:  # a module still being written
        if _e.name != _name:
            raise
        continue
    for _k in getattr(_mod, "__all__", ()):
        globals()[_k] = getattr(_mod, _k)

sys.modules["dsl.array"]._api = sys.modules[__name__]  # (d.array is the function)
