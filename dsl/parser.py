"""Reading programs back from their text form: `parse(str(p)) == p` for every program.

The grammar is the one `dsl.printer` writes (see its docstring), read by a hand-written lexer and
a recursive-descent parser:

    program  := '{' 'lambda' ';' binder* '.' 'let' (eqn ';'?)* 'in' '(' atoms ')' '}'
    binder   := NAME ':' type
    eqn      := (binder+ | '(' ')') '=' OP ('[' (NAME '=' value)* ']')? atom*
    atom     := NAME | literal          literal := (scalar | list) ':' type
    type     := '~'? DTYPE '[' (dim (',' dim)*)? ']'      dim := INT ('@' axes)?

The inputs of an equation end at the end of its line (or at `;`, `in`, `}`), which is what lets
equations follow each other without separators, as in the printed block form. A `[` right after
the op's name (no space) opens its parameters; anywhere else it starts a list literal.

Each program is its own scope: bodies are closed, so a body naming a variable of the program
around it is an error. Every equation is checked as it is read: the op's type rule runs on the
input types and must give the declared output types (shardings aside: the declared ones are
kept, and `typecheck` compares them with what the sharding rules derive). Errors are `ParseError`s naming the line, the
column and what was expected.
"""

from __future__ import annotations

import difflib
import json
import types as pytypes
import typing
from typing import Any

import attrs
import numpy as np

from dsl import dtypes
from dsl.core import infer
from dsl.errors import CombinaxError, ParseError
from dsl.ir import OPS, Atom, Eqn, Lit, Op, Program, Var
from dsl.printer import RESERVED, float_from_text, format_type
from dsl.types import TensorType

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")
_PUNCT = frozenset("{}[](),;:=~@")


@attrs.define(slots=True)
class Token:
    """One token. Its text tells its kind apart from the others' (punctuation is never part of
    a word, and a string token's text keeps its quotes)."""

    kind: str  # "word", "str", "punct" or "eof"
    text: str  # as written
    line: int
    col: int  # 1-based
    end: int  # the offset just past the token in the source
    value: str = ""  # a string token's contents

    def describe(self) -> str:
        if self.kind == "eof":
            return "the end of the text"
        return f"{self.text!r}"


def tokenize(text: str) -> list[Token]:
    """Split `text` into words, strings and punctuation; `#` comments run to the line's end."""
    toks: list[Token] = []
    i, n, line, line_start = 0, len(text), 1, 0
    while i < n:
        c = text[i]
        if c == "\n":
            i += 1
            line, line_start = line + 1, i
        elif c in " \t\r":
            i += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in _WORD_CHARS:
            j = i + 1
            while j < n and text[j] in _WORD_CHARS:
                j += 1
            toks.append(Token("word", text[i:j], line, i - line_start + 1, j))
            i = j
        elif c in _PUNCT:
            toks.append(Token("punct", c, line, i - line_start + 1, i + 1))
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if j >= n or text[j] != '"':
                _fail(text, line, i - line_start + 1, "unterminated string")
            try:
                s = json.loads(text[i: j + 1])
            except ValueError:
                _fail(text, line, i - line_start + 1, "a string with valid escapes")
            toks.append(Token("str", text[i: j + 1], line, i - line_start + 1, j + 1, s))
            i = j + 1
        else:
            _fail(text, line, i - line_start + 1, f"unexpected character {c!r}")
    toks.append(Token("eof", "", line, i - line_start + 1, n))
    return toks


def _fail(text: str, line: int, col: int, message: str) -> typing.NoReturn:
    src = text.split("\n")[line - 1] if text else ""
    caret = " " * (col - 1) + "^"
    raise ParseError(f"parse: line {line}, column {col}: {message}\n    {src}\n    {caret}")


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


def _scalar(tok: Token, dt: np.dtype, p: Parser) -> np.ndarray:
    """The 0-d array of dtype `dt` written as `tok`."""
    s = tok.text
    if dt == dtypes.bool_:
        if s not in ("True", "False"):
            p.fail(tok, f"expected True or False for a bool literal, got {s!r}")
        return np.asarray(s == "True")
    if dtypes.is_integer(dt):
        if not _int_text(s):
            p.fail(tok, f"expected an integer for a {dtypes.short_name(dt)} literal, got {s!r}")
        v, info = int(s), np.iinfo(dt)
        if not info.min <= v <= info.max:
            p.fail(tok, f"{v} is out of range for {dtypes.short_name(dt)}")
        return np.asarray(v, dt)
    if dtypes.is_complex(dt):
        k = _float_part(s, 0)
        m = _float_part(s, k) if k and s[k: k + 1] in ("+", "-") else 0
        if not k or not m or s[m:] != "j":
            p.fail(tok, f"expected a complex value like 1.0-2.0j, got {s!r}")
        rdt = dtypes.real_dtype(dt)
        out = np.zeros((), dt)
        out.real = float_from_text(s[:k], rdt)
        out.imag = float_from_text(s[k:m], rdt)
        return out
    if not _is_float_text(s):
        p.fail(tok, f"expected a number for a {dtypes.short_name(dt)} literal, got {s!r}")
    return float_from_text(s, dt)


