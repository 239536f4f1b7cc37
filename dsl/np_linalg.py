"""NumPy-named products: dot, matmul, inner, outer, tensordot, einsum, trace, kron, cross.

All of them reduce to the `dot_general` primitive (a batched, generalised matrix product with
explicit contracting and batch dimensions) plus reshapes, transposes and reductions. Operands
are first promoted to one dtype (NumPy's rules with weak Python scalars, via `promote_args`);
bool products are computed in i32 and turned back into bools (a sum of ands is an "or").
`preferred_element_type` asks `dot_general` for a wider result (and accumulation) dtype.

`einsum` parses its subscripts itself: explicit (`ij,jk->ik`) and implicit (`ij,jk`) outputs,
`...` for broadcast leading dimensions, a label repeated within one operand for a diagonal, and
labels absent from the output summed. Operands are contracted pairwise from left to right; each
step's labels shared with a later operand or the output become batch dimensions, the others are
contracted, and labels needed nowhere else are summed as early as possible.
"""

from __future__ import annotations

import operator
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl.errors import ArgumentTypeError, ArgumentValueError, ShapeError
from dsl.np_creation import diagonal
from dsl.np_elementwise import broadcast_shapes, conj, multiply, subtract
from dsl.np_manip import array_arg, moveaxis, normalize_axis, promote, ravel, stack
from dsl.np_reductions import sum as sum_

__all__ = ["cross", "dot", "einsum", "inner", "kron", "matmul", "outer", "tensordot", "trace",
           "vdot", "vecdot"]


def _dot_general(x: Any, y: Any, contracting: tuple[Sequence[int], Sequence[int]],
                 batch: tuple[Sequence[int], Sequence[int]] = ((), ()),
                 preferred: Any = None) -> Any:
    """`dot_general` on promoted operands, handling bools and the preferred result dtype."""
    pt = None if preferred is None else dtypes.canonicalize(preferred)
    if pt is not None and pt != x.dtype:
        if dtypes.is_bool(x.dtype) or dtypes.kind_rank(pt) < dtypes.kind_rank(x.dtype):
            return lax.dot_general(lax.convert(x, pt), lax.convert(y, pt), contracting, batch)
        return lax.dot_general(x, y, contracting, batch, preferred=pt)
    if dtypes.is_bool(x.dtype):
        i = dtypes.int32
        out = lax.dot_general(lax.convert(x, i), lax.convert(y, i), contracting, batch)
        return lax.ne(out, lax.scalar_like(0, i))
    return lax.dot_general(x, y, contracting, batch)


def _check_size(name: str, x: Any, ax: int, y: Any, bx: int, sep: str) -> None:
    if x.shape[ax] != y.shape[bx]:
        raise ShapeError(f"{name}: contracting dimensions differ: {x.type} {sep} {y.type} "
                         f"(axis {ax} has size {x.shape[ax]}, axis {bx} has size "
                         f"{y.shape[bx]})")


def dot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """NumPy's `dot`: a product for scalars, the inner product of vectors, the matrix product
    of matrices, and in general a sum over the last axis of `a` and the second-to-last of `b`
    (its only axis when `b` is 1-D)."""
    x, y = promote("dot", a, b, broadcast=False)
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    ca, cb = x.ndim - 1, (0 if y.ndim == 1 else y.ndim - 2)
    _check_size("dot", x, ca, y, cb, ".")
    return _dot_general(x, y, ((ca,), (cb,)), preferred=preferred_element_type)


def vdot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """The dot product of the flattened arrays, conjugating the first."""
    x, y = promote("vdot", a, b, broadcast=False)
    x, y = ravel(conj(x)), ravel(y)
    _check_size("vdot", x, 0, y, 0, ".")
    return _dot_general(x, y, ((0,), (0,)), preferred=preferred_element_type)


