"""`shard_map`: per-device programs over a mesh (JAX's manual mode).

- `api`: the user function `shard_map(f, mesh=None, in_specs=..., out_specs=..., check_vma=True)`.
- `semantics`: what it means, as nested named `vmap`s (the evaluate rule), and the helpers the
  transformation rules share.
- `rules`: its evaluate, vmap, jvp and vjp rules (each keeps the `shard_map`).
- `lower`: the manual region of XLA's SPMD partitioner, and the collectives' StableHLO.
- `vma`: which mesh axes each value of a body varies over (`check_vma`).

The primitive itself is `dsl.ops.shard_map.ShardMap`. Importing this package registers the rules.
"""

from interpreters.shard_map import lower as _lower  # noqa: F401  (registers the lowering rules)
from interpreters.shard_map import rules as _rules  # noqa: F401  (registers the other rules)
from interpreters.shard_map.api import shard_map

__all__ = ["shard_map"]
