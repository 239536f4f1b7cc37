"""Every operation of the op table against its NumPy oracle, eagerly and staged.

`check_op` is the one helper: it draws operands of a case's dtypes and domain (zero-size
dimensions included), runs the operation eagerly and through `evaluate` (stage, then the reference
interpreter), and compares both with the oracle computed in float64 and rounded to the result
dtype, within the tolerances of DESIGN section 6.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl as d
from dsl import dtypes as D
from dsl.testing import arrays, shapes
from dsl.types import TensorType
from interpreters import evaluate
from op_table import TABLE, OpCase

RTOL = {D.float64: 1e-12, D.float32: 1e-5, D.float16: 1e-2, D.bfloat16: 1e-2,
        D.complex64: 1e-5, D.complex128: 1e-12}
ATOL = {D.float64: 1e-12, D.float32: 1e-6, D.float16: 1e-3, D.bfloat16: 1e-2,
        D.complex64: 1e-6, D.complex128: 1e-12}


def _wide(x: np.ndarray) -> np.ndarray:
    if D.is_complex(x.dtype):
        return x.astype(np.complex128)
    if D.is_floating(x.dtype):
        return x.astype(np.float64)
    return x


def _broadcastable(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[int, ...]]:
    return st.one_of(
        st.just(shape), st.just(()),
        st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)).map(
            lambda keep: tuple(n if k else 1 for n, k in zip(shape, keep))),
        st.integers(0, len(shape)).map(lambda i: shape[i:]))


@st.composite
def operands(draw: Any, case: OpCase) -> list[np.ndarray]:
    dt = draw(st.sampled_from(case.dtypes))
    shape = draw(shapes(0, 3, 0, 4))
    doms = case.domain if isinstance(case.domain, tuple) and isinstance(
        case.domain[0], str) else (case.domain,) * case.arity
    out = []
    for i in range(case.arity):
        s = shape if i == 0 or case.same_shape else draw(_broadcastable(shape))
        out.append(draw(arrays(TensorType(s, dt), doms[i])))
    return out


def expected(case: OpCase, xs: list[np.ndarray]) -> np.ndarray:
    dt = xs[0].dtype
    with np.errstate(all="ignore"):
        if case.ref_in_f64:
            ref = np.asarray(case.ref(*(_wide(x) for x in xs)))
        else:
            ref = np.asarray(case.ref(*xs))
    if ref.dtype == np.bool_:
        return ref
    if D.is_complex(dt) and not D.is_complex(ref.dtype):
        return ref.astype(D.real_dtype(dt))
    return ref.astype(dt)


def assert_matches(got: Any, want: np.ndarray, what: str) -> None:
    got = np.asarray(got)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if D.is_inexact(want.dtype):
        np.testing.assert_allclose(_wide(got), _wide(want), rtol=RTOL[want.dtype],
                                   atol=ATOL[want.dtype], equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def check_op(case: OpCase, xs: list[np.ndarray]) -> None:
    want = expected(case, xs)
    eager = case.ours(*(d.asarray(x) for x in xs))
    assert isinstance(eager, d.Array)
    assert_matches(eager, want, f"{case.name} eager on {[str(d.asarray(x).type) for x in xs]}")
    staged = evaluate(case.ours)(*xs)
    assert_matches(staged, want, f"{case.name} staged")


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_op_against_numpy(case: OpCase) -> None:
    @settings(max_examples=12)
    @given(operands(case))
    def run(xs: list[np.ndarray]) -> None:
        check_op(case, xs)

    run()


def test_every_elementwise_primitive_is_in_the_table() -> None:
    from dsl.ops import BINARY, COMPARE, TERNARY, UNARY

    seen: set[str] = set()
    for case in TABLE:
        args = [TensorType((2,), case.dtypes[0]) for _ in range(case.arity)]
        for dt in case.dtypes:
            args = [TensorType((2,), dt) for _ in range(case.arity)]
            seen |= {e.op.name for e in d.stage(case.ours)(*args).walk()}
    family = {c.name for c in UNARY + BINARY + COMPARE + TERNARY}
    # primitives exercised by dedicated tests elsewhere (see the file named beside each)
    elsewhere = {"stop_gradient": "test_core.py", "population_count": "test_core.py",
                 "clz": "test_core.py", "complex": "test_core.py", "integer_pow": "test_core.py",
                 "clamp": "test_core.py", "is_finite": "test_core.py"}
    missing = family - seen - set(elsewhere)
    assert not missing, f"elementwise primitives with no op-table entry: {sorted(missing)}"
