"""Derivative rules of the structural, indexing, reduction, cumulative, dot and sort primitives.

Most of these primitives are linear in their array operands: their jvp applies the primitive to
the tangents, and their vjp is the transpose, written with the primitive's partner (broadcast and
reduce_sum, pad and slice, gather and scatter-add, dynamic_slice and dynamic_update_slice into
zeros at the same clamped start, cumsum and the reversed cumsum, dot_general and the dot_generals
of its two transposes). Index operands are integers and carry no derivative.

The nonlinear ones follow JAX's conventions:
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
  scatters cotangents back;
- `scatter`: `set` tags each update with an id and scatters the ids to find which update wins a
  position (JAX's scheme), `min`/`max` split evenly among the tied updates and the retained
  operand (JAX's formula), `mul` is exact for repeated indices and zero updates;
- integer results (`argmax`, `argmin`, `reduce_and`, `reduce_or`, `iota`) have zero derivative.

Every rule is written with DSL operations only, so it runs eagerly and staged, and the next
derivative order differentiates the rule's own operations. Cotangents come back in the dtype of
their operand (a `preferred` dot accumulates in the wider dtype and converts back). Out-of-bounds
gather positions in mode `fill` and dropped scatter updates get zero derivative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl import lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import bind
from dsl.types import Sharding
from interpreters.differentiate import JVP_RULES, VJP_RULES, Zero, add_any, instantiate, type_of

Rules = tuple[list[Any], list[Any]]


# --- small helpers ---------------------------------------------------------------------------

def _const(value: Any, dtype: np.dtype) -> Array:
    """A strong rank-0 constant (elementwise ops broadcast rank-0 operands)."""
    return Array(np.asarray(value, dtype=dtype))


def _full(shape: Sequence[int], value: Any, dtype: np.dtype) -> Any:
    return lax.broadcast_in_dim(_const(value, dtype), tuple(shape), ())


def _cast(x: Any, dtype: np.dtype) -> Any:
    """`x` in `dtype`, dropping an imaginary part when going from complex to real."""
    if dtypes.is_complex(x.dtype) and not dtypes.is_complex(dtype):
        x = bind(P.Real(), x)
    return lax.convert(x, dtype)


def _mask(pred: Any, x: Any) -> Any:
    """`x` where `pred`, zero elsewhere."""
    return lax.select(pred, x, _const(0, x.dtype))


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


def _outs(op: P.Op, *args: Any) -> list[Any]:
    out = bind(op, *args)
    return list(out) if op.multiple_results else [out]


# --- linear primitives -----------------------------------------------------------------------

def _linear_jvp(linear: Sequence[int] | None = None) -> Callable[..., Rules]:
    """The jvp of an op linear in the operands at positions `linear` (all when None): the op
    applied to their tangents, with the other (integer) operands as they are."""
    def rule(op: P.Op, primals: list[Any], tangents: list[Any]) -> Rules:
        lin = range(len(primals)) if linear is None else linear
        args = [instantiate(tangents[i]) if i in lin else p for i, p in enumerate(primals)]
        return _outs(op, *primals), _outs(op, *args)

    return rule


def _broadcast_vjp(op: P.BroadcastInDim, xs: list[Any], outs: list[Any], cts: list[Any]
                   ) -> list[Any]:
    # Sum over the new dimensions and over the size-1 dimensions that were expanded.
    x_shape, dims = xs[0].shape, op.broadcast_dimensions
    summed = [d for d in range(len(op.shape)) if d not in dims]
    summed += [d for i, d in enumerate(dims) if x_shape[i] == 1 and op.shape[d] != 1]
    return [lax.reshape(lax.reduce_sum(cts[0], sorted(summed)), x_shape)]


def _reshape_vjp(op: P.Op, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    return [lax.reshape(cts[0], xs[0].shape)]  # also squeeze and expand_dims


def _transpose_vjp(op: P.Transpose, xs: list[Any], outs: list[Any], cts: list[Any]
                   ) -> list[Any]:
    return [lax.transpose(cts[0], [int(i) for i in np.argsort(op.permutation)])]


def _rev_vjp(op: P.Rev, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    return [lax.rev(cts[0], op.dimensions)]


def _pad_vjp(op: P.Pad, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, z_bar = xs[0], cts[0]
    # Negating the edges crops what padding added and zero-fills what it cropped; the strided
    # slice then drops the interior padding.
    unpadded = lax.pad(z_bar, _const(0, z_bar.dtype), [(-lo, -hi, 0) for lo, hi, _ in op.config])
    x_bar = lax.slice(unpadded, [0] * x.ndim, unpadded.shape, [c[2] + 1 for c in op.config])
    is_pad = lax.pad(_full(x.shape, False, np.dtype(bool)), _const(True, np.dtype(bool)),
                     op.config)
    v_bar = lax.reduce_sum(_mask(is_pad, z_bar), range(z_bar.ndim))
    return [x_bar, v_bar]


def _concatenate_vjp(op: P.Concatenate, xs: list[Any], outs: list[Any], cts: list[Any]
                     ) -> list[Any]:
    z_bar, dim, start, res = cts[0], op.dimension, 0, []
    for x in xs:
        lo, hi = [0] * z_bar.ndim, list(z_bar.shape)
        lo[dim], hi[dim] = start, start + x.shape[dim]
        res.append(lax.slice(z_bar, lo, hi))
        start += x.shape[dim]
    return res


def _slice_vjp(op: P.Slice, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, z_bar = xs[0], cts[0]
    strides = op.strides or (1,) * x.ndim
    cfg = []
    for n, m, lo, s in zip(x.shape, z_bar.shape, op.start_indices, strides):
        end = lo + (m - 1) * s + 1 if m else lo
        cfg.append((lo, n - end, s - 1 if m else 0))
    return [lax.pad(z_bar, _const(0, z_bar.dtype), cfg)]


def _dynamic_slice_vjp(op: P.DynamicSlice, xs: list[Any], outs: list[Any], cts: list[Any]
                       ) -> list[Any]:
    x, idx, z_bar = xs[0], xs[1:], cts[0]
    # dynamic_update_slice clamps the start exactly as dynamic_slice did (same window size).
    x_bar = bind(P.DynamicUpdateSlice(), _full(x.shape, 0, x.dtype), z_bar, *idx)
    return [x_bar, *(Zero(type_of(i)) for i in idx)]


def _dynamic_update_slice_vjp(op: P.DynamicUpdateSlice, xs: list[Any], outs: list[Any],
                              cts: list[Any]) -> list[Any]:
    u, idx, z_bar = xs[1], xs[2:], cts[0]
    x_bar = bind(P.DynamicUpdateSlice(), z_bar, _full(u.shape, 0, z_bar.dtype), *idx)
    u_bar = bind(P.DynamicSlice(slice_sizes=u.shape), z_bar, *idx)
    return [x_bar, u_bar, *(Zero(type_of(i)) for i in idx)]


def _reduce_sum_vjp(op: P.Op, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x = xs[0]
    kept = [i for i in range(x.ndim) if i not in op.axes]  # type: ignore[attr-defined]
    return [lax.broadcast_in_dim(cts[0], x.shape, kept)]


def _cumsum_vjp(op: P.Cumsum, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    return [bind(P.Cumsum(axis=op.axis, reverse=not op.reverse), cts[0])]


# --- gather and scatter ----------------------------------------------------------------------

def _sizes(x: Any, axes: Sequence[int]) -> list[int]:
    return [x.shape[a] for a in axes]


def _bound_vector(idx: Any, values: Sequence[int]) -> Any:
    """The per-axis bounds as an index-shaped operand, clipped to the index dtype's range."""
    info = np.iinfo(idx.dtype)
    vec = np.clip(np.asarray(values, dtype=np.int64), info.min, info.max).astype(idx.dtype)
    return lax.broadcast_in_dim(Array(vec), idx.shape, (idx.ndim - 1,))


