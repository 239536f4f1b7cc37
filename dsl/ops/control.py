"""Combinators: primitives that hold closed sub-programs (bodies).

Each body is a closed `Program`. Values a body captured from outside are passed to the combinator
as its leading operands (`num_consts` of them) and arrive as the body's leading inputs. The type
rules check the bodies against the operands, naming both types on a mismatch.
Weak flags are ignored when bodies are matched against operands: a carry that starts as a Python
scalar and comes back strong is the same type (the user-level combinators restage such bodies with
strong inputs so the program itself stays exact).
"""

from __future__ import annotations

import attrs

from dsl import dtypes
from dsl.ir import Op, Program, primitive
from dsl.types import TensorType, types_str


def _match(op: Op, what: str, expected: tuple[TensorType, ...], got: tuple[TensorType, ...],
           in_types: tuple[TensorType, ...]) -> None:
    if len(expected) != len(got) or any(not a.same_ignoring_weak(b)
                                        for a, b in zip(expected, got)):
        op.fail(f"{what}: expected {types_str(expected)}, got {types_str(got)}", in_types)


def _unstack(t: TensorType) -> TensorType:
    return TensorType(t.shape[1:], t.dtype, t.weak)


def _stack(n: int, t: TensorType) -> TensorType:
    return TensorType((n,) + t.shape, t.dtype, t.weak)


def _leading(op: Op, ts: tuple[TensorType, ...], in_types: tuple[TensorType, ...],
             length: int | None) -> int:
    for t in ts:
        if t.ndim == 0:
            op.fail("mapped/scanned operands need a leading axis", in_types)
        if length is None:
            length = t.shape[0]
        elif t.shape[0] != length:
            op.fail(f"leading axes differ (expected length {length}, got {t.shape[0]})",
                    in_types)
    if length is None:
        op.fail("needs a length or at least one mapped operand", in_types)
    return length  # type: ignore[return-value]


@primitive("map", multiple_results=True, family="control")
class Map(Op):
    """Apply `body` to every slice along the leading axis: operands are consts then xs.

    Compiled as the vectorized body unless `sequential` (a loop, for memory)."""

    body: Program
    num_consts: int = 0
    sequential: bool = False

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        consts, xs = in_types[: self.num_consts], in_types[self.num_consts:]
        n = _leading(self, xs, in_types, None)
        _match(self, "body inputs", self.body.in_types,
               consts + tuple(_unstack(t) for t in xs), in_types)
        return tuple(_stack(n, t) for t in self.body.out_types)


@primitive("scan", multiple_results=True, family="control")
class Scan(Op):
    """Loop with a carry over the leading axis of xs: body (consts, carry, x) -> (carry, y).

    Operands: consts, initial carry, xs. Results: final carry, then the stacked ys.
    """

    body: Program
    length: int
    reverse: bool = False
    num_consts: int = 0
    num_carry: int = 0

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        nc, nk = self.num_consts, self.num_carry
        consts, carry, xs = in_types[:nc], in_types[nc: nc + nk], in_types[nc + nk:]
        _leading(self, xs, in_types, self.length)
        _match(self, "body inputs (consts, carry, x)", self.body.in_types,
               consts + carry + tuple(_unstack(t) for t in xs), in_types)
        outs = self.body.out_types
        _match(self, "the carry the body returns", carry, outs[:nk], in_types)
        return tuple(carry) + tuple(_stack(self.length, t) for t in outs[nk:])


def _scalars(op: Op, ts: tuple[TensorType, ...], in_types: tuple[TensorType, ...]) -> None:
    if any(t.ndim for t in ts):
        op.fail("the combining function works on scalars", in_types)


@primitive("reduce", multiple_results=True, family="control")
class Reduce(Op):
    """Reduce `axes` with an associative body on scalars: (consts, acc..., x...) -> acc...

    Operands: consts, k arrays of one shape, k scalar initial values (the identity).
    """

    body: Program
    axes: tuple[int, ...] = attrs.field(converter=lambda v: tuple(int(a) for a in v))
    num_consts: int = 0

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        rest = in_types[self.num_consts:]
        k = len(rest) // 2
        if k == 0 or len(rest) != 2 * k:
            self.fail("needs as many initial values as operands", in_types)
        xs, inits = rest[:k], rest[k:]
        if any(t.shape != xs[0].shape for t in xs):
            self.fail("operands must have the same shape", in_types)
        _scalars(self, inits, in_types)
        elems = tuple(TensorType((), t.dtype) for t in xs)
        _match(self, "initial values", elems, inits, in_types)
        _match(self, "body inputs (consts, acc, x)", self.body.in_types,
               in_types[: self.num_consts] + elems + elems, in_types)
        _match(self, "body outputs", elems, self.body.out_types, in_types)
        from dsl.ops.structural import check_axes

        check_axes(self, self.axes, xs[0].ndim, in_types)
        shape = tuple(n for i, n in enumerate(xs[0].shape) if i not in self.axes)
        return tuple(TensorType(shape, t.dtype) for t in xs)


