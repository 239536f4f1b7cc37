"""`typecheck(program)`: re-derive every type of a program from the type rules.

A program is well typed when each program (the top level and every nested body) binds each of
its variables exactly once, before any use, and uses no variable it does not bind (bodies are
closed); every literal's value has its declared type; and every equation's declared output
types are what its op's type rule gives for its input types. Tests run it after every transform:
a transform that builds an equation by hand with a wrong output type is caught here, at the
equation, rather than later as a wrong answer.

Shardings in types are checked too: where an input type is sharded, the sharding rules
(`dsl.sharding_rules`, under the current mesh) derive the outputs' shardings, and the declared
ones must equal them.
"""

from __future__ import annotations

import numpy as np

from dsl.core import infer
from dsl.errors import CombinaxError, TypeCheckError
from dsl.ir import Eqn, Lit, Program, Var
from dsl.printer import Printer, format_type
from dsl.types import TensorType


def _same(a: TensorType, b: TensorType) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.weak == b.weak \
        and a.sharding == b.sharding


def _types(ts: tuple[TensorType, ...]) -> str:
    return "(" + ", ".join(format_type(t) for t in ts) + ")"


class _Checker:
    def __init__(self, top: Program):
        self.top = top
        self._printer: Printer | None = None

    def fail(self, where: list[str], index: int | None, eqn: Eqn | None, message: str) -> None:
        if self._printer is None:  # name the variables as str(top program) does
            self._printer = Printer()
            self._printer.program(self.top, 0, block=True)
        ctx = "".join(f"{w}: " for w in where)
        if eqn is not None:
            text = self._printer.eqn(eqn).replace("\n", "\n    ")
            ctx += f"equation {index} `{text}`: "
        elif index is not None:
            ctx += "outputs: "
        raise TypeCheckError(f"typecheck: {ctx}{message}")

    def program(self, p: Program, where: list[str]) -> None:
        if not isinstance(p, Program):
            self.fail(where, None, None, f"expected a Program, got {type(p).__name__}")
        defined: set[int] = set()
        for k, v in enumerate(p.inputs):
            if not isinstance(v, Var):
                self.fail(where, None, None, f"input {k} is a {type(v).__name__}, not a Var")
            if id(v) in defined:
                self.fail(where, None, None, f"input {k} ({format_type(v.type)}) is bound twice")
            defined.add(id(v))
        for i, e in enumerate(p.eqns):
            self.eqn(e, i, defined, where)
        for k, a in enumerate(p.outputs):
            self.atom(a, defined, where, len(p.eqns), None, f"output {k}")

    def atom(self, a: object, defined: set[int], where: list[str], i: int, e: Eqn | None,
             what: str) -> None:
        if isinstance(a, Var):
            if id(a) not in defined:
                self.fail(where, i, e, f"{what} ({format_type(a.type)}) is used before it is "
                                       "defined (or is not bound in this program at all)")
        elif isinstance(a, Lit):
            v = a.value
            if not isinstance(v, np.ndarray) or v.shape != a.type.shape \
                    or v.dtype != a.type.dtype:
                self.fail(where, i, e, f"{what}: literal value does not have its declared type "
                                       f"{format_type(a.type)}")
        else:
            self.fail(where, i, e, f"{what} is a {type(a).__name__}, not a Var or Lit")

    def eqn(self, e: Eqn, i: int, defined: set[int], where: list[str]) -> None:
        for k, a in enumerate(e.inputs):
            self.atom(a, defined, where, i, e, f"input {k}")
        for k, body in enumerate(e.op.programs()):
            self.program(body, where + [f"equation {i} ({e.op.name}) body {k}"])
        in_types = tuple(a.type for a in e.inputs)
        try:
            got = infer(e.op, in_types)
        except (CombinaxError, TypeError, ValueError) as exc:
            msg = exc.raw_message if isinstance(exc, CombinaxError) else str(exc)
            self.fail(where, i, e, f"the type rule rejects inputs {_types(in_types)}: {msg}")
        declared = tuple(v.type for v in e.outputs)
        if len(got) != len(declared) or not all(_same(a, b) for a, b in zip(got, declared)):
            self.fail(where, i, e, f"declared output types {_types(declared)} but the type rule "
                                   f"of {e.op.name} gives {_types(got)}")
        for k, v in enumerate(e.outputs):
            if not isinstance(v, Var):
                self.fail(where, i, e, f"output {k} is a {type(v).__name__}, not a Var")
            if id(v) in defined:
                self.fail(where, i, e, f"output {k} ({format_type(v.type)}) is already defined")
            defined.add(id(v))


def typecheck(program: Program) -> None:
    """Check that `program` is well typed (see the module docstring); return None.

    Raises `TypeCheckError` naming the equation (printed, with the names `str(program)` uses),
    its index, the enclosing bodies, and the mismatch.
    """
    _Checker(program).program(program, [])


__all__ = ["typecheck"]
