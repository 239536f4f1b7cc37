"""The public differentiation API: `jvp`, `vjp`, `grad`, `value_and_grad`, `linearize`,
`linear_transpose`, `jacfwd`, `jacrev`, `hessian`. Pytrees in and out everywhere.

Every function stages the user's function on its arguments (values known, so Python control flow
works) and runs the forward- or reverse-mode interpreter of `interpreters.differentiate` on the
program. Under `jit` or an outer transform the arguments are symbolic and the derivative is staged
into the enclosing program; that is how `grad(grad(f))` and `jit(grad(f))` compose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl.array import Array
from dsl.core import Tracer
from dsl.errors import ArgumentTypeError, ArgumentValueError, DTypeError, ShapeError
from dsl.pytree import PyTreeDef, flatten_up_to, tree_flatten, tree_unflatten
from interpreters.differentiate import (Zero, instantiate, jvp_program, load_rules,
                                        stage_body, vjp_program)

float0 = np.dtype([("float0", np.void, 0)])  # the "type" of an integer input's cotangent


def _leaf(what: str, x: Any) -> Any:
    from dsl.numpy_api import asarray

    if type(x) is Tracer or type(x) is Array:
        return x
    try:
        return asarray(x)
    except TypeError:
        raise ArgumentTypeError(f"{what}: arguments must be arrays or pytrees of arrays, got a "
                                f"{type(x).__name__}") from None


def _flatten(what: str, tree: Any) -> tuple[list[Any], PyTreeDef]:
    leaves, treedef = tree_flatten(tree)
    return [_leaf(what, x) for x in leaves], treedef


def _stage(what: str, fn: Callable[..., Any], leaves: list[Any], in_tree: PyTreeDef,
           has_aux: bool) -> tuple[Any, list[Any], PyTreeDef, Any]:
    """Stage `fn` on the argument leaves. Returns (program, captured, out tree, aux)."""
    out_box: list[Any] = []

    def flat(*xs: Any) -> list[Any]:
        out = fn(*tree_unflatten(in_tree, xs))
        aux = None
        if has_aux:
            if not isinstance(out, tuple) or len(out) != 2:
                raise ArgumentTypeError(f"{what}: with has_aux=True the function must return a "
                                        f"pair (output, aux), got a {type(out).__name__}")
            out, aux = out
        out_leaves, out_tree = _flatten(what, out)
        aux_leaves, aux_tree = tree_flatten(aux)
        out_box.append((out_tree, aux_tree, len(out_leaves)))
        return out_leaves + [_leaf(what, a) for a in aux_leaves]

    program, captured = stage_body(flat, leaves)
    out_tree, aux_tree, n_out = out_box[0]
    return program, captured, out_tree, (aux_tree, n_out)


def jvp(fn: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: bool = False) -> Any:
    """`(fn(*primals), J tangents)`: forward-mode derivative along `tangents`."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise ArgumentTypeError("jvp: primals and tangents must be tuples (or lists) of "
                                "arguments")
    if len(primals) != len(tangents):
        raise ArgumentValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    leaves, in_tree = _flatten("jvp", tuple(primals))
    tleaves, t_tree = _flatten("jvp", tuple(tangents))
    if t_tree != in_tree:
        raise ArgumentTypeError(f"jvp: tangents structured as {t_tree} but primals as {in_tree}")
    for i, (p, t) in enumerate(zip(leaves, tleaves)):
        if dtypes.is_inexact(p.dtype) and (p.shape != t.shape or p.dtype != t.dtype):
            cls = ShapeError if p.shape != t.shape else DTypeError
            raise cls(f"jvp: tangent {i} has type {t.type} but its primal has type "
                      f"{p.type.strong()}; they must match")
    program, captured, out_tree, (aux_tree, n_out) = _stage("jvp", fn, leaves, in_tree, has_aux)
    outs, touts = jvp_program(program, [*captured, *leaves],
                              [*(Zero(c.type) for c in captured), *tleaves])
    primal_out = tree_unflatten(out_tree, outs[:n_out])
    tangent_out = tree_unflatten(out_tree, [instantiate(t) for t in touts[:n_out]])
    if has_aux:
        return primal_out, tangent_out, tree_unflatten(aux_tree, outs[n_out:])
    return primal_out, tangent_out


