"""NumPy indexing of arrays and symbolic values: `x[idx]`, `x.at[idx]`, `take`, `put` and friends.

Indexing is derived: it lowers to the structural primitives and needs no interpreter rules. An
index is first *parsed* against the operand's type into entries, one per operand dimension plus
one per new axis (`None`): a static slice, a static integer, a dynamic (symbolic) scalar integer,
or an advanced (array) index. Boolean masks are accepted only when their value is known, and
become the integer arrays of `np.nonzero`: a symbolic mask would give a result whose shape
depends on data, which no typed program can have. A boolean scalar is NumPy's 0-d mask: the
operand gets a new unit dimension there, indexed by the array `[0]` (True) or `[]` (False).

Basic indices (static integers and slices, `None`, `...`, symbolic scalar integers) lower to
`slice`, `rev` for negative steps, `dynamic_slice` for symbolic integers, and one `squeeze` or
`reshape`. As soon as an array index is present, every integer index joins it (NumPy's rule): the
advanced indices are broadcast together and stacked into the index operand of one `gather`, and a
`transpose` puts the broadcast dimensions where NumPy puts them - in place of the advanced
indices when these are adjacent in the index, first otherwise.

Out-of-range indices: a static Python integer out of range is an error (`IndexOutOfBounds`, which
is also an `IndexError`), as in NumPy. Array and symbolic indices follow JAX: negative values
count from the end, and values still out of range are clamped when reading (`mode='clip'`, the
default of `x[idx]`) or give a fill value (`mode='fill'`, the default of `take`; `fill_value` is
ignored in the other modes), and are dropped when writing (`mode='drop'`, the default of
`x.at[idx].set`). With an explicit mode, static integers follow the mode too. `take` in mode
'clip' clamps into range without counting from the end, as NumPy and JAX do.

Updates of another dtype are cast to the operand's dtype (as JAX does, which only warns for a
strong mismatch); complex values into a real operand are refused, as in NumPy.

`x.at[idx].set(v)` (and `add`, `multiply`, `min`, `max`) is the functional update of the same
positions: `dynamic_update_slice` of a window when the index is a box of static integers and
unit-step slices, `scatter` otherwise.
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
from dsl.np_elementwise import asarray, broadcast_shapes, remainder
from dsl.types import TensorType

__all__ = ["IndexOutOfBounds", "InvalidIndex", "_AtIndexer", "_getitem", "dynamic_index_in_dim",
           "dynamic_slice", "dynamic_slice_in_dim", "dynamic_update_slice", "put",
           "put_along_axis", "take", "take_along_axis"]

MODES = ("clip", "fill", "drop", "promise_in_bounds")


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


# --- Reading -------------------------------------------------------------------------------

def _check_mode(name: str, mode: Any) -> None:
    if mode is not None and mode not in MODES:
        raise ValueError(f"{name}: mode must be one of {', '.join(map(repr, MODES))} or None, "
                         f"not {mode!r}")


def _operand(name: str, x: Any) -> Any:
    return x if type(x) in (Tracer, Array) else asarray(x)


def _static_slice(x: Any, entries: list[_Entry], ints: bool) -> Any:
    """`x` sliced by the slice entries (and the static int entries, kept as unit dimensions)."""
    lo, hi, strides, rev = [0] * x.ndim, list(x.shape), [1] * x.ndim, []
    for e in entries:
        if e.kind == "slice":
            lo[e.dim], hi[e.dim], strides[e.dim], r = _window(e)
            if r:
                rev.append(e.dim)
        elif ints and e.kind == "int":
            lo[e.dim], hi[e.dim] = e.value, e.value + 1
    return lax.rev(lax.slice(x, lo, hi, strides), rev)


def _get(name: str, x: Any, idx: Any, mode: Any = None, fill_value: Any = None) -> Any:
    _check_mode(name, mode)
    shape, idx = _expand_bools(name, x.type, idx)
    if shape is not None:
        x = lax.reshape(x, shape)
    # As in JAX, `fill_value` only matters in mode 'fill' (or 'drop'): with no mode, reads clamp.
    entries = _parse(name, x.type, idx, strict=mode is None)
    clip = mode in (None, "clip", "promise_in_bounds")
    kinds = {e.kind for e in entries}
    if "adv" not in kinds and (clip or "dyn" not in kinds):
        return _basic_get(name, x, entries)
    return _advanced_get(name, x, entries, "clip" if clip else "fill", fill_value)


def _basic_get(name: str, x: Any, entries: list[_Entry]) -> Any:
    y = _static_slice(x, entries, ints=True)
    dyn = [e for e in entries if e.kind == "dyn"]
    if dyn:
        starts: list[Any] = [0] * y.ndim
        sizes = list(y.shape)
        for e in dyn:
            if y.shape[e.dim] == 0:
                raise IndexOutOfBounds(f"{name}: cannot index axis {e.dim} of size 0 "
                                       f"(indexing {x.type})")
            starts[e.dim] = _scalar_index(name, e.value, y.shape[e.dim])
            sizes[e.dim] = 1
        y = lax.dynamic_slice(y, starts, sizes)
    drop = [e.dim for e in entries if e.kind in ("int", "dyn")]
    kept = [e for e in entries if e.kind in ("new", "slice")]
    if drop and len(kept) > y.ndim - len(drop):  # both removed and new unit dimensions
        return lax.reshape(y, [1 if e.kind == "new" else y.shape[e.dim] for e in kept])
    if drop:
        return lax.squeeze(y, drop)
    return lax.expand_dims(y, [i for i, e in enumerate(kept) if e.kind == "new"])


def _advanced_get(name: str, x: Any, entries: list[_Entry], mode: str,
                  fill_value: Any) -> Any:
    entries = _ints_to_arrays(entries)
    y = _static_slice(x, entries, ints=False)
    adv = [e for e in entries if e.kind == "adv"]
    batch = _broadcast_indices(name, x.type, adv)
    nb = len(batch)
    dt = _index_dtype([e.value for e in adv], x.shape)
    if mode == "clip" and int(np.prod(batch)) and any(y.shape[e.dim] == 0 for e in adv):
        raise IndexOutOfBounds(f"{name}: cannot index an axis of size 0 (indexing {x.type})")
    cols = [_column(e.value, y.shape[e.dim], batch, range(nb - e.value.ndim, nb), dt, False)
            for e in adv]
    out = _gather(name, y, cols, [e.dim for e in adv], batch, mode, fill_value)
    slices = [e for e in entries if e.kind == "slice"]
    slot = {id(e): nb + k for k, e in enumerate(slices)}
    layout = [c if c is None or isinstance(c, int) else slot[id(c)]
              for c in _layout(entries, nb)]
    out = lax.transpose(out, [a for a in layout if a is not None])
    return lax.expand_dims(out, [i for i, a in enumerate(layout) if a is None])


def _getitem(x: Any, idx: Any) -> Any:
    """`x[idx]` with NumPy's indexing rules (see the module docstring)."""
    if type(x) is Array:
        fast = _eager_basic(x, idx)
        if fast is not None:
            return fast
    return _get("indexing", _operand("indexing", x), idx)


