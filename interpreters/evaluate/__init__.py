"""The evaluate interpreter: the reference semantics of every primitive, on NumPy.

This is the living definition of the language. Every other interpreter (lowering to XLA,
differentiation, vectorization) is tested against it. `RULES` maps each op class to a rule
`rule(op, *values) -> sequence of outputs` over NumPy arrays; the walker `eval_program` runs a
program by looking each equation's rule up in that one table. Rules must return arrays of exactly
the dtypes and shapes the op's type rule declares (tests check this).

Importing this package registers the rules with `dsl.core.EVAL_HOOK`, which is how eager mode
(ops on concrete values) reaches them without `dsl` importing the interpreters.

The rules live in modules by family: `elementwise` (unary, binary, comparison, casts),
`structural` (shapes, indexing, reductions, dot, sort), `control` (the combinators, which run
their bodies through `eval_program`) and `collectives` (a documented refusal: collectives need
the named axes of `vmap` or `shard_map`).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import core
from dsl.ir import Lit, Op, Program, Var
from dsl.errors import ArgumentTypeError

Rule = Callable[..., Sequence[np.ndarray]]
RULES: dict[type[Op], Rule] = {}

# Rules run with NumPy's floating-point warnings off: overflow to inf and invalid results (NaN)
# are values of the language, not errors. Switching NumPy's error state through its context
# variable costs a fraction of `np.errstate`, which matters on the eager path.
try:
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj

    _QUIET = _make_extobj(all="ignore")

    def _quiet_enter() -> Any:
        return _extobj_contextvar.set(_QUIET)

    def _quiet_exit(token: Any) -> None:
        _extobj_contextvar.reset(token)
except ImportError:  # another NumPy layout: the public (slower) way
    def _quiet_enter() -> Any:
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def _quiet_exit(token: Any) -> None:
        token.__exit__(None, None, None)


def eval_program(program: Program, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run `program` on NumPy arguments; returns NumPy outputs. Iterative, any size."""
    if len(args) != len(program.inputs):
        raise ArgumentTypeError(f"program of type {program.type} applied to {len(args)} arguments")
    env: dict[Var, np.ndarray] = dict(zip(program.inputs, args))
    rules = RULES
    token = _quiet_enter()
    try:
        for eqn in program.eqns:
            vals = [a.value if type(a) is Lit else env[a] for a in eqn.inputs]
            outs = rules[type(eqn.op)](eqn.op, *vals)
            env.update(zip(eqn.outputs, outs))
    finally:
        _quiet_exit(token)
    return [a.value if type(a) is Lit else env[a] for a in program.outputs]


def apply(op: Op, *values: np.ndarray) -> Sequence[np.ndarray]:
    """Run one primitive on NumPy values (the eager-mode hook)."""
    rule = RULES.get(type(op))
    if rule is None:
        raise NotImplementedError(f"no evaluate rule for primitive {op.name}")
    token = _quiet_enter()
    try:
        return rule(op, *values)
    finally:
        _quiet_exit(token)


def rule_of(op: Op) -> Rule:
    """The rule of `op` (run it between `quiet_enter()` and `quiet_exit(token)`)."""
    rule = RULES.get(type(op))
    if rule is None:
        raise NotImplementedError(f"no evaluate rule for primitive {op.name}")
    return rule


quiet_enter, quiet_exit = _quiet_enter, _quiet_exit


def fast_of(op: Op, values: Sequence[np.ndarray]) -> Callable[..., Any] | None:
    """A bare NumPy function computing `op` on values of these dtypes, or None.

    Only for single-result elementwise ops whose rule is a plain ufunc; the caller checks the
    result dtype once and wraps 0-d results (ufuncs return NumPy scalars for them).
    """
    from interpreters.evaluate.elementwise import _LOW, FAST

    fn = FAST.get(type(op))
    if fn is None or any(v.dtype in _LOW for v in values):
        return None
    return fn


def _register() -> None:
    from interpreters.evaluate import collectives, control, elementwise, structural  # noqa: F401

    core.EVAL_HOOK[0] = sys.modules[__name__]


_register()


def evaluate(fn: Any) -> Any:
    """`evaluate(f)(*args)`: stage `f` and run its program with the reference interpreter.

    `evaluate(program)(*args)` runs an already staged `Program`. Results are `Array`s.
    """
    from dsl.array import Array
    from dsl.numpy_api import asarray
    from dsl.pytree import tree_flatten, tree_unflatten
    from dsl.staging import stage_with_tree

    if isinstance(fn, Program):
        def run_program(*args: Any) -> Any:
            vals = [np.asarray(asarray(a)) for a in args]
            outs = eval_program(fn, vals)
            res = [Array(np.asarray(o), t.weak) for o, t in zip(outs, fn.out_types)]
            return res[0] if len(res) == 1 else tuple(res)
        return run_program

    def run(*args: Any) -> Any:
        program, out_tree, leaves = stage_with_tree(fn, args)
        outs = eval_program(program, [np.asarray(x) for x in leaves])
        res = [Array(np.asarray(o), t.weak) for o, t in zip(outs, program.out_types)]
        return tree_unflatten(out_tree, res)

    return run


class _CallableModule(types.ModuleType):
    """`from interpreters import evaluate` names this package, and `evaluate(f)(*args)` must
    also work (DESIGN section 9): calling the package calls `evaluate`."""

    def __call__(self, fn: Any) -> Any:
        return evaluate(fn)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["RULES", "apply", "eval_program", "evaluate", "fast_of", "quiet_enter", "quiet_exit",
           "rule_of"]
