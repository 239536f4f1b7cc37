"""`checkpoint` (JAX's `jax.checkpoint` / `jax.remat`) and its policies.

`checkpoint(fn, policy=...)` stages `fn` into one `checkpoint` primitive holding the body.
Evaluation, lowering and forward mode run the body as it is; reverse mode decides, by the
policy, which of the body's values the forward pass keeps ("saved", the residuals) and
recomputes every other value the backward pass needs from the body's inputs and the saved
values, as JAX does:

- `nothing_saveable` (the default): nothing is kept but the body's inputs;
- `everything_saveable`: every value is kept and nothing is recomputed (as without checkpoint);
- `dots_saveable` (alias `checkpoint_dots`): the results of `dot_general` are kept;
  `dots_with_no_batch_dims_saveable` (alias `checkpoint_dots_with_no_batch_dims`) only those
  of dots without batch dimensions;
- `save_only_these_names(*names)`: the values marked `d.checkpoint_name(x, name)` with one of
  `names`; `save_any_names_but_these(*names)`: the marked values whose name is not among them;
  `save_anything_except_these_names(*names)`: every value except those marked with one of
  `names` (a marked value is not kept as the marker's operand either; JAX 0.10's version of
  this policy keeps everything).

How (the plan, `_plan`). Walking the body backwards from the outputs that receive cotangents
finds the equations whose vjp rules run (the "active" ones, assumed to read their inputs and
results) and so the values the backward pass reads. Going backwards again, each such value is
taken from the forward pass when the policy saves it (a named value also stands for its
marker's operand), otherwise its equation is recomputed, which needs that equation's inputs in
turn. The body's outputs are recomputed like any other value (JAX's semantics: keeping them
for the backward pass would stretch their lifetime, e.g. into a scan's residuals).

The backward pass is staged once per checkpoint, policy and cotangent pattern
(`backward_program`, cached; residuals are named by position so alpha-equivalent bodies share
it): the recomputation, in program order, behind one `optimization_barrier` over the values it
starts from and the incoming cotangents (XLA can neither merge it with the forward pass (CSE)
nor hoist it before the cotangents exist; `prevent_cse=False` drops the barrier, as in JAX),
then the body's reverse pass. The staged program is pruned of what the rules did not use after
all, so only the saved values it reads are kept, and a barrier is left only where something
is recomputed. The vjp rule inlines that program: the recomputation is ordinary equations of
the staged backward program, visible in `d.stage(grad(f))` and `show`.

The forward pass of reverse mode (`FORWARD_RULES`, see `interpreters.differentiate.forward`)
binds the checkpoint with the saved values as extra outputs of its body and hands them to the
vjp rule as residuals; under `everything_saveable` it runs the body inline, keeping every value
(nothing is recomputed, as without checkpoint). A nested `checkpoint` is an equation like any
other for the outer policy (recomputed unless the outer policy keeps everything); its own policy
decides what its own recomputation keeps.

Forward mode differentiates the body inline (the recomputation is a reverse-mode matter).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from dsl.axes import AXES
from dsl.core import bind, inline, stage_flat
from dsl.errors import ArgumentTypeError, ArgumentValueError, TransformError
from dsl.ir import Eqn, Program, Var
from dsl.ops.control import (CHECKPOINT_POLICIES, NAMED_POLICIES, Checkpoint, CheckpointName,
                             OptimizationBarrier)
from dsl.ops.reductions import DotGeneral
from dsl.pytree import PyTreeDef, tree_unflatten
from dsl.sharding import get_mesh
from dsl.types import TensorType
from interpreters.differentiate import (FORWARD_RULES, JVP_RULES, RESIDUAL_RULES, VJP_RULES,
                                        Zero, _passes_through, _read, backward, differentiable,
                                        forward, jvp_program, stage_body, type_of)

# --- policies --------------------------------------------------------------------------------


@attrs.frozen
class CheckpointPolicy:
    """A policy of `checkpoint`: which values of the body reverse mode keeps (see the module
    docstring). Made by `checkpoint_policies`."""

    kind: str
    names: tuple[str, ...] = ()

    def __repr__(self) -> str:
        args = ", ".join(repr(n) for n in self.names)
        return (f"checkpoint_policies.{self.kind}({args})" if self.kind in NAMED_POLICIES
                else f"checkpoint_policies.{self.kind}")


def _names(what: str, names: tuple[Any, ...]) -> tuple[str, ...]:
    for n in names:
        if not isinstance(n, str):
            raise ArgumentTypeError(f"checkpoint_policies.{what}: names must be str, got "
                                    f"{type(n).__name__} {n!r}")
    return tuple(sorted(set(names)))


def save_only_these_names(*names: str) -> CheckpointPolicy:
    """Keep only the values marked by `checkpoint_name` with one of `names`."""
    return CheckpointPolicy("save_only_these_names", _names("save_only_these_names", names))


def save_any_names_but_these(*names: str) -> CheckpointPolicy:
    """Keep the values marked by `checkpoint_name`, except those named one of `names`."""
    return CheckpointPolicy("save_any_names_but_these",
                            _names("save_any_names_but_these", names))


def save_anything_except_these_names(*names: str) -> CheckpointPolicy:
    """Keep every value except those marked by `checkpoint_name` with one of `names`."""
    return CheckpointPolicy("save_anything_except_these_names",
                            _names("save_anything_except_these_names", names))


_DOTS = CheckpointPolicy("dots_saveable")
_DOTS_NO_BATCH = CheckpointPolicy("dots_with_no_batch_dims_saveable")

checkpoint_policies = types.SimpleNamespace(
    everything_saveable=CheckpointPolicy("everything_saveable"),
    nothing_saveable=CheckpointPolicy("nothing_saveable"),
    dots_saveable=_DOTS,
    checkpoint_dots=_DOTS,
    dots_with_no_batch_dims_saveable=_DOTS_NO_BATCH,
    checkpoint_dots_with_no_batch_dims=_DOTS_NO_BATCH,
    save_only_these_names=save_only_these_names,
    save_any_names_but_these=save_any_names_but_these,
    save_anything_except_these_names=save_anything_except_these_names,
)

_ALIASES = {"checkpoint_dots": "dots_saveable",
            "checkpoint_dots_with_no_batch_dims": "dots_with_no_batch_dims_saveable"}


def _policy(policy: Any) -> CheckpointPolicy:
    if policy is None:
        return CheckpointPolicy("nothing_saveable")
    if isinstance(policy, CheckpointPolicy):
        return policy
    if isinstance(policy, str):
        kind = _ALIASES.get(policy, policy)
        if kind in NAMED_POLICIES:
            raise ArgumentValueError(f"checkpoint: policy {policy!r} needs names; pass "
                                     f"checkpoint_policies.{kind}(name, ...)")
        if kind in CHECKPOINT_POLICIES:
            return CheckpointPolicy(kind)
        raise ArgumentValueError(f"checkpoint: policy must be one of "
                                 f"{CHECKPOINT_POLICIES + tuple(_ALIASES)} or a "
                                 f"checkpoint_policies entry, got {policy!r}")
    raise ArgumentTypeError(f"checkpoint: policy must be a checkpoint_policies entry (such as "
                            f"checkpoint_policies.dots_saveable) or its name, got "
                            f"{type(policy).__name__} {policy!r}; arbitrary policy functions "
                            f"are not supported")


def checkpoint(fn: Callable[..., Any], policy: Any = None, *, prevent_cse: bool = True
               ) -> Callable[..., Any]:
    """`fn`, whose intermediate values reverse mode recomputes instead of storing, except those
    `policy` saves (a `checkpoint_policies` entry or its name; default `nothing_saveable`)."""
    from interpreters.differentiate.custom import _leaves

    pol = _policy(policy)
    if not isinstance(prevent_cse, bool):
        raise ArgumentTypeError(f"checkpoint: prevent_cse must be a bool, got {prevent_cse!r}")

    @functools.wraps(fn, updated=())  # (never merge the wrapped object's __dict__ into ours)
    def wrapped(*args: Any) -> Any:
        leaves, in_tree = _leaves("checkpoint", args)
        box: list[PyTreeDef] = []

        def body(*xs: Any) -> list[Any]:
            outs, tree = _leaves("checkpoint", fn(*tree_unflatten(in_tree, xs)))
            box.append(tree)
            return outs

        program, consts = stage_body(body, leaves)
        op = Checkpoint(body=program, policy=pol.kind, names=pol.names, prevent_cse=prevent_cse)
        outs = bind(op, *consts, *leaves)
        return tree_unflatten(box[0], list(outs))

    return wrapped


def policy_saves(op: Checkpoint) -> Callable[[Eqn], bool]:
    """Whether `op`'s policy keeps the results of an equation of its body."""
    kind, names = op.policy, frozenset(op.names)
    if kind == "everything_saveable":
        return lambda e: True
    if kind == "dots_saveable":
        return lambda e: type(e.op) is DotGeneral
    if kind == "dots_with_no_batch_dims_saveable":
        return lambda e: type(e.op) is DotGeneral and not any(e.op.batch)  # type: ignore
    if kind == "save_only_these_names":
        return lambda e: type(e.op) is CheckpointName and e.op.label in names  # type: ignore
    if kind == "save_any_names_but_these":
        return lambda e: type(e.op) is CheckpointName and e.op.label not in names  # type: ignore
    if kind == "save_anything_except_these_names":
        excluded: set[Var] = set()
        for e in op.body.eqns:
            if type(e.op) is CheckpointName and e.op.label in names:
                excluded.update(a for a in (*e.inputs, *e.outputs) if type(a) is Var)
        return lambda e: not any(v in excluded for v in e.outputs)
    return lambda e: False


