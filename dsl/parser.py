"""Reading programs back from their text form: `parse(str(p)) == p` for every program.

The grammar is the one `dsl.printer` writes (see its docstring), read by a hand-written lexer
(`dsl.lexer`) and the recursive-descent `Parser` here, which reads literal operands and op
parameters with `dsl.parse_values`:

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
kept, and `typecheck` compares them with what the sharding rules derive). Errors are
`ParseError`s naming the line, the column and what was expected.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

import attrs

from dsl import dtypes
from dsl.core import infer
from dsl.errors import CombinaxError
from dsl.ir import OPS, Atom, Eqn, Lit, Op, Program, Var
from dsl.lexer import Token, _fail, tokenize
from dsl.parse_values import (Nested, _coerce, _hint_str, _hints, _int_text, _is_float_text,
                              _literal_value, _Mismatch)
from dsl.printer import RESERVED, format_type
from dsl.types import TensorType


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
        return Lit(_literal_value(node, ty, t, self.fail), ty)

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
