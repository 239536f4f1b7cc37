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
from dsl.core import Tracer, as_leaf
from dsl.errors import ArgumentTypeError, ArgumentValueError, DTypeError, ShapeError
from dsl.ir import Eqn, Var
from dsl.ops.structural import Iota
from dsl.pytree import (PyTreeDef, flatten_up_to, keystr, tree_flatten, tree_flatten_with_path,
                        tree_leaves, tree_structure, tree_unflatten)
from dsl.types import TensorType
from interpreters.differentiate import (Zero, instantiate, jvp_program, load_rules,
                                        stage_body, vjp_program)

float0 = np.dtype([("float0", np.void, 0)])  # the "type" of an integer input's cotangent


def _flatten(what: str, tree: Any) -> tuple[list[Any], PyTreeDef]:
    leaves, treedef = tree_flatten(tree)
    return [as_leaf(what, x) for x in leaves], treedef


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
        return out_leaves + [as_leaf(what, a) for a in aux_leaves]

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
        cts = [as_leaf("vjp", c) for c in flatten_up_to(out_tree, cotangent)]
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
            t = as_leaf(what, x).type
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
        t = as_leaf("grad", leaves[0]).type
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


# --- Jacobians ------------------------------------------------------------------------------------
# As in JAX: `jacfwd` is one jvp, vmapped over the standard basis of the flattened inputs, and
# `jacrev` is one vjp (one forward pass), its pullback vmapped over the standard basis of the
# flattened outputs. The function is staged once either way, whatever the size of the Jacobian.
# The basis is an identity matrix built from two iotas, staged into the enclosing program under
# `jit` (so no n x n constant is embedded in it), concrete otherwise. Both take pytrees in and
# out: the Jacobian has the output's structure, each of its leaves the structure of the
# differentiated arguments (that argument for an int `argnums`, the tuple of them for a tuple),
# with leaves of shape `out_leaf.shape + in_leaf.shape`.


def _partial(what: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
             nums: tuple[int, ...], has_aux: bool) -> Callable[..., Any]:
    """`fn` as a function of `args[nums]` only (the other arguments and `kwargs` fixed); with
    `has_aux`, it must return a pair."""
    def partial(*xs: Any) -> Any:
        full = list(args)
        for i, x in zip(nums, xs):
            full[i] = x
        out = fn(*full, **kwargs)
        if has_aux and not (isinstance(out, tuple) and len(out) == 2):
            got = (f"an array of type {out.type}" if type(out) in (Tracer, Array)
                   else f"a {type(out).__name__}" + (f" of {len(out)}" if isinstance(
                       out, tuple) else ""))
            raise ArgumentTypeError(f"{what}: with has_aux=True the function must return a "
                                    f"pair (output, aux), got {got}")
        return out

    return partial


def _dyn_args(what: str, argnums: int | Sequence[int], args: tuple[Any, ...]
              ) -> tuple[tuple[int, ...], tuple[Any, ...], list[tuple[str, Any]], PyTreeDef]:
    """The differentiated argument numbers, the arguments, their leaves (each with the path
    that names it in messages) and the pytree of the arguments: `args[i]` for an int argnums,
    the tuple of them otherwise."""
    nums = _argnums(what, argnums, len(args))
    if not nums:
        raise ArgumentValueError(f"{what}: argnums is empty; name at least one argument to "
                                 "differentiate with respect to")
    dyn = tuple(args[i] for i in nums)
    pairs, _ = tree_flatten_with_path(dyn)
    leaves = []
    for path, x in pairs:
        name = f"argument {nums[path[0].idx]}{keystr(path[1:])}"
        leaves.append((name, as_leaf(what, x)))
    example = dyn[0] if isinstance(argnums, int) else dyn
    return nums, dyn, leaves, tree_structure(example)


def _check_jac_input(what: str, name: str, t: TensorType, holomorphic: bool,
                     allow_int: bool) -> None:
    """JAX's input rules: jacfwd needs real floats (complex with holomorphic=True); jacrev
    takes real or complex (complex only with holomorphic=True), integers only with allow_int."""
    if holomorphic:
        if not dtypes.is_complex(t.dtype):
            raise ArgumentTypeError(f"{what}: with holomorphic=True the inputs must be complex, "
                                    f"but {name} has type {t}")
        return
    if not dtypes.is_inexact(t.dtype):
        if allow_int:
            return
        if what == "jacfwd":
            rule = ("real float inputs only (complex ones with holomorphic=True); use jvp for "
                    "integer and boolean inputs")
        else:
            rule = ("float or complex inputs only; pass allow_int=True (zero Jacobians) or use "
                    "vjp for integer and boolean inputs")
        raise ArgumentTypeError(f"{what}: {name} has type {t}, but {what} differentiates with "
                                f"respect to {rule}")
    if what == "jacfwd" and dtypes.is_complex(t.dtype):
        raise ArgumentTypeError(f"{what}: {name} has complex type {t}; pass holomorphic=True "
                                "for a holomorphic function, or use jvp for a non-holomorphic "
                                "one")


