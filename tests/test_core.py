"""Staging, eager arrays, errors and the IR's structural identity."""

from __future__ import annotations

import os

import numpy as np
import pytest

import dsl as d
from dsl import dtypes as D
from dsl import ops as P
from dsl.core import Tracer, bind, stage_flat
from dsl.ir import Eqn, Lit, Program, Var
from dsl.staging import stage_with_tree
from dsl.types import TensorType
from interpreters import evaluate

f32 = D.float32


def test_stage_records_typed_equations_and_user_lines() -> None:
    def f(x, y):
        return d.sin(x * y) + 1.0

    p = d.stage(f)(np.ones(3, np.float32), 2.0)
    assert str(p.type) == "(f32[3], ~f32[]) -> (f32[3],)"
    assert [e.op.name for e in p.eqns] == ["mul", "sin", "add"]
    src = p.eqns[0].src
    assert src is not None and os.path.basename(src[0]) == "test_core.py"
    assert src[1] == f.__code__.co_firstlineno + 1


def test_weak_scalars_keep_the_array_dtype() -> None:
    x16 = d.asarray(np.ones(2, np.float16))
    assert (x16 * 2.0).dtype == D.float16
    assert (d.asarray(np.ones(2, D.bfloat16)) + 1.0).dtype == D.bfloat16
    assert (d.asarray(np.ones(2, np.uint8)) * 2).dtype == D.uint8
    assert (d.asarray(np.ones(2, np.int32)) * 2.5).dtype == D.float32
    assert d.asarray(np.ones(2, np.float64)).dtype == D.float64  # explicit dtypes stay
    assert d.asarray(1.0).weak and d.asarray([1.0]).dtype == D.float32


def test_python_int_out_of_range_is_refused() -> None:
    with pytest.raises(d.DTypeError, match="300 does not fit in u8"):
        d.asarray(np.ones(2, np.uint8)) + 300


def test_eager_results_are_arrays_and_behave_like_numpy() -> None:
    x = d.asarray([1.0, 2.0, 3.0])
    y = x * 2 + 1
    assert isinstance(y, d.Array)
    np.testing.assert_array_equal(np.asarray(y), np.array([3, 5, 7], np.float32))
    assert repr(y) == "Array([3., 5., 7.], dtype=float32)"
    assert str(d.asarray(np.float32(0.4199743))) == "0.4199743"
    assert f"{d.asarray(np.float32(1.5)):.2f}" == "1.50"
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(y)[0] = 5
    with pytest.raises(TypeError, match="immutable"):
        y[0] = 1.0  # type: ignore[index]


def test_known_values_let_python_control_flow_run() -> None:
    def abs_val(x):
        if x > 0:
            return x
        return -x

    p, _, _ = stage_with_tree(abs_val, (np.float32(-2.0),), known=True)
    assert [e.op.name for e in p.eqns] == ["gt", "neg"]
    p, _, _ = stage_with_tree(abs_val, (np.float32(3.0),), known=True)
    assert [e.op.name for e in p.eqns] == ["gt"]


def test_concretization_error_names_the_line_and_the_fix() -> None:
    def f(x):
        if x > 0:  # the line the error must name
            return x
        return -x

    with pytest.raises(d.ConcretizationError) as info:
        d.stage(f)(1.0)
    msg = str(info.value)
    assert f"test_core.py:{f.__code__.co_firstlineno + 1}" in msg
    assert "d.cond" in msg and "static_argnums" in msg and "bool[]" in msg
    with pytest.raises(d.ConcretizationError):
        d.stage(lambda x: np.asarray(x))(1.0)
    with pytest.raises(d.ConcretizationError):
        d.stage(lambda x: [1, 2, 3][x])(np.int32(1))
    with pytest.raises(d.ConcretizationError):
        d.stage(lambda x: float(x))(1.0)


def test_escaped_tracer_is_rejected() -> None:
    leaked = []

    def f(x):
        leaked.append(x)
        return x

    d.stage(f)(1.0)
    with pytest.raises(d.TransformError, match="escaped"):
        d.stage(lambda y: y + leaked[0])(1.0)


def test_closure_conversion_captures_outer_values_as_consts() -> None:
    outer: list[Tracer] = []

    def f(x):
        def inner(y):
            return [y * x]  # x belongs to the enclosing staging

        program, captured, _ = stage_flat(inner, [TensorType((), f32)])
        outer.append(captured[0])
        assert captured[0] is x and len(program.inputs) == 2
        return x

    d.stage(f)(1.0)
    assert len(outer) == 1


def test_concrete_values_in_staged_code_become_literals() -> None:
    w = np.arange(3, dtype=np.float32)
    p = d.stage(lambda x: x * w)(np.ones(3, np.float32))
    lit = p.eqns[0].inputs[1]
    assert isinstance(lit, Lit) and lit.type == TensorType((3,), f32)
    np.testing.assert_array_equal(np.asarray(evaluate(p)(np.ones(3, np.float32))), w)


