"""Derivatives of the elementwise primitives, from one table of partial derivatives.

An elementwise op `z = f(x_1, ..., x_n)` has, at each element, a partial derivative
`dz/dx_i`. Its forward mode is `z_dot = sum_i dz/dx_i * x_i_dot` and its reverse mode is
`x_i_bar = z_bar * dz/dx_i`: the same numbers serve both modes, so `PARTIALS` holds them once
and `jvp_rule`/`vjp_rule` derive the two rules of the whole family from it (see Note [Partials
as factor chains]). The rest of this module handles what does not fit the table: ops whose
result is integral (zero derivative), linear ops on complex parts (`real`, `imag`, `conj`,
`complex`), `convert`, `select`, `abs` of a complex number, and `stop_gradient`.

Formulas follow JAX's (`jax/_src/lax/lax.py`, `jax/_src/lax/special.py`) operation for operation,
so float32 derivatives round as JAX's do. Complex conventions are JAX's too: the cotangent of a
holomorphic op is `z_bar * f'(x)` (no conjugate), and a real-valued op of a complex input
(`abs`, `real`, `imag`) transposes through `complex(z_bar, 0)`.

Note [Partials as factor chains]. A partial derivative is a per-element scalar, so the linear map
it defines is a chain of elementwise factors. Most are one multiplication (`mul y` for `d(x*y)/dx`),
but JAX computes some tangents in another order (`log`: `t / x`; `div` in `y`:
`(-t * x) * y**-2`), and a different order rounds differently. A partial is therefore either a
DSL value `p` (the chain `t * p`) or a `Chain` of steps: `mul v`, `div v`, `neg`, `fma v`
(`t + t * v`) and `mask pred` (`where(pred, t, 0)`). Forward mode applies the steps in order;
reverse mode applies them in reverse order (each step is a scalar, its own transpose), which is
exactly what JAX gets by transposing its linearized jvp.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from dsl import dtypes
from dsl import lax
from dsl import ops as P
from dsl.core import bind
from dsl.errors import TransformError
from dsl.ir import Op
from interpreters import differentiate as _core
from interpreters.differentiate import (JVP_RULES, VJP_RULES, Zero, differentiable, instantiate,
                                        type_of)


class Chain:
    """A partial derivative as a chain of elementwise steps (Note [Partials as factor chains])."""

    __slots__ = ("steps",)

    def __init__(self, *steps: tuple[str, Any]):
        self.steps = steps

    def __repr__(self) -> str:
        return "Chain(" + ", ".join(k for k, _ in self.steps) + ")"


IDENTITY = Chain()
NEGATE = Chain(("neg", None))

PartialsFn = Callable[[Op, Sequence[Any], Any, Sequence[bool]], list[Any]]
PARTIALS: dict[type[Op], PartialsFn] = {}
"""`PARTIALS[type(op)](op, primals_in, primal_out, wanted)` -> one partial per input: a DSL
value, a `Chain`, or None (no derivative flows). `wanted[i]` False lets it skip input i."""

NON_DIFFERENTIABLE: frozenset[type[Op]] = frozenset({
    P.Not, P.PopulationCount, P.Clz, P.And, P.Or, P.Xor,
    P.ShiftLeft, P.ShiftRightArithmetic, P.ShiftRightLogical})
"""Integer/bool-only ops: their inputs never carry tangents, so no rule is ever asked for."""

ZERO_DERIVATIVE: frozenset[type[Op]] = frozenset({
    *P.COMPARE, P.Sign, P.Floor, P.Ceil, P.Round, P.IsFinite, P.Nextafter, P.Bitcast})
"""Ops that are piecewise constant (or reinterpret bits): their tangent is always zero."""


def _const(x: Any, value: Any) -> Any:
    """A weak rank-0 constant of `x`'s dtype (JAX's `_const`)."""
    return lax.scalar_like(value, x.dtype)


def _square(x: Any) -> Any:
    return lax.integer_pow(x, 2)


def _replace_zero(x: Any) -> Any:
    return lax.select(lax.eq(x, _const(x, 0)), lax.broadcast_to_rank_shape(_const(x, 1), x.shape),
                      x)


def _per_operand(*fns: Callable[..., Any]) -> PartialsFn:
    """A `PARTIALS` entry from one function `(op, *primals, out) -> partial` per operand."""

    def partials(op: Op, primals: Sequence[Any], out: Any,
                 wanted: Sequence[bool] = ()) -> list[Any]:
        want = list(wanted) or [True] * len(primals)
        return [fn(op, *primals, out) if w else None for fn, w in zip(fns, want)]

    return partials


def _unary(fn: Callable[[Any, Any], Any]) -> PartialsFn:
    """A `PARTIALS` entry of a unary op from `fn(x, out) -> partial`."""
    return _per_operand(lambda op, x, out: fn(x, out))


# Unary math. Each line is JAX's jvp with the tangent `g` taken out.
PARTIALS[P.Neg] = _unary(lambda x, ans: NEGATE)
PARTIALS[P.Exp] = _unary(lambda x, ans: ans)
PARTIALS[P.Exp2] = _unary(lambda x, ans: Chain(("mul", ans), ("mul", lax.log(_const(x, 2)))))
PARTIALS[P.Log] = _unary(lambda x, ans: Chain(("div", x)))
PARTIALS[P.Log1p] = _unary(lambda x, ans: Chain(("div", lax.add(x, _const(x, 1)))))
PARTIALS[P.Expm1] = _unary(lambda x, ans: lax.add(ans, _const(ans, 1)))
PARTIALS[P.Tanh] = _unary(lambda x, ans: Chain(("fma", ans),
                                                ("mul", lax.sub(_const(x, 1), ans))))
PARTIALS[P.Logistic] = _unary(lambda x, ans: lax.mul(ans, lax.sub(_const(ans, 1), ans)))
PARTIALS[P.Sin] = _unary(lambda x, ans: bind(P.Cos(), x))
PARTIALS[P.Cos] = _unary(lambda x, ans: Chain(("mul", bind(P.Sin(), x)), ("neg", None)))
PARTIALS[P.Tan] = _unary(lambda x, ans: lax.add(_const(x, 1), _square(ans)))
PARTIALS[P.Asin] = _unary(lambda x, ans: bind(P.Rsqrt(), lax.sub(_const(x, 1), _square(x))))
PARTIALS[P.Acos] = _unary(lambda x, ans: lax.neg(bind(P.Rsqrt(),
                                                     lax.sub(_const(x, 1), _square(x)))))
PARTIALS[P.Atan] = _unary(lambda x, ans: Chain(("div", lax.add(_const(x, 1), _square(x)))))
PARTIALS[P.Sinh] = _unary(lambda x, ans: bind(P.Cosh(), x))
PARTIALS[P.Cosh] = _unary(lambda x, ans: bind(P.Sinh(), x))
PARTIALS[P.Asinh] = _unary(lambda x, ans: bind(P.Rsqrt(), lax.add(_square(x), _const(x, 1))))
PARTIALS[P.Acosh] = _unary(lambda x, ans: bind(P.Rsqrt(), lax.sub(_square(x), _const(x, 1))))
PARTIALS[P.Atanh] = _unary(lambda x, ans: Chain(
    ("div", lax.sub(_const(x, 1), x)),
    ("mul", lax.integer_pow(lax.add(_const(x, 1), x), -1))))
PARTIALS[P.Sqrt] = _unary(lambda x, ans: lax.div(_const(x, 0.5), ans))
PARTIALS[P.Rsqrt] = _unary(lambda x, ans: lax.mul(_const(x, -0.5), lax.div(ans, x)))
PARTIALS[P.Cbrt] = _unary(lambda x, ans: lax.mul(_const(x, 1 / 3), lax.integer_pow(ans, -2)))
PARTIALS[P.Erf] = _unary(lambda x, ans: Chain(
    ("mul", lax.exp(lax.neg(_square(x)))), ("mul", _const(x, 2 / math.sqrt(math.pi)))))
PARTIALS[P.Erfc] = _unary(lambda x, ans: Chain(
    ("mul", lax.exp(lax.neg(_square(x)))), ("mul", _const(x, -2 / math.sqrt(math.pi)))))
PARTIALS[P.ErfInv] = _unary(lambda x, ans: Chain(
    ("mul", lax.exp(_square(ans))), ("mul", _const(x, math.sqrt(math.pi) / 2))))
PARTIALS[P.Lgamma] = _unary(lambda x, ans: bind(P.Digamma(), x))
PARTIALS[P.Digamma] = _unary(lambda x, ans: trigamma(x))


def _abs_partial(x: Any, ans: Any) -> Any:
    # JAX: select(x >= 0, g, -g), so abs'(0) = 1 (not sign(0) = 0).
    one = lax.broadcast_to_rank_shape(_const(x, 1), x.shape)
    return lax.select(lax.ge(x, _const(x, 0)), one, lax.neg(one))


PARTIALS[P.Abs] = _unary(_abs_partial)  # real inputs; complex ones go through _abs_complex_*


def _integer_pow_partial(op: P.IntegerPow, x: Any, ans: Any) -> Any:
    y = op.y
    if y == 0:
        return None
    if y == 1:
        return IDENTITY
    if y == 2:
        return lax.mul(_const(x, 2), x)
    return lax.mul(_const(x, y), lax.integer_pow(x, y - 1))


PARTIALS[P.IntegerPow] = _per_operand(_integer_pow_partial)


# Binary arithmetic.
PARTIALS[P.Add] = _per_operand(lambda op, x, y, z: IDENTITY, lambda op, x, y, z: IDENTITY)
PARTIALS[P.Sub] = _per_operand(lambda op, x, y, z: IDENTITY, lambda op, x, y, z: NEGATE)
PARTIALS[P.Mul] = _per_operand(lambda op, x, y, z: y, lambda op, x, y, z: x)
PARTIALS[P.Div] = _per_operand(
    lambda op, x, y, z: Chain(("div", y)),
    lambda op, x, y, z: Chain(("neg", None), ("mul", x), ("mul", lax.integer_pow(y, -2))))


def _rem_y(op: Op, x: Any, y: Any, z: Any) -> Any:
    q = lax.div(x, y)  # d rem(x, y) / dy = -trunc(x / y)
    return Chain(("neg", None), ("mul", lax.mul(lax.sign(q), lax.floor(lax.abs(q)))))


PARTIALS[P.Rem] = _per_operand(lambda op, x, y, z: IDENTITY, _rem_y)


def _pow_x(op: Op, x: Any, y: Any, z: Any) -> Any:
    return lax.mul(y, bind(P.Pow(), x, lax.sub(y, _const(y, 1))))


def _pow_y(op: Op, x: Any, y: Any, z: Any) -> Any:
    return lax.mul(lax.log(_replace_zero(x)), z)  # 0 ** y: log(1) = 0, as in JAX


PARTIALS[P.Pow] = _per_operand(_pow_x, _pow_y)


def _atan2_x(op: Op, x: Any, y: Any, z: Any) -> Any:
    return lax.div(y, lax.add(_square(x), _square(y)))


def _atan2_y(op: Op, x: Any, y: Any, z: Any) -> Any:
    return lax.div(lax.neg(x), lax.add(_square(x), _square(y)))


PARTIALS[P.Atan2] = _per_operand(_atan2_x, _atan2_y)


def _balanced_eq(x: Any, z: Any, y: Any) -> Any:
    """1 where x attains z, halved where y attains it too (JAX splits max/min ties evenly)."""
    one, zero, two = _const(z, 1), _const(z, 0), _const(z, 2)
    num = lax.select(lax.eq(x, z), lax.broadcast_to_rank_shape(one, z.shape),
                     lax.broadcast_to_rank_shape(zero, z.shape))
    den = lax.select(lax.eq(y, z), lax.broadcast_to_rank_shape(two, z.shape),
                     lax.broadcast_to_rank_shape(one, z.shape))
    return lax.div(num, den)


PARTIALS[P.Max] = _per_operand(lambda op, x, y, z: _balanced_eq(x, z, y),
                               lambda op, x, y, z: _balanced_eq(y, z, x))
PARTIALS[P.Min] = PARTIALS[P.Max]


def _clamp_lo(op: Op, lo: Any, x: Any, hi: Any, z: Any) -> Any:
    return Chain(("mask", bind(P.And(), lax.gt(lo, x), lax.lt(lo, hi))))


def _clamp_x(op: Op, lo: Any, x: Any, hi: Any, z: Any) -> Any:
    return Chain(("mask", bind(P.And(), lax.gt(x, lo), lax.lt(x, hi))))


def _clamp_hi(op: Op, lo: Any, x: Any, hi: Any, z: Any) -> Any:
    return Chain(("mask", lax.lt(hi, x)))


PARTIALS[P.Clamp] = _per_operand(_clamp_lo, _clamp_x, _clamp_hi)


# The two rules of the table's ops.

def _step(kind: str, v: Any, t: Any) -> Any:
    if kind == "mul":
        return lax.mul(t, v)
    if kind == "div":
        return lax.div(t, v)
    if kind == "neg":
        return lax.neg(t)
    if kind == "fma":
        return lax.add(t, lax.mul(t, v))
    # "mask": where(v, t, 0)
    return lax.select(v, t, _const(t, 0))


def apply_partial(p: Any, t: Any) -> Any:
    """The tangent `p * t` (forward mode)."""
    if type(p) is not Chain:
        return lax.mul(t, p)
    for kind, v in p.steps:
        t = _step(kind, v, t)
    return t


def transpose_partial(p: Any, ct: Any) -> Any:
    """The cotangent `ct * p` (reverse mode): the chain's steps in reverse order."""
    if type(p) is not Chain:
        return lax.mul(ct, p)
    for kind, v in reversed(p.steps):
        ct = _step(kind, v, ct)
    return ct


