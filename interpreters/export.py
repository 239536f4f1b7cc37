"""`export` a jitted computation as a portable artifact, and `load` it back as a callable.

The artifact is one file: a magic line, a JSON header (format version, the StableHLO version it
targets, the input and output types, the output structure) and the StableHLO portable artifact
(versioned MLIR bytecode, readable by later StableHLO releases). No pickle: loading runs no code
from the file. Inputs are a flat list of arrays; outputs may be a tuple, list, dict or None tree
of arrays.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Sequence
from typing import Any

from dsl import dtypes
from dsl.array import Array
from dsl.errors import ArgumentTypeError, ArgumentValueError
from dsl.pytree import tree_flatten, tree_unflatten
from dsl.staging import stage_with_tree
from dsl.types import TensorType

MAGIC = b"COMBINAX-EXPORT\n"
FORMAT_VERSION = 1
STABLEHLO_TARGET = "1.0.0"  # the oldest StableHLO release able to read the artifact


def _type_json(t: TensorType) -> dict[str, Any]:
    return {"shape": list(t.shape), "dtype": dtypes.short_name(t.dtype), "weak": t.weak}


def _type_from_json(d: Any) -> TensorType:
    try:
        return TensorType(tuple(int(n) for n in d["shape"]), dtypes.canonicalize(d["dtype"]),
                          bool(d["weak"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ArgumentValueError(f"load: malformed type in the artifact header: {d!r} ({e})"
                                 ) from None


def _tree_json(tree: Any) -> Any:
    """An output structure as JSON (leaves are `"*"`)."""
    if tree is None:
        return None
    if isinstance(tree, Leaf):
        return "*"
    if isinstance(tree, tuple):
        return {"tuple": [_tree_json(x) for x in tree]}
    if isinstance(tree, list):
        return {"list": [_tree_json(x) for x in tree]}
    if isinstance(tree, dict):
        return {"dict": [[k, _tree_json(v)] for k, v in tree.items()]}
    raise ArgumentTypeError(f"export: outputs must be arrays in tuples, lists, dicts or None; "
                            f"got a {type(tree).__name__}")


def _tree_from_json(j: Any, leaves: list[Any]) -> Any:
    if j is None:
        return None
    if j == "*":
        return leaves.pop(0)
    if "tuple" in j:
        return tuple(_tree_from_json(x, leaves) for x in j["tuple"])
    if "list" in j:
        return [_tree_from_json(x, leaves) for x in j["list"]]
    return {k: _tree_from_json(v, leaves) for k, v in j["dict"]}


class Leaf:
    """A placeholder leaf, to read an output structure back as plain containers."""


class Exported:
    """A portable compiled computation: call it, `.save(path)` it, or `.serialize()` it."""

    def __init__(self, artifact: bytes, in_types: Sequence[TensorType],
                 out_types: Sequence[TensorType], out_tree: Any):
        self.artifact = artifact
        self.in_types = tuple(in_types)
        self.out_types = tuple(out_types)
        self.out_tree = out_tree  # JSON form
        self._compiled: Any = None

    def serialize(self) -> bytes:
        header = json.dumps({"format": FORMAT_VERSION, "stablehlo": STABLEHLO_TARGET,
                             "in_types": [_type_json(t) for t in self.in_types],
                             "out_types": [_type_json(t) for t in self.out_types],
                             "out_tree": self.out_tree}).encode()
        return MAGIC + struct.pack("<Q", len(header)) + header + self.artifact

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "wb") as f:
            f.write(self.serialize())

    def mlir_module(self) -> bytes:
        """The module as MLIR bytecode of this jaxlib's StableHLO version."""
        from jaxlib.mlir.dialects import stablehlo

        return bytes(stablehlo.deserialize_portable_artifact_str(self.artifact))

    def __call__(self, *args: Any) -> Any:
        from backends import devices, xla
        from interpreters.jit import _buffer, check_leaves

        check_leaves("exported function", list(args), self.in_types)
        device = devices()[0]
        if self._compiled is None:
            self._compiled = xla.compile_text(self.mlir_module(), [device])
        bufs = [_buffer(x, t, device) for x, t in zip(args, self.in_types)]
        outs = xla.execute(self._compiled, bufs, self.out_types, device)
        arrays = [Array._on_device(b, t.weak) for b, t in zip(outs, self.out_types)]
        return _tree_from_json(self.out_tree, arrays)


def export(fn: Callable[..., Any], *args: Any) -> Exported:
    """Stage and lower `fn` for arguments like `args` (arrays or `TensorType`s, flat)."""
    import jaxlib._jax as jax_runtime

    from interpreters.lower import lower_program

    leaves, _ = tree_flatten(args)
    if len(leaves) != len(args):
        raise ArgumentTypeError("export: arguments must be a flat list of arrays or TensorTypes")
    program, out_tree, _ = stage_with_tree(fn, args, what="export")
    outs = tree_unflatten(out_tree, [Leaf() for _ in range(out_tree.num_leaves)])
    text = lower_program(program, name="exported")
    artifact = bytes(jax_runtime.mlir.serialize_portable_artifact(text, STABLEHLO_TARGET))
    return Exported(artifact, program.in_types, program.out_types, _tree_json(outs))


def load(source: str | os.PathLike[str] | bytes) -> Exported:
    """Read an artifact written by `Exported.save` (a path) or `.serialize()` (bytes)."""
    if isinstance(source, bytes):
        data = source
    else:
        with open(source, "rb") as f:
            data = f.read()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise ArgumentValueError("load: not a combinax export artifact (bad magic line)")
    (n,) = struct.unpack("<Q", data[len(MAGIC):len(MAGIC) + 8])
    start = len(MAGIC) + 8
    try:
        header = json.loads(data[start:start + n])
    except ValueError as e:
        raise ArgumentValueError(f"load: unreadable artifact header ({e})") from None
    if header.get("format") != FORMAT_VERSION:
        raise ArgumentValueError(f"load: artifact format {header.get('format')!r} is not "
                                 f"supported (this version reads {FORMAT_VERSION})")
    return Exported(data[start + n:], [_type_from_json(t) for t in header["in_types"]],
                    [_type_from_json(t) for t in header["out_types"]], header["out_tree"])


__all__ = ["Exported", "export", "load"]