# --- the plan --------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class Plan:
    """What reverse mode of a checkpoint body keeps and recomputes (see `_plan`)."""

    saved: tuple[Var, ...]  # the body's values taken from the forward pass
    provide: tuple[tuple[Var, Var], ...]  # (value read, saved value holding it)
    recompute: frozenset[Eqn]  # equations run again in the backward pass
    active: frozenset[Eqn]  # equations whose vjp rules run


def _plan(body: Program, can_save: Callable[[Eqn, Var], bool], alias: dict[Var, Var],
          live: Sequence[bool]) -> Plan:
    """The plan for `body` whose outputs with `live[i]` receive cotangents: `can_save(eqn, v)`
    says whether output `v` of `eqn` comes from the forward pass; `alias[v]` is a saved value
    equal to `v` (a `checkpoint_name` result standing for its operand)."""
    has_ct: set[Var] = {a for a, c in zip(body.outputs, live)
                        if c and type(a) is Var and differentiable(a.type)}
    needed: set[Var] = set()
    active: set[Eqn] = set()
    for eqn in reversed(body.eqns):  # mirrors `backward`: which rules run, what they read
        if not any(v in has_ct for v in eqn.outputs):
            continue
        dvars = [a for a in eqn.inputs if type(a) is Var and differentiable(a.type)]
        if not dvars:
            continue
        through = _passes_through(eqn)
        if through is not None and differentiable(through.type):
            has_ct.add(through)
            continue
        active.add(eqn)
        has_ct.update(dvars)
        needed.update(a for a in eqn.inputs if type(a) is Var)
        needed.update(eqn.outputs)
    saved: dict[Var, None] = {}
    provide: list[tuple[Var, Var]] = []
    recompute: set[Eqn] = set()
    for eqn in reversed(body.eqns):
        want = [v for v in eqn.outputs if v in needed]
        if not want:
            continue
        sources = [v if can_save(eqn, v) else alias.get(v) for v in want]
        if all(s is not None for s in sources):
            for v, s in zip(want, sources):
                saved[s] = None  # type: ignore[index]
                provide.append((v, s))  # type: ignore[arg-type]
            continue
        recompute.add(eqn)
        needed.update(a for a in eqn.inputs if type(a) is Var)
    return Plan(saved=tuple(saved), provide=tuple(provide), recompute=frozenset(recompute),
                active=frozenset(active))


