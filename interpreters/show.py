"""`show(f)(*args)`: print the program of any stack of transforms, and return it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dsl.ir import Program
from dsl.staging import stage_with_tree


def show(fn: Callable[..., Any], *, file: Any = None) -> Callable[..., Program]:
    """`show(f)(*args)` stages `f` (which may be `vmap(grad(g))` or any other stack of
    transforms), prints the program, and returns it."""

    def shown(*args: Any) -> Program:
        program = stage_with_tree(fn, args, what="show")[0]
        print(program, file=file)
        return program

    return shown
