"""Reductions, cumulative reductions, `dot_general` and `sort`.

The monoid reductions (`reduce_sum`, `reduce_max`, ...) and the cumulative ones are each one
family: one class per monoid sharing a type rule. Arbitrary associative reductions are the
`reduce` combinator (`dsl.ops.control`).
"""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np

from dsl import dtypes
from dsl.ir import Op, primitive
from dsl.ops.structural import _ints, check_axes
from dsl.types import TensorType

REDUCTIONS: list[type[Op]] = []
CUMULATIVE: list[type[Op]] = []

_ORDERED = dtypes.INTEGER + dtypes.FLOATING + (dtypes.bool_,)


class ReduceOp(Op):
    """Reduce `axes` away with a monoid."""

    allowed: ClassVar[tuple[np.dtype, ...]] = dtypes.NUMERIC

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        if x.dtype not in type(self).allowed:
            self.fail(f"does not accept dtype {dtypes.short_name(x.dtype)}", in_types, dtype=True)
        axes = self.axes  # type: ignore[attr-defined]
        check_axes(self, axes, x.ndim, in_types)
        shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
        return (TensorType(shape, x.dtype, x.weak),)


def _reduction(name: str, allowed: tuple[np.dtype, ...]) -> type[Op]:
    ns = {"__module__": __name__, "__annotations__": {"axes": "tuple[int, ...]"},
          "axes": attrs.field(converter=_ints)}
    cls = type("Reduce" + name.capitalize(), (ReduceOp,), ns)
    cls.allowed = allowed
    cls = primitive(f"reduce_{name}", family="reduction")(cls)
    REDUCTIONS.append(cls)
    return cls


ReduceSum = _reduction("sum", dtypes.NUMERIC)
ReduceProd = _reduction("prod", dtypes.NUMERIC)
ReduceMax = _reduction("max", _ORDERED)
ReduceMin = _reduction("min", _ORDERED)
ReduceAnd = _reduction("and", dtypes.INTEGER + (dtypes.bool_,))
ReduceOr = _reduction("or", dtypes.INTEGER + (dtypes.bool_,))


class ArgOp(Op):
    """Index of the extreme element along `axis` (first occurrence; NaN counts as extreme)."""

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        axis, index_dtype = self.axis, self.index_dtype  # type: ignore[attr-defined]
        check_axes(self, (axis,), x.ndim, in_types)
        if x.shape[axis] == 0:
            self.fail(f"cannot take {self.name} of an empty axis {axis}", in_types)
        if x.dtype not in _ORDERED:
            self.fail("operand must be ordered (not complex)", in_types, dtype=True)
        if not dtypes.is_integer(index_dtype):
            self.fail("index_dtype must be an integer dtype", in_types, dtype=True)
        shape = tuple(n for i, n in enumerate(x.shape) if i != axis)
        return (TensorType(shape, index_dtype),)


@primitive("argmax", family="reduction")
class Argmax(ArgOp):
    axis: int
    index_dtype: np.dtype = attrs.field(default=dtypes.int32, converter=dtypes.canonicalize)


@primitive("argmin", family="reduction")
class Argmin(ArgOp):
    axis: int
    index_dtype: np.dtype = attrs.field(default=dtypes.int32, converter=dtypes.canonicalize)


class CumulativeOp(Op):
    """Inclusive running reduction along `axis` (from the end when `reverse`)."""

    allowed: ClassVar[tuple[np.dtype, ...]] = dtypes.NUMERIC

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 1)
        (x,) = in_types
        if x.dtype not in type(self).allowed:
            self.fail(f"does not accept dtype {dtypes.short_name(x.dtype)}", in_types, dtype=True)
        check_axes(self, (self.axis,), x.ndim, in_types)  # type: ignore[attr-defined]
        return (x,)


