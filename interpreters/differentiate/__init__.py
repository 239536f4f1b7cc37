"""Differentiation: forward mode (`jvp`) and reverse mode (`vjp`) over staged programs.

How it works. A function is first staged into a `Program` (with its argument values known, so
Python control flow on them works, as in the README's `abs_val`). Both modes are then interpreters
that walk the program and *re-bind* primitives through `dsl.core.bind`: on concrete values this
computes at once, on symbolic values (under `jit`, or under an outer `grad`) it records into the
enclosing program. That is all higher order needs: `grad(grad(f))` stages the inner gradient
computation, which the outer `grad` then differentiates like any other program.

- Forward mode: `jvp_program` carries a tangent beside each value. `JVP_RULES[type(op)](op,
  primals, tangents) -> (primal outs, tangent outs)`. Tangents may be `Zero(type)`, a symbolic
  zero that costs nothing: an equation whose input tangents are all zero is re-bound as is.
- Reverse mode: direct vjp rules (the Futhark/tinygrad way), chosen over linearize + transpose
  because every rule then sees the primal values it needs, and combinators need no general partial
  evaluation: `vjp_program` runs the program forward keeping every intermediate value, then walks
  the equations backwards with `VJP_RULES[type(op)](op, primals_in, primals_out, cts_out) ->
  cts_in`, accumulating cotangents (`Zero` where nothing flows). `scan` stacks each step's
  residuals in its forward loop and reads them in the backward loop (module `scan`); `map` and
  `cond` rerun their bodies under `vjp` on the way back.
- One table of elementwise partial derivatives (`elementwise.PARTIALS`) makes both the jvp and
  the vjp rules of the elementwise family, so the two modes cannot disagree there.
- `linearize` is `jvp` staged with respect to the tangent; `linear_transpose` of a linear function
  is its `vjp` (the transpose of a linear map is its own vjp at any point).

Integer and boolean values have no tangents: their tangents and cotangents are `Zero` (users see
`float0` zeros where `allow_int` asks for them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from dsl import dtypes
from dsl.array import Array
from dsl.core import Tracer, bind, stage_flat
from dsl.errors import TransformError
from dsl.ir import Lit, Op, Program, Var
from dsl.types import TensorType

JvpRule = Callable[..., tuple[Sequence[Any], Sequence[Any]]]
VjpRule = Callable[..., Sequence[Any]]
JVP_RULES: dict[type[Op], JvpRule] = {}
VJP_RULES: dict[type[Op], VjpRule] = {}
# Rules computing, during the forward pass, what an op's vjp rule needs (its partials): they are
# staged in program order, before any cotangent arithmetic, as JAX's linearize stages them, so
# that derivatives of derivatives group their sums as JAX's do (and round alike). The vjp rule
# then receives them as `residuals=`.
RESIDUAL_RULES: dict[type[Op], Callable[..., Any]] = {}
# Rules that replace binding an op in the forward pass, for ops whose forward pass chooses what
# to keep (`checkpoint` under a saving policy): `rule(op, ins, src) -> (outs, residuals)`; the
# vjp rule receives the residuals as `residuals=`.
FORWARD_RULES: dict[type[Op], Callable[..., tuple[Sequence[Any], Any]]] = {}


@attrs.frozen
class Zero:
    """A symbolic zero tangent or cotangent of `type` (nothing is computed for it)."""

    type: TensorType


def differentiable(t: TensorType) -> bool:
    """Floating and complex values carry tangents; integers and bools do not."""
    return dtypes.is_inexact(t.dtype)


def type_of(x: Any) -> TensorType:
    if isinstance(x, Zero):
        return x.type
    if type(x) in (Array, Tracer):
        return x.type
    return TensorType(np.shape(x), np.asarray(x).dtype)


def zeros(t: TensorType) -> Any:
    """A concrete zero array of type `t` (strong dtype)."""
    from dsl.numpy_api import zeros as np_zeros

    return np_zeros(t.shape, dtype=t.dtype)


def instantiate(x: Any) -> Any:
    """A real value for a possibly symbolic zero."""
    return zeros(x.type) if isinstance(x, Zero) else x


def add_any(a: Any, b: Any) -> Any:
    """The sum of two tangents/cotangents of one type, skipping symbolic zeros."""
    if isinstance(a, Zero):
        return b
    if isinstance(b, Zero):
        return a
    from dsl import lax

    return lax.add(a, b)


def like_primal(x: Any, t: TensorType) -> Any:
    """Tangent or cotangent `x` with the sharding of its primal's type `t` (a
    `sharding_constraint` where the rules gave it another one; nothing for unsharded values)."""
    if isinstance(x, Zero):
        return x
    xt = getattr(x, "type", None)
    if (xt.sharding if xt is not None else None) == t.sharding:
        return x
    from dsl.sharding_ops import constrain

    return constrain(x, t.sharding)


def _read(env: dict[Var, Any], a: Var | Lit) -> Any:
    if type(a) is Lit:
        return Array(a.value, a.type.weak)
    return env[a]


def _zero_of(a: Var | Lit) -> Zero:
    return Zero(a.type)


def jvp_program(program: Program, primals: Sequence[Any], tangents: Sequence[Any]
                ) -> tuple[list[Any], list[Any]]:
    """Run `program` on `primals` with `tangents` (values or `Zero`s) beside them."""
    env: dict[Var, Any] = dict(zip(program.inputs, primals))
    tenv: dict[Var, Any] = {v: (t if differentiable(v.type) else Zero(v.type))
                            for v, t in zip(program.inputs, tangents)}
    for eqn in program.eqns:
        ins = [_read(env, a) for a in eqn.inputs]
        tins = [Zero(a.type) if type(a) is Lit else tenv[a] for a in eqn.inputs]
        if all(isinstance(t, Zero) for t in tins):
            outs = bind(eqn.op, *ins, src=eqn.src)
            outs = list(outs) if eqn.op.multiple_results else [outs]
            touts: list[Any] = [Zero(v.type) for v in eqn.outputs]
        else:
            rule = JVP_RULES.get(type(eqn.op))
            if rule is None:
                raise TransformError(f"jvp: no forward-mode rule for primitive {eqn.op.name}")
            outs, touts = rule(eqn.op, ins, tins)
            outs, touts = list(outs), list(touts)
        for v, o, t in zip(eqn.outputs, outs, touts):
            env[v] = o
            tenv[v] = like_primal(t, v.type) if differentiable(v.type) else Zero(v.type)
    out_p = [_read(env, a) for a in program.outputs]
    out_t = [Zero(a.type) if type(a) is Lit else tenv[a] for a in program.outputs]
    return out_p, out_t


def forward(program: Program, primals: Sequence[Any]) -> tuple[list[Any], dict[Any, Any]]:
    """Run `program` keeping every intermediate value (the residuals of reverse mode), and the
    partials of the ops with a `RESIDUAL_RULES` entry (keyed by their equation)."""
    env: dict[Any, Any] = dict(zip(program.inputs, primals))
    for eqn in program.eqns:
        ins = [_read(env, a) for a in eqn.inputs]
        saving = FORWARD_RULES.get(type(eqn.op))
        if saving is not None and any(type(a) is Var and differentiable(a.type)
                                      for a in eqn.inputs):
            outs, env[eqn] = saving(eqn.op, ins, eqn.src)
            env.update(zip(eqn.outputs, outs))
            continue
        outs = bind(eqn.op, *ins, src=eqn.src)
        outs = outs if eqn.op.multiple_results else (outs,)
        env.update(zip(eqn.outputs, outs))
        residual = RESIDUAL_RULES.get(type(eqn.op))
        if residual is not None:
            wanted = [type(a) is Var and differentiable(a.type) for a in eqn.inputs]
            if any(wanted):
                env[eqn] = residual(eqn.op, ins, list(outs), wanted)
    return [_read(env, a) for a in program.outputs], env


def _passes_through(eqn: Any) -> Var | None:
    """The Var operand of `x + c`, `c + x` or `x - c` (c a literal, x of the result's type):
    its cotangent is the result's, with no equation (as JAX transposes these)."""
    name = eqn.op.name
    if name not in ("add", "sub") or len(eqn.inputs) != 2:
        return None
    a, b = eqn.inputs
    out = eqn.outputs[0].type
    if type(a) is Var and type(b) is Lit and a.type.shape == out.shape:
        return a
    if name == "add" and type(b) is Var and type(a) is Lit and b.type.shape == out.shape:
        return b
    return None


def backward(program: Program, env: dict[Any, Any], cts_out: Sequence[Any]) -> list[Any]:
    """Cotangents of `program`'s inputs from those of its outputs (values or `Zero`s)."""
    ct: dict[Var, Any] = {}
    for a, c in zip(program.outputs, cts_out):
        if type(a) is Var and differentiable(a.type) and not isinstance(c, Zero):
            ct[a] = add_any(ct.get(a, Zero(a.type)), c)
    for eqn in reversed(program.eqns):
        couts = [ct.pop(v, Zero(v.type)) for v in eqn.outputs]
        if all(isinstance(c, Zero) for c in couts):
            continue
        if not any(type(a) is Var and differentiable(a.type) for a in eqn.inputs):
            continue
        through = _passes_through(eqn)
        if through is not None and differentiable(through.type):
            ct[through] = add_any(ct.get(through, Zero(through.type)), couts[0])
            continue
        rule = VJP_RULES.get(type(eqn.op))
        if rule is None:
            raise TransformError(f"vjp: no reverse-mode rule for primitive {eqn.op.name}")
        ins = [_read(env, a) for a in eqn.inputs]
        outs = [env[v] for v in eqn.outputs]
        if eqn in env:
            cins = rule(eqn.op, ins, outs, couts, residuals=env[eqn])
        else:
            cins = rule(eqn.op, ins, outs, couts)
        for a, c in zip(eqn.inputs, cins):
            if type(a) is Var and differentiable(a.type) and not isinstance(c, Zero):
                ct[a] = add_any(ct.get(a, Zero(a.type)), like_primal(c, a.type))
    return [ct.get(v, Zero(v.type)) for v in program.inputs]


def vjp_program(program: Program, primals: Sequence[Any]
                ) -> tuple[list[Any], Callable[[Sequence[Any]], list[Any]]]:
    """`program`'s outputs on `primals`, and the function from output to input cotangents."""
    outs, env = forward(program, primals)
    return outs, lambda cts: backward(program, env, cts)


def stage_body(fn: Callable[..., Sequence[Any]], leaves: Sequence[Any]
               ) -> tuple[Program, list[Tracer]]:
    """Stage `fn(*leaves) -> list of leaves` on the types of `leaves`, with their values known
    where they are (concrete arrays, or tracers whose builder tracks values). Values of an
    enclosing staging that `fn` closes over come back as captured tracers (the program's
    leading inputs)."""
    types = [x.type for x in leaves]
    known: list[np.ndarray | None] = []
    for x in leaves:
        if type(x) is Array:
            known.append(x._value)
        elif type(x) is Tracer and x.builder.track_known:
            known.append(x.known)
        else:
            known.append(None)
    program, captured, _ = stage_flat(fn, types, known)
    return program, captured


def load_rules() -> None:
    """Import the rule modules (each registers its family's rules)."""
    import importlib

    for family in ("elementwise", "structural", "indexing", "reductions", "control", "custom",
                   "collectives"):
        try:
            importlib.import_module(f"interpreters.differentiate.{family}")
        except ModuleNotFoundError as e:
            if e.name != f"interpreters.differentiate.{family}":
                raise


__all__ = ["FORWARD_RULES", "JVP_RULES", "RESIDUAL_RULES", "VJP_RULES", "Zero", "add_any",
           "backward", "differentiable", "forward", "instantiate", "jvp_program", "like_primal",
           "load_rules", "stage_body", "vjp_program", "zeros"]
