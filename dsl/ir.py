"""The intermediate representation: typed programs in A-normal form.

A `Program` is a closed function: typed input `Var`s, a sequence of equations, and outputs (vars
or literals). An `Eqn` applies one primitive `Op` to inputs (vars or `Lit` constants) and defines
new output vars. Ops are frozen attrs classes whose fields are the primitive's static parameters,
typed (`ReduceSum(axes=(0,))`); combinators hold their bodies as nested, closed `Program`s, with
captured outer values passed as explicit leading inputs (`num_consts`).

Everything is immutable. `Var`s compare by identity. `Program`s compare and hash *structurally*:
two alpha-equivalent programs (the same up to renaming of variables) are equal and hash equal, so
programs can key caches and nested bodies can be deduplicated. That structural key is the
program's `fingerprint`.

Each op class carries its type rule (`infer`): from input types to output types, raising a
`ShapeError`/`DTypeError` that names the operation and the types. Interpreter rules live in the
interpreters, in one table each, keyed by op class.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar

import attrs
import numpy as np

from dsl.errors import ArgumentValueError, DTypeError, ShapeError
from dsl.pytree import register_leaf
from dsl.types import FunctionType, TensorType, types_str

OPS: dict[str, type[Op]] = {}
"""Every primitive class, by its printed name."""


class Op:
    """Base class of primitives. Subclasses are made with the `primitive` decorator."""

    name: ClassVar[str] = "?"
    multiple_results: ClassVar[bool] = False
    family: ClassVar[str] = "other"
    collective: ClassVar[bool] = False
    """A collective's value depends on the named axes bound around it (`vmap`'s axis_name,
    `shard_map`'s mesh axes): it is never computed while staging, even on known or concrete
    operands, and with no symbolic operand it is recorded in the innermost staging in progress
    (see `dsl.core.bind`)."""

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        raise NotImplementedError(type(self).__name__)

    def programs(self) -> tuple[Program, ...]:
        """The nested programs (combinator bodies) held in this op's fields."""
        found: list[Program] = []
        for f in attrs.fields(type(self)):
            v = getattr(self, f.name)
            if isinstance(v, Program):
                found.append(v)
            elif isinstance(v, tuple):
                found.extend(x for x in v if isinstance(x, Program))
        return tuple(found)

    def params(self) -> dict[str, Any]:
        """The static parameters that differ from their defaults, for printing."""
        out = {}
        for f in attrs.fields(type(self)):
            v = getattr(self, f.name)
            if f.default is not attrs.NOTHING and _same(v, f.default):
                continue
            out[f.name] = v
        return out

    def fail(self, what: str, in_types: tuple[TensorType, ...], *, dtype: bool = False) -> None:
        """Raise the typed error of this op: `ShapeError` (or `DTypeError` when `dtype`)."""
        cls = DTypeError if dtype else ShapeError
        raise cls(f"{self.name}: {what}; got {types_str(in_types)}")

    def check_arity(self, in_types: tuple[TensorType, ...], n: int) -> None:
        if len(in_types) != n:
            self.fail(f"expects {n} operand{'s' if n != 1 else ''}", in_types)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    return bool(a == b)


OpT = TypeVar("OpT", bound=type[Op])


def primitive(name: str, *, multiple_results: bool = False, family: str | None = None):
    """Class decorator: make `cls` a frozen attrs op named `name` and register it."""

    def wrap(cls: OpT) -> OpT:
        cls.name = name
        cls.multiple_results = multiple_results
        if family is not None:
            cls.family = family
        cls = attrs.frozen(cache_hash=True, repr=False)(cls)
        cls.__repr__ = _op_repr
        if name in OPS:
            raise ArgumentValueError(f"primitive {name!r} defined twice")
        OPS[name] = cls
        register_leaf(cls)
        return cls

    return wrap


def _op_repr(self: Op) -> str:
    ps = " ".join(f"{k}={v!r}" for k, v in self.params().items() if not isinstance(v, Program))
    return f"{self.name}[{ps}]" if ps else self.name