def _to_shape(x: Any, shape: tuple[int, ...]) -> Any:
    return x if x.shape == shape else lax.broadcast_to_rank_shape(x, shape)


def _sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum a cotangent back to its operand's shape (rank-0 operands were broadcast)."""
    if x.shape == shape:
        return x
    return lax.reduce_sum(x, tuple(range(x.ndim)))


def jvp_rule(op: Op, primals: Sequence[Any], tangents: Sequence[Any]
             ) -> tuple[list[Any], list[Any]]:
    """Forward mode from `PARTIALS`: `sum_i partial_i * tangent_i`, skipping zero tangents."""
    out = bind(op, *primals)
    wanted = [not isinstance(t, Zero) for t in tangents]
    parts = PARTIALS[type(op)](op, primals, out, wanted)
    acc: Any = None
    for p, t in zip(parts, tangents):
        if p is None or isinstance(t, Zero):
            continue
        if acc is not None and p is NEGATE:
            acc = lax.sub(acc, t)  # one `sub`, as JAX emits for `x - y`
            continue
        term = apply_partial(p, t)
        acc = term if acc is None else lax.add(acc, term)
    if acc is None:
        return [out], [Zero(type_of(out).strong())]
    return [out], [_to_shape(acc, out.shape)]


def vjp_rule(op: Op, primals: Sequence[Any], outs: Sequence[Any], cts: Sequence[Any],
             residuals: Sequence[Any] | None = None) -> list[Any]:
    """Reverse mode from `PARTIALS`: `ct * partial_i`, summed back to rank-0 operands.
    `residuals` are the partials when the forward pass already computed them
    (`residual_rule`; see Note [Where partials are computed])."""
    (out,), (ct,) = outs, cts
    if residuals is None:
        wanted = [differentiable(type_of(x)) for x in primals]
        residuals = PARTIALS[type(op)](op, primals, out, wanted)
    parts = residuals
    res: list[Any] = [None] * len(primals)
    # Last operand first: JAX transposes the jvp's terms in reverse, and the order in which
    # these equations are staged decides how a further derivative groups its sums.
    for i in reversed(range(len(primals))):
        x, p = primals[i], parts[i]
        res[i] = Zero(type_of(x)) if p is None else _sum_to(transpose_partial(p, ct), x.shape)
    return res


