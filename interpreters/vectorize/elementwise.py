"""Batching rules of the elementwise primitives: one rule for the whole family.

An elementwise primitive computes each element of its result from the elements at the same
position in its operands, so batching it only has to line the operands up: every batched operand
gets its batch axis in one place, and an unbatched operand is made to fit beside them. The
primitives demand equal shapes except for rank-0 operands, which broadcast; after batching the
per-example shape `S` becomes `(size,) + S`, so:

- an unbatched rank-0 operand stays rank 0 (it still broadcasts, and costs nothing);
- an unbatched operand of shape `S` (rank > 0) is broadcast to `(size,) + S`;
- a batched operand whose examples are rank 0 (shape `(size,)`) is broadcast to `(size,) + S`
  when `S` is not `()`, since a rank-1 operand no longer broadcasts against the others.

The result has its batch axis where the batched operands had theirs. When every batched operand
already has the full per-example rank with its batch axis at the same position `d` and every
unbatched one is rank 0 (the common case: `sin(x)`, `x * 2.0`), the op is re-bound unchanged and
the result is batched at `d`, with no transpose; otherwise batch axes are moved to the front and
the result is batched at 0.

`clamp` is the one member with a positional constraint: its bounds (operands 0 and 2) may be
scalars, but its operand (1) must have the result's shape, so that operand is always brought to
`(size,) + S` when the batch reaches any operand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dsl import lax
from dsl import ops as P
from dsl.core import bind
from dsl.ir import Op
from interpreters.vectorize import BATCH_RULES, moveaxis

FULL_OPERANDS: dict[type[Op], tuple[int, ...]] = {P.Clamp: (1,)}
"""Operands that must have the result's full shape, by primitive (the others may be rank 0)."""

ELEMENTWISE: tuple[type[Op], ...] = (*P.UNARY, *P.BINARY, *P.COMPARE, *P.TERNARY, P.Convert,
                                      P.Bitcast)
"""Every elementwise primitive: the families of `dsl.ops.elementwise` and the two casts."""


def _example_shape(x: Any, dim: int | None) -> tuple[int, ...]:
    """The shape of one example of `x` (its shape without the batch axis)."""
    shape = tuple(x.shape)
    return shape if dim is None else shape[:dim] + shape[dim + 1:]


def _to_front(x: Any, dim: int | None, full: tuple[int, ...], keep_scalar: bool) -> Any:
    """`x` with its batch axis first and shape `full`, or rank 0 if `keep_scalar` allows."""
    if dim is None:
        if x.ndim == 0 and keep_scalar:
            return x
        return lax.broadcast_in_dim(x, full, tuple(range(1, x.ndim + 1)))
    x = moveaxis(x, dim, 0)
    if x.ndim == 1 and len(full) > 1:  # a batch of scalars beside a batch of shape S
        return lax.broadcast_in_dim(x, full, (0,))
    return x


def elementwise_rule(op: Op, values: Sequence[Any], dims: Sequence[int | None], size: int
                     ) -> tuple[list[Any], list[int | None]]:
    """Batch an elementwise primitive (see the module docstring for the layout)."""
    shape: tuple[int, ...] = ()
    for x, dim in zip(values, dims):
        s = _example_shape(x, dim)
        if s:
            shape = s  # the type rule already made every non-scalar example shape equal
    full_operands = FULL_OPERANDS.get(type(op), ())
    batched = {dim for dim in dims if dim is not None}
    # Fast path: all batched operands are full-rank with one shared batch axis, every unbatched
    # one is rank 0 and may stay so: the op applies to the batch as it stands.
    if len(batched) == 1 and all(
            x.ndim == len(shape) + 1 if dim is not None else
            (x.ndim == 0 and i not in full_operands)
            for i, (x, dim) in enumerate(zip(values, dims))):
        return [bind(op, *values)], [batched.pop()]
    full = (size,) + shape
    args = [_to_front(x, dim, full, i not in full_operands)
            for i, (x, dim) in enumerate(zip(values, dims))]
    return [bind(op, *args)], [0]


for _cls in ELEMENTWISE:
    BATCH_RULES[_cls] = elementwise_rule


__all__ = ["ELEMENTWISE", "FULL_OPERANDS", "elementwise_rule"]
