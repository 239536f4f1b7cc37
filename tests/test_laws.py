"""The shipped law checkers: they pass on correct code, and they catch broken code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dsl as d
from dsl import ops as P
from interpreters import laws
from interpreters.evaluate import RULES


def test_laws_hold_on_a_user_function() -> None:
    def f(x: Any, y: Any) -> Any:
        return d.scan(lambda c, r: (c + r * y, c), d.zeros(3), x)

    x, y = d.ones((4, 3)), 2.0
    laws.check_parse(f, x, y)
    laws.check_staged_matches_eager(f, x, y)


def test_eager_law_over_random_programs() -> None:
    assert laws.check_random_programs(laws.eager_law, examples=60) == 60


def test_parse_law_over_random_programs() -> None:
    assert laws.check_random_programs(laws.parse_law, examples=60) == 60


def test_assert_close_uses_dtype_tolerances() -> None:
    laws.assert_close(np.float32(1.0), np.float32(1.0 + 5e-6))
    with pytest.raises(laws.LawViolation):
        laws.assert_close(np.float32(1.0), np.float32(1.0 + 5e-4))
    with pytest.raises(laws.LawViolation):
        laws.assert_close(np.int32(1), np.int64(1))  # dtypes must agree exactly
    laws.assert_close(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))


def test_a_broken_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from interpreters import evaluate

    prog = d.stage(lambda v: v - 1.0)(d.ones(2))
    x = np.array([3.0, 5.0], np.float32)
    laws.assert_close(evaluate(prog)(x), x - np.float32(1.0))
    good = RULES[P.Sub]
    monkeypatch.setitem(RULES, P.Sub, lambda op, a, b: good(op, b, a))  # operands swapped
    with pytest.raises(laws.LawViolation):
        laws.assert_close(evaluate(prog)(x), x - np.float32(1.0))