Nested = Any  # a Token, or a list of Nested


def _check_nesting(node: Nested, shape: tuple[int, ...], tok: Token, t: TensorType,
                   p: Parser) -> None:
    if not shape:
        if isinstance(node, list):
            p.fail(tok, f"literal nests deeper than its type {format_type(t)}")
        return
    if not isinstance(node, list) or len(node) != shape[0]:
        p.fail(tok, f"literal does not have the shape of its type {format_type(t)}")
    for x in node:  # type: ignore[union-attr]
        _check_nesting(x, shape[1:], tok, t, p)


def _flat(node: Nested, out: list[Token]) -> None:
    if isinstance(node, Token):
        out.append(node)
    else:
        for x in node:
            _flat(x, out)


def _literal_value(node: Nested, t: TensorType, tok: Token, p: Parser) -> np.ndarray:
    if isinstance(node, Token):  # a scalar, or one value filling a whole array
        v = _scalar(node, t.dtype, p)
        return v if not t.shape else np.full(t.shape, v, t.dtype)
    _check_nesting(node, t.shape, tok, t, p)
    toks: list[Token] = []
    _flat(node, toks)
    out = np.empty(len(toks), t.dtype)
    for i, x in enumerate(toks):
        out[i] = _scalar(x, t.dtype, p)
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


# ---------------------------------------------------------------------------------------------
# The parser.

