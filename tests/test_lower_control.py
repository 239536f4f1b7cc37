"""Tests of the combinators' lowering rules (`interpreters.lower.control`).

Every combinator is staged through the public API (`dsl.stage`), compiled by XLA on CPU
(`run_on_cpu`, which also verifies the module with MLIR's parser) and compared with the reference
interpreter `eval_program`, and where a closed form or a plain NumPy loop exists, with that too.
Integer programs must agree exactly; float ones within f32 tolerance (XLA may associate a `reduce`
differently from evaluate's pairwise tree).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from dsl import ops as P
from dsl.core import bind
from dsl.pytree import tree_leaves
from dsl.testing import arrays, programs
from dsl.types import TensorType
from interpreters.evaluate import eval_program
from interpreters.lower import RULES, lower_program, run_on_cpu

RNG = np.random.default_rng(7)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def i32(*shape: int, lo: int = -5, hi: int = 6) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(np.int32)


def check(fn: Any, *args: Any, tol: float = 1e-5) -> list[np.ndarray]:
    """Stage `fn` on `args`, run it on XLA and through evaluate; they must agree (dtypes,
    shapes, values). Returns XLA's outputs."""
    program = dsl.stage(fn)(*args)
    flat = [np.asarray(a) for a in tree_leaves(args)]
    want = eval_program(program, flat)
    got = run_on_cpu(program, flat)
    assert len(got) == len(want)
    for g, w, t in zip(got, want, program.out_types):
        assert g.dtype == w.dtype == t.dtype and g.shape == w.shape == t.shape, (g, w, t)
        if np.issubdtype(g.dtype, np.floating):
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
        else:
            np.testing.assert_array_equal(g, w)
    return got


