"""The meanings of programs: evaluate (the NumPy reference), lower + jit (XLA through jaxlib's
PJRT runtime), differentiate (jvp, vjp, grad and the rest), vectorize (vmap), and shard_map
(per-device programs over a mesh). Each interpreter is one walker plus one table of rules keyed
by op class. `laws` holds the checkers that tie them together."""

import backends  # noqa: F401  (tells dsl.make_mesh the devices)
from interpreters import evaluate  # a callable package: evaluate(f)(*args)
from interpreters import laws
from interpreters.differentiate.api import (float0, grad, hessian, jacfwd, jacrev, jvp,
                                            linear_transpose, linearize, value_and_grad, vjp)
from interpreters.differentiate.custom import (checkpoint, checkpoint_policies, custom_jvp,
                                               custom_vjp)
from interpreters.export import Exported, export, load
from interpreters.jit import jit
from interpreters.shard_map import shard_map
from interpreters.show import show
from interpreters import sharding as _sharding  # noqa: F401  (sharding_constraint's rules)
from interpreters.vectorize.api import vmap

__all__ = ["Exported", "checkpoint", "checkpoint_policies", "custom_jvp", "custom_vjp",
           "evaluate", "export", "float0", "grad", "hessian", "jacfwd", "jacrev", "jit", "jvp",
           "laws", "linear_transpose", "linearize", "load", "shard_map", "show",
           "value_and_grad", "vjp", "vmap"]
