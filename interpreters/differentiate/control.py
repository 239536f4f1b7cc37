"""Forward- and reverse-mode rules of the combinators (`map`, `scan`, `reduce`,
`associative_scan`, `cond`, `while_loop`).

Forward mode transforms bodies: the jvp of a combinator is the same combinator over the jvp of its
body, staged as a new closed program whose inputs are the primals followed by the tangents that
are not symbolic zeros (group by group: consts, carry, xs), and whose outputs are the primal
outputs followed by their non-zero tangents. A loop carry whose tangent starts as a symbolic zero
may become non-zero after a step; the carry tangents are iterated to a fixed point (restaging the
body until the set of non-zero carry tangents stops growing), as JAX does.

Reverse mode:
- `scan` (module `scan`): the forward scan stacks each step's residuals and the backward scan, in
  the other direction, reads them; a `checkpoint`ed body is recomputed there instead. Its carry
  holds the carry cotangent and the running sum of the consts' cotangents; it emits the
  cotangent of x_i.
- `map`: a map of the body's vjp over (xs, output cotangents); const cotangents are per-step
  outputs, summed over the leading axis.
- `cond`: a `cond` with the same index over the branches' jvps / vjps, so only the taken branch is
  ever run and NaNs or infinities of an untaken branch cannot leak (a select would leak them).
- `while_loop`: forward mode is a while loop with the tangents in its carry. Reverse mode needs
  `max_iters`: the loop is rewritten as a scan of `max_iters` steps carrying `(carry, running)`
  whose body applies `cond(running and cond_fn(carry), body_fn, identity)`, and that is
  differentiated. Without `max_iters` the number of steps (hence the residuals to keep) is unknown.
- `reduce`: closed forms when the body is one `add`, `mul`, `max` or `min` of its two inputs (the
  identity operand `init` is folded in once, `op(init, reduction)`); `mul` uses the product of
  the other elements (exclusive cumulative products from both ends) so zeros in the input are
  exact; `max` / `min` split the cotangent evenly among the elements equal to the result. Any
  other associative body is rewritten as a sequential scan over the reduced elements (a `map` of
  the body over the kept ones per step), which is then differentiated.
- `associative_scan`: rewritten as the equivalent sequential inclusive scan along its axis.

All rules bind DSL primitives only, so they run eagerly and staged, and their results can be
differentiated again (`grad(grad(f))` through a scan).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import bind, inline, stage_flat
from dsl.errors import TransformError
from dsl.ir import Program
from dsl.types import TensorType
from interpreters.differentiate import (JVP_RULES, VJP_RULES, Zero, add_any, differentiable,
                                        jvp_program, vjp_program, zeros)
from interpreters.differentiate import type_of as _type_of

# ----------------------------------------------------------------------------------------------
# Helpers


def _closed(fn: Callable[..., Sequence[Any]], types: Sequence[TensorType]) -> Program:
    """Stage `fn` on abstract inputs of `types` into a closed program."""
    program, captured, _ = stage_flat(fn, list(types))
    if captured:  # bodies are closed and rules bind only on their own tracers
        raise TransformError("differentiate: internal error: a transformed combinator body "
                             "captured values from outside it")
    return program


def _value(x: Any, t: TensorType) -> Any:
    """A real, strongly typed value for a tangent or cotangent of type `t` (zeros for `Zero`)."""
    if isinstance(x, Zero):
        return zeros(t)
    if getattr(x, "weak", False) or _type_of(x).dtype != t.dtype:
        return lax.convert(x, t.dtype)
    return x


def _nz(x: Any) -> bool:
    return not isinstance(x, Zero)


def _ranges(groups: Sequence[int]) -> list[range]:
    out, start = [], 0
    for g in groups:
        out.append(range(start, start + g))
        start += g
    return out


def _interleave(primals: Sequence[Any], extra: Sequence[Any], mask: Sequence[bool],
                groups: Sequence[int]) -> list[Any]:
    """Per group: its primals, then its `extra` values where `mask`."""
    out: list[Any] = []
    for r in _ranges(groups):
        out += [primals[i] for i in r] + [extra[i] for i in r if mask[i]]
    return out


def _deinterleave(values: Sequence[Any], types: Sequence[TensorType] | None,
                  mask: Sequence[bool], groups: Sequence[int]) -> tuple[list[Any], list[Any]]:
    """The inverse of `_interleave`: (primals, tangents with `Zero` where not `mask`). The
    zeros have `types`, or their primal's type."""
    primals: list[Any] = []
    tangents: list[Any] = []
    k = 0
    for r in _ranges(groups):
        primals += list(values[k: k + len(r)])
        k += len(r)
        for i in r:
            if mask[i]:
                tangents.append(values[k])
                k += 1
            else:
                tangents.append(Zero(types[i] if types is not None else _type_of(primals[i])))
    return primals, tangents