def matmul(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """The matrix product `a @ b`, broadcasting leading (batch) dimensions.

    A 1-D `a` is a row vector and a 1-D `b` a column vector; the added axis is removed from the
    result. Scalars are refused (use `multiply`).
    """
    x0, y0 = promote("matmul", a, b, broadcast=False)
    if x0.ndim == 0 or y0.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least 1 dimension; got {x0.type} @ "
                         f"{y0.type}")
    x = lax.reshape(x0, (1,) + tuple(x0.shape)) if x0.ndim == 1 else x0
    y = lax.reshape(y0, tuple(y0.shape) + (1,)) if y0.ndim == 1 else y0
    if x.shape[-1] != y.shape[-2]:
        raise ShapeError(f"matmul: contracting dimensions differ: {x0.type} @ {y0.type}")
    pt = preferred_element_type
    if y.ndim == 2:
        out = _dot_general(x, y, ((x.ndim - 1,), (0,)), preferred=pt)
    elif x.ndim == 2:
        out = _dot_general(x, y, ((1,), (y.ndim - 2,)), preferred=pt)
        out = moveaxis(out, 0, -2)
    else:
        try:
            batch = broadcast_shapes(tuple(x.shape[:-2]), tuple(y.shape[:-2]))
        except ShapeError:
            raise ShapeError(f"matmul: batch dimensions do not broadcast: {x0.type} @ "
                             f"{y0.type}") from None
        x = lax.broadcast_to_rank_shape(x, batch + tuple(x.shape[-2:]))
        y = lax.broadcast_to_rank_shape(y, batch + tuple(y.shape[-2:]))
        nb = len(batch)
        out = _dot_general(x, y, ((nb + 1,), (nb,)), (range(nb), range(nb)), preferred=pt)
    if x0.ndim == 1:
        out = lax.squeeze(out, (out.ndim - 2,))
    if y0.ndim == 1:
        out = lax.squeeze(out, (out.ndim - 1,))
    return out


def inner(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """Sum over the last axes of `a` and `b` (a product when either is a scalar)."""
    x, y = promote("inner", a, b, broadcast=False)
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    _check_size("inner", x, x.ndim - 1, y, y.ndim - 1, ",")
    return _dot_general(x, y, ((x.ndim - 1,), (y.ndim - 1,)), preferred=preferred_element_type)


def outer(a: Any, b: Any) -> Any:
    """`out[i, j] = a.ravel()[i] * b.ravel()[j]`."""
    x, y = (ravel(v) for v in promote("outer", a, b, broadcast=False))
    return multiply(lax.reshape(x, (x.shape[0], 1)), lax.reshape(y, (1, y.shape[0])))


def vecdot(x1: Any, x2: Any, /, *, axis: SupportsIndex = -1) -> Any:
    """The dot product of vectors along `axis` (conjugating `x1`), broadcasting the rest."""
    x, y = promote("vecdot", x1, x2, broadcast=False)
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(f"vecdot: operands must have at least 1 dimension; got {x.type}, "
                         f"{y.type}")
    ax_x = normalize_axis("vecdot", axis, x)
    ax_y = normalize_axis("vecdot", axis, y)
    _check_size("vecdot", x, ax_x, y, ax_y, ",")
    prod = multiply(moveaxis(conj(x), ax_x, -1), moveaxis(y, ax_y, -1))
    return sum_(prod, axis=-1, dtype=prod.dtype)


def _axes_list(name: str, axes: Any, x: Any) -> list[int]:
    if isinstance(axes, (int, np.integer)):
        return [normalize_axis(name, axes, x)]
    return [normalize_axis(name, a, x) for a in axes]


def tensordot(a: Any, b: Any, axes: Any = 2, *, precision: Any = None,
              preferred_element_type: Any = None) -> Any:
    """Sum products over `axes`: an int N (the last N axes of `a` with the first N of `b`) or a
    pair of axis sequences (or ints)."""
    x, y = promote("tensordot", a, b, broadcast=False)
    if isinstance(axes, (int, np.integer)):
        n = operator.index(axes)
        if n < 0 or n > x.ndim or n > y.ndim:
            raise ShapeError(f"tensordot: cannot contract {n} axes of {x.type} and {y.type}")
        ax, bx = list(range(x.ndim - n, x.ndim)), list(range(n))
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"tensordot: axes must be an int or a pair of axis "
                                    f"sequences, got {axes!r}") from None
        ax, bx = _axes_list("tensordot", first, x), _axes_list("tensordot", second, y)
        if len(ax) != len(bx):
            raise ShapeError(f"tensordot: axes {axes} pair up {len(ax)} axes of {x.type} with "
                             f"{len(bx)} of {y.type}")
        if len(set(ax)) != len(ax) or len(set(bx)) != len(bx):
            raise ShapeError(f"tensordot: repeated axis in {axes} for {x.type}, {y.type}")
    for i, j in zip(ax, bx):
        _check_size("tensordot", x, i, y, j, ",")
    return _dot_general(x, y, (ax, bx), preferred=preferred_element_type)