def residual_rule(op: Op, primals: Sequence[Any], outs: Sequence[Any], wanted: Sequence[bool]
                  ) -> list[Any]:
    """The partials of one equation, for a forward pass that computes them as it goes."""
    return PARTIALS[type(op)](op, primals, outs[0], wanted)


# Note [Where partials are computed]. Computed inside `vjp_rule`, the partials' equations are
# staged in the backward part of a gradient program, interleaved with the cotangent arithmetic;
# JAX (linearize, then transpose) stages them in the forward part, in program order. JAX also
# emits nothing for the tangent of `x + c` or `x - c` (c constant): `x`'s and the result's
# cotangents share one accumulator. The values are the same either way, but a *further*
# derivative groups its sums differently, so third derivatives can differ from JAX's in the last
# bit (README's `grad(grad(grad(tanh)))(1.0)`: 0.6216266 here, 0.6216267 in JAX). A core whose
# `forward` calls a `RESIDUAL_RULES` table after binding each equation (`wanted[i]`: input i is
# a differentiable Var), passes the result to the vjp rule as `residuals=`, and whose `backward`
# accumulates the output of `add`/`sub` with a literal operand straight into its Var operand
# (same shape), reproduces JAX's bits through the fourth derivative; this module registers
# `residual_rule` in that table when it exists.


