"""The values inside a program's text, for `dsl.parser`: literal operands (scalars and nested
lists, checked against the shape and dtype of their type), and op parameters (each parsed value
checked against, and converted to, the type of the op's field).

The literal readers report errors through a `fail(token, message)` callback (the parser's
`Parser.fail`), which raises the `ParseError` naming the token's line and column.
"""

from __future__ import annotations

import types as pytypes
import typing
from collections.abc import Callable
from typing import Any

import numpy as np

from dsl import dtypes
from dsl.lexer import Token
from dsl.printer import float_from_text, format_type
from dsl.types import TensorType

Fail = Callable[[Token, str], typing.NoReturn]


# ---------------------------------------------------------------------------------------------
# Literal values.

def _int_text(s: str) -> bool:
    body = s[1:] if s[:1] in "+-" else s
    return body.isdigit()


def _float_part(s: str, i: int) -> int:
    """The end of the float component of `s` starting at `i` (0 if there is none)."""
    j = i + (s[i: i + 1] in ("+", "-"))
    if s.startswith("nan", j):
        j += 3
        if s.startswith("0x", j):
            k = j + 2
            while k < len(s) and s[k] in "0123456789abcdefABCDEF":
                k += 1
            j = k if k > j + 2 else j
        return j
    if s.startswith("inf", j):
        return j + 3
    k = j
    while k < len(s) and s[k].isdigit():
        k += 1
    if k < len(s) and s[k] == ".":
        k += 1
        while k < len(s) and s[k].isdigit():
            k += 1
    if k == j or s[j:k] == ".":
        return 0
    if k < len(s) and s[k] in "eE":
        m = k + 1 + (s[k + 1: k + 2] in ("+", "-"))
        e = m
        while e < len(s) and s[e].isdigit():
            e += 1
        if e > m:
            k = e
    return k


def _is_float_text(s: str) -> bool:
    return bool(s) and _float_part(s, 0) == len(s)


def _scalar(tok: Token, dt: np.dtype, fail: Fail) -> np.ndarray:
    """The 0-d array of dtype `dt` written as `tok`."""
    s = tok.text
    if dt == dtypes.bool_:
        if s not in ("True", "False"):
            fail(tok, f"expected True or False for a bool literal, got {s!r}")
        return np.asarray(s == "True")
    if dtypes.is_integer(dt):
        if not _int_text(s):
            fail(tok, f"expected an integer for a {dtypes.short_name(dt)} literal, got {s!r}")
        v, info = int(s), np.iinfo(dt)
        if not info.min <= v <= info.max:
            fail(tok, f"{v} is out of range for {dtypes.short_name(dt)}")
        return np.asarray(v, dt)
    if dtypes.is_complex(dt):
        k = _float_part(s, 0)
        m = _float_part(s, k) if k and s[k: k + 1] in ("+", "-") else 0
        if not k or not m or s[m:] != "j":
            fail(tok, f"expected a complex value like 1.0-2.0j, got {s!r}")
        rdt = dtypes.real_dtype(dt)
        out = np.zeros((), dt)
        out.real = float_from_text(s[:k], rdt)
        out.imag = float_from_text(s[k:m], rdt)
        return out
    if not _is_float_text(s):
        fail(tok, f"expected a number for a {dtypes.short_name(dt)} literal, got {s!r}")
    return float_from_text(s, dt)


Nested = Any  # a Token, or a list of Nested


def _check_nesting(node: Nested, shape: tuple[int, ...], tok: Token, t: TensorType,
                   fail: Fail) -> None:
    if not shape:
        if isinstance(node, list):
            fail(tok, f"literal nests deeper than its type {format_type(t)}")
        return
    if not isinstance(node, list) or len(node) != shape[0]:
        fail(tok, f"literal does not have the shape of its type {format_type(t)}")
    for x in node:  # type: ignore[union-attr]
        _check_nesting(x, shape[1:], tok, t, fail)


def _flat(node: Nested, out: list[Token]) -> None:
    if isinstance(node, Token):
        out.append(node)
    else:
        for x in node:
            _flat(x, out)


def _literal_value(node: Nested, t: TensorType, tok: Token, fail: Fail) -> np.ndarray:
    if isinstance(node, Token):  # a scalar, or one value filling a whole array
        v = _scalar(node, t.dtype, fail)
        return v if not t.shape else np.full(t.shape, v, t.dtype)
    _check_nesting(node, t.shape, tok, t, fail)
    toks: list[Token] = []
    _flat(node, toks)
    out = np.empty(len(toks), t.dtype)
    for i, x in enumerate(toks):
        out[i] = _scalar(x, t.dtype, fail)
    return out.reshape(t.shape)


# ---------------------------------------------------------------------------------------------
# Parameter types: parsed values are checked against (and converted to) each op field's type.

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    h = _HINTS.get(cls)
    if h is None:
        try:
            h = typing.get_type_hints(cls)
        except Exception:  # an annotation we cannot resolve: rely on the attrs converters
            h = {}
        _HINTS[cls] = h
    return h


class _Mismatch(Exception):
    pass


_SIMPLE: dict[Any, Any] = {
    type(None): lambda v: v is None,
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def _coerce(v: Any, hint: Any) -> Any:
    if hint is Any:
        return v
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is pytypes.UnionType:
        for h in typing.get_args(hint):
            try:
                return _coerce(v, h)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(v, (tuple, list)):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(x, args[0]) for x in v)
        if len(args) != len(v):
            raise _Mismatch
        return tuple(_coerce(x, h) for x, h in zip(v, args))
    check = _SIMPLE.get(hint)
    if check is not None:
        if not check(v):
            raise _Mismatch
        return float(v) if hint is float else v
    if hint is np.dtype:
        if isinstance(v, str) and v in dtypes.BY_SHORT_NAME:
            return dtypes.BY_SHORT_NAME[v]
        if not isinstance(v, np.dtype):
            raise _Mismatch
        return v
    if isinstance(hint, type):
        if not isinstance(v, hint):
            raise _Mismatch
        return v
    return v  # a hint we do not model: the attrs converter and the type rule decide


def _hint_str(hint: Any) -> str:
    if isinstance(hint, type):
        return "dtype" if hint is np.dtype else hint.__name__
    return str(hint).replace("typing.", "").replace("numpy.", "np.")