def vjp(fn: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    """`(fn(*primals), vjp_fn)` with `vjp_fn(cotangent) -> cotangents of primals`."""
    leaves, in_tree = _flatten("vjp", primals)
    program, captured, out_tree, (aux_tree, n_out) = _stage("vjp", fn, leaves, in_tree, has_aux)
    outs, back = vjp_program(program, [*captured, *leaves])
    out_types = [o.type for o in outs[:n_out]]

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        cts = [_leaf("vjp", c) for c in flatten_up_to(out_tree, cotangent)]
        for i, (c, t) in enumerate(zip(cts, out_types)):
            if c.shape != t.shape or (dtypes.is_inexact(t.dtype) and c.dtype != t.dtype):
                raise (ShapeError if c.shape != t.shape else DTypeError)(
                    f"vjp: cotangent {i} has type {c.type} but the output has type "
                    f"{t.strong()}")
        cin = back([*cts, *(Zero(o.type) for o in outs[n_out:])])
        res = [_cotangent(c, x) for c, x in zip(cin[len(captured):], leaves)]
        return tuple(tree_unflatten(in_tree, res))

    primal_out = tree_unflatten(out_tree, outs[:n_out])
    if has_aux:
        return primal_out, vjp_fn, tree_unflatten(aux_tree, outs[n_out:])
    return primal_out, vjp_fn


def _cotangent(c: Any, x: Any) -> Any:
    if not dtypes.is_inexact(x.dtype):
        return np.zeros(x.shape, float0)
    return instantiate(c) if not isinstance(c, Zero) else _zeros_like(x)


def _zeros_like(x: Any) -> Any:
    from dsl.numpy_api import zeros

    return zeros(x.shape, dtype=x.dtype)


def _argnums(what: str, argnums: int | Sequence[int], n: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    out = []
    for i in nums:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise ArgumentTypeError(f"{what}: argnums must be ints, got {i!r}")
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise ArgumentValueError(f"{what}: argnums {i} is out of range for {n} positional "
                                     "arguments")
        out.append(j)
    return tuple(out)


def _check_inputs(what: str, args: Sequence[Any], holomorphic: bool, allow_int: bool) -> None:
    for i, a in enumerate(args):
        for x in tree_flatten(a)[0]:
            t = _leaf(what, x).type
            if dtypes.is_complex(t.dtype) and not holomorphic:
                raise DTypeError(f"{what}: argument {i} has complex type {t}; pass "
                                 "holomorphic=True to differentiate complex functions")
            if not dtypes.is_inexact(t.dtype) and not allow_int:
                raise DTypeError(f"{what}: argument {i} has type {t}, which is not a float; "
                                 "differentiate with respect to float inputs, or pass "
                                 "allow_int=True to get float0 zeros for it")
            if holomorphic and not dtypes.is_complex(t.dtype):
                raise DTypeError(f"{what}: holomorphic=True needs complex inputs, argument {i} "
                                 f"has type {t}")


def value_and_grad(fn: Callable[..., Any], argnums: int | Sequence[int] = 0,
                   has_aux: bool = False, holomorphic: bool = False,
                   allow_int: bool = False) -> Callable[..., Any]:
    """`(fn(*args), gradient of fn with respect to args[argnums])` for a scalar output."""
    def value_and_grad_fn(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums("grad", argnums, len(args))
        diff = [args[i] for i in nums]
        _check_inputs("grad", diff, holomorphic, allow_int)

        def partial(*xs: Any) -> Any:
            full = list(args)
            for i, x in zip(nums, xs):
                full[i] = x
            return fn(*full, **kwargs)

        res = vjp(partial, *diff, has_aux=has_aux)
        out, back = res[0], res[1]
        leaves = tree_flatten(out)[0]
        if len(leaves) != 1:
            raise ArgumentTypeError(f"grad: the function must return one scalar, got a pytree "
                                    f"of {len(leaves)} arrays")
        t = _leaf("grad", leaves[0]).type
        if t.shape != () or not (dtypes.is_floating(t.dtype) or
                                 (holomorphic and dtypes.is_complex(t.dtype))):
            raise ArgumentTypeError(f"grad: the function must return a real float scalar, got "
                                    f"{t}" + ("; use jacrev or vjp for non-scalar outputs"
                                              if t.shape != () else ""))
        from dsl.numpy_api import ones

        g = back(ones((), dtype=t.dtype))
        g = g[0] if isinstance(argnums, int) else tuple(g)
        if has_aux:
            return (out, res[2]), g
        return out, g

    return value_and_grad_fn


def grad(fn: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False,
         holomorphic: bool = False, allow_int: bool = False) -> Callable[..., Any]:
    """The gradient of a scalar-output `fn` with respect to `args[argnums]` (reverse mode)."""
    vg = value_and_grad(fn, argnums, has_aux, holomorphic, allow_int)

    def grad_fn(*args: Any, **kwargs: Any) -> Any:
        (value, g) = vg(*args, **kwargs)
        if has_aux:
            return g, value[1]
        return g

    return grad_fn


def linearize(fn: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """`(fn(*primals), f_jvp)` where `f_jvp(*tangents)` is the jvp at `primals`."""
    out = fn(*primals)

    def f_jvp(*tangents: Any) -> Any:
        return jvp(fn, primals, tangents)[1]

    return out, f_jvp


def linear_transpose(fn: Callable[..., Any], *primals: Any) -> Callable[..., Any]:
    """The transpose of a linear `fn` (the example `primals` fix the input types)."""
    _, back = vjp(fn, *primals)

    def transposed(cotangent: Any) -> Any:
        return back(cotangent)

    return transposed


def _basis(x: Any) -> list[Any]:
    """The unit arrays of `x`'s type, one per element, in row-major order."""
    out = []
    flat = np.zeros(x.size, dtype=x.dtype)
    for i in range(x.size):
        e = flat.copy()
        e[i] = 1
        out.append(Array(e.reshape(x.shape)))
    return out


def _stack_last(parts: list[Any], lead_shape: tuple[int, ...], tail_shape: tuple[int, ...],
                dtype: Any) -> Any:
    from dsl.numpy_api import reshape, stack, zeros

    if not parts:
        return zeros(lead_shape + tail_shape, dtype=dtype)
    return reshape(stack(parts, axis=-1), lead_shape + tail_shape)


def jacfwd(fn: Callable[..., Any], argnums: int = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable[..., Any]:
    """The Jacobian by forward mode: shape `out.shape + in.shape` (one jvp per input element)."""
    def jac(*args: Any) -> Any:
        (i,) = _argnums("jacfwd", argnums, len(args))
        _check_inputs("jacfwd", [args[i]], holomorphic, False)
        x = _leaf("jacfwd", args[i])

        def partial(v: Any) -> Any:
            full = list(args)
            full[i] = v
            return fn(*full)

        cols, out = [], None
        for e in _basis(x):
            res = jvp(partial, (x,), (e,), has_aux=has_aux)
            out, col = res[0], res[1]
            cols.append(col)
        if out is None:
            out = partial(x)[0] if has_aux else partial(x)
        o = _leaf("jacfwd", out)
        return _stack_last(cols, o.shape, x.shape, o.dtype)

    return jac


def jacrev(fn: Callable[..., Any], argnums: int = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable[..., Any]:
    """The Jacobian by reverse mode: shape `out.shape + in.shape` (one vjp per output element)."""
    def jac(*args: Any) -> Any:
        from dsl.numpy_api import reshape, stack

        (i,) = _argnums("jacrev", argnums, len(args))
        _check_inputs("jacrev", [args[i]], holomorphic, False)
        x = _leaf("jacrev", args[i])

        def partial(v: Any) -> Any:
            full = list(args)
            full[i] = v
            return fn(*full)

        res = vjp(partial, x, has_aux=has_aux)
        out, back = _leaf("jacrev", res[0]), res[1]
        rows = [back(e)[0] for e in _basis(out)]
        if not rows:
            return _stack_last([], out.shape, x.shape, x.dtype)
        return reshape(stack(rows, axis=0), out.shape + x.shape)

    return jac


def hessian(fn: Callable[..., Any], argnums: int = 0) -> Callable[..., Any]:
    """The Hessian of a scalar function: `jacfwd(jacrev(fn))`."""
    return jacfwd(jacrev(fn, argnums), argnums)


__all__ = ["float0", "grad", "hessian", "jacfwd", "jacrev", "jvp", "linear_transpose",
           "linearize", "value_and_grad", "vjp"]


load_rules()
