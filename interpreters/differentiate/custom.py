"""User-defined derivative rules (`custom_jvp`, `custom_vjp`) and `checkpoint`.

Each stages the user's function (and its rules) into closed programs held by one primitive
(`custom_jvp_call`, `custom_vjp_call`, `checkpoint`), so the rules survive staging, `jit` and
printing. Evaluation and lowering run the plain body; the differentiation rules here use the
user's rules:

- `custom_jvp` under reverse mode: the user's jvp is linear in the tangents, so its transpose
  (computed by our own reverse mode on the staged rule) is the vjp.
- `custom_vjp` under forward mode, which JAX refuses: the user's `bwd` is linear in the output
  cotangent, `ct -> J^T ct`; transposing it (reverse mode on the staged `bwd`) gives `t -> J t`.
- `checkpoint`: reverse mode recomputes the body's intermediates on the way back instead of
  keeping them, except those its policy saves (`dots_saveable`, the names policies, ...); it
  lives in `interpreters.differentiate.remat`, re-exported here with `checkpoint_policies`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from dsl.core import bind, inline, stage_flat
from dsl.errors import ArgumentTypeError, ArgumentValueError, TransformError
from dsl.ops.control import CustomJvpCall, CustomVjpCall
from dsl.pytree import PyTreeDef, tree_flatten, tree_unflatten
from interpreters.differentiate import (JVP_RULES, VJP_RULES, Zero, instantiate, stage_body,
                                        vjp_program)
from interpreters.differentiate.remat import checkpoint, checkpoint_policies


def _leaves(what: str, tree: Any) -> tuple[list[Any], PyTreeDef]:
    from interpreters.differentiate.api import _flatten

    return _flatten(what, tree)


def _split_args(what: str, args: tuple[Any, ...], nondiff: tuple[int, ...]
                ) -> tuple[list[Any], list[Any]]:
    for i in nondiff:
        if not -len(args) <= i < len(args):
            raise ArgumentValueError(f"{what}: nondiff_argnums {i} is out of range for "
                                     f"{len(args)} arguments")
    nd = {i % len(args) for i in nondiff} if args else set()
    return [args[i] for i in sorted(nd)], [a for i, a in enumerate(args) if i not in nd]


def _merge(args_len: int, nondiff: Sequence[int], static: list[Any], dyn: Sequence[Any]
           ) -> list[Any]:
    nd = sorted(i % args_len for i in nondiff) if args_len else []
    it_s, it_d = iter(static), iter(dyn)
    return [next(it_s) if i in nd else next(it_d) for i in range(args_len)]


def _check_same(what: str, role: str, got: PyTreeDef, want: PyTreeDef) -> None:
    if got != want:
        raise ArgumentTypeError(f"{what}: {role} is structured as {got} but the function's "
                                f"output is {want}")


def _stage_fun(what: str, fun: Callable[..., Any], args: tuple[Any, ...],
               nondiff: tuple[int, ...]) -> tuple[Any, ...]:
    """Stage `fun` on the differentiable arguments (the others are static). Returns (static
    args, argument leaves, their tree, the body program, its captured consts, output tree)."""
    static, dyn = _split_args(what, args, nondiff)
    leaves, in_tree = _leaves(what, tuple(dyn))
    box: list[PyTreeDef] = []

    def body(*xs: Any) -> list[Any]:
        out = fun(*_merge(len(args), nondiff, static, tree_unflatten(in_tree, xs)))
        outs, tree = _leaves(what, out)
        box.append(tree)
        return outs

    body_p, consts = stage_body(body, leaves)
    return static, leaves, in_tree, body_p, consts, box[0]


class custom_jvp:  # noqa: N801  (the JAX name)
    """A function with a user-defined forward-mode rule, set with `@f.defjvp`:
    `jvp(*nondiff_args, primals, tangents) -> (primal_out, tangent_out)`."""

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: Sequence[int] = ()):
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.jvp: Callable[..., Any] | None = None
        self._in_rule = False  # calls from inside our own rule use the plain function
        functools.update_wrapper(self, fun, updated=())  # type: ignore[arg-type]

    def defjvp(self, jvp: Callable[..., Any]) -> Callable[..., Any]:
        self.jvp = jvp
        return jvp

    def __call__(self, *args: Any) -> Any:
        what = f"custom_jvp({getattr(self.fun, '__name__', 'f')})"
        if self._in_rule:
            return self.fun(*args)
        if self.jvp is None:
            raise ArgumentTypeError(f"{what}: no jvp rule; define one with @f.defjvp")
        static, leaves, in_tree, body_p, bconsts, out_tree = _stage_fun(
            what, self.fun, args, self.nondiff_argnums)
        n = len(leaves)
        rule = self.jvp

        def jvp_fn(*xs: Any) -> list[Any]:
            ps = tuple(tree_unflatten(in_tree, xs[:n]))
            ts = tuple(tree_unflatten(in_tree, xs[n:]))
            res = rule(*static, ps, ts)
            if not isinstance(res, tuple) or len(res) != 2:
                raise ArgumentTypeError(f"{what}: the jvp rule must return a pair (primal_out, "
                                        f"tangent_out), got a {type(res).__name__}")
            po, pt = _leaves(what, res[0]), _leaves(what, res[1])
            _check_same(what, "the rule's primal output", po[1], out_tree)
            _check_same(what, "the rule's tangent output", pt[1], out_tree)
            return po[0] + pt[0]

        types = [x.type.strong() for x in leaves]
        self._in_rule = True
        try:
            jvp_p, jconsts, _ = stage_flat(jvp_fn, [x.type for x in leaves] + types)
        finally:
            self._in_rule = False
        op = CustomJvpCall(body=body_p, jvp=jvp_p, body_consts=len(bconsts),
                           jvp_consts=len(jconsts))
        outs = bind(op, *bconsts, *jconsts, *leaves)
        return tree_unflatten(out_tree, list(outs))


class custom_vjp:  # noqa: N801  (the JAX name)
    """A function with a user-defined reverse-mode rule, set with `f.defvjp(fwd, bwd)`:
    `fwd(*args) -> (out, residuals)`, `bwd(*nondiff_args, residuals, ct) -> tuple of arg
    cotangents`. Also usable under `jvp` (the rule is transposed)."""

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: Sequence[int] = ()):
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd: Callable[..., Any] | None = None
        self.bwd: Callable[..., Any] | None = None
        self._in_rule = False  # calls from inside our own rules use the plain function
        functools.update_wrapper(self, fun, updated=())  # type: ignore[arg-type]

    def defvjp(self, fwd: Callable[..., Any], bwd: Callable[..., Any]) -> None:
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args: Any) -> Any:
        what = f"custom_vjp({getattr(self.fun, '__name__', 'f')})"
        if self._in_rule:
            return self.fun(*args)
        if self.fwd is None or self.bwd is None:
            raise ArgumentTypeError(f"{what}: no rule; define one with f.defvjp(fwd, bwd)")
        static, leaves, in_tree, body_p, bconsts, out_tree = _stage_fun(
            what, self.fun, args, self.nondiff_argnums)
        fwd_rule, bwd_rule = self.fwd, self.bwd
        res_box: list[PyTreeDef] = []

        def fwd_fn(*xs: Any) -> list[Any]:
            res = fwd_rule(*_merge(len(args), self.nondiff_argnums, static,
                                   tree_unflatten(in_tree, xs)))
            if not isinstance(res, tuple) or len(res) != 2:
                raise ArgumentTypeError(f"{what}: fwd must return a pair (output, residuals), "
                                        f"got a {type(res).__name__}")
            outs, tree = _leaves(what, res[0])
            _check_same(what, "fwd's output", tree, out_tree)
            rleaves, rtree = _leaves(what, res[1])
            res_box.append(rtree)
            return outs + rleaves

        self._in_rule = True
        try:
            fwd_p, fconsts, _ = stage_flat(fwd_fn, [x.type for x in leaves])
        finally:
            self._in_rule = False
        res_types = fwd_p.out_types[len(body_p.out_types):]
        n_res = len(res_types)

        def bwd_fn(*xs: Any) -> list[Any]:
            res = tree_unflatten(res_box[0], xs[:n_res])
            ct = tree_unflatten(out_tree, xs[n_res:])
            cts = bwd_rule(*static, res, ct)
            if not isinstance(cts, tuple):
                raise ArgumentTypeError(f"{what}: bwd must return a tuple with one cotangent "
                                        f"per differentiable argument, got a "
                                        f"{type(cts).__name__}")
            cl, ctree = tree_flatten(cts)
            if ctree != in_tree:
                raise ArgumentTypeError(f"{what}: bwd returned cotangents structured as {ctree}"
                                        f" but the arguments are {in_tree}")
            vals = [_leaf_like(what, c, x) for c, x in zip(cl, leaves)]
            return vals

        self._in_rule = True
        try:
            bwd_p, bwconsts, _ = stage_flat(bwd_fn, list(res_types) + [
                t.strong() for t in body_p.out_types])
        finally:
            self._in_rule = False
        op = CustomVjpCall(body=body_p, fwd=fwd_p, bwd=bwd_p, body_consts=len(bconsts),
                           fwd_consts=len(fconsts), bwd_consts=len(bwconsts))
        outs = bind(op, *bconsts, *fconsts, *bwconsts, *leaves)
        return tree_unflatten(out_tree, list(outs))


def _leaf_like(what: str, c: Any, x: Any) -> Any:
    from dsl.numpy_api import asarray, zeros

    if c is None:
        return zeros(x.shape, dtype=x.dtype)
    c = asarray(c)
    if c.shape != x.shape or c.dtype != x.dtype:
        raise ArgumentTypeError(f"{what}: bwd returned a cotangent of type {c.type} for an "
                                f"argument of type {x.type.strong()}")
    return c


# --- the rules -------------------------------------------------------------------------------

def custom_jvp_call_jvp(op: CustomJvpCall, ins: list[Any], tins: list[Any]
                        ) -> tuple[list[Any], list[Any]]:
    nc = op.body_consts + op.jvp_consts
    if any(not isinstance(t, Zero) for t in tins[:nc]):
        raise TransformError("custom_jvp: differentiating with respect to a value the function "
                             "closes over is not supported; pass it as an argument")
    jc, args = ins[op.body_consts: nc], ins[nc:]
    res = inline(op.jvp, [*jc, *args, *(instantiate(t) for t in tins[nc:])])
    n = len(op.body.out_types)
    return res[:n], res[n:]


def custom_jvp_call_vjp(op: CustomJvpCall, ins: list[Any], outs: list[Any], cts: list[Any]
                        ) -> list[Any]:
    nc = op.body_consts + op.jvp_consts
    jc, args = ins[op.body_consts: nc], ins[nc:]
    zero_t = [instantiate(Zero(a.type.strong())) for a in args]
    _, back = vjp_program(op.jvp, [*jc, *args, *zero_t])
    n = len(op.body.out_types)
    cin = back([*(Zero(t) for t in op.jvp.out_types[:n]), *cts])
    return [Zero(x.type) for x in ins[:nc]] + list(cin[len(jc) + len(args):])


def custom_vjp_call_vjp(op: CustomVjpCall, ins: list[Any], outs: list[Any], cts: list[Any]
                        ) -> list[Any]:
    nc = op.body_consts + op.fwd_consts + op.bwd_consts
    fc = ins[op.body_consts: op.body_consts + op.fwd_consts]
    bc = ins[op.body_consts + op.fwd_consts: nc]
    args = ins[nc:]
    n = len(op.body.out_types)
    res = inline(op.fwd, [*fc, *args])[n:]
    cargs = inline(op.bwd, [*bc, *res, *(instantiate(c) for c in cts)])
    return [Zero(x.type) for x in ins[:nc]] + list(cargs)


def custom_vjp_call_jvp(op: CustomVjpCall, ins: list[Any], tins: list[Any]
                        ) -> tuple[list[Any], list[Any]]:
    nc = op.body_consts + op.fwd_consts + op.bwd_consts
    if any(not isinstance(t, Zero) for t in tins[:nc]):
        raise TransformError("custom_vjp: differentiating with respect to a value the function "
                             "closes over is not supported; pass it as an argument")
    fc = ins[op.body_consts: op.body_consts + op.fwd_consts]
    bc = ins[op.body_consts + op.fwd_consts: nc]
    args = ins[nc:]
    n = len(op.body.out_types)
    fwd_out = inline(op.fwd, [*fc, *args])
    outs, res = fwd_out[:n], fwd_out[n:]
    # bwd is linear in the output cotangent: transposing it maps argument tangents to output
    # tangents (J t from J^T)
    zero_ct = [instantiate(Zero(t.strong())) for t in op.body.out_types]
    _, back = vjp_program(op.bwd, [*bc, *res, *zero_ct])
    cin = back([t if isinstance(t, Zero) else t for t in tins[nc:]])
    return outs, list(cin[len(bc) + len(res):])


JVP_RULES[CustomJvpCall] = custom_jvp_call_jvp
VJP_RULES[CustomJvpCall] = custom_jvp_call_vjp
JVP_RULES[CustomVjpCall] = custom_vjp_call_jvp
VJP_RULES[CustomVjpCall] = custom_vjp_call_vjp

__all__ = ["checkpoint", "checkpoint_policies", "custom_jvp", "custom_vjp"]
