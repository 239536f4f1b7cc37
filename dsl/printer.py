"""The text form of programs: `str(program)` prints it, `dsl.parser.parse` reads it back.

The form is jaxpr-like (see DESIGN section 3):

    { lambda ; a:f32[8] b:f32[]. let
        c:f32[8] = mul a b
        d:f32[] = reduce_sum[axes=(0,)] c
      in (d,) }

A program binds its typed inputs after `lambda ;`, then lists its equations after `let`, one a
line (`outputs = op[params] inputs`), and ends with `in (outputs,)`. Inputs of an equation are
variable names or literals written `value:type` (`2.0:f32[]`, `[1,2]:i32[2]`; a non-scalar array
whose elements are all the same prints that one value with the array's type, `0.0:f32[512,512]`).
Parameters are `name=value` with Python-like values: ints, `True`/`False`/`None`, tuples
(`(0,)`), dtypes by short name (`f32`), strings bare when they read as identifiers and cannot be
mistaken for another kind of value (otherwise double-quoted).

A combinator's bodies are nested programs. An op that holds bodies opens its parameter list in a
block: each body on a line of its own (`body={ lambda ; ... }`), then the other parameters on one
line, then `] inputs`. A short body without nested bodies of its own is written on one line with
its equations separated by `;`; a longer one is an indented block like the top level.

Names are `a`, `b`, ..., `z`, `ba`, `bb`, ... in the order the printer meets definitions (nested
bodies included), skipping the words the parser reserves. Floats print the shortest text that
reads back to the same bits; `nan`, `-nan`, `inf`, `-inf`, `-0.0` are written as such, and a NaN
with another bit pattern as `nan0x7FC00001` (its bits in hex). Complex values print `re+imj`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from dsl import dtypes
from dsl.ir import Atom, Eqn, Lit, Op, Program, Var
from dsl.types import TensorType

RESERVED = frozenset({"in", "let", "lambda", "nan", "inf"})
"""Lower-case words that never name a variable (the parser reads them as keywords/values)."""

VALUE_WORDS = frozenset({"None", "True", "False", "nan", "inf", "-nan", "-inf"})
"""Bare words that mean something other than a string when they are parameter values."""

WIDTH = 100
"""A nested body is written on one line when that line fits in this many columns."""


def var_name(n: int) -> str:
    """The `n`-th name of the base-26 sequence `a, b, ..., z, ba, bb, ...` (no skipping)."""
    digits = []
    while True:
        n, r = divmod(n, 26)
        digits.append(chr(ord("a") + r))
        if n == 0:
            return "".join(reversed(digits))


# ---------------------------------------------------------------------------------------------
# Types and values.

def _is_bare(s: str) -> bool:
    return s.isidentifier() and s.isascii()


def _axis_name(a: str) -> str:
    return a if _is_bare(a) else json.dumps(a)


def format_type(t: TensorType) -> str:
    """`f32[3,4]`, `~f32[]`, `f32[512@data,512]`, `f32[8@(data,model)]`.

    A type whose sharding is present but replicates every dimension writes `@()` on each
    dimension (and `[@()]` at rank 0), so that it reads back as sharded, not as unsharded.
    """
    sh = t.sharding
    explicit = sh is not None and not any(sh)
    dims = []
    for i, n in enumerate(t.shape):
        axes = sh[i] if sh is not None and i < len(sh) else ()
        if len(axes) == 1:
            dims.append(f"{n}@{_axis_name(axes[0])}")
        elif axes or explicit:
            dims.append(f"{n}@({','.join(_axis_name(a) for a in axes)})")
        else:
            dims.append(str(n))
    if explicit and not t.shape:
        dims.append("@()")
    return f"{'~' if t.weak else ''}{dtypes.short_name(t.dtype)}[{','.join(dims)}]"


_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _bits(x: np.ndarray) -> int:
    return int(np.asarray(x).reshape(()).view(_UINT[x.dtype.itemsize]))


def canonical_nan_bits(dt: np.dtype) -> int:
    """The bits of `float('nan')` converted to `dt` (what the text `nan` reads back as)."""
    return _bits(np.asarray(float("nan")).astype(dt))


def float_from_text(s: str, dt: np.dtype) -> np.ndarray:
    """The 0-d array of float dtype `dt` that the text `s` (as printed) stands for."""
    neg = s.startswith("-")
    body = s[1:] if s[:1] in "+-" else s
    if body.startswith("nan"):
        size = dt.itemsize
        if body == "nan":
            bits = canonical_nan_bits(dt)
            if neg:
                bits ^= 1 << (8 * size - 1)
        else:
            bits = int(body[3:], 16)
        return np.asarray(bits, _UINT[size]).view(dt).reshape(())
    return np.asarray(float(s)).astype(dt)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.tobytes() == b.tobytes()


def format_float(x: Any, dt: np.dtype) -> str:
    """The shortest text for float `x` of dtype `dt` that reads back to the same bits."""
    x = np.asarray(x, dt).reshape(())
    f = float(x)
    if f != f:
        bits, canon = _bits(x), canonical_nan_bits(dt)
        if bits == canon:
            return "nan"
        if bits == canon ^ (1 << (8 * dt.itemsize - 1)):
            return "-nan"
        return f"nan0x{bits:0{2 * dt.itemsize}X}"
    if f in (float("inf"), float("-inf")):
        return "inf" if f > 0 else "-inf"
    if dt == dtypes.float64:
        return repr(f)
    if dt in (dtypes.float32, dtypes.float16):
        s = str(x[()])  # NumPy's shortest round-trip form for its own dtype
    else:
        s = repr(f)
        for p in range(1, 18):
            t = f"{f:.{p}g}"
            if _same_bits(np.asarray(float(t)).astype(dt), x):
                s = t
                break
    if not _same_bits(np.asarray(float(s)).astype(dt), x):
        s = repr(f)  # exact in f64, so it converts back exactly
    if not any(c in s for c in ".en"):
        s += ".0"
    return s


def format_scalar(x: Any, dt: np.dtype) -> str:
    """One element of dtype `dt` as literal text."""
    if dt == dtypes.bool_:
        return "True" if bool(x) else "False"
    if dtypes.is_integer(dt):
        return str(int(x))
    if dtypes.is_complex(dt):
        c = np.asarray(x, dt).reshape(())
        rdt = dtypes.real_dtype(dt)
        re, im = format_float(c.real, rdt), format_float(c.imag, rdt)
        return f"{re}{'' if im[0] in '+-' else '+'}{im}j"
    return format_float(x, dt)


def format_value(value: np.ndarray) -> str:
    """A literal's value: a scalar, a nested list `[[1,2],[3,4]]`, or one value for a uniform
    array of two or more elements."""
    dt = value.dtype
    flat = value.reshape(-1)
    if value.ndim == 0:
        return format_scalar(flat[0], dt)
    if flat.size >= 2:
        raw = flat.view(np.uint8).reshape(flat.size, dt.itemsize)
        if (raw == raw[0]).all():
            return format_scalar(flat[0], dt)
    return _nested([format_scalar(v, dt) for v in flat], value.shape)


def _nested(items: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return items[0]
    if 0 in shape:
        return _empty_nested(shape)
    step = len(items) // shape[0]
    return "[" + ",".join(_nested(items[i * step: (i + 1) * step], shape[1:])
                          for i in range(shape[0])) + "]"


def _empty_nested(shape: tuple[int, ...]) -> str:
    if not shape or shape[0] == 0:
        return "[]"
    inner = _empty_nested(shape[1:]) if len(shape) > 1 else ""
    return "[" + ",".join([inner] * shape[0]) + "]"


def format_literal(lit: Lit) -> str:
    return f"{format_value(lit.value)}:{format_type(lit.type)}"


def _format_string(s: str) -> str:
    if _is_bare(s) and s not in VALUE_WORDS and s not in dtypes.BY_SHORT_NAME:
        return s
    return json.dumps(s)


def format_param(v: Any) -> str:
    """A parameter value that holds no program."""
    if v is None or isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format_float(float(v), dtypes.float64)
    if isinstance(v, str):
        return _format_string(v)
    if isinstance(v, np.dtype):
        return dtypes.short_name(v)
    if isinstance(v, TensorType):
        return format_type(v)
    if isinstance(v, tuple):
        if len(v) == 1:
            return f"({format_param(v[0])},)"
        return "(" + ", ".join(format_param(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(format_param(x) for x in v) + "]"
    return repr(v)  # not parseable: an op with an exotic parameter type


def _holds_program(v: Any) -> bool:
    return isinstance(v, Program) or (
        isinstance(v, (tuple, list)) and any(_holds_program(x) for x in v))


# ---------------------------------------------------------------------------------------------
# Programs.

class Printer:
    """Prints programs and equations, naming variables in the order it meets their definitions.

    One printer keeps its names across calls, so an equation printed after its program (as
    `typecheck` does for its messages) uses the program's names.
    """

    def __init__(self, *, source: bool = False, width: int = WIDTH):
        self.names: dict[int, str] = {}
        self.count = 0
        self.source = source
        self.width = width
        self._keep: list[Var] = []  # keeps named vars alive so their ids stay unique
        self._reuse = False

    def _fresh(self) -> str:
        while True:
            name = var_name(self.count)
            self.count += 1
            if name not in RESERVED:
                return name

    def define(self, v: Var) -> str:
        if self._reuse and id(v) in self.names:
            return self.names[id(v)]
        name = self._fresh()
        self.names[id(v)] = name
        self._keep.append(v)
        return name

    def ref(self, a: Atom) -> str:
        if isinstance(a, Lit):
            return format_literal(a)
        name = self.names.get(id(a))
        if name is None:  # used but never defined: visibly wrong, never parseable
            name = "?" + self.define(a)
            self.names[id(a)] = name
        return name

    def binders(self, vs: tuple[Var, ...]) -> str:
        return " ".join(f"{self.define(v)}:{format_type(v.type)}" for v in vs)

    # A program's text: the first string continues the current line, the rest are whole lines.
    def program(self, p: Program, indent: int, prefix: int = 0, block: bool = False
                ) -> list[str]:
        """`p` printed where its `{` lands on a line indented `indent` with `prefix` columns
        already on it (as a block when `block`, as the top level always is)."""
        if not block and not self.source and not any(e.op.programs() for e in p.eqns):
            start = self.count
            one = self.inline(p)
            if indent + prefix + len(one) <= self.width:
                return [one]
            self.count = start  # print again as a block, with the same names
        head = f"{{ lambda ; {self.binders(p.inputs)}. let"
        lines = [head]
        for e in p.eqns:
            lines.extend(self.eqn_lines(e, indent + 4))
        lines.append(" " * (indent + 2) + f"in {self.outputs(p)} }}")
        return lines

    def inline(self, p: Program) -> str:
        ins = self.binders(p.inputs)
        body = "; ".join(self.eqn_lines(e, 0)[0] for e in p.eqns)
        return f"{{ lambda ; {ins}. let {body + ' ' if body else ''}in {self.outputs(p)} }}"

    def outputs(self, p: Program) -> str:
        outs = [self.ref(a) for a in p.outputs]
        return f"({outs[0]},)" if len(outs) == 1 else "(" + ", ".join(outs) + ")"

    def eqn_lines(self, e: Eqn, indent: int) -> list[str]:
        """Equation `e` as lines indented `indent` (one line unless it holds bodies)."""
        pad = " " * indent
        ins = [self.ref(a) for a in e.inputs]
        outs = self.binders(e.outputs) if e.outputs else "()"
        params = e.op.params()
        comment = ""
        if self.source and e.src is not None:
            comment = f"  # {os.path.basename(e.src[0])}:{e.src[1]}"
        args = "".join(" " + s for s in ins)
        if not any(_holds_program(v) for v in params.values()):
            ps = " ".join(f"{k}={format_param(v)}" for k, v in params.items())
            ps = f"[{ps}]" if ps else ""
            return [f"{pad}{outs} = {e.op.name}{ps}{args}{comment}"]
        lines = [f"{pad}{outs} = {e.op.name}[{comment}"]
        inner = " " * (indent + 2)
        rest = []
        for k, v in params.items():
            if isinstance(v, Program):
                body = self.program(v, indent + 2, len(k) + 1)
                lines.append(f"{inner}{k}={body[0]}")
                lines.extend(body[1:])
            elif _holds_program(v):
                lines.append(f"{inner}{k}=" + ("[" if isinstance(v, list) else "("))
                for x in v:
                    if isinstance(x, Program):
                        body = self.program(x, indent + 4)
                        lines.append(f"{inner}  {body[0]}")
                        lines.extend(body[1:])
                        lines[-1] += ","
                    else:
                        lines.append(f"{inner}  {format_param(x)},")
                lines.append(inner + ("]" if isinstance(v, list) else ")"))
            else:
                rest.append(f"{k}={format_param(v)}")
        if rest:
            lines.append(inner + " ".join(rest))
        lines.append(f"{pad}]{args}")
        return lines

    def eqn(self, e: Eqn) -> str:
        """One equation as text (names already given by this printer are reused)."""
        self._reuse = True
        try:
            return "\n".join(self.eqn_lines(e, 0))
        finally:
            self._reuse = False


def print_program(p: Program, *, source: bool = False, width: int = WIDTH) -> str:
    """The text of program `p` (what `str(p)` gives).

    With `source=True`, each equation ends with a comment naming the user's line that staged it
    (`# model.py:12`), and bodies are always written as blocks so each equation has its line.
    """
    return "\n".join(Printer(source=source, width=width).program(p, 0, block=True))


def print_eqn(e: Eqn) -> str:
    """One equation on its own, its inputs named in order of appearance."""
    return Printer().eqn(e)


__all__ = ["Printer", "format_literal", "format_param", "format_type", "print_eqn",
           "print_program", "var_name"]