def trace(a: Any, offset: SupportsIndex = 0, axis1: SupportsIndex = 0,
          axis2: SupportsIndex = 1, dtype: Any = None) -> Any:
    """The sum along the `offset`-th diagonal of the planes `(axis1, axis2)`."""
    x = array_arg("trace", a)
    if x.ndim < 2:
        raise ShapeError(f"trace: needs at least 2 dimensions, got {x.type}")
    return sum_(diagonal(x, offset, axis1, axis2), axis=-1, dtype=dtype)


def kron(a: Any, b: Any) -> Any:
    """The Kronecker product: every element of `a` times a whole block `b`."""
    x, y = promote("kron", a, b, broadcast=False)
    nd = max(x.ndim, y.ndim)
    xs = (1,) * (nd - x.ndim) + tuple(x.shape)
    ys = (1,) * (nd - y.ndim) + tuple(y.shape)
    xe = lax.reshape(x, [d for n in xs for d in (n, 1)])
    ye = lax.reshape(y, [d for n in ys for d in (1, n)])
    return lax.reshape(multiply(xe, ye), [p * q for p, q in zip(xs, ys)])


def cross(a: Any, b: Any, axisa: SupportsIndex = -1, axisb: SupportsIndex = -1,
          axisc: SupportsIndex = -1, axis: SupportsIndex | None = None) -> Any:
    """The cross product of 3-vectors along `axisa`/`axisb` (or `axis`), broadcasting the
    other axes; the result's vector axis is `axisc`."""
    x, y = promote("cross", a, b, broadcast=False)
    if axis is not None:
        axisa = axisb = axisc = axis
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(f"cross: operands must be vectors, got {x.type} and {y.type}")
    x = moveaxis(x, normalize_axis("cross", axisa, x), -1)
    y = moveaxis(y, normalize_axis("cross", axisb, y), -1)
    if x.shape[-1] != 3 or y.shape[-1] != 3:
        raise ShapeError(f"cross: vector dimensions must have size 3, got {x.type} and "
                         f"{y.type}")

    def comp(v: Any, i: int) -> Any:
        lo = [0] * v.ndim
        hi = list(v.shape)
        lo[-1], hi[-1] = i, i + 1
        return lax.squeeze(lax.slice(v, lo, hi), (v.ndim - 1,))

    (a0, a1, a2), (b0, b1, b2) = ([comp(v, i) for i in range(3)] for v in (x, y))
    c = [subtract(multiply(a1, b2), multiply(a2, b1)),
         subtract(multiply(a2, b0), multiply(a0, b2)),
         subtract(multiply(a0, b1), multiply(a1, b0))]
    out = stack(c, axis=-1)
    return moveaxis(out, -1, normalize_axis("cross", axisc, out))


# ---------------------------------------------------------------------------------------------
# einsum

_LABELS = string.ascii_letters
_ELLIPSIS = "..."


def _parse_term(term: str, subscripts: str) -> list[str]:
    labels: list[str] = []
    i = 0
    while i < len(term):
        if term.startswith(_ELLIPSIS, i):
            if _ELLIPSIS in labels:
                raise ArgumentValueError(f"einsum: more than one ellipsis in {term!r} of "
                                         f"subscripts {subscripts!r}")
            labels.append(_ELLIPSIS)
            i += 3
        elif term[i] in _LABELS:
            labels.append(term[i])
            i += 1
        else:
            raise ArgumentValueError(f"einsum: invalid character {term[i]!r} in subscripts "
                                     f"{subscripts!r} (labels are letters, plus '...')")
    return labels


