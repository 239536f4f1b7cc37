"""Vectorization: `vmap` as a program -> program transform.

`vmap(f)` stages `f` on one example's types, then walks the program with a *batch dimension*
beside each value: an int (where the batch axis sits in that value) or `None` (the value is the
same for every example). `BATCH_RULES[type(op)](op, values, dims, size) -> (outs, out_dims)`
re-binds primitives on whole batches, so the result is one program over the batch (or, eagerly,
the batched values at once). An equation whose inputs are all unbatched is re-bound unchanged,
except a collective: one over the axis being vectorized (`current_axis()`, pushed by
`vmap(..., axis_name=...)`) acts across the batch even when its operand is the same in every
example (`psum` of a constant, `axis_index`), so collectives always go through their rules, and
so do combinators whose bodies hold a collective over that axis.
Rules move batch dimensions and never loop; a primitive without a rule (a user extension) falls
back to a loop over the batch that stacks the results, with a warning naming the primitive.

Rules are written with DSL ops only, so vmap composes with jit, grad and itself.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dsl import lax
from dsl.core import bind
from dsl.ir import Lit, Op, Program, Var

BatchRule = Callable[..., tuple[Sequence[Any], Sequence[Any]]]
BATCH_RULES: dict[type[Op], BatchRule] = {}

BATCH_AXES: list[str | None] = []
"""The axis name that the batch interpreter running now eliminates (None: an unnamed vmap),
innermost last. `vmap` pushes its `axis_name` around `batch_program`; the nested
`batch_program` calls of the control-flow rules run inside that and so inherit it."""


@contextlib.contextmanager
def batching_axis(name: str | None) -> Iterator[None]:
    """Run `batch_program` (and the rules it calls) as the batch of the axis `name`."""
    BATCH_AXES.append(name)
    try:
        yield
    finally:
        BATCH_AXES.pop()


def current_axis() -> str | None:
    """The axis name of the batch being vectorized now (None if unnamed or none)."""
    return BATCH_AXES[-1] if BATCH_AXES else None


def moveaxis(x: Any, src: int, dst: int) -> Any:
    """`x` with its axis `src` moved to position `dst` (a transpose, or nothing)."""
    nd = x.ndim
    src, dst = src % nd if nd else 0, dst % nd if nd else 0
    if src == dst:
        return x
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return lax.transpose(x, perm)


def bdim_to_front(x: Any, dim: int | None, size: int) -> Any:
    """`x` with its batch dimension first; an unbatched `x` is broadcast to `size` copies."""
    if dim is None:
        return lax.broadcast_in_dim(x, (size,) + tuple(x.shape), tuple(range(1, x.ndim + 1)))
    return moveaxis(x, dim, 0)


def _read(env: dict[Var, Any], a: Var | Lit) -> Any:
    from dsl.array import Array

    return Array(a.value, a.type.weak) if type(a) is Lit else env[a]


def batch_program(program: Program, values: Sequence[Any], dims: Sequence[int | None],
                  size: int) -> tuple[list[Any], list[int | None]]:
    """Run `program` on batched `values` (batch axis `dims[i]`, None = unbatched)."""
    env: dict[Var, Any] = dict(zip(program.inputs, values))
    denv: dict[Var, int | None] = dict(zip(program.inputs, dims))
    axis = current_axis()
    for eqn in program.eqns:
        ins = [_read(env, a) for a in eqn.inputs]
        ds = [None if type(a) is Lit else denv[a] for a in eqn.inputs]
        if all(d is None for d in ds) and not _acts_on(eqn.op, axis):
            outs = bind(eqn.op, *ins, src=eqn.src)
            outs = list(outs) if eqn.op.multiple_results else [outs]
            out_ds: list[int | None] = [None] * len(outs)
        else:
            rule = BATCH_RULES.get(type(eqn.op))
            if rule is None:
                outs, out_ds = _loop_fallback(eqn.op, ins, ds, size)
            else:
                res_outs, res_ds = rule(eqn.op, ins, ds, size)
                outs, out_ds = list(res_outs), list(res_ds)
        env.update(zip(eqn.outputs, outs))
        denv.update(zip(eqn.outputs, out_ds))
    return ([_read(env, a) for a in program.outputs],
            [None if type(a) is Lit else denv[a] for a in program.outputs])


_NAMED: dict[Program, frozenset[str]] = {}


def axes_named_in(program: Program) -> frozenset[str]:
    """The axis names of the collectives in `program` and its nested bodies (cached)."""
    names = _NAMED.get(program)
    if names is None:
        names = frozenset(a for e in program.walk() if e.op.collective
                          for a in e.op.axes)  # type: ignore[attr-defined]
        if len(_NAMED) > 4096:
            _NAMED.clear()
        _NAMED[program] = names
    return names


def _acts_on(op: Op, axis: str | None) -> bool:
    """Whether `op` must go through its rule even with every input unbatched: it is a
    collective, or it holds a body with a collective over the named `axis` of this batch."""
    if op.collective:
        return True
    return axis is not None and any(axis in axes_named_in(p) for p in op.programs())


def _loop_fallback(op: Op, ins: list[Any], dims: list[int | None], size: int
                   ) -> tuple[list[Any], list[int | None]]:
    warnings.warn(f"vmap: primitive {op.name} has no batching rule; looping over the batch "
                  f"of {size} and stacking the results", RuntimeWarning, stacklevel=3)
    from dsl.numpy_api import stack

    rows: list[list[Any]] = []
    fronts = [None if d is None else moveaxis(x, d, 0) for x, d in zip(ins, dims)]
    for i in range(size):
        args = [x if f is None else lax.squeeze(lax.slice(
            f, (i,) + (0,) * (f.ndim - 1), (i + 1,) + tuple(f.shape[1:])), (0,))
            for x, f in zip(ins, fronts)]
        outs = bind(op, *args)
        rows.append(list(outs) if op.multiple_results else [outs])
    n_out = len(rows[0]) if rows else len(op.infer(*(_unbatched_type(x, d) for x, d in
                                                      zip(ins, dims))))
    if not rows:
        raise NotImplementedError(f"vmap: cannot batch {op.name} over an empty batch")
    return [stack([r[k] for r in rows]) for k in range(n_out)], [0] * n_out


def _unbatched_type(x: Any, d: int | None) -> Any:
    t = x.type
    if d is None:
        return t
    return t.with_shape(tuple(n for i, n in enumerate(t.shape) if i != d))


def load_rules() -> None:
    """Import the rule modules (each registers its family's rules)."""
    import importlib

    for family in ("elementwise", "structural", "control", "collectives"):
        try:
            importlib.import_module(f"interpreters.vectorize.{family}")
        except ModuleNotFoundError as e:
            if e.name != f"interpreters.vectorize.{family}":
                raise


__all__ = ["BATCH_AXES", "BATCH_RULES", "axes_named_in", "batch_program", "batching_axis",
           "bdim_to_front", "current_axis", "load_rules", "moveaxis"]