class Parser:
    """Recursive descent over the token list of one text."""

    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.tok = self.toks[0]
        self.types: dict[str, TensorType] = {}

    # Token helpers.
    # `self.tok` is the current token; `self.tok.text == "("` is a full test (see `Token`).
    def peek(self, k: int) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.tok
        if t.kind != "eof":
            self.i += 1
            self.tok = self.toks[self.i]
        return t

    def fail(self, tok: Token, message: str) -> typing.NoReturn:
        _fail(self.text, tok.line, tok.col, message)

    def expected(self, what: str, tok: Token | None = None) -> typing.NoReturn:
        tok = tok or self.tok
        self.fail(tok, f"expected {what}, got {tok.describe()}")

    def punct(self, c: str, what: str | None = None) -> Token:
        if self.tok.text != c:
            self.expected(what or f"'{c}'")
        return self.next()

    def keyword(self, w: str) -> Token:
        if self.tok.text != w:
            self.expected(f"'{w}'")
        return self.next()

    def adjacent(self, a: Token, b: Token) -> bool:
        """`b` follows `a` with no space between them."""
        return b.kind != "eof" and b.end - len(b.text) == a.end

    # Grammar.
    def parse(self) -> Program:
        p = self.program()
        if self.tok.kind != "eof":
            self.expected("the end of the text after the program")
        return p

    def program(self) -> Program:
        self.punct("{", "'{' to start a program")
        self.keyword("lambda")
        self.punct(";")
        env: dict[str, Var] = {}
        inputs = []
        while self.tok.text != ".":
            if self.tok.kind != "word":
                self.expected("an input 'name:type' or '.' to end the inputs")
            inputs.append(self.binder(env))
        self.next()
        self.keyword("let")
        eqns = []
        while self.tok.text != "in":
            t = self.tok
            if t.kind == "eof" or self.tok.text == "}":
                self.expected("an equation or 'in'")
            eqns.append(self.eqn(env))
            if self.tok.text == ";":
                self.next()
        self.next()
        self.punct("(", "'(' to start the outputs")
        outs = []
        while self.tok.text != ")":
            outs.append(self.atom(env))
            if self.tok.text != ")":
                self.punct(",", "',' or ')' in the outputs")
        self.next()
        self.punct("}", "'}' to end the program")
        return Program(tuple(inputs), tuple(eqns), tuple(outs))

    def name(self) -> Token:
        t = self.tok
        if t.kind != "word" or not t.text.isidentifier() or t.text in RESERVED:
            self.expected("a variable name")
        return self.next()

    def binder(self, env: dict[str, Var]) -> Var:
        t = self.name()
        if t.text in env:
            self.fail(t, f"variable {t.text} is defined twice")
        self.punct(":", f"':' and a type after {t.text}")
        v = Var(self.type())
        env[t.text] = v
        return v

    def type(self) -> TensorType:
        # Programs repeat a few types many times: reuse each type read from the same tokens.
        start = self.i
        j = start
        toks = self.toks
        while j < len(toks) - 1 and toks[j].text != "]" and j - start < 64:
            j += 1
        key = "".join(t.text for t in toks[start: j + 1])
        hit = self.types.get(key)
        if hit is not None:
            self.i = j + 1
            self.tok = toks[self.i]
            return hit
        t = self.read_type()
        if self.i == j + 1:
            self.types[key] = t
        return t

    def read_type(self) -> TensorType:
        weak = False
        if self.tok.text == "~":
            self.next()
            weak = True
        t = self.tok
        if t.kind != "word" or t.text not in dtypes.BY_SHORT_NAME:
            self.expected("a type like f32[3,4] (dtypes: " + ", ".join(dtypes.BY_SHORT_NAME)
                          + ")")
        self.next()
        dt = dtypes.BY_SHORT_NAME[t.text]
        self.punct("[", f"'[' and a shape after {t.text}")
        shape: list[int] = []
        sharding: list[tuple[str, ...]] = []
        sharded = False
        if self.tok.text == "@":  # a sharded rank-0 type: f32[@()]
            self.next()
            self.punct("(")
            self.punct(")")
            sharded = True
        elif self.tok.text != "]":
            while True:
                d = self.tok
                if d.kind != "word" or not d.text.isdigit():
                    self.expected("a dimension size")
                self.next()
                shape.append(int(d.text))
                axes: tuple[str, ...] = ()
                if self.tok.text == "@":
                    self.next()
                    sharded = True
                    axes = self.axes()
                sharding.append(axes)
                if self.tok.text == "]":
                    break
                self.punct(",", "',' or ']' in the shape")
        self.punct("]")
        return TensorType(tuple(shape), dt, weak, tuple(sharding) if sharded else None)

    def axis(self) -> str:
        t = self.tok
        if t.kind == "str":
            return self.next().value
        if t.kind == "word" and t.text.isidentifier():
            return self.next().text
        self.expected("a mesh axis name")

    def axes(self) -> tuple[str, ...]:
        if self.tok.text != "(":
            return (self.axis(),)
        self.next()
        out = []
        while self.tok.text != ")":
            out.append(self.axis())
            if self.tok.text != ")":
                self.punct(",", "',' or ')' in the mesh axes")
        self.next()
        return tuple(out)

    def eqn(self, env: dict[str, Var]) -> Eqn:
        first = self.tok
        outs: list[Var] = []
        if self.tok.text == "(":
            self.next()
            self.punct(")", "')' (an equation with no outputs)")
        else:
            while self.tok.text != "=":
                outs.append(self.binder(env))
        self.next()
        op_tok = self.tok
        if op_tok.kind != "word":
            self.expected("an op name")
        self.next()
        cls = OPS.get(op_tok.text)
        if cls is None:
            close = difflib.get_close_matches(op_tok.text, list(OPS), n=5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            self.fail(op_tok, f"unknown op {op_tok.text!r}{hint}")
        params: dict[str, Any] = {}
        last = op_tok
        if self.tok.text == "[" and self.adjacent(op_tok, self.tok):
            params = self.params(op_tok, cls)
            last = self.toks[self.i - 1]
        op = self.make_op(cls, params, op_tok)
        ins = []
        while True:
            t = self.tok
            if t.line != last.line or not (t.kind == "word" and t.text != "in"
                                           or self.tok.text == "["):
                break
            ins.append(self.atom(env))
            last = self.toks[self.i - 1]
        in_types = tuple(a.type for a in ins)
        try:
            got = infer(op, in_types)
        except (CombinaxError, TypeError, ValueError) as e:
            msg = e.raw_message if isinstance(e, CombinaxError) else str(e)
            self.fail(op_tok, msg)
        declared = tuple(v.type for v in outs)
        if len(got) != len(declared) or any(
                (a.shape, a.dtype, a.weak) != (b.shape, b.dtype, b.weak)
                for a, b in zip(got, declared)):
            fmt = ", ".join
            self.fail(first, f"{op.name}: declared output types "
                             f"({fmt(format_type(t) for t in declared)}) but its type rule "
                             f"gives ({fmt(format_type(t) for t in got)})")
        return Eqn(op, tuple(ins), tuple(outs))

    def params(self, op_tok: Token, cls: type[Op]) -> dict[str, Any]:
        self.next()
        fields = {f.name: f for f in attrs.fields(cls)}
        out: dict[str, Any] = {}
        while self.tok.text != "]":
            k = self.tok
            if k.kind != "word" or not k.text.isidentifier():
                self.expected("a parameter 'name=value' or ']'")
            self.next()
            if k.text not in fields:
                self.fail(k, f"{op_tok.text} has no parameter {k.text!r} (its parameters: "
                             f"{', '.join(fields) or 'none'})")
            if k.text in out:
                self.fail(k, f"parameter {k.text} given twice")
            self.punct("=", f"'=' after {k.text}")
            v_tok = self.tok
            v = self.value()
            hint = _hints(cls).get(k.text, Any)
            try:
                out[k.text] = _coerce(v, hint)
            except _Mismatch:
                self.fail(v_tok, f"parameter {k.text} of {op_tok.text} expects "
                                 f"{_hint_str(hint)}")
        self.next()
        return out

    def make_op(self, cls: type[Op], params: dict[str, Any], op_tok: Token) -> Op:
        missing = [f.name for f in attrs.fields(cls)
                   if f.default is attrs.NOTHING and f.name not in params]
        if missing:
            self.fail(op_tok, f"{op_tok.text} needs the parameters {', '.join(missing)}")
        try:
            return cls(**params)
        except (CombinaxError, TypeError, ValueError) as e:
            self.fail(op_tok, f"bad parameters for {op_tok.text}: {e}")

    def value(self) -> Any:
        t = self.tok
        if t.kind == "punct":
            if t.text == "{":
                return self.program()
            if t.text in "([":
                close = ")" if t.text == "(" else "]"
                self.next()
                items = []
                trailing = False
                while self.tok.text != close:
                    items.append(self.value())
                    trailing = False
                    if self.tok.text != close:
                        self.punct(",", f"',' or '{close}'")
                        trailing = True
                self.next()
                if close == "]":
                    return items
                return items[0] if len(items) == 1 and not trailing else tuple(items)
            if t.text == "~":
                return self.type()
            self.expected("a parameter value")
        if t.kind == "str":
            return self.next().value
        if t.kind != "word":
            self.expected("a parameter value")
        s = t.text
        if s in dtypes.BY_SHORT_NAME:
            nxt = self.peek(1)
            if nxt.kind == "punct" and nxt.text == "[" and self.adjacent(t, nxt):
                return self.type()
            self.next()
            return dtypes.BY_SHORT_NAME[s]
        self.next()
        if s in ("None", "True", "False"):
            return {"None": None, "True": True, "False": False}[s]
        if _int_text(s):
            return int(s)
        if s in ("nan", "-nan", "inf", "-inf", "+inf") or _is_float_text(s):
            return float(s)
        if s.isidentifier():
            return s
        self.fail(t, f"expected a parameter value, got {s!r}")

    def atom(self, env: dict[str, Var]) -> Atom:
        t = self.tok
        if self.tok.text == "[":
            node = self.nested()
        elif t.kind == "word":
            self.next()
            if self.tok.text != ":" and t.text.isidentifier() and t.text not in RESERVED:
                v = env.get(t.text)
                if v is None:
                    self.fail(t, f"unknown variable {t.text} (bodies are closed: pass outer "
                                 "values in as inputs)")
                return v
            node = t
        else:
            self.expected("a variable or a literal 'value:type'")
        self.punct(":", "':' and the literal's type")
        ty = self.type()
        return Lit(_literal_value(node, ty, t, self), ty)

    def nested(self) -> Nested:
        self.punct("[")
        items: list[Nested] = []
        while self.tok.text != "]":
            if self.tok.text == "[":
                items.append(self.nested())
            elif self.tok.kind == "word":
                items.append(self.next())
            else:
                self.expected("a literal element")
            if self.tok.text != "]":
                self.punct(",", "',' or ']' in the literal")
        self.next()
        return items


def parse(text: str) -> Program:
    """The program written as `text` (the inverse of `str(program)`).

    Raises `ParseError` naming the line and column of the first problem: a syntax error, an
    unknown op (with the closest names), an unknown variable, a parameter of the wrong type, or
    an equation whose declared output types differ from what its type rule gives.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse: expected program text (a str), got {type(text).__name__}")
    return Parser(text).parse()


__all__ = ["parse", "tokenize"]
