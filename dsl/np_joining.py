"""NumPy-named functions that join, split, repeat and pad arrays: `concatenate` (`concat`),
`append`, `stack`, `hstack`, `vstack`, `dstack`, `column_stack`, `unstack`, `split`,
`array_split`, `hsplit`, `vsplit`, `dsplit`, `tile`, `repeat` and `pad`.

They are slices joined by `concatenate`, `broadcast_in_dim` and `reshape` (tile, repeat), and
`pad`. `take_static` indexes an axis by a static integer vector the same way - cut into runs of
slices and joined (a `gather` only when there are many runs) - for `repeat`, the non-constant
modes of `pad`, and the reductions. See `dsl.np_manip` for the family.
"""

from __future__ import annotations

import builtins
from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl.array import Array
from dsl.core import Tracer
from dsl.errors import ArgumentTypeError, ArgumentValueError, ShapeError
from dsl.np_args import (ShapeLike, _slice_axis, _static_ints, array_arg, normalize_axis,
                         normalize_shape, promote)
from dsl.np_shapes import atleast_1d, atleast_2d, atleast_3d, moveaxis, ravel, shape

__all__ = [
    "append", "array_split", "column_stack", "concat", "concatenate", "dsplit", "dstack",
    "hsplit", "hstack", "pad", "repeat", "split", "stack", "tile", "unstack", "vsplit", "vstack",
]


def take_static(x: Any, idx: np.ndarray, axis: int) -> Any:
    """`x` indexed along `axis` by the static, in-range integer vector `idx`.

    The index map is cut into runs (ascending, descending or constant); each run is a slice (a
    reversed or broadcast slice), and the runs are joined. Maps with many runs use `gather`.
    """
    runs: list[tuple[int, int, int]] = []  # (first index, step, length)
    i, k = 0, len(idx)
    while i < k:
        step = int(idx[i + 1] - idx[i]) if i + 1 < k else 1
        if step not in (-1, 0, 1):
            step = 1
        j = i + 1
        while j < k and idx[j] - idx[j - 1] == step:
            j += 1
        runs.append((int(idx[i]), step, j - i))
        i = j
    if len(runs) > 16:
        ind = Array(np.asarray(idx, dtype=np.int32).reshape(-1, 1))
        g = lax.gather(x, ind, (axis,))
        return moveaxis(g, 0, axis)
    if not runs:
        return _slice_axis(x, 0, 0, axis)
    pieces = []
    for first, step, length in runs:
        if step == 1:
            pieces.append(_slice_axis(x, first, first + length, axis))
        elif step == -1:
            pieces.append(lax.rev(_slice_axis(x, first - length + 1, first + 1, axis), (axis,)))
        else:
            one = _slice_axis(x, first, first + 1, axis)
            shape = list(x.shape)
            shape[axis] = length
            pieces.append(lax.broadcast_in_dim(one, shape, range(x.ndim)))
    return lax.concatenate(pieces, axis)


# ---------------------------------------------------------------------------------------------
# Joining and splitting.

def _as_list(name: str, arrays: Any) -> list[Any]:
    if type(arrays) in (Tracer, Array) or isinstance(arrays, np.ndarray):
        xs = list(unstack(arrays))
    elif isinstance(arrays, (list, tuple)) or hasattr(arrays, "__iter__"):
        xs = [array_arg(name, a) for a in arrays]
    else:
        raise ArgumentTypeError(f"{name}: expects a sequence of arrays, got a "
                                f"{type(arrays).__name__}")
    if not xs:
        raise ArgumentValueError(f"{name}: need at least one array")
    return xs


def concatenate(arrays: Any, axis: SupportsIndex | None = 0, dtype: Any = None) -> Any:
    """Join arrays along an existing axis (`axis=None` flattens them first)."""
    xs = _as_list("concatenate", arrays)
    if axis is None:
        xs, axis = [ravel(x) for x in xs], 0
    types = ", ".join(str(x.type) for x in xs)
    if any(x.ndim == 0 for x in xs):
        raise ShapeError(f"concatenate: zero-dimensional arrays cannot be concatenated; got "
                         f"{types}")
    ax = normalize_axis("concatenate", axis, xs[0])
    nd = xs[0].ndim
    if any(x.ndim != nd or any(a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape))
                               if i != ax) for x in xs):
        raise ShapeError(f"concatenate: operands must have equal shapes except along axis {ax};"
                         f" got {types}")
    dt = None if dtype is None else dtypes.canonicalize(dtype)
    xs = promote("concatenate", *xs, dtype=dt, broadcast=False)
    return lax.concatenate(xs, ax)


concat = concatenate


def append(arr: Any, values: Any, axis: SupportsIndex | None = None) -> Any:
    """`values` appended to `arr` along `axis` (both flattened when `axis` is None)."""
    return concatenate([arr, values], axis=axis)


