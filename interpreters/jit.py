"""`jit`: stage a function once per argument signature, lower it to StableHLO, compile it with
XLA and run the executable on a device; results are device-backed `d.Array`s.

The cache key is (function, argument pytree structure, each leaf's shape, dtype and weakness,
static argument values); executables live in one bounded LRU shared by all jitted functions.
Called inside another staging (any argument symbolic), a jitted function simply inlines.
The ahead-of-time path is `jit(f).lower(*args)` -> `Lowered` (`.as_text()`, `.compile()`) ->
`Compiled` (`.cost_analysis()`, `.memory_analysis()`, callable with arguments of exactly the
lowered types, anything else is a `TypeError`). `export`/`load` live in `interpreters.export`.
"""

from __future__ import annotations

import collections
import functools
import inspect
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl.array import Array
from dsl.core import Tracer
from dsl.errors import ArgumentTypeError, ArgumentValueError, DTypeError, ShapeError
from dsl.ir import Program
from dsl.pytree import PyTreeDef, tree_flatten, tree_unflatten
from dsl.staging import stage_with_tree
from dsl.types import TensorType, types_str

CACHE_SIZE = 512
_EXECUTABLES: collections.OrderedDict[Any, Any] = collections.OrderedDict()


def _compile_cached(program: Program, device: Any, donate: tuple[int, ...]) -> Any:
    """The executable of `program` on `device` (bounded LRU, keyed by the program's structure)."""
    from backends import xla
    from interpreters.lower import lower_program

    key = (program, device, donate)
    exe = _EXECUTABLES.get(key)
    if exe is not None:
        _EXECUTABLES.move_to_end(key)
        return exe
    exe = xla.compile_text(_module_text(program, donate, device.platform), [device])
    _EXECUTABLES[key] = exe
    if len(_EXECUTABLES) > CACHE_SIZE:
        _EXECUTABLES.popitem(last=False)
    return exe


def _module_text(program: Program, donate: tuple[int, ...], platform: str = "cpu") -> str:
    from interpreters.lower import lower_program

    arg_attrs = None
    if donate:
        arg_attrs = ["{jax.buffer_donor = true}" if i in donate else "" for i in
                     range(len(program.inputs))]
    return lower_program(program, name="jit", arg_attrs=arg_attrs, platform=platform)


class Compiled:
    """A compiled program for arguments of exactly `in_types` (in the `in_tree` structure)."""

    def __init__(self, program: Program, in_tree: PyTreeDef, out_tree: PyTreeDef, device: Any,
                 donate: tuple[int, ...] = ()):
        self.program = program
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.device = device
        self.donate = donate
        self.in_types = program.in_types
        self.out_types = program.out_types
        self.executable = _compile_cached(program, device, donate)
        self._out_weak = tuple(t.weak for t in self.out_types)
        from backends import devices, xla

        self._handlers = [xla.result_handler(t, device) for t in self.out_types]
        self._execute = self.executable.execute_sharded
        self._one_device = len(devices(device.platform)) == 1
        self._single_leaf_out = out_tree.num_leaves == 1 and tree_unflatten(out_tree, [0]) == 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves, tree = tree_flatten((args, kwargs))
        if tree != self.in_tree:
            raise ArgumentTypeError(f"compiled function expects arguments structured as "
                                    f"{self.in_tree}, got {tree}")
        check_leaves("compiled function", leaves, self.in_types)
        return self.run(leaves)

    def run(self, leaves: Sequence[Any]) -> Any:
        """Execute on already flattened, already checked leaves; returns the output pytree."""
        # the hot path of every jitted call: keep it free of avoidable calls
        device, one = self.device, self._one_device
        bufs = []
        for x, t in zip(leaves, self.in_types):
            b = x._buffer if type(x) is Array else None
            bufs.append(b if b is not None and (one or _device_of(b) == device)
                        else _buffer(x, t, device))
        outs = self._execute(bufs).consume_with_handlers(self._handlers)
        on_device = Array._on_device
        if self._single_leaf_out:
            a = _new_array(Array)  # Array._on_device, inlined: this is the hot path
            a._host, a._buffer, a._weak, a._lit = None, outs[0], self._out_weak[0], None
            return a
        return tree_unflatten(self.out_tree, [on_device(b, w) for b, w in
                                              zip(outs, self._out_weak)])

    def run_buffers(self, bufs: list[Any]) -> Any:
        """Execute on device buffers already on this (single) device: the fastest path."""
        outs = self._execute(bufs).consume_with_handlers(self._handlers)
        if self._single_leaf_out:
            a = _new_array(Array)
            a._host, a._buffer, a._weak, a._lit = None, outs[0], self._out_weak[0], None
            return a
        return tree_unflatten(self.out_tree, [Array._on_device(b, w) for b, w in
                                              zip(outs, self._out_weak)])

    def as_text(self) -> str:
        return _module_text(self.program, self.donate, self.device.platform)

    def cost_analysis(self) -> dict[str, float]:
        """XLA's estimate of the program's cost (`flops`, `bytes accessed`, ...)."""
        return dict(self.executable.cost_analysis())

    def memory_analysis(self) -> Any:
        """XLA's memory statistics of the compiled program (argument, output, temp sizes)."""
        return self.executable.get_compiled_memory_stats()


