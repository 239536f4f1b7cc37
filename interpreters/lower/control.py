"""Lowering rules of the combinators: bodies become regions of StableHLO control-flow ops.

`map` and `scan` are `stablehlo.while` loops over the leading axis: an i32 counter in the carry,
each step cuts row `i` out of every `xs` with `dynamic_slice` and writes the per-step outputs into
preallocated arrays with `dynamic_update_slice` (`scan` with `reverse` visits `length-1-i`). A
`while_loop` is one `stablehlo.while`; with `max_iters` an i64 counter rides in the carry and the
condition becomes `cond(carry) && i < max_iters`. `cond` is `stablehlo.case` on the index clamped
into `[0, branches-1]` in its own dtype first (StableHLO sends any out-of-range index, negative
ones included, to the last branch; the language clamps). Zero-length loops emit no loop.

While and case regions are not isolated from above, so bodies are inlined into them
(`ctx.inline`) and read consts and `xs` straight from the enclosing block: nothing loop-invariant
travels in the carry.

`reduce` and `associative_scan` have scalar bodies, and three lowerings, chosen by the body:

* A body that is elementwise on scalars and captures no consts reduces with one
  `stablehlo.reduce`, the body inlined in its region. StableHLO's body is `(acc..., x...)`, the
  order the language uses, and XLA needs associativity and an identity, not commutativity.
* An elementwise body is otherwise *widened*: retyped from scalars to whole arrays (`_vectorized`,
  just as evaluate runs it through NumPy broadcasting) and inlined on slices. `associative_scan`
  is Hillis-Steele doubling (`out[i] = op(out[i-d], out[i])` for d = 1, 2, 4, ...) and a `reduce`
  with consts is the pairwise tree over the flattened reduced axes, then `op(init, total)`: the
  exact association order of evaluate's vectorized path. Reduce regions are isolated from above
  and cannot see consts; widening needs none of that.
* Any other body (structural ops, nested combinators, or a non-scalar const) runs in a
  `stablehlo.while` loop over the elements in order, evaluate's fallback: XLA's CPU emitters abort
  on a conditional inside a reduce or map computation, so such bodies never go into one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl.ir import Eqn, Program, Var
from dsl.ops.control import (AssociativeScan, Checkpoint, CheckpointName, Cond, CustomJvpCall,
                              CustomVjpCall, Map, OptimizationBarrier, Reduce, Scan, WhileLoop)
from dsl.types import TensorType
from interpreters.lower import RULES, Ctx, Value, gather_reduced, i64_array

_I32 = TensorType((), dtypes.int32)
_ELEMENTWISE = frozenset({"unary", "binary", "compare", "ternary", "cast"})


# ----------------------------------------------------------------------------------------------
# Small emitters shared by the rules


def _scalar(ctx: Ctx, value: int, t: TensorType = _I32) -> Value:
    return ctx.constant(value, t)


def _compare(ctx: Ctx, a: Value, b: Value, direction: str) -> Value:
    """Compare two loop counters (signed integers)."""
    attrs = {"comparison_direction": f"#stablehlo<comparison_direction {direction}>",
             "compare_type": "#stablehlo<comparison_type SIGNED>"}
    return ctx.op("stablehlo.compare", [a, b], [TensorType((), dtypes.bool_)],
                  attributes=attrs)[0]


def _binary(ctx: Ctx, name: str, a: Value, b: Value) -> Value:
    return ctx.op(f"stablehlo.{name}", [a, b], [a.type])[0]


def _reshape(ctx: Ctx, x: Value, shape: tuple[int, ...]) -> Value:
    if x.type.shape == shape:
        return x
    return ctx.op("stablehlo.reshape", [x], [TensorType(shape, x.type.dtype)])[0]


def _broadcast(ctx: Ctx, x: Value, shape: tuple[int, ...]) -> Value:
    """A rank-0 value broadcast to `shape`."""
    if x.type.shape == shape:
        return x
    return ctx.op("stablehlo.broadcast_in_dim", [x], [TensorType(shape, x.type.dtype)],
                  attributes={"broadcast_dimensions": i64_array([])})[0]


def _slice(ctx: Ctx, x: Value, axis: int, start: int, limit: int, stride: int = 1) -> Value:
    shape = list(x.type.shape)
    starts, limits, strides = [0] * len(shape), list(shape), [1] * len(shape)
    starts[axis], limits[axis], strides[axis] = start, limit, stride
    shape[axis] = max(0, -(-(limit - start) // stride))
    return ctx.op("stablehlo.slice", [x], [TensorType(tuple(shape), x.type.dtype)],
                  attributes={"start_indices": i64_array(starts),
                              "limit_indices": i64_array(limits),
                              "strides": i64_array(strides)})[0]


def _concat(ctx: Ctx, parts: Sequence[Value], axis: int) -> Value:
    shape = list(parts[0].type.shape)
    shape[axis] = sum(p.type.shape[axis] for p in parts)
    return ctx.op("stablehlo.concatenate", parts, [TensorType(tuple(shape), parts[0].type.dtype)],
                  attributes={"dimension": f"{axis} : i64"})[0]


def _row(ctx: Ctx, x: Value, i: Value) -> Value:
    """Row `i` (a traced index) of the leading axis, without that axis."""
    zero = [_scalar(ctx, 0)] * (x.type.ndim - 1)
    sizes = (1,) + x.type.shape[1:]
    piece = ctx.op("stablehlo.dynamic_slice", [x, i, *zero], [TensorType(sizes, x.type.dtype)],
                   attributes={"slice_sizes": i64_array(sizes)})[0]
    return _reshape(ctx, piece, x.type.shape[1:])


def _put_row(ctx: Ctx, ys: Value, y: Value, i: Value) -> Value:
    """`ys` with row `i` of its leading axis replaced by `y`."""
    zero = [_scalar(ctx, 0)] * y.type.ndim
    piece = _reshape(ctx, y, (1,) + y.type.shape)
    return ctx.op("stablehlo.dynamic_update_slice", [ys, piece, i, *zero], [ys.type])[0]


def _zeros(ctx: Ctx, t: TensorType) -> Value:
    return ctx.constant(np.zeros((), t.dtype), t)


def _while(ctx: Ctx, init: Sequence[Value], cond: Callable[[Ctx, list[Value]], Value],
           body: Callable[[Ctx, list[Value]], Sequence[Value]]) -> list[Value]:
    """`stablehlo.while` over the carry `init`: `cond` returns the bool, `body` the new carry."""
    types = [v.type for v in init]
    regions = [ctx.region(types, lambda c, args: [cond(c, args)]), ctx.region(types, body)]
    return ctx.op("stablehlo.while", init, types, regions=regions)


def _count(ctx: Ctx, n: int, init: Sequence[Value],
           step: Callable[[Ctx, Value, list[Value]], Sequence[Value]]) -> list[Value]:
    """`for i in range(n): carry = step(i, carry)` as a while loop with an i32 counter."""
    def cond(c: Ctx, args: list[Value]) -> Value:
        return _compare(c, args[0], _scalar(c, n), "LT")

    def body(c: Ctx, args: list[Value]) -> list[Value]:
        i = args[0]
        return [_binary(c, "add", i, _scalar(c, 1)), *step(c, i, args[1:])]

    return _while(ctx, [_scalar(ctx, 0), *init], cond, body)[1:]


# ----------------------------------------------------------------------------------------------
# map, scan, while_loop, cond


def map_lower(ctx: Ctx, op: Map, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    """`map` lowers as its vectorized body (one batched computation); `sequential=True` keeps a
    loop, which holds one slice's temporaries at a time."""
    consts, xs = ins[: op.num_consts], ins[op.num_consts:]
    n = xs[0].type.shape[0]
    if n == 0:
        return [_zeros(ctx, t) for t in outs]
    if not op.sequential:
        return ctx.inline(_vectorized_body(op, n), ins)

    def step(c: Ctx, i: Value, ys: list[Value]) -> list[Value]:
        y = c.inline(op.body, consts + [_row(c, x, i) for x in xs])
        return [_put_row(c, acc, v, i) for acc, v in zip(ys, y)]

    return _count(ctx, n, [_zeros(ctx, t) for t in outs], step)