def _cumulative(name: str, allowed: tuple[np.dtype, ...]) -> type[Op]:
    ns = {"__module__": __name__, "__annotations__": {"axis": "int", "reverse": "bool"},
          "reverse": attrs.field(default=False)}
    cls = type(name.capitalize(), (CumulativeOp,), ns)
    cls.allowed = allowed
    cls = primitive(name, family="cumulative")(cls)
    CUMULATIVE.append(cls)
    return cls


Cumsum = _cumulative("cumsum", dtypes.NUMERIC)
Cumprod = _cumulative("cumprod", dtypes.NUMERIC)
Cummax = _cumulative("cummax", _ORDERED)
Cummin = _cumulative("cummin", _ORDERED)


def _dim_pairs(v: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
    a, b = v  # type: ignore[misc]
    return (_ints(a), _ints(b))


@primitive("dot_general", family="linalg")
class DotGeneral(Op):
    """Generalised matrix product.

    `contracting = (lhs_dims, rhs_dims)` are summed over; `batch = (lhs_dims, rhs_dims)` are
    matched elementwise. The output has the batch dimensions, then the lhs free dimensions, then
    the rhs free dimensions. `preferred` sets the result (accumulation) dtype, e.g. i8 x i8 -> i32.
    """

    contracting: tuple[tuple[int, ...], tuple[int, ...]] = attrs.field(converter=_dim_pairs)
    batch: tuple[tuple[int, ...], tuple[int, ...]] = attrs.field(
        default=((), ()), converter=_dim_pairs)
    preferred: np.dtype | None = attrs.field(
        default=None, converter=lambda v: None if v is None else dtypes.canonicalize(v))

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        self.check_arity(in_types, 2)
        x, y = in_types
        if x.dtype != y.dtype:
            self.fail("operands must have the same dtype", in_types, dtype=True)
        if x.dtype not in dtypes.NUMERIC:
            self.fail("operands must be numeric", in_types, dtype=True)
        (lc, rc), (lb, rb) = self.contracting, self.batch
        if len(lc) != len(rc) or len(lb) != len(rb):
            self.fail(f"dimension numbers {self.contracting}/{self.batch} do not pair up",
                      in_types)
        check_axes(self, lc + lb, x.ndim, in_types, "lhs dimensions")
        check_axes(self, rc + rb, y.ndim, in_types, "rhs dimensions")
        for a, b in zip(lc + lb, rc + rb):
            if x.shape[a] != y.shape[b]:
                self.fail(f"contracted/batch dimensions differ: lhs dim {a} has size "
                          f"{x.shape[a]}, rhs dim {b} has size {y.shape[b]}", in_types)
        free_x = [n for i, n in enumerate(x.shape) if i not in lc + lb]
        free_y = [n for i, n in enumerate(y.shape) if i not in rc + rb]
        shape = tuple(x.shape[i] for i in lb) + tuple(free_x) + tuple(free_y)
        dt = self.preferred or x.dtype
        if self.preferred is not None and dtypes.kind_rank(dt) < dtypes.kind_rank(x.dtype):
            self.fail(f"preferred dtype {dtypes.short_name(dt)} loses precision", in_types,
                      dtype=True)
        return (TensorType(shape, dt, x.weak and y.weak and self.preferred is None),)


@primitive("sort", multiple_results=True, family="sort")
class Sort(Op):
    """Stable sort of several same-shaped operands along `dimension`, ordered by the first
    `num_keys` operands lexicographically (NaNs last); the others are carried along."""

    dimension: int
    num_keys: int = 1

    def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
        if not in_types:
            self.fail("needs at least one operand", in_types)
        x = in_types[0]
        if any(t.shape != x.shape for t in in_types):
            self.fail("operands must have the same shape", in_types)
        if not 1 <= self.num_keys <= len(in_types):
            self.fail(f"num_keys={self.num_keys} must be in [1, {len(in_types)}]", in_types)
        if any(dtypes.is_complex(t.dtype) for t in in_types[: self.num_keys]):
            self.fail("complex keys are not ordered", in_types, dtype=True)
        check_axes(self, (self.dimension,), x.ndim, in_types, "dimension")
        return tuple(in_types)
