"""Direct, strict wrappers over the primitives (the analogue of `jax.lax`).

These bind one primitive each and do no promotion: operands must already have the dtypes and
shapes the primitive wants. The NumPy-level API (`dsl.numpy_api`) is written on top of them.
Arguments may be `Array`s, NumPy values or tracers; Python scalars are accepted where noted and
become weak-typed scalars of the other operand's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl import ops as P
from dsl.array import Array
from dsl.core import Tracer, bind
from dsl.errors import DTypeError


def is_value(x: Any) -> bool:
    """An array-like our ops accept directly (no Python scalars or lists)."""
    return type(x) in (Tracer, Array) or isinstance(x, (np.ndarray, np.generic))


def dtype_of(x: Any) -> np.dtype:
    if type(x) in (Tracer, Array):
        return x.dtype
    return np.asarray(x).dtype


def shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if is_value(x) else np.shape(x)


def scalar_like(value: Any, dtype: np.dtype) -> Array:
    """A weak rank-0 constant of `dtype`."""
    return Array(np.asarray(value, dtype=dtype), True)


def _operand(x: Any, like: Any) -> Any:
    return x if is_value(x) else scalar_like(x, dtype_of(like))


def unary(op: P.Op, x: Any) -> Any:
    return bind(op, x)


def binary(op: P.Op, x: Any, y: Any) -> Any:
    if not is_value(x):
        x = _operand(x, y)
    if not is_value(y):
        y = _operand(y, x)
    return bind(op, x, y)


def add(x: Any, y: Any) -> Any: return binary(P.Add(), x, y)
def sub(x: Any, y: Any) -> Any: return binary(P.Sub(), x, y)
def mul(x: Any, y: Any) -> Any: return binary(P.Mul(), x, y)
def div(x: Any, y: Any) -> Any: return binary(P.Div(), x, y)
def rem(x: Any, y: Any) -> Any: return binary(P.Rem(), x, y)
def max(x: Any, y: Any) -> Any: return binary(P.Max(), x, y)
def min(x: Any, y: Any) -> Any: return binary(P.Min(), x, y)
def eq(x: Any, y: Any) -> Any: return binary(P.Eq(), x, y)
def ne(x: Any, y: Any) -> Any: return binary(P.Ne(), x, y)
def lt(x: Any, y: Any) -> Any: return binary(P.Lt(), x, y)
def le(x: Any, y: Any) -> Any: return binary(P.Le(), x, y)
def gt(x: Any, y: Any) -> Any: return binary(P.Gt(), x, y)
def ge(x: Any, y: Any) -> Any: return binary(P.Ge(), x, y)
def neg(x: Any) -> Any: return bind(P.Neg(), x)
def exp(x: Any) -> Any: return bind(P.Exp(), x)
def log(x: Any) -> Any: return bind(P.Log(), x)
def sqrt(x: Any) -> Any: return bind(P.Sqrt(), x)
def abs(x: Any) -> Any: return bind(P.Abs(), x)
def sign(x: Any) -> Any: return bind(P.Sign(), x)
def floor(x: Any) -> Any: return bind(P.Floor(), x)
def is_finite(x: Any) -> Any: return bind(P.IsFinite(), x)
def stop_gradient(x: Any) -> Any: return bind(P.StopGradient(), x)
def integer_pow(x: Any, y: int) -> Any: return bind(P.IntegerPow(y=int(y)), x)


def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    return bind(P.Select(), pred, on_true, on_false)


def clamp(lo: Any, x: Any, hi: Any) -> Any:
    return bind(P.Clamp(), _operand(lo, x), x, _operand(hi, x))


def convert(x: Any, dtype: Any) -> Any:
    """Cast to `dtype`; a no-op (no equation) when the dtype already matches and `x` is strong."""
    dt = dtypes.canonicalize(dtype)
    if dtype_of(x) == dt and not getattr(x, "weak", False):
        return x
    return bind(P.Convert(dtype=dt), x)


def bitcast(x: Any, dtype: Any) -> Any:
    return bind(P.Bitcast(dtype=dtypes.canonicalize(dtype)), x)


def iota(dtype: Any, shape: Sequence[int], dimension: int = 0) -> Any:
    return bind(P.Iota(dtype=dtypes.canonicalize(dtype), shape=tuple(shape),
                       dimension=dimension))


def broadcast_in_dim(x: Any, shape: Sequence[int], broadcast_dimensions: Sequence[int]) -> Any:
    if tuple(shape_of(x)) == tuple(shape) and tuple(broadcast_dimensions) == tuple(
            range(len(shape))):
        return x
    return bind(P.BroadcastInDim(shape=tuple(shape),
                                 broadcast_dimensions=tuple(broadcast_dimensions)), x)


def broadcast_to_rank_shape(x: Any, shape: Sequence[int]) -> Any:
    """NumPy-style broadcast of `x` to `shape` (trailing alignment)."""
    xs = shape_of(x)
    if tuple(xs) == tuple(shape):
        return x
    return broadcast_in_dim(x, shape, range(len(shape) - len(xs), len(shape)))


def reshape(x: Any, shape: Sequence[int]) -> Any:
    if tuple(shape_of(x)) == tuple(shape):
        return x
    return bind(P.Reshape(new_sizes=tuple(shape)), x)


def transpose(x: Any, permutation: Sequence[int]) -> Any:
    if tuple(permutation) == tuple(range(len(permutation))):
        return x
    return bind(P.Transpose(permutation=tuple(permutation)), x)


def squeeze(x: Any, dimensions: Sequence[int]) -> Any:
    if not dimensions:
        return x
    return bind(P.Squeeze(dimensions=tuple(dimensions)), x)


def expand_dims(x: Any, dimensions: Sequence[int]) -> Any:
    if not dimensions:
        return x
    return bind(P.ExpandDims(dimensions=tuple(dimensions)), x)


def rev(x: Any, dimensions: Sequence[int]) -> Any:
    if not dimensions:
        return x
    return bind(P.Rev(dimensions=tuple(dimensions)), x)


def pad(x: Any, padding_value: Any, config: Sequence[tuple[int, int, int]]) -> Any:
    return bind(P.Pad(config=tuple(tuple(c) for c in config)), x, _operand(padding_value, x))


def concatenate(xs: Sequence[Any], dimension: int) -> Any:
    if len(xs) == 1:
        return xs[0]
    return bind(P.Concatenate(dimension=dimension), *xs)


def slice(x: Any, start: Sequence[int], limit: Sequence[int],
          strides: Sequence[int] | None = None) -> Any:
    shape = shape_of(x)
    if tuple(start) == (0,) * len(shape) and tuple(limit) == tuple(shape) and (
            strides is None or all(s == 1 for s in strides)):
        return x
    return bind(P.Slice(start_indices=tuple(start), limit_indices=tuple(limit),
                        strides=None if strides is None or all(s == 1 for s in strides)
                        else tuple(strides)), x)


def dynamic_slice(x: Any, start: Sequence[Any], sizes: Sequence[int]) -> Any:
    return bind(P.DynamicSlice(slice_sizes=tuple(sizes)), x, *_indices("dynamic_slice", start))


def dynamic_update_slice(x: Any, update: Any, start: Sequence[Any]) -> Any:
    return bind(P.DynamicUpdateSlice(), x, update, *_indices("dynamic_update_slice", start))


def _indices(name: str, idx: Sequence[Any]) -> list[Any]:
    """Scalar index operands, all of one integer dtype (i32 unless one is wider)."""
    for i in idx:
        ok = (dtypes.is_integer(dtype_of(i)) and shape_of(i) == ()) if is_value(i) else (
            isinstance(i, (int, np.integer)) and not isinstance(i, bool))
        if not ok:
            what = str(i.type) if is_value(i) else f"{type(i).__name__} {i!r}"
            raise DTypeError(f"{name}: start indices must be integer scalars, got {what}")
    vals = [i if is_value(i) else Array(np.asarray(i, dtype=np.int64 if not
                                                    -2**31 <= int(i) < 2**31 else np.int32))
            for i in idx]
    wide = any(dtype_of(v).itemsize > 4 for v in vals)
    target = dtypes.int64 if wide else dtypes.int32
    return [convert(v, target) for v in vals]


def gather(x: Any, indices: Any, axes: Sequence[int], mode: str = "clip") -> Any:
    return bind(P.Gather(axes=tuple(axes), mode=mode), x, indices)


def scatter(x: Any, indices: Any, updates: Any, axes: Sequence[int], kind: str = "set") -> Any:
    return bind(P.Scatter(axes=tuple(axes), kind=kind), x, indices, updates)


def reduce_sum(x: Any, axes: Sequence[int]) -> Any:
    return x if not axes else bind(P.ReduceSum(axes=tuple(axes)), x)


def reduce_max(x: Any, axes: Sequence[int]) -> Any:
    return x if not axes else bind(P.ReduceMax(axes=tuple(axes)), x)


def dot_general(x: Any, y: Any, contracting: tuple[Sequence[int], Sequence[int]],
                batch: tuple[Sequence[int], Sequence[int]] = ((), ()),
                preferred: Any = None) -> Any:
    return bind(P.DotGeneral(contracting=(tuple(contracting[0]), tuple(contracting[1])),
                             batch=(tuple(batch[0]), tuple(batch[1])), preferred=preferred),
                x, y)


def sort(operands: Sequence[Any], dimension: int = -1, num_keys: int = 1) -> tuple[Any, ...]:
    nd = len(shape_of(operands[0]))
    return bind(P.Sort(dimension=dimension % nd if nd else 0, num_keys=num_keys), *operands)