# Ops outside the table.

def _zero_jvp(op: Op, primals: Sequence[Any], tangents: Sequence[Any]
              ) -> tuple[list[Any], list[Any]]:
    out = bind(op, *primals)
    return [out], [Zero(type_of(out).strong())]


def _zero_vjp(op: Op, primals: Sequence[Any], outs: Sequence[Any], cts: Sequence[Any]
              ) -> list[Any]:
    return [Zero(type_of(x)) for x in primals]


def _stop_gradient_jvp(op: Op, primals: Sequence[Any], tangents: Sequence[Any]
                       ) -> tuple[list[Any], list[Any]]:
    # Re-bind stop_gradient so the primal stays cut under an enclosing differentiation too.
    return _zero_jvp(op, primals, tangents)


def _is_complex(x: Any) -> bool:
    return dtypes.is_complex(x.dtype)


def _abs_complex_partial(x: Any, ans: Any) -> Any:
    """conj(x) / |x| (1 where x = 0), JAX's derivative of |x| on complex x."""
    return lax.div(bind(P.Conj(), x), _replace_zero(lax.convert(ans, x.dtype)))


def _abs_jvp(op: Op, primals: Sequence[Any], tangents: Sequence[Any]
             ) -> tuple[list[Any], list[Any]]:
    (x,), (t,) = primals, tangents
    if not _is_complex(x):
        return jvp_rule(op, primals, tangents)
    out = bind(op, x)
    return [out], [bind(P.Real(), lax.mul(t, _abs_complex_partial(x, out)))]