@functools.lru_cache(maxsize=256)
def _vectorized_body(op: Map, n: int) -> Program:
    """The program computing a whole `map` at once: its body batched over the leading axis."""
    from dsl.core import stage_flat
    from interpreters.vectorize import batch_program, load_rules, moveaxis

    load_rules()
    nc = op.num_consts
    in_types = list(op.body.in_types[:nc]) + [
        TensorType((n, *t.shape), t.dtype, t.weak) for t in op.body.in_types[nc:]]

    def batched(*args: Any) -> list[Any]:
        res, dims = batch_program(op.body, list(args), [None] * nc + [0] * (len(args) - nc), n)
        from dsl import lax

        return [lax.broadcast_in_dim(r, (n, *r.shape), tuple(range(1, r.ndim + 1)))
                if d is None else moveaxis(r, d, 0) for r, d in zip(res, dims)]

    program, captured, _ = stage_flat(batched, in_types)
    assert not captured  # the body is closed, so its batched form is too
    return program


def scan_lower(ctx: Ctx, op: Scan, ins: list[Value], outs: tuple[TensorType, ...]
               ) -> list[Value]:
    nc, nk, n = op.num_consts, op.num_carry, op.length
    consts, carry, xs = ins[:nc], ins[nc: nc + nk], ins[nc + nk:]
    stacked = [_zeros(ctx, t) for t in outs[nk:]]
    if n == 0:
        return carry + stacked

    def step(c: Ctx, i: Value, state: list[Value]) -> list[Value]:
        at = _binary(c, "subtract", _scalar(c, n - 1), i) if op.reverse else i
        res = c.inline(op.body, consts + state[:nk] + [_row(c, x, at) for x in xs])
        return res[:nk] + [_put_row(c, acc, y, at) for acc, y in zip(state[nk:], res[nk:])]

    return _count(ctx, n, carry + stacked, step)


