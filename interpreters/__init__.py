"""The meanings of programs: evaluate (NumPy reference), and later differentiate, vectorize,
shard, lower and jit. Each interpreter is one walker plus one table of rules keyed by op class.
`laws` holds the checkers that tie the interpreters together."""

from interpreters import evaluate  # a callable package: evaluate(f)(*args)
from interpreters import laws
from interpreters.show import show

__all__ = ["evaluate", "laws", "show"]