def _abs_vjp(op: Op, primals: Sequence[Any], outs: Sequence[Any], cts: Sequence[Any]
             ) -> list[Any]:
    (x,), (ct,) = primals, cts
    if not _is_complex(x):
        return vjp_rule(op, primals, outs, cts)
    ct_c = bind(P.Complex(), ct, _const(ct, 0))
    return [lax.mul(ct_c, _abs_complex_partial(x, outs[0]))]


def _linear_jvp(op: Op, primals: Sequence[Any], tangents: Sequence[Any]
                ) -> tuple[list[Any], list[Any]]:
    """A linear op's tangent is the op applied to the tangents (zeros made real)."""
    out = bind(op, *primals)
    return [out], [bind(op, *[instantiate(t) for t in tangents])]


def _real_vjp(op: Op, primals: Sequence[Any], outs: Sequence[Any], cts: Sequence[Any]
              ) -> list[Any]:
    (ct,) = cts
    return [bind(P.Complex(), ct, _const(ct, 0))]


def _imag_vjp(op: Op, primals: Sequence[Any], outs: Sequence[Any], cts: Sequence[Any]
              ) -> list[Any]:
    (ct,) = cts
    return [bind(P.Complex(), _const(ct, 0), lax.neg(ct))]


def _conj_vjp(op: Op, primals: Sequence[Any], outs: Sequence[Any], cts: Sequence[Any]
              ) -> list[Any]:
    return [bind(P.Conj(), cts[0])]