def while_loop_lower(ctx: Ctx, op: WhileLoop, ins: list[Value], outs: tuple[TensorType, ...]
                     ) -> list[Value]:
    nc, nb = op.cond_consts, op.body_consts
    cconsts, bconsts, carry = ins[:nc], ins[nc: nc + nb], ins[nc + nb:]
    if op.max_iters is None:
        return _while(ctx, carry, lambda c, args: c.inline(op.cond, cconsts + args)[0],
                      lambda c, args: c.inline(op.body, bconsts + args))
    if op.max_iters == 0:
        return list(carry)
    # i64: `max_iters` is any Python int
    count_t = TensorType((), dtypes.int64)

    def cond(c: Ctx, args: list[Value]) -> Value:
        more = _compare(c, args[0], _scalar(c, op.max_iters, count_t), "LT")
        return _binary(c, "and", c.inline(op.cond, cconsts + args[1:])[0], more)

    def body(c: Ctx, args: list[Value]) -> list[Value]:
        return [_binary(c, "add", args[0], _scalar(c, 1, count_t)),
                *c.inline(op.body, bconsts + args[1:])]

    return _while(ctx, [_scalar(ctx, 0, count_t), *carry], cond, body)[1:]


def cond_lower(ctx: Ctx, op: Cond, ins: list[Value], outs: tuple[TensorType, ...]
               ) -> list[Value]:
    index, operands = ins[0], ins[1:]
    n = len(op.branches)
    if n == 1:
        return ctx.inline(op.branches[0], operands)
    # clamp in the index's own dtype, so that a wide index cannot wrap into range on the convert
    t = index.type
    hi = min(n - 1, int(np.iinfo(t.dtype).max))
    index = ctx.op("stablehlo.clamp", [_scalar(ctx, 0, t), index, _scalar(ctx, hi, t)], [t])[0]
    if t.dtype != dtypes.int32:
        index = ctx.op("stablehlo.convert", [index], [_I32])[0]
    regions = [ctx.region([], lambda c, _, b=b: c.inline(b, operands)) for b in op.branches]
    return ctx.op("stablehlo.case", [index], outs, regions=regions)


