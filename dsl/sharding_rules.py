"""Sharding rules: how Explicit shardings in types flow through every primitive at build time.

When some input type of a primitive carries a sharding (`TensorType.sharding`, per dimension the
Explicit mesh axes splitting it), `dsl.core.infer` derives the output types' shardings here, by
one rule per primitive in `RULES`; an unsharded program never reaches this module. A rule maps
`(ctx, op, in_types, out_types)` (the out types as the op's own type rule gives them) to one
sharding per output. Every result is then checked: no mesh axis may split two dimensions of one
value, and (when a mesh is current) every split dimension must divide evenly. An illegal result
is a `ShardingError` naming the operation, the input types (`f32[8@data,4]`), the user's line and
the fix (usually `d.reshard`). A result that splits no dimension has no sharding (`None`): an
unsharded type means replicated.

The rules, by family (JAX's explicit-sharding semantics, except where noted):
- elementwise (unary, binary, comparisons, casts, `select`, `clamp`): operands of the result's rank
  are merged dimension by dimension; a replicated dimension takes the other operand's axes, two
  different sets of axes on one dimension are an error.
- reductions and `argmax`/`argmin`: reduced dimensions drop their axes.
- `dot_general`: batch dimensions merge like elementwise ones; free dimensions keep their axes;
  contracting dimensions split over the same axes on both sides are allowed (the partitioner adds
  the sum across devices) and so is a contracting dimension split on one side only (the result is
  replicated over those axes, as in JAX); different axes on the two sides are an error.
- `transpose`, `broadcast_in_dim`, `squeeze`, `expand_dims` move axes with their dimensions (new
  and broadcast dimensions are replicated).
- `reshape`: dimensions are grouped into runs whose sizes multiply to the same product; a run
  keeps its sharding when its split dimensions lead it and all but the last of them are split
  down to one element per device (so each device's part of the run is contiguous); their axes,
  major first, go to the leading dimension(s) of the new run (split over several when the sizes
  require it), as in JAX.
- `slice`, `pad`, `rev`, `dynamic_slice`, `dynamic_update_slice`, `scatter`: the operand's sharding
  stays (the divisibility check applies to the result); `concatenate` merges its operands.
  `gather`: the indices' batch dimensions and the operand's non-indexed dimensions keep their
  axes; an indexed dimension's axes are dropped (JAX asks for an explicit output sharding there).
- `cumsum`/`cumprod`/`cummax`/`cummin`, `sort` and `associative_scan` along a split dimension are
  errors (as in JAX): reshard that dimension to replicated first.
- combinators: bodies are staged on the sharded types. `map` keeps the leading axis' sharding;
  `scan` needs its scanned axis replicated and its carry consistent: the initial carry, the body's
  carry input and the body's carry output merge like elementwise operands (a replicated side takes
  the other's axes; different axes are an error); `while_loop` likewise; `cond`'s results merge
  over the branches; `custom_jvp_call`, `custom_vjp_call`, `checkpoint` give their body's output
  types; `optimization_barrier` is the identity.
- `sharding_constraint` (`d.reshard`, `d.with_sharding_constraint`) sets its result's sharding
  itself.
- `shard_map`: its results carry the Explicit axes of its out specs (its type rule sets them);
  its operands may have any sharding (the body sees per-device shards, unsharded types).

`REPLICATED` lists the primitives without a rule, and why their results are replicated: those
that take no operands (`iota`; literals and constants are unsharded values). The collectives
(family `collective`: `psum`, `all_gather`, ...) have no rule either: they act over the named
axes of `vmap` and `shard_map`, whose per-example and per-device types carry no Explicit
sharding; given a sharded operand they raise a `ShardingError` that says to reshard it first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from dsl import ops as P
from dsl.errors import ShardingError
from dsl.ir import Op
from dsl.sharding import get_mesh
from dsl.sharding import P as Spec
from dsl.types import Sharding, TensorType, types_str

Axes = tuple[str, ...]


class Ctx:
    """What a rule sees besides its op and types: the current mesh's axis sizes (None when no
    mesh is current) and the failure helper."""

    __slots__ = ("op", "in_types", "sizes")

    def __init__(self, op: Op, in_types: tuple[TensorType, ...], sizes: dict[str, int] | None):
        self.op = op
        self.in_types = in_types
        self.sizes = sizes

    def fail(self, what: str, fix: str) -> None:
        raise ShardingError(f"{self.op.name}: {what}; got {types_str(self.in_types)}. "
                            f"Fix: {fix}")


Rule = Callable[[Ctx, Any, tuple[TensorType, ...], tuple[TensorType, ...]],
                Sequence[Sharding | None]]
RULES: dict[type[Op], Rule] = {}

REPLICATED: dict[type[Op], str] = {
    P.Iota: "takes no operands, so nothing sharded flows into it: its result is replicated",
}
"""Primitives without a sharding rule, each with the reason its result is replicated."""


def parts(t: TensorType) -> Sharding:
    """The per-dimension axes of `t` (all empty when it is unsharded)."""
    s = t.sharding
    return s if s is not None else ((),) * t.ndim


def spec_text(p: Sequence[Axes]) -> str:
    """`P('data', None)` for per-dimension axes, for messages."""
    return repr(Spec(*(a if a else None for a in p)))


def _replicate_dim(p: Sharding, i: int) -> str:
    q = list(p)
    q[i] = ()
    return spec_text(q)


def _rule(*classes: type[Op]) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for c in classes:
            RULES[c] = fn
        return fn
    return register


def _merge_into(ctx: Ctx, acc: list[Axes], p: Sharding, what: str, other: TensorType) -> None:
    for i, axes in enumerate(p):
        if axes and axes != acc[i]:
            if acc[i]:
                ctx.fail(f"{what} dimension {i} is split over {_axes_text(acc[i])} in one "
                         f"operand and over {_axes_text(axes)} in another",
                         f"reshard one operand so both split dimension {i} alike, e.g. "
                         f"d.reshard(y, {_replicate_dim(parts(other), i)}) to replicate it")
            acc[i] = axes


def _axes_text(axes: Axes) -> str:
    return repr(axes[0]) if len(axes) == 1 else repr(axes)


# ----------------------------------------------------------------------------------------------
# Elementwise


@_rule(*P.UNARY, *P.BINARY, *P.COMPARE, *P.TERNARY, P.Convert, P.Bitcast)
def _elementwise(ctx: Ctx, op: Op, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
                 ) -> list[Sharding | None]:
    rank = outs[0].ndim
    acc: list[Axes] = [()] * rank
    for t in ins:
        if t.ndim == rank and t.sharding is not None:  # rank-0 operands broadcast
            _merge_into(ctx, acc, t.sharding, "", t)
    return [tuple(acc)]


# ----------------------------------------------------------------------------------------------
# Reductions, cumulative ops, sort, dot_general


@_rule(*P.REDUCTIONS, P.Argmax, P.Argmin)
def _reduce(ctx: Ctx, op: Any, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
            ) -> list[Sharding | None]:
    axes = op.axes if hasattr(op, "axes") else (op.axis,)
    return [tuple(a for i, a in enumerate(parts(ins[0])) if i not in axes)]


def _unsplit_axis(ctx: Ctx, p: Sharding, axis: int, what: str) -> None:
    if p[axis]:
        ctx.fail(f"{what} dimension {axis}, which is split over {_axes_text(p[axis])}",
                 f"reshard the operand to replicate dimension {axis} first, e.g. "
                 f"d.reshard(x, {_replicate_dim(p, axis)})")


@_rule(*P.CUMULATIVE)
def _cumulative(ctx: Ctx, op: Any, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
                ) -> list[Sharding | None]:
    p = parts(ins[0])
    _unsplit_axis(ctx, p, op.axis, "accumulates along")
    return [p]


@_rule(P.Sort)
def _sort(ctx: Ctx, op: P.Sort, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
          ) -> list[Sharding | None]:
    acc: list[Axes] = [()] * ins[0].ndim
    for t in ins:
        _merge_into(ctx, acc, parts(t), "", t)
    merged = tuple(acc)
    _unsplit_axis(ctx, merged, op.dimension, "sorts along")
    return [merged] * len(ins)


@_rule(P.DotGeneral)
def _dot_general(ctx: Ctx, op: P.DotGeneral, ins: tuple[TensorType, ...],
                 outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    x, y = ins
    xs, ys = parts(x), parts(y)
    (lc, rc), (lb, rb) = op.contracting, op.batch
    batch: list[Axes] = []
    for a, b in zip(lb, rb):
        if xs[a] and ys[b] and xs[a] != ys[b]:
            ctx.fail(f"batch dimensions lhs {a} and rhs {b} are split over "
                     f"{_axes_text(xs[a])} and {_axes_text(ys[b])}",
                     f"reshard one operand so both batch dimensions split alike, e.g. "
                     f"d.reshard(y, {_replicate_dim(ys, b)})")
        batch.append(xs[a] or ys[b])
    for a, b in zip(lc, rc):
        if xs[a] and ys[b] and xs[a] != ys[b]:
            ctx.fail(f"contracting dimensions lhs {a} and rhs {b} are split over different mesh "
                     f"axes, {_axes_text(xs[a])} and {_axes_text(ys[b])}",
                     f"reshard one operand so both split alike (or replicate one), e.g. "
                     f"d.reshard(y, {_replicate_dim(ys, b)})")
    free_x = [xs[i] for i in range(x.ndim) if i not in lc + lb]
    free_y = [ys[i] for i in range(y.ndim) if i not in rc + rb]
    return [tuple(batch + free_x + free_y)]


# ----------------------------------------------------------------------------------------------
# Structural


@_rule(P.Transpose)
def _transpose(ctx: Ctx, op: P.Transpose, ins: tuple[TensorType, ...],
               outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    p = parts(ins[0])
    return [tuple(p[i] for i in op.permutation)]


@_rule(P.BroadcastInDim)
def _broadcast_in_dim(ctx: Ctx, op: P.BroadcastInDim, ins: tuple[TensorType, ...],
                      outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    x = ins[0]
    res: list[Axes] = [()] * len(op.shape)
    for i, (d, axes) in enumerate(zip(op.broadcast_dimensions, parts(x))):
        if x.shape[i] == op.shape[d]:  # a size-1 dimension broadcast to more is replicated
            res[d] = axes
    return [tuple(res)]


@_rule(P.Squeeze)
def _squeeze(ctx: Ctx, op: P.Squeeze, ins: tuple[TensorType, ...],
             outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    return [tuple(a for i, a in enumerate(parts(ins[0])) if i not in op.dimensions)]


@_rule(P.ExpandDims)
def _expand_dims(ctx: Ctx, op: P.ExpandDims, ins: tuple[TensorType, ...],
                 outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    rest = iter(parts(ins[0]))
    return [tuple(() if i in op.dimensions else next(rest) for i in range(outs[0].ndim))]


@_rule(P.Rev, P.Pad, P.Slice, P.DynamicSlice, P.Scatter)
def _operand(ctx: Ctx, op: Op, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
             ) -> list[Sharding | None]:
    return [parts(ins[0])]


@_rule(P.DynamicUpdateSlice)
def _dynamic_update_slice(ctx: Ctx, op: Op, ins: tuple[TensorType, ...],
                          outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    x, u = ins[0], ins[1]
    xs, us = parts(x), parts(u)
    for i, (a, b) in enumerate(zip(xs, us)):
        if a and b and a != b:
            ctx.fail(f"dimension {i} of the operand is split over {_axes_text(a)} but the "
                     f"update's over {_axes_text(b)}",
                     f"reshard the update like the operand, e.g. d.reshard(update, "
                     f"{spec_text(xs)})")
    return [xs]


@_rule(P.Concatenate)
def _concatenate(ctx: Ctx, op: Op, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
                 ) -> list[Sharding | None]:
    acc: list[Axes] = [()] * outs[0].ndim
    for t in ins:
        _merge_into(ctx, acc, parts(t), "", t)
    return [tuple(acc)]


@_rule(P.Gather)
def _gather(ctx: Ctx, op: P.Gather, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
            ) -> list[Sharding | None]:
    x, i = ins
    xs = parts(x)
    return [parts(i)[:-1] + tuple(a for d, a in enumerate(xs) if d not in op.axes)]


@_rule(P.Reshape)
def _reshape(ctx: Ctx, op: P.Reshape, ins: tuple[TensorType, ...],
             outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    x = ins[0]
    xs, old, new = parts(x), x.shape, op.new_sizes
    res: list[Axes] = [()] * len(new)
    if x.size == 0:
        return [tuple(res)]
    i = j = 0
    while True:
        while i < len(old) and old[i] == 1:
            i += 1
        while j < len(new) and new[j] == 1:
            j += 1
        if i >= len(old) or j >= len(new):
            break
        gi, gj, pi, pj = [i], [j], old[i], new[j]
        i, j = i + 1, j + 1
        while pi != pj:
            if pi < pj:
                gi.append(i)
                pi *= old[i]
                i += 1
            else:
                gj.append(j)
                pj *= new[j]
                j += 1
        real = [k for k in gi if old[k] != 1]
        split = [k for k in real if xs[k]]
        if not split:
            continue
        if split != real[: len(split)]:  # a split dimension after an unsplit one
            _reshape_fail(ctx, x, new, split[-1])
        if len(split) > 1:  # leading dims split down to one element each merge their axes
            if ctx.sizes is None:
                _needs_mesh(ctx, split[0], xs[split[0]], [old[k] for k in split])
            assert ctx.sizes is not None
            for k in split[:-1]:
                if old[k] != math.prod(ctx.sizes.get(a, 1) for a in xs[k]):
                    _reshape_fail(ctx, x, new, split[-1])
        _place(ctx, x, new, gi[0], [a for k in split for a in xs[k]], gj, res)
    return [tuple(res)]


def _needs_mesh(ctx: Ctx, k: int, axes: Axes, sizes: list[int]) -> None:
    ctx.fail(f"reshaping dimension {k}, split over {_axes_text(axes)}, with sizes {sizes} "
             "needs the mesh's axis sizes, and no mesh is current",
             "make the mesh current (`with d.set_mesh(mesh):`) while staging")


def _place(ctx: Ctx, x: TensorType, new: tuple[int, ...], k: int, rest: list[str],
           gj: list[int], res: list[Axes]) -> None:
    """Give the axes `rest` of operand dimension `k` to the leading new dimensions `gj`."""
    if len(gj) == 1:
        res[gj[0]] = tuple(rest)
        return
    sizes = ctx.sizes
    if sizes is None:
        _needs_mesh(ctx, k, tuple(rest), [new[g] for g in gj])
    assert sizes is not None
    for g in gj:
        if not rest:
            return
        n = new[g]
        if n % math.prod(sizes.get(a, 1) for a in rest) == 0:
            res[g] = tuple(rest)
            return
        m, p = 0, 1
        while m < len(rest) and n % (p * sizes.get(rest[m], 1)) == 0:
            p *= sizes.get(rest[m], 1)
            m += 1
        if m == 0 or p != n:
            break
        res[g] = tuple(rest[:m])
        rest = rest[m:]
    _reshape_fail(ctx, x, new, k)


def _reshape_fail(ctx: Ctx, x: TensorType, new: tuple[int, ...], k: int) -> None:
    ctx.fail(f"reshaping to {list(new)} cannot keep the sharding of dimension {k} (only the "
             "leading dimension of a run of merged or split dimensions keeps its mesh axes, "
             "split as the new sizes allow)",
             f"reshard the operand to replicate dimension {k} first, e.g. "
             f"d.reshard(x, {_replicate_dim(parts(x), k)}), then reshard the result")


# ----------------------------------------------------------------------------------------------
# Combinators


def _merge_types(ctx: Ctx, ts: Sequence[TensorType], what: str) -> Sharding:
    acc: list[Axes] = [()] * ts[0].ndim
    for t in ts:
        for i, axes in enumerate(parts(t)):
            if axes and axes != acc[i]:
                if acc[i]:
                    ctx.fail(f"{what} disagree: {' vs '.join(str(u) for u in ts)} split "
                             f"dimension {i} over different mesh axes",
                             "reshard so they agree, e.g. d.reshard(init, "
                             f"{spec_text(parts(t))}) or d.reshard inside the body")
                acc[i] = axes
    return tuple(acc)


@_rule(P.Map)
def _map(ctx: Ctx, op: P.Map, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
         ) -> list[Sharding | None]:
    xs = ins[op.num_consts:]
    lead: Axes = ()
    for t in xs:
        a = parts(t)[0]
        if a and lead and a != lead:
            ctx.fail(f"the mapped (leading) axes are split over {_axes_text(lead)} and "
                     f"{_axes_text(a)}", "reshard the mapped operands so their leading "
                     "dimensions split alike")
        lead = lead or a
    return [(lead,) + parts(t) for t in op.body.out_types]


@_rule(P.Scan)
def _scan(ctx: Ctx, op: P.Scan, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
          ) -> list[Sharding | None]:
    nc, nk = op.num_consts, op.num_carry
    body_in, body_out = op.body.in_types, op.body.out_types
    for t in ins[nc + nk:]:
        _unsplit_axis(ctx, parts(t), 0, "scans along")
    carry = [_merge_types(ctx, [ins[nc + j], body_in[nc + j], body_out[j]],
                          f"the carry {j} (initial value, body input, body output)")
             for j in range(nk)]
    return carry + [((),) + parts(t) for t in body_out[nk:]]


@_rule(P.WhileLoop)
def _while_loop(ctx: Ctx, op: P.WhileLoop, ins: tuple[TensorType, ...],
                outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    nc, nb = op.cond_consts, op.body_consts
    carry = ins[nc + nb:]
    return [_merge_types(ctx, [t, op.body.in_types[nb + j], op.body.out_types[j]],
                         f"the carry {j} (initial value, body input, body output)")
            for j, t in enumerate(carry)]


@_rule(P.Reduce)
def _reduce_combinator(ctx: Ctx, op: P.Reduce, ins: tuple[TensorType, ...],
                       outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    rest = ins[op.num_consts:]
    xs = rest[: len(rest) // 2]
    merged = _merge_types(ctx, xs, "the reduced operands")
    kept = tuple(a for i, a in enumerate(merged) if i not in op.axes)
    return [kept] * len(xs)


@_rule(P.AssociativeScan)
def _associative_scan(ctx: Ctx, op: P.AssociativeScan, ins: tuple[TensorType, ...],
                      outs: tuple[TensorType, ...]) -> list[Sharding | None]:
    xs = ins[op.num_consts:]
    merged = _merge_types(ctx, xs, "the scanned operands")
    _unsplit_axis(ctx, merged, op.axis, "scans along")
    return [merged] * len(xs)


@_rule(P.Cond)
def _cond(ctx: Ctx, op: P.Cond, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
          ) -> list[Sharding | None]:
    return [_merge_types(ctx, [b.out_types[k] for b in op.branches],
                         f"the branches' output {k}") for k in range(len(outs))]


@_rule(P.CustomJvpCall, P.CustomVjpCall, P.Checkpoint)
def _call(ctx: Ctx, op: Any, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
          ) -> list[Sharding | None]:
    return [t.sharding for t in op.body.out_types]


@_rule(P.OptimizationBarrier, P.CheckpointName)
def _identity(ctx: Ctx, op: Op, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
              ) -> list[Sharding | None]:
    return [t.sharding for t in ins]


@_rule(P.ShardingConstraint)
def _constraint(ctx: Ctx, op: Op, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
                ) -> list[Sharding | None]:
    return [t.sharding for t in outs]  # its type rule sets the sharding


@_rule(P.ShardMap)
def _shard_map(ctx: Ctx, op: Op, ins: tuple[TensorType, ...], outs: tuple[TensorType, ...]
               ) -> list[Sharding | None]:
    return [t.sharding for t in outs]  # its type rule: the out specs' Explicit axes


# ----------------------------------------------------------------------------------------------
# The entry point from dsl.core.infer


_CACHE: dict[tuple[Any, ...], tuple[TensorType, ...]] = {}


def infer_sharded(op: Op, in_types: tuple[TensorType, ...]) -> tuple[TensorType, ...]:
    """The output types of `op` on `in_types`, some of which are sharded, shardings included."""
    mesh = get_mesh()
    mesh_key = None if mesh is None else (mesh.axis_names, mesh.axis_sizes)
    key = (op, in_types, mesh_key)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    outs = op.infer(*in_types)
    rule = RULES.get(type(op))
    if rule is None:
        if type(op) not in REPLICATED:
            raise ShardingError(f"{op.name}: no sharding rule for this primitive, and an operand "
                                f"is sharded; got {types_str(in_types)}. Fix: reshard the "
                                "operands to replicated first (d.reshard(x, P()))")
        shardings: Sequence[Sharding | None] = (None,) * len(outs)
    else:
        shardings = rule(Ctx(op, in_types, None if mesh is None else mesh.shape), op,
                         in_types, outs)
    result = tuple(_typed(t, s) for t, s in zip(outs, shardings))
    for t in result:
        if t.sharding is not None:
            _check(op, in_types, t, None if mesh is None else mesh.shape)
    if len(_CACHE) > 100_000:
        _CACHE.clear()
    _CACHE[key] = result
    return result


def _typed(t: TensorType, s: Sharding | None) -> TensorType:
    if s is not None and not any(s):
        s = None
    if s == t.sharding:
        return t
    return TensorType(t.shape, t.dtype, t.weak, s)


def _check(op: Op, in_types: tuple[TensorType, ...], t: TensorType,
           sizes: dict[str, int] | None) -> None:
    """A mesh axis splits at most one dimension of `t`, and each split dimension divides."""
    p = parts(t)
    seen: dict[str, int] = {}
    for i, axes in enumerate(p):
        for a in axes:
            if a in seen:
                q = list(p)
                q[i] = ()
                raise ShardingError(
                    f"{op.name}: the result would be {t}, which splits dimensions {seen[a]} and "
                    f"{i} both over mesh axis {a!r}; got {types_str(in_types)}. Fix: reshard an "
                    f"operand first (d.reshard(x, spec)) so that each mesh axis splits at most "
                    f"one dimension of the result, e.g. so the result is {spec_text(q)}")
            seen[a] = i
    if sizes is None:
        return
    for i, (n, axes) in enumerate(zip(t.shape, p)):
        missing = [a for a in axes if a not in sizes]
        if missing:
            raise ShardingError(f"{op.name}: the result {t} names mesh axis {missing[0]!r}, "
                                f"which the current mesh (axes {tuple(sizes)}) does not have; "
                                f"got {types_str(in_types)}. Fix: stage under the mesh the "
                                "types were made with")
        k = math.prod(sizes[a] for a in axes)
        if n % k:
            raise ShardingError(
                f"{op.name}: the result would be {t}, whose dimension {i} of size {n} does not "
                f"divide over mesh axes {_axes_text(axes)} (size {k}); got "
                f"{types_str(in_types)}. Fix: reshard the operand so that this dimension of "
                f"the result is replicated, e.g. so the result is {_replicate_dim(p, i)}")


__all__ = ["REPLICATED", "RULES", "infer_sharded", "parts", "spec_text"]