def _inside(idx: Any, sizes: Sequence[int]) -> Any:
    """Whether each index row is in bounds on every indexed axis (shape `idx.shape[:-1]`)."""
    ok = lax.le(idx, _bound_vector(idx, [n - 1 for n in sizes]))
    if not dtypes.is_unsigned(idx.dtype):
        ok = bind(P.And(), ok, lax.ge(idx, _const(0, idx.dtype)))
    return bind(P.ReduceAnd(axes=(idx.ndim - 1,)), ok)


def _row_mask(rows: Any, shape: Sequence[int]) -> Any:
    """A batch-shaped mask broadcast over the trailing (window) dimensions of `shape`."""
    return lax.broadcast_in_dim(rows, tuple(shape), range(rows.ndim))


def _clipped(idx: Any, sizes: Sequence[int]) -> Any:
    return lax.clamp(_const(0, idx.dtype), idx, _bound_vector(idx, [n - 1 for n in sizes]))


def _gather_or_zero(x: Any, idx: Any, axes: Sequence[int]) -> Any:
    """`gather(x, idx)` with zero at out-of-bounds rows (where `scatter` drops updates)."""
    out = lax.gather(x, idx, axes, "clip")
    sizes = _sizes(x, axes)
    if any(n == 0 for n in sizes):
        return _full(out.shape, 0, x.dtype)
    return _mask(_row_mask(_inside(idx, sizes), out.shape), out)