# ----------------------------------------------------------------------------------------------
# reduce and associative_scan: scalar bodies applied to whole arrays


@functools.lru_cache(maxsize=256)
def _vectorized(body: Program, shape: tuple[int, ...]) -> Program | None:
    """`body` retyped to work on whole arrays of `shape`, when it is elementwise on scalars.

    Every equation must be elementwise on rank-0 atoms and read at least one variable; literals
    stay rank 0 (the elementwise rules broadcast rank-0 operands). Evaluate runs such bodies the
    same way (NumPy broadcasting), so both associate identically.
    """
    if not all(v.type.shape == () for v in body.inputs):
        return None
    new: dict[Var, Var] = {}

    def wide(v: Var) -> Var:
        return new.setdefault(v, Var(TensorType(shape, v.type.dtype, v.type.weak)))

    eqns = []
    for eqn in body.eqns:
        if type(eqn.op).family not in _ELEMENTWISE or not any(
                type(a) is Var for a in eqn.inputs) or any(
                a.type.shape != () for a in eqn.inputs + eqn.outputs):
            return None
        ins = tuple(wide(a) if type(a) is Var else a for a in eqn.inputs)
        eqns.append(Eqn(eqn.op, ins, tuple(wide(v) for v in eqn.outputs), eqn.src))
    outs = tuple(wide(a) if type(a) is Var else a for a in body.outputs)
    return Program(tuple(wide(v) for v in body.inputs), tuple(eqns), outs)


def _apply(ctx: Ctx, wide: Program, consts: Sequence[Value], args: Sequence[Value]
           ) -> list[Value]:
    """The widened body (`_vectorized`) on `args`, all of its shape; consts are rank 0."""
    shape = args[0].type.shape
    outs = ctx.inline(wide, [_broadcast(ctx, c, shape) for c in consts] + list(args))
    return [_broadcast(ctx, o, shape) for o in outs]  # a literal output stays rank 0


def _to_front(ctx: Ctx, x: Value, axes: Sequence[int]) -> Value:
    """`x` with `axes` moved to the front and flattened into one leading axis."""
    rest = [d for d in range(x.type.ndim) if d not in axes]
    perm = list(axes) + rest
    if perm != list(range(x.type.ndim)):
        moved = tuple(x.type.shape[d] for d in perm)
        x = ctx.op("stablehlo.transpose", [x], [TensorType(moved, x.type.dtype)],
                   attributes={"permutation": i64_array(perm)})[0]
    m = int(np.prod([x.type.shape[d] for d in range(len(axes))], dtype=np.int64))
    return _reshape(ctx, x, (m,) + x.type.shape[len(axes):])


def _tree_reduce(ctx: Ctx, body: Program, consts: list[Value], xs: list[Value],
                 inits: list[Value], out_shape: tuple[int, ...]) -> list[Value]:
    """Evaluate's pairwise tree over the leading axis of `xs` (at least one row), then
    `op(init, total)`; `body` is elementwise on scalars."""
    m = xs[0].type.shape[0]
    while m > 1:
        h = m // 2
        a = [_slice(ctx, x, 0, 0, 2 * h, 2) for x in xs]
        b = [_slice(ctx, x, 0, 1, 2 * h, 2) for x in xs]
        pairs = _apply(ctx, _wide(body, a[0].type.shape), consts, a + b)
        if m % 2:
            pairs = [_concat(ctx, [p, _slice(ctx, x, 0, m - 1, m)], 0) for p, x in zip(pairs, xs)]
        xs, m = pairs, (m + 1) // 2
    total = [_reshape(ctx, x, out_shape) for x in xs]
    first = [_broadcast(ctx, i, out_shape) for i in inits]
    return _apply(ctx, _wide(body, out_shape), consts, first + total)


