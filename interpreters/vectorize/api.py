"""`vmap(f, in_axes=0, out_axes=0, axis_name=None, axis_size=None)`.

`in_axes`/`out_axes` are ints (negative allowed), None (not mapped), or pytree prefixes of the
arguments/results. The function is staged once on one example's types; `batch_program` then runs
the program on the whole batch (eagerly, or staged into an enclosing program under jit, grad or
another vmap).

`axis_name` names the batch axis: it is bound in `dsl.axes` while `fn` is staged, so the
collectives in `fn` (`d.psum(x, 'i')`, `d.axis_index('i')`, ...) name it, and `batch_program`
runs as that axis's batch (`batching_axis`), so their rules act across the batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dsl.axes import bound_axes, check_name
from dsl.core import as_leaf, stage_flat
from dsl.errors import ArgumentTypeError, ArgumentValueError
from dsl.pytree import (flatten_up_to, keystr, tree_flatten, tree_flatten_with_path, tree_leaves,
                        tree_structure, tree_unflatten)
from dsl.types import TensorType
from interpreters.vectorize import batch_program, batching_axis, load_rules, moveaxis


def _axes_for(what: str, axes: Any, value: Any, n: int) -> list[Any]:
    """One axis (int or None) per leaf of `value`, from `axes`, a prefix pytree of it."""
    if axes is None or isinstance(axes, int):
        return [axes] * n
    axes_leaves, axes_def = tree_flatten(axes, is_leaf=lambda x: x is None)
    try:
        subtrees = flatten_up_to(axes_def, value)
    except (TypeError, ValueError) as e:
        raise ArgumentValueError(f"vmap: {what} {axes!r} does not match the structure of "
                                 f"{tree_structure(value)}: {getattr(e, 'raw_message', e)}") from None
    out: list[Any] = []
    for ax, sub in zip(axes_leaves, subtrees):
        if not (ax is None or (isinstance(ax, int) and not isinstance(ax, bool))):
            raise ArgumentValueError(f"vmap: {what} entries must be ints or None, got {ax!r}")
        out.extend([ax] * len(tree_leaves(sub)))
    return out


def vmap(fn: Callable[..., Any], in_axes: Any = 0, out_axes: Any = 0,
         axis_name: str | None = None, axis_size: int | None = None) -> Callable[..., Any]:
    """Map `fn` over an axis of its arguments, vectorized (no Python loop)."""
    if not callable(fn):
        raise ArgumentTypeError(f"vmap: expected a function, got {type(fn).__name__}")
    if axis_name is not None:
        check_name("vmap", axis_name)
    load_rules()

    @functools.wraps(fn, updated=())  # (never merge the wrapped object's __dict__ into ours)
    def batched(*args: Any) -> Any:
        pairs, in_tree = tree_flatten_with_path(args)
        leaves = [as_leaf("vmap", x) for _, x in pairs]
        axes = _axes_for("in_axes", tuple(in_axes) if isinstance(in_axes, list) else in_axes,
                         args, len(leaves))
        size = axis_size
        for (path, _), x, ax in zip(pairs, leaves, axes):
            if ax is None:
                continue
            if not -x.ndim <= ax < x.ndim:
                raise ArgumentValueError(f"vmap: in_axes {ax} is out of range for argument"
                                         f"{keystr(path)} of type {x.type}")
            n = x.shape[ax % x.ndim]
            if size is None:
                size = n
            elif n != size:
                raise ArgumentValueError(
                    f"vmap: batched arguments have different sizes: argument{keystr(path)} of "
                    f"type {x.type} has {n} along axis {ax}, others have {size}")
        if size is None:
            raise ArgumentValueError("vmap: no argument is mapped (all in_axes are None); pass "
                                     "axis_size=")
        dims = [None if ax is None else ax % x.ndim for x, ax in zip(leaves, axes)]
        types = [x.type if d is None else _example_type(x.type, d)
                 for x, d in zip(leaves, dims)]
        box: list[Any] = []

        def flat(*xs: Any) -> list[Any]:
            out = fn(*tree_unflatten(in_tree, xs))
            out_leaves, out_tree = tree_flatten(out)
            box.append(out_tree)
            return [as_leaf("vmap", o) for o in out_leaves]

        with bound_axes([] if axis_name is None else [(axis_name, size)]):
            program, captured, _ = stage_flat(flat, types)
        with batching_axis(axis_name):
            outs, out_dims = batch_program(program, [*captured, *leaves],
                                           [None] * len(captured) + dims, size)
        out_tree = box[0]
        oaxes = _axes_for("out_axes", out_axes, tree_unflatten(out_tree, list(range(len(outs)))),
                          len(outs))
        res = []
        for o, d, ax in zip(outs, out_dims, oaxes):
            if ax is None:
                if d is not None:
                    raise ArgumentValueError(
                        f"vmap: out_axes=None for an output of type {o.type} that varies over "
                        "the batch")
                res.append(o)
                continue
            if d is None:
                from dsl import lax

                o = lax.broadcast_in_dim(o, (size,) + tuple(o.shape),
                                         tuple(range(1, o.ndim + 1)))
                d = 0
            if not -o.ndim <= ax < o.ndim:
                raise ArgumentValueError(f"vmap: out_axes {ax} is out of range for an output "
                                         f"of type {o.type}")
            res.append(moveaxis(o, d, ax % o.ndim))
        return tree_unflatten(out_tree, res)

    return batched


__all__ = ["vmap"]


def _example_type(t: TensorType, d: int) -> TensorType:
    """One example's type: `t` without dimension `d` (the other dimensions keep their axes)."""
    shape = tuple(n for i, n in enumerate(t.shape) if i != d)
    s = None if t.sharding is None else tuple(a for i, a in enumerate(t.sharding) if i != d)
    return TensorType(shape, t.dtype, t.weak, s if s and any(s) else None)
