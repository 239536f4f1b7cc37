"""The lowering interpreter: a `Program` becomes a StableHLO module (MLIR text) for XLA.

One walker (`lower_program`) and one table `RULES: dict[type[Op], Rule]`. A rule receives the
context, the op, its operands as typed SSA `Value`s and the declared output types, emits
operations through `ctx.op(...)`, and returns one `Value` per output:

    def add_lower(ctx: Ctx, op: P.Add, ins: list[Value], outs: tuple[TensorType, ...]) -> list[Value]:
        return ctx.op("stablehlo.add", ins, outs)

Every operation is written in MLIR's generic form (`%3 = "stablehlo.add"(%1, %2) : (tensor<3xf32>,
tensor<3xf32>) -> tensor<3xf32>`), one uniform syntax for every op, attribute and region. Text
costs a fraction of a millisecond per thousand ops; XLA's compile dominates. Combinator bodies
become regions (`ctx.region`) or private functions deduplicated by their structural fingerprint
(`ctx.call`). Constants are written as exact bit patterns (hex), so NaN, infinities, -0.0 and
subnormals survive. `lower(program, debug=True)` parses and verifies the module with MLIR's own
parser before anything is compiled, so a malformed rule fails at its line, not inside XLA.

The rules live by family: `elementwise`, `structural`, `reductions`, `control`, `collectives`
(a documented refusal outside `shard_map`: `vmap` eliminates the collectives over its axes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from dsl import dtypes
from dsl.errors import ShardingError
from dsl.ir import Eqn, Lit, Op, Program, Var
from dsl.ops.sharding import ShardingConstraint
from dsl.sharding import get_mesh, hlo_sharding
from dsl.types import Sharding, TensorType

Rule = Callable[..., list["Value"]]
RULES: dict[type[Op], Rule] = {}


@attrs.frozen
class Value:
    """An SSA value of the module being written: its name (`%7`) and its type."""

    name: str
    type: TensorType


_ELEMENT = {
    dtypes.bool_: "i1", dtypes.int8: "i8", dtypes.int16: "i16", dtypes.int32: "i32",
    dtypes.int64: "i64", dtypes.uint8: "ui8", dtypes.uint16: "ui16", dtypes.uint32: "ui32",
    dtypes.uint64: "ui64", dtypes.float16: "f16", dtypes.bfloat16: "bf16", dtypes.float32: "f32",
    dtypes.float64: "f64", dtypes.complex64: "complex<f32>", dtypes.complex128: "complex<f64>",
}


def element_type(dtype: np.dtype) -> str:
    """The MLIR element type of a dtype (`f32`, `ui8`, `i1`, `complex<f32>`)."""
    return _ELEMENT[np.dtype(dtype)]


def tensor_type(t: TensorType) -> str:
    """`tensor<3x4xf32>`; rank 0 is `tensor<f32>`."""
    dims = "".join(f"{n}x" for n in t.shape)
    return f"tensor<{dims}{element_type(t.dtype)}>"


def dense(value: np.ndarray, t: TensorType) -> str:
    """A `dense<...>` attribute holding exactly `value`: raw little-endian element bytes in hex
    (one element for a splat), so every bit pattern survives; booleans as `true`/`false`."""
    v = np.ascontiguousarray(np.asarray(value, dtype=t.dtype))
    if v.size == 0:
        return "dense<>"
    flat = v.reshape(-1)
    if dtypes.is_bool(t.dtype):
        if (flat == flat[0]).all():
            return f"dense<{'true' if flat[0] else 'false'}>"
        return f"dense<{_nested_bool(v)}>"
    raw = flat.view(np.uint8).reshape(flat.size, -1)
    if (raw == raw[0]).all():
        flat = flat[:1]  # a splat: one element's bytes stand for all
    data = flat.astype(flat.dtype.newbyteorder("<"), copy=False).tobytes()
    return f'dense<"0x{data.hex().upper()}">'


def _nested_bool(a: np.ndarray) -> str:
    if a.ndim == 0:
        return "true" if a else "false"
    return "[" + ", ".join(_nested_bool(a[i, ...]) for i in range(a.shape[0])) + "]"


def i64_array(values: Sequence[int]) -> str:
    """An `array<i64: ...>` attribute (dimension lists of StableHLO ops)."""
    vals = ", ".join(str(int(v)) for v in values)
    return f"array<i64: {vals}>" if vals else "array<i64>"


class Module:
    """The module being written: its private functions (deduplicated) and the name counter."""

    def __init__(self, platform: str = "cpu") -> None:
        self.platform = platform  # rules may choose by it (dot precision)
        self.functions: list[str] = []
        self.by_fingerprint: dict[Program, str] = {}
        self.counter = 0

    def fresh(self) -> str:
        self.counter += 1
        return f"%{self.counter}"


class Ctx:
    """Where a rule writes: one block of one function (or region) of the module."""

    def __init__(self, module: Module, indent: int = 4):
        self.module = module
        self.lines: list[str] = []
        self.indent = indent

    def op(self, name: str, operands: Sequence[Value], results: Sequence[TensorType], *,
           attributes: dict[str, str] | None = None, regions: Sequence[str] = ()) -> list[Value]:
        """Emit `name(operands) ({regions}) {attributes}` with these result types."""
        outs = [Value(self.module.fresh(), t) for t in results]
        lhs = (", ".join(v.name for v in outs) + " = ") if outs else ""
        args = ", ".join(v.name for v in operands)
        regs = f" ({', '.join(regions)})" if regions else ""
        attr = ""
        if attributes:
            attr = " {" + ", ".join(f"{k} = {v}" for k, v in attributes.items()) + "}"
        sig = (f"({', '.join(tensor_type(v.type) for v in operands)}) -> "
               f"{_results(results)}")
        self.lines.append(f"{' ' * self.indent}{lhs}\"{name}\"({args}){regs}{attr} : {sig}")
        return outs

    def constant(self, value: Any, t: TensorType) -> Value:
        """A constant of type `t` (any shape; a scalar value is splatted)."""
        arr = np.broadcast_to(np.asarray(value, dtype=t.dtype), t.shape)
        return self.op("stablehlo.constant", [], [t], attributes={"value": dense(arr, t) + " : "
                                                                   + tensor_type(t)})[0]

    def region(self, arg_types: Sequence[TensorType],
               build: Callable[[Ctx, list[Value]], Sequence[Value]]) -> str:
        """A one-block region whose arguments have `arg_types`; `build` fills the block and
        returns the values it yields (`stablehlo.return`)."""
        inner = Ctx(self.module, self.indent + 4)
        args = [Value(self.module.fresh(), t) for t in arg_types]
        outs = list(build(inner, args))
        inner.op("stablehlo.return", outs, [])
        head = ", ".join(f"{a.name}: {tensor_type(a.type)}" for a in args)
        body = "\n".join(inner.lines)
        return f"{{\n{' ' * (self.indent + 2)}^bb0({head}):\n{body}\n{' ' * self.indent}}}"

    def inline(self, program: Program, args: Sequence[Value]) -> list[Value]:
        """Lower `program`'s equations here, on `args`; returns its outputs."""
        return _lower_eqns(self, program, list(args))

    def call(self, program: Program, args: Sequence[Value]) -> list[Value]:
        """Call `program` as a private function of the module (one per distinct program)."""
        name = self.module.by_fingerprint.get(program)
        if name is None:
            name = f"@body{len(self.module.by_fingerprint)}"
            self.module.by_fingerprint[program] = name
            self.module.functions.append(_function(self.module, program, name, public=False))
        callee = f"{name}"
        return self.op("func.call", args, program.out_types, attributes={"callee": callee})