def _wide(body: Program, shape: tuple[int, ...]) -> Program:
    wide = _vectorized(body, shape)
    assert wide is not None, "checked by the caller"
    return wide


def _fold(ctx: Ctx, body: Program, consts: list[Value], xs: list[Value], inits: list[Value],
          out_shape: tuple[int, ...]) -> list[Value]:
    """Evaluate's fallback for other bodies: per output element, `acc = op(acc, x[j])` over the
    leading axis in order, as one loop over the flattened elements (`acc[k % r]`)."""
    r = int(np.prod(out_shape, dtype=np.int64))
    flat = [_reshape(ctx, x, (x.type.shape[0] * r,)) for x in xs]
    accs = [_broadcast(ctx, i, (r,)) for i in inits]

    def step(c: Ctx, k: Value, acc: list[Value]) -> list[Value]:
        at = _binary(c, "remainder", k, _scalar(c, r))
        res = c.inline(body, [*consts, *(_row(c, a, at) for a in acc),
                              *(_row(c, x, k) for x in flat)])
        return [_put_row(c, a, v, at) for a, v in zip(acc, res)]

    outs = _count(ctx, flat[0].type.shape[0], accs, step)
    return [_reshape(ctx, o, out_shape) for o in outs]


def reduce_lower(ctx: Ctx, op: Reduce, ins: list[Value], outs: tuple[TensorType, ...]
                 ) -> list[Value]:
    consts, rest = ins[: op.num_consts], ins[op.num_consts:]
    k = len(rest) // 2
    xs, inits = rest[:k], rest[k:]
    out_shape = outs[0].shape
    elementwise = _vectorized(op.body, ()) is not None
    if not consts and elementwise:
        xs = [gather_reduced(ctx, x, op.axes) for x in xs]  # XLA can't all-reduce a user body
        elems = [TensorType((), x.type.dtype) for x in xs]
        region = ctx.region(elems + elems, lambda c, args: c.inline(op.body, args))
        return ctx.op("stablehlo.reduce", [*xs, *inits], outs, regions=[region],
                      attributes={"dimensions": i64_array(op.axes)})
    xs = [_to_front(ctx, x, op.axes) for x in xs]
    if 0 in xs[0].type.shape:
        return [_broadcast(ctx, i, out_shape) for i in inits]
    if elementwise and all(c.type.ndim == 0 for c in consts):
        return _tree_reduce(ctx, op.body, consts, xs, inits, out_shape)
    return _fold(ctx, op.body, consts, xs, inits, out_shape)


def _reverse(ctx: Ctx, x: Value, axis: int) -> Value:
    return ctx.op("stablehlo.reverse", [x], [x.type],
                  attributes={"dimensions": i64_array([axis])})[0]


def _hillis_steele(ctx: Ctx, body: Program, consts: list[Value], xs: list[Value], axis: int
                   ) -> list[Value]:
    n, d = xs[0].type.shape[axis], 1
    while d < n:
        a = [_slice(ctx, x, axis, 0, n - d) for x in xs]
        b = [_slice(ctx, x, axis, d, n) for x in xs]
        later = _apply(ctx, _wide(body, a[0].type.shape), consts, a + b)
        xs = [_concat(ctx, [_slice(ctx, x, axis, 0, d), c], axis) for x, c in zip(xs, later)]
        d *= 2
    return xs


