"""Reading indexed positions: `x[idx]` (`_getitem`) and `_get`, which `x.at[idx].get` and `take`
also use.

The index is parsed by `dsl.np_index_parse`; the rules, out-of-range modes included, are in the
docstring of `dsl.np_indexing`. Basic indices become `slice`, `rev`, `dynamic_slice` and one
`squeeze` or `reshape`; advanced ones one `gather` and a `transpose`. A concrete array indexed by
static basic indices takes an eager fast path through NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsl import lax
from dsl.array import Array
from dsl.core import Tracer
from dsl.np_elementwise import asarray
from dsl.np_index_parse import (IndexOutOfBounds, _broadcast_indices, _column, _Entry,
                                _expand_bools, _gather, _index_dtype, _ints_to_arrays,
                                _layout, _parse, _scalar_index, _window)


MODES = ("clip", "fill", "drop", "promise_in_bounds")


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