def _names_alias(body: Program, keep: Callable[[Eqn], bool]) -> dict[Var, Var]:
    """operand -> result of the `checkpoint_name` equations whose result is kept."""
    return {e.inputs[0]: e.outputs[0] for e in body.eqns
            if type(e.op) is CheckpointName and type(e.inputs[0]) is Var and keep(e)}


def _variables(body: Program) -> list[Var]:
    """The body's variables in order of definition (residuals are named by position here, so
    that plans cached for one body serve alpha-equivalent ones)."""
    return [*body.inputs, *(v for e in body.eqns for v in e.outputs)]


def _dce(p: Program) -> Program:
    """`p` without the equations whose results are unused; a barrier keeps only the operands
    whose results are used."""
    used: set[Var] = {a for a in p.outputs if type(a) is Var}
    keep: list[Eqn] = []
    for e in reversed(p.eqns):
        if not any(v in used for v in e.outputs):
            continue
        if type(e.op) is OptimizationBarrier:
            pos = [i for i, v in enumerate(e.outputs) if v in used]
            e = Eqn(e.op, tuple(e.inputs[i] for i in pos), tuple(e.outputs[i] for i in pos),
                    e.src)
        keep.append(e)
        used.update(a for a in e.inputs if type(a) is Var)
    return Program(p.inputs, tuple(reversed(keep)), p.outputs)