def _jvp_body(body: Program, mask: Sequence[bool], force: Sequence[bool],
              in_groups: Sequence[int], out_groups: Sequence[int]) -> tuple[Program, list[bool]]:
    """Stage the jvp of `body`, inputs and outputs laid out by `_interleave`.

    Input tangents are present where `mask`; output tangents where they are non-zero or `force`d
    (forced ones that come out zero are instantiated). Returns the program and the output mask.
    """
    in_t, out_t = body.in_types, body.out_types
    types = _interleave(in_t, in_t, mask, in_groups)
    found: list[list[bool]] = []

    def fn(*args: Any) -> list[Any]:
        primals, tangents = _deinterleave(args, in_t, mask, in_groups)
        outs, touts = jvp_program(body, primals, tangents)
        om = [(_nz(t) or f) and differentiable(ty) for t, f, ty in zip(touts, force, out_t)]
        found.append(om)
        vals = [_value(t, ty) if m else t for t, ty, m in zip(touts, out_t, om)]
        return _interleave(outs, vals, om, out_groups)

    return _closed(fn, types), found[0]


def _carry_fixed_point(body: Program, mask: list[bool], lo: int, nk: int,
                       in_groups: Sequence[int], out_groups: Sequence[int]
                       ) -> tuple[Program, list[bool]]:
    """Grow the set of carry tangents (inputs `lo:lo+nk`, outputs `:nk`) until it is closed under
    one step of the body; returns the jvp body and its output mask."""
    while True:
        force = [False] * len(body.outputs)
        force[:nk] = mask[lo: lo + nk]
        program, om = _jvp_body(body, mask, force, in_groups, out_groups)
        grown = [a or b for a, b in zip(mask[lo: lo + nk], om[:nk])]
        if grown == mask[lo: lo + nk]:
            return program, om
        mask[lo: lo + nk] = grown


def _in_mask(tangents: Sequence[Any], types: Sequence[TensorType]) -> list[bool]:
    return [_nz(t) and differentiable(ty) for t, ty in zip(tangents, types)]


def _tangent_operands(primals: Sequence[Any], tangents: Sequence[Any], mask: Sequence[bool]
                      ) -> list[Any]:
    return [_value(t, _type_of(p).strong()) if m else t
            for p, t, m in zip(primals, tangents, mask)]


# ----------------------------------------------------------------------------------------------
# map and scan


def map_jvp(op: P.Map, primals: list[Any], tangents: list[Any]) -> tuple[list[Any], list[Any]]:
    body, nc = op.body, op.num_consts
    groups = [nc, len(primals) - nc]
    mask = _in_mask(tangents, body.in_types)
    program, om = _jvp_body(body, mask, [False] * len(body.outputs), groups,
                            [len(body.outputs)])
    new = P.Map(body=program, num_consts=nc + sum(mask[:nc]), sequential=op.sequential)
    outs = bind(new, *_interleave(primals, _tangent_operands(primals, tangents, mask), mask,
                                  groups))
    return _deinterleave(outs, None, om, [len(body.outputs)])


def scan_jvp(op: P.Scan, primals: list[Any], tangents: list[Any]
             ) -> tuple[list[Any], list[Any]]:
    body, nc, nk = op.body, op.num_consts, op.num_carry
    groups = [nc, nk, len(primals) - nc - nk]
    out_groups = [nk, len(body.outputs) - nk]
    mask = _in_mask(tangents, body.in_types)
    program, om = _carry_fixed_point(body, mask, nc, nk, groups, out_groups)
    new = P.Scan(body=program, length=op.length, reverse=op.reverse,
                 num_consts=nc + sum(mask[:nc]), num_carry=nk + sum(mask[nc: nc + nk]))
    operands = _interleave(primals, _tangent_operands(primals, tangents, mask), mask, groups)
    return _deinterleave(bind(new, *operands), None, om, out_groups)