_new_array = object.__new__


def _device_of(buffer: Any) -> Any:
    from backends import buffer_device

    return buffer_device(buffer)


def _buffer(x: Any, t: TensorType, device: Any) -> Any:
    from backends import buffer_device, xla

    if type(x) is Array:
        b = x._buffer
        if b is not None and buffer_device(b) == device:
            return b
        host = x._value
        if b is None and host.dtype == t.dtype:
            # an Array is immutable: keep its device copy for the next call
            x._buffer = xla.put(np.ascontiguousarray(host), t, device)
            return x._buffer
    else:
        host = np.asarray(x, dtype=t.dtype)
    if host.dtype != t.dtype:
        host = host.astype(t.dtype)
    return xla.put(np.ascontiguousarray(host), t, device)


def _leaf_type(x: Any) -> TensorType:
    if type(x) is Array:
        return x.type
    if isinstance(x, (np.ndarray, np.generic)):
        return TensorType(np.shape(x), x.dtype)
    if isinstance(x, (bool, int, float, complex)):
        return TensorType((), dtypes.scalar_dtype(x), not isinstance(x, bool))
    raise ArgumentTypeError(f"expected an array or a Python scalar, got {type(x).__name__}")


def check_leaves(what: str, leaves: Sequence[Any], types: Sequence[TensorType]) -> None:
    """Arguments must have exactly the shapes and dtypes of `types` (never reinterpreted)."""
    if len(leaves) != len(types):
        raise ArgumentTypeError(f"{what}: expects {len(types)} array arguments, got "
                                f"{len(leaves)}")
    for i, (x, t) in enumerate(zip(leaves, types)):
        got = _leaf_type(x)
        if got.shape != t.shape:
            raise ShapeError(f"{what}: argument {i} has type {got} but the program was compiled "
                             f"for {t} (all: {types_str(tuple(types))})")
        if got.dtype != t.dtype:
            raise DTypeError(f"{what}: argument {i} has type {got} but the program was compiled "
                             f"for {t} (all: {types_str(tuple(types))})")


class Lowered:
    """A staged and lowered program: `.as_text()` is its StableHLO, `.compile()` compiles it."""

    def __init__(self, program: Program, in_tree: PyTreeDef, out_tree: PyTreeDef, device: Any,
                 donate: tuple[int, ...]):
        self.program = program
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.device = device
        self.donate = donate

    def as_text(self) -> str:
        return _module_text(self.program, self.donate, self.device.platform)

    def compile(self) -> Compiled:
        return Compiled(self.program, self.in_tree, self.out_tree, self.device, self.donate)


