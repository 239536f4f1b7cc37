"""NumPy-named functions that reorder elements: reversal and rotation (`flip`, `fliplr`,
`flipud`, `roll`, `rot90`) and sorting (`sort`, `argsort`, `lexsort`, `searchsorted`).

Reversals are `rev`, rolls two slices joined (or a `dynamic_slice` of the array joined with
itself, for a symbolic shift), rotations `rev` and `transpose`; sorting is the `sort` primitive
(complex numbers by real then imaginary part, NaNs last). See `dsl.np_manip` for the family.
"""

from __future__ import annotations

import operator
from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl.core import Tracer
from dsl.errors import ArgumentTypeError, ArgumentValueError, ShapeError
from dsl.np_args import (AxisLike, _slice_axis, _static_ints, array_arg, normalize_axes,
                         normalize_axis, promote)
from dsl.np_elementwise import (imag, isnan, logical_and, logical_not, logical_or, negative, real,
                                remainder)
from dsl.np_joining import _as_list
from dsl.np_shapes import ravel

__all__ = ["argsort", "flip", "fliplr", "flipud", "lexsort", "roll", "rot90", "searchsorted",
           "sort"]


# ---------------------------------------------------------------------------------------------
# Reversal and rotation.

def flip(m: Any, axis: AxisLike = None) -> Any:
    """Reverse the order of elements along `axis` (every axis when None)."""
    x = array_arg("flip", m)
    return lax.rev(x, normalize_axes("flip", axis, x))


def fliplr(m: Any) -> Any:
    """Reverse the second axis."""
    x = array_arg("fliplr", m)
    if x.ndim < 2:
        raise ShapeError(f"fliplr: input must be at least 2-D, got {x.type}")
    return lax.rev(x, (1,))


def flipud(m: Any) -> Any:
    """Reverse the first axis."""
    x = array_arg("flipud", m)
    if x.ndim < 1:
        raise ShapeError(f"flipud: input must be at least 1-D, got {x.type}")
    return lax.rev(x, (0,))


def roll(a: Any, shift: Any, axis: AxisLike = None) -> Any:
    """Shift elements cyclically by `shift` along `axis` (over the flattened array when None).

    Static shifts become two slices and a join; a symbolic scalar shift (one axis) a dynamic
    slice of the array joined with itself.
    """
    x = array_arg("roll", a)
    if axis is None:
        return lax.reshape(roll(ravel(x), shift, 0), x.shape)
    if type(shift) is Tracer:
        ax = normalize_axis("roll", axis, x)
        n = x.shape[ax]
        if n == 0:
            return x
        if shift.shape != () or not dtypes.is_integer(shift.dtype):
            raise ArgumentTypeError(f"roll: a symbolic shift must be an integer scalar, got "
                                    f"{shift.type}")
        start = remainder(negative(shift), n)
        doubled = lax.concatenate([x, x], ax)
        starts = [start if i == ax else 0 for i in range(x.ndim)]
        return lax.dynamic_slice(doubled, starts, x.shape)
    shifts = _static_ints("roll", "shift", shift).reshape(-1)
    axes = normalize_axes("roll", axis, x) if isinstance(axis, (tuple, list)) else (
        normalize_axis("roll", axis, x),)
    if len(shifts) != len(axes) and len(shifts) != 1 and len(axes) != 1:
        raise ArgumentValueError(f"roll: shift {shift} and axis {axis} have different lengths")
    total: dict[int, int] = {}
    for s, ax in np.broadcast(shifts, np.asarray(axes)):
        total[int(ax)] = total.get(int(ax), 0) + int(s)
    for ax, s in total.items():
        n = x.shape[ax]
        if n == 0 or s % n == 0:
            continue
        s %= n
        x = lax.concatenate([_slice_axis(x, n - s, n, ax), _slice_axis(x, 0, n - s, ax)], ax)
    return x


