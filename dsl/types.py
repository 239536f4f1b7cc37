"""Types of values: `TensorType` (shape, dtype, weak flag, sharding), printed `f32[3,4]`.

A weak type (the type of a Python scalar, see `dsl.dtypes`) prints with a leading `~`: `~f32[]`.
The sharding slot holds, per dimension, the mesh axis names that dimension is split over (empty
for a replicated dimension); it prints as `f32[512@data,512]`, or `@(data,model)` for several axes.
It stays `None` (unsharded) until the sharding interpreter fills it.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from dsl import dtypes
from dsl.pytree import register_leaf

Sharding = tuple[tuple[str, ...], ...]


def _to_shape(shape: Any) -> tuple[int, ...]:
    if type(shape) is tuple and all(type(d) is int for d in shape):
        return shape
    return tuple(int(d) for d in shape)


@attrs.frozen(cache_hash=True, repr=False)
class TensorType:
    """The type of an array value: its shape, dtype, weakness and (optional) sharding."""

    shape: tuple[int, ...] = attrs.field(converter=_to_shape)
    dtype: np.dtype = attrs.field(converter=dtypes.canonicalize)
    weak: bool = False
    sharding: Sharding | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def strong(self) -> TensorType:
        """This type without the weak flag."""
        return attrs.evolve(self, weak=False) if self.weak else self

    def with_shape(self, shape: tuple[int, ...]) -> TensorType:
        return TensorType(shape, self.dtype, self.weak)

    def with_dtype(self, dtype: np.dtype) -> TensorType:
        return TensorType(self.shape, dtype, self.weak)

    def same_ignoring_weak(self, other: TensorType) -> bool:
        return self.shape == other.shape and self.dtype == other.dtype

    def __str__(self) -> str:
        dims = []
        for i, n in enumerate(self.shape):
            axes = self.sharding[i] if self.sharding is not None else ()
            if not axes:
                dims.append(str(n))
            elif len(axes) == 1:
                dims.append(f"{n}@{axes[0]}")
            else:
                dims.append(f"{n}@({','.join(axes)})")
        return f"{'~' if self.weak else ''}{dtypes.short_name(self.dtype)}[{','.join(dims)}]"

    __repr__ = __str__


def types_str(types: tuple[TensorType, ...] | list[TensorType]) -> str:
    """`(f32[3], i32[])`, for messages."""
    return "(" + ", ".join(str(t) for t in types) + ")"


@attrs.frozen
class FunctionType:
    """The type of a program: `(f32[3], f32[]) -> (f32[],)`."""

    inputs: tuple[TensorType, ...]
    outputs: tuple[TensorType, ...]

    def __str__(self) -> str:
        outs = ", ".join(str(t) for t in self.outputs)
        if len(self.outputs) == 1:
            outs += ","
        return f"{types_str(self.inputs)} -> ({outs})"


def typeof_value(value: Any) -> TensorType:
    """The type of a concrete NumPy value (strong)."""
    return TensorType(np.shape(value), np.asarray(value).dtype)


# Types are values of the language's metadata, not containers of arrays.
register_leaf(TensorType)
register_leaf(FunctionType)