def _eager_basic(x: Array, idx: Any) -> Array | None:
    """Basic indexing (ints in range, int slices, None, one Ellipsis) of a concrete array, done
    by NumPy directly: the eager fast path. None when the index needs the general path."""
    items = idx if type(idx) is tuple else (idx,)
    shape = x.shape
    used = 0
    for it in items:
        t = type(it)
        if t is int or t is slice:
            used += 1
        elif it is not None and it is not Ellipsis:
            return None
    if used > len(shape) or items.count(Ellipsis) > 1:
        return None
    dim = 0
    for it in items:
        t = type(it)
        if it is Ellipsis:
            dim += len(shape) - used
        elif t is int:
            if not -shape[dim] <= it < shape[dim]:
                return None  # the general path raises the typed error
            dim += 1
        elif t is slice:
            for v in (it.start, it.stop, it.step):
                if v is not None and type(v) is not int:
                    return None
            if it.step == 0:
                return None
            dim += 1
    v = x._value[idx]  # a view: both arrays are immutable
    return Array(v if type(v) is np.ndarray else np.asarray(v), x._weak)


# --- Writing -------------------------------------------------------------------------------

def _updates(name: str, x: Any, v: Any) -> Any:
    v = asarray(v)
    if v.dtype != x.dtype:
        if dtypes.is_complex(v.dtype) and not dtypes.is_complex(x.dtype):
            raise DTypeError(f"{name}: cannot write complex values {v.type} into {x.type}")
        v = bind(P.Convert(dtype=x.dtype), v)
    return v


