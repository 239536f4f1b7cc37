"""Derivative rules of the indexing primitives: dynamic_slice, dynamic_update_slice, gather and
scatter (the family's overview and shared helpers are in `structural`).

dynamic_slice and dynamic_update_slice are linear in their array operands and transpose into each
other at the same clamped start; gather transposes to a scatter-add. `scatter` of kind `add` is
linear; the others follow JAX:
- `set` tags each update with an id and scatters the ids to find which update wins a position
  (JAX's scheme);
- `min`/`max` split evenly among the tied updates and the retained operand (JAX's formula);
- `mul` is exact for repeated indices and zero updates.
Index operands carry no derivative; out-of-bounds gather positions in mode `fill` and dropped
scatter updates get zero derivative.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl import lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import bind
from interpreters.differentiate import JVP_RULES, VJP_RULES, Zero, add_any, instantiate, type_of
from interpreters.differentiate.structural import Rules, _const, _full, _linear_jvp, _mask


# --- dynamic_slice and dynamic_update_slice (linear) -----------------------------------------

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


# --- registration ----------------------------------------------------------------------------

JVP_RULES[P.DynamicSlice] = _linear_jvp((0,))
VJP_RULES[P.DynamicSlice] = _dynamic_slice_vjp
JVP_RULES[P.DynamicUpdateSlice] = _linear_jvp((0, 1))
VJP_RULES[P.DynamicUpdateSlice] = _dynamic_update_slice_vjp
JVP_RULES[P.Gather], VJP_RULES[P.Gather] = _gather_jvp, _gather_vjp
JVP_RULES[P.Scatter], VJP_RULES[P.Scatter] = _scatter_jvp, _scatter_vjp