def _from_sublists(first: Any, rest: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The interleaved form `einsum(x, [0, 1], y, [1, 2], [0, 2])` as a subscripts string."""
    args = (first,) + rest
    ops, subs = args[0::2], list(args[1::2])
    out = None
    if len(args) % 2:
        out, ops = args[-1], ops[:-1]

    def letters(sub: Any) -> str:
        s = ""
        for v in sub:
            if v is Ellipsis:
                s += _ELLIPSIS
            else:
                i = operator.index(v)
                if not 0 <= i < len(_LABELS):
                    raise ArgumentValueError(f"einsum: sublist labels must be in [0, 52), got {i}")
                s += _LABELS[i]
        return s

    text = ",".join(letters(s) for s in subs)
    if out is not None:
        text += "->" + letters(out)
    return text, tuple(ops)


def _take_diagonals(k: int, x: Any, labels: list[str]) -> tuple[Any, list[str]]:
    """Labels repeated within one operand select its diagonal."""
    while len(set(labels)) != len(labels):
        seen: dict[str, int] = {}
        for q, label in enumerate(labels):
            if label in seen:
                p = seen[label]
                break
            seen[label] = q
        if x.shape[p] != x.shape[q]:
            raise ShapeError(f"einsum: label {label!r} repeats in operand {k} ({x.type}) over "
                             f"axes of different sizes {x.shape[p]} and {x.shape[q]}")
        x = diagonal(x, 0, p, q)
        labels = [v for i, v in enumerate(labels) if i not in (p, q)] + [label]
    return x, labels


def _sum_unused(x: Any, labels: list[str], needed: set[str]) -> tuple[Any, list[str]]:
    axes = [i for i, v in enumerate(labels) if v not in needed]
    if not axes:
        return x, labels
    return lax.reduce_sum(x, axes), [v for v in labels if v in needed]


def einsum(subscripts: Any, *operands: Any, optimize: Any = None, precision: Any = None,
           preferred_element_type: Any = None) -> Any:
    """Einstein summation: `einsum('ij,jk->ik', a, b)` is `a @ b`.

    Labels are letters; `...` stands for leading dimensions that broadcast together; the
    implicit output is the ellipsis dimensions followed by the labels used exactly once, in
    alphabetical order. Also accepts NumPy's interleaved form (operand, sublist, ...).
    """
    if not isinstance(subscripts, str):
        try:
            subscripts, operands = _from_sublists(subscripts, operands)
        except TypeError:
            raise ArgumentTypeError("einsum: subscripts must be a string, or operands "
                                    "interleaved with sublists of label numbers") from None
    if not operands:
        raise ArgumentValueError("einsum: needs at least one operand")
    spec = subscripts.replace(" ", "")
    if spec.count("->") > 1:
        raise ArgumentValueError(f"einsum: subscripts {subscripts!r} have more than one '->'")
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ArgumentValueError(f"einsum: subscripts {subscripts!r} name {len(terms)} operands "
                                 f"but {len(operands)} were given")
    xs = promote("einsum", *operands, broadcast=False)
    if preferred_element_type is not None:
        xs = [lax.convert(x, preferred_element_type) for x in xs]
    is_bool = dtypes.is_bool(xs[0].dtype)
    if is_bool:
        xs = [lax.convert(x, dtypes.int32) for x in xs]

    # Expand each ellipsis into labels `.r` counted from the right, so they broadcast.
    ops: list[tuple[Any, list[str]]] = []
    ell_rank = 0
    for k, (term, x) in enumerate(zip(terms, xs)):
        labels = _parse_term(term, subscripts)
        named = len(labels) - (_ELLIPSIS in labels)
        if _ELLIPSIS in labels:
            e = x.ndim - named
            if e < 0:
                raise ShapeError(f"einsum: operand {k} ({x.type}) has fewer dimensions than "
                                 f"subscripts {term!r} name")
            ell_rank = max(ell_rank, e)
            i = labels.index(_ELLIPSIS)
            labels = labels[:i] + [f".{r}" for r in reversed(range(e))] + labels[i + 1:]
        elif named != x.ndim:
            raise ShapeError(f"einsum: subscripts {term!r} name {named} dimensions but operand "
                             f"{k} is {x.type}")
        ops.append(_take_diagonals(k, x, labels))
    ellipsis_labels = [f".{r}" for r in reversed(range(ell_rank))]

    counts = Counter(v for _, labels in ops for v in labels)
    if arrow:
        out_terms = _parse_term(rhs, subscripts)
        if _ELLIPSIS not in out_terms and ell_rank:
            raise ShapeError(f"einsum: subscripts {subscripts!r}: the output needs '...' for "
                             "the broadcast dimensions of the operands")
        out_labels = []
        for v in out_terms:
            if v == _ELLIPSIS:
                out_labels += ellipsis_labels
            elif v in out_labels:
                raise ArgumentValueError(f"einsum: output label {v!r} appears more than once in "
                                         f"{subscripts!r}")
            elif v not in counts:
                raise ArgumentValueError(f"einsum: output label {v!r} does not appear in the "
                                         f"inputs of {subscripts!r}")
            else:
                out_labels.append(v)
    else:
        letter_counts = Counter(v for term in terms for v in _parse_term(term, subscripts)
                                if v != _ELLIPSIS)
        out_labels = ellipsis_labels + sorted(v for v, c in letter_counts.items() if c == 1)

    # Sizes must agree; a size-1 axis broadcasts against a larger one (it is squeezed away).
    sizes: dict[str, int] = {}
    for k, (x, labels) in enumerate(ops):
        for v, n in zip(labels, x.shape):
            if n != 1 and sizes.get(v, 1) not in (1, n):
                what = f"label {v!r}" if v in _LABELS else "an ellipsis dimension"
                raise ShapeError(f"einsum: {what} has size {sizes[v]} in one operand but {n} in "
                                 f"operand {k} ({x.type}) of {subscripts!r}")
            sizes[v] = max(sizes.get(v, 1), n)
    for k, (x, labels) in enumerate(ops):
        drop = [i for i, (v, n) in enumerate(zip(labels, x.shape)) if n == 1 and sizes[v] > 1]
        if drop:
            ops[k] = (lax.squeeze(x, drop), [v for i, v in enumerate(labels) if i not in drop])

    def needed_after(k: int) -> set[str]:
        return set(out_labels).union(*(set(labels) for _, labels in ops[k + 1:]))

    cur, cur_labels = _sum_unused(*ops[0], needed_after(0))
    for k in range(1, len(ops)):
        later = needed_after(k)
        x, labels = _sum_unused(*ops[k], later | set(cur_labels))
        cur, cur_labels = _sum_unused(cur, cur_labels, later | set(labels))
        shared = [v for v in cur_labels if v in labels]
        batch = [v for v in shared if v in later]
        contract = [v for v in shared if v not in later]
        cur = lax.dot_general(
            cur, x, ([cur_labels.index(v) for v in contract], [labels.index(v) for v in contract]),
            ([cur_labels.index(v) for v in batch], [labels.index(v) for v in batch]))
        cur_labels = batch + [v for v in cur_labels if v not in shared] + [
            v for v in labels if v not in shared]
    cur, cur_labels = _sum_unused(cur, cur_labels, set(out_labels))
    missing = [v for v in out_labels if v not in cur_labels]
    if missing:  # only possible for ellipsis labels of size 1 everywhere: broadcast them back
        cur = lax.reshape(cur, tuple(cur.shape) + (1,) * len(missing))
        cur_labels = cur_labels + missing
    cur = lax.transpose(cur, [cur_labels.index(v) for v in out_labels])
    if is_bool:
        cur = lax.ne(cur, lax.scalar_like(0, cur.dtype))
    return cur
