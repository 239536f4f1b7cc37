"""Staging whole user functions: pytrees of arguments in, a closed `Program` out.

`stage(f)(*args)` stages `f` on the types of `args` (arrays, Python scalars, or `TensorType`s
for abstract arguments) and returns its program. It is the front door every transform uses:
flatten the argument trees, stage the flat function with `dsl.core.stage_flat`, remember the
output tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dsl.array import Array
from dsl.core import Tracer, stage_flat
from dsl.errors import ArgumentTypeError, TransformError
from dsl.ir import Program
from dsl.pytree import PyTreeDef, keystr, tree_flatten, tree_flatten_with_path, tree_unflatten
from dsl.types import TensorType


def _leaf_value(path: Any, x: Any, what: str) -> Any:
    from dsl.numpy_api import asarray

    if isinstance(x, TensorType) or type(x) is Tracer:
        return x
    try:
        return asarray(x)
    except TypeError:
        raise ArgumentTypeError(f"{what}: argument{keystr(path)} is a {type(x).__name__}, not an array "
                        "(or a pytree of arrays)") from None


def flatten_args(args: tuple[Any, ...], what: str) -> tuple[list[Any], PyTreeDef]:
    """The argument leaves as arrays/tracers/TensorTypes, and the argument tree."""
    pairs, tree = tree_flatten_with_path(args)
    return [_leaf_value(p, x, what) for p, x in pairs], tree


def leaf_type(x: Any) -> TensorType:
    return x if isinstance(x, TensorType) else x.type


def stage_with_tree(fn: Callable[..., Any], args: tuple[Any, ...], *, what: str = "stage",
                    known: bool = False) -> tuple[Program, PyTreeDef, list[Any]]:
    """Stage `fn(*args)`; returns (program, output tree, flat argument leaves).

    With `known`, concrete argument values ride along so Python control flow on them works.
    """
    leaves, in_tree = flatten_args(args, what)
    types = [leaf_type(x) for x in leaves]
    out_tree: list[PyTreeDef] = []

    def flat(*tracers: Tracer) -> list[Any]:
        out = fn(*tree_unflatten(in_tree, tracers))
        pairs, tree = tree_flatten_with_path(out)
        out_tree.append(tree)
        for path, leaf in pairs:
            if not (type(leaf) in (Tracer, Array) or isinstance(
                    leaf, (np.ndarray, np.generic, bool, int, float, complex))):
                raise ArgumentTypeError(f"{what}: the function returned a {type(leaf).__name__} at "
                                f"output{keystr(path)}, which is not an array")
        return [leaf for _, leaf in pairs]

    kv = None
    if known:
        kv = [None if isinstance(x, TensorType) or type(x) is Tracer else np.asarray(x)
              for x in leaves]
    program, captured, _ = stage_flat(flat, types, kv)
    if captured:
        raise TransformError(f"{what}: the function closes over symbolic values of an "
                             "enclosing staging (" + ", ".join(str(t.type) for t in captured)
                             + "); pass them as arguments")
    return program, out_tree[0], leaves


def stage(fn: Callable[..., Any]) -> Callable[..., Program]:
    """`stage(f)(*args)` -> the `Program` of `f` on arguments like `args`.

    Arguments may be arrays, Python scalars, pytrees of them, or `TensorType`s.
    """
    def staged(*args: Any) -> Program:
        return stage_with_tree(fn, args)[0]

    return staged
