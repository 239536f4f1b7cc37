"""The laws that tie the interpreters together, as checkers users can run on their own code.

Each checker takes a function (or a staged `Program`) and example arguments, checks one law, and
raises `LawViolation` (an `AssertionError`) with the program and the numbers when it fails:

- `check_parse(f, *args)`: the printed program parses back to an alpha-equivalent program, prints
  identically, and typechecks;
- `check_staged_matches_eager(f, *args)`: running `f` eagerly and running its staged program
  with the reference interpreter agree within the dtype's tolerance.

`check_random_programs(law)` runs a law over random well-typed programs from `dsl.testing`
(it needs `hypothesis`, the test extra). The laws of later interpreters (lowering, derivatives,
vectorization) join this module with them. Tolerances are those of DESIGN section 6.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl.ir import Program
from dsl.pytree import tree_leaves
from dsl.staging import stage_with_tree

RTOL = {dtypes.float64: 1e-12, dtypes.complex128: 1e-12, dtypes.float32: 1e-5,
        dtypes.complex64: 1e-5, dtypes.float16: 1e-2, dtypes.bfloat16: 1e-2}


class LawViolation(AssertionError):
    """A law failed; the message shows the program and the differing values."""


def tolerance(dtype: np.dtype) -> float:
    """The relative (and absolute) tolerance for comparing values of `dtype`; 0 means exact."""
    return RTOL.get(np.dtype(dtype), 0.0)


def assert_close(actual: Any, expected: Any, what: str = "values") -> None:
    """Equal dtypes and shapes, and values within the dtype's tolerance (NaNs in the same places)."""
    a, e = np.asarray(actual), np.asarray(expected)
    if a.dtype != e.dtype or a.shape != e.shape:
        raise LawViolation(f"{what}: {dtypes.short_name(a.dtype)}{list(a.shape)} vs "
                           f"{dtypes.short_name(e.dtype)}{list(e.shape)}")
    tol = tolerance(a.dtype)
    if tol == 0.0:
        same = np.array_equal(a, e)
    else:
        wide = np.complex128 if dtypes.is_complex(a.dtype) else np.float64
        aw, ew = a.astype(wide), e.astype(wide)
        same = bool(np.all(np.isclose(aw, ew, rtol=tol, atol=tol, equal_nan=True)))
    if not same:
        raise LawViolation(f"{what} differ beyond tolerance {tol}:\n  got      {a!r}\n"
                           f"  expected {e!r}")


def _program(fn: Any, args: Sequence[Any]) -> Program:
    if isinstance(fn, Program):
        return fn
    return stage_with_tree(fn, tuple(args), what="laws")[0]


def check_parse(fn: Callable[..., Any] | Program, *args: Any) -> Program:
    """`parse(str(p)) == p` (alpha-equivalence), it prints the same, and `typecheck(p)` holds."""
    from dsl.parser import parse
    from dsl.typecheck import typecheck

    program = _program(fn, args)
    text = str(program)
    back = parse(text)
    if back != program:
        raise LawViolation(f"parse(str(p)) is not alpha-equivalent to p:\n{text}\n--- parsed:\n"
                           f"{back}")
    if str(back) != text:
        raise LawViolation(f"printing is not stable under parsing:\n{text}\n--- reprinted:\n{back}")
    typecheck(program)
    return program


def check_staged_matches_eager(fn: Callable[..., Any], *args: Any) -> None:
    """`fn(*args)` run eagerly equals its staged program run by the reference interpreter."""
    from interpreters.evaluate import evaluate

    eager = tree_leaves(fn(*args))
    staged = tree_leaves(evaluate(fn)(*args))
    if len(eager) != len(staged):
        raise LawViolation(f"eager gives {len(eager)} outputs, staged {len(staged)}")
    for i, (e, s) in enumerate(zip(eager, staged)):
        assert_close(s, e, f"output {i} (staged vs eager)")


def check_random_programs(law: Callable[[Program, list[np.ndarray]], None], *,
                          examples: int = 100, max_eqns: int = 8, max_depth: int = 2,
                          seed: int = 0) -> int:
    """Run `law(program, args)` on `examples` random well-typed programs with random arguments.

    Deterministic for a given `seed`; returns the number of programs checked. Hypothesis
    shrinks a failing program before the violation is raised.
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis import strategies as st

    from dsl.testing import arrays, programs

    count = [0]

    @st.composite
    def cases(draw: Any) -> tuple[Program, list[np.ndarray]]:
        program = draw(programs(max_eqns=max_eqns, max_depth=max_depth))
        return program, [draw(arrays(t)) for t in program.in_types]

    @fixed_seed(seed)
    @settings(max_examples=examples, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def run(case: tuple[Program, list[np.ndarray]]) -> None:
        count[0] += 1
        law(*case)

    run()
    return count[0]


def parse_law(program: Program, args: list[np.ndarray]) -> None:
    """`check_parse` as a law over (program, args) pairs, for `check_random_programs`."""
    check_parse(program)


def eager_law(program: Program, args: list[np.ndarray]) -> None:
    """Re-binding a program's equations eagerly (`dsl.core.inline` on concrete values) equals
    running it with the reference interpreter."""
    from dsl.array import Array
    from dsl.core import inline
    from interpreters.evaluate import eval_program

    want = eval_program(program, args)
    got = inline(program, [Array(np.asarray(a), t.weak) for a, t in zip(args, program.in_types)])
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, f"output {i} (eager vs evaluate)")
