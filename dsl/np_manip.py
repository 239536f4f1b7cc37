"""NumPy-named functions that rearrange arrays: reshape, transpose, join, split, tile, pad, sort.

None of them does arithmetic on the elements (sorting compares them, nothing more), so each is a
short composition of structural primitives: `reshape`, `transpose`, `broadcast_in_dim`, `slice`,
`concatenate`, `rev`, `pad`, `sort`, and `gather` only where a static index map is too irregular
to be cut into a few slices. Shapes, axes, repeats, shifts and pad widths are static Python
values; the arrays may be concrete (eager) or symbolic (staged), and the same code serves both.

Axes follow NumPy: negative axes count from the end, `axis=None` usually means "flattened", and
a bad axis raises a `ShapeError` (a `ValueError` and a `TypeError`) naming the function, the axis
and the array's type. The helpers `normalize_axis`, `normalize_axes`, `normalize_shape`,
`array_arg` and `promote` (argument conversion whose errors name the calling function) are shared
with the creation, reduction and linear-algebra modules.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl.array import Array
from dsl.core import Tracer
from dsl.errors import (ArgumentTypeError, ArgumentValueError, CombinaxError, ConcretizationError,
                        DTypeError, ShapeError)
from dsl.np_elementwise import (asarray, broadcast_shapes, imag, isnan, logical_and,
                                logical_not, logical_or, negative, promote_args, real, remainder)

AxisLike = SupportsIndex | Sequence[SupportsIndex] | None
ShapeLike = SupportsIndex | Sequence[SupportsIndex]

__all__ = [
    "append", "argsort", "array_split", "atleast_1d", "atleast_2d", "atleast_3d",
    "broadcast_arrays", "broadcast_to", "column_stack", "concat", "concatenate", "copy",
    "dsplit", "dstack", "expand_dims", "flip", "fliplr", "flipud", "hsplit", "hstack",
    "lexsort", "matrix_transpose", "moveaxis", "ndim", "pad", "permute_dims", "ravel",
    "repeat", "reshape", "result_type", "roll", "rot90", "searchsorted", "shape", "size",
    "sort", "split", "squeeze", "stack", "swapaxes", "tile", "transpose", "unstack", "vsplit",
    "vstack",
]


# ---------------------------------------------------------------------------------------------
# Shared argument checking.

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
# Shapes and axes.

def reshape(a: Any, shape: ShapeLike | None = None, order: str = "C", *,
            newshape: ShapeLike | None = None) -> Any:
    """Give `a` a new shape with the same number of elements; one dimension may be -1."""
    x = array_arg("reshape", a)
    if shape is None:
        shape = newshape
    if shape is None:
        raise ArgumentTypeError("reshape: missing the shape argument")
    fortran = _order("reshape", order)
    dims = normalize_shape("reshape", shape, allow_unknown=True)
    if dims.count(-1) > 1:
        raise ShapeError(f"reshape: can only specify one unknown dimension, got {dims}")
    known = int(np.prod([n for n in dims if n != -1], dtype=np.int64))
    new = dims
    if -1 in dims and known and not x.size % known:
        new = tuple(x.size // known if n == -1 else n for n in dims)
    if -1 in new or int(np.prod(new, dtype=np.int64)) != x.size:
        raise ShapeError(f"reshape: cannot reshape {x.type} to {dims}")
    if fortran:  # column-major: reverse the axes, reshape row-major, reverse back
        rev = lax.reshape(lax.transpose(x, tuple(range(x.ndim))[::-1]), new[::-1])
        return lax.transpose(rev, tuple(range(len(new)))[::-1])
    return lax.reshape(x, new)


def _order(name: str, order: Any) -> bool:
    """Whether `order` asks for column-major ('F'). Arrays are always row-major, so 'A' and
    'K' mean 'C', as NumPy reads them for C-contiguous arrays."""
    if order not in ("C", "F", "A", "K"):
        raise ArgumentValueError(f"{name}: order must be one of 'C', 'F', 'A', 'K', got {order!r}")
    return order == "F"


def ravel(a: Any, order: str = "C") -> Any:
    """The elements of `a` as a 1-D array, in row-major order."""
    x = array_arg("ravel", a)
    if _order("ravel", order):
        x = lax.transpose(x, tuple(range(x.ndim))[::-1])
    return lax.reshape(x, (x.size,))


def transpose(a: Any, axes: AxisLike = None) -> Any:
    """Permute the axes (reverse them when `axes` is None)."""
    x = array_arg("transpose", a)
    if axes is None:
        return lax.transpose(x, tuple(range(x.ndim))[::-1])
    perm = normalize_axes("transpose", axes, x)
    if len(perm) != x.ndim:
        raise ShapeError(f"transpose: axes {axes!r} are not a permutation of the axes of "
                         f"{x.type}")
    return lax.transpose(x, perm)


permute_dims = transpose


def matrix_transpose(x: Any) -> Any:
    """Swap the last two axes."""
    x = array_arg("matrix_transpose", x)
    if x.ndim < 2:
        raise ShapeError(f"matrix_transpose: needs at least 2 dimensions, got {x.type}")
    return swapaxes(x, -1, -2)


def swapaxes(a: Any, axis1: SupportsIndex, axis2: SupportsIndex) -> Any:
    """Exchange two axes."""
    x = array_arg("swapaxes", a)
    i, j = normalize_axis("swapaxes", axis1, x), normalize_axis("swapaxes", axis2, x)
    perm = list(range(x.ndim))
    perm[i], perm[j] = j, i
    return lax.transpose(x, perm)


def moveaxis(a: Any, source: AxisLike, destination: AxisLike) -> Any:
    """Move axes to new positions; the other axes keep their order."""
    x = array_arg("moveaxis", a)
    src = normalize_axes("moveaxis", source, x)
    dst = normalize_axes("moveaxis", destination, x)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {source} and destination {destination} must have "
                         "the same number of elements")
    order = [n for n in range(x.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(x, order)


def squeeze(a: Any, axis: AxisLike = None) -> Any:
    """Remove axes of length one (all of them when `axis` is None)."""
    x = array_arg("squeeze", a)
    if axis is None:
        return lax.squeeze(x, [i for i, n in enumerate(x.shape) if n == 1])
    axes = normalize_axes("squeeze", axis, x)
    for ax in axes:
        if x.shape[ax] != 1:
            raise ShapeError(f"squeeze: cannot select axis {ax} of {x.type}: its size is "
                             f"{x.shape[ax]}, not 1")
    return lax.squeeze(x, sorted(axes))


def expand_dims(a: Any, axis: AxisLike) -> Any:
    """Insert length-one axes at the positions `axis` of the result."""
    x = array_arg("expand_dims", a)
    n = 1 if not isinstance(axis, (tuple, list)) else len(axis)
    axes = normalize_axes("expand_dims", axis, x, x.ndim + n)
    return lax.expand_dims(x, sorted(axes))


def broadcast_to(array: Any, shape: ShapeLike) -> Any:
    """Broadcast `array` to `shape` by NumPy's rules (trailing axes aligned)."""
    x = array_arg("broadcast_to", array)
    dims = normalize_shape("broadcast_to", shape)
    lead = len(dims) - x.ndim
    if lead < 0 or any(n not in (1, m) for n, m in zip(x.shape, dims[lead:])):
        raise ShapeError(f"broadcast_to: cannot broadcast {x.type} to {dims}")
    return lax.broadcast_to_rank_shape(x, dims)


