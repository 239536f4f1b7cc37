"""The axis environment: the named axes in scope while a function is staged.

`vmap(f, axis_name='i')` binds the name `'i'` (with the batch size) while it stages `f`;
`shard_map` will bind the mesh axes it maps over. The collectives (`d.psum`, `d.all_gather`, ...)
look their axis names up here *at staging time* and store the sizes in the primitive they bind,
so a primitive's type rule never needs the environment, and a staged program means the same
thing wherever it is later transformed, printed or parsed.

The environment is a stack, innermost binding last: a name bound twice refers to its innermost
binding (an inner `vmap(..., axis_name='i')` shadows an outer one). A collective that names an
axis not in scope is an `ArgumentValueError` naming the operation, the axis, the names in scope
and the operand's type, raised at the user's line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from dsl.errors import ArgumentTypeError, ArgumentValueError

AXES: list[tuple[str, int]] = []
"""The named axes in scope, as (name, size), innermost last."""


@contextlib.contextmanager
def bound_axes(names: Sequence[tuple[str, int]]) -> Iterator[None]:
    """Bind the axes `names` ((name, size) pairs, in order) for the duration of the block."""
    for name, size in names:
        check_name("axis binding", name)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ArgumentValueError(f"axis {name!r}: size must be a non-negative int, "
                                     f"got {size!r}")
    start = len(AXES)
    AXES.extend((name, size) for name, size in names)
    try:
        yield
    finally:
        del AXES[start:]


def bound_axis(name: str, size: int) -> contextlib.AbstractContextManager[None]:
    """Bind one named axis of `size` for the duration of the block."""
    return bound_axes([(name, size)])


def names_in_scope() -> tuple[str, ...]:
    """The axis names in scope, outermost first (a shadowed name appears once, innermost)."""
    seen: dict[str, None] = {}
    for name, _ in AXES:
        seen.pop(name, None)
        seen[name] = None
    return tuple(seen)


def axis_size(name: str) -> int | None:
    """The size of the innermost binding of `name`, or None when it is not in scope."""
    for n, size in reversed(AXES):
        if n == name:
            return size
    return None


def check_name(what: str, name: Any) -> str:
    """`name` as an axis name (a non-empty str), or an `ArgumentTypeError` naming `what`."""
    if not isinstance(name, str) or not name:
        raise ArgumentTypeError(f"{what}: axis names must be non-empty strings, got {name!r}")
    return name


def as_names(what: str, axis_name: Any) -> tuple[str, ...]:
    """An `axis_name` argument (a name, or a tuple/list of names) as a tuple of distinct names."""
    names = tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)
    for n in names:
        check_name(what, n)
    if len(set(names)) != len(names):
        raise ArgumentValueError(f"{what}: axis names must be distinct, got {names}")
    return names


def resolve(what: str, axis_name: Any, operand: Any = None
            ) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The names of `axis_name` and their sizes in the environment.

    A name not in scope is an `ArgumentValueError` naming `what` (the operation), the name, the
    names in scope and the operand's type (`operand`: a type or a value with a `.type`, or None).
    """
    names = as_names(what, axis_name)
    sizes = []
    for n in names:
        size = axis_size(n)
        if size is None:
            scope = names_in_scope()
            where = ", ".join(repr(s) for s in scope) if scope else "none"
            of = ""
            if operand is not None:
                of = f" for an operand of type {getattr(operand, 'type', operand)}"
            raise ArgumentValueError(
                f"{what}: unbound axis name {n!r}{of}; axis names in scope: {where} (names are "
                "bound by vmap(..., axis_name=...) and shard_map while they stage a function)")
        sizes.append(size)
    return names, tuple(sizes)


__all__ = ["AXES", "as_names", "axis_size", "bound_axes", "bound_axis", "check_name",
           "names_in_scope", "resolve"]
