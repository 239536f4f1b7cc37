"""`Array`, the one array type users see, and the operator sugar it shares with symbolic values.

`ArrayOps` gives arrays and tracers the same NumPy-like surface: arithmetic and comparison
operators, `@`, indexing, `.at[...]` functional updates, `.T`, `.reshape`, `.astype`, reductions
as methods. Every operator calls the user-level function of `dsl.numpy_api`, so an operator on a
concrete `Array` evaluates at once and the same operator on a tracer stages an equation.

`Array` is host-backed (an immutable NumPy buffer) after eager evaluation and device-backed (a
buffer of a PJRT device, supplied by `backends`) after `jit`. A device-backed array fetches its
host copy on first need (zero-copy on CPU) through `DEVICE_HOOK`, which `backends` fills, so `dsl`
never imports the backends. A device-backed array may be sharded over a mesh of devices
(`.sharding`, `.addressable_shards`): its host copy gathers the pieces, and its type carries the
mesh axes of an Explicit sharding (`f32[512@data,512]`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from dsl import dtypes
from dsl.types import TensorType
from dsl.errors import ArgumentTypeError, ArgumentValueError

_api: ModuleType = None  # type: ignore[assignment]  # dsl.numpy_api, set when it is imported

# backends installs its runtime module here (with `to_host(buffer) -> np.ndarray` and
# `to_dlpack(buffer, stream)`) when it makes its first client
DEVICE_HOOK: list[Any] = [None]


class ArrayOps:
    """Operators and methods shared by `Array` and `Tracer`; each defers to `dsl.numpy_api`."""

    __slots__ = ()
    __array_priority__ = 100

    # Properties every implementer provides: shape, dtype, weak.
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def T(self) -> Any:
        return _api.transpose(self)

    @property
    def mT(self) -> Any:
        return _api.swapaxes(self, -1, -2)

    @property
    def real(self) -> Any:
        return _api.real(self)

    @property
    def imag(self) -> Any:
        return _api.imag(self)

    @property
    def at(self) -> Any:
        return _api._AtIndexer(self)

    def __len__(self) -> int:
        if not self.shape:
            raise ArgumentTypeError(f"len() of a scalar ({self.type})")  # type: ignore[attr-defined]
        return self.shape[0]

    def __iter__(self) -> Any:
        if not self.shape:
            raise ArgumentTypeError(f"iteration over a scalar ({self.type})")  # type: ignore[attr-defined]
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, idx: Any) -> Any:
        return _api._getitem(self, idx)

    def __setitem__(self, idx: Any, value: Any) -> None:
        raise ArgumentTypeError("arrays are immutable: use x = x.at[idx].set(value) instead of "
                        "x[idx] = value")

    def __neg__(self) -> Any: return _api.negative(self)
    def __pos__(self) -> Any: return self
    def __abs__(self) -> Any: return _api.abs(self)
    def __invert__(self) -> Any: return _api.invert(self)
    def __add__(self, o: Any) -> Any: return _api.add(self, o)
    def __radd__(self, o: Any) -> Any: return _api.add(o, self)
    def __sub__(self, o: Any) -> Any: return _api.subtract(self, o)
    def __rsub__(self, o: Any) -> Any: return _api.subtract(o, self)
    def __mul__(self, o: Any) -> Any: return _api.multiply(self, o)
    def __rmul__(self, o: Any) -> Any: return _api.multiply(o, self)
    def __truediv__(self, o: Any) -> Any: return _api.true_divide(self, o)
    def __rtruediv__(self, o: Any) -> Any: return _api.true_divide(o, self)
    def __floordiv__(self, o: Any) -> Any: return _api.floor_divide(self, o)
    def __rfloordiv__(self, o: Any) -> Any: return _api.floor_divide(o, self)
    def __mod__(self, o: Any) -> Any: return _api.remainder(self, o)
    def __rmod__(self, o: Any) -> Any: return _api.remainder(o, self)
    def __divmod__(self, o: Any) -> Any: return _api.divmod(self, o)
    def __rdivmod__(self, o: Any) -> Any: return _api.divmod(o, self)
    def __pow__(self, o: Any) -> Any: return _api.power(self, o)
    def __rpow__(self, o: Any) -> Any: return _api.power(o, self)
    def __matmul__(self, o: Any) -> Any: return _api.matmul(self, o)
    def __rmatmul__(self, o: Any) -> Any: return _api.matmul(o, self)
    def __and__(self, o: Any) -> Any: return _api.bitwise_and(self, o)
    def __rand__(self, o: Any) -> Any: return _api.bitwise_and(o, self)
    def __or__(self, o: Any) -> Any: return _api.bitwise_or(self, o)
    def __ror__(self, o: Any) -> Any: return _api.bitwise_or(o, self)
    def __xor__(self, o: Any) -> Any: return _api.bitwise_xor(self, o)
    def __rxor__(self, o: Any) -> Any: return _api.bitwise_xor(o, self)
    def __lshift__(self, o: Any) -> Any: return _api.left_shift(self, o)
    def __rlshift__(self, o: Any) -> Any: return _api.left_shift(o, self)
    def __rshift__(self, o: Any) -> Any: return _api.right_shift(self, o)
    def __rrshift__(self, o: Any) -> Any: return _api.right_shift(o, self)
    def __lt__(self, o: Any) -> Any: return _api.less(self, o)
    def __le__(self, o: Any) -> Any: return _api.less_equal(self, o)
    def __gt__(self, o: Any) -> Any: return _api.greater(self, o)
    def __ge__(self, o: Any) -> Any: return _api.greater_equal(self, o)
    def __eq__(self, o: Any) -> Any: return _api.equal(self, o)  # type: ignore[override]
    def __ne__(self, o: Any) -> Any: return _api.not_equal(self, o)  # type: ignore[override]

    __hash__ = None  # type: ignore[assignment]  # like NumPy arrays: == is elementwise

    def reshape(self, *shape: Any, order: str = "C") -> Any:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _api.reshape(self, shape, order=order)

    def astype(self, dtype: Any) -> Any: return _api.astype(self, dtype)
    def ravel(self) -> Any: return _api.ravel(self)
    def flatten(self) -> Any: return _api.ravel(self)
    def squeeze(self, axis: Any = None) -> Any: return _api.squeeze(self, axis)
    def transpose(self, *axes: Any) -> Any:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)) or axes == (None,):
            axes = axes[0]  # type: ignore[assignment]
        return _api.transpose(self, axes or None)
    def swapaxes(self, a: int, b: int) -> Any: return _api.swapaxes(self, a, b)
    def sum(self, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return _api.sum(self, axis=axis, dtype=dtype, keepdims=keepdims)
    def prod(self, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return _api.prod(self, axis=axis, dtype=dtype, keepdims=keepdims)
    def mean(self, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return _api.mean(self, axis=axis, dtype=dtype, keepdims=keepdims)
    def var(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
        return _api.var(self, axis=axis, ddof=ddof, keepdims=keepdims)
    def std(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
        return _api.std(self, axis=axis, ddof=ddof, keepdims=keepdims)
    def max(self, axis: Any = None, keepdims: bool = False) -> Any:
        return _api.max(self, axis=axis, keepdims=keepdims)
    def min(self, axis: Any = None, keepdims: bool = False) -> Any:
        return _api.min(self, axis=axis, keepdims=keepdims)
    def any(self, axis: Any = None, keepdims: bool = False) -> Any:
        return _api.any(self, axis=axis, keepdims=keepdims)
    def all(self, axis: Any = None, keepdims: bool = False) -> Any:
        return _api.all(self, axis=axis, keepdims=keepdims)
    def argmax(self, axis: Any = None) -> Any: return _api.argmax(self, axis=axis)
    def argmin(self, axis: Any = None) -> Any: return _api.argmin(self, axis=axis)
    def cumsum(self, axis: Any = None) -> Any: return _api.cumsum(self, axis=axis)
    def cumprod(self, axis: Any = None) -> Any: return _api.cumprod(self, axis=axis)
    def dot(self, o: Any) -> Any: return _api.dot(self, o)
    def conj(self) -> Any: return _api.conj(self)
    def clip(self, min: Any = None, max: Any = None) -> Any: return _api.clip(self, min, max)
    def round(self, decimals: int = 0) -> Any: return _api.round(self, decimals)


class Array(ArrayOps):
    """An immutable array value, host- or device-backed. Behaves like a NumPy array."""

    __slots__ = ("_host", "_buffer", "_weak", "_lit")

    def __init__(self, value: np.ndarray, weak: bool = False):
        # `value` is owned by this Array and never written; NumPy sees it only through the
        # read-only views `__array__` hands out (marking every fresh buffer read-only here
        # would cost more than the eager op that made it).
        self._host: np.ndarray | None = value
        self._buffer: Any = None  # the device buffer, when there is one
        self._weak = weak
        self._lit: Any = None  # the literal standing for this value in programs, made once

    @classmethod
    def _on_device(cls, buffer: Any, weak: bool = False) -> Array:
        """An array whose value lives in a device buffer (a jaxlib array with an `aval`)."""
        a = cls.__new__(cls)
        a._host = None
        a._buffer = buffer
        a._weak = weak
        a._lit = None
        return a

    @property
    def _value(self) -> np.ndarray:
        """The host value (fetched from the device on first use)."""
        h = self._host
        if h is None:
            h = self._host = DEVICE_HOOK[0].to_host(self._buffer)
        return h

    @property
    def shape(self) -> tuple[int, ...]:
        h = self._host
        return h.shape if h is not None else tuple(self._buffer.aval.shape)

    @property
    def dtype(self) -> np.dtype:
        h = self._host
        return h.dtype if h is not None else self._buffer.aval.dtype

    @property
    def weak(self) -> bool:
        return self._weak

    @property
    def type(self) -> TensorType:
        b = self._buffer
        if b is not None:
            layout = getattr(b.aval, "layout", None)
            if layout is not None and layout.type_sharding is not None:
                # laid out over Explicit mesh axes: the type says so (`f32[512@data,512]`)
                return TensorType(self.shape, self.dtype, self._weak, layout.type_sharding)
        return TensorType(self.shape, self.dtype, self._weak)

    @property
    def sharding(self) -> Any:
        """How this array is laid out: a `NamedSharding` when it is split or replicated over
        a mesh, the device's `SingleDeviceSharding` when it lives on one device, None while it
        is host-backed (not on any device yet)."""
        if self._buffer is None:
            return None
        return DEVICE_HOOK[0].sharding_of(self._buffer)

    @property
    def addressable_shards(self) -> list[Any]:
        """The pieces of this array held by this process's devices, each with `.device`,
        `.index` (a tuple of slices into the whole array) and `.data` (an `Array` on that
        device); one piece covering everything for an unsharded array."""
        if self._buffer is None:
            from types import SimpleNamespace

            return [SimpleNamespace(device=None, index=tuple(slice(None) for _ in self.shape),
                                    data=self)]
        return list(DEVICE_HOOK[0].shards_of(self))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        v = self._value
        if dtype is not None and np.dtype(dtype) != v.dtype:
            return v.astype(dtype)
        if copy:
            return v.copy()
        view = v.view()
        view.flags.writeable = False
        return view

    def __repr__(self) -> str:
        body = np.array2string(self._value, separator=", ", prefix="Array(")
        suffix = f", dtype={self._value.dtype.name}"
        weak = ", weak_type=True" if self._weak else ""
        return f"Array({body}{suffix}{weak})"

    def __str__(self) -> str:
        return str(self._value)

    def __format__(self, spec: str) -> str:
        if self._value.ndim == 0:
            return format(self._value.item(), spec)
        return format(str(self), spec)

    def __bool__(self) -> bool:
        if self._value.size != 1:
            raise ArgumentValueError(f"the truth value of an array of type {self.type} is ambiguous; "
                             "use d.any or d.all")
        return bool(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __complex__(self) -> complex:
        return complex(self._value)

    def __index__(self) -> int:
        if self._value.shape != () or self._value.dtype.kind not in "iub":
            raise ArgumentTypeError(f"only integer scalars can be Python indices, not {self.type}")
        return int(self._value)

    def item(self) -> Any:
        return self._value.item()

    def tolist(self) -> Any:
        return self._value.tolist()

    def block_until_ready(self) -> Array:
        """Wait until a device computation producing this array has finished."""
        if self._buffer is not None:
            DEVICE_HOOK[0].wait_ready(self._buffer)
        return self

    @property
    def is_device_backed(self) -> bool:
        return self._buffer is not None

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None, dl_device: Any = None,
                   copy: Any = None) -> Any:
        """Share this array's memory through DLPack (device memory when device-backed)."""
        if self._buffer is not None:
            return DEVICE_HOOK[0].to_dlpack(self._buffer, stream)
        return np.array(self._value, copy=True).__dlpack__()  # ours is immutable: a copy

    def __dlpack_device__(self) -> tuple[int, int]:
        if self._buffer is not None:
            return DEVICE_HOOK[0].dlpack_device(self._buffer)
        return (1, 0)  # kDLCPU

    def copy(self) -> Array:
        return self

    def __reduce__(self) -> Any:
        return (Array, (np.array(self._value), self._weak))