def broadcast_arrays(*args: Any) -> tuple[Any, ...]:
    """The arguments broadcast to their common shape (dtypes unchanged)."""
    xs = [array_arg("broadcast_arrays", a) for a in args]
    try:
        shp = broadcast_shapes(*(tuple(x.shape) for x in xs))
    except ShapeError:
        raise ShapeError("broadcast_arrays: shapes " + ", ".join(str(x.type) for x in xs)
                         + " do not broadcast together") from None
    return tuple(lax.broadcast_to_rank_shape(x, shp) for x in xs)


def _atleast(name: str, arys: tuple[Any, ...], n: int) -> Any:
    out = []
    for a in arys:
        x = array_arg(name, a)
        if x.ndim < n:
            if n == 3 and x.ndim == 2:
                x = lax.reshape(x, x.shape + (1,))
            elif n == 3 and x.ndim == 1:
                x = lax.reshape(x, (1,) + x.shape + (1,))
            else:
                x = lax.reshape(x, (1,) * (n - x.ndim) + x.shape)
        out.append(x)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys: Any) -> Any:
    """Each input with at least one dimension (one array, or a tuple for several)."""
    return _atleast("atleast_1d", arys, 1)


def atleast_2d(*arys: Any) -> Any:
    """Each input with at least two dimensions (`(n,)` becomes `(1, n)`)."""
    return _atleast("atleast_2d", arys, 2)


def atleast_3d(*arys: Any) -> Any:
    """Each input with at least three dimensions (`(n,)` -> `(1, n, 1)`, `(m, n)` ->
    `(m, n, 1)`)."""
    return _atleast("atleast_3d", arys, 3)


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
# Repetition, reversal, rotation, padding.

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


# ---------------------------------------------------------------------------------------------
# Queries.

def ndim(a: Any) -> int:
    """The number of dimensions."""
    return len(shape(a))


def shape(a: Any) -> tuple[int, ...]:
    """The shape, as a tuple of ints."""
    if type(a) in (Tracer, Array):
        return tuple(a.shape)
    try:
        return tuple(np.shape(a))
    except ValueError as e:  # a ragged nested list
        raise ArgumentValueError(f"shape: {e}") from None


def size(a: Any, axis: SupportsIndex | None = None) -> int:
    """The number of elements (along `axis`, when given)."""
    shp = shape(a)
    if axis is None:
        return int(np.prod(shp, dtype=np.int64))
    return shp[normalize_axis("size", axis, array_arg("size", a))]


def result_type(*arrays_and_dtypes: Any) -> np.dtype:
    """The dtype the promotion rules give these arrays, Python scalars and dtypes."""
    from dsl.np_elementwise import dtypes_of

    pairs = []
    for a in arrays_and_dtypes:
        if a is int or a is float or a is complex:
            pairs.append((dtypes.canonicalize(a), True))  # Python types are weak, like scalars
        elif isinstance(a, (np.dtype, type, str)):
            pairs.append((dtypes.canonicalize(a), False))
        else:
            pairs.append(dtypes_of(array_arg("result_type", a)))
    return dtypes.result_type(*pairs)[0]


def copy(a: Any) -> Any:
    """A copy of `a` (arrays are immutable, so the same value)."""
    return array_arg("copy", a)
