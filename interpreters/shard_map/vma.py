"""Which mesh axes each value of a `shard_map` body *varies* over (JAX's "varying manual axes").

An operand varies over the mesh axes its in spec splits it over (along any other axis every device
sees the same whole operand). Then, per equation:

- `psum` and `all_gather` over axes make their result the same along those axes;
- `ppermute`, `all_to_all` and `psum_scatter` make it vary along theirs, and `axis_index` varies
  exactly along its axes;
- a combinator whose body lines up with its operands (`map`, `scan` with its carry to a fixed
  point, `cond`'s branches, the custom-rule calls and `checkpoint`) is analysed through its body;
- any other op varies over the union of its operands' axes (plus, for an op holding bodies that
  do not line up, every axis a collective in them makes values vary over).

The analysis is conservative: a value said not to vary along an axis never does. `shard_map`
with `check_vma=True` uses it to reject an out spec that leaves out an axis a result varies
over (that result would not be well defined), and the lowering to skip the broadcast from index 0
for results proven the same along the axes their out specs leave out.
"""

from __future__ import annotations

from collections.abc import Sequence

from dsl import ops as P
from dsl.ir import Lit, Op, Program, Var
from dsl.ops.collectives import (AllGather, AllToAll, AxisIndex, CollectiveOp, Ppermute, Psum,
                                 PsumScatter)

Axes = frozenset[str]
_NONE: Axes = frozenset()


def _spreading(program: Program) -> Axes:
    """The axes over which collectives inside `program` (nested bodies included) may make
    values vary."""
    out: set[str] = set()
    for eqn in program.walk():
        if isinstance(eqn.op, (AxisIndex, Ppermute, AllToAll, PsumScatter)):
            out.update(eqn.op.axes)  # type: ignore[attr-defined]
    return frozenset(out)


def varying(program: Program, ins: Sequence[Axes]) -> list[Axes]:
    """The axes each output of `program` varies over, given those of its inputs."""
    env: dict[Var, Axes] = dict(zip(program.inputs, ins))

    def read(a: Var | Lit) -> Axes:
        return _NONE if type(a) is Lit else env[a]

    for eqn in program.eqns:
        vs = [read(a) for a in eqn.inputs]
        union: Axes = frozenset().union(*vs)
        op = eqn.op
        outs: list[Axes]
        if isinstance(op, (Psum, AllGather)):
            outs = [union - frozenset(op.axes)]
        elif isinstance(op, (Ppermute, AllToAll, PsumScatter, AxisIndex)):
            outs = [union | frozenset(op.axes)]
        elif isinstance(op, CollectiveOp):
            outs = [union | frozenset(getattr(op, "axes", ()))]
        else:
            through = _through_bodies(eqn.op, vs, len(eqn.outputs))
            if through is None:
                extra = frozenset().union(*(_spreading(p) for p in op.programs()))
                through = [union | extra] * len(eqn.outputs)
            outs = through
        env.update(zip(eqn.outputs, outs))
    return [read(a) for a in program.outputs]


def _through_bodies(op: Op, vs: list[Axes], n_out: int) -> list[Axes] | None:
    """The outputs' axes of a combinator analysed through its body, or None when its body does
    not line up with its operands."""
    if isinstance(op, (P.Map, P.Checkpoint)):
        return varying(op.body, vs)
    if isinstance(op, (P.CustomJvpCall, P.CustomVjpCall)):
        body, nc = op.body, op.body_consts
        n = len(body.inputs) - nc
        return varying(body, vs[:nc] + vs[len(vs) - n:])
    if isinstance(op, P.Cond):
        index = vs[0]
        outs = [index] * n_out
        for b in op.branches:
            outs = [o | r for o, r in zip(outs, varying(b, vs[1:]))]
        return outs
    if isinstance(op, P.Scan):
        nc, nk = op.num_consts, op.num_carry
        ins = list(vs)
        while True:
            outs = varying(op.body, ins)
            grown = [a | b for a, b in zip(ins[nc: nc + nk], outs[:nk])]
            if grown == ins[nc: nc + nk]:
                return grown + outs[nk:]
            ins[nc: nc + nk] = grown
    return None


__all__ = ["varying"]