def rot90(m: Any, k: SupportsIndex = 1, axes: tuple[SupportsIndex, SupportsIndex] = (0, 1)
          ) -> Any:
    """Rotate by 90 degrees `k` times in the plane of `axes` (from the first toward the
    second)."""
    x = array_arg("rot90", m)
    if len(axes) != 2:
        raise ArgumentValueError(f"rot90: axes must name two axes, got {axes}")
    if x.ndim < 2:
        raise ShapeError(f"rot90: needs at least 2 dimensions, got {x.type}")
    a0, a1 = normalize_axes("rot90", axes, x)
    k = operator.index(k) % 4
    if k == 0:
        return x
    if k == 2:
        return lax.rev(x, (a0, a1))
    perm = list(range(x.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return lax.transpose(lax.rev(x, (a1,)), perm)
    return lax.rev(lax.transpose(x, perm), (a1,))


# ---------------------------------------------------------------------------------------------
# Sorting.

def _sort_axis(name: str, x: Any, axis: SupportsIndex | None) -> tuple[Any, int]:
    if axis is None:
        return ravel(x), 0
    return x, normalize_axis(name, axis, x)


def _sort_keys(x: Any) -> list[Any]:
    # Complex numbers sort lexicographically: by real part, then imaginary part (NumPy).
    return [real(x), imag(x)] if dtypes.is_complex(x.dtype) else [x]


def sort(a: Any, axis: SupportsIndex | None = -1, *, kind: str | None = None,
         order: Any = None, stable: bool = True, descending: bool = False) -> Any:
    """Sorted copy along `axis` (flattened when None); NaNs go last, complex numbers
    lexicographically."""
    if order is not None:
        raise ArgumentValueError("sort: `order` needs structured arrays, which are not supported")
    x, ax = _sort_axis("sort", array_arg("sort", a), axis)
    keys = _sort_keys(x)
    out = lax.sort(keys + [x], ax, num_keys=len(keys))[-1] if len(keys) > 1 else lax.sort(
        [x], ax)[0]
    return lax.rev(out, (ax,)) if descending else out


def argsort(a: Any, axis: SupportsIndex | None = -1, *, kind: str | None = None,
            order: Any = None, stable: bool = True, descending: bool = False) -> Any:
    """Indices (i32) that sort `a` along `axis`; stable, so ties keep their order."""
    if order is not None:
        raise ArgumentValueError("argsort: `order` needs structured arrays, which are not "
                                 "supported")
    x, ax = _sort_axis("argsort", array_arg("argsort", a), axis)
    if descending:
        x = lax.rev(x, (ax,))
    keys = _sort_keys(x)
    iota = lax.iota(dtypes.int32, x.shape, ax)
    idx = lax.sort(keys + [iota], ax, num_keys=len(keys))[-1]
    if descending:  # reversing, sorting stably and reversing back keeps ties in order
        idx = lax.rev(lax.sub(lax.scalar_like(x.shape[ax] - 1, dtypes.int32), idx), (ax,))
    return idx


def lexsort(keys: Any, axis: SupportsIndex = -1) -> Any:
    """Indices (i32) that sort by several keys; the last key is the primary one."""
    ks = _as_list("lexsort", keys)
    if any(k.shape != ks[0].shape for k in ks):
        raise ShapeError("lexsort: all keys must have the same shape; got "
                         + ", ".join(str(k.type) for k in ks))
    if ks[0].ndim == 0:
        raise ShapeError(f"lexsort: keys must have at least one dimension, got {ks[0].type}")
    ax = normalize_axis("lexsort", axis, ks[0])
    flat = [p for k in reversed(ks) for p in _sort_keys(k)]
    iota = lax.iota(dtypes.int32, ks[0].shape, ax)
    return lax.sort(flat + [iota], ax, num_keys=len(flat))[-1]


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> Any:
    """Insertion indices (i32) of `v` into the sorted 1-D `a` (NaNs sort last).

    Compares every `v` with every element of `a` (O(len(a) * size(v)) work, but only
    elementwise comparisons and one sum, which vectorize and lower well).
    """
    from dsl.np_reductions import sum as sum_

    if side not in ("left", "right"):
        raise ArgumentValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    x = array_arg("searchsorted", a)
    if x.ndim != 1:
        raise ShapeError(f"searchsorted: a must be 1-D, got {x.type}")
    if sorter is not None:
        s = array_arg("searchsorted", sorter)
        if s.shape != x.shape or not dtypes.is_integer(s.dtype):
            raise ShapeError(f"searchsorted: sorter {s.type} must be integers shaped like "
                             f"a ({x.type})")
        x = lax.gather(x, lax.reshape(s, (x.shape[0], 1)), (0,))
    x, y = promote("searchsorted", x, v, broadcast=False)
    if dtypes.is_complex(x.dtype):
        raise ArgumentTypeError(f"searchsorted: complex values are not supported, got {x.type}")
    shp = tuple(y.shape) + (x.shape[0],)
    xb = lax.broadcast_in_dim(x, shp, (len(shp) - 1,))
    yb = lax.broadcast_in_dim(y, shp, range(y.ndim))
    if side == "left":
        before = lax.lt(xb, yb)
        if dtypes.is_floating(x.dtype):
            before = logical_or(before, logical_and(logical_not(isnan(xb)), isnan(yb)))
    else:
        before = lax.le(xb, yb)
        if dtypes.is_floating(x.dtype):
            before = logical_or(before, isnan(yb))
    return sum_(before, axis=-1)
