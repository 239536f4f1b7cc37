"""combinax's language: typed array programs built from combinators.

`import dsl as d`, then use NumPy names (`d.sin`, `d.sum`, `d.dot`, ...), combinators (`d.scan`,
`d.cond`, ...) and `d.stage(f)(*args)` to see the program a function builds.
"""

from dsl import dtypes, errors, ops, random
from dsl import numpy_api as _numpy_api
from dsl.array import Array
from dsl.collectives import (all_gather, all_to_all, axis_index, pmean, ppermute, psum,
                             psum_scatter)
from dsl.combinators import (associative_scan, checkpoint_name, cond, fori_loop, map, reduce,
                             scan, switch, while_loop)
from dsl.dtypes import (bfloat16, bool_, complex64, complex128, float16, float32, float64,
                        int8, int16, int32, int64, uint8, uint16, uint32, uint64)
from dsl.errors import (ConcretizationError, DTypeError, ParseError, ShapeError,
                        ShardingError, TransformError, TypeCheckError)
from dsl.ir import Eqn, Lit, Op, Program, Var
from dsl.pytree import (register_pytree, tree_flatten, tree_leaves, tree_map, tree_structure,
                        tree_unflatten)
from dsl.parser import parse
from dsl.sharding import (AxisType, Mesh, NamedSharding, P, PartitionSpec, get_mesh, make_mesh,
                          set_mesh, typeof)
from dsl.sharding_ops import reshard, with_sharding_constraint
from dsl.staging import stage
from dsl.typecheck import typecheck
from dsl.types import FunctionType, TensorType


def _export_api() -> None:
    g = globals()
    for k, v in vars(_numpy_api).items():
        if not k.startswith("_") and k not in g and callable(v):
            g[k] = v


_export_api()
array = _numpy_api.array  # the function d.array(...), not the module dsl.array
errors.install_excepthook()

bool = bool_  # noqa: A001  (d.bool, as in jax.numpy)
pi, e, inf, nan = 3.141592653589793, 2.718281828459045, float("inf"), float("nan")
newaxis = None