@primitive("associative_scan", multiple_results=True, family="control")
class AssociativeScan(Op):
    """Inclusive scan along `axis` with an associative body on scalars: (consts, a..., b...) ->
    c..., where `a` are the earlier elements and `b` the later ones."""

    body: Program
    axis: int = 0
    reverse: bool = False
    num_consts: int = 0

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        xs = in_types[self.num_consts:]
        if not xs or any(t.shape != xs[0].shape for t in xs):
            self.fail("needs operands of one shape", in_types)
        from dsl.ops.structural import check_axes

        check_axes(self, (self.axis,), xs[0].ndim, in_types, "axis")
        elems = tuple(TensorType((), t.dtype) for t in xs)
        _match(self, "body inputs (consts, a, b)", self.body.in_types,
               in_types[: self.num_consts] + elems + elems, in_types)
        _match(self, "body outputs", elems, self.body.out_types, in_types)
        return tuple(TensorType(t.shape, t.dtype) for t in xs)


@primitive("cond", multiple_results=True, family="control")
class Cond(Op):
    """Run `branches[index]` on the operands (index i32[], clamped into range)."""

    branches: tuple[Program, ...] = attrs.field(converter=tuple)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        if not in_types or in_types[0].shape != () or not dtypes.is_integer(in_types[0].dtype):
            self.fail("the first operand must be an integer scalar index", in_types)
        if not self.branches:
            self.fail("needs at least one branch", in_types)
        ops = in_types[1:]
        first = self.branches[0].out_types
        for i, b in enumerate(self.branches):
            _match(self, f"branch {i} inputs", b.in_types, ops, in_types)
            _match(self, f"branch {i} outputs (must equal branch 0's)", first, b.out_types,
                   in_types)
        return tuple(TensorType(t.shape, t.dtype, all(b.out_types[i].weak for b in self.branches))
                     for i, t in enumerate(first))


@primitive("while_loop", multiple_results=True, family="control")
class WhileLoop(Op):
    """`while cond(carry): carry = body(carry)`; with `max_iters`, at most that many iterations.

    Operands: cond consts, body consts, initial carry.
    """

    cond: Program
    body: Program
    cond_consts: int = 0
    body_consts: int = 0
    max_iters: int | None = None

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        nc, nb = self.cond_consts, self.body_consts
        cconsts, bconsts, carry = in_types[:nc], in_types[nc: nc + nb], in_types[nc + nb:]
        _match(self, "cond inputs", self.cond.in_types, cconsts + carry, in_types)
        if self.cond.out_types != (TensorType((), dtypes.bool_),) and not (
                len(self.cond.out_types) == 1
                and self.cond.out_types[0].same_ignoring_weak(TensorType((), dtypes.bool_))):
            self.fail(f"cond must return bool[], got {types_str(self.cond.out_types)}", in_types)
        _match(self, "body inputs", self.body.in_types, bconsts + carry, in_types)
        _match(self, "the carry the body returns", carry, self.body.out_types, in_types)
        if self.max_iters is not None and self.max_iters < 0:
            self.fail("max_iters must be >= 0", in_types)
        return tuple(carry)


CONTROL: list[type[Op]] = [Map, Scan, Reduce, AssociativeScan, Cond, WhileLoop]


def _check_call(op: Op, body: Program, n_consts: int, in_types: tuple[TensorType, ...],
                skip: int = 0) -> tuple[TensorType, ...]:
    """`body` applied to its consts (at `skip`..) and the call's trailing arguments."""
    args = in_types[len(in_types) - (len(body.in_types) - n_consts):] if len(
        body.in_types) >= n_consts else ()
    consts = in_types[skip: skip + n_consts]
    _match(op, "body inputs", body.in_types, consts + args, in_types)
    return body.out_types