def map_vjp(op: P.Map, ins: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    body, nc = op.body, op.num_consts
    nx = len(ins) - nc
    in_t, out_t = body.in_types, body.out_types
    dc = [i for i in range(nc) if differentiable(in_t[i])]
    dx = [j for j in range(nx) if differentiable(in_t[nc + j])]
    yk = [j for j in range(len(out_t)) if _nz(cts[j]) and differentiable(out_t[j])]

    def step(*a: Any) -> list[Any]:
        cto: list[Any] = [Zero(t) for t in out_t]
        for j, c in zip(yk, a[nc + nx:]):
            cto[j] = c
        _, back = vjp_program(body, list(a[: nc + nx]))
        cin = back(cto)
        return ([_value(cin[nc + j], in_t[nc + j].strong()) for j in dx]
                + [_value(cin[i], in_t[i].strong()) for i in dc])

    types = list(in_t) + [out_t[j] for j in yk]
    r = bind(P.Map(body=_closed(step, types), num_consts=nc, sequential=op.sequential), *ins,
             *(cts[j] for j in yk))
    result: list[Any] = [Zero(_type_of(x)) for x in ins]
    for q, j in enumerate(dx):
        result[nc + j] = r[q]
    for q, i in enumerate(dc):
        result[i] = lax.reduce_sum(r[len(dx) + q], (0,))
    return result


# ----------------------------------------------------------------------------------------------
# cond


def cond_jvp(op: P.Cond, primals: list[Any], tangents: list[Any]
             ) -> tuple[list[Any], list[Any]]:
    index, ops = primals[0], primals[1:]
    b0 = op.branches[0]
    n_in, n_out = len(ops), len(b0.outputs)
    mask = _in_mask(tangents[1:], b0.in_types)
    union = [False] * n_out
    for b in op.branches:
        _, om = _jvp_body(b, mask, [False] * n_out, [n_in], [n_out])
        union = [u or m for u, m in zip(union, om)]
    programs = tuple(_jvp_body(b, mask, union, [n_in], [n_out])[0] for b in op.branches)
    operands = _interleave(ops, _tangent_operands(ops, tangents[1:], mask), mask, [n_in])
    outs = bind(P.Cond(branches=programs), index, *operands)
    return _deinterleave(outs, None, union, [n_out])


def cond_vjp(op: P.Cond, ins: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    index, ops = ins[0], ins[1:]
    in_t, out_t = op.branches[0].in_types, op.branches[0].out_types
    di = [i for i, t in enumerate(in_t) if differentiable(t)]
    yk = [j for j in range(len(out_t)) if _nz(cts[j]) and differentiable(out_t[j])]

    def branch_vjp(branch: Program) -> Program:
        def fn(*a: Any) -> list[Any]:
            cto: list[Any] = [Zero(t) for t in out_t]
            for j, c in zip(yk, a[len(in_t):]):
                cto[j] = c
            _, back = vjp_program(branch, list(a[: len(in_t)]))
            cin = back(cto)
            return [_value(cin[i], in_t[i].strong()) for i in di]

        return _closed(fn, list(in_t) + [out_t[j] for j in yk])

    programs = tuple(branch_vjp(b) for b in op.branches)
    r = bind(P.Cond(branches=programs), index, *ops, *(cts[j] for j in yk))
    result: list[Any] = [Zero(_type_of(x)) for x in ins]
    for q, i in enumerate(di):
        result[1 + i] = r[q]
    return result


# ----------------------------------------------------------------------------------------------
# while_loop


def while_loop_jvp(op: P.WhileLoop, primals: list[Any], tangents: list[Any]
                   ) -> tuple[list[Any], list[Any]]:
    nc, nb = op.cond_consts, op.body_consts
    nk = len(primals) - nc - nb
    body = op.body
    mask = _in_mask(tangents[nc:], body.in_types)
    program, om = _carry_fixed_point(body, mask, nb, nk, [nb, nk], [nk])
    carry_t = body.in_types[nb:]

    def keep_going(*a: Any) -> list[Any]:
        return inline(op.cond, list(a[: nc + nk]))

    cond_program = _closed(keep_going, list(op.cond.in_types)
                           + [t for t, m in zip(carry_t, mask[nb:]) if m])
    new = P.WhileLoop(cond=cond_program, body=program, cond_consts=nc,
                      body_consts=nb + sum(mask[:nb]), max_iters=op.max_iters)
    rest = primals[nc:]
    operands = _interleave(rest, _tangent_operands(rest, tangents[nc:], mask), mask, [nb, nk])
    outs = bind(new, *primals[:nc], *operands)
    return _deinterleave(outs, None, om, [nk])


def while_loop_vjp(op: P.WhileLoop, ins: list[Any], outs: list[Any], cts: list[Any]
                   ) -> list[Any]:
    if op.max_iters is None:
        raise TransformError(
            "vjp: reverse-mode differentiation of while_loop needs a bound on its iterations: "
            "pass max_iters= to d.while_loop, or use d.scan / d.fori_loop with static bounds")
    nc, nb = op.cond_consts, op.body_consts
    nk = len(ins) - nc - nb
    carry_t = list(op.body.in_types[nb:])
    bconst_t = list(op.body.in_types[:nb])
    identity = _closed(lambda *a: list(a[nb:]), bconst_t + carry_t)
    flag = TensorType((), dtypes.bool_)

    def step(*a: Any) -> list[Any]:
        cc, bc, carry, running = list(a[:nc]), list(a[nc: nc + nb]), list(a[nc + nb: -1]), a[-1]
        go = bind(P.And(), running, inline(op.cond, cc + carry)[0])
        new = bind(P.Cond(branches=(identity, op.body)), lax.convert(go, dtypes.int32),
                   *bc, *carry)
        return list(new) + [go]

    step_program = _closed(step, list(op.cond.in_types[:nc]) + bconst_t + carry_t + [flag])

    def as_scan(*a: Any) -> list[Any]:
        res = bind(P.Scan(body=step_program, length=op.max_iters, num_consts=nc + nb,
                          num_carry=nk + 1), *a, Array(np.array(True)))
        return list(res[:nk])

    program = _closed(as_scan, [_type_of(x) for x in ins])
    _, back = vjp_program(program, ins)
    return back(cts)


# ----------------------------------------------------------------------------------------------
# reduce and associative_scan


_MONOIDS = {P.Add: "add", P.Mul: "mul", P.Max: "max", P.Min: "min"}


def _monoid(op: P.Reduce) -> str | None:
    """The known monoid of a one-operand body `a <op> b` (either order), else None."""
    body = op.body
    if op.num_consts or len(body.inputs) != 2 or len(body.eqns) != 1:
        return None
    eqn = body.eqns[0]
    kind = _MONOIDS.get(type(eqn.op))
    a, b = body.inputs
    ok = len(eqn.inputs) == 2 and ((eqn.inputs[0] is a and eqn.inputs[1] is b)
                                   or (eqn.inputs[0] is b and eqn.inputs[1] is a))
    if kind is None or not ok or body.outputs != eqn.outputs:
        return None
    return kind


def _kept(shape: tuple[int, ...], axes: tuple[int, ...]) -> list[int]:
    return [i for i in range(len(shape)) if i not in axes]


def _unreduce(v: Any, shape: tuple[int, ...], axes: tuple[int, ...]) -> Any:
    """Broadcast a reduced value back over the reduced axes."""
    return lax.broadcast_in_dim(v, shape, _kept(shape, axes))


def _to_front(x: Any, axes: Sequence[int]) -> tuple[Any, list[int], int, int]:
    """`x` with `axes` moved first and flattened: shape (m, r). Returns it, the permutation,
    m and r."""
    shape = tuple(x.shape)
    keep = _kept(shape, tuple(axes))
    perm = list(axes) + keep
    m = math.prod(shape[a] for a in axes)
    r = math.prod(shape[i] for i in keep)
    return lax.reshape(lax.transpose(x, perm), (m, r)), perm, m, r


def _from_front(y: Any, shape: tuple[int, ...], perm: list[int]) -> Any:
    moved = tuple(shape[p] for p in perm)
    inverse = [perm.index(i) for i in range(len(perm))]
    return lax.transpose(lax.reshape(y, moved), inverse)


def _product_of_others(x: Any, axes: tuple[int, ...]) -> Any:
    """For each element, the product of the other elements along `axes` (exact with zeros)."""
    flat, perm, m, r = _to_front(x, axes)
    if m == 0:
        return x
    ones = lax.broadcast_in_dim(Array(np.ones((), x.dtype)), (1, r), ())
    fwd = bind(P.Cumprod(axis=0), flat)
    bwd = bind(P.Cumprod(axis=0, reverse=True), flat)
    before = lax.concatenate([ones, lax.slice(fwd, (0, 0), (m - 1, r))], 0)
    after = lax.concatenate([lax.slice(bwd, (1, 0), (m, r)), ones], 0)
    return _from_front(lax.mul(before, after), tuple(x.shape), perm)


def _chooser_parts(op: P.Reduce, x: Any, init: Any, out: Any) -> tuple[Any, Any, Any]:
    """Indicators of the elements (and of `init`) equal to the result, and their count."""
    dt = x.dtype
    ind_x = lax.convert(lax.eq(x, _unreduce(out, tuple(x.shape), op.axes)), dt)
    ind_s = lax.convert(lax.eq(init, out), dt)
    count = lax.add(lax.reduce_sum(ind_x, op.axes), ind_s)
    return ind_x, ind_s, count


def _monoid_jvp(kind: str, op: P.Reduce, primals: list[Any], tangents: list[Any]
                ) -> tuple[list[Any], list[Any]]:
    x, init = primals
    tx, ts = tangents
    (out,) = bind(op, x, init)
    shape = tuple(out.shape)

    def spread(t: Any) -> Any:
        return lax.broadcast_to_rank_shape(t, shape)

    t: Any = Zero(_type_of(out))
    if kind == "add":
        if _nz(tx):
            t = lax.reduce_sum(tx, op.axes)
        if _nz(ts):
            t = add_any(t, spread(ts))
    elif kind == "mul":
        if _nz(tx):
            t = lax.mul(lax.reduce_sum(lax.mul(tx, _product_of_others(x, op.axes)), op.axes),
                        init)
        if _nz(ts):
            t = add_any(t, lax.mul(spread(ts), bind(P.ReduceProd(axes=op.axes), x)))
    else:
        ind_x, ind_s, count = _chooser_parts(op, x, init, out)
        if _nz(tx):
            t = lax.reduce_sum(lax.mul(tx, ind_x), op.axes)
        if _nz(ts):
            t = add_any(t, lax.mul(spread(ts), ind_s))
        t = lax.div(t, count)
    return [out], [t]


def _monoid_vjp(kind: str, op: P.Reduce, ins: list[Any], out: Any, ct: Any) -> list[Any]:
    x, init = ins
    xshape = tuple(x.shape)
    all_out = tuple(range(len(tuple(out.shape))))
    if kind == "add":
        return [_unreduce(ct, xshape, op.axes), lax.reduce_sum(ct, all_out)]
    if kind == "mul":
        ct_x = lax.mul(_unreduce(lax.mul(ct, init), xshape, op.axes),
                       _product_of_others(x, op.axes))
        ct_s = lax.reduce_sum(lax.mul(ct, bind(P.ReduceProd(axes=op.axes), x)), all_out)
        return [ct_x, ct_s]
    ind_x, ind_s, count = _chooser_parts(op, x, init, out)
    share = lax.div(ct, count)
    return [lax.mul(_unreduce(share, xshape, op.axes), ind_x),
            lax.reduce_sum(lax.mul(share, ind_s), all_out)]


def _reduce_as_scan(op: P.Reduce) -> Callable[..., list[Any]]:
    """`reduce` as a sequential scan over the reduced elements: `acc = op(acc, x_j)` from
    `acc = init`, each step a `map` of the body over the kept positions."""
    nc = op.num_consts

    def fn(*args: Any) -> list[Any]:
        consts, rest = list(args[:nc]), args[nc:]
        k = len(rest) // 2
        xs, inits = rest[:k], rest[k:]
        shape = tuple(xs[0].shape)
        out_shape = tuple(shape[i] for i in _kept(shape, op.axes))
        flats = [_to_front(x, op.axes) for x in xs]
        m, r = flats[0][2], flats[0][3]
        elems = list(op.body.in_types[nc: nc + k])
        rows = [TensorType((r,), t.dtype) for t in elems]

        def step(*a: Any) -> list[Any]:
            return list(bind(P.Map(body=op.body, num_consts=nc), *a))

        step_program = _closed(step, list(op.body.in_types[:nc]) + rows + rows)
        acc = [lax.broadcast_in_dim(i, (r,), ()) for i in inits]
        res = bind(P.Scan(body=step_program, length=m, num_consts=nc, num_carry=k),
                   *consts, *acc, *(f[0] for f in flats))
        return [lax.reshape(v, out_shape) for v in res]

    return fn


def _differentiated(fn: Callable[..., list[Any]], ins: list[Any]) -> Program:
    return _closed(fn, [_type_of(x) for x in ins])


def reduce_jvp(op: P.Reduce, primals: list[Any], tangents: list[Any]
               ) -> tuple[list[Any], list[Any]]:
    kind = _monoid(op)
    if kind is not None and dtypes.is_inexact(primals[0].dtype):
        return _monoid_jvp(kind, op, primals, tangents)
    return jvp_program(_differentiated(_reduce_as_scan(op), primals), primals, tangents)


def reduce_vjp(op: P.Reduce, ins: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    kind = _monoid(op)
    if kind is not None and dtypes.is_inexact(ins[0].dtype):
        return _monoid_vjp(kind, op, ins, outs[0], cts[0])
    _, back = vjp_program(_differentiated(_reduce_as_scan(op), ins), ins)
    return back(cts)


def _associative_scan_as_scan(op: P.AssociativeScan) -> Callable[..., list[Any]]:
    """The inclusive scan as a sequential scan along its axis: `out[j] = op(out[j-1], x[j])`
    (from the end, `out[j] = op(out[j+1], x[j])`, when reversed)."""
    nc = op.num_consts

    def fn(*args: Any) -> list[Any]:
        consts, xs = list(args[:nc]), args[nc:]
        shape = tuple(xs[0].shape)
        n = shape[op.axis]
        if n == 0:
            return list(xs)
        flats = [_to_front(x, (op.axis,)) for x in xs]
        perm, r = flats[0][1], flats[0][3]
        k = len(xs)
        rows = [TensorType((r,), x.dtype) for x in xs]

        def step(*a: Any) -> list[Any]:
            new = list(bind(P.Map(body=op.body, num_consts=nc), *a))
            return new + new

        step_program = _closed(step, list(op.body.in_types[:nc]) + rows + rows)
        edge = (n - 1) if op.reverse else 0
        lo, hi = (0, n - 1) if op.reverse else (1, n)
        firsts = [lax.slice(f[0], (edge, 0), (edge + 1, r)) for f in flats]
        rest = [lax.slice(f[0], (lo, 0), (hi, r)) for f in flats]
        res = bind(P.Scan(body=step_program, length=n - 1, reverse=op.reverse, num_consts=nc,
                          num_carry=k), *consts, *(lax.reshape(f, (r,)) for f in firsts), *rest)
        ys = res[k:]
        joined = [lax.concatenate([y, f] if op.reverse else [f, y], 0)
                  for y, f in zip(ys, firsts)]
        return [_from_front(j, shape, perm) for j in joined]

    return fn


def associative_scan_jvp(op: P.AssociativeScan, primals: list[Any], tangents: list[Any]
                         ) -> tuple[list[Any], list[Any]]:
    return jvp_program(_differentiated(_associative_scan_as_scan(op), primals), primals,
                       tangents)


def associative_scan_vjp(op: P.AssociativeScan, ins: list[Any], outs: list[Any],
                         cts: list[Any]) -> list[Any]:
    _, back = vjp_program(_differentiated(_associative_scan_as_scan(op), ins), ins)
    return back(cts)


JVP_RULES[P.Map] = map_jvp
JVP_RULES[P.Scan] = scan_jvp
JVP_RULES[P.Cond] = cond_jvp
JVP_RULES[P.WhileLoop] = while_loop_jvp
JVP_RULES[P.Reduce] = reduce_jvp
JVP_RULES[P.AssociativeScan] = associative_scan_jvp
VJP_RULES[P.Map] = map_vjp
VJP_RULES[P.Cond] = cond_vjp
VJP_RULES[P.WhileLoop] = while_loop_vjp
VJP_RULES[P.Reduce] = reduce_vjp
VJP_RULES[P.AssociativeScan] = associative_scan_vjp

__all__ = ["associative_scan_jvp", "associative_scan_vjp", "cond_jvp", "cond_vjp", "map_jvp",
           "map_vjp", "reduce_jvp", "reduce_vjp", "scan_jvp", "while_loop_jvp",
           "while_loop_vjp"]

# the reverse mode of scan lives in its own module (it uses this module's helpers)
from interpreters.differentiate import scan as _scan  # noqa: E402,F401