def _results(types: Sequence[TensorType]) -> str:
    if len(types) == 1:
        return tensor_type(types[0])
    return "(" + ", ".join(tensor_type(t) for t in types) + ")"


def _lower_eqns(ctx: Ctx, program: Program, args: list[Value]) -> list[Value]:
    env: dict[Var, Value] = dict(zip(program.inputs, args))

    def read(a: Var | Lit) -> Value:
        if type(a) is Lit:
            return ctx.constant(a.value, a.type)
        return env[a]

    for eqn in program.eqns:
        rule = RULES.get(type(eqn.op))
        if rule is None:
            raise NotImplementedError(f"no lowering rule for primitive {eqn.op.name}")
        outs = rule(ctx, eqn.op, [read(a) for a in eqn.inputs],
                    tuple(v.type for v in eqn.outputs))
        for v in eqn.outputs:
            if v.type.sharding is not None:  # the types' shardings become constraints for XLA
                outs = _annotate_outputs(ctx, eqn, outs)
                break
        env.update(zip(eqn.outputs, outs))
    return [read(a) for a in program.outputs]


def annotate_sharding(ctx: Ctx, v: Value, parts: Sharding) -> Value:
    """`v` constrained to be split as `parts` (per dimension, mesh axes) on the current mesh:
    XLA's `Sharding` custom call with the GSPMD attribute. Without a current mesh, `v`."""
    mesh = get_mesh()
    if mesh is None:
        return v
    unknown = [a for axes in parts for a in axes if a not in mesh.axis_names]
    if unknown:
        raise ShardingError(f"lowering: a value of type {v.type} is split over mesh axis "
                            f"{unknown[0]!r}, which the current mesh {mesh!r} does not have")
    attr = hlo_sharding(parts, mesh)
    return ctx.op("stablehlo.custom_call", [v], [v.type], attributes={
        "call_target_name": '"Sharding"', "mhlo.sharding": f'"{attr}"'})[0]


def gather_reduced(ctx: Ctx, v: Value, axes: Sequence[int]) -> Value:
    """`v` with the dimensions `axes` unsplit (the rest as its type says), for a reduction whose
    combiner XLA's CPU all-reduce lacks (integer and/or, a user's `reduce` body): the reduction
    then stays local to each device. Without a current mesh, `v`."""
    parts = v.type.sharding or ((),) * v.type.ndim
    return annotate_sharding(ctx, v, tuple(() if i in axes else p for i, p in enumerate(parts)))