def _sequential_scan(ctx: Ctx, body: Program, consts: list[Value], xs: list[Value], axis: int
                     ) -> list[Value]:
    """Evaluate's fallback for other bodies: `out[j] = op(out[j-1], x[j])` in order, as one loop
    over the flattened elements of `xs` with `axis` moved to the front."""
    shape = xs[0].type.shape
    perm = [axis] + [d for d in range(len(shape)) if d != axis]
    moved = [_to_front(ctx, x, [axis]) for x in xs]
    r = int(np.prod(moved[0].type.shape[1:], dtype=np.int64))
    flat = [_reshape(ctx, x, (shape[axis] * r,)) for x in moved]

    def step(c: Ctx, t: Value, out: list[Value]) -> list[Value]:
        k = _binary(c, "add", t, _scalar(c, r))  # element k follows element t = k - r
        res = c.inline(body, [*consts, *(_row(c, o, t) for o in out),
                              *(_row(c, x, k) for x in flat)])
        return [_put_row(c, o, v, k) for o, v in zip(out, res)]

    outs = _count(ctx, flat[0].type.shape[0] - r, flat, step)
    back = [int(i) for i in np.argsort(perm)]
    res = []
    for o, x in zip(outs, moved):
        o = _reshape(ctx, o, x.type.shape)
        if back != list(range(len(shape))):
            o = ctx.op("stablehlo.transpose", [o], [TensorType(shape, o.type.dtype)],
                       attributes={"permutation": i64_array(back)})[0]
        res.append(o)
    return res


def associative_scan_lower(ctx: Ctx, op: AssociativeScan, ins: list[Value],
                           outs: tuple[TensorType, ...]) -> list[Value]:
    consts, xs = ins[: op.num_consts], ins[op.num_consts:]
    axis = op.axis
    if 0 in xs[0].type.shape or xs[0].type.shape[axis] == 1:
        return list(xs)
    if op.reverse:
        xs = [_reverse(ctx, x, axis) for x in xs]
    if _vectorized(op.body, ()) is not None and all(c.type.ndim == 0 for c in consts):
        xs = _hillis_steele(ctx, op.body, consts, xs, axis)
    else:
        xs = _sequential_scan(ctx, op.body, consts, xs, axis)
    if op.reverse:
        xs = [_reverse(ctx, x, axis) for x in xs]
    return list(xs)


RULES[Map] = map_lower
RULES[Scan] = scan_lower
RULES[WhileLoop] = while_loop_lower
RULES[Cond] = cond_lower
RULES[Reduce] = reduce_lower
RULES[AssociativeScan] = associative_scan_lower


# --- calls with custom derivative rules and checkpoints lower as their body; barriers as
# stablehlo.optimization_barrier (XLA must not merge recomputed values with the originals) ----

def _call_lower(ctx: Ctx, op: Any, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
    body: Program = op.body
    n_consts = getattr(op, "body_consts", 0) if not isinstance(op, Checkpoint) else 0
    n_args = len(body.in_types) - n_consts
    args = ins[len(ins) - n_args:] if n_args else []
    return ctx.inline(body, list(ins[:n_consts]) + list(args))


def optimization_barrier_lower(ctx: Ctx, op: OptimizationBarrier, ins: list[Value],
                               outs: tuple[TensorType, ...]) -> list[Value]:
    if not ins:
        return []
    return ctx.op("stablehlo.optimization_barrier", ins, outs)


def checkpoint_name_lower(ctx: Ctx, op: CheckpointName, ins: list[Value],
                          outs: tuple[TensorType, ...]) -> list[Value]:
    return [ins[0]]  # only a marker for checkpoint's policies


RULES[CustomJvpCall] = _call_lower
RULES[CustomVjpCall] = _call_lower
RULES[Checkpoint] = _call_lower
RULES[OptimizationBarrier] = optimization_barrier_lower
RULES[CheckpointName] = checkpoint_name_lower
