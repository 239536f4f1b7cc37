"""The user-level combinators: `map`, `scan`, `reduce`, `associative_scan`, `cond`, `switch`,
`while_loop` and `fori_loop`, with NumPy/JAX-like signatures and pytrees everywhere.

Each combinator stages the user's Python functions into closed bodies (`dsl.core.stage_flat`) on
abstract inputs of the right types, checks what the bodies return against what the combinator
needs, and binds one control-flow primitive of `dsl.ops.control`. Values a body closes over that
are symbolic in an enclosing staging come back from `stage_flat` as captured tracers; they become
the primitive's leading const operands, and `bind` captures them further outward as needed. Bodies
closing over concrete arrays get them as literals. With concrete operands the primitive evaluates at
once (eager mode); with symbolic ones it is recorded, so one definition serves both.

Weak types: a carry that starts as a Python scalar (`0.0`, weak `~f32[]`) and comes back from the
body strong (`f32[]`) is restaged with a strong carry input, and the initial value is cast, so the
staged program is exact; a body that returns a weak value where a strong one is expected gets a
`convert`. Any other change of a carry's dtype or shape is an error naming both types and the
pytree path of the leaf. Branches of `cond`/`switch` are reconciled the same way.

Conventions (JAX's): `cond(pred, true_fn, false_fn, *ops)` binds `cond` with branches
`(false_fn, true_fn)` and index `pred` as i32 (so index 1 is the true branch); non-bool predicates
mean `pred != 0`. `switch` clamps the index into range (the `cond` primitive's semantics).
`associative_scan(op, xs, reverse=True)` scans from the end, `op(a, b)` getting the element
nearer the end as `a` (the flip-scan-flip convention). `reduce` and `associative_scan` apply `op`
to pytrees of scalars; `reduce`'s `init` is the identity element, so the result is
`op(init, op(x0, op(x1, ...)))` up to associativity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import Tracer, bind, stage_flat
from dsl.errors import ArgumentTypeError, ArgumentValueError, CombinaxError, DTypeError, ShapeError
from dsl.ir import Program, Var
from dsl.np_elementwise import asarray, promote_args
from dsl.pytree import KeyPath, PyTreeDef, keystr, tree_flatten_with_path, tree_map
from dsl.types import TensorType

__all__ = ["associative_scan", "checkpoint_name", "cond", "fori_loop", "map", "reduce", "scan",
           "switch", "while_loop"]


# ----------------------------------------------------------------------------------------------
# Shared helpers: leaves, staging, output checks


class _Leaves(NamedTuple):
    values: list[Any]
    tree: PyTreeDef
    paths: list[KeyPath]


def _as_value(what: str, role: str, path: KeyPath, x: Any) -> Any:
    if type(x) is Tracer or type(x) is Array:
        return x
    try:
        return asarray(x)
    except TypeError as e:
        if isinstance(e, CombinaxError):
            raise
        raise ArgumentTypeError(f"{what}: {role}{keystr(path)} is a {type(x).__name__}, not an array "
                        "(or a pytree of arrays)") from None


def _leaves(what: str, role: str, tree: Any) -> _Leaves:
    """The leaves of a pytree argument or result, converted to arrays (tracers stay)."""
    pairs, treedef = tree_flatten_with_path(tree)
    return _Leaves([_as_value(what, role, p, x) for p, x in pairs], treedef,
                   [p for p, _ in pairs])


def _split(trees: Sequence[PyTreeDef], flat: Sequence[Any]) -> list[Any]:
    """Rebuild consecutive pytree arguments from one flat list of leaves."""
    out, i = [], 0
    for tree in trees:
        n = tree.num_leaves
        out.append(tree.unflatten(flat[i: i + n]))
        i += n
    return out


def _check_tree(what: str, role: str, got: PyTreeDef, want: PyTreeDef, against: str) -> None:
    if got != want:
        raise ArgumentTypeError(f"{what}: {role} has pytree structure {got!r}, but {against} has "
                        f"structure {want!r}")


def _fit(what: str, role: str, got: _Leaves, want: Sequence[TensorType], against: str,
         prefix: str) -> tuple[list[Any], list[int]]:
    """Check body outputs against the types they must have (weakness aside).

    Returns the outputs (weak ones cast where a strong type is wanted) and the indices where a
    weak type is wanted but a strong one came back (the caller restages those as strong).
    """
    out, widen = [], []
    for i, (x, path, w) in enumerate(zip(got.values, got.paths, want)):
        g = x.type
        if not g.same_ignoring_weak(w):
            err = DTypeError if g.shape == w.shape else ShapeError
            raise err(f"{what}: {role} {g} does not match {against} {w} "
                      f"(at {prefix}{keystr(path)})")
        if g.weak and not w.weak:
            x = lax.convert(x, w.dtype)
        elif w.weak and not g.weak:
            widen.append(i)
        out.append(x)
    return out, widen


def _strong(leaves: list[Any], types: Sequence[TensorType]) -> list[Any]:
    """Cast the weak initial values whose staged types became strong."""
    return [lax.convert(x, t.dtype) if x.weak and not t.weak else x
            for x, t in zip(leaves, types)]


def _length(what: str, xs: _Leaves, length: int | None) -> int | None:
    """The common leading-axis length of the mapped leaves (and `length`, when given)."""
    first: tuple[KeyPath, TensorType] | None = None
    for x, path in zip(xs.values, xs.paths):
        t = x.type
        if t.ndim == 0:
            raise ShapeError(f"{what}: xs{keystr(path)} of type {t} has no leading axis to "
                             "iterate over")
        if length is not None and t.shape[0] != length:
            if first is None:
                raise ShapeError(f"{what}: length={length}, but xs{keystr(path)} has type {t}")
            raise ShapeError(f"{what}: the leading axes of xs differ: xs{keystr(first[0])} is "
                             f"{first[1]} but xs{keystr(path)} is {t}")
        length = t.shape[0]
        if first is None:
            first = (path, t)
    return length


def _unstacked(t: TensorType) -> TensorType:
    s = t.sharding[1:] if t.sharding is not None and any(t.sharding[1:]) else None
    return TensorType(t.shape[1:], t.dtype, t.weak, s)


def _element(t: TensorType) -> TensorType:
    return TensorType((), t.dtype)


def _callable(what: str, name: str, f: Any) -> None:
    if not callable(f):
        raise ArgumentTypeError(f"{what}: {name} must be callable, got {type(f).__name__}")


# ----------------------------------------------------------------------------------------------
# map and scan


def map(f: Any, xs: Any, *, sequential: bool = False) -> Any:
    """Apply `f` to every slice of `xs` along the leading axis and stack the results.

    `xs` is a pytree of arrays with one leading length `n`; `f` takes a pytree of slices and
    returns any pytree; the result holds each output leaf stacked to `[n, ...]`. Compiled, the
    map runs as `f` vectorized over the leading axis; `sequential=True` compiles a loop instead,
    which holds one slice's temporaries at a time.

    >>> map(lambda x: x * 2.0, asarray([1.0, 2.0]))  # [2., 4.]
    """
    _callable("map", "f", f)
    xl = _leaves("map", "xs", xs)
    if not xl.values:
        raise ArgumentValueError("map: xs has no array leaves, so the length to map over is unknown")
    _length("map", xl, None)
    found: list[PyTreeDef] = []

    def body(*slices: Tracer) -> list[Any]:
        out = _leaves("map", "the output of f", f(xl.tree.unflatten(slices)))
        found.append(out.tree)
        return out.values

    program, consts, _ = stage_flat(body, [_unstacked(x.type) for x in xl.values])
    outs = bind(P.Map(body=program, num_consts=len(consts), sequential=bool(sequential)),
                *consts, *xl.values)
    return found[0].unflatten(outs)


def scan(f: Any, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False) -> tuple[Any, Any]:
    """Loop `carry, y = f(carry, x)` over the leading axis of `xs`; returns `(carry, ys)`.

    `init` and the carry `f` returns must have the same pytree structure and types; `xs` may be
    `None` (then `length` gives the number of steps, and `f` gets `x=None`); `y` may be any
    pytree (or `None`); `ys` stacks it. With `reverse`, the loop runs from the last slice to the
    first, and `ys[i]` is still the output of step `i`.

    >>> scan(lambda c, x: (c + x, c + x), 0.0, asarray([1.0, 2.0, 3.0]))  # (6., [1., 3., 6.])
    """
    _callable("scan", "f", f)
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ArgumentValueError(f"scan: length must be a non-negative int, got {length!r}")
        length = int(length)
    il = _leaves("scan", "init", init)
    xl = _leaves("scan", "xs", xs)
    n = _length("scan", xl, length)
    if n is None:
        raise ArgumentValueError("scan: xs has no array leaves; pass length= to say how many steps")
    nk = len(il.values)
    carry_types = [x.type for x in il.values]
    x_types = [_unstacked(x.type) for x in xl.values]
    for _ in range(nk + 1):  # each restage makes at least one more carry strong
        widened: list[int] = []
        found: list[PyTreeDef] = []

        def body(*args: Tracer) -> list[Any]:
            out = f(*_split((il.tree, xl.tree), args))
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise ArgumentTypeError("scan: f must return a pair (carry, y), got "
                                f"{type(out).__name__}"
                                + (f" of length {len(out)}" if isinstance(out, (tuple, list))
                                   else ""))
            carry = _leaves("scan", "the carry output", out[0])
            _check_tree("scan", "the body's carry output", carry.tree, il.tree,
                        "the initial carry")
            fitted, w = _fit("scan", "the body's carry output", carry, carry_types,
                             "the initial carry", "carry")
            widened.extend(w)
            ys = _leaves("scan", "the y output", out[1])
            found.append(ys.tree)
            return fitted + ys.values

        program, consts, _ = stage_flat(body, carry_types + x_types)
        if not widened:
            break
        for i in widened:
            carry_types[i] = carry_types[i].strong()
    op = P.Scan(body=program, length=n, reverse=bool(reverse), num_consts=len(consts),
                num_carry=nk)
    outs = bind(op, *consts, *_strong(il.values, carry_types), *xl.values)
    return il.tree.unflatten(outs[:nk]), found[0].unflatten(outs[nk:])


# ----------------------------------------------------------------------------------------------
# reduce and associative_scan: associative functions on pytrees of scalars


def _normalize_axes(what: str, axis: Any, t: TensorType) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(t.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise ArgumentTypeError(f"{what}: axis must be an int, a tuple of ints or None, got {axis!r}")
        if not -t.ndim <= a < t.ndim:
            raise ShapeError(f"{what}: axis {int(a)} is out of range for an operand of type {t}")
        out.append(int(a) % t.ndim)
    if len(set(out)) != len(out):
        raise ArgumentValueError(f"{what}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def _same_shapes(what: str, xl: _Leaves) -> None:
    if not xl.values:
        raise ArgumentValueError(f"{what}: xs has no array leaves")
    t0, p0 = xl.values[0].type, xl.paths[0]
    for x, p in zip(xl.values, xl.paths):
        if x.shape != t0.shape:
            raise ShapeError(f"{what}: all leaves of xs must have one shape: xs{keystr(p0)} is "
                             f"{t0} but xs{keystr(p)} is {x.type}")


def _stage_monoid(what: str, op: Callable[..., Any], xl: _Leaves) -> tuple[Program, list[Tracer]]:
    """Stage `op(a, b)` on two pytrees of scalars shaped like the elements of `xl`."""
    elems = [_element(x.type) for x in xl.values]

    def body(*args: Tracer) -> list[Any]:
        out = _leaves(what, "the output of op", op(*_split((xl.tree, xl.tree), args)))
        _check_tree(what, "the output of op", out.tree, xl.tree, "xs")
        fitted, _ = _fit(what, "op returned", out, elems, "the element type", "")
        return fitted

    program, consts, _ = stage_flat(body, elems + elems)
    return program, consts


def reduce(op: Any, xs: Any, init: Any, axis: Any = None) -> Any:
    """Reduce `axis` (an int, a tuple of ints, or `None` for all axes) of `xs` with `op`.

    `op(a, b) -> a` combines scalar elements (pytrees of scalars when `xs` is a pytree of arrays
    of one shape) and must be associative; `init` (a matching pytree of scalars) is its identity
    element. The result has `xs`'s pytree structure, each leaf without the reduced axes.

    >>> reduce(lambda a, b: a * b, asarray([1.0, 2.0, 3.0]), 1.0)  # 6.
    """
    _callable("reduce", "op", op)
    xl = _leaves("reduce", "xs", xs)
    _same_shapes("reduce", xl)
    inl = _leaves("reduce", "init", init)
    _check_tree("reduce", "init", inl.tree, xl.tree, "xs")
    inits = []
    for x, v, p in zip(xl.values, inl.values, inl.paths):
        if v.shape != ():
            raise ShapeError(f"reduce: init{keystr(p)} must be a scalar, got {v.type}")
        if v.dtype != x.dtype:
            # a weak init (a Python scalar) takes the elements' dtype when promotion would
            if not v.weak or dtypes.result_type((x.dtype, False), (v.dtype, True))[0] != x.dtype:
                raise DTypeError(f"reduce: init{keystr(p)} of type {v.type} does not match the "
                                 f"elements of xs{keystr(p)}, of type {_element(x.type)}")
        inits.append(lax.convert(v, x.dtype))
    axes = _normalize_axes("reduce", axis, xl.values[0].type)
    program, consts = _stage_monoid("reduce", op, xl)
    outs = bind(P.Reduce(body=program, axes=axes, num_consts=len(consts)), *consts,
                *xl.values, *inits)
    return xl.tree.unflatten(outs)


def associative_scan(op: Any, xs: Any, reverse: bool = False,
                     axis: int = 0) -> Any:
    """Inclusive scan of `xs` along `axis` with the associative `op(a, b)`, `a` preceding `b`.

    `xs` is an array or a pytree of arrays of one shape; `op` combines pytrees of scalars. With
    `reverse`, the scan runs from the end: `out[i] = op(x[n-1], ..., x[i])` in that order.

    >>> associative_scan(lambda a, b: a + b, asarray([1, 2, 3]))  # [1, 3, 6]
    """
    _callable("associative_scan", "op", op)
    xl = _leaves("associative_scan", "xs", xs)
    _same_shapes("associative_scan", xl)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ArgumentTypeError(f"associative_scan: axis must be an int, got {axis!r}")
    (ax,) = _normalize_axes("associative_scan", int(axis), xl.values[0].type)
    program, consts = _stage_monoid("associative_scan", op, xl)
    outs = bind(P.AssociativeScan(body=program, axis=ax, reverse=bool(reverse),
                                  num_consts=len(consts)), *consts, *xl.values)
    return xl.tree.unflatten(outs)


# ----------------------------------------------------------------------------------------------
# cond and switch


class _Branch(NamedTuple):
    program: Program
    consts: list[Tracer]
    out: _Leaves


def _stage_branch(what: str, name: str, fn: Callable[..., Any], ops: _Leaves,
                  want: Sequence[TensorType] | None) -> _Branch:
    found: list[_Leaves] = []

    def body(*args: Tracer) -> list[Any]:
        out = _leaves(what, f"the output of {name}", fn(*ops.tree.unflatten(args)))
        found.append(out)
        if want is None:
            return out.values
        fitted, _ = _fit(what, f"{name} returns", out, want, "the common type", "output")
        return fitted

    program, consts, _ = stage_flat(body, [x.type for x in ops.values])
    return _Branch(program, consts, found[0])


def _branches(what: str, fns: Sequence[Callable[..., Any]], names: Sequence[str], ops: _Leaves
              ) -> tuple[list[Program], list[Tracer], PyTreeDef]:
    """Stage every branch on the operands; reconcile their outputs; share their consts."""
    staged = [_stage_branch(what, n, fn, ops, None) for n, fn in zip(names, fns)]
    first = staged[0].out
    for i, b in enumerate(staged[1:], 1):
        if b.out.tree != first.tree:
            raise ArgumentTypeError(f"{what}: {names[i]} returns pytree structure {b.out.tree!r}, but "
                            f"{names[0]} returns {first.tree!r}")
        for x0, x, p in zip(first.values, b.out.values, first.paths):
            if not x.type.same_ignoring_weak(x0.type):
                err = DTypeError if x.shape == x0.shape else ShapeError
                raise err(f"{what}: {names[i]} returns {x.type} but {names[0]} returns "
                          f"{x0.type} (at output{keystr(p)})")
    # a leaf is weak only if every branch returns it weak; restage branches that disagree
    want = [TensorType(x.shape, x.dtype, all(b.out.values[j].weak for b in staged))
            for j, x in enumerate(first.values)]
    staged = [_stage_branch(what, names[i], fns[i], ops, want)
              if any(x.weak != w.weak for x, w in zip(b.out.values, want)) else b
              for i, b in enumerate(staged)]
    # `cond` has no per-branch consts: every branch takes the union of the captured values
    consts: list[Tracer] = []
    seen: set[Var] = set()
    for b in staged:
        for t in b.consts:
            if t._var not in seen:
                seen.add(t._var)
                consts.append(t)
    programs = []
    for b in staged:
        k = len(b.consts)
        own = dict(zip((t._var for t in b.consts), b.program.inputs[:k]))
        ins = tuple(own[t._var] if t._var in own else Var(t.type) for t in consts)
        programs.append(Program(ins + b.program.inputs[k:], b.program.eqns, b.program.outputs))
    return programs, consts, first.tree


def _apply_branches(what: str, index: Any, fns: Sequence[Callable[..., Any]],
                    names: Sequence[str], operands: tuple[Any, ...]) -> Any:
    ops = _leaves(what, "operands", operands)
    programs, consts, out_tree = _branches(what, fns, names, ops)
    outs = bind(P.Cond(branches=tuple(programs)), index, *consts, *ops.values)
    return out_tree.unflatten(outs)


def cond(pred: Any, true_fn: Any, false_fn: Any,
         *operands: Any) -> Any:
    """`true_fn(*operands)` if `pred` else `false_fn(*operands)`, as one `cond` equation.

    `pred` is a scalar (non-bool values mean `pred != 0`). Both functions are staged and must
    return the same pytree structure and types. Binds `cond` with branches `(false_fn,
    true_fn)` and index `pred` (JAX's convention); only the taken branch is evaluated.
    """
    _callable("cond", "true_fn", true_fn)
    _callable("cond", "false_fn", false_fn)
    p = _as_value("cond", "pred", (), pred)
    if p.shape != ():
        raise ShapeError(f"cond: pred must be a scalar, got {p.type}")
    if p.dtype != dtypes.bool_:
        p = lax.ne(p, 0)
    return _apply_branches("cond", lax.convert(p, dtypes.int32), (false_fn, true_fn),
                           ("false_fn (branch 0)", "true_fn (branch 1)"), operands)


def switch(index: Any, branches: Any, *operands: Any) -> Any:
    """`branches[index](*operands)`, with `index` clamped into `[0, len(branches) - 1]`.

    Every branch is staged and must return the same pytree structure and types.
    """
    fns = list(branches)
    if not fns:
        raise ArgumentValueError("switch: needs at least one branch")
    for i, fn in enumerate(fns):
        _callable("switch", f"branch {i}", fn)
    idx = _as_value("switch", "index", (), index)
    if idx.shape != ():
        raise ShapeError(f"switch: index must be a scalar, got {idx.type}")
    if not (dtypes.is_integer(idx.dtype) or idx.dtype == dtypes.bool_):
        raise DTypeError(f"switch: index must be an integer, got {idx.type}")
    if dtypes.is_integer(idx.dtype) and idx.dtype != dtypes.int32:
        # clamp in the index's own dtype so that a wide index cannot wrap into range
        idx = lax.clamp(0, idx, len(fns) - 1)
    return _apply_branches("switch", lax.convert(idx, dtypes.int32), fns,
                           [f"branch {i}" for i in range(len(fns))], operands)


# ----------------------------------------------------------------------------------------------
# Loops


def _stage_cond(what: str, cond_fn: Callable[..., Any], tree: PyTreeDef,
                types: Sequence[TensorType]) -> tuple[Program, list[Tracer]]:
    def body(*args: Tracer) -> list[Any]:
        out = _leaves(what, "the output of cond_fn", cond_fn(tree.unflatten(args)))
        if len(out.values) != 1 or out.paths[0] != ():
            raise ArgumentTypeError(f"{what}: cond_fn must return one bool scalar, got a pytree "
                            f"{out.tree!r}")
        (x,) = out.values
        if x.shape != ():
            raise ShapeError(f"{what}: cond_fn must return a bool scalar, got {x.type}")
        if x.dtype != dtypes.bool_:
            raise DTypeError(f"{what}: cond_fn must return a bool scalar, got {x.type}")
        return [lax.convert(x, dtypes.bool_)]

    program, consts, _ = stage_flat(body, types)
    return program, consts


def while_loop(cond_fn: Any, body_fn: Any, init: Any,
               max_iters: int | None = None) -> Any:
    """`carry = init; while cond_fn(carry): carry = body_fn(carry)`; returns the carry.

    With `max_iters`, the loop stops after at most that many iterations (which also lets
    reverse-mode differentiation through it). `body_fn` must keep the carry's pytree structure
    and types; `cond_fn` must return a bool scalar.
    """
    _callable("while_loop", "cond_fn", cond_fn)
    _callable("while_loop", "body_fn", body_fn)
    if max_iters is not None:
        if isinstance(max_iters, bool) or not isinstance(max_iters, (int, np.integer)) \
                or max_iters < 0:
            raise ArgumentValueError(f"while_loop: max_iters must be a non-negative int or None, got "
                             f"{max_iters!r}")
        max_iters = int(max_iters)
    il = _leaves("while_loop", "init", init)
    types = [x.type for x in il.values]
    for _ in range(len(types) + 1):
        widened: list[int] = []

        def body(*args: Tracer) -> list[Any]:
            out = _leaves("while_loop", "the output of body_fn", body_fn(il.tree.unflatten(args)))
            _check_tree("while_loop", "the carry body_fn returns", out.tree, il.tree,
                        "the initial carry")
            fitted, w = _fit("while_loop", "body_fn's carry output", out, types,
                             "the initial carry", "carry")
            widened.extend(w)
            return fitted

        body_program, body_consts, _ = stage_flat(body, types)
        if not widened:
            break
        for i in widened:
            types[i] = types[i].strong()
    cond_program, cond_consts = _stage_cond("while_loop", cond_fn, il.tree, types)
    op = P.WhileLoop(cond=cond_program, body=body_program, cond_consts=len(cond_consts),
                     body_consts=len(body_consts), max_iters=max_iters)
    outs = bind(op, *cond_consts, *body_consts, *_strong(il.values, types))
    return il.tree.unflatten(outs)


def _static_int(x: Any) -> int | None:
    """The value of a concrete integer bound, or None for a symbolic one."""
    if type(x) is Tracer:
        return None
    return int(np.asarray(x))


def fori_loop(lower: Any, upper: Any, body_fn: Any, init: Any) -> Any:
    """`carry = init; for i in range(lower, upper): carry = body_fn(i, carry)`.

    With concrete bounds this is a `scan` of `upper - lower` steps (the index travels in the
    carry), so it can be reverse-differentiated; with symbolic bounds it is a `while_loop` over
    `(i, carry)`. The index has the bounds' promoted integer dtype (weak i32 for Python ints).
    """
    _callable("fori_loop", "body_fn", body_fn)
    lo, hi = promote_args("fori_loop", lower, upper, broadcast=False)
    for b in (lo, hi):
        if b.shape != () or not dtypes.is_integer(b.dtype):
            raise ArgumentTypeError(f"fori_loop: bounds must be integer scalars, got {b.type}")
    slo, shi = _static_int(lower), _static_int(upper)
    if slo is not None and shi is not None:
        def step(c: tuple[Any, Any], _: None) -> tuple[tuple[Any, Any], None]:
            i, carry = c
            return (i + 1, body_fn(i, carry)), None

        (_, out), _ = scan(step, (lo, init), None, length=max(shi - slo, 0))
        return out

    def keep_going(c: tuple[Any, Any]) -> Any:
        return c[0] < hi

    def advance(c: tuple[Any, Any]) -> tuple[Any, Any]:
        return c[0] + 1, body_fn(c[0], c[1])

    return while_loop(keep_going, advance, (lo, init))[1]


def checkpoint_name(x: Any, name: str) -> Any:
    """`x` (any pytree of arrays) unchanged, each leaf marked `name` for the named policies of
    `checkpoint` (`save_only_these_names(name)` keeps it for reverse mode, ...); JAX's
    `jax.ad_checkpoint.checkpoint_name`."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"checkpoint_name: the name must be a str, got "
                                f"{type(name).__name__} {name!r}")
    return tree_map(lambda v: bind(P.CheckpointName(label=name), asarray(v)), x)
