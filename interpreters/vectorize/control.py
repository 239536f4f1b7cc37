"""Batching rules of the control-flow primitives: the combinators and the calls with bodies.

A batched combinator is the same combinator over a batched body. The new body is staged by running
`batch_program` on tracers of the batched operand types, so its inputs have the batch axis where
the operands have it and its outputs tell where theirs ended up. Where a body's outputs must have
fixed types (a loop carry, the branches of a `cond`, the outputs and tangents of a custom rule),
the batch axes are settled first and the body is restaged with every such output moved to (or
broadcast along) axis 0.

- `map` / `scan`: the mapped axis stays the leading one, so a batched `xs` has its batch axis moved
  to position 1 and each slice is batched on axis 0. A loop carry that becomes batched after one
  step must be batched from the start; the batched carries are found by a fixed point (restaging
  until the set stops growing) and their initial values are broadcast.
- `reduce` / `associative_scan`: the batch axis goes in front (unbatched operands are broadcast)
  and the axes shift by one; the scalar body is unchanged. A batched const or initial value would
  make the scalar body non-scalar, so that case becomes a `map` of the original op over the batch.
- `cond`: an unbatched index stays a `cond` over batched branches whose outputs agree on their
  batch axes. A batched index runs every branch on the whole batch and selects per example.
- `while_loop`: an unbatched predicate stays a loop over the batched body. A batched predicate runs
  while any lane is still going; each step keeps the new carry only in the lanes whose predicate
  holds, so a finished lane stays put (its predicate stays false) and `max_iters` still bounds
  every lane's iterations.
- `custom_jvp_call` / `custom_vjp_call` / `checkpoint`: the bodies and the rule programs are
  batched alike, so the custom rules survive vmap. A `bwd` rule's cotangent for an unbatched
  argument that comes out batched is summed over the batch (the argument is shared by every
  example). `optimization_barrier` is the identity on every operand, `checkpoint_name` on
  its one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from dsl import lax
from dsl import ops as P
from dsl.core import bind, stage_flat
from dsl.errors import TransformError
from dsl.ir import Op, Program
from dsl.types import TensorType
from interpreters.vectorize import BATCH_RULES, batch_program, bdim_to_front, moveaxis

Dim = int | None


# ----------------------------------------------------------------------------------------------
# Helpers


def _closed(fn: Callable[..., Sequence[Any]], types: Sequence[TensorType]) -> Program:
    """Stage `fn` on abstract inputs of `types` into a closed program."""
    program, captured, _ = stage_flat(fn, list(types))
    if captured:  # the batched bodies only ever see their own tracers
        raise TransformError("vmap: internal error: a batched combinator body captured values "
                             "from outside it")
    return program


def _types(values: Sequence[Any]) -> list[TensorType]:
    return [x.type for x in values]


def _batched_type(t: TensorType, dim: Dim, size: int) -> TensorType:
    """`t` (one example's type) with a batch axis of `size` inserted at `dim` (replicated; the
    other dimensions keep their shardings)."""
    if dim is None:
        return t
    shape = list(t.shape)
    shape.insert(dim, size)
    if t.sharding is None:
        return t.with_shape(tuple(shape))
    parts = list(t.sharding)
    parts.insert(dim, ())
    return TensorType(tuple(shape), t.dtype, t.weak, tuple(parts))


def _without_dim(t: TensorType, dim: int) -> TensorType:
    """`t` without dimension `dim` (the other dimensions keep their shardings)."""
    shape = tuple(n for i, n in enumerate(t.shape) if i != dim)
    if t.sharding is None:
        return t.with_shape(shape)
    parts = tuple(a for i, a in enumerate(t.sharding) if i != dim)
    return TensorType(shape, t.dtype, t.weak, parts if any(parts) else None)


def _force(x: Any, dim: Dim, want: bool, size: int) -> Any:
    """`x` with its batch axis at 0 when `want`, else `x` as it is (a loop carry that came out
    batched against `want` makes the fixed point grow and is restaged)."""
    return bdim_to_front(x, dim, size) if want else x


def _split(values: Sequence[Any], *sizes: int) -> list[list[Any]]:
    out, k = [], 0
    for n in sizes:
        out.append(list(values[k: k + n]))
        k += n
    out.append(list(values[k:]))
    return out


def _mask(pred: Any, like: Any) -> Any:
    """The per-example bool `pred` (shape [B]) broadcast against `like` (batch axis 0)."""
    return lax.broadcast_in_dim(pred, tuple(like.shape), (0,))


def _map_over_batch(op: Op, values: list[Any], dims: list[Dim], size: int
                    ) -> tuple[list[Any], list[Dim]]:
    """`op` applied per example by a `map` over the batch axis (a combinator, not a loop)."""
    consts = [x for x, d in zip(values, dims) if d is None]
    xs = [moveaxis(x, d, 0) for x, d in zip(values, dims) if d is not None]

    def body(*args: Any) -> list[Any]:
        cs, slices = iter(args[: len(consts)]), iter(args[len(consts):])
        operands = [next(cs) if d is None else next(slices) for d in dims]
        outs = bind(op, *operands)
        return list(outs) if op.multiple_results else [outs]

    types = _types(consts) + [_without_dim(x.type, 0) for x in xs]
    program = _closed(body, types)
    outs = bind(P.Map(body=program, num_consts=len(consts)), *consts, *xs)
    return list(outs), [0] * len(outs)


# ----------------------------------------------------------------------------------------------
# map and scan


def map_vectorize(op: P.Map, values: list[Any], dims: list[Dim], size: int
                 ) -> tuple[list[Any], list[Dim]]:
    nc = op.num_consts
    xs = [x if d is None else moveaxis(x, d, 1) for x, d in zip(values[nc:], dims[nc:])]
    in_dims = list(dims[:nc]) + [None if d is None else 0 for d in dims[nc:]]
    types = _types(values[:nc]) + [_without_dim(x.type, 0) for x in xs]
    found: list[list[Dim]] = []

    def body(*args: Any) -> list[Any]:
        outs, out_dims = batch_program(op.body, args, in_dims, size)
        found.append(out_dims)
        return outs

    program = _closed(body, types)
    outs = bind(P.Map(body=program, num_consts=nc, sequential=op.sequential), *values[:nc], *xs)
    return list(outs), [None if d is None else d + 1 for d in found[0]]


def scan_vectorize(op: P.Scan, values: list[Any], dims: list[Dim], size: int
                  ) -> tuple[list[Any], list[Dim]]:
    nc, nk = op.num_consts, op.num_carry
    consts, carry, xs = _split(values, nc, nk)
    cdims, kdims, xdims = _split(dims, nc, nk)
    xs = [x if d is None else moveaxis(x, d, 1) for x, d in zip(xs, xdims)]
    x_in = [None if d is None else 0 for d in xdims]
    x_types = [_without_dim(x.type, 0) for x in xs]
    batched = [d is not None for d in kdims]
    while True:
        carry_types = [_batched_type(v.type if d is None else _without_dim(v.type, d),
                                     0 if b else None, size)
            for v, d, b in zip(carry, kdims, batched)]
        found: list[list[Dim]] = []
        want = list(batched)

        def body(*args: Any) -> list[Any]:
            outs, out_dims = batch_program(op.body, args, cdims + [0 if b else None for b in want]
                                           + x_in, size)
            found.append(out_dims)
            new = [_force(o, dd, w, size) for o, dd, w in zip(outs[:nk], out_dims[:nk], want)]
            return new + list(outs[nk:])

        program = _closed(body, _types(consts) + carry_types + x_types)
        grown = [b or d is not None for b, d in zip(batched, found[0][:nk])]
        if grown == batched:
            break
        batched = grown
    init = [_force(v, d, b, size) for v, d, b in zip(carry, kdims, batched)]
    outs = bind(P.Scan(body=program, length=op.length, reverse=op.reverse, num_consts=nc,
                       num_carry=nk), *consts, *init, *xs)
    ydims = [None if d is None else d + 1 for d in found[0][nk:]]
    return list(outs), [0 if b else None for b in batched] + ydims


# ----------------------------------------------------------------------------------------------
# reduce and associative_scan


def _front_all(xs: Sequence[Any], dims: Sequence[Dim], size: int) -> list[Any]:
    return [bdim_to_front(x, d, size) for x, d in zip(xs, dims)]


def reduce_vectorize(op: P.Reduce, values: list[Any], dims: list[Dim], size: int
                    ) -> tuple[list[Any], list[Dim]]:
    nc = op.num_consts
    k = (len(values) - nc) // 2
    if any(d is not None for d in dims[:nc] + dims[nc + k:]):
        return _map_over_batch(op, values, dims, size)  # the scalar body would not be scalar
    xs = _front_all(values[nc: nc + k], dims[nc: nc + k], size)
    new = P.Reduce(body=op.body, axes=tuple(a + 1 for a in op.axes), num_consts=nc)
    outs = bind(new, *values[:nc], *xs, *values[nc + k:])
    return list(outs), [0] * len(outs)


def associative_scan_vectorize(op: P.AssociativeScan, values: list[Any], dims: list[Dim], size: int
                              ) -> tuple[list[Any], list[Dim]]:
    nc = op.num_consts
    if any(d is not None for d in dims[:nc]):
        return _map_over_batch(op, values, dims, size)
    xs = _front_all(values[nc:], dims[nc:], size)
    new = P.AssociativeScan(body=op.body, axis=op.axis + 1, reverse=op.reverse, num_consts=nc)
    outs = bind(new, *values[:nc], *xs)
    return list(outs), [0] * len(outs)


# ----------------------------------------------------------------------------------------------
# cond


def _batch_bodies(programs: Sequence[Program], types: Sequence[TensorType], dims: Sequence[Dim],
                  size: int, want: Sequence[bool] | None) -> tuple[list[Program], list[bool]]:
    """Batch every program on inputs of `types` / `dims`. Outputs are moved to axis 0 where
    `want` (None: as they come); returns the programs and which outputs came out batched."""
    progs: list[Program] = []
    seen: list[bool] | None = None
    for prog in programs:
        found: list[list[Dim]] = []

        def fn(*args: Any, prog: Program = prog) -> list[Any]:
            outs, out_dims = batch_program(prog, args, dims, size)
            found.append(out_dims)
            if want is None:
                return outs
            return [_force(o, d, w, size) for o, d, w in zip(outs, out_dims, want)]

        progs.append(_closed(fn, types))
        got = [d is not None for d in found[0]]
        seen = got if seen is None else [a or b for a, b in zip(seen, got)]
    return progs, seen or []


def cond_vectorize(op: P.Cond, values: list[Any], dims: list[Dim], size: int
                  ) -> tuple[list[Any], list[Dim]]:
    index, ops = values[0], values[1:]
    if dims[0] is None:
        types = _types(ops)
        _, batched = _batch_bodies(op.branches, types, dims[1:], size, None)
        progs, _ = _batch_bodies(op.branches, types, dims[1:], size, batched)
        outs = bind(P.Cond(branches=tuple(progs)), index, *ops)
        return list(outs), [0 if b else None for b in batched]
    # A per-example index: run every branch on the whole batch, then pick per example.
    idx = lax.clamp(0, moveaxis(index, dims[0], 0), len(op.branches) - 1)
    results = []
    for branch in op.branches:
        outs, out_dims = batch_program(branch, ops, dims[1:], size)
        results.append([bdim_to_front(o, d, size) for o, d in zip(outs, out_dims)])
    chosen = list(results[0])
    for i in range(1, len(op.branches)):
        hit = lax.eq(idx, lax.scalar_like(i, idx.dtype))
        chosen = [lax.select(_mask(hit, c), _cast_like(r, c), c)
                  for c, r in zip(chosen, results[i])]
    return chosen, [0] * len(chosen)


def _cast_like(x: Any, like: Any) -> Any:
    return x if x.dtype == like.dtype else lax.convert(x, like.dtype)


# ----------------------------------------------------------------------------------------------
# while_loop


def _stage_pred(op: P.WhileLoop, cc_types: list[TensorType], cdims: list[Dim],
                carry_types: list[TensorType], carry_dims: list[Dim], size: int
                ) -> tuple[Program, Dim]:
    found: list[Dim] = []

    def fn(*args: Any) -> list[Any]:
        outs, out_dims = batch_program(op.cond, args, cdims + carry_dims, size)
        found.append(out_dims[0])
        return outs

    program = _closed(fn, cc_types + carry_types)
    return program, found[0]


def while_loop_vectorize(op: P.WhileLoop, values: list[Any], dims: list[Dim], size: int
                        ) -> tuple[list[Any], list[Dim]]:
    nc, nb = op.cond_consts, op.body_consts
    cconsts, bconsts, carry = _split(values, nc, nb)
    cdims, bdims, kdims = _split(dims, nc, nb)
    example = [v.type if d is None else _without_dim(v.type, d) for v, d in zip(carry, kdims)]
    batched = [d is not None for d in kdims]
    cc_types, bc_types = _types(cconsts), _types(bconsts)
    while True:
        carry_types = [_batched_type(t, 0 if b else None, size) for t, b in zip(example, batched)]
        carry_dims: list[Dim] = [0 if b else None for b in batched]
        cond_program, pred_dim = _stage_pred(op, cc_types, cdims, carry_types, carry_dims, size)
        if pred_dim is not None and not all(batched):
            batched = [True] * len(batched)  # every lane's carry may stop at its own step
            continue
        found: list[list[Dim]] = []
        want = list(batched)
        per_lane = pred_dim is not None

        def body(*args: Any) -> list[Any]:
            if per_lane:
                cc, bc, old = _split(args, nc, nb)
                (pred,), (pd,) = batch_program(op.cond, cc + old, cdims + carry_dims, size)
                pred = bdim_to_front(pred, pd, size)
            else:
                bc, old = list(args[:nb]), list(args[nb:])
            outs, out_dims = batch_program(op.body, bc + old, bdims + carry_dims, size)
            found.append(out_dims)
            new = [_force(o, dd, w, size) for o, dd, w in zip(outs, out_dims, want)]
            if per_lane:
                new = [lax.select(_mask(pred, o), _cast_like(n, o), o) for n, o in zip(new, old)]
            return new

        lead = cc_types if per_lane else []
        body_program = _closed(body, lead + bc_types + carry_types)
        grown = [b or d is not None for b, d in zip(batched, found[0])]
        if grown == batched:
            break
        batched = grown
    init = [_force(v, d, b, size) for v, d, b in zip(carry, kdims, batched)]
    out_dims: list[Dim] = [0 if b else None for b in batched]
    if not per_lane:
        new = P.WhileLoop(cond=cond_program, body=body_program, cond_consts=nc, body_consts=nb,
                          max_iters=op.max_iters)
        return list(bind(new, *cconsts, *bconsts, *init)), out_dims

    def any_lane(*args: Any) -> list[Any]:
        (pred,), (pd,) = batch_program(op.cond, args, cdims + out_dims, size)
        return [bind(P.ReduceOr(axes=(pd,)), pred)]

    cond_program = _closed(any_lane, cc_types + carry_types)
    new = P.WhileLoop(cond=cond_program, body=body_program, cond_consts=nc,
                      body_consts=nc + nb, max_iters=op.max_iters)
    return list(bind(new, *cconsts, *cconsts, *bconsts, *init)), out_dims


# ----------------------------------------------------------------------------------------------
# Calls with custom rules, checkpoints, barriers


def custom_jvp_vectorize(op: P.CustomJvpCall, values: list[Any], dims: list[Dim], size: int
                        ) -> tuple[list[Any], list[Dim]]:
    nb, nj = op.body_consts, op.jvp_consts
    bconsts, jconsts, args = _split(values, nb, nj)
    bdims, jdims, adims = _split(dims, nb, nj)
    body_types = _types(bconsts) + _types(args)
    jvp_types = _types(jconsts) + _types(args) + _types(args)
    jvp_dims = jdims + adims + adims
    n_out = len(op.body.outputs)
    _, seen_body = _batch_bodies([op.body], body_types, bdims + adims, size, None)
    _, seen_jvp = _batch_bodies([op.jvp], jvp_types, jvp_dims, size, None)
    want = [a or b or c for a, b, c in zip(seen_body, seen_jvp[:n_out], seen_jvp[n_out:])]
    (body,), _ = _batch_bodies([op.body], body_types, bdims + adims, size, want)
    (jvp,), _ = _batch_bodies([op.jvp], jvp_types, jvp_dims, size, want + want)
    new = P.CustomJvpCall(body=body, jvp=jvp, body_consts=nb, jvp_consts=nj)
    return list(bind(new, *values)), [0 if w else None for w in want]


def custom_vjp_vectorize(op: P.CustomVjpCall, values: list[Any], dims: list[Dim], size: int
                        ) -> tuple[list[Any], list[Dim]]:
    nb, nf, nw = op.body_consts, op.fwd_consts, op.bwd_consts
    bconsts, fconsts, wconsts, args = _split(values, nb, nf, nw)
    bdims, fdims, wdims, adims = _split(dims, nb, nf, nw)
    body_types = _types(bconsts) + _types(args)
    fwd_types = _types(fconsts) + _types(args)
    n_out = len(op.body.outputs)
    _, seen_body = _batch_bodies([op.body], body_types, bdims + adims, size, None)
    _, seen_fwd = _batch_bodies([op.fwd], fwd_types, fdims + adims, size, None)
    want = [a or b for a, b in zip(seen_body, seen_fwd[:n_out])]
    (body,), _ = _batch_bodies([op.body], body_types, bdims + adims, size, want)
    res_dims: list[Dim] = []

    def fwd_fn(*a: Any) -> list[Any]:
        outs, out_dims = batch_program(op.fwd, a, fdims + adims, size)
        res_dims.extend(out_dims[n_out:])
        return ([_force(o, d, w, size) for o, d, w in zip(outs, out_dims, want)]
                + list(outs[n_out:]))

    fwd = _closed(fwd_fn, fwd_types)
    out_dims: list[Dim] = [0 if w else None for w in want]

    def bwd_fn(*a: Any) -> list[Any]:
        cts, ct_dims = batch_program(op.bwd, a, wdims + res_dims + out_dims, size)
        fixed = []
        for ct, cd, ad in zip(cts, ct_dims, adims):
            if ad is None and cd is not None:  # a shared argument: sum over the examples
                ct = lax.reduce_sum(ct, (cd,))
            elif ad is not None:
                ct = moveaxis(bdim_to_front(ct, cd, size), 0, ad)
            fixed.append(ct)
        return fixed

    res_types = list(fwd.out_types[n_out:])
    out_types = list(body.out_types)
    bwd = _closed(bwd_fn, _types(wconsts) + res_types + out_types)
    new = P.CustomVjpCall(body=body, fwd=fwd, bwd=bwd, body_consts=nb, fwd_consts=nf,
                          bwd_consts=nw)
    return list(bind(new, *values)), out_dims


def checkpoint_vectorize(op: P.Checkpoint, values: list[Any], dims: list[Dim], size: int
                        ) -> tuple[list[Any], list[Dim]]:
    found: list[list[Dim]] = []

    def fn(*args: Any) -> list[Any]:
        outs, out_dims = batch_program(op.body, args, dims, size)
        found.append(out_dims)
        return outs

    body = _closed(fn, _types(values))
    return list(bind(attrs.evolve(op, body=body), *values)), found[0]


def optimization_barrier_vectorize(op: P.OptimizationBarrier, values: list[Any], dims: list[Dim],
                                  size: int) -> tuple[list[Any], list[Dim]]:
    return list(bind(op, *values)), list(dims)



def checkpoint_name_vectorize(op: P.CheckpointName, values: list[Any], dims: list[Dim],
                              size: int) -> tuple[list[Any], list[Dim]]:
    (x,), (x_bdim,) = values, dims
    return [bind(op, x)], [x_bdim]


BATCH_RULES[P.Map] = map_vectorize
BATCH_RULES[P.Scan] = scan_vectorize
BATCH_RULES[P.Reduce] = reduce_vectorize
BATCH_RULES[P.AssociativeScan] = associative_scan_vectorize
BATCH_RULES[P.Cond] = cond_vectorize
BATCH_RULES[P.WhileLoop] = while_loop_vectorize
BATCH_RULES[P.CustomJvpCall] = custom_jvp_vectorize
BATCH_RULES[P.CustomVjpCall] = custom_vjp_vectorize
BATCH_RULES[P.Checkpoint] = checkpoint_vectorize
BATCH_RULES[P.OptimizationBarrier] = optimization_barrier_vectorize
BATCH_RULES[P.CheckpointName] = checkpoint_name_vectorize

__all__ = ["associative_scan_vectorize", "checkpoint_vectorize", "cond_vectorize",
           "custom_jvp_vectorize", "custom_vjp_vectorize", "map_vectorize",
           "optimization_barrier_vectorize", "reduce_vectorize", "scan_vectorize",
           "while_loop_vectorize"]
