"""Derivative rules of the structural, indexing, reduction, cumulative, dot and sort primitives.

Most of these primitives are linear in their array operands: their jvp applies the primitive to
the tangents, and their vjp is the transpose, written with the primitive's partner (broadcast and
reduce_sum, pad and slice, gather and scatter-add, dynamic_slice and dynamic_update_slice into
zeros at the same clamped start, cumsum and the reversed cumsum, dot_general and the dot_generals
of its two transposes). Index operands are integers and carry no derivative. The nonlinear ones
(`reduce_prod`, `reduce_max`/`reduce_min`, `cumprod`, `cummax`/`cummin`, `sort`, and `scatter`
of kind `set`/`mul`/`min`/`max`) follow JAX's conventions, spelled out where their rules are.
Integer results (`argmax`, `argmin`, `reduce_and`, `reduce_or`, `iota`) have zero derivative.

Every rule is written with DSL operations only, so it runs eagerly and staged, and the next
derivative order differentiates the rule's own operations. Cotangents come back in the dtype of
their operand (a `preferred` dot accumulates in the wider dtype and converts back). Out-of-bounds
gather positions in mode `fill` and dropped scatter updates get zero derivative.

The rules live in three modules, each registering its own when loaded (`load_rules` loads all):
- this one: the helpers the others share, the shape primitives (broadcast_in_dim, reshape,
  squeeze, expand_dims, transpose, rev, pad, concatenate, slice) and the integer results
  (`INTEGER_OUTPUT`);
- `indexing`: dynamic_slice, dynamic_update_slice, gather and scatter;
- `reductions`: the reductions, the cumulative primitives, dot_general and sort.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import bind
from interpreters.differentiate import JVP_RULES, VJP_RULES, Zero, instantiate, type_of

Rules = tuple[list[Any], list[Any]]


# --- shared helpers --------------------------------------------------------------------------

def _const(value: Any, dtype: np.dtype) -> Array:
    """A strong rank-0 constant (elementwise ops broadcast rank-0 operands)."""
    return Array(np.asarray(value, dtype=dtype))


def _full(shape: Sequence[int], value: Any, dtype: np.dtype) -> Any:
    return lax.broadcast_in_dim(_const(value, dtype), tuple(shape), ())


def _mask(pred: Any, x: Any) -> Any:
    """`x` where `pred`, zero elsewhere."""
    return lax.select(pred, x, _const(0, x.dtype))


def _outs(op: P.Op, *args: Any) -> list[Any]:
    out = bind(op, *args)
    return list(out) if op.multiple_results else [out]


def _linear_jvp(linear: Sequence[int] | None = None) -> Callable[..., Rules]:
    """The jvp of an op linear in the operands at positions `linear` (all when None): the op
    applied to their tangents, with the other (integer) operands as they are."""
    def rule(op: P.Op, primals: list[Any], tangents: list[Any]) -> Rules:
        lin = range(len(primals)) if linear is None else linear
        args = [instantiate(tangents[i]) if i in lin else p for i, p in enumerate(primals)]
        return _outs(op, *primals), _outs(op, *args)

    return rule


# --- shape primitives (linear) ---------------------------------------------------------------

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
}

for _cls, _vjp in _LINEAR_VJP.items():
    JVP_RULES[_cls] = _linear_jvp()
    VJP_RULES[_cls] = _vjp

for _cls in INTEGER_OUTPUT:
    JVP_RULES[_cls] = _no_derivative_jvp
    VJP_RULES[_cls] = _no_derivative_vjp

__all__ = ["INTEGER_OUTPUT"]
