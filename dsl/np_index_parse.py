"""Parsing a NumPy index against an operand's type, and building gather/scatter index operands.

Shared by reading (`dsl.np_indexing`, whose docstring gives the indexing rules), the functional
updates (`dsl.np_updates`) and the function forms (`dsl.np_index_functions`). Parsing turns an
index into `_Entry`s, one per operand dimension plus one per new axis; `_expand_bools` first
rewrites NumPy's boolean scalars, and `_layout` gives NumPy's order of the result's dimensions.
The index operands are the index values of each indexed axis, normalised (counted from the end
when negative) and placed as one column of the stacked operand of a `gather` or `scatter`.
Also here: the error types of indexing, `IndexOutOfBounds` and `InvalidIndex`.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import Tracer, bind
from dsl.errors import ConcretizationError, DTypeError, ShapeError
from dsl.np_elementwise import asarray, broadcast_shapes
from dsl.types import TensorType


class IndexOutOfBounds(ShapeError, IndexError):
    """An index that does not fit the array it indexes: a static integer out of range, too many
    indices, a mask of the wrong shape, index arrays that do not broadcast together."""


class InvalidIndex(DTypeError, IndexError):
    """An index of a kind that cannot index: a float, a string, a ragged list, a non-integer
    slice bound. NumPy raises an `IndexError` here and JAX a `TypeError`; this is both."""


@attrs.define(eq=False)
class _Entry:
    """One parsed index entry. `pos` is the position of the user's index item that made it;
    NumPy's placement of advanced dimensions depends on whether those positions are adjacent."""

    kind: str  # "slice", "int" (static), "dyn" (symbolic scalar), "adv" (array), "new" (None)
    pos: int
    dim: int = -1  # the operand dimension consumed (none for "new")
    start: int = 0  # slices: the normalised start, step and number of elements
    step: int = 1
    length: int = 0
    value: Any = None  # the static int, or the index (a NumPy array or a tracer)


# --- Parsing -------------------------------------------------------------------------------

def _item_kind(name: str, item: Any) -> tuple[str, Any]:
    """Classify one item of an index: new, ellipsis, slice, int, dyn, adv or mask."""
    if item is None:
        return "new", None
    if item is Ellipsis:
        return "ellipsis", None
    if isinstance(item, slice):
        return "slice", item
    if isinstance(item, (bool, np.bool_)):
        return "bool", bool(item)
    if isinstance(item, (int, np.integer)):
        return "int", int(item)
    if isinstance(item, float):
        raise InvalidIndex(f"{name}: indices must be integers, not a Python float ({item!r})")
    if isinstance(item, (list, tuple)):
        item = _sequence_index(name, item)
    if type(item) is Tracer:
        if dtypes.is_integer(item.dtype):
            return ("dyn" if item.ndim == 0 else "adv"), item
        if not dtypes.is_bool(item.dtype):
            raise InvalidIndex(f"{name}: indices must be integers or booleans, not {item.type}")
        if item.known is None:
            raise ConcretizationError(
                f"{name}: a boolean mask index of symbolic value ({item.type}) selects a number "
                "of elements that depends on the data, so the result has no static shape. Use "
                "d.where(mask, x, fill) to keep the shape, or index with a concrete mask")
        item = item.known
    if type(item) is Array:
        item = np.asarray(item)
    if isinstance(item, (np.ndarray, np.generic)):
        a = np.asarray(item)
        if a.dtype == np.bool_:
            return ("bool", bool(a)) if a.ndim == 0 else ("mask", a)
        if a.dtype.kind in "iu":
            return ("int", int(a)) if a.ndim == 0 else ("adv", a)
        dt = dtypes.SHORT_NAMES.get(a.dtype, a.dtype.name)
        raise InvalidIndex(f"{name}: indices must be integers or booleans, not {dt}"
                           f"{list(a.shape)}")
    raise InvalidIndex(f"{name}: {type(item).__name__} is not a valid index (use integers, "
                       "slices, None, ..., integer arrays or boolean masks)")


def _has_tracer(seq: Any) -> bool:
    if isinstance(seq, (list, tuple)):
        return any(_has_tracer(v) for v in seq)
    return type(seq) is Tracer


