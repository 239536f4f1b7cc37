"""Evaluate rules of the combinators: their bodies run through `eval_program`.

`map` and `scan` loop over the leading axis and stack the per-step outputs (a zero-length loop
gives empty arrays of the body's output types). `cond` clamps its index into range and runs only
that branch. `while_loop` runs until its condition is false, or `max_iters` iterations.

`reduce` and `associative_scan` have associative bodies on scalars. When a body is purely
elementwise on scalars (see `_vectorizable`), it is evaluated once per round on whole arrays of
elements instead of once per element: `reduce` combines adjacent pairs until one element is left
(a tree of depth log n), `associative_scan` uses Hillis-Steele doubling (`out[i] = op(out[i-d],
out[i])` for d = 1, 2, 4, ...). Both keep every `op(a, b)` with `a` the earlier elements, so they
are right for any associative op, commutative or not. Other bodies fall back to a Python loop
over the elements in order. `reduce` folds the identity in once: `op(init, op(x0, x1, ...))`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl.ir import Program
from dsl.ops.control import (AssociativeScan, Checkpoint, CheckpointName, Cond, CustomJvpCall,
                              CustomVjpCall, Map, OptimizationBarrier, Reduce, Scan, WhileLoop)
from dsl.types import TensorType
from interpreters.evaluate import RULES, eval_program

_ELEMENTWISE = frozenset({"unary", "binary", "compare", "ternary", "cast"})

Combine = Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]]


def _at(x: np.ndarray, i: int) -> np.ndarray:
    """Slice `i` of the leading axis as an array (never a NumPy scalar)."""
    return x[i, ...]


def _stack(rows: list[list[np.ndarray]], types: Sequence[TensorType], n: int
           ) -> list[np.ndarray]:
    if n == 0:
        return [np.zeros((0,) + t.shape, t.dtype) for t in types]
    return [np.stack([r[j] for r in rows]).astype(t.dtype, copy=False)
            for j, t in enumerate(types)]


def map_evaluate(op: Map, *vals: np.ndarray) -> list[np.ndarray]:
    consts, xs = list(vals[: op.num_consts]), vals[op.num_consts:]
    n = xs[0].shape[0]
    rows = [eval_program(op.body, consts + [_at(x, i) for x in xs]) for i in range(n)]
    return _stack(rows, op.body.out_types, n)


def scan_evaluate(op: Scan, *vals: np.ndarray) -> list[np.ndarray]:
    nc, nk = op.num_consts, op.num_carry
    consts, carry, xs = list(vals[:nc]), list(vals[nc: nc + nk]), vals[nc + nk:]
    rows: list[list[np.ndarray]] = [[] for _ in range(op.length)]
    steps = range(op.length - 1, -1, -1) if op.reverse else range(op.length)
    for i in steps:
        outs = eval_program(op.body, consts + carry + [_at(x, i) for x in xs])
        carry, rows[i] = list(outs[:nk]), list(outs[nk:])
    carry = [np.asarray(c, dtype=v.dtype) for c, v in zip(carry, vals[nc: nc + nk])]
    return carry + _stack(rows, op.body.out_types[nk:], op.length)


@functools.lru_cache(maxsize=512)
def _vectorizable(body: Program) -> bool:
    """Whether `body` is elementwise on scalars only: then it means the same on whole arrays.

    Every atom must be rank 0, so that NumPy broadcasting can never misalign shapes.
    """
    for eqn in body.eqns:
        if type(eqn.op).family not in _ELEMENTWISE:
            return False
        if any(a.type.shape != () for a in eqn.inputs + eqn.outputs):
            return False
    return all(v.type.shape == () for v in body.inputs)


def _combiner(body: Program, consts: list[np.ndarray]) -> Combine:
    """`op` applied elementwise to whole arrays of elements (a vectorizable body)."""
    types = body.out_types

    def combine(a: list[np.ndarray], b: list[np.ndarray]) -> list[np.ndarray]:
        shape = np.broadcast_shapes(*(x.shape for x in a + b))
        outs = eval_program(body, consts + a + b)
        return [o if o.shape == shape and o.dtype == t.dtype
                else np.array(np.broadcast_to(o, shape), dtype=t.dtype)
                for o, t in zip(outs, types)]

    return combine


def _front(x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """`x` with `axes` moved to the front and flattened into one leading axis."""
    moved = np.moveaxis(x, list(axes), list(range(len(axes))))
    m = int(np.prod(moved.shape[: len(axes)], dtype=np.int64))
    return moved.reshape((m,) + moved.shape[len(axes):])  # (-1,) fails when x is empty


def _tree_reduce(combine: Combine, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Combine the elements along the leading axis (at least one) pairwise, in order."""
    while xs[0].shape[0] > 1:
        m = xs[0].shape[0]
        h = m // 2
        pairs = combine([x[0: 2 * h: 2] for x in xs], [x[1: 2 * h: 2] for x in xs])
        if m % 2:
            pairs = [np.concatenate([p, x[m - 1:]]) for p, x in zip(pairs, xs)]
        xs = pairs
    return [_at(x, 0) for x in xs]