def close(got: np.ndarray, want: Any, tol: float = 1e-5) -> None:
    np.testing.assert_allclose(got, np.asarray(want), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------------------------
# map


def test_map_rows_and_pytree_outputs() -> None:
    xs = f32(5, 3)
    got = check(lambda x: dsl.map(lambda r: {"a": r * 2.0 + 1.0, "s": dsl.sum(r)}, x), xs)
    close(got[0], xs * 2 + 1)
    close(got[1], xs.sum(1))


def test_map_with_captured_const_and_two_inputs() -> None:
    xs, ys, w = f32(4, 2), i32(4), f32(2)
    got = check(lambda x, y, w: dsl.map(lambda a: a[0] * w + a[1].astype(dsl.float32), (x, y)),
                xs, ys, w)
    close(got[0], xs * w + ys[:, None])


def test_map_zero_length() -> None:
    got = check(lambda x: dsl.map(lambda r: r + 1.0, x), np.zeros((0, 3), np.float32))
    assert got[0].shape == (0, 3)


# ----------------------------------------------------------------------------------------------
# scan


def _cumsum(c: Any, x: Any) -> tuple[Any, Any]:
    return c + x, c * 2.0


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_carry_and_ys(reverse: bool) -> None:
    xs = f32(6, 2)
    c0 = f32(2)
    got = check(lambda c, x: dsl.scan(_cumsum, c, x, reverse=reverse), c0, xs)
    order = range(5, -1, -1) if reverse else range(6)
    c, ys = c0.copy(), np.zeros_like(xs)
    for i in order:
        c, ys[i] = c + xs[i], c * 2
    close(got[0], c)
    close(got[1], ys)


def test_scan_length_without_xs_and_pytree_carry() -> None:
    def fn(a: Any, b: Any) -> Any:
        def step(carry: Any, _: None) -> tuple[Any, Any]:
            k, (s, p) = carry["k"], carry["sp"]
            return {"k": k + 1, "sp": (s + k, p * 2)}, (k, s)
        return dsl.scan(step, {"k": a, "sp": (b, np.float32(1.0))}, None, length=7)

    got = check(fn, np.int32(3), np.int32(0))
    # dict keys sort: k first, then sp = (s, p); then ys = (k, s)
    k, s, p = 3, 0, 1.0
    ks, ss = [], []
    for _ in range(7):
        ks.append(k)
        ss.append(s)
        k, s, p = k + 1, s + k, p * 2
    assert [int(got[0]), int(got[1])] == [k, s]
    close(got[2], p)
    np.testing.assert_array_equal(got[3], ks)
    np.testing.assert_array_equal(got[4], ss)


def test_scan_zero_length_and_captured_const() -> None:
    got = check(lambda c, x, w: dsl.scan(lambda c, x: (c + x * w, c), c, x), np.float32(1.5),
                np.zeros((0,), np.float32), np.float32(2.0))
    close(got[0], 1.5)
    assert got[1].shape == (0,)
    xs = f32(5)
    got = check(lambda c, x, w: dsl.scan(lambda c, x: (c * w + x, c), c, x, reverse=True),
                np.float32(0.5), xs, np.float32(0.5))
    c = 0.5
    for x in xs[::-1]:
        c = c * 0.5 + x
    close(got[0], c)


def test_fori_loop_static_and_symbolic_bounds() -> None:
    got = check(lambda x: dsl.fori_loop(0, 5, lambda i, c: c * 2.0 + i, x), np.float32(1.0))
    close(got[0], ((((1 * 2 + 0) * 2 + 1) * 2 + 2) * 2 + 3) * 2 + 4)
    for hi in (-2, 0, 6):
        got = check(lambda lo, hi, x: dsl.fori_loop(lo, hi, lambda i, c: c + i * i, x),
                    np.int32(1), np.int32(hi), np.int32(10))
        assert int(got[0]) == 10 + sum(i * i for i in range(1, hi))


def test_scan_weak_init_and_other_dtypes() -> None:
    def fn(xs: Any, b: Any) -> Any:
        def step(c: Any, x: Any) -> Any:
            s, flip, n, big, d = c
            return (s + x, ~flip, n + np.uint8(250), big * 3, d * 1.5), (flip, x > 0)
        return dsl.scan(step, (0.0, b, np.uint8(1), np.int64(2**40), np.ones((), np.float64)), xs)

    xs = f32(5)
    got = check(fn, xs, np.bool_(True))
    close(got[0], xs.sum())
    assert got[0].dtype == np.float32 and got[4].dtype == np.float64 and bool(got[1]) is False
    assert int(got[2]) == (1 + 5 * 250) % 256 and int(got[3]) == 2**40 * 3**5
    assert float(got[4]) == 1.5**5
    np.testing.assert_array_equal(got[5], [True, False, True, False, True])
    np.testing.assert_array_equal(got[6], xs > 0)


# ----------------------------------------------------------------------------------------------
# while_loop


def test_while_loop_counts_and_captures() -> None:
    def fn(x: Any, limit: Any, step: Any) -> Any:
        return dsl.while_loop(lambda c: c[1] < limit, lambda c: (c[0] * step, c[1] + 1), (x, 0))

    got = check(fn, f32(3), np.int32(6), np.float32(1.5))
    assert int(got[1]) == 6
    got = check(fn, f32(3), np.int32(-1), np.float32(1.5))  # zero iterations
    assert int(got[1]) == 0


@pytest.mark.parametrize("max_iters,limit,expect", [(4, 10, 4), (20, 10, 10), (0, 10, 0),
                                                    (3, -1, 0)])
def test_while_loop_max_iters(max_iters: int, limit: int, expect: int) -> None:
    def fn(lim: Any) -> Any:
        return dsl.while_loop(lambda c: c[0] < lim, lambda c: (c[0] + 1, c[1] * 2.0),
                              (np.int32(0), np.float32(1.0)), max_iters=max_iters)

    got = check(fn, np.int32(limit))
    assert int(got[0]) == expect
    close(got[1], 2.0 ** expect)


# ----------------------------------------------------------------------------------------------
# cond and switch


@pytest.mark.parametrize("pred", [True, False])
def test_cond_several_operands_and_captured(pred: bool) -> None:
    def fn(p: Any, x: Any, y: Any, w: Any) -> Any:
        return dsl.cond(p, lambda a, b: (a * w, b + 1), lambda a, b: (a - 1.0, b * 3), x, y)

    x, y, w = f32(3), i32(2), f32(3)
    got = check(fn, np.bool_(pred), x, y, w)
    close(got[0], x * w if pred else x - 1)
    np.testing.assert_array_equal(got[1], y + 1 if pred else y * 3)


def test_cond_integer_predicate() -> None:
    for p in (0, 3, -2):
        got = check(lambda p, x: dsl.cond(p, lambda x: x + 1.0, lambda x: x - 1.0, x),
                    np.int32(p), np.float32(0.0))
        close(got[0], 1.0 if p else -1.0)


def test_switch_clamps_index() -> None:
    branches = [lambda x: x + 1.0, lambda x: x * x, lambda x: -x]
    prog = dsl.stage(lambda i, x: dsl.switch(i, branches, x))(np.int32(0), f32(3))
    x = f32(3)
    for i in (-5, 0, 1, 2, 3, 2**31 - 1):
        args = [np.asarray(i, np.int32), x]
        want, got = eval_program(prog, args), run_on_cpu(prog, args)
        close(got[0], want[0])
        close(got[0], [x + 1, x * x, -x][min(max(i, 0), 2)])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, np.uint64])