def _complex_vjp(op: Op, primals: Sequence[Any], outs: Sequence[Any], cts: Sequence[Any]
                 ) -> list[Any]:
    (x, y), (ct,) = primals, cts
    return [_sum_to(bind(P.Real(), ct), x.shape),
            _sum_to(lax.neg(bind(P.Imag(), ct)), y.shape)]


def _convert_jvp(op: P.Convert, primals: Sequence[Any], tangents: Sequence[Any]
                 ) -> tuple[list[Any], list[Any]]:
    (x,), (t,) = primals, tangents
    out = bind(op, x)
    if not dtypes.is_inexact(op.dtype):
        return [out], [Zero(type_of(out).strong())]
    return [out], [bind(op, t)]


def _convert_vjp(op: P.Convert, primals: Sequence[Any], outs: Sequence[Any],
                 cts: Sequence[Any]) -> list[Any]:
    (x,), (ct,) = primals, cts
    if not differentiable(type_of(x)) or not dtypes.is_inexact(ct.dtype):
        return [Zero(type_of(x))]
    if _is_complex(ct) and not _is_complex(x):
        ct = bind(P.Real(), ct)  # the transpose of embedding the reals in the complex plane
    if ct.dtype == x.dtype:
        return [ct]
    return [bind(P.Convert(dtype=x.dtype), ct)]


def _select_jvp(op: Op, primals: Sequence[Any], tangents: Sequence[Any]
                ) -> tuple[list[Any], list[Any]]:
    pred, on_true, on_false = primals
    out = bind(op, pred, on_true, on_false)
    t_true, t_false = tangents[1], tangents[2]
    if isinstance(t_true, Zero) and isinstance(t_false, Zero):
        return [out], [Zero(type_of(out).strong())]
    t = lax.select(pred, instantiate(t_true), instantiate(t_false))
    return [out], [_to_shape(t, out.shape)]


def _select_vjp(op: Op, primals: Sequence[Any], outs: Sequence[Any], cts: Sequence[Any]
                ) -> list[Any]:
    pred, on_true, on_false = primals
    (ct,) = cts
    zero = _const(ct, 0)
    res: list[Any] = [Zero(type_of(pred))]
    for branch, picked in ((on_true, lax.select(pred, ct, zero)),
                           (on_false, lax.select(pred, zero, ct))):
        res.append(_sum_to(picked, branch.shape) if differentiable(type_of(branch))
                   else Zero(type_of(branch)))
    return res


# Registration.

for _cls in PARTIALS:
    JVP_RULES[_cls] = jvp_rule
    VJP_RULES[_cls] = vjp_rule
for _cls in ZERO_DERIVATIVE:
    JVP_RULES[_cls] = _zero_jvp
    VJP_RULES[_cls] = _zero_vjp
