"""Element types and how they combine.

Dtypes are NumPy dtype objects (bfloat16 comes from `ml_dtypes`), named in programs by short
names (`f32`, `bf16`, `u8`, `c64`, `bool`). Defaults are 32-bit: a Python float becomes `f32`, a
Python int `i32`. An explicit dtype is never silently changed: a float64 NumPy array stays `f64`.

Promotion follows the Array API table (the NumPy 2 rules) with two extensions JAX users rely on:
integers combined with floats give the float (`i32 + f16 -> f16`), and Python scalars are *weak*:
they take the dtype of the array they meet (`bf16 + 1.0 -> bf16`, `u8 * 2 -> u8`) unless their kind
is higher (`i32 * 2.5 -> f32`, the default float). A value created from a Python scalar carries a
`weak` flag in its type so that this keeps working after staging.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import ml_dtypes
import numpy as np

from dsl.errors import DTypeError

bool_ = np.dtype(np.bool_)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
float16, float32, float64 = (np.dtype(t) for t in (np.float16, np.float32, np.float64))
bfloat16 = np.dtype(ml_dtypes.bfloat16)
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)

SHORT_NAMES: dict[np.dtype, str] = {
    bool_: "bool",
    int8: "i8", int16: "i16", int32: "i32", int64: "i64",
    uint8: "u8", uint16: "u16", uint32: "u32", uint64: "u64",
    float16: "f16", bfloat16: "bf16", float32: "f32", float64: "f64",
    complex64: "c64", complex128: "c128",
}
BY_SHORT_NAME: dict[str, np.dtype] = {v: k for k, v in SHORT_NAMES.items()}
ALL: tuple[np.dtype, ...] = tuple(SHORT_NAMES)

SIGNED = (int8, int16, int32, int64)
UNSIGNED = (uint8, uint16, uint32, uint64)
INTEGER = SIGNED + UNSIGNED
FLOATING = (float16, bfloat16, float32, float64)
COMPLEX = (complex64, complex128)
INEXACT = FLOATING + COMPLEX
NUMERIC = INTEGER + INEXACT

_KIND_RANK = {"b": 0, "i": 1, "u": 1, "f": 2, "V": 2, "c": 3}  # bfloat16's numpy kind is 'V'
_DEFAULT_BY_RANK = {0: bool_, 1: int32, 2: float32, 3: complex64}


def canonicalize(dtype: Any) -> np.dtype:
    """A NumPy dtype from anything naming one: `np.float32`, `'f32'`, `'float32'`, `float`, ...

    Python's `int`, `float` and `complex` mean the 32-bit defaults (as in JAX).
    """
    if dtype in SHORT_NAMES and isinstance(dtype, np.dtype):
        return dtype
    if dtype is int:
        return int32
    if dtype is float:
        return float32
    if dtype is complex:
        return complex64
    if dtype is bool:
        return bool_
    if isinstance(dtype, str) and dtype in BY_SHORT_NAME:
        return BY_SHORT_NAME[dtype]
    if isinstance(dtype, str) and dtype == "bfloat16":
        return bfloat16
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{dtype!r} is not a dtype") from None
    if dt not in SHORT_NAMES:
        raise DTypeError(f"dtype {dt} is not supported (supported: {', '.join(BY_SHORT_NAME)})")
    return dt


def short_name(dtype: np.dtype) -> str:
    return SHORT_NAMES[dtype]


def kind_rank(dtype: np.dtype) -> int:
    """0 bool, 1 integer, 2 floating, 3 complex."""
    return _KIND_RANK[dtype.kind]


def is_bool(dtype: np.dtype) -> bool:
    return dtype == bool_


def is_integer(dtype: np.dtype) -> bool:
    return dtype.kind in "iu"


def is_unsigned(dtype: np.dtype) -> bool:
    return dtype.kind == "u"


def is_floating(dtype: np.dtype) -> bool:
    return dtype in FLOATING


def is_complex(dtype: np.dtype) -> bool:
    return dtype.kind == "c"


def is_inexact(dtype: np.dtype) -> bool:
    return dtype in INEXACT


def real_dtype(dtype: np.dtype) -> np.dtype:
    """The real counterpart of a complex dtype (`c64 -> f32`); other dtypes unchanged."""
    return {complex64: float32, complex128: float64}.get(dtype, dtype)


def complex_dtype(dtype: np.dtype) -> np.dtype:
    """The complex dtype holding `dtype` (`f64 -> c128`, anything narrower -> `c64`)."""
    return complex128 if dtype in (float64, complex128) else complex64


def finfo(dtype: Any) -> Any:
    return ml_dtypes.finfo(canonicalize(dtype))


def iinfo(dtype: Any) -> Any:
    return ml_dtypes.iinfo(canonicalize(dtype))


def _promote_strong(a: np.dtype, b: np.dtype) -> np.dtype:
    if a == b:
        return a
    ra, rb = kind_rank(a), kind_rank(b)
    if ra != rb:
        hi, lo = (a, b) if ra > rb else (b, a)
        if is_complex(hi) and is_floating(lo):
            return complex128 if float64 in (lo, real_dtype(hi)) else hi
        return hi  # bool < int < float: the higher kind wins, as in JAX
    if is_floating(a):
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a.itemsize > b.itemsize else b
    if is_complex(a):
        return a if a.itemsize > b.itemsize else b
    if a.kind == b.kind:
        return a if a.itemsize > b.itemsize else b
    s, u = (a, b) if a.kind == "i" else (b, a)
    if s.itemsize > u.itemsize:
        return s
    if u.itemsize == 8:
        return float64  # i64 cannot hold u64: NumPy 2 gives f64, never a wrapped integer
    return np.dtype(f"int{u.itemsize * 16}")


@lru_cache(maxsize=None)
def promote(a: np.dtype, a_weak: bool, b: np.dtype, b_weak: bool) -> tuple[np.dtype, bool]:
    """The common (dtype, weak) of two operands under the promotion rules above."""
    if a_weak and b_weak:
        hi = a if kind_rank(a) >= kind_rank(b) else b
        return hi, True
    if a_weak or b_weak:
        (w, s) = (a, b) if a_weak else (b, a)
        if kind_rank(w) <= kind_rank(s):
            return s, False
        # a weak scalar of a higher kind: JAX's lattice puts the weak kind above every
        # integer, so `i32 * 1.5` is a weak f32; a weak complex with a strong float is complex
        # of that float's width (strong)
        if is_complex(w) and is_floating(s):
            return complex_dtype(s), False
        return _DEFAULT_BY_RANK[kind_rank(w)], True
    return _promote_strong(a, b), False


def result_type(*operands: tuple[np.dtype, bool]) -> tuple[np.dtype, bool]:
    """The promoted (dtype, weak) of several (dtype, weak) operands."""
    if not operands:
        raise DTypeError("result_type needs at least one operand")
    dt, weak = operands[0]
    for other, other_weak in operands[1:]:
        dt, weak = promote(dt, weak, other, other_weak)
    return dt, weak


def scalar_dtype(value: Any) -> np.dtype:
    """The (weak) dtype of a Python scalar: bool, i32 (i64 if it does not fit), f32, c64."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return int32
        if -(2**63) <= value < 2**64:
            return int64 if value < 2**63 else uint64
        raise DTypeError(f"Python int {value} does not fit in 64 bits")
    if isinstance(value, float):
        return float32
    if isinstance(value, complex):
        return complex64
    raise DTypeError(f"{type(value).__name__} is not a Python scalar")