@attrs.frozen(eq=False)
class Backward:
    """A checkpoint's backward pass as a program: (body inputs, saved values, live output
    cotangents) -> the nonzero input cotangents (`nonzero[i]` for input i)."""

    program: Program
    saved: tuple[int, ...]  # the saved values, by position in `_variables(body)`
    nonzero: tuple[bool, ...]


@functools.lru_cache(maxsize=256)
def backward_program(op: Checkpoint, in_types: tuple[TensorType, ...],
                     ct_types: tuple[TensorType, ...], live: tuple[bool, ...],
                     available: tuple[int, ...] | None, context: Any = None) -> Backward:
    """Stage the backward pass of `op` for the outputs with `live[i]` receiving cotangents (of
    `ct_types`), keeping what the policy saves (`available` None: the forward pass's choice)
    or the values at positions `available` (the vjp rule: what the forward pass kept). The
    static plan is conservative (a rule is assumed to read all its operands and results); the
    staged program is pruned, and only the saved values it still reads are kept. `context`
    (the named axes in scope and the current mesh, which staging may consult) is part of the
    cache key only."""
    body = op.body
    every = _variables(body)
    if available is None:
        saves = policy_saves(op)
        plan = _plan(body, lambda e, v: saves(e), _names_alias(body, saves), live)
    else:
        avail = {every[i] for i in available}
        plan = _plan(body, lambda e, v: v in avail,
                     _names_alias(body, lambda e: e.outputs[0] in avail), live)
    n_in, n_saved = len(body.inputs), len(plan.saved)
    nonzero: list[bool] = []
    made: list[Any] = []  # what the recomputation staged

    def fn(*xs: Any, fence: bool) -> list[Any]:
        nonzero.clear()
        ins, held, cts_live = xs[:n_in], xs[n_in: n_in + n_saved], iter(xs[n_in + n_saved:])
        cts = [next(cts_live) if c else Zero(t) for c, t in zip(live, body.out_types)]
        cin = _recompute_backward(op, plan, list(ins), dict(zip(plan.saved, held)), cts,
                                  fence, made)
        nonzero.extend(not isinstance(c, Zero) for c in cin)
        return [c for c in cin if not isinstance(c, Zero)]

    types = [*in_types, *(v.type for v in plan.saved), *ct_types]
    program = _dce(_stage(functools.partial(fn, fence=op.prevent_cse), types))
    if op.prevent_cse and not _stages_any(program, made):
        # nothing is recomputed after all (the plan is conservative): no barrier either
        program = _dce(_stage(functools.partial(fn, fence=False), types))
    used = {a for e in program.eqns for a in e.inputs if type(a) is Var}
    used.update(a for a in program.outputs if type(a) is Var)
    kept = [k for k in range(n_saved) if program.inputs[n_in + k] in used]
    inputs = (*program.inputs[:n_in], *(program.inputs[n_in + k] for k in kept),
              *program.inputs[n_in + n_saved:])
    position = {v: i for i, v in enumerate(every)}
    return Backward(Program(inputs, program.eqns, program.outputs),
                    tuple(position[plan.saved[k]] for k in kept), tuple(nonzero))


