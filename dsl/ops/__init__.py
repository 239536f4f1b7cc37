"""The closed set of primitives, by family. `ALL_OPS` lists every primitive class."""

from dsl.ir import OPS
from dsl.ops.collectives import *  # noqa: F401,F403
from dsl.ops.collectives import COLLECTIVES
from dsl.ops.control import *  # noqa: F401,F403
from dsl.ops.control import CONTROL
from dsl.ops.elementwise import *  # noqa: F401,F403
from dsl.ops.elementwise import BINARY, COMPARE, TERNARY, UNARY
from dsl.ops.reductions import *  # noqa: F401,F403
from dsl.ops.reductions import CUMULATIVE, REDUCTIONS
from dsl.ops.shard_map import ShardMap  # noqa: F401
from dsl.ops.sharding import ShardingConstraint  # noqa: F401
from dsl.ops.structural import *  # noqa: F401,F403

ALL_OPS = tuple(OPS.values())

__all__ = ["ALL_OPS", "BINARY", "COLLECTIVES", "COMPARE", "CONTROL", "CUMULATIVE", "OPS",
           "REDUCTIONS", "TERNARY", "UNARY"]