JVP_RULES[P.StopGradient] = _stop_gradient_jvp
VJP_RULES[P.StopGradient] = _zero_vjp
JVP_RULES[P.Abs] = _abs_jvp
VJP_RULES[P.Abs] = _abs_vjp
for _cls, _vjp in ((P.Real, _real_vjp), (P.Imag, _imag_vjp), (P.Conj, _conj_vjp),
                   (P.Complex, _complex_vjp)):
    JVP_RULES[_cls] = _linear_jvp
    VJP_RULES[_cls] = _vjp
JVP_RULES[P.Convert] = _convert_jvp
VJP_RULES[P.Convert] = _convert_vjp
JVP_RULES[P.Select] = _select_jvp
VJP_RULES[P.Select] = _select_vjp
_RESIDUAL_RULES = getattr(_core, "RESIDUAL_RULES", None)
if _RESIDUAL_RULES is not None:
    for _cls in PARTIALS:
        if VJP_RULES[_cls] is vjp_rule:
            _RESIDUAL_RULES[_cls] = residual_rule


# Trigamma, the derivative of digamma (there is no polygamma primitive).

_TRIGAMMA_SHIFT = 8
# psi_1(w) ~ 1/w + 1/(2w^2) + sum_k B_2k / w^(2k+1): the Bernoulli numbers B_2 .. B_10.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66)


def trigamma(x: Any) -> Any:
    """`polygamma(1, x)`, written with elementwise primitives so it can be differentiated again.

    For x >= 1/2 it shifts the argument up by the recurrence psi_1(x) = psi_1(x + 1) + 1/x^2
    and sums the asymptotic series at x + 8 (relative error below 1e-12); for x < 1/2 it uses
    the reflection psi_1(1 - x) + psi_1(x) = pi^2 / sin^2(pi x). Poles (x = 0, -1, ...) give inf.
    """
    if not dtypes.is_floating(x.dtype):
        raise TransformError(f"trigamma: needs a real float argument, got {x.type}")
    reflect = lax.lt(x, _const(x, 0.5))
    z = lax.select(reflect, lax.sub(_const(x, 1), x), x)  # z >= 1/2 on both branches
    acc = lax.integer_pow(z, -2)
    for k in range(1, _TRIGAMMA_SHIFT):
        acc = lax.add(acc, lax.integer_pow(lax.add(z, _const(z, k)), -2))
    r = lax.integer_pow(lax.add(z, _const(z, _TRIGAMMA_SHIFT)), -1)
    r2 = lax.mul(r, r)
    poly = _const(z, _BERNOULLI[-1])
    for b in reversed(_BERNOULLI[:-1]):
        poly = lax.add(_const(z, b), lax.mul(r2, poly))
    tail = lax.add(r, lax.mul(r2, lax.add(_const(z, 0.5), lax.mul(r, poly))))
    psi1 = lax.add(acc, tail)
    # Only the reflected lanes read sin(pi x); the others get a harmless 1/4 so that no inf
    # (and no NaN in a derivative) comes from lanes the select discards.
    xs = lax.select(reflect, x, lax.broadcast_to_rank_shape(_const(x, 0.25), x.shape))
    s = bind(P.Sin(), lax.mul(xs, _const(x, math.pi)))
    reflected = lax.sub(lax.div(_const(x, math.pi ** 2), lax.mul(s, s)), psi1)
    return lax.select(reflect, reflected, psi1)


def check_coverage() -> list[str]:
    """Names of elementwise primitives with neither both rules nor a non-differentiable mark."""
    missing = []
    for cls in (*P.UNARY, *P.BINARY, *P.COMPARE, *P.TERNARY, P.Convert, P.Bitcast):
        if cls in NON_DIFFERENTIABLE:
            continue
        if cls not in JVP_RULES or cls not in VJP_RULES:
            missing.append(cls.name)
    return missing


__all__ = ["Chain", "IDENTITY", "NEGATE", "NON_DIFFERENTIABLE", "PARTIALS", "ZERO_DERIVATIVE",
           "apply_partial", "check_coverage", "jvp_rule", "residual_rule", "transpose_partial",
           "trigamma", "vjp_rule"]
