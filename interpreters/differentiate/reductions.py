"""Derivative rules of the reductions, the cumulative primitives, dot_general and sort (the
family's overview and shared helpers are in `structural`).

`reduce_sum`, `cumsum` and `dot_general` are linear: their vjps are the broadcast, the reversed
cumsum and the dot_generals of the two transposes. The nonlinear ones follow JAX's conventions:
- `reduce_prod` uses exclusive products (the product of all the other elements, from a forward
  and a backward cumprod), so inputs containing zeros get exact derivatives, no division;
- `reduce_max`/`reduce_min` split the derivative evenly among the elements equal to the result;
- `cummax`/`cummin` treat output k as the max/min of the prefix (suffix when reversed) and split
  evenly among its tied elements, like `reduce_max` on that prefix. (JAX differentiates its
  associative-scan tree instead, so with ties its weights depend on the tree; without ties the
  two agree);
- `cumprod` solves the linear recurrence `dy[k] = x[k] dy[k-1] + y[k-1] dx[k]` (and its
  transpose) by doubling steps, exact with zeros;
- `sort` sorts an iota along with the keys to get the permutation, gathers tangents with it, and
  scatters cotangents back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl import lax
from dsl import ops as P
from dsl.core import bind
from dsl.types import Sharding
from interpreters.differentiate import JVP_RULES, VJP_RULES, Zero, add_any, instantiate, type_of
from interpreters.differentiate.structural import Rules, _const, _full, _linear_jvp


# --- helpers ---------------------------------------------------------------------------------

def _cast(x: Any, dtype: np.dtype) -> Any:
    """`x` in `dtype`, dropping an imaginary part when going from complex to real."""
    if dtypes.is_complex(x.dtype) and not dtypes.is_complex(dtype):
        x = bind(P.Real(), x)
    return lax.convert(x, dtype)


def _shift(v: Any, d: int, fill: Any, axis: int, reverse: bool) -> Any:
    """`v[k - d]` (or `v[k + d]` when `reverse`) along `axis`, `fill` where that is outside."""
    cfg = [(0, 0, 0)] * v.ndim
    cfg[axis] = (-d, d, 0) if reverse else (d, -d, 0)
    return lax.pad(v, _const(fill, v.dtype), cfg)


def _recurrence(a: Any, b: Any, axis: int, reverse: bool) -> Any:
    """`z[k] = a[k] z[k-1] + b[k]` along `axis` (from the end when `reverse`), `z[-1] = 0`,
    in log2(n) doubling steps on pairs (A, B) standing for the affine map z -> A z + B."""
    n = a.shape[axis]
    coef, acc, d = a, b, 1
    while d < n:
        acc = lax.add(lax.mul(coef, _shift(acc, d, 0, axis, reverse)), acc)
        if 2 * d < n:
            coef = lax.mul(coef, _shift(coef, d, 1, axis, reverse))
        d *= 2
    return acc


def _recurrence_transpose(a: Any, c: Any, axis: int, reverse: bool) -> Any:
    """The transpose of `b -> _recurrence(a, b, axis, reverse)` applied to `c`: the recurrence
    run the other way with the coefficients shifted by one."""
    return _recurrence(_shift(a, 1, 0, axis, not reverse), c, axis, not reverse)


# --- linear reductions -----------------------------------------------------------------------

def _reduce_sum_vjp(op: P.Op, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x = xs[0]
    kept = [i for i in range(x.ndim) if i not in op.axes]  # type: ignore[attr-defined]
    return [lax.broadcast_in_dim(cts[0], x.shape, kept)]


def _cumsum_vjp(op: P.Cumsum, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    return [bind(P.Cumsum(axis=op.axis, reverse=not op.reverse), cts[0])]


# --- dot_general -----------------------------------------------------------------------------

def _dot_jvp(op: P.DotGeneral, primals: list[Any], tangents: list[Any]) -> Rules:
    x, y = primals
    x_dot, y_dot = tangents
    out = bind(op, x, y)
    t = Zero(type_of(out))
    if not isinstance(x_dot, Zero):
        t = bind(op, x_dot, y)
    if not isinstance(y_dot, Zero):
        t = add_any(t, bind(op, x, y_dot))
    return [out], [t]


def _dot_operand_ct(z_bar: Any, other: Any, own: tuple[list[int], list[int], list[int]],
                    theirs: tuple[list[int], list[int], list[int]], their_pos: list[int],
                    dtype: np.dtype, want: Sharding | None = None) -> Any:
    """The cotangent of one dot_general operand: contract the output cotangent with the other
    operand over the other's free dimensions, batch over the batch dimensions, then transpose
    to the operand's dimension order. `own`/`theirs` are (batch, free, contracting) dims.
    `want` is the operand's sharding, which its cotangent gets (operands resharded to fit)."""
    own_b, own_f, own_c = own
    their_b, their_f, their_c = theirs
    if other.dtype != z_bar.dtype:  # a `preferred` accumulation dtype: work in it, convert back
        other = lax.convert(other, z_bar.dtype)
    z_batch = list(range(len(own_b)))
    from_other = [own_c[k] for k in np.argsort(their_c)]
    order = list(own_b) + list(own_f) + from_other
    swapped = list(own_b) + from_other + list(own_f)
    if order != sorted(order) and swapped == sorted(swapped):
        # `other` first gives the operand's own dimension order: no transpose (the weight
        # gradient x^T z_bar of a matmul, as XLA likes it)
        a, b, res_order = other, z_bar, swapped
        dims = ((their_f, their_pos), (their_b, z_batch))
    else:
        a, b, res_order = z_bar, other, order
        dims = ((their_pos, their_f), (z_batch, their_b))
    if want is not None or a.type.sharding is not None or b.type.sharding is not None:
        a, b = _dot_fit(a, b, dims, want, res_order)
    res = lax.dot_general(a, b, *dims)
    if res_order != sorted(res_order):
        res = lax.transpose(res, [int(i) for i in np.argsort(res_order)])
    return _cast(res, dtype) if res.dtype != dtype else res