def _fit(name: str, v: Any, shape: Sequence[int]) -> Any:
    """`v` broadcast to `shape` with NumPy's assignment rule (extra leading 1s are dropped)."""
    shape = tuple(shape)
    vs = tuple(v.shape)
    while len(vs) > len(shape) and vs[0] == 1:
        vs = vs[1:]
    try:
        ok = broadcast_shapes(vs, shape) == shape
    except ShapeError:
        ok = False
    if not ok:
        raise ShapeError(f"{name}: values of type {v.type} do not broadcast to the indexed "
                         f"shape {list(shape)}")
    return lax.broadcast_to_rank_shape(lax.reshape(v, vs), shape)


def _combine(kind: str, old: Any, new: Any) -> Any:
    is_bool = dtypes.is_bool(old.dtype)
    op = {"add": P.Or() if is_bool else P.Add(), "mul": P.And() if is_bool else P.Mul(),
          "min": P.Min(), "max": P.Max()}[kind]
    return bind(op, old, new)


def _update(name: str, x: Any, idx: Any, values: Any, kind: str, mode: Any) -> Any:
    _check_mode(name, mode)
    x = _operand(name, x)
    shape, idx = _expand_bools(name, x.type, idx)
    if shape is not None:  # boolean scalars index new unit dimensions, removed again after
        out = _update(name, lax.reshape(x, shape), idx, values, kind, mode)
        return lax.reshape(out, x.shape)
    entries = _parse(name, x.type, idx, strict=mode is None)
    v = _updates(name, x, values)
    clip = mode in ("clip", "promise_in_bounds")
    kinds = {e.kind for e in entries}
    box = "adv" not in kinds and (clip or "dyn" not in kinds) and all(
        e.kind != "slice" or abs(e.step) == 1 or e.length <= 1 for e in entries)
    if box:
        return _window_update(name, x, entries, v, kind)
    return _scatter_update(name, x, entries, v, kind, clip)


def _window_update(name: str, x: Any, entries: list[_Entry], v: Any, kind: str) -> Any:
    starts: list[Any] = [0] * x.ndim
    window, rev = list(x.shape), []
    for e in entries:
        if e.kind == "slice":
            lo, hi, _, r = _window(e)
            starts[e.dim], window[e.dim] = lo, hi - lo
            if r:
                rev.append(e.dim)
        elif e.kind in ("int", "dyn"):
            starts[e.dim], window[e.dim] = _scalar_index(name, e.value, x.shape[e.dim]), 1
    shape = [1 if e.kind == "new" else e.length for e in entries if e.kind in ("new", "slice")]
    u = lax.rev(lax.reshape(_fit(name, v, shape), window), rev)
    if kind != "set":
        if any(type(s) is Tracer for s in starts):
            old = lax.dynamic_slice(x, starts, window)
        else:
            old = lax.slice(x, starts, [s + w for s, w in zip(starts, window)])
        u = _combine(kind, old, u)
    return lax.dynamic_update_slice(x, u, starts)