def _sequence_index(name: str, seq: list[Any] | tuple[Any, ...]) -> Any:
    """A nested list used as an index: an array (NumPy treats `[]` as an empty integer index)."""
    if _has_tracer(seq):
        return asarray(seq)
    try:
        a = np.asarray(seq)
    except (ValueError, TypeError):
        raise InvalidIndex(f"{name}: the index list {seq!r} is ragged or holds non-numbers"
                           ) from None
    if a.size == 0 and a.dtype.kind == "f":
        a = a.astype(np.int64)
    if a.dtype == object:
        raise InvalidIndex(f"{name}: the index list {seq!r} is ragged or holds non-numbers")
    return a


def _expand_bools(name: str, x_type: TensorType, idx: Any
                  ) -> tuple[tuple[int, ...] | None, Any]:
    """NumPy's boolean scalars: `b` acts as a 0-d mask, an advanced index into a new unit
    dimension of the operand (`[0]` when True, `[]` when False). Returns the operand's shape with
    those unit dimensions inserted (None when the index has no boolean scalar) and the index
    with each boolean replaced by its integer array."""
    items = idx if isinstance(idx, tuple) else (idx,)
    if not any(isinstance(it, (bool, np.bool_)) or (
            type(it) in (Array, Tracer) or isinstance(it, np.ndarray)) and it.ndim == 0
            and np.dtype(it.dtype) == np.bool_ for it in items):
        return None, idx
    kinds = [_item_kind(name, it) for it in items]
    if not any(k == "bool" for k, _ in kinds):
        return None, idx
    if sum(k == "ellipsis" for k, _ in kinds) > 1:
        raise IndexOutOfBounds(f"{name}: an index can only have a single ellipsis ('...'); "
                               f"indexing {x_type}")
    used = sum(v.ndim if k == "mask" else int(k not in ("new", "bool", "ellipsis"))
               for k, v in kinds)
    if used > x_type.ndim:
        raise IndexOutOfBounds(f"{name}: too many indices for an array of type {x_type}: "
                               f"{used} dimensions indexed, but it has {x_type.ndim}")
    # A lone True beside no integer or array index is just a new axis (no gather needed).
    lone = [k for k, _ in kinds if k not in ("new", "ellipsis", "slice")] == ["bool"]
    shape, out, dim = list(x_type.shape), [], 0
    for k, v in kinds:
        if k == "bool" and v and lone:
            out.append(None)
        elif k == "bool":
            shape.insert(dim, 1)
            out.append(np.zeros(int(v), np.int32))
            dim += 1
        elif k in ("new", "ellipsis"):
            out.append(None if k == "new" else Ellipsis)
            dim += 0 if k == "new" else x_type.ndim - used
        else:
            out.append(v)
            dim += v.ndim if k == "mask" else 1
    return tuple(shape), tuple(out)


def _bound(name: str, b: Any) -> int | None:
    if b is None:
        return None
    if type(b) is Tracer:
        if b.known is None:
            raise ConcretizationError(
                f"{name}: slice bounds must be static, but got a symbolic {b.type}; use "
                "d.dynamic_slice(x, starts, sizes) for a window of static size at a symbolic "
                "start")
        b = b.known
    try:
        return operator.index(b)
    except TypeError:
        raise InvalidIndex(f"{name}: slice bounds must be integers or None, not {b!r}") from None