def _annotate_outputs(ctx: Ctx, eqn: Eqn, outs: Sequence[Value]) -> list[Value]:
    if type(eqn.op) is ShardingConstraint:  # its rule emits the constraint itself
        return list(outs)
    return [o if v.type.sharding is None else annotate_sharding(ctx, o, v.type.sharding)
            for v, o in zip(eqn.outputs, outs)]


def _function(module: Module, program: Program, name: str, *, public: bool,
              result_attrs: Sequence[str] | None = None,
              arg_attrs: Sequence[str] | None = None) -> str:
    ctx = Ctx(module, 4)
    args = [Value(f"%arg{module.fresh()[1:]}", t) for t in program.in_types]
    outs = _lower_eqns(ctx, program, args)
    ctx.op("func.return", outs, [])
    params = []
    for i, a in enumerate(args):
        extra = f" {arg_attrs[i]}" if arg_attrs and arg_attrs[i] else ""
        params.append(f"{a.name}: {tensor_type(a.type)}{extra}")
    results = []
    for i, t in enumerate(program.out_types):
        extra = f" {result_attrs[i]}" if result_attrs and result_attrs[i] else ""
        results.append(f"{tensor_type(t)}{extra}")
    vis = "public" if public else "private"
    body = "\n".join(ctx.lines)
    return (f"  func.func {vis} {name}({', '.join(params)}) -> ({', '.join(results)}) {{\n"
            f"{body}\n  }}")


def lower_program(program: Program, *, name: str = "main", num_partitions: int = 1,
                  arg_attrs: Sequence[str] | None = None,
                  result_attrs: Sequence[str] | None = None,
                  module_attrs: dict[str, str] | None = None, debug: bool = False,
                  platform: str = "cpu") -> str:
    """The StableHLO module (MLIR text) computing `program`, with entry `func.func public @main`,
    for `platform` (`cpu`, `cuda`, `rocm`, `tpu`)."""
    _load_rules()
    module = Module(platform)
    main = _function(module, program, "@main", public=True, arg_attrs=arg_attrs,
                     result_attrs=result_attrs)
    attrs_ = {"mhlo.num_partitions": f"{num_partitions} : i32",
              "mhlo.num_replicas": "1 : i32", **(module_attrs or {})}
    head = ", ".join(f"{k} = {v}" for k, v in attrs_.items())
    text = "\n".join([f"module @{name} attributes {{{head}}} {{", main, *module.functions, "}"])
    if debug:
        verify(text)
    return text


def verify(text: str) -> None:
    """Parse and verify MLIR text with MLIR's own parser; raise ValueError naming the line."""
    from jaxlib.mlir import ir
    from jaxlib.mlir._mlir_libs import _jax_mlir_ext
    from jaxlib.mlir.dialects import chlo, stablehlo

    registry = ir.DialectRegistry()
    _jax_mlir_ext.register_dialects(registry)  # func and the other upstream dialects
    with ir.Context() as context:
        context.append_dialect_registry(registry)
        context.load_all_available_dialects()
        stablehlo.register_dialect(context)
        chlo.register_dialect(context)
        try:
            module = ir.Module.parse(text)
        except Exception as e:  # MLIRError: the diagnostic names line and column
            raise ValueError(f"lowering produced invalid StableHLO: {e}") from None
        if not module.operation.verify():
            raise ValueError("lowering produced a module that does not verify")


_COMPILED: dict[Program, Any] = {}


def run_on_cpu(program: Program, args: Sequence[np.ndarray], *, debug: bool = True
               ) -> list[np.ndarray]:
    """Lower, compile (cached per program) and run `program` on the first CPU device.

    The test harness of the lowering rules; `jit` is the user-facing path.
    """
    from backends import xla

    device = xla.cpu_client().devices()[0]
    exe = _COMPILED.get(program)
    if exe is None:
        exe = xla.compile_text(lower_program(program, debug=debug), [device])
        if len(_COMPILED) > 512:
            _COMPILED.clear()
        _COMPILED[program] = exe
    bufs = [xla.put(np.ascontiguousarray(np.asarray(a, dtype=t.dtype)), t, device)
            for a, t in zip(args, program.in_types)]
    outs = xla.execute(exe, bufs, program.out_types, device)
    return [xla.to_host(o) for o in outs]


_LOADED = [False]


def _load_rules() -> None:
    if not _LOADED[0]:
        import importlib

        for family in ("elementwise", "structural", "reductions", "control", "collectives"):
            try:
                importlib.import_module(f"interpreters.lower.{family}")
            except ModuleNotFoundError as e:
                if e.name != f"interpreters.lower.{family}":
                    raise
        _LOADED[0] = True


__all__ = ["RULES", "annotate_sharding", "Ctx", "dense", "element_type", "gather_reduced",
           "i64_array", "lower_program", "Module", "run_on_cpu", "tensor_type", "Value", "verify"]
