"""Operands of NumPy-named functions: `asarray`, dtype promotion and broadcasting.

`asarray` turns anything array-like into an `Array` (or leaves a tracer alone). `promote_args`
is the one place where operands meet: it finds the common dtype under the promotion rules of
`dsl.dtypes` (weak Python scalars included), casts, and broadcasts NumPy-style, so that the
primitives of `dsl.np_elementwise` and `dsl.np_transcendental` only ever see operands of one
dtype and one shape (or rank-0 ones). `_float_args` also moves integers and bools to the
default float, for functions that are only defined on inexact values.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from dsl import dtypes, lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import Tracer, bind
from dsl.errors import ArgumentTypeError, CombinaxError, DTypeError, ShapeError

_PY_SCALARS = (bool, int, float, complex)
_RANK: dict[Any, int] = {"b": 0, "i": 1, "u": 1, "f": 2, "V": 2, "c": 3, int: 1, float: 2}


def asarray(x: Any, dtype: Any = None, copy: Any = None) -> Any:
    """An `Array` (or tracer) from an array-like: arrays, NumPy values, Python scalars, lists.

    Python floats become f32 (weak when a bare scalar); a NumPy float64 array stays f64.
    """
    dt = None if dtype is None else dtypes.canonicalize(dtype)
    if type(x) is Tracer or type(x) is Array:
        return x if dt is None else lax.convert(x, dt)
    if isinstance(x, _PY_SCALARS) and not isinstance(x, np.generic):
        sdt = dtypes.scalar_dtype(x)
        return Array(np.asarray(x, dtype=dt or sdt), weak=dt is None)
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype not in dtypes.SHORT_NAMES:
            raise DTypeError(f"asarray: NumPy dtype {x.dtype} is not supported")
        v = np.array(x, dtype=dt or x.dtype)  # a private, immutable copy
        return Array(v)
    if isinstance(x, (list, tuple)):
        return _from_sequence(x, dt)
    if hasattr(x, "__array__") and not isinstance(x, type):
        return asarray(np.asarray(x), dtype)
    raise ArgumentTypeError(f"asarray: {type(x).__name__} is not an array, a Python scalar or a nested "
                    "list of them")


def _from_sequence(x: list[Any] | tuple[Any, ...], dt: np.dtype | None) -> Any:
    flat: list[Any] = []
    stack: list[Any] = [x]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            flat.append(item)
    if any(type(v) is Tracer for v in flat):
        from dsl.np_manip import stack as stack_fn

        return stack_fn([asarray(v, dt) for v in x])
    if any(type(v) is Array for v in flat):
        x = _to_numpy_nested(x)
        strong = [dtypes_of(v) for v in flat if type(v) is Array and not v.weak]
    else:
        strong = []
    try:
        arr = np.asarray(x)
    except ValueError:
        raise ShapeError("asarray: the nested sequence is ragged (its rows differ in length)"
                         ) from None
    if arr.dtype == object:
        raise ArgumentTypeError("asarray: the nested sequence is ragged or holds non-numbers")
    if dt is None:
        kinds = [dtypes.kind_rank(dtypes.scalar_dtype(v)) for v in flat if isinstance(
            v, _PY_SCALARS)]
        dt, _ = dtypes.result_type(*(strong or [(np.dtype(arr.dtype) if arr.dtype in
                                                  dtypes.SHORT_NAMES else dtypes.float32,
                                                  bool(kinds))]))
        if kinds and not strong:
            dt = {0: dtypes.bool_, 1: dtypes.int32, 2: dtypes.float32,
                  3: dtypes.complex64}[builtins.max(kinds)]
            if dt == dtypes.int32 and arr.size and (arr.max() >= 2**31 or arr.min() < -2**31):
                dt = dtypes.int64
        elif not flat:  # `[]` holds no numbers: the default float, as jax.numpy has it
            dt = dtypes.float32
    return Array(np.array(arr, dtype=dt))


def _to_numpy_nested(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_to_numpy_nested(v) for v in x]
    return np.asarray(x) if type(x) is Array else x


def dtypes_of(x: Any) -> tuple[np.dtype, bool]:
    """(dtype, weak) of an operand: arrays, tracers, NumPy values, Python scalars."""
    t = type(x)
    if t is Tracer:
        ty = x._var.type
        return ty.dtype, ty.weak
    if t is Array:
        return x._value.dtype, x._weak
    if isinstance(x, (np.ndarray, np.generic)):  # before Python scalars: np.float64 is a float
        if x.dtype not in dtypes.SHORT_NAMES:
            raise DTypeError(f"NumPy dtype {x.dtype} is not supported")
        return x.dtype, False
    if isinstance(x, _PY_SCALARS):
        return dtypes.scalar_dtype(x), True
    return asarray(x).dtype, False


_SCALARS: dict[tuple[Any, ...], Array] = {}


def _cast_scalar(x: Any, dt: np.dtype, weak: bool) -> Array:
    """A Python scalar as a rank-0 value of `dt`, refusing values that do not fit.

    Arrays are immutable, so the constants are cached and shared.
    """
    key = (type(x), x, dt, weak)
    hit = _SCALARS.get(key)
    if hit is not None:
        return hit
    if len(_SCALARS) > 4096:
        _SCALARS.clear()
    out = _SCALARS[key] = _make_scalar(x, dt, weak)
    return out


def _make_scalar(x: Any, dt: np.dtype, weak: bool) -> Array:
    if isinstance(x, int) and not isinstance(x, bool) and dtypes.is_integer(dt):
        info = np.iinfo(dt)
        if not info.min <= x <= info.max:
            raise DTypeError(f"Python int {x} does not fit in {dtypes.short_name(dt)} "
                             f"(range {info.min}..{info.max})")
    if isinstance(x, complex) and not dtypes.is_complex(dt):
        raise DTypeError(f"complex {x} cannot be cast to {dtypes.short_name(dt)}")
    return Array(np.asarray(x, dtype=dt), weak)


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes, with a `ShapeError` naming them on a mismatch."""
    nd = builtins.max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        for i, n in enumerate(s, nd - len(s)):
            if n != out[i]:
                if out[i] == 1:
                    out[i] = n
                elif n != 1:
                    raise ShapeError("shapes " + " and ".join(str(list(s)) for s in shapes)
                                     + " do not broadcast together")
    return tuple(out)