def _parse(name: str, x_type: TensorType, idx: Any, strict: bool) -> list[_Entry]:
    """The entries of index `idx` on an operand of type `x_type`.

    With `strict`, a static integer out of range is an `IndexOutOfBounds` error; otherwise it
    becomes a rank-0 array index, which follows the indexing mode.
    """
    items = idx if isinstance(idx, tuple) else (idx,)
    kinds = [_item_kind(name, it) for it in items]
    if any(k == "bool" for k, _ in kinds):
        raise AssertionError("boolean scalars are rewritten by _expand_bools before parsing")
    shape, nd = x_type.shape, x_type.ndim
    used = sum(v.ndim if k == "mask" else int(k not in ("new", "ellipsis")) for k, v in kinds)
    if sum(k == "ellipsis" for k, _ in kinds) > 1:
        raise IndexOutOfBounds(f"{name}: an index can only have a single ellipsis ('...'); "
                               f"indexing {x_type}")
    if used > nd:
        raise IndexOutOfBounds(f"{name}: too many indices for an array of type {x_type}: "
                               f"{used} dimensions indexed, but it has {nd}")
    entries: list[_Entry] = []
    dim = 0
    for pos, (kind, v) in enumerate(kinds):
        if kind == "new":
            entries.append(_Entry("new", pos))
            continue
        if kind == "ellipsis":
            entries.extend(_full(pos, d, shape[d]) for d in range(dim, dim + nd - used))
            dim += nd - used
            continue
        if kind == "mask":
            if v.shape != shape[dim:dim + v.ndim]:
                raise IndexOutOfBounds(
                    f"{name}: a boolean index of shape {list(v.shape)} does not match the "
                    f"dimensions {list(shape[dim:dim + v.ndim])} it covers in {x_type}")
            for nz in np.nonzero(v):  # a k-d mask is k adjacent integer arrays
                entries.append(_Entry("adv", pos, dim, value=nz))
                dim += 1
            continue
        n = shape[dim]
        if kind == "slice":
            lo, hi, step = _bound(name, v.start), _bound(name, v.stop), _bound(name, v.step)
            if step == 0:
                raise ValueError(f"{name}: slice step cannot be zero")
            start, stop, step = slice(lo, hi, step).indices(n)
            entries.append(_Entry("slice", pos, dim, start, step, len(range(start, stop, step))))
        elif kind == "int" and -n <= v < n:
            entries.append(_Entry("int", pos, dim, value=v + n if v < 0 else v))
        elif kind == "int":
            if strict:
                raise IndexOutOfBounds(f"{name}: index {v} is out of bounds for axis {dim} of "
                                       f"size {n} (indexing {x_type})")
            entries.append(_Entry("adv", pos, dim, value=np.asarray(max(min(v, n), -n - 1))))
        else:
            entries.append(_Entry(kind, pos, dim, value=v))
        dim += 1
    entries.extend(_full(len(items), d, shape[d]) for d in range(dim, nd))
    return entries


def _full(pos: int, dim: int, n: int) -> _Entry:
    return _Entry("slice", pos, dim, 0, 1, n)


def _window(e: _Entry) -> tuple[int, int, int, bool]:
    """(lo, hi, stride, reversed): slice `e` as an increasing strided slice, maybe reversed."""
    if e.length == 0:
        return 0, 0, 1, False
    if e.step > 0:
        return e.start, e.start + (e.length - 1) * e.step + 1, e.step, False
    lo = e.start + (e.length - 1) * e.step
    return lo, e.start + 1, -e.step, e.length > 1


def _is_full(e: _Entry, n: int) -> bool:
    lo, hi, stride, rev = _window(e)
    return lo == 0 and hi == n and (stride == 1 or e.length <= 1) and not rev


def _ints_to_arrays(entries: list[_Entry]) -> list[_Entry]:
    """NumPy's rule: next to an array index, integers are rank-0 array indices."""
    out = []
    for e in entries:
        if e.kind == "int":
            e = attrs.evolve(e, kind="adv", value=np.asarray(e.value))
        elif e.kind == "dyn":
            e = attrs.evolve(e, kind="adv")
        out.append(e)
    return out


def _layout(entries: list[_Entry], nb: int) -> list[Any]:
    """The result's dimensions in NumPy's order: dimension j of the broadcast advanced indices
    (an int), a slice entry, or None for a new axis."""
    pos = sorted({e.pos for e in entries if e.kind == "adv"})
    together = bool(pos) and pos[-1] - pos[0] + 1 == len(pos)
    out: list[Any] = [] if together else list(range(nb))
    placed = not together
    for e in entries:
        if e.kind == "new":
            out.append(None)
        elif e.kind == "slice":
            out.append(e)
        elif not placed:
            out.extend(range(nb))
            placed = True
    return out


# --- Index operands ------------------------------------------------------------------------

def _index_dtype(values: Sequence[Any], sizes: Sequence[int]) -> np.dtype:
    wide = any(n >= 2**31 for n in sizes) or any(
        type(v) is Tracer and (v.dtype.itemsize == 8 or v.dtype == dtypes.uint32) for v in values)
    return dtypes.int64 if wide else dtypes.int32


def _normalise(v: Any, n: int) -> Any:
    """A symbolic index counted from the end when negative: select(i < 0, i + n, i)."""
    if dtypes.is_unsigned(v.dtype):
        return v
    return lax.select(lax.lt(v, 0), lax.add(v, n), v)