def test_cond_primitive_clamps_in_index_dtype(dtype: Any) -> None:
    """The `cond` primitive itself with a non-i32 index (the user API converts first)."""
    t = TensorType((2,), np.dtype(np.float32))
    branches = tuple(dsl.stage(f)(t) for f in (lambda x: x + 1.0, lambda x: x * 3.0,
                                                 lambda x: x - 7.0))

    def fn(i: Any, x: Any) -> Any:
        return bind(P.Cond(branches=branches), i, x)

    info = np.iinfo(dtype)
    prog = dsl.stage(fn)(dtype(0), np.zeros(2, np.float32))
    x = f32(2)
    for i in sorted({info.min, 0, 1, 2, 3, info.max}):
        args = [np.asarray(i, dtype), x]
        want, got = eval_program(prog, args), run_on_cpu(prog, args)
        close(got[0], want[0])


def test_switch_single_branch() -> None:
    got = check(lambda i, x: dsl.switch(i, [lambda x: x * 2.0], x), np.int32(5), f32(2))
    assert got[0].shape == (2,)


# ----------------------------------------------------------------------------------------------
# reduce


@pytest.mark.parametrize("axis", [0, 1, (0, 2), None, ()])
def test_reduce_sum_and_max_axes(axis: Any) -> None:
    x = f32(3, 4, 5)
    got = check(lambda x: dsl.reduce(lambda a, b: a + b, x, 0.0, axis=axis), x)
    close(got[0], x.sum(axis=axis))
    got = check(lambda x: dsl.reduce(dsl.maximum, x, -np.inf, axis=axis), x)
    close(got[0], x.max(axis=axis) if axis != () else x)


