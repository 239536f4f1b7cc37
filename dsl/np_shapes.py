"""NumPy-named shape and axis functions: `reshape`, `ravel`, `transpose` (`permute_dims`,
`matrix_transpose`), `swapaxes`, `moveaxis`, `squeeze`, `expand_dims`, `broadcast_to`,
`broadcast_arrays`, `atleast_1d/2d/3d`; and the queries `ndim`, `shape`, `size`, `result_type`
and `copy`.

Each is one or two `reshape`, `transpose` or `broadcast_in_dim` primitives; see `dsl.np_manip`
for the family and `dsl.np_args` for the axis conventions.
"""

from __future__ import annotations

from typing import Any, SupportsIndex

import numpy as np

from dsl import dtypes, lax
from dsl.array import Array
from dsl.core import Tracer
from dsl.errors import ArgumentTypeError, ArgumentValueError, ShapeError
from dsl.np_args import (AxisLike, ShapeLike, array_arg, normalize_axes, normalize_axis,
                         normalize_shape)
from dsl.np_elementwise import broadcast_shapes

__all__ = [
    "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_arrays", "broadcast_to", "copy",
    "expand_dims", "matrix_transpose", "moveaxis", "ndim", "permute_dims", "ravel", "reshape",
    "result_type", "shape", "size", "squeeze", "swapaxes", "transpose",
]


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