def _scalar_index(name: str, i: Any, n: int) -> Any:
    """A scalar start or index along an axis of size `n`, normalised (a tracer stays symbolic)."""
    if type(i) is Tracer:
        if i.ndim != 0 or not dtypes.is_integer(i.dtype):
            raise DTypeError(f"{name}: indices must be integer scalars, not {i.type}")
        return _normalise(lax.convert(i, _index_dtype([i], [n])), n)
    if isinstance(i, (bool, np.bool_)):
        raise DTypeError(f"{name}: indices must be integer scalars, not a bool")
    a = np.asarray(i)
    if a.ndim != 0 or a.dtype.kind not in "iu":
        dt = dtypes.SHORT_NAMES.get(a.dtype, str(a.dtype))
        raise DTypeError(f"{name}: indices must be integer scalars, not {dt}{list(a.shape)}")
    v = int(a)
    return v + n if v < 0 else v


def _column(value: Any, n: int, batch: Sequence[int], positions: Sequence[int],
            dt: np.dtype, clamp: bool) -> Any:
    """The index values of one axis of size `n` (normalised, clamped to the axis with `clamp`),
    placed at `positions` of the batch shape, with a trailing unit dimension."""
    shape = tuple(batch) + (1,)
    if type(value) is Tracer:
        v = _normalise(lax.convert(value, dt), n)
        if clamp:
            v = lax.clamp(0, v, max(n - 1, 0))
        return lax.broadcast_in_dim(v, shape, tuple(positions))
    v = np.asarray(value)
    v = np.minimum(v, n).astype(np.int64) if v.dtype.kind == "u" else v.astype(np.int64)
    v = np.where(v < 0, v + n, v)
    # Out-of-range values only need to stay out of range, which keeps them in the index dtype.
    v = np.clip(v, 0, max(n - 1, 0)) if clamp else np.clip(v, -1, n)
    placed = [1] * len(shape)
    for p, m in zip(positions, v.shape):
        placed[p] = m
    return np.broadcast_to(v.astype(dt).reshape(placed), shape)


def _stack(cols: list[Any], nb: int) -> Any:
    if all(isinstance(c, np.ndarray) for c in cols):
        return Array(np.concatenate(cols, axis=-1))
    return lax.concatenate([c if type(c) is Tracer else Array(np.ascontiguousarray(c))
                            for c in cols], nb)


def _in_bounds(cols: list[Any], sizes: list[int], batch: tuple[int, ...]) -> Any:
    if all(isinstance(c, np.ndarray) for c in cols):
        ok = np.ones(batch, bool)
        for c, n in zip(cols, sizes):
            ok &= ((c >= 0) & (c < n))[..., 0]
        return Array(ok)
    ok = None
    for c, n in zip(cols, sizes):
        c = c if type(c) is Tracer else Array(np.ascontiguousarray(c))
        inside = bind(P.And(), lax.ge(c, 0), lax.lt(c, n))
        ok = inside if ok is None else bind(P.And(), ok, inside)
    return lax.reshape(ok, batch)


def _broadcast_indices(name: str, x_type: TensorType, adv: list[_Entry]) -> tuple[int, ...]:
    try:
        return broadcast_shapes(*(tuple(e.value.shape) for e in adv))
    except ShapeError:
        shapes = " ".join(str(list(e.value.shape)) for e in adv)
        raise IndexOutOfBounds(f"{name}: index arrays of shapes {shapes} do not broadcast "
                               f"together (indexing {x_type})") from None


def _gather(name: str, y: Any, cols: list[Any], axes: Sequence[int], batch: tuple[int, ...],
            mode: str, fill_value: Any) -> Any:
    """`gather` of `y` at the stacked index columns; with `fill_value` (mode fill), positions
    out of range get it instead of the gather's own fill."""
    out = lax.gather(y, _stack(cols, len(batch)), axes, mode)
    if mode == "clip" or fill_value is None:
        return out
    fill = asarray(fill_value)
    if fill.shape != ():
        raise ShapeError(f"{name}: fill_value must be a scalar, not {fill.type}")
    fill = lax.convert(fill, y.dtype)
    ok = _in_bounds(cols, [y.shape[a] for a in axes], batch)
    return lax.select(lax.broadcast_in_dim(ok, out.shape, range(len(batch))), out, fill)