@primitive("custom_jvp_call", multiple_results=True, family="control")
class CustomJvpCall(Op):
    """`body` with a user-given forward-mode rule `jvp`.

    Operands: body consts, jvp consts, arguments. `jvp` takes (jvp consts, primals, tangents)
    and returns (outputs, output tangents).
    """

    body: Program
    jvp: Program
    body_consts: int = 0
    jvp_consts: int = 0

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        n = len(in_types) - self.body_consts - self.jvp_consts
        if n < 0:
            self.fail("too few operands", in_types)
        out = _check_call(self, self.body, self.body_consts, in_types)
        args = in_types[len(in_types) - n:]
        jc = in_types[self.body_consts: self.body_consts + self.jvp_consts]
        _match(self, "jvp rule inputs", self.jvp.in_types, jc + args + args, in_types)
        _match(self, "jvp rule outputs", out + out, self.jvp.out_types, in_types)
        return out


@primitive("custom_vjp_call", multiple_results=True, family="control")
class CustomVjpCall(Op):
    """`body` with a user-given reverse-mode rule: `fwd` gives (outputs, residuals) and `bwd`
    maps (residuals, output cotangents) to argument cotangents.

    Operands: body consts, fwd consts, bwd consts, arguments.
    """

    body: Program
    fwd: Program
    bwd: Program
    body_consts: int = 0
    fwd_consts: int = 0
    bwd_consts: int = 0

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        nc = self.body_consts + self.fwd_consts + self.bwd_consts
        if len(in_types) < nc:
            self.fail("too few operands", in_types)
        out = _check_call(self, self.body, self.body_consts, in_types)
        args = in_types[nc:]
        fc = in_types[self.body_consts: self.body_consts + self.fwd_consts]
        _match(self, "fwd inputs", self.fwd.in_types, fc + args, in_types)
        if len(self.fwd.out_types) < len(out):
            self.fail("fwd must return the outputs and the residuals", in_types)
        _match(self, "fwd outputs", out, self.fwd.out_types[: len(out)], in_types)
        res = self.fwd.out_types[len(out):]
        bc = in_types[self.body_consts + self.fwd_consts: nc]
        _match(self, "bwd inputs", self.bwd.in_types, bc + res + out, in_types)
        _match(self, "bwd outputs", tuple(a.strong() for a in args),
               tuple(t.strong() for t in self.bwd.out_types), in_types)
        return out


# The policies of `checkpoint` (JAX's `jax.checkpoint_policies`, by name): which values of the
# body reverse mode keeps from the forward pass; every other value it needs is recomputed.
CHECKPOINT_POLICIES = ("nothing_saveable", "everything_saveable", "dots_saveable",
                       "dots_with_no_batch_dims_saveable", "save_only_these_names",
                       "save_any_names_but_these", "save_anything_except_these_names")
NAMED_POLICIES = ("save_only_these_names", "save_any_names_but_these",
                  "save_anything_except_these_names")


def _str_tuple(v: object) -> tuple[str, ...]:
    return tuple(str(a) for a in v)  # type: ignore[attr-defined]


@primitive("checkpoint", multiple_results=True, family="control")
class Checkpoint(Op):
    """`body` whose intermediate values reverse mode recomputes instead of keeping, except those
    the `policy` saves: `dots_saveable` the results of `dot_general`,
    `dots_with_no_batch_dims_saveable` those without batch dimensions, `everything_saveable`
    all, the named policies the results of `checkpoint_name` by their `names`. `prevent_cse`:
    the recomputation starts from an `optimization_barrier` (so XLA does not merge it with the
    forward pass)."""

    body: Program
    policy: str = "nothing_saveable"
    names: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    prevent_cse: bool = True

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        if self.policy not in CHECKPOINT_POLICIES:
            self.fail(f"policy must be one of {CHECKPOINT_POLICIES}", in_types)
        if self.names and self.policy not in NAMED_POLICIES:
            self.fail(f"names {self.names} need one of the policies {NAMED_POLICIES}", in_types)
        _match(self, "body inputs", self.body.in_types, tuple(in_types), in_types)
        return self.body.out_types


@primitive("checkpoint_name", family="control")
class CheckpointName(Op):
    """The identity, marking its result with the name `label` (the field `name` is the
    primitive's) for the named policies of `checkpoint`."""

    label: str = attrs.field(converter=str)

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        return (in_types[0],)


@primitive("optimization_barrier", multiple_results=True, family="control")
class OptimizationBarrier(Op):
    """The identity, which the compiler may not see through (so recomputation stays
    recomputation)."""

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        return tuple(in_types)


CONTROL += [CustomJvpCall, CustomVjpCall, Checkpoint, CheckpointName, OptimizationBarrier]