def _gather_jvp(op: P.Gather, primals: list[Any], tangents: list[Any]) -> Rules:
    x, idx = primals
    out = lax.gather(x, idx, op.axes, op.mode)
    if any(n == 0 for n in _sizes(x, op.axes)):  # only fill values: a constant
        return [out], [Zero(type_of(out))]
    t = instantiate(tangents[0])
    if op.mode == "fill":
        return [out], [_gather_or_zero(t, idx, op.axes)]
    return [out], [lax.gather(t, idx, op.axes, "clip")]


def _gather_vjp(op: P.Gather, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, idx = xs
    sizes = _sizes(x, op.axes)
    if any(n == 0 for n in sizes):
        return [Zero(type_of(x)), Zero(type_of(idx))]
    where = _clipped(idx, sizes) if op.mode == "clip" else idx  # scatter drops the rest
    x_bar = lax.scatter(_full(x.shape, 0, x.dtype), where, cts[0], op.axes, "add")
    return [x_bar, Zero(type_of(idx))]


def _update_ids(idx: Any, u: Any) -> Any:
    """A distinct positive id per update row, broadcast over the row's window."""
    batch = idx.shape[:-1]
    count = int(np.prod(batch, dtype=np.int64))
    dt = np.dtype(np.int32 if count < 2**31 - 1 else np.int64)
    ids = lax.reshape(lax.add(lax.iota(dt, (count,)), _const(1, dt)), batch)
    return lax.broadcast_in_dim(ids, u.shape, range(len(batch)))


def _scatter_set_masks(op: P.Scatter, x: Any, idx: Any, u: Any) -> tuple[Any, Any]:
    """(operand positions no update wrote, updates that won their position)."""
    ids = _update_ids(idx, u)
    scattered = lax.scatter(_full(x.shape, 0, ids.dtype), idx, ids, op.axes, "set")
    gathered = lax.gather(scattered, idx, op.axes, "fill")
    return lax.eq(scattered, _const(0, ids.dtype)), lax.eq(ids, gathered)


def _scatter_mul_coef(op: P.Scatter, x: Any, idx: Any, u: Any) -> Any:
    """d out[p] / d u = x[p] * (product of the other updates at p), per update; exact when
    updates repeat or are zero (counts the zero updates instead of dividing by them)."""
    dt, axes = x.dtype, op.axes
    sizes = _sizes(x, axes)
    if any(n == 0 for n in sizes):  # every update is dropped
        return _full(u.shape, 0, dt)
    zero_u = lax.eq(u, _const(0, dt))
    safe_u = lax.select(zero_u, _const(1, dt), u)
    zeros_at = lax.scatter(_full(x.shape, 0, dt), idx, lax.convert(zero_u, dt), axes, "add")
    others = lax.mul(x, lax.scatter(_full(x.shape, 1, dt), idx, safe_u, axes, "mul"))
    g_zeros = lax.gather(zeros_at, idx, axes, "clip")
    g_others = lax.gather(others, idx, axes, "clip")
    coef = lax.select(zero_u, _mask(lax.eq(g_zeros, _const(1, dt)), g_others),
                      _mask(lax.eq(g_zeros, _const(0, dt)), lax.div(g_others, safe_u)))
    return _mask(_row_mask(_inside(idx, sizes), u.shape), coef)


def _scatter_extremal_coefs(op: P.Scatter, x: Any, idx: Any, u: Any, out: Any
                            ) -> tuple[Any, Any]:
    """JAX's weights for scatter min/max: the winning updates and a retained operand value
    share a position's derivative evenly. Returns (update weights, operand-correction weights)
    (the operand's tangent at a position is scaled by 1 + the sum of its corrections)."""
    dt, axes = x.dtype, op.axes
    sizes = _sizes(x, axes)
    if any(n == 0 for n in sizes):
        return _full(u.shape, 0, dt), _full(u.shape, 0, dt)
    one = _const(1, dt)
    target = lax.gather(out, idx, axes, "clip")
    won = lax.eq(u, target)
    kept = lax.eq(lax.gather(x, idx, axes, "clip"), target)
    zeros = _full(x.shape, 0, dt)
    n_won = lax.gather(lax.scatter(zeros, idx, lax.convert(won, dt), axes, "add"), idx, axes,
                       "clip")
    n_refs = lax.gather(lax.scatter(zeros, idx, _full(u.shape, 1, dt), axes, "add"), idx, axes,
                        "clip")
    inside = _row_mask(_inside(idx, sizes), u.shape)
    share_kept = lax.div(one, lax.add(n_won, one))
    u_coef = lax.select(kept, share_kept, lax.div(one, lax.max(n_won, one)))
    u_coef = _mask(bind(P.And(), inside, won), u_coef)
    x_coef = lax.div(lax.sub(_mask(kept, share_kept), one), lax.max(n_refs, one))
    return u_coef, _mask(inside, x_coef)


def _scatter_jvp(op: P.Scatter, primals: list[Any], tangents: list[Any]) -> Rules:
    x, idx, u = primals
    x_dot, u_dot = tangents[0], tangents[2]
    out = lax.scatter(x, idx, u, op.axes, op.kind)
    axes = op.axes
    if op.kind == "add":
        return [out], [lax.scatter(instantiate(x_dot), idx, instantiate(u_dot), axes, "add")]
    if op.kind == "set":
        x_free, u_won = _scatter_set_masks(op, x, idx, u)
        t = lax.scatter(_mask(x_free, instantiate(x_dot)), idx, _mask(u_won, instantiate(u_dot)),
                        axes, "add")
        return [out], [t]
    if op.kind == "mul":
        t = Zero(type_of(out))
        if not isinstance(x_dot, Zero):
            t = lax.scatter(x_dot, idx, u, axes, "mul")
        if not isinstance(u_dot, Zero):
            coef = _scatter_mul_coef(op, x, idx, u)
            t = add_any(t, lax.scatter(_full(x.shape, 0, x.dtype), idx, lax.mul(coef, u_dot),
                                       axes, "add"))
        return [out], [t]
    u_coef, x_coef = _scatter_extremal_coefs(op, x, idx, u, out)
    x_dot = instantiate(x_dot)
    t_upd = lax.add(lax.mul(_gather_or_zero(x_dot, idx, axes), x_coef),
                    lax.mul(instantiate(u_dot), u_coef))
    return [out], [lax.scatter(x_dot, idx, t_upd, axes, "add")]


def _scatter_vjp(op: P.Scatter, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    x, idx, u = xs
    z_bar, axes = cts[0], op.axes
    if op.kind == "add":
        x_bar, u_bar = z_bar, _gather_or_zero(z_bar, idx, axes)
    elif op.kind == "set":
        x_free, u_won = _scatter_set_masks(op, x, idx, u)
        x_bar, u_bar = _mask(x_free, z_bar), _mask(u_won, _gather_or_zero(z_bar, idx, axes))
    elif op.kind == "mul":
        x_bar = lax.scatter(z_bar, idx, u, axes, "mul")
        u_bar = lax.mul(_scatter_mul_coef(op, x, idx, u), _gather_or_zero(z_bar, idx, axes))
    else:
        u_coef, x_coef = _scatter_extremal_coefs(op, x, idx, u, outs[0])
        g = _gather_or_zero(z_bar, idx, axes)
        x_bar = lax.scatter(z_bar, idx, lax.mul(x_coef, g), axes, "add")
        u_bar = lax.mul(u_coef, g)
    return [x_bar, Zero(type_of(idx)), u_bar]


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


# --- integer results and registration --------------------------------------------------------

def _no_derivative_jvp(op: P.Op, primals: list[Any], tangents: list[Any]) -> Rules:
    outs = _outs(op, *primals)
    return outs, [Zero(type_of(o)) for o in outs]


def _no_derivative_vjp(op: P.Op, xs: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    return [Zero(type_of(x)) for x in xs]


INTEGER_OUTPUT = (P.Iota, P.Argmax, P.Argmin, P.ReduceAnd, P.ReduceOr)
"""Primitives whose results are integers or bools (or that have no inputs): zero derivative."""

_LINEAR_VJP: dict[type[P.Op], Callable[..., list[Any]]] = {
    P.BroadcastInDim: _broadcast_vjp, P.Reshape: _reshape_vjp, P.Squeeze: _reshape_vjp,
    P.ExpandDims: _reshape_vjp, P.Transpose: _transpose_vjp, P.Rev: _rev_vjp,
    P.Pad: _pad_vjp, P.Concatenate: _concatenate_vjp, P.Slice: _slice_vjp,
    P.DynamicSlice: _dynamic_slice_vjp, P.DynamicUpdateSlice: _dynamic_update_slice_vjp,
    P.ReduceSum: _reduce_sum_vjp, P.Cumsum: _cumsum_vjp,
}

for _cls, _vjp in _LINEAR_VJP.items():
    _lin = {P.DynamicSlice: (0,), P.DynamicUpdateSlice: (0, 1)}.get(_cls)
    JVP_RULES[_cls] = _linear_jvp(_lin)
    VJP_RULES[_cls] = _vjp

for _cls in INTEGER_OUTPUT:
    JVP_RULES[_cls] = _no_derivative_jvp
    VJP_RULES[_cls] = _no_derivative_vjp

JVP_RULES[P.Gather], VJP_RULES[P.Gather] = _gather_jvp, _gather_vjp
JVP_RULES[P.Scatter], VJP_RULES[P.Scatter] = _scatter_jvp, _scatter_vjp
JVP_RULES[P.DotGeneral], VJP_RULES[P.DotGeneral] = _dot_jvp, _dot_vjp
JVP_RULES[P.ReduceProd], VJP_RULES[P.ReduceProd] = _reduce_prod_jvp, _reduce_prod_vjp
for _cls in (P.ReduceMax, P.ReduceMin):
    JVP_RULES[_cls], VJP_RULES[_cls] = _reduce_extreme_jvp, _reduce_extreme_vjp
JVP_RULES[P.Cumprod], VJP_RULES[P.Cumprod] = _cumprod_jvp, _cumprod_vjp
for _cls in (P.Cummax, P.Cummin):
    JVP_RULES[_cls], VJP_RULES[_cls] = _cum_extreme_jvp, _cum_extreme_vjp
JVP_RULES[P.Sort], VJP_RULES[P.Sort] = _sort_jvp, _sort_vjp

__all__ = ["INTEGER_OUTPUT"]