def _normalize_argnums(what: str, nums: int | Sequence[int], n: int | None) -> tuple[int, ...]:
    if isinstance(nums, int):
        nums = (nums,)
    out = []
    for i in nums:
        if isinstance(i, bool) or not isinstance(i, int):
            raise ArgumentTypeError(f"jit: {what} must be ints, got {i!r}")
        out.append(i)
    return tuple(out)


class Jitted:
    """`jit(f)`: call it like `f`. See the module docstring."""

    def __init__(self, fn: Callable[..., Any], static_argnums: tuple[int, ...],
                 static_argnames: tuple[str, ...], donate_argnums: tuple[int, ...],
                 device: Any):
        self.fn = fn
        self.static_argnums = static_argnums
        self.static_argnames = static_argnames
        self.donate_argnums = donate_argnums
        self._device = device
        self._cache: dict[Any, Compiled] = {}
        self._flat_cache: dict[Any, Compiled] = {}
        self._plain = not static_argnums and not static_argnames
        functools.update_wrapper(self, fn, updated=())  # type: ignore[arg-type]
        try:
            self._signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None

    @property
    def device(self) -> Any:
        if self._device is None:
            from backends import devices

            self._device = devices()[0]
        return self._device

    def _split(self, args: tuple[Any, ...], kwargs: dict[str, Any]
               ) -> tuple[tuple[Any, ...], dict[str, Any], tuple[Any, ...]]:
        """(dynamic positional args, dynamic kwargs, hashable static part)."""
        statics: list[Any] = []
        n = len(args)
        nums = tuple(i + n if i < 0 else i for i in self.static_argnums)
        for i in nums:
            if not 0 <= i < n:
                raise ArgumentValueError(f"jit: static_argnums refers to argument {i}, but "
                                         f"{getattr(self.fn, '__name__', 'the function')} was "
                                         f"called with {n} positional arguments")
        dyn = tuple(a for i, a in enumerate(args) if i not in nums)
        for i in nums:
            statics.append(("pos", i, _hashable(args[i], f"static argument {i}")))
        dkw = {}
        for k, v in kwargs.items():
            if k in self.static_argnames:
                statics.append(("kw", k, _hashable(v, f"static argument {k!r}")))
            else:
                dkw[k] = v
        return dyn, dkw, tuple(statics)

    def _bound(self, args: tuple[Any, ...], kwargs: dict[str, Any], statics: tuple[Any, ...]
               ) -> Callable[..., Any]:
        nums = sorted(i for kind, i, _ in statics if kind == "pos")
        static_pos = {i: v for kind, i, v in statics if kind == "pos"}
        static_kw = {k: v for kind, k, v in statics if kind == "kw"}
        total = len(args) + len(nums)
        fn = self.fn

        def call(dyn: tuple[Any, ...], dkw: dict[str, Any]) -> Any:
            it = iter(dyn)
            full = [static_pos[i] if i in static_pos else next(it) for i in range(total)]
            return fn(*full, **dkw, **static_kw)

        return call

    def _entry(self, dyn: tuple[Any, ...], dkw: dict[str, Any], statics: tuple[Any, ...]
               ) -> Compiled:
        call = self._bound(dyn, dkw, statics)
        program, out_tree, _ = stage_with_tree(lambda a, k: call(a, k), (dyn, dkw), what="jit")
        _, in_tree = tree_flatten((dyn, dkw))
        donate = self._donated(dyn, statics)
        return Compiled(program, in_tree, out_tree, self.device, donate)

    def _donated(self, dyn: tuple[Any, ...], statics: tuple[Any, ...]) -> tuple[int, ...]:
        if not self.donate_argnums:
            return ()
        static_nums = {i for kind, i, _ in statics if kind == "pos"}
        n = len(dyn) + len(static_nums)
        donated: list[int] = []
        leaf = 0
        dyn_index = 0
        for i in range(n):
            if i in static_nums:
                continue
            count = len(tree_flatten(dyn[dyn_index])[0])
            if i in self.donate_argnums or i - n in self.donate_argnums:
                donated.extend(range(leaf, leaf + count))
            leaf += count
            dyn_index += 1
        return tuple(donated)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and self._plain:
            # the common case: positional arrays only; the key is their types
            # (device buffers of one type share one aval object: its identity is the key)
            key: Any = []
            bufs: list[Any] = []
            for a in args:
                if type(a) is not Array:
                    break
                b = a._buffer
                if b is not None:
                    key.append((b.aval, a._weak))
                    bufs.append(b)
                else:
                    key.append((a._host.shape, a._host.dtype, a._weak))
            else:
                key = tuple(key)
                entry = self._flat_cache.get(key)
                if entry is None:
                    entry = self._flat_entry(args, key)
                if len(bufs) == len(args) and entry._one_device:
                    return entry.run_buffers(bufs)
                return entry.run(args)
        if self.static_argnums or self.static_argnames or kwargs:
            dyn, dkw, statics = self._split(args, kwargs)
        else:
            dyn, dkw, statics = args, {}, ()
        leaves, tree = tree_flatten((dyn, dkw))
        for x in leaves:
            if type(x) is Tracer:  # inside another staging: inline
                return self.fn(*args, **kwargs)
        key = (tree, statics, *[_sig(x) for x in leaves])
        entry = self._cache.get(key)
        if entry is None:
            entry = self._entry(dyn, dkw, statics)
            if len(self._cache) > CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = entry
        return entry.run(leaves)

    def _flat_entry(self, args: tuple[Any, ...], key: Any) -> Compiled:
        types = tuple(_sig(a) for a in args)
        entry = self._cache.get(("flat", types))
        if entry is None:
            entry = self._entry(args, {}, ())
            self._cache[("flat", types)] = entry
        if len(self._flat_cache) > CACHE_SIZE:
            self._flat_cache.clear()
        self._flat_cache[key] = entry
        return entry

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Stage and lower for arguments like these (arrays, scalars or `TensorType`s)."""
        dyn, dkw, statics = self._split(args, kwargs)
        call = self._bound(dyn, dkw, statics)
        program, out_tree, _ = stage_with_tree(lambda a, k: call(a, k), (dyn, dkw), what="jit")
        _, in_tree = tree_flatten((dyn, dkw))
        return Lowered(program, in_tree, out_tree, self.device, self._donated(dyn, statics))

    def clear_cache(self) -> None:
        self._cache.clear()
        self._flat_cache.clear()


def _sig(x: Any) -> Hashable:
    t = type(x)
    if t is Array:
        h = x._host
        if h is not None:
            return (h.shape, h.dtype, x._weak)
        aval = x._buffer.aval
        return (aval.shape, aval.dtype, x._weak)
    if t is np.ndarray:
        return (x.shape, x.dtype, False)
    if t is float or t is int or t is bool or t is complex:
        return t
    return _leaf_type(x)


def _hashable(v: Any, what: str) -> Any:
    try:
        hash(v)
    except TypeError:
        raise ArgumentTypeError(f"jit: {what} must be hashable, got a {type(v).__name__}; "
                                "pass arrays as dynamic arguments") from None
    return v


def jit(fn: Callable[..., Any] | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        device: Any = None) -> Any:
    """Compile `fn` with XLA; usable as `jit(f, ...)` or as a decorator `@jit` / `@jit(...)`."""
    def wrap(f: Callable[..., Any]) -> Jitted:
        if not callable(f):
            raise ArgumentTypeError(f"jit: expected a function, got {type(f).__name__}")
        names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        return Jitted(f, _normalize_argnums("static_argnums", static_argnums, None), names,
                      _normalize_argnums("donate_argnums", donate_argnums, None), device)

    return wrap if fn is None else wrap(fn)


__all__ = ["Compiled", "Jitted", "Lowered", "check_leaves", "jit"]