def _check_jac_output(what: str, i: int, t: TensorType, holomorphic: bool) -> None:
    """Outputs: complex with holomorphic=True; otherwise floats (jacfwd also allows complex
    outputs of real inputs, as JAX does; jacrev needs holomorphic=True or vjp for them)."""
    where = f"output {i} has type {t}"
    if holomorphic:
        if not dtypes.is_complex(t.dtype):
            raise ArgumentTypeError(f"{what}: with holomorphic=True the outputs must be "
                                    f"complex, but {where}")
        return
    if not dtypes.is_inexact(t.dtype):
        raise ArgumentTypeError(f"{what}: {where}; the function's outputs must be floats "
                                f"(use {'jvp' if what == 'jacfwd' else 'vjp'} for integer or "
                                "boolean outputs)")
    if what == "jacrev" and dtypes.is_complex(t.dtype):
        raise ArgumentTypeError(f"{what}: {where}; pass holomorphic=True for a holomorphic "
                                "function, or use vjp for a non-holomorphic one")


def _unravel(x: Any, first: bool, types: Sequence[TensorType]) -> list[Any]:
    """Cut the flattened dimension of `x` (its first if `first`, else its last; of size
    `sum(t.size for t in types)`) into one array per type, with that dimension unflattened to
    `t.shape`: shape `t.shape + x.shape[1:]` (first) or `x.shape[:-1] + t.shape` (last)."""
    from dsl import lax

    axis = 0 if first else x.ndim - 1
    rest = tuple(x.shape[1:]) if first else tuple(x.shape[:-1])
    out, offset = [], 0
    for t in types:
        start, limit = [0] * x.ndim, list(x.shape)
        start[axis], limit[axis] = offset, offset + t.size
        part = lax.slice(x, start, limit)
        out.append(lax.reshape(part, t.shape + rest if first else rest + t.shape))
        offset += t.size
    return out


def _iota(shape: tuple[int, ...], dimension: int, like: Sequence[Any]) -> Any:
    """An i32 `iota` of `shape` along `dimension`. Where a value of `like` is symbolic (under
    `jit` or another staging) it is staged into the innermost program of those values, as
    `bind` would place an equation on them, so that a jitted Jacobian computes its basis in the
    program instead of embedding an `n x n` constant in it; otherwise it is concrete."""
    builder = None
    for x in like:
        if type(x) is Tracer and not x.builder.done and (builder is None or
                                                         x.builder.id > builder.id):
            builder = x.builder
    value = np.broadcast_to(np.arange(shape[dimension], dtype=np.int32).reshape(
        [-1 if i == dimension else 1 for i in range(len(shape))]), shape)
    if builder is None:
        return Array(np.ascontiguousarray(value))
    out = Var(TensorType(shape, np.dtype(np.int32)))
    builder.eqns.append(Eqn(Iota(dtype=dtypes.int32, shape=shape, dimension=dimension), (),
                            (out,), None))
    return Tracer(out, builder, np.ascontiguousarray(value) if builder.track_known else None)


def _std_basis(types: Sequence[TensorType], like: Sequence[Any]) -> list[Any]:
    """The standard basis of the flattened leaves of `types` (n of them in all), cut back into
    leaves: for each type, an array of shape `(n,) + t.shape` and dtype `t.dtype` whose row `i`
    is that leaf's part of the `i`-th unit vector."""
    from dsl import lax

    n = sum(t.size for t in types)
    eye = lax.eq(_iota((n, n), 0, like), _iota((n, n), 1, like))
    parts, offset = [], 0
    for t in types:
        part = lax.slice(eye, (0, offset), (n, offset + t.size))
        parts.append(lax.reshape(lax.convert(part, t.dtype), (n,) + t.shape))
        offset += t.size
    return parts