def _scatter_update(name: str, x: Any, entries: list[_Entry], v: Any, kind: str,
                    clip: bool) -> Any:
    entries = _ints_to_arrays(entries)
    adv = [e for e in entries if e.kind == "adv"]
    batch_adv = _broadcast_indices(name, x.type, adv) if adv else ()
    nb = len(batch_adv)
    layout = _layout(entries, nb)
    shape = [1 if c is None else batch_adv[c] if isinstance(c, int) else c.length
             for c in layout]
    dims = [c for c in layout if c is not None]
    # Partial slices are indexed too (by their static positions); full slices stay windows.
    is_batch = [isinstance(c, int) or not _is_full(c, x.shape[c.dim]) for c in dims]
    order = [i for i, b in enumerate(is_batch) if b] + [i for i, b in enumerate(is_batch) if not b]
    batch = tuple(_extent(dims[i], batch_adv) for i in order if is_batch[i])
    where = {i: k for k, i in enumerate(i for i in order if is_batch[i])}
    adv_at = [where[dims.index(j)] for j in range(nb)]
    dt = _index_dtype([e.value for e in adv], x.shape)
    cols, axes = [], []
    for e in adv:
        n = x.shape[e.dim]
        cols.append(_column(e.value, n, batch, adv_at[nb - e.value.ndim:], dt, clip))
        axes.append(e.dim)
    for i, c in enumerate(dims):
        if is_batch[i] and not isinstance(c, int):
            positions = np.arange(c.length) * c.step + c.start
            cols.append(_column(positions, x.shape[c.dim], batch, [where[i]], dt, False))
            axes.append(c.dim)
    u = lax.reshape(_fit(name, v, shape), [_extent(c, batch_adv) for c in dims])
    return lax.scatter(x, _stack(cols, len(batch)), lax.transpose(u, order), axes, kind)


def _extent(c: Any, batch_adv: tuple[int, ...]) -> int:
    """The size of a result dimension: advanced batch dimension `c`, or slice entry `c`."""
    return batch_adv[c] if isinstance(c, int) else c.length


class _IndexUpdateRef:
    """`x.at[idx]`: the positions `idx` of `x`, to read or functionally update."""

    __slots__ = ("_x", "_idx")

    def __init__(self, x: Any, idx: Any):
        self._x = x
        self._idx = idx

    def __repr__(self) -> str:
        return f"_IndexUpdateRef({self._x!r}, {self._idx!r})"

    def get(self, mode: Any = None, fill_value: Any = None, *, indices_are_sorted: bool = False,
            unique_indices: bool = False) -> Any:
        """`x[idx]`, with an out-of-range `mode` ('clip', 'fill', 'drop', 'promise_in_bounds')."""
        return _get("x.at[...].get", _operand("x.at", self._x), self._idx, mode, fill_value)

    def set(self, values: Any, mode: Any = None, *, indices_are_sorted: bool = False,
            unique_indices: bool = False) -> Any:
        """A copy of `x` with `x[idx] = values` (out-of-range updates dropped by default)."""
        return _update("x.at[...].set", self._x, self._idx, values, "set", mode)

    def add(self, values: Any, mode: Any = None, *, indices_are_sorted: bool = False,
            unique_indices: bool = False) -> Any:
        """A copy of `x` with `x[idx] += values`; repeated indices accumulate."""
        return _update("x.at[...].add", self._x, self._idx, values, "add", mode)

    def multiply(self, values: Any, mode: Any = None, *, indices_are_sorted: bool = False,
                 unique_indices: bool = False) -> Any:
        """A copy of `x` with `x[idx] *= values`; repeated indices accumulate."""
        return _update("x.at[...].multiply", self._x, self._idx, values, "mul", mode)

    mul = multiply

    def min(self, values: Any, mode: Any = None, *, indices_are_sorted: bool = False,
            unique_indices: bool = False) -> Any:
        """A copy of `x` with `x[idx] = minimum(x[idx], values)`."""
        return _update("x.at[...].min", self._x, self._idx, values, "min", mode)

    def max(self, values: Any, mode: Any = None, *, indices_are_sorted: bool = False,
            unique_indices: bool = False) -> Any:
        """A copy of `x` with `x[idx] = maximum(x[idx], values)`."""
        return _update("x.at[...].max", self._x, self._idx, values, "max", mode)