def stack(arrays: Any, axis: SupportsIndex = 0, dtype: Any = None) -> Any:
    """Join equally shaped arrays along a new axis."""
    xs = _as_list("stack", arrays)
    if any(x.shape != xs[0].shape for x in xs):
        raise ShapeError("stack: all input arrays must have the same shape; got "
                         + ", ".join(str(x.type) for x in xs))
    ax = normalize_axis("stack", axis, xs[0], xs[0].ndim + 1)
    return concatenate([lax.expand_dims(x, (ax,)) for x in xs], ax, dtype)


def hstack(tup: Any, dtype: Any = None) -> Any:
    """Join along the second axis (the first, for 1-D inputs)."""
    xs = [atleast_1d(a) for a in _as_list("hstack", tup)]
    return concatenate(xs, 0 if xs[0].ndim == 1 else 1, dtype)


def vstack(tup: Any, dtype: Any = None) -> Any:
    """Join along the first axis, after making inputs at least 2-D."""
    return concatenate([atleast_2d(a) for a in _as_list("vstack", tup)], 0, dtype)


def dstack(tup: Any, dtype: Any = None) -> Any:
    """Join along the third axis, after making inputs at least 3-D."""
    return concatenate([atleast_3d(a) for a in _as_list("dstack", tup)], 2, dtype)


def column_stack(tup: Any) -> Any:
    """Stack 1-D arrays as columns (and 2-D arrays as they are) into a 2-D array."""
    xs = [lax.reshape(x, (x.shape[0], 1)) if x.ndim == 1 else atleast_2d(x)
          for x in _as_list("column_stack", tup)]
    return concatenate(xs, 1)


def unstack(x: Any, axis: SupportsIndex = 0) -> tuple[Any, ...]:
    """The slices of `x` along `axis`, as a tuple."""
    x = array_arg("unstack", x)
    ax = normalize_axis("unstack", axis, x)
    return tuple(lax.squeeze(_slice_axis(x, i, i + 1, ax), (ax,)) for i in range(x.shape[ax]))


def _split(name: str, ary: Any, indices_or_sections: Any, axis: SupportsIndex,
           equal: bool) -> list[Any]:
    x = array_arg(name, ary)
    ax = normalize_axis(name, axis, x)
    n = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(
            indices_or_sections, bool):
        k = int(indices_or_sections)
        if k <= 0:
            raise ArgumentValueError(f"{name}: number of sections must be larger than 0, got {k}")
        if equal and n % k:
            raise ArgumentValueError(f"{name}: array split does not result in an equal "
                                     f"division: axis {ax} of {x.type} into {k} sections")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        pairs = list(zip(bounds[:-1], bounds[1:]))
    else:
        idx = _static_ints(name, "split indices", indices_or_sections).reshape(-1).tolist()
        edges = [0] + idx + [n]
        pairs = []
        for a, b in zip(edges[:-1], edges[1:]):
            lo, hi, _ = builtins.slice(a, b).indices(n)
            pairs.append((lo, builtins.max(lo, hi)))
    return [_slice_axis(x, lo, hi, ax) for lo, hi in pairs]


def split(ary: Any, indices_or_sections: Any, axis: SupportsIndex = 0) -> list[Any]:
    """Split into equal sections (an int) or at the given indices, along `axis`."""
    return _split("split", ary, indices_or_sections, axis, True)


def array_split(ary: Any, indices_or_sections: Any, axis: SupportsIndex = 0) -> list[Any]:
    """Like `split`, but the sections may differ in size by one (the first ones are larger)."""
    return _split("array_split", ary, indices_or_sections, axis, False)


def hsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """Split along the second axis (the first, for 1-D arrays)."""
    x = array_arg("hsplit", ary)
    if x.ndim == 0:
        raise ShapeError(f"hsplit: needs at least 1 dimension, got {x.type}")
    return _split("hsplit", x, indices_or_sections, 1 if x.ndim > 1 else 0, True)


def vsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """Split along the first axis of an array of rank >= 2."""
    x = array_arg("vsplit", ary)
    if x.ndim < 2:
        raise ShapeError(f"vsplit: needs at least 2 dimensions, got {x.type}")
    return _split("vsplit", x, indices_or_sections, 0, True)


def dsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """Split along the third axis of an array of rank >= 3."""
    x = array_arg("dsplit", ary)
    if x.ndim < 3:
        raise ShapeError(f"dsplit: needs at least 3 dimensions, got {x.type}")
    return _split("dsplit", x, indices_or_sections, 2, True)


# ---------------------------------------------------------------------------------------------
# Repetition and padding.

def tile(A: Any, reps: ShapeLike) -> Any:
    """Repeat the whole of `A` `reps[i]` times along each axis i."""
    x = array_arg("tile", A)
    r = normalize_shape("tile", reps)
    nd = builtins.max(len(r), x.ndim)
    r = (1,) * (nd - len(r)) + r
    x = lax.reshape(x, (1,) * (nd - x.ndim) + tuple(x.shape))
    if all(n == 1 for n in r):
        return x
    inter = [d for pair in zip(r, x.shape) for d in pair]
    y = lax.broadcast_in_dim(x, inter, range(1, 2 * nd, 2))
    return lax.reshape(y, tuple(a * b for a, b in zip(r, x.shape)))


