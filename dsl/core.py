"""Staging: how calls on symbolic values build programs, and how concrete calls run eagerly.

`bind(op, *args)` is the single entry point of every primitive application. It looks at its
arguments:

* all concrete (`Array`, NumPy values): the op runs at once through the evaluate interpreter's
  rule (reached through `EVAL_HOOK`, which `interpreters.evaluate` fills in when imported; dsl
  never imports the interpreters), and the result is an `Array`. This is eager mode.
* some `Tracer`s (symbolic values): the op is recorded as an equation in the *innermost* builder
  among them, and new `Tracer`s come back. Concrete arguments become literals.

A `Builder` collects the equations of one function being staged. Builders nest (a `scan` body is
staged while its enclosing function is being staged) and are ordered by creation: the innermost
active builder is the most recently created one, so no global "current trace" is needed. When a
body uses a tracer of an enclosing builder, the body *captures* it: the tracer's value becomes an
extra leading input of the body (closure conversion), and the combinator passes the outer value
as a const. A tracer whose builder has finished has escaped its staging and is rejected.

A `Tracer` may also carry its concrete value (`known`): the inputs of `grad`, `jvp` and `vjp` are
known outside `jit`, and every op on known values computes its known result as it is staged. That
is what lets Python control flow (`if x > 0:`) work there; on unknown values `bool()`, `int()`,
`float()` and `np.asarray` raise `ConcretizationError`, naming the user's line and the fix.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl.array import Array, ArrayOps
from dsl.errors import (ArgumentTypeError, ArgumentValueError, ConcretizationError,
                        TransformError, _is_internal)
from dsl.ir import Atom, Eqn, Lit, Op, Program, Var
from dsl.types import TensorType

EVAL_HOOK: list[Any] = [None]
"""`EVAL_HOOK[0]` is the evaluate interpreter, registered when it is imported: an object with
`apply(op, *values) -> outputs`, `rule_of(op) -> rule`, and `quiet_enter()` / `quiet_exit(token)`
which bracket rules so that NumPy's floating-point warnings are off."""


def _evaluator() -> Any:
    hook = EVAL_HOOK[0]
    if hook is None:
        import importlib

        importlib.import_module("interpreters.evaluate")  # registers itself in EVAL_HOOK
        hook = EVAL_HOOK[0]
    return hook


def eval_rule(op: Op, *values: np.ndarray) -> Sequence[np.ndarray]:
    return _evaluator().apply(op, *values)


_builder_ids = itertools.count()

STAGING: list[Builder] = []
"""The builders whose functions are being staged right now, innermost last (`stage_flat`
pushes and pops them). A collective bound with no symbolic operand is recorded in the last."""


class Builder:
    """Collects the equations of one function being staged."""

    __slots__ = ("eqns", "captured", "id", "done", "track_known")

    def __init__(self, track_known: bool = False):
        self.eqns: list[Eqn] = []
        self.captured: dict[Var, tuple[Tracer, Var]] = {}  # outer var -> (outer tracer, ours)
        self.id = next(_builder_ids)
        self.done = False
        self.track_known = track_known

    def atom(self, x: Any) -> Atom:
        """The var or literal standing for argument `x` inside this builder."""
        if type(x) is Tracer:
            if x.builder is self:
                return x._var
            return self.capture(x)
        if type(x) is Array:
            lit = x._lit
            if lit is None:
                lit = x._lit = Lit(x._value, TensorType(x._value.shape, x._value.dtype, x._weak))
            return lit
        value, weak = concrete(x)
        return Lit(value, TensorType(value.shape, value.dtype, weak))

    def capture(self, t: Tracer) -> Var:
        if t.builder.done:
            raise_escaped(t)
        entry = self.captured.get(t._var)
        if entry is None:
            entry = (t, Var(t._var.type))
            self.captured[t._var] = entry
        return entry[1]


def raise_escaped(t: Tracer) -> None:
    raise TransformError(
        f"a symbolic value of type {t.type} escaped the function that staged it (for example "
        "it was stored in a global or a list and used after the transform returned); return "
        "it from the function instead")


def concrete(x: Any) -> tuple[np.ndarray, bool]:
    """(NumPy value, weak) of a concrete argument to `bind`."""
    if type(x) is Array:
        return x._value, x._weak
    if isinstance(x, np.ndarray):
        return x, False
    if isinstance(x, np.generic):
        return np.asarray(x), False
    raise ArgumentTypeError(f"{type(x).__name__} is not an array (internal: bind got {x!r})")