class _AtIndexer:
    """`x.at`: indexing it (`x.at[idx]`) names positions to read or functionally update."""

    __slots__ = ("_x",)

    def __init__(self, x: Any):
        self._x = x

    def __getitem__(self, idx: Any) -> _IndexUpdateRef:
        return _IndexUpdateRef(self._x, idx)

    def __repr__(self) -> str:
        return f"_AtIndexer({self._x!r})"


# --- Functions -----------------------------------------------------------------------------

def _axis(name: str, axis: Any, x_type: TensorType) -> int:
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name}: axis must be an integer, not {axis!r}") from None
    if not -x_type.ndim <= a < x_type.ndim:
        raise ShapeError(f"{name}: axis {a} is out of range for {x_type}")
    return a % x_type.ndim


def _int_operand(name: str, i: Any) -> Any:
    if isinstance(i, (list, tuple)) and not _has_tracer(i) and np.asarray(i).size == 0:
        i = np.zeros(np.shape(i), np.int32)  # an empty list is an empty integer index (NumPy)
    i = asarray(i)
    if not dtypes.is_integer(i.dtype):
        raise DTypeError(f"{name}: indices must be integers, not {i.type}")
    return i


def take(a: Any, indices: Any, axis: Any = None, mode: Any = None, fill_value: Any = None, *,
         unique_indices: bool = False, indices_are_sorted: bool = False) -> Any:
    """Elements of `a` at `indices` along `axis` (of the flattened `a` when None), as `jnp.take`.

    Negative indices count from the end in mode 'fill' (the default), where indices still out of
    range give `fill_value` (NaN for floats, the minimum of signed integers, ...). Mode 'clip'
    clamps into `[0, n)` without counting from the end (as NumPy and JAX do: -1 reads element
    0), and 'wrap' takes indices modulo the axis size.
    """
    a = asarray(a)
    i = _int_operand("take", indices)
    if axis is None:
        a, axis = lax.reshape(a, (a.size,)), 0
    axis = _axis("take", axis, a.type)
    mode = "fill" if mode is None else mode
    if mode == "raise":
        raise ValueError("take: mode 'raise' would need the values of the indices; use 'fill', "
                         "'clip' or 'wrap'")
    if mode not in ("fill", "clip", "wrap"):
        raise ValueError(f"take: mode must be one of 'fill', 'clip' or 'wrap', not {mode!r}")
    n = a.shape[axis]
    if n == 0 and i.size:
        raise IndexOutOfBounds(f"take: cannot take {i.type} indices from axis {axis} of size 0 "
                               f"({a.type})")
    if mode == "wrap" and n:
        i, mode = remainder(i, n), "clip"
    elif mode == "clip" and not dtypes.is_unsigned(i.dtype):
        i = lax.max(i, 0)
    return _get("take", a, (slice(None),) * axis + (i,), mode, fill_value)


def _along_axis(name: str, a: Any, i: Any, axis: Any, clamp: bool
                ) -> tuple[Any, list[Any], tuple[int, ...]]:
    """(operand, index columns, result shape) of `take_along_axis`/`put_along_axis`: the
    indices on `axis`, and positions along every other dimension (broadcast NumPy-style)."""
    if axis is None:
        if i.ndim != 1:
            raise ShapeError(f"{name}: with axis=None the indices must be 1-d, not {i.type}")
        a, axis = lax.reshape(a, (a.size,)), 0
    axis = _axis(name, axis, a.type)
    if a.ndim != i.ndim:
        raise ShapeError(f"{name}: indices {i.type} must have the rank of the array {a.type}")
    shape = []
    for d, (m, k) in enumerate(zip(a.shape, i.shape)):
        if d != axis and m != k and 1 not in (m, k):
            raise ShapeError(f"{name}: indices {i.type} do not broadcast against {a.type} "
                             f"outside axis {axis}")
        shape.append(k if d == axis or m == 1 else m)
    batch = tuple(shape)
    dt = _index_dtype([i], a.shape)
    cols = []
    for d in range(a.ndim):
        if d == axis:
            cols.append(_column(i, a.shape[d], batch, range(a.ndim), dt, clamp))
        else:
            pos = np.arange(batch[d]) if a.shape[d] == batch[d] else np.zeros(batch[d], int)
            cols.append(_column(pos, a.shape[d], batch, [d], dt, False))
    return a, cols, batch


