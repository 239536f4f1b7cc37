"""Functional updates of indexed positions: `x.at[idx].set(v)` (and `add`, `multiply`, `min`,
`max`, and `get`).

The index is parsed as for reading (`dsl.np_index_parse`; the rules, out-of-range modes
included, are in the docstring of `dsl.np_indexing`). An update is `dynamic_update_slice` of a
window when the index is a box of static integers and unit-step slices, `scatter` otherwise.

Updates of another dtype are cast to the operand's dtype (as JAX does, which only warns for a
strong mismatch); complex values into a real operand are refused, as in NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.core import Tracer, bind
from dsl.errors import DTypeError, ShapeError
from dsl.np_elementwise import asarray, broadcast_shapes
from dsl.np_index_parse import (_broadcast_indices, _column, _Entry, _expand_bools,
                                _index_dtype, _ints_to_arrays, _is_full, _layout, _parse,
                                _scalar_index, _stack, _window)
from dsl.np_index_read import _check_mode, _get, _operand


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