def _dot_fit(a: Any, b: Any, dims: tuple[Any, Any], want: Sharding | None,
             res_order: list[int]) -> tuple[Any, Any]:
    """Operands `a`, `b` as they are when their dot_general is legally sharded (the reverse
    walker then reshards the cotangent to `want`, e.g. by a reduce-scatter); otherwise resharded
    so that the result (whose dimension i is the operand's dimension `res_order[i]`) is split
    as `want` (JAX's `out_sharding`; e.g. the weights all-gathered in a sharded matmul)."""
    from dsl.core import infer
    from dsl.errors import ShardingError
    from dsl.sharding_ops import constrain, dot_operand_shardings

    contracting = (tuple(dims[0][0]), tuple(dims[0][1]))
    batch = (tuple(dims[1][0]), tuple(dims[1][1]))
    try:
        infer(P.DotGeneral(contracting=contracting, batch=batch), (a.type, b.type))
        return a, b
    except ShardingError:
        pass
    w = None if want is None else tuple(want[i] for i in res_order)
    sa, sb = dot_operand_shardings(a.type, b.type, contracting, batch, w)
    if (a.type.sharding or ((),) * a.ndim) != sa:
        a = constrain(a, sa)
    if (b.type.sharding or ((),) * b.ndim) != sb:
        b = constrain(b, sb)
    return a, b


