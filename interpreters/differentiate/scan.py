"""Reverse mode of `scan`: the forward scan stacks the residuals of each step, the backward scan
reads them (JAX's way), instead of recomputing the step on the way back.

How. The step's forward and backward passes are staged together into one *joint* program
`(consts, carry, x, carry cotangents, y cotangents) -> (carry, y, input cotangents)` (our own
`forward` + `backward` on the body). Its equations are then split by what they depend on
(partial evaluation):
- *primal* equations depend on no cotangent: the body's forward pass and the partials that the
  backward rules compute from primal values alone (`1 - tanh(x)**2`, a transposed weight);
- *tangent* equations depend on a cotangent, or on an `optimization_barrier` that a backward rule
  staged: `checkpoint`'s recomputation starts from one, so a checkpointed body (or part of one)
  is recomputed inside the backward scan and only its inputs are kept, as the user asked.
The primal values that tangent equations read are the residuals. Those that depend on the consts
alone are loop-invariant: computed once before the loop (a const input is passed as is). The
others are per step: an x is read from `xs`, a y from the stacked `ys`, and any other value
becomes an extra stacked output of the forward scan. Per-step residuals cheap to remake are not
kept: results of structural ops (broadcast, reshape, convert, ...) of smaller or already kept
values, and partials that only the backward pass needs, computed elementwise from kept values
(`1 - t` for `tanh`'s derivative, with `t` kept); the backward scan remakes them. Values of the
forward body itself are never recomputed, except under `checkpoint`.

A const's cotangent that is one `dot_general` of a per-step residual and a per-step value of the
backward step (an RNN's weight cotangent, `h_i` outer `g_i`) is not summed in the backward loop
(a memory-bound update of the whole sum per step): the backward scan emits `g_i`, and one
contraction over the stacked operands, the step axis included, sums it after the loop.

`FORWARD_RULES[Scan]` runs that forward scan in place of the primal one (the outputs are the
same, the residuals come with them), so the primal loop runs once; the vjp rule then runs the
backward scan over (invariant residuals as consts; const cotangent sums and carry cotangents as
carry; per-step residuals and y cotangents as xs). Without saved residuals (the rule called
directly), it runs the residual scan itself first.

The split depends only on the scan (its body and sizes), so it is cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs

from dsl import lax
from dsl import ops as P
from dsl.core import STAGING, bind, inline
from dsl.ir import Atom, Eqn, Program, Var
from dsl.types import TensorType
from interpreters.differentiate import (FORWARD_RULES, VJP_RULES, Zero, backward,
                                        differentiable, forward, zeros)
from interpreters.differentiate import type_of as _type_of
from interpreters.differentiate.control import _closed, _nz, _value

# Ops whose per-step result the backward scan remakes instead of keeping, when what it is made
# from is smaller or already kept; and the elementwise families, whose results that only the
# backward pass needs (a partial such as `1 - t` from a kept `t`) are remade when their operands
# are kept anyway.
_REMAKE = (P.BroadcastInDim, P.Reshape, P.Transpose, P.Squeeze, P.ExpandDims, P.Rev, P.Convert)
_ELEMENTWISE = ("unary", "binary", "compare", "ternary", "cast")


def _nbytes(t: TensorType) -> int:
    return t.size * t.dtype.itemsize


@attrs.frozen
class Deferred:
    """A const's cotangent summed over the steps by one `dot` after the backward loop, of the
    stacked operands `lhs` and `rhs`: ("p", j) the j-th per-step residual, ("e", j) the j-th
    value the backward step emits."""

    const: int
    dot: P.DotGeneral
    lhs: tuple[str, int]
    rhs: tuple[str, int]


@attrs.frozen(eq=False)
class ScanSplit:
    """A scan's step split into what the forward and the backward scans run.

    `invariant`: consts -> loop-invariant residuals. `primal`: the forward scan's body, (consts,
    carry, x) -> (carry, y, stacked residuals). `tangent`: (invariant residuals, per-step
    residuals, carry cotangents (`dk`), y cotangents (`dy`)) -> input cotangents, described by
    `ct_kinds` (("c", i) a const, ("k", j) a carry, ("x", j) an x). `per_step`: where each per-step
    residual comes from: ("x", j) the j-th xs, ("y", j) the j-th ys, ("s", q) the q-th stacked
    residual of the forward scan. `deferred`: the consts' cotangents summed by one product after
    the loop; the tangent program's outputs end with the values they need from each step.
    """

    invariant: Program
    primal: Program
    tangent: Program
    per_step: tuple[tuple[str, int], ...]
    dk: tuple[int, ...]
    dy: tuple[int, ...]
    ct_kinds: tuple[tuple[str, int], ...]
    deferred: tuple[Deferred, ...] = ()
    steps: dict[tuple[int, ...], Program] = attrs.field(factory=dict)  # backward bodies by yk


@attrs.frozen(eq=False)
class ScanResiduals:
    """What the forward scan kept for the backward scan (see `ScanSplit`)."""

    split: ScanSplit
    invariant: list[Any]
    per_step: list[Any]


_SPLITS: OrderedDict[P.Scan, ScanSplit] = OrderedDict()
_MAX_SPLITS = 256


def _dce(eqns: Sequence[Eqn], outputs: Sequence[Atom]) -> tuple[Eqn, ...]:
    """The equations of `eqns` that `outputs` need (pure ops: nothing else is kept)."""
    need = {a for a in outputs if type(a) is Var}
    keep: list[Eqn] = []
    for e in reversed(eqns):
        if any(v in need for v in e.outputs):
            keep.append(e)
            need.update(a for a in e.inputs if type(a) is Var)
    return tuple(reversed(keep))


def split_scan(op: P.Scan) -> ScanSplit:
    """The (cached) split of `op`'s step into forward and backward parts."""
    found = _SPLITS.get(op)
    if found is not None:
        _SPLITS.move_to_end(op)
        return found
    split = _split(op)
    _SPLITS[op] = split
    if len(_SPLITS) > _MAX_SPLITS:
        _SPLITS.popitem(last=False)
    return split