def reduce_evaluate(op: Reduce, *vals: np.ndarray) -> list[np.ndarray]:
    consts, rest = list(vals[: op.num_consts]), vals[op.num_consts:]
    k = len(rest) // 2
    xs, inits = [_front(x, op.axes) for x in rest[:k]], list(rest[k:])
    out_shape = xs[0].shape[1:]
    m = xs[0].shape[0]
    if m == 0:
        return [np.array(np.broadcast_to(i, out_shape), dtype=x.dtype) for i, x in zip(inits, xs)]
    if _vectorizable(op.body):
        combine = _combiner(op.body, consts)
        return combine([np.broadcast_to(i, out_shape) for i in inits], _tree_reduce(combine, xs))
    outs = [np.empty(out_shape, x.dtype) for x in xs]
    for idx in np.ndindex(*out_shape):
        acc = inits
        for j in range(m):
            acc = eval_program(op.body, consts + acc + [x[(j,) + idx + (...,)] for x in xs])
        for o, a in zip(outs, acc):
            o[idx] = a
    return outs


def _hillis_steele(combine: Combine, xs: list[np.ndarray]) -> list[np.ndarray]:
    n, d = xs[0].shape[0], 1
    while d < n:
        later = combine([x[:-d] for x in xs], [x[d:] for x in xs])
        xs = [np.concatenate([x[:d], c]) for x, c in zip(xs, later)]
        d *= 2
    return xs


def associative_scan_evaluate(op: AssociativeScan, *vals: np.ndarray) -> list[np.ndarray]:
    consts, xs = list(vals[: op.num_consts]), [np.moveaxis(x, op.axis, 0)
                                               for x in vals[op.num_consts:]]
    if op.reverse:
        xs = [x[::-1] for x in xs]
    n = xs[0].shape[0]
    if _vectorizable(op.body):
        outs = _hillis_steele(_combiner(op.body, consts), xs)
    else:
        outs = [np.empty(x.shape, x.dtype) for x in xs]
        for idx in np.ndindex(*xs[0].shape[1:]):
            acc: list[np.ndarray] = []
            for j in range(n):
                elem = [x[(j,) + idx + (...,)] for x in xs]
                acc = elem if j == 0 else eval_program(op.body, consts + acc + elem)
                for o, a in zip(outs, acc):
                    o[(j,) + idx] = a
    if op.reverse:
        outs = [o[::-1] for o in outs]
    return [np.ascontiguousarray(np.moveaxis(o, 0, op.axis), dtype=x.dtype)
            for o, x in zip(outs, vals[op.num_consts:])]


def cond_evaluate(op: Cond, index: np.ndarray, *ops: np.ndarray) -> list[np.ndarray]:
    i = min(max(int(index), 0), len(op.branches) - 1)
    branch = op.branches[i]
    outs = eval_program(branch, list(ops))
    return [np.asarray(o, dtype=t.dtype) for o, t in zip(outs, branch.out_types)]


def while_loop_evaluate(op: WhileLoop, *vals: np.ndarray) -> list[np.ndarray]:
    nc, nb = op.cond_consts, op.body_consts
    cconsts, bconsts, carry = list(vals[:nc]), list(vals[nc: nc + nb]), list(vals[nc + nb:])
    done = 0
    while (op.max_iters is None or done < op.max_iters) and \
            bool(eval_program(op.cond, cconsts + carry)[0]):
        carry = list(eval_program(op.body, bconsts + carry))
        done += 1
    return [np.asarray(c, dtype=v.dtype) for c, v in zip(carry, vals[nc + nb:])]


RULES[Map] = map_evaluate
RULES[Scan] = scan_evaluate
RULES[Reduce] = reduce_evaluate
RULES[AssociativeScan] = associative_scan_evaluate
RULES[Cond] = cond_evaluate
RULES[WhileLoop] = while_loop_evaluate


# --- calls with custom derivative rules, checkpoints, barriers: run the body -----------------

def _call_body(n_consts_before: Callable[[Any], int], n_consts: Callable[[Any], int]
               ) -> Callable[..., list[np.ndarray]]:
    def rule(op: Any, *vals: np.ndarray) -> list[np.ndarray]:
        body: Program = op.body
        n_args = len(body.in_types) - n_consts(op)
        consts = list(vals[n_consts_before(op): n_consts_before(op) + n_consts(op)])
        args = list(vals[len(vals) - n_args:]) if n_args else []
        return eval_program(body, consts + args)

    return rule


RULES[CustomJvpCall] = _call_body(lambda op: 0, lambda op: op.body_consts)
RULES[CustomVjpCall] = _call_body(lambda op: 0, lambda op: op.body_consts)
RULES[Checkpoint] = lambda op, *vals: eval_program(op.body, list(vals))
RULES[OptimizationBarrier] = lambda op, *vals: list(vals)
RULES[CheckpointName] = lambda op, x: [x]