def test_hundred_thousand_equations_stage_and_evaluate() -> None:
    def chain(x):
        for _ in range(100_000):
            x = x + 1.0
        return x

    p = d.stage(chain)(np.zeros((), np.float32))
    assert len(p.eqns) == 100_000
    out = evaluate(p)(np.zeros((), np.float32))
    assert float(out) == 100_000.0
    assert hash(p) == hash(p)  # the fingerprint walk is iterative too


def test_alpha_equivalent_programs_are_equal() -> None:
    p1 = d.stage(lambda a, b: d.sin(a) * b)(1.0, 2.0)
    p2 = d.stage(lambda u, v: d.sin(u) * v)(3.0, 4.0)
    p3 = d.stage(lambda a, b: d.sin(b) * a)(1.0, 2.0)
    assert p1 == p2 and hash(p1) == hash(p2)
    assert p1 != p3
    assert len({p1, p2, p3}) == 2


def _run(op: P.Op, *xs: np.ndarray) -> np.ndarray:
    out = bind(op, *(d.asarray(x) for x in xs))
    return np.asarray(out)


def test_remaining_elementwise_primitives_against_numpy() -> None:
    x = np.array([0, 1, 2, 255, 128, 7], np.uint8)
    np.testing.assert_array_equal(_run(P.PopulationCount(), x),
                                  [bin(int(v)).count("1") for v in x])
    np.testing.assert_array_equal(_run(P.Clz(), x), [8 - int(v).bit_length() for v in x])
    i32 = np.array([0, 1, -1, 2**30, 12345], np.int32)
    np.testing.assert_array_equal(_run(P.Clz(), i32),
                                  [32 - (int(v) & 0xFFFFFFFF).bit_length() for v in i32])
    re, im = np.array([1.0, -2.0], np.float32), np.array([0.5, 3.0], np.float32)
    np.testing.assert_array_equal(_run(P.Complex(), re, im), re + 1j * im)
    y = np.array([1.5, -2.0, 3.0], np.float32)
    np.testing.assert_allclose(_run(P.IntegerPow(y=3), y), y ** 3, rtol=1e-6)
    np.testing.assert_allclose(_run(P.IntegerPow(y=-2), y), y ** -2.0, rtol=1e-6)
    np.testing.assert_array_equal(_run(P.IntegerPow(y=0), y), np.ones(3, np.float32))
    np.testing.assert_array_equal(_run(P.Clamp(), np.float32(-1), y, np.float32(2)),
                                  np.clip(y, -1, 2))
    np.testing.assert_array_equal(_run(P.IsFinite(), np.array([1, np.inf, np.nan], np.float32)),
                                  [True, False, False])
    np.testing.assert_array_equal(_run(P.StopGradient(), y), y)


def test_integer_division_and_shifts_follow_xla() -> None:
    x = np.array([7, -7, 7, -7, 5, -2**31], np.int32)
    y = np.array([2, 2, -2, -2, 0, -1], np.int32)
    np.testing.assert_array_equal(_run(P.Div(), x, y), [3, -3, -3, 3, -1, -2**31])
    np.testing.assert_array_equal(_run(P.Rem(), x, y), [1, -1, 1, -1, 5, 0])
    s = np.array([1, 31, 32, 33], np.int32)
    one = np.ones(4, np.int32)
    np.testing.assert_array_equal(_run(P.ShiftLeft(), one, s), [2, -2**31, 0, 0])
    neg = np.full(4, -8, np.int32)
    np.testing.assert_array_equal(_run(P.ShiftRightArithmetic(), neg, s), [-4, -1, -1, -1])
    np.testing.assert_array_equal(_run(P.ShiftRightLogical(), neg, s),
                                  [(2**32 - 8) >> 1, 1, 0, 0])


def test_float_to_int_conversion_saturates() -> None:
    x = np.array([1e10, -1e10, np.nan, 2.7, -2.7], np.float32)
    np.testing.assert_array_equal(_run(P.Convert(dtype=D.int32), x),
                                  [2**31 - 1, -2**31, 0, 2, -2])
    np.testing.assert_array_equal(_run(P.Convert(dtype=D.uint8), x), [255, 0, 0, 2, 0])


def test_type_errors_name_operation_types_and_line() -> None:
    with pytest.raises(d.ShapeError) as info:
        d.add(d.asarray(np.ones((3, 4), np.float32)), d.asarray(np.ones(5, np.float32)))
    msg = str(info.value)
    assert "add" in msg and "f32[3,4]" in msg and "f32[5]" in msg and "test_core.py:" in msg
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    with pytest.raises(d.DTypeError, match="sin"):
        bind(P.Sin(), d.asarray(np.ones(2, np.int32)))
    with pytest.raises(TypeError, match="not an array"):
        d.sin("hello")
    with pytest.raises(d.DTypeError, match="not supported"):
        d.asarray(np.array(["a"]))


def test_typed_program_construction_checks_literals() -> None:
    with pytest.raises(d.DTypeError):
        Lit(np.float32(1.0), TensorType((), D.float64))
    a = Var(TensorType((), f32))
    b = Var(TensorType((), f32))
    p = Program((a,), (Eqn(P.Sin(), (a,), (b,)),), (b,))
    assert p.type.outputs == (TensorType((), f32),)