def _stage(fn: Callable[..., list[Any]], types: list[TensorType]) -> Program:
    program, captured, _ = stage_flat(fn, types)
    if captured:
        raise TransformError("checkpoint: the backward pass captured outer values (a bug)")
    return program


def _stages_any(program: Program, made: list[Any]) -> bool:
    """Whether `program` still holds one of the values in `made` (tracers)."""
    mine = {id(getattr(t, "_var", None)) for t in made}
    return any(id(v) in mine for e in program.eqns for v in e.outputs)


def _recompute_backward(op: Checkpoint, plan: Plan, ins: list[Any], held: dict[Var, Any],
                        cts: list[Any], fence: bool, made: list[Any]) -> list[Any]:
    """Recompute what `plan` says from the inputs and the `held` saved values (behind one
    barrier when `fence`), then run the body's reverse pass. The recomputed values are
    appended to `made`."""
    body = op.body
    env: dict[Any, Any] = dict(zip(body.inputs, ins))
    env.update((v, held[s]) for v, s in plan.provide)
    live = [c for c in cts if not isinstance(c, Zero)]
    if plan.recompute and fence:
        # one barrier over what the recomputation reads from outside, and the cotangents
        inside = {v for e in plan.recompute for v in e.outputs}
        feeds = list(dict.fromkeys(a for e in body.eqns if e in plan.recompute
                                   for a in e.inputs if type(a) is Var and a not in inside))
        if feeds or live:
            fenced = list(bind(OptimizationBarrier(), *(env[v] for v in feeds), *live))
            env.update(zip(feeds, fenced))
            rest = iter(fenced[len(feeds):])
            cts = [c if isinstance(c, Zero) else next(rest) for c in cts]
    for eqn in body.eqns:
        wanted = [type(a) is Var and differentiable(a.type) for a in eqn.inputs]
        if eqn in plan.recompute:
            vals = [_read(env, a) for a in eqn.inputs]
            saving = FORWARD_RULES.get(type(eqn.op))
            if saving is not None and eqn in plan.active and any(wanted):
                got, env[eqn] = saving(eqn.op, vals, eqn.src)
            else:
                got = bind(eqn.op, *vals, src=eqn.src)
                got = got if eqn.op.multiple_results else (got,)
            made.extend(got)
            env.update(zip(eqn.outputs, got))
        residual = RESIDUAL_RULES.get(type(eqn.op))
        if residual is not None and eqn in plan.active and eqn not in env and any(wanted):
            env[eqn] = residual(eqn.op, [_read(env, a) for a in eqn.inputs],
                                [env[v] for v in eqn.outputs], wanted)
    return backward(body, env, cts)


def _context() -> tuple[Any, ...]:
    return (tuple(AXES), get_mesh())


def _live_outputs(body: Program) -> tuple[tuple[bool, ...], tuple[TensorType, ...]]:
    live = tuple(differentiable(t) for t in body.out_types)
    return live, tuple(t.strong() for t, c in zip(body.out_types, live) if c)