def promote_args(name: str, *args: Any, dtype: np.dtype | None = None,
                 broadcast: bool = True) -> list[Any]:
    """Operands of `name` cast to their common dtype (or `dtype`) and broadcast together.

    Rank-0 operands are left rank-0 (elementwise primitives accept them).
    """
    if dtype is None and len(args) == 2:  # the hot paths: arrays of one type, array and scalar
        a, b = args
        ta, tb = type(a), type(b)
        if ta is Array or ta is Tracer:
            if tb is Array or tb is Tracer:
                if a.dtype == b.dtype and a.shape == b.shape:
                    return [a, b]
            elif (tb is float or tb is int) and _RANK[a.dtype.kind] >= _RANK[tb]:
                return [a, _cast_scalar(b, a.dtype, a.weak)]
        elif (tb is Array or tb is Tracer) and (ta is float or ta is int) \
                and _RANK[b.dtype.kind] >= _RANK[ta]:
            return [_cast_scalar(a, b.dtype, b.weak), b]
    elif dtype is None and len(args) == 1 and (type(args[0]) is Array
                                               or type(args[0]) is Tracer):
        return [args[0]]
    try:
        dws = [dtypes_of(a) for a in args]
    except (TypeError, ValueError) as e:
        if isinstance(e, CombinaxError):  # keep its class (a ragged list is a ShapeError)
            raise type(e)(f"{name}: {e.raw_message}") from None
        raise ArgumentTypeError(f"{name}: {e}") from None
    dt, weak = (dtype, False) if dtype is not None else dtypes.result_type(*dws)
    out = []
    for a, (adt, aweak) in zip(args, dws):
        if isinstance(a, _PY_SCALARS) and not isinstance(a, np.generic):
            out.append(_cast_scalar(a, dt, weak))
        elif adt != dt:
            out.append(bind(P.Convert(dtype=dt, weak=weak), asarray(a)))
        else:
            out.append(a if type(a) in (Tracer, Array) else asarray(a))
    if broadcast and len(out) > 1:
        shapes = [tuple(a.shape) for a in out]
        if any(s != shapes[0] and s != () for s in shapes):
            try:
                shape = broadcast_shapes(*shapes)
            except ShapeError:
                raise ShapeError(f"{name}: operand shapes "
                                 + " and ".join(str(a.type) for a in out)
                                 + " do not broadcast together") from None
            out = [a if a.shape in ((), shape) else lax.broadcast_to_rank_shape(a, shape)
                   for a in out]
    return out


def _float_args(name: str, *args: Any) -> list[Any]:
    """Promote, then move integers and bools to the default float (NumPy's `sin(int)`)."""
    xs = promote_args(name, *args)
    dt = xs[0].dtype
    if not dtypes.is_inexact(dt):
        xs = [lax.convert(x, dtypes.float32) if not x.weak else
              bind(P.Convert(dtype=dtypes.float32), x) for x in xs]
    return xs