def repeat(a: Any, repeats: Any, axis: SupportsIndex | None = None) -> Any:
    """Repeat each element `repeats` times (an int, or one static count per element)."""
    x = array_arg("repeat", a)
    if axis is None:
        x, ax = ravel(x), 0
    else:
        ax = normalize_axis("repeat", axis, x)
    reps = _static_ints("repeat", "repeats", repeats)
    n = x.shape[ax]
    if reps.ndim > 1 or reps.ndim == 1 and reps.shape[0] not in (1, n):
        raise ShapeError(f"repeat: {reps.size} repeats do not match axis {ax} of {x.type}")
    if (reps < 0).any():
        raise ArgumentValueError(f"repeat: repeats must be non-negative, got {reps.tolist()}")
    if reps.size == 1:
        k = int(reps.reshape(()))
        if k == 1:
            return x
        shp = tuple(x.shape)
        y = lax.broadcast_in_dim(x, shp[:ax + 1] + (k,) + shp[ax + 1:],
                                 [i if i <= ax else i + 1 for i in range(x.ndim)])
        return lax.reshape(y, shp[:ax] + (n * k,) + shp[ax + 1:])
    return take_static(x, np.repeat(np.arange(n), reps), ax)


def _pad_pairs(name: str, what: str, value: Any, x: Any) -> np.ndarray:
    arr = np.asarray(value)
    try:
        return np.broadcast_to(arr, (x.ndim, 2))
    except ValueError:
        raise ShapeError(f"{name}: {what} {value!r} does not fit {x.type} (needs one (before, "
                         "after) pair per axis)") from None


def _pad_index(mode: str, n: int, before: int, after: int) -> np.ndarray:
    """Which source index each position of a padded axis copies, for the non-constant modes."""
    j = np.arange(-before, n + after)
    if mode == "edge":
        return np.clip(j, 0, n - 1)
    if mode == "wrap":
        return j % n
    if mode == "symmetric":
        k = j % (2 * n)
        return np.where(k < n, k, 2 * n - 1 - k)
    if n == 1:  # reflect
        return np.zeros_like(j)
    k = j % (2 * n - 2)
    return np.where(k < n, k, 2 * n - 2 - k)


_PAD_MODES = ("constant", "empty", "edge", "wrap", "reflect", "symmetric")


def pad(array: Any, pad_width: Any, mode: str = "constant", *, constant_values: Any = 0,
        reflect_type: str = "even") -> Any:
    """Pad each axis with `(before, after)` elements (NumPy's forms of `pad_width`).

    Modes: `constant` (with `constant_values`, one scalar or per-axis pairs), `empty` (zeros),
    `edge`, `wrap`, `reflect` and `symmetric` (with `reflect_type='even'`).
    """
    x = array_arg("pad", array)
    if mode not in _PAD_MODES:
        raise ArgumentValueError(f"pad: mode {mode!r} is not supported (supported: "
                                 f"{', '.join(_PAD_MODES)})")
    if reflect_type != "even":
        raise ArgumentValueError(f"pad: only reflect_type='even' is supported, not "
                                 f"{reflect_type!r}")
    widths = _pad_pairs("pad", "pad_width", _static_ints("pad", "pad_width", pad_width), x)
    if (widths < 0).any():
        raise ArgumentValueError(f"pad: pad widths must be non-negative, got {pad_width!r}")
    if mode in ("constant", "empty"):
        cv = 0 if mode == "empty" else constant_values
        if len(shape(cv)) == 0:
            v = lax.convert(array_arg("pad", cv), x.dtype)
            return lax.pad(x, v, [(int(b), int(e), 0) for b, e in widths])
        values = _pad_pairs("pad", "constant_values", np.asarray(cv), x)
        for ax in range(x.ndim):
            for side in (0, 1):
                cfg = [(0, 0, 0)] * x.ndim
                cfg[ax] = (int(widths[ax, 0]), 0, 0) if side == 0 else (0, int(widths[ax, 1]), 0)
                if cfg[ax] != (0, 0, 0):
                    v = lax.convert(array_arg("pad", values[ax, side].astype(x.dtype)), x.dtype)
                    x = lax.pad(x, v, cfg)
        return x
    for ax in range(x.ndim):
        before, after = (int(w) for w in widths[ax])
        if before == after == 0:
            continue
        if x.shape[ax] == 0:
            raise ShapeError(f"pad: cannot extend the empty axis {ax} of {x.type} with mode "
                             f"{mode!r}")
        x = take_static(x, _pad_index(mode, x.shape[ax], before, after), ax)
    return x