# --- the rules -------------------------------------------------------------------------------

def checkpoint_forward(op: Checkpoint, ins: list[Any], src: tuple[str, int] | None = None
                       ) -> tuple[list[Any], Any]:
    """Reverse mode's forward pass: the outputs, and the residuals (the saved values by their
    position in `_variables(body)`; under `everything_saveable` the whole inline forward
    pass)."""
    body = op.body
    if op.policy == "everything_saveable":
        outs, env = forward(body, ins)
        return outs, env
    live, ct_types = _live_outputs(body)
    plan = backward_program(op, tuple(type_of(x) for x in ins), ct_types, live, None,
                            _context())
    every = _variables(body)
    extra = tuple(every[i] for i in plan.saved)
    wide = op if not extra else attrs.evolve(op, body=Program(
        body.inputs, body.eqns, tuple(body.outputs) + extra))
    vals = list(bind(wide, *ins, src=src))
    n = len(body.outputs)
    return vals[:n], dict(zip(plan.saved, vals[n:]))


def checkpoint_vjp(op: Checkpoint, ins: list[Any], outs: list[Any], cts: list[Any],
                   residuals: Any = None) -> list[Any]:
    body = op.body
    if residuals is not None and op.policy == "everything_saveable":
        return backward(body, residuals, cts)
    kept: dict[int, Any] = residuals or {}
    live = tuple(not isinstance(c, Zero) and differentiable(t)
                 for c, t in zip(cts, body.out_types))
    ct_types = tuple(type_of(c) for c, x in zip(cts, live) if x)
    plan = backward_program(op, tuple(type_of(x) for x in ins), ct_types, live,
                            tuple(sorted(kept)), _context())
    got = iter(inline(plan.program, [*ins, *(kept[i] for i in plan.saved),
                                     *(c for c, x in zip(cts, live) if x)]))
    return [next(got) if nz else Zero(v.type) for nz, v in zip(plan.nonzero, body.inputs)]


def checkpoint_jvp(op: Checkpoint, ins: list[Any], tins: list[Any]
                   ) -> tuple[list[Any], list[Any]]:
    return jvp_program(op.body, ins, tins)


def checkpoint_name_jvp(op: CheckpointName, ins: list[Any], tins: list[Any]
                        ) -> tuple[list[Any], list[Any]]:
    return [bind(op, ins[0])], [tins[0]]  # the tangent is not named (as in JAX)


def checkpoint_name_vjp(op: CheckpointName, ins: list[Any], outs: list[Any], cts: list[Any]
                        ) -> list[Any]:
    return [cts[0]]


def barrier_jvp(op: OptimizationBarrier, ins: list[Any], tins: list[Any]
                ) -> tuple[list[Any], list[Any]]:
    return list(bind(op, *ins)), list(tins)


def barrier_vjp(op: OptimizationBarrier, ins: list[Any], outs: list[Any], cts: list[Any]
                ) -> list[Any]:
    return list(cts)


FORWARD_RULES[Checkpoint] = checkpoint_forward
JVP_RULES[Checkpoint] = checkpoint_jvp
VJP_RULES[Checkpoint] = checkpoint_vjp
JVP_RULES[CheckpointName] = checkpoint_name_jvp
VJP_RULES[CheckpointName] = checkpoint_name_vjp
JVP_RULES[OptimizationBarrier] = barrier_jvp
VJP_RULES[OptimizationBarrier] = barrier_vjp

__all__ = ["Backward", "CheckpointPolicy", "Plan", "backward_program", "checkpoint",
           "checkpoint_forward", "checkpoint_jvp", "checkpoint_name_jvp", "checkpoint_name_vjp",
           "checkpoint_policies", "checkpoint_vjp", "policy_saves", "save_any_names_but_these",
           "save_anything_except_these_names", "save_only_these_names"]