class Tracer(ArrayOps):
    """A symbolic value: a `Var` of some builder, with its concrete value when it is known."""

    __slots__ = ("_var", "builder", "known")
    __array_ufunc__ = None  # NumPy defers to our operators instead of converting

    def __init__(self, var: Var, builder: Builder, known: np.ndarray | None = None):
        self._var = var  # not `var`: that is the NumPy method x.var()
        self.builder = builder
        self.known = known

    @property
    def type(self) -> TensorType:
        return self._var.type

    @property
    def shape(self) -> tuple[int, ...]:
        return self._var.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self._var.type.dtype

    @property
    def weak(self) -> bool:
        return self._var.type.weak

    def __repr__(self) -> str:
        return f"Tracer<{self._var.type}>"

    def _concrete(self, what: str) -> np.ndarray:
        if self.known is not None:
            return self.known
        raise ConcretizationError(
            f"{what} needs the concrete value of a symbolic {self.type}, which is not known "
            "while staging (under jit, vmap or inside a combinator body). Use d.cond / "
            "d.switch / d.where for value-dependent branches, d.while_loop / d.fori_loop for "
            "loops, or mark the argument static (jit(f, static_argnums=...))")

    def __bool__(self) -> bool:
        v = self._concrete("bool() (a Python `if`, `while`, `and`/`or`/`not`)")
        if v.size != 1:
            raise ArgumentValueError(f"the truth value of an array of type {self.type} is ambiguous; "
                             "use d.any or d.all")
        return bool(v)

    def __int__(self) -> int:
        return int(self._concrete("int()"))

    def __float__(self) -> float:
        return float(self._concrete("float()"))

    def __complex__(self) -> complex:
        return complex(self._concrete("complex()"))

    def __index__(self) -> int:
        v = self._concrete("using a value as a Python index (list[x], range(x))")
        if v.shape != () or v.dtype.kind not in "iu":
            raise ArgumentTypeError(f"only integer scalars can be Python indices, not {self.type}")
        return int(v)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        v = self._concrete("np.asarray() / a NumPy function")
        return v if dtype is None else v.astype(dtype)

    def tolist(self) -> Any:
        return self._concrete(".tolist()").tolist()

    def item(self) -> Any:
        return self._concrete(".item()").item()


def is_tracer(x: Any) -> bool:
    return type(x) is Tracer


def as_leaf(what: str, x: Any) -> Any:
    """`x` as an array leaf for transform `what` (arrays and symbolic values pass through;
    scalars and NumPy arrays are converted; anything else is an ArgumentTypeError)."""
    if type(x) is Tracer or type(x) is Array:
        return x
    from dsl.numpy_api import asarray

    try:
        return asarray(x)
    except TypeError:
        raise ArgumentTypeError(f"{what}: arguments must be arrays or pytrees of arrays, got a "
                                f"{type(x).__name__}") from None


def _user_src() -> tuple[str, int] | None:
    frame = sys._getframe(2)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)


_INFER_CACHE: dict[tuple[Any, ...], tuple[TensorType, ...]] = {}


def infer(op: Op, in_types: tuple[TensorType, ...]) -> tuple[TensorType, ...]:
    """`op.infer(*in_types)`, memoised (ops and types are hashable); when an input type is
    sharded, the output types' shardings come from `dsl.sharding_rules`."""
    key = (op, in_types)
    out = _INFER_CACHE.get(key)
    if out is None:
        for t in in_types:
            if t.sharding is not None:  # Explicit shardings: derived by dsl.sharding_rules
                from dsl.sharding_rules import infer_sharded

                return infer_sharded(op, in_types)
        out = op.infer(*in_types)
        if len(_INFER_CACHE) > 100_000:
            _INFER_CACHE.clear()
        _INFER_CACHE[key] = out
    return out


def bind(op: Op, *args: Any, src: tuple[str, int] | None = None) -> Any:
    """Apply primitive `op`: record it (symbolic arguments) or run it (concrete arguments).

    Returns one value, or a tuple of values when the op has several results.
    """
    builder: Builder | None = None
    for a in args:
        if type(a) is Tracer and (builder is None or a.builder.id > builder.id):
            builder = a.builder
    if builder is None:
        if not (op.collective and STAGING):
            return _bind_eager(op, args)
        builder = STAGING[-1]  # e.g. axis_index(), or psum of a constant, inside vmap
    if builder.done:
        for a in args:
            if type(a) is Tracer and a.builder is builder:
                raise_escaped(a)
    atoms = tuple(builder.atom(a) for a in args)
    out_types = infer(op, tuple(a.type for a in atoms))
    outs = tuple(Var(t) for t in out_types)
    builder.eqns.append(Eqn(op, atoms, outs, src if src is not None else _user_src()))
    known: Sequence[np.ndarray | None] = (None,) * len(outs)
    if builder.track_known and not op.collective:
        in_known = [_known(a) for a in args]
        if all(k is not None for k in in_known):
            known = eval_rule(op, *in_known)
    tracers = tuple(Tracer(v, builder, k) for v, k in zip(outs, known))
    return tracers if op.multiple_results else tracers[0]


def _known(a: Any) -> np.ndarray | None:
    if type(a) is Tracer:
        return a.known if a.builder.track_known else None
    return concrete(a)[0]


_EAGER_CACHE: dict[tuple[Any, ...], tuple[Any, ...]] = {}

EXPLICIT_EAGER_HOOK: list[Any] = [None]
"""`backends` installs here, once an array whose type carries a sharding exists, a function
`(op, args) -> result or NotImplemented` that runs eager ops on such arrays (on host) and lays
their results out as the type rules say."""