def _split(op: P.Scan) -> ScanSplit:
    body, nc, nk = op.body, op.num_consts, op.num_carry
    in_t, out_t = body.in_types, body.out_types
    n_in, ny = len(in_t), len(out_t) - nk
    nx = n_in - nc - nk
    dk = tuple(j for j in range(nk) if differentiable(in_t[nc + j]))
    dy = tuple(j for j in range(ny) if differentiable(out_t[nk + j]))
    ct_types = ([in_t[nc + j].strong() for j in dk] + [out_t[nk + j].strong() for j in dy])
    marks: list[int] = []
    kinds: list[tuple[str, int]] = []

    def joint(*a: Any) -> list[Any]:
        outs, env = forward(body, list(a[:n_in]))
        marks.append(len(STAGING[-1].eqns))  # equations from here on were staged by `backward`
        cts = iter(a[n_in:])
        cto: list[Any] = [Zero(t) for t in out_t]
        for j in dk:
            cto[j] = next(cts)
        for j in dy:
            cto[nk + j] = next(cts)
        cin = backward(body, env, cto)
        res: list[Any] = []
        for i in range(nc):
            if differentiable(in_t[i]) and _nz(cin[i]):
                kinds.append(("c", i))
                res.append(_value(cin[i], in_t[i].strong()))
        for j in dk:  # always: the backward scan carries them
            kinds.append(("k", j))
            res.append(_value(cin[nc + j], in_t[nc + j].strong()))
        for j in range(nx):
            if differentiable(in_t[nc + nk + j]) and _nz(cin[nc + nk + j]):
                kinds.append(("x", j))
                res.append(_value(cin[nc + nk + j], in_t[nc + nk + j].strong()))
        return list(outs) + res

    jp = _closed(joint, list(in_t) + ct_types)
    mark = marks[0]
    eqns = jp.eqns
    n_out = nk + ny

    # tangent equations: on a cotangent, or on a barrier that a backward rule staged
    tangent: set[Var] = set(jp.inputs[n_in:])
    in_t_side = [False] * len(eqns)
    for q, e in enumerate(eqns):
        if q >= mark and (type(e.op) is P.OptimizationBarrier
                          or any(type(a) is Var and a in tangent for a in e.inputs)):
            in_t_side[q] = True
            tangent.update(e.outputs)
    # per-step (variant) primal values: on the carry or the xs
    variant: set[Var] = set(jp.inputs[nc: n_in])
    for q, e in enumerate(eqns):
        if not in_t_side[q] and any(type(a) is Var and a in variant for a in e.inputs):
            variant.update(e.outputs)
    # residuals: primal values that the tangent side reads (an ordered set)
    res: dict[Var, None] = {}
    for q, e in enumerate(eqns):
        if in_t_side[q]:
            res.update((a, None) for a in e.inputs if type(a) is Var and a not in tangent)
    res.update((a, None) for a in jp.outputs[n_out:] if type(a) is Var and a not in tangent)
    # per-step residuals cheap to remake from smaller or already kept values are remade
    producer = {v: q for q, e in enumerate(eqns) for v in e.outputs}
    for_outputs = {producer[v] for e in _dce(eqns, jp.outputs[:n_out]) for v in e.outputs}
    xs_in = {v: j for j, v in enumerate(jp.inputs[nc + nk: n_in])}  # kept already, in xs
    remade: set[int] = set()
    changed = True
    while changed:
        changed = False
        for r in list(res):
            q = producer.get(r)
            if q is None or r not in variant or in_t_side[q] or q in remade:
                continue
            e = eqns[q]
            if len(e.outputs) != 1:
                continue
            new = [a for a in e.inputs if type(a) is Var and a not in res]
            cost = sum(_nbytes(a.type) for a in new if a in variant and a not in xs_in)
            if not (isinstance(e.op, _REMAKE) and cost < _nbytes(r.type)
                    or q not in for_outputs and e.op.family in _ELEMENTWISE and cost == 0):
                continue
            remade.add(q)
            del res[r]
            res.update((a, None) for a in e.inputs if type(a) is Var)
            changed = True
    inv = [r for r in res if r not in variant]
    var = [r for r in res if r in variant]
    consts = jp.inputs[:nc]
    ys_out = {a: j for j, a in reversed(list(enumerate(jp.outputs[nk: n_out]))) if type(a) is Var}
    per_step: list[tuple[str, int]] = []
    stacked: list[Var] = []
    for r in var:
        if r in xs_in:
            per_step.append(("x", xs_in[r]))
        elif r in ys_out:
            per_step.append(("y", ys_out[r]))
        else:
            per_step.append(("s", len(stacked)))
            stacked.append(r)
    primal_eqns = [e for q, e in enumerate(eqns) if not in_t_side[q]]
    invariant = Program(tuple(consts), _dce(primal_eqns, inv), tuple(inv))
    p_outs = tuple(jp.outputs[:n_out]) + tuple(stacked)
    primal = Program(tuple(jp.inputs[:n_in]), _dce(primal_eqns, p_outs), p_outs)
    t_outs = list(jp.outputs[n_out:])
    t_eqns = _dce([e for q, e in enumerate(eqns) if in_t_side[q] or q in remade], t_outs)
    kinds, deferred, emitted = _defer_dots(kinds, t_eqns, t_outs, var, tangent)
    t_outs = [o for (kind, _), o in zip(kinds, t_outs) if kind != "d"] + emitted
    tangent_p = Program(tuple(inv) + tuple(var) + tuple(jp.inputs[n_in:]), _dce(t_eqns, t_outs),
                        tuple(t_outs))
    return ScanSplit(invariant=invariant, primal=primal, tangent=tangent_p,
                     per_step=tuple(per_step), dk=dk, dy=dy,
                     ct_kinds=tuple(k for k in kinds if k[0] != "d"), deferred=tuple(deferred))