def _matmul2(a: Any, b: Any) -> Any:
    """The product of 2x2 matrices held as 4-tuples of scalars: associative, not commutative."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3])


def _mats(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    return tuple(i32(*shape, lo=-3, hi=4) for _ in range(4))


def _as_matrices(m: tuple[np.ndarray, ...]) -> np.ndarray:
    """[..., 2, 2] int32 matrices from the four entry arrays."""
    return np.stack([np.stack([m[0], m[1]], -1), np.stack([m[2], m[3]], -1)], -2)


def _fold(mats: np.ndarray) -> np.ndarray:
    """The ordered product of the matrices along the leading axis (int32 wraps like XLA)."""
    acc = np.broadcast_to(np.eye(2, dtype=np.int32), mats.shape[1:]).copy()
    for m in mats:
        acc = np.matmul(acc, m)
    return acc


@pytest.mark.parametrize("shape,axis", [((37,), 0), ((50, 3), 0), ((3, 50), 1), ((6, 7), None)])
def test_reduce_non_commutative_matrix_product(shape: tuple[int, ...], axis: Any) -> None:
    ms = _mats(shape)
    one = (1, 0, 0, 1)
    got = check(lambda m: dsl.reduce(_matmul2, m, tuple(np.int32(v) for v in one), axis=axis),
                ms)
    mats = _as_matrices(ms)
    if axis is None:
        want = _fold(mats.reshape(-1, 2, 2))
    else:
        want = _fold(np.moveaxis(mats, axis, 0))
    np.testing.assert_array_equal(_as_matrices(tuple(got)), want)


def test_reduce_argmax_pair_and_empty_axis() -> None:
    def argmax(x: Any) -> Any:
        def pick(a: Any, b: Any) -> Any:
            take_b = (b[0] > a[0]) | ((b[0] == a[0]) & (b[1] < a[1]))
            return dsl.where(take_b, b[0], a[0]), dsl.where(take_b, b[1], a[1])
        idx = dsl.broadcast_to(dsl.arange(x.shape[1], dtype=dsl.int32), x.shape)
        return dsl.reduce(pick, (x, idx), (-np.inf, np.int32(2**31 - 1)), axis=1)

    x = np.round(f32(4, 9))
    got = check(argmax, x)
    np.testing.assert_array_equal(got[1], x.argmax(1))
    got = check(lambda x: dsl.reduce(lambda a, b: a + b, x, 0.0, axis=0),
                np.zeros((0, 3), np.float32))
    close(got[0], np.zeros(3))


@pytest.mark.parametrize("shape,axis", [((9,), 0), ((6, 5), 1), ((4, 3, 2), (0, 2)),
                                        ((0, 4), 0)])
def test_reduce_with_scalar_const(shape: tuple[int, ...], axis: Any) -> None:
    """Consts cannot enter a reduce region: this takes the pairwise tree of maps."""
    x = RNG.integers(0, 13, shape).astype(np.int32)

    def fn(x: Any, m: Any) -> Any:
        return dsl.reduce(lambda a, b: (a + b) % m, x, np.int32(0), axis=axis)

    got = check(fn, x, np.int32(13))
    np.testing.assert_array_equal(got[0], x.sum(axis=axis) % 13)


def test_reduce_with_array_const() -> None:
    """A non-scalar const: the elementwise application falls back to a loop."""
    x = RNG.integers(0, 7, (5, 3)).astype(np.int32)

    def fn(x: Any, v: Any) -> Any:
        return dsl.reduce(lambda a, b: (a + b) % v[1], x, np.int32(0), axis=0)

    got = check(fn, x, np.array([3, 7], np.int32))
    np.testing.assert_array_equal(got[0], x.sum(0) % 7)


# ----------------------------------------------------------------------------------------------
# associative_scan


@pytest.mark.parametrize("shape,axis,reverse", [((1,), 0, False), ((10,), 0, False),
                                                ((10,), 0, True), ((3, 17), 1, False),
                                                ((3, 17), 1, True), ((5, 2, 3), 0, True),
                                                ((2, 0, 3), 1, False)])
def test_associative_scan_cumsum(shape: tuple[int, ...], axis: int, reverse: bool) -> None:
    x = f32(*shape)
    got = check(lambda x: dsl.associative_scan(lambda a, b: a + b, x, reverse=reverse,
                                               axis=axis), x)
    want = np.flip(np.cumsum(np.flip(x, axis), axis), axis) if reverse else np.cumsum(x, axis)
    close(got[0], want)


@pytest.mark.parametrize("reverse", [False, True])
def test_associative_scan_non_commutative(reverse: bool) -> None:
    ms = _mats((2, 11))
    got = check(lambda m: dsl.associative_scan(_matmul2, m, reverse=reverse, axis=1), ms)
    mats = np.moveaxis(_as_matrices(ms), 1, 0)  # [11, 2, 2, 2]
    if reverse:  # out[i] = op(x[n-1], ..., x[i])
        want = [_fold(mats[i:][::-1]) for i in range(11)]
    else:
        want = [_fold(mats[: i + 1]) for i in range(11)]
    np.testing.assert_array_equal(np.moveaxis(_as_matrices(tuple(got)), 1, 0), np.stack(want))


def test_associative_scan_with_consts() -> None:
    x = RNG.integers(0, 5, (3, 6)).astype(np.int32)
    got = check(lambda x, m: dsl.associative_scan(lambda a, b: (a + b) % m, x, axis=1),
                x, np.int32(5))
    np.testing.assert_array_equal(got[0], np.cumsum(x, 1) % 5)
    got = check(lambda x, v: dsl.associative_scan(lambda a, b: (a + b) % v[0], x, reverse=True),
                x, np.array([5, 2], np.int32))
    np.testing.assert_array_equal(got[0], np.flip(np.cumsum(np.flip(x, 0), 0), 0) % 5)


@settings(max_examples=6)
@given(st.integers(1, 20), st.booleans())
def test_associative_scan_lengths(n: int, reverse: bool) -> None:
    x = RNG.integers(-9, 10, (n, 2)).astype(np.int32)
    got = check(lambda x: dsl.associative_scan(lambda a, b: a * 3 + b, x, reverse=reverse), x)
    # `a * 3 + b` is not associative: only evaluate's exact doubling order gives these values
    assert got[0].shape == (n, 2)


# ----------------------------------------------------------------------------------------------
# nesting


def test_scan_inside_cond_inside_while() -> None:
    def fn(x: Any, w: Any) -> Any:
        def body(c: Any) -> Any:
            k, v = c
            def inner(v: Any) -> Any:
                return dsl.scan(lambda s, r: (s + r * w, s), v[0], v)[1]
            return k + 1, dsl.cond(k % 2 == 0, inner, lambda v: v * w, v)
        return dsl.while_loop(lambda c: c[0] < 4, body, (np.int32(0), x))

    check(fn, f32(5), np.float32(0.5))


def test_map_inside_scan_and_reduce_inside_map() -> None:
    def fn(xs: Any, w: Any) -> Any:
        def step(c: Any, x: Any) -> Any:
            y = dsl.map(lambda r: dsl.reduce(dsl.maximum, r * w, -np.inf), x)
            return c + y, y
        return dsl.scan(step, dsl.zeros(3, dsl.float32), xs)

    xs, w = f32(4, 3, 6), f32(6)
    got = check(fn, xs, w)
    close(got[1], (xs * w).max(-1))


def test_same_body_twice() -> None:
    """The same body twice lowers to a well-formed module (regions are inlined)."""
    def fn(x: Any) -> Any:
        f = lambda r: r * 2.0  # noqa: E731
        return dsl.map(f, x, sequential=True), dsl.map(f, x + 1.0, sequential=True)

    text = lower_program(dsl.stage(fn)(f32(3, 2)), debug=True)
    assert text.count('"stablehlo.while"') == 2
    check(fn, f32(3, 2))


def test_map_lowers_vectorized_unless_sequential() -> None:
    """`map` compiles as its batched body (no loop); `sequential=True` keeps the loop; both give
    NumPy's numbers."""
    def fn(x: Any, seq: bool) -> Any:
        return dsl.map(lambda r: dsl.sin(r) * dsl.sum(r) + r[0], x, sequential=seq)

    x = np.linspace(-2.0, 2.0, 12, dtype=np.float32).reshape(4, 3)
    want = np.sin(x) * x.sum(1, keepdims=True) + x[:, :1]
    for seq, loops in ((False, 0), (True, 1)):
        program = dsl.stage(lambda a: fn(a, seq))(f32(4, 3))
        assert lower_program(program, debug=True).count('"stablehlo.while"') == loops
        np.testing.assert_allclose(run_on_cpu(program, [x])[0], want, rtol=1e-6, atol=1e-6)