def _bind_eager(op: Op, args: tuple[Any, ...]) -> Any:
    # The hot path of eager mode: the type rule runs once per (op, input shapes and dtypes),
    # keyed on raw tuples so that a cache hit builds no TensorType.
    hook = EXPLICIT_EAGER_HOOK[0]
    if hook is not None:
        out = hook(op, args)
        if out is not NotImplemented:
            return out
    n = len(args)
    if n == 2 and type(args[0]) is Array and type(args[1]) is Array:
        a, b = args
        va, vb = a._value, b._value
        vals: list[np.ndarray] | tuple[np.ndarray, ...] = (va, vb)
        k: tuple[Any, ...] = (op, va.shape, va.dtype, a._weak, vb.shape, vb.dtype, b._weak)
    elif n == 1 and type(args[0]) is Array:
        va = args[0]._value
        vals = (va,)
        k = (op, va.shape, va.dtype, args[0]._weak)
    else:
        vals = []
        key: list[Any] = [op]
        for a in args:
            v, w = concrete(a)
            vals.append(v)
            key += (v.shape, v.dtype, w)
        k = tuple(key)
    hit = _EAGER_CACHE.get(k)
    if hit is None:
        hit = _eager_entry(op, vals, k)
    weaks, fast, quiet, rule, enter, leave = hit
    if fast is not None:  # a bare ufunc; NumPy warnings only matter for inexact operands
        if quiet:
            token = enter()
            try:
                out = fast(*vals)
            finally:
                leave(token)
        else:
            out = fast(*vals)
        return Array(out if type(out) is np.ndarray else np.asarray(out), weaks[0])
    token = enter()
    try:
        outs = rule(op, *vals)
    finally:
        leave(token)
    if not op.multiple_results:
        return Array(outs[0], weaks[0])
    return tuple(Array(v, w) for v, w in zip(outs, weaks))


def _eager_entry(op: Op, vals: Sequence[np.ndarray], k: tuple[Any, ...]) -> tuple[Any, ...]:
    in_types = tuple(TensorType(v.shape, v.dtype, w) for v, w in zip(vals, k[3::3]))
    ev = _evaluator()
    out_types = infer(op, in_types)
    rule = ev.rule_of(op)
    fast = ev.fast_of(op, vals)
    if fast is not None:  # trust the bare ufunc only where it agrees with the rule's dtype
        token = ev.quiet_enter()
        try:
            fast_dtype = np.asarray(fast(*vals)).dtype
        finally:
            ev.quiet_exit(token)
        if fast_dtype != out_types[0].dtype:
            fast = None
    quiet = any(v.dtype.kind not in "biu" for v in vals)
    entry = (tuple(t.weak for t in out_types), fast, quiet, rule, ev.quiet_enter, ev.quiet_exit)
    if len(_EAGER_CACHE) > 100_000:
        _EAGER_CACHE.clear()
    _EAGER_CACHE[k] = entry
    return entry


def stage_flat(fn: Callable[..., Sequence[Any]], in_types: Sequence[TensorType],
               known: Sequence[np.ndarray | None] | None = None,
               ) -> tuple[Program, list[Tracer], list[Any]]:
    """Stage `fn(*tracers) -> list of leaves` into a closed program.

    Returns the program, the outer tracers it captured (passed as its leading inputs, before the
    explicit ones), and `fn`'s raw outputs (for the caller to inspect, e.g. for output trees).
    With `known` values, the builder tracks concrete values so Python control flow works.
    """
    builder = Builder(track_known=known is not None)
    ins = [Var(t) for t in in_types]
    tracers = [Tracer(v, builder, None if known is None else known[i])
               for i, v in enumerate(ins)]
    STAGING.append(builder)
    try:
        raw = list(fn(*tracers))
        outs = [_output_atom(builder, x) for x in raw]
    finally:
        builder.done = True
        STAGING.pop()
    captured = list(builder.captured.values())
    program = Program(tuple(v for _, v in captured) + tuple(ins), tuple(builder.eqns),
                      tuple(outs))
    return program, [t for t, _ in captured], raw


def _output_atom(builder: Builder, x: Any) -> Atom:
    if type(x) is not Tracer and not isinstance(x, (Array, np.ndarray, np.generic)):
        from dsl.numpy_api import asarray  # Python scalars and nested lists

        x = asarray(x)
    return builder.atom(x)


def inline(program: Program, args: Sequence[Any]) -> list[Any]:
    """Run `program` on `args` by re-binding its equations (so the result is staged into the
    builder of `args`, or evaluated eagerly when they are concrete). Iterative."""
    if len(args) != len(program.inputs):
        raise ArgumentTypeError(f"program of type {program.type} applied to {len(args)} arguments")
    env: dict[Var, Any] = dict(zip(program.inputs, args))

    def read(a: Atom) -> Any:
        return Array(a.value, a.type.weak) if type(a) is Lit else env[a]

    for eqn in program.eqns:
        outs = bind(eqn.op, *(read(a) for a in eqn.inputs), src=eqn.src)
        if not eqn.op.multiple_results:
            outs = (outs,)
        env.update(zip(eqn.outputs, outs))
    return [read(a) for a in program.outputs]