@attrs.frozen(eq=False, repr=False)
class Var:
    """A typed name. Identity matters: two vars of one type are different variables."""

    type: TensorType

    def __repr__(self) -> str:
        return f"Var({self.type})"


def _lit_value(v: Any) -> np.ndarray:
    """A private, contiguous, read-only copy (a view when the value is already frozen)."""
    arr = np.asarray(v)
    if arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.array(arr, order="C")  # the caller may mutate theirs; printing needs contiguity
    else:
        arr = arr.view()
    arr.setflags(write=False)
    return arr


@attrs.frozen(eq=False, repr=False)
class Lit:
    """A constant of a given type, written inline in programs (`2.0:f32[]`)."""

    value: np.ndarray = attrs.field(converter=_lit_value)
    type: TensorType

    def __attrs_post_init__(self) -> None:
        if self.value.shape != self.type.shape or self.value.dtype != self.type.dtype:
            raise DTypeError(
                f"literal of NumPy type {self.value.dtype}{list(self.value.shape)} "
                f"does not match its declared type {self.type}"
            )

    @functools.cached_property
    def key(self) -> tuple[Any, ...]:
        return (self.type, self.value.tobytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lit) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Lit({self.value!r}:{self.type})"


Atom = Var | Lit


@attrs.frozen(eq=False, repr=False)
class Eqn:
    """`outputs = op(*inputs)`, with the user's source line (file, line) that staged it."""

    op: Op
    inputs: tuple[Atom, ...]
    outputs: tuple[Var, ...]
    src: tuple[str, int] | None = None

    def __repr__(self) -> str:
        return f"Eqn({self.op!r}, {len(self.inputs)} in, {len(self.outputs)} out)"


@attrs.frozen(eq=False, repr=False)
class Program:
    """A closed typed function in A-normal form. Equality is alpha-equivalence."""

    inputs: tuple[Var, ...]
    eqns: tuple[Eqn, ...]
    outputs: tuple[Atom, ...]

    @property
    def in_types(self) -> tuple[TensorType, ...]:
        return tuple(v.type for v in self.inputs)

    @property
    def out_types(self) -> tuple[TensorType, ...]:
        return tuple(v.type for v in self.outputs)

    @property
    def type(self) -> FunctionType:
        return FunctionType(self.in_types, self.out_types)

    @functools.cached_property
    def fingerprint(self) -> tuple[Any, ...]:
        """A structural key: equal for alpha-equivalent programs, hashable."""
        index: dict[int, int] = {}

        def ref(a: Atom) -> Any:
            if isinstance(a, Lit):
                return a.key
            return index.get(id(a), -1)

        for v in self.inputs:
            index[id(v)] = len(index)
        body = []
        for e in self.eqns:
            body.append((e.op, tuple(ref(a) for a in e.inputs), tuple(v.type for v in e.outputs)))
            for v in e.outputs:
                index[id(v)] = len(index)
        return (self.in_types, tuple(body), tuple(ref(a) for a in self.outputs))

    @functools.cached_property
    def _hash(self) -> int:
        return hash(self.fingerprint)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Program) or self._hash != other._hash:
            return False
        return self.fingerprint == other.fingerprint

    def __str__(self) -> str:
        from dsl.printer import print_program  # the printer depends on ir, not the reverse

        return print_program(self)

    def __repr__(self) -> str:
        return f"Program({self.type})"

    def walk(self) -> Iterator[Eqn]:
        """Every equation of this program and of its nested bodies, depth first."""
        stack: list[Iterator[Eqn]] = [iter(self.eqns)]
        while stack:
            eqn = next(stack[-1], None)
            if eqn is None:
                stack.pop()
                continue
            yield eqn
            for p in eqn.op.programs():
                stack.append(iter(p.eqns))


for _cls in (Var, Lit, Eqn, Program):  # IR objects are leaves, never pytree containers
    register_leaf(_cls)