@settings(max_examples=40)
@given(st.data())
def test_random_programs_with_combinators(data: st.DataObject) -> None:
    """Random programs (`dsl.testing.programs`) holding combinators agree with evaluate."""
    program = data.draw(programs(max_eqns=4, max_depth=2))
    if not any(type(e.op) in P.CONTROL for e in program.walk()):
        return
    args = [data.draw(arrays(t)) for t in program.in_types]
    want = eval_program(program, args)
    got = run_on_cpu(program, args)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        if g.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)


def test_every_combinator_has_a_rule() -> None:
    from interpreters.lower import _load_rules

    _load_rules()
    for cls in P.CONTROL:
        assert cls in RULES


def _max_pair(a: Any, b: Any) -> Any:
    """(value, index) of the larger value, the earlier on ties, through a nested `cond`: a body
    that is not elementwise, so it runs in a loop over the elements."""
    return dsl.cond(b[0] > a[0], lambda: b, lambda: a)


@pytest.mark.parametrize("reverse", [False, True])
def test_associative_scan_non_elementwise_body(reverse: bool) -> None:
    x = np.round(f32(4, 7) * 2)
    idx = np.broadcast_to(np.arange(7, dtype=np.int32), (4, 7)).copy()
    got = check(lambda x, i: dsl.associative_scan(_max_pair, (x, i), axis=1, reverse=reverse),
                x, idx)
    acc = np.maximum.accumulate
    close(got[0], np.flip(acc(np.flip(x, 1), 1), 1) if reverse else acc(x, 1))


@pytest.mark.parametrize("captured", [False, True])
def test_reduce_non_elementwise_body(captured: bool) -> None:
    x = np.round(f32(4, 7) * 2)
    idx = np.broadcast_to(np.arange(7, dtype=np.int32), (4, 7)).copy()

    def fn(x: Any, i: Any, lo: Any) -> Any:
        op = (lambda a, b: _max_pair(a, (dsl.maximum(b[0], lo), b[1]))) if captured else _max_pair
        return dsl.reduce(op, (x, i), (-np.inf, np.int32(0)), axis=1)

    got = check(fn, x, idx, np.float32(-100.0))
    close(got[0], x.max(1))
    np.testing.assert_array_equal(got[1], x.argmax(1))
