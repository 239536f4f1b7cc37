"""Argument checking shared by the NumPy-named modules (shapes, joining, reordering, creation,
reductions, linear algebra), with errors that name the calling function.

Axes follow NumPy: negative axes count from the end, `axis=None` usually means "flattened", and
a bad axis raises a `ShapeError` (a `ValueError` and a `TypeError`) naming the function, the axis
and the array's type. `array_arg` and `promote` convert arguments to arrays; `normalize_axis`,
`normalize_axes` and `normalize_shape` check axes and shapes; `_static_ints` reads static integer
arguments (repeats, shifts, pad widths, split indices) and `_slice_axis` slices one axis.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl.errors import (ArgumentTypeError, ArgumentValueError, CombinaxError, ConcretizationError,
                        DTypeError, ShapeError)
from dsl.np_elementwise import asarray, promote_args


AxisLike = SupportsIndex | Sequence[SupportsIndex] | None
ShapeLike = SupportsIndex | Sequence[SupportsIndex]


def array_arg(name: str, a: Any, dtype: Any = None) -> Any:
    """`asarray(a, dtype)`, with an error for a non-array that names the function `name`."""
    try:
        return asarray(a, dtype)
    except CombinaxError as e:
        raise type(e)(f"{name}: {e.raw_message}") from None
    except TypeError as e:
        raise ArgumentTypeError(f"{name}: {e}") from None
    except ValueError as e:  # a ragged nested list
        raise ArgumentValueError(f"{name}: {e}") from None


def promote(name: str, *args: Any, dtype: np.dtype | None = None,
            broadcast: bool = True) -> list[Any]:
    """`promote_args`, with an error for a non-array that names the function `name`."""
    for a in args:
        if isinstance(a, (np.ndarray, np.generic)) and a.dtype not in dtypes.SHORT_NAMES:
            raise DTypeError(f"{name}: NumPy dtype {a.dtype} is not supported")
    try:
        return promote_args(name, *args, dtype=dtype, broadcast=broadcast)
    except CombinaxError:
        raise
    except (TypeError, ValueError) as e:
        msg = str(e) if str(e).startswith(f"{name}:") else f"{name}: {e}"
        cls = ArgumentTypeError if isinstance(e, TypeError) else ArgumentValueError
        raise cls(msg) from None


def normalize_axis(name: str, axis: Any, x: Any, ndim: int | None = None) -> int:
    """`axis` as an index in [0, ndim) (default: x's rank), or a `ShapeError` naming it."""
    nd = x.ndim if ndim is None else ndim
    try:
        a = operator.index(axis)
    except ConcretizationError:
        raise
    except TypeError:
        raise ArgumentTypeError(f"{name}: axis must be an integer, got {axis!r}") from None
    if not -nd <= a < nd:
        raise ShapeError(f"{name}: axis {a} is out of bounds for {x.type} (rank {nd})")
    return a % nd


def normalize_axes(name: str, axis: Any, x: Any, ndim: int | None = None) -> tuple[int, ...]:
    """`axis` (None: every axis, an int, or a sequence) as a tuple of distinct axes."""
    nd = x.ndim if ndim is None else ndim
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(name, a, x, nd) for a in axis)
        if len(set(axes)) != len(axes):
            raise ShapeError(f"{name}: repeated axis in {tuple(axis)} for {x.type}")
        return axes
    return (normalize_axis(name, axis, x, nd),)


def normalize_shape(name: str, shape: Any, *, allow_unknown: bool = False) -> tuple[int, ...]:
    """A shape argument (an int or a sequence of ints) as a tuple; negative sizes are refused
    (except one -1 with `allow_unknown`)."""
    try:
        if isinstance(shape, (tuple, list)) or isinstance(shape, np.ndarray) and shape.ndim == 1:
            dims = tuple(operator.index(n) for n in shape)
        else:
            dims = (operator.index(shape),)
    except ConcretizationError:
        raise
    except TypeError:
        raise ArgumentTypeError(f"{name}: shape must be an int or a sequence of ints, got "
                                f"{shape!r}") from None
    bad = [n for n in dims if n < 0 and not (allow_unknown and n == -1)]
    if bad:
        raise ArgumentValueError(f"{name}: negative dimensions are not allowed: {dims}")
    return dims


def _static_ints(name: str, what: str, v: Any) -> np.ndarray:
    """A static integer array from a Python int/sequence or a concrete array."""
    try:
        arr = np.asarray(v)
    except ConcretizationError as e:  # a tracer whose value is unknown
        raise ConcretizationError(f"{name}: {what} must be static integers; "
                                  f"{e.raw_message}") from None
    except ValueError:
        raise ArgumentTypeError(f"{name}: {what} must be integers, got {v!r}") from None
    if arr.dtype.kind not in "iub" and arr.size:
        raise ArgumentTypeError(f"{name}: {what} must be integers, got {v!r}")
    return arr.astype(np.int64)


def _slice_axis(x: Any, start: int, stop: int, axis: int, step: int = 1) -> Any:
    lo = [0] * x.ndim
    hi = list(x.shape)
    st = [1] * x.ndim
    lo[axis], hi[axis], st[axis] = start, stop, step
    return lax.slice(x, lo, hi, st)