def _defer_dots(kinds: list[tuple[str, int]], t_eqns: Sequence[Eqn], t_outs: Sequence[Atom],
                var: Sequence[Var], tangent: set[Var]
                ) -> tuple[list[tuple[str, int]], list[Deferred], list[Var]]:
    """Find the consts' cotangents that are one `dot_general` of a per-step residual and a
    per-step value of the backward step (no bigger than the result): the sum over the steps of
    such a product is one contraction over the stacked operands after the loop, which replaces
    a memory-bound update of the sum at every step (the weight cotangent of an RNN: a rank-1
    update per step becomes one matrix product). Returns the kinds with those marked ("d", i),
    the deferred products, and the values the backward step then emits (stacked)."""
    producer = {v: e for e in t_eqns for v in e.outputs}
    uses: dict[Var, int] = {}
    for a in [a for e in t_eqns for a in e.inputs] + list(t_outs):
        if type(a) is Var:
            uses[a] = uses.get(a, 0) + 1
    per_step = {v: q for q, v in enumerate(var)}
    out_kinds = list(kinds)
    deferred: list[Deferred] = []
    emitted: list[Var] = []
    for q, ((kind, i), o) in enumerate(zip(kinds, t_outs)):
        e = producer.get(o) if type(o) is Var else None
        if kind != "c" or e is None or type(e.op) is not P.DotGeneral or uses[o] != 1:
            continue
        refs: list[tuple[str, int]] = []
        emit: list[Var] = []
        for a in e.inputs:
            if type(a) is Var and a in per_step:
                refs.append(("p", per_step[a]))
            elif type(a) is Var and a in tangent:
                refs.append(("e", -1))
                emit.append(a)
        if (len(refs) != 2 or len(emit) > 1
                or sum(_nbytes(a.type) for a in emit) > _nbytes(e.outputs[0].type)):
            continue
        for a in emit:
            if a not in emitted:
                emitted.append(a)
        it = iter(emit)
        refs = [("e", emitted.index(next(it))) if r[0] == "e" else r for r in refs]
        out_kinds[q] = ("d", i)
        deferred.append(Deferred(const=i, dot=e.op, lhs=refs[0], rhs=refs[1]))
    return out_kinds, deferred, emitted