def take_along_axis(arr: Any, indices: Any, axis: Any, mode: Any = None,
                    fill_value: Any = None) -> Any:
    """`out[..., j, ...] = arr[..., indices[..., j, ...], ...]` along `axis` (NumPy), with JAX's
    out-of-range modes (default 'fill')."""
    name = "take_along_axis"
    _check_mode(name, mode)
    a, cols, batch = _along_axis(name, asarray(arr), _int_operand(name, indices), axis, False)
    if 0 in a.shape and 0 not in batch:  # every index is out of range: zeros, as in JAX
        return lax.broadcast_in_dim(Array(np.zeros((), a.dtype), a.weak), batch, ())
    clip = mode in ("clip", "promise_in_bounds")
    return _gather(name, a, cols, range(a.ndim), batch, "clip" if clip else "fill", fill_value)


def put_along_axis(arr: Any, indices: Any, values: Any, axis: Any, inplace: bool = True,
                   mode: Any = None) -> Any:
    """A copy of `arr` with `values` written where `take_along_axis` would read. Arrays are
    immutable, so `inplace=False` must be passed (as in jax.numpy)."""
    name = "put_along_axis"
    if inplace:
        raise ValueError(f"{name}: arrays are immutable; pass inplace=False and use the result")
    _check_mode(name, mode)
    a = asarray(arr)
    clip = mode in ("clip", "promise_in_bounds")
    flat, cols, batch = _along_axis(name, a, _int_operand(name, indices), axis, clip)
    u = _fit(name, _updates(name, a, values), batch)
    out = lax.scatter(flat, _stack(cols, len(batch)), u, range(flat.ndim), "set")
    return lax.reshape(out, a.shape)