def jacfwd(fn: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable[..., Any]:
    """The Jacobian of `fn` with respect to `args[argnums]` by forward mode: one jvp, vmapped
    over the standard basis of the flattened inputs. Returns `jac`, or `(jac, aux)`."""
    _check_callable("jacfwd", fn)

    def jacfwd_fn(*args: Any, **kwargs: Any) -> Any:
        from interpreters.vectorize.api import vmap

        nums, dyn, named, example = _dyn_args("jacfwd", argnums, args)
        for name, x in named:
            _check_jac_input("jacfwd", name, x.type, holomorphic, False)
        in_tree = tree_structure(dyn)
        types = [x.type.strong() for _, x in named]
        primals = tuple(tree_unflatten(in_tree, [x for _, x in named]))
        partial = _partial("jacfwd", fn, args, kwargs, nums, has_aux)

        def pushforward(*basis: Any) -> Any:
            tangents = tuple(tree_unflatten(in_tree, basis))
            return jvp(partial, primals, tangents, has_aux=has_aux)

        n = sum(t.size for t in types)
        basis = _std_basis(types, [x for _, x in named])
        res = vmap(pushforward, out_axes=(None, -1, None) if has_aux else (None, -1),
                   axis_size=n)(*basis)
        y_leaves, y_tree = tree_flatten(res[0])
        cols = flatten_up_to(y_tree, res[1])
        jac = []
        for i, (y, col) in enumerate(zip(y_leaves, cols)):
            y = as_leaf("jacfwd", y)
            _check_jac_output("jacfwd", i, y.type, holomorphic)
            jac.append(tree_unflatten(example, _unravel(col, False, types)))
        jac_tree = tree_unflatten(y_tree, jac)
        return (jac_tree, res[2]) if has_aux else jac_tree

    return jacfwd_fn


def jacrev(fn: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False, allow_int: bool = False) -> Callable[..., Any]:
    """The Jacobian of `fn` with respect to `args[argnums]` by reverse mode: one vjp (one forward
    pass), its pullback vmapped over the standard basis of the flattened outputs. Returns `jac`,
    or `(jac, aux)`. With `allow_int`, integer inputs get zero Jacobians of their dtype."""
    _check_callable("jacrev", fn)

    def jacrev_fn(*args: Any, **kwargs: Any) -> Any:
        from dsl.numpy_api import zeros
        from interpreters.vectorize.api import vmap

        nums, dyn, named, example = _dyn_args("jacrev", argnums, args)
        for name, x in named:
            _check_jac_input("jacrev", name, x.type, holomorphic, allow_int)
        in_tree = tree_structure(dyn)
        primals = tree_unflatten(in_tree, [x for _, x in named])
        res = vjp(_partial("jacrev", fn, args, kwargs, nums, has_aux), *primals,
                  has_aux=has_aux)
        y_leaves, y_tree = tree_flatten(res[0])
        y_leaves = [as_leaf("jacrev", y) for y in y_leaves]
        for i, y in enumerate(y_leaves):
            _check_jac_output("jacrev", i, y.type, holomorphic)
        out_types = [y.type.strong() for y in y_leaves]
        floats = [dtypes.is_inexact(x.dtype) for _, x in named]
        pullback = res[1]

        def pull(*basis: Any) -> list[Any]:
            cts = pullback(tree_unflatten(y_tree, basis))
            return [c for c, f in zip(tree_leaves(cts), floats) if f]

        m = sum(t.size for t in out_types)
        rows = iter(vmap(pull, axis_size=m)(*_std_basis(out_types, y_leaves))
                    if any(floats) else [])
        per_in = []  # per input leaf, its blocks for every output leaf
        for (_, x), f in zip(named, floats):
            if f:
                per_in.append(_unravel(next(rows), True, out_types))
            else:
                per_in.append([zeros(t.shape + x.shape, dtype=x.dtype) for t in out_types])
        jac = [tree_unflatten(example, [blocks[j] for blocks in per_in])
               for j in range(len(out_types))]
        jac_tree = tree_unflatten(y_tree, jac)
        return (jac_tree, res[2]) if has_aux else jac_tree

    return jacrev_fn


def hessian(fn: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False,
            holomorphic: bool = False) -> Callable[..., Any]:
    """The Hessian of a scalar function: `jacfwd(jacrev(fn))` (forward over reverse). For pytree
    arguments `h[i][j]` is the block of the second derivative in leaves `i` and `j`."""
    _check_callable("hessian", fn)
    return jacfwd(jacrev(fn, argnums, has_aux, holomorphic), argnums, has_aux, holomorphic)


def _check_callable(what: str, fn: Any) -> None:
    if not callable(fn):
        raise ArgumentTypeError(f"{what}: expected a function, got a {type(fn).__name__}")


__all__ = ["float0", "grad", "hessian", "jacfwd", "jacrev", "jvp", "linear_transpose",
           "linearize", "value_and_grad", "vjp"]


load_rules()