def scan_forward(op: P.Scan, ins: list[Any], src: tuple[str, int] | None = None
                 ) -> tuple[list[Any], ScanResiduals]:
    """The scan's outputs, from a forward scan that also stacks the step's residuals."""
    split = split_scan(op)
    nc, nk = op.num_consts, op.num_carry
    n_out = len(op.body.outputs)
    invariant = inline(split.invariant, list(ins[:nc])) if split.invariant.outputs else []
    fwd = P.Scan(body=split.primal, length=op.length, reverse=op.reverse, num_consts=nc,
                 num_carry=nk)
    outs = list(bind(fwd, *ins, src=src))
    per_step: list[Any] = []
    for kind, j in split.per_step:
        if kind == "x":
            per_step.append(ins[nc + nk + j])
        elif kind == "y":
            per_step.append(outs[nk + j])
        else:
            per_step.append(outs[n_out + j])
    return outs[:n_out], ScanResiduals(split=split, invariant=list(invariant), per_step=per_step)


def _step_program(split: ScanSplit, yk: tuple[int, ...], n_inv: int, n_acc: int,
                  n_var: int) -> Program:
    """The backward scan's body: (invariant residuals; const cotangent sums, carry cotangents;
    per-step residuals, present y cotangents) -> (sums, carry cotangents, x cotangents)."""
    found = split.steps.get(yk)
    if found is not None:
        return found
    t = split.tangent
    nkc = len(split.dk)
    ct_in = t.in_types[n_inv + n_var:]
    y_types = {j: ct_in[nkc + q] for q, j in enumerate(split.dy)}
    present = set(yk)

    def step(*a: Any) -> list[Any]:
        inv = list(a[:n_inv])
        acc = list(a[n_inv: n_inv + n_acc])
        ck = list(a[n_inv + n_acc: n_inv + n_acc + nkc])
        rest = a[n_inv + n_acc + nkc:]
        per, cy = list(rest[:n_var]), iter(rest[n_var:])
        cys = [next(cy) if j in present else zeros(y_types[j]) for j in split.dy]
        cin = inline(t, inv + per + ck + cys)
        return [lax.add(s, c) for s, c in zip(acc, cin)] + list(cin[n_acc:])

    acc_t = [t.out_types[q] for q, (kind, _) in enumerate(split.ct_kinds) if kind == "c"]
    per_t = list(t.in_types[n_inv: n_inv + n_var])
    types = (list(t.in_types[:n_inv]) + acc_t + list(ct_in[:nkc]) + per_t
             + [y_types[j] for j in yk])
    program = _closed(step, types)
    split.steps[yk] = program
    return program


def scan_vjp(op: P.Scan, ins: list[Any], outs: list[Any], cts: list[Any],
             residuals: ScanResiduals | None = None) -> list[Any]:
    if residuals is None:
        _, residuals = scan_forward(op, ins)
    split = residuals.split
    nc, nk = op.num_consts, op.num_carry
    yk = tuple(j for j in split.dy if _nz(cts[nk + j]))
    n_inv, n_var = len(residuals.invariant), len(residuals.per_step)
    consts_ct = [i for kind, i in split.ct_kinds if kind == "c"]
    n_acc = len(consts_ct)
    body = _step_program(split, yk, n_inv, n_acc, n_var)
    acc0 = [zeros(_type_of(ins[i]).strong()) for i in consts_ct]
    ck0 = [_value(cts[j], _type_of(ins[nc + j]).strong()) for j in split.dk]
    cy = [_value(cts[nk + j], _type_of(outs[nk + j]).strong()) for j in yk]
    back = P.Scan(body=body, length=op.length, reverse=not op.reverse, num_consts=n_inv,
                  num_carry=n_acc + len(split.dk))
    r = bind(back, *residuals.invariant, *acc0, *ck0, *residuals.per_step, *cy)
    result: list[Any] = [Zero(_type_of(x)) for x in ins]
    for (kind, j), v in zip(split.ct_kinds, r):
        result[{"c": 0, "k": nc, "x": nc + nk}[kind] + j] = v
    emitted = r[len(split.ct_kinds):]
    for dd in split.deferred:
        (lc, rc), (lb, rb) = dd.dot.contracting, dd.dot.batch
        shift = lambda dims: tuple(a + 1 for a in dims)  # noqa: E731
        over_steps = P.DotGeneral(contracting=((0,) + shift(lc), (0,) + shift(rc)),
                                  batch=(shift(lb), shift(rb)), preferred=dd.dot.preferred)
        a, b = (residuals.per_step[j] if kind == "p" else emitted[j]
                for kind, j in (dd.lhs, dd.rhs))
        result[dd.const] = bind(over_steps, a, b)
    return result


FORWARD_RULES[P.Scan] = scan_forward
VJP_RULES[P.Scan] = scan_vjp

__all__ = ["Deferred", "ScanResiduals", "ScanSplit", "scan_forward", "scan_vjp", "split_scan"]