def _dot_vjp(op: P.DotGeneral, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, y = xs
    z_bar = cts[0]
    (lc, rc), (lb, rb) = op.contracting, op.batch
    lf = [i for i in range(x.ndim) if i not in lc + lb]
    rf = [i for i in range(y.ndim) if i not in rc + rb]
    nb = len(lb)
    x_pos = list(range(nb, nb + len(lf)))
    y_pos = list(range(nb + len(lf), nb + len(lf) + len(rf)))
    lhs = (list(lb), lf, list(lc))
    rhs = (list(rb), rf, list(rc))
    x_bar = _dot_operand_ct(z_bar, y, lhs, rhs, y_pos, x.dtype, x.type.sharding)
    y_bar = _dot_operand_ct(z_bar, x, rhs, lhs, x_pos, y.dtype, y.type.sharding)
    return [x_bar, y_bar]


# --- nonlinear reductions --------------------------------------------------------------------

def _kept(x: Any, axes: Sequence[int]) -> list[int]:
    return [i for i in range(x.ndim) if i not in axes]


def _others_product(x: Any, axes: Sequence[int]) -> tuple[Any, list[int], tuple[int, ...]]:
    """For each element, the product of the other elements of its reduced group, laid out as
    (kept dims..., group); with the permutation and shape that lay `x` out that way."""
    kept = _kept(x, axes)
    perm = kept + list(axes)
    lead = tuple(x.shape[i] for i in kept)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    flat = lax.reshape(lax.transpose(x, perm), lead + (n,))
    last = len(lead)
    before = _shift(bind(P.Cumprod(axis=last), flat), 1, 1, last, False)
    after = _shift(bind(P.Cumprod(axis=last, reverse=True), flat), 1, 1, last, True)
    return lax.mul(before, after), perm, lead + (n,)


def _reduce_prod_jvp(op: P.Op, primals: list[Any], tangents: list[Any]) -> Rules:
    x, t = primals[0], instantiate(tangents[0])
    axes = op.axes  # type: ignore[attr-defined]
    out = bind(op, x)
    if not axes:
        return [out], [t]
    if any(x.shape[a] == 0 for a in axes):
        return [out], [Zero(type_of(out))]
    others, perm, shape = _others_product(x, axes)
    t_flat = lax.reshape(lax.transpose(t, perm), shape)
    return [out], [lax.reduce_sum(lax.mul(t_flat, others), (len(shape) - 1,))]


def _reduce_prod_vjp(op: P.Op, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, z_bar = xs[0], cts[0]
    axes = op.axes  # type: ignore[attr-defined]
    if not axes:
        return [z_bar]
    if any(x.shape[a] == 0 for a in axes):
        return [Zero(type_of(x))]
    others, perm, shape = _others_product(x, axes)
    g = lax.mul(lax.broadcast_in_dim(z_bar, shape, range(len(shape) - 1)), others)
    g = lax.reshape(g, tuple(x.shape[i] for i in perm))
    return [lax.transpose(g, [int(i) for i in np.argsort(perm)])]


def _extreme_weights(op: P.Op, x: Any, out: Any) -> tuple[Any, Any]:
    """(indicator of the elements equal to the result, their count per result)."""
    axes = op.axes  # type: ignore[attr-defined]
    hits = lax.convert(lax.eq(x, lax.broadcast_in_dim(out, x.shape, _kept(x, axes))), x.dtype)
    return hits, lax.reduce_sum(hits, axes)


def _reduce_extreme_jvp(op: P.Op, primals: list[Any], tangents: list[Any]) -> Rules:
    x, t = primals[0], instantiate(tangents[0])
    axes = op.axes  # type: ignore[attr-defined]
    out = bind(op, x)
    if not axes:
        return [out], [t]
    if any(x.shape[a] == 0 for a in axes):
        return [out], [Zero(type_of(out))]
    hits, count = _extreme_weights(op, x, out)
    return [out], [lax.div(lax.reduce_sum(lax.mul(t, hits), axes), count)]


def _reduce_extreme_vjp(op: P.Op, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, z_bar = xs[0], cts[0]
    axes = op.axes  # type: ignore[attr-defined]
    if not axes:
        return [z_bar]
    if any(x.shape[a] == 0 for a in axes):
        return [Zero(type_of(x))]
    hits, count = _extreme_weights(op, x, outs[0])
    share = lax.broadcast_in_dim(lax.div(z_bar, count), x.shape, _kept(x, axes))
    return [lax.mul(share, hits)]


# --- cumulative ------------------------------------------------------------------------------

def _cumprod_jvp(op: P.Cumprod, primals: list[Any], tangents: list[Any]) -> Rules:
    x, t = primals[0], instantiate(tangents[0])
    y = bind(op, x)
    if x.shape[op.axis] == 0:
        return [y], [Zero(type_of(y))]
    before = _shift(y, 1, 1, op.axis, op.reverse)
    return [y], [_recurrence(x, lax.mul(before, t), op.axis, op.reverse)]


def _cumprod_vjp(op: P.Cumprod, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, z_bar = xs[0], cts[0]
    if x.shape[op.axis] == 0:
        return [Zero(type_of(x))]
    before = _shift(outs[0], 1, 1, op.axis, op.reverse)
    return [lax.mul(before, _recurrence_transpose(x, z_bar, op.axis, op.reverse))]


def _running_extreme(op: P.Op, x: Any, y: Any) -> tuple[Any, Any, Any]:
    """For cummax/cummin output y: (hits, plateau, count). `hits[i]` marks x[i] == y[i] (x[i]
    is a running extreme); `plateau[k]` marks y[k] == y[k-1]; the elements of the prefix equal
    to y[k] are exactly the hits of y[k]'s plateau up to k, and `count` counts them."""
    axis, reverse = op.axis, op.reverse  # type: ignore[attr-defined]
    hits = lax.convert(lax.eq(x, y), x.dtype)
    plateau = lax.convert(lax.eq(y, _shift(y, 1, 0, axis, reverse)), x.dtype)
    return hits, plateau, _recurrence(plateau, hits, axis, reverse)


def _at_least_one(count: Any) -> Any:
    # A count is zero only at NaN outputs (NaN equals nothing): give those a zero derivative
    # rather than 0/0, which the transposed recurrence would spread to earlier elements.
    return lax.max(count, _const(1, count.dtype))


def _cum_extreme_jvp(op: P.Op, primals: list[Any], tangents: list[Any]) -> Rules:
    x, t = primals[0], instantiate(tangents[0])
    y = bind(op, x)
    axis, reverse = op.axis, op.reverse  # type: ignore[attr-defined]
    if x.shape[axis] == 0:
        return [y], [Zero(type_of(y))]
    hits, plateau, count = _running_extreme(op, x, y)
    total = _recurrence(plateau, lax.mul(hits, t), axis, reverse)
    return [y], [lax.div(total, _at_least_one(count))]


def _cum_extreme_vjp(op: P.Op, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, z_bar = xs[0], cts[0]
    axis, reverse = op.axis, op.reverse  # type: ignore[attr-defined]
    if x.shape[axis] == 0:
        return [Zero(type_of(x))]
    hits, plateau, count = _running_extreme(op, x, outs[0])
    back = _recurrence_transpose(plateau, lax.div(z_bar, _at_least_one(count)), axis, reverse)
    return [lax.mul(hits, back)]


# --- sort ------------------------------------------------------------------------------------

def _sort_positions(op: P.Sort, operands: Sequence[Any]) -> tuple[list[Any], Any]:
    """The sorted operands (at least the keys) and the full gather indices (shape + (ndim,))
    that read each sorted element from its original position: the sorted iota along
    `dimension`, iotas elsewhere."""
    shape, dim = operands[0].shape, op.dimension
    dt = np.dtype(np.int32 if max(shape) < 2**31 - 1 else np.int64)
    outs = list(bind(op, *operands, lax.iota(dt, shape, dim)))
    cols = [outs[-1] if i == dim else lax.iota(dt, shape, i) for i in range(len(shape))]
    idx = lax.concatenate([lax.expand_dims(c, (len(shape),)) for c in cols], len(shape))
    return outs[:-1], idx


def _sort_jvp(op: P.Sort, primals: list[Any], tangents: list[Any]) -> Rules:
    outs, idx = _sort_positions(op, primals)
    axes = range(primals[0].ndim)
    touts = [t if isinstance(t, Zero) else lax.gather(t, idx, axes) for t in tangents]
    return outs, touts


def _sort_vjp(op: P.Sort, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    _, idx = _sort_positions(op, xs[:op.num_keys])
    axes = range(xs[0].ndim)
    res: list[Any] = []
    for x, c in zip(xs, cts):
        if isinstance(c, Zero) or not dtypes.is_inexact(x.dtype):
            res.append(Zero(type_of(x)))
        else:
            res.append(lax.scatter(_full(x.shape, 0, x.dtype), idx, c, axes, "add"))
    return res


# --- registration ----------------------------------------------------------------------------

for _cls, _vjp in ((P.ReduceSum, _reduce_sum_vjp), (P.Cumsum, _cumsum_vjp)):
    JVP_RULES[_cls], VJP_RULES[_cls] = _linear_jvp(), _vjp
JVP_RULES[P.DotGeneral], VJP_RULES[P.DotGeneral] = _dot_jvp, _dot_vjp
JVP_RULES[P.ReduceProd], VJP_RULES[P.ReduceProd] = _reduce_prod_jvp, _reduce_prod_vjp
for _cls in (P.ReduceMax, P.ReduceMin):
    JVP_RULES[_cls], VJP_RULES[_cls] = _reduce_extreme_jvp, _reduce_extreme_vjp
JVP_RULES[P.Cumprod], VJP_RULES[P.Cumprod] = _cumprod_jvp, _cumprod_vjp
for _cls in (P.Cummax, P.Cummin):
    JVP_RULES[_cls], VJP_RULES[_cls] = _cum_extreme_jvp, _cum_extreme_vjp
JVP_RULES[P.Sort], VJP_RULES[P.Sort] = _sort_jvp, _sort_vjp