def put(a: Any, ind: Any, v: Any, mode: Any = None, *, inplace: bool = True) -> Any:
    """A copy of `a` with the flat positions `ind` set to `v` (repeated to the length of `ind`),
    as `jnp.put`. Arrays are immutable, so `inplace=False` must be passed. With no mode, negative
    indices count from the end and the rest are clamped into range (JAX's behaviour); 'clip'
    clamps without counting from the end and 'wrap' takes indices modulo `a.size`."""
    name = "put"
    if inplace:
        raise ValueError(f"{name}: arrays are immutable; pass inplace=False and use the result")
    a = asarray(a)
    i = _int_operand(name, ind)
    u = _updates(name, a, v)
    if mode not in (None, "clip", "wrap"):
        raise ValueError(f"{name}: mode must be None, 'clip' or 'wrap', not {mode!r}")
    if not (a.size and i.size and u.size):
        return a
    i, u = lax.reshape(i, (i.size,)), lax.reshape(u, (u.size,))
    if u.size < i.size:  # NumPy repeats the values to the number of indices
        u = lax.concatenate([u] * -(-i.size // u.size), 0)
    u = lax.slice(u, (0,), (i.size,))
    if mode == "wrap":
        i = remainder(i, a.size)
    elif mode == "clip" and not dtypes.is_unsigned(i.dtype):
        i = lax.max(i, 0)
    flat = _update(name, lax.reshape(a, (a.size,)), i, u, "set", "clip")
    return lax.reshape(flat, a.shape)


def _starts(name: str, start_indices: Any) -> list[Any]:
    if type(start_indices) in (Tracer, Array) or isinstance(start_indices, np.ndarray):
        if start_indices.ndim != 1:
            raise ShapeError(f"{name}: start indices must be a sequence or a 1-d array, not "
                             f"{asarray(start_indices).type}")
        return [start_indices[k] for k in range(start_indices.shape[0])]
    if not isinstance(start_indices, (list, tuple)):
        raise TypeError(f"{name}: start indices must be a sequence, not "
                        f"{type(start_indices).__name__}")
    return list(start_indices)


def _clamped_start(name: str, s: Any, n: int, size: int) -> Any:
    s = _scalar_index(name, s, n)
    return s if type(s) is Tracer else min(max(s, 0), n - size)


def dynamic_slice(operand: Any, start_indices: Any, slice_sizes: Sequence[int]) -> Any:
    """The window of static `slice_sizes` at (possibly symbolic) `start_indices`, as
    `jax.lax.dynamic_slice`: negative starts count from the end, and starts are clamped so the
    window fits."""
    x = asarray(operand)
    starts = _starts("dynamic_slice", start_indices)
    try:
        sizes = [operator.index(s) for s in slice_sizes]
    except TypeError:
        raise TypeError(f"dynamic_slice: slice sizes must be integers, not {slice_sizes!r}"
                        ) from None
    if len(starts) != x.ndim or len(sizes) != x.ndim:
        raise ShapeError(f"dynamic_slice: {x.type} needs {x.ndim} start indices and slice "
                         f"sizes, got {len(starts)} and {len(sizes)}")
    if any(not 0 <= s <= n for s, n in zip(sizes, x.shape)):
        raise ShapeError(f"dynamic_slice: slice sizes {sizes} do not fit in {x.type}")
    return lax.dynamic_slice(x, [_clamped_start("dynamic_slice", s, n, k)
                                 for s, n, k in zip(starts, x.shape, sizes)], sizes)


def dynamic_update_slice(operand: Any, update: Any, start_indices: Any) -> Any:
    """A copy of `operand` with `update` written at (possibly symbolic) `start_indices`, as
    `jax.lax.dynamic_update_slice` (starts clamped so the update fits)."""
    x, u = asarray(operand), asarray(update)
    if u.dtype != x.dtype:
        if not u.weak:
            raise DTypeError(f"dynamic_update_slice: the update {u.type} must have the "
                             f"operand's dtype ({x.type})")
        u = lax.convert(u, x.dtype)
    starts = _starts("dynamic_update_slice", start_indices)
    if u.ndim != x.ndim or len(starts) != x.ndim or any(
            k > n for k, n in zip(u.shape, x.shape)):
        raise ShapeError(f"dynamic_update_slice: the update {u.type} must fit in {x.type}, "
                         f"with one start index per dimension (got {len(starts)})")
    return lax.dynamic_update_slice(x, u, [_clamped_start("dynamic_update_slice", s, n, k)
                                           for s, n, k in zip(starts, x.shape, u.shape)])


def dynamic_slice_in_dim(operand: Any, start_index: Any, slice_size: int, axis: int = 0) -> Any:
    """`dynamic_slice` along one axis: `slice_size` elements from `start_index`."""
    x = asarray(operand)
    axis = _axis("dynamic_slice_in_dim", axis, x.type)
    starts: list[Any] = [0] * x.ndim
    starts[axis] = start_index
    sizes = list(x.shape)
    sizes[axis] = slice_size
    return dynamic_slice(x, starts, sizes)


def dynamic_index_in_dim(operand: Any, index: Any, axis: int = 0, keepdims: bool = True) -> Any:
    """The element at (possibly symbolic) `index` along `axis`, clamped into range."""
    x = asarray(operand)
    y = dynamic_slice_in_dim(x, index, 1, axis)
    return y if keepdims else lax.squeeze(y, [_axis("dynamic_index_in_dim", axis, x.type)])
