"""Tests of the user-level combinators (`dsl.combinators`) and their evaluate rules.

Expected values come from plain Python loops over NumPy, NumPy's own reductions and
accumulations, and `jax.lax.associative_scan` as an oracle for the reverse scan convention. Each
combinator runs eagerly (concrete operands) and staged (`dsl.stage` + `evaluate`), and the staged
programs are checked to be exact: every equation's declared types equal its type rule's.
"""

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dsl
from dsl import combinators as C
from dsl import lax
from dsl import np_elementwise as E
from dsl import ops as P
from dsl.errors import DTypeError, ShapeError
from dsl.ir import Program
from dsl.types import TensorType
from interpreters.evaluate import evaluate

A = E.asarray
RNG = np.random.default_rng(0)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def check_exact(program: Program) -> None:
    """Every equation (nested bodies too) has exactly the types its type rule derives, and the
    carries of loops come back with exactly their input types (weakness included)."""
    for eqn in program.walk():
        assert eqn.op.infer(*(a.type for a in eqn.inputs)) == tuple(v.type for v in eqn.outputs)
        if isinstance(eqn.op, P.Scan):
            nc, nk = eqn.op.num_consts, eqn.op.num_carry
            assert eqn.op.body.in_types[nc: nc + nk] == eqn.op.body.out_types[:nk]
        if isinstance(eqn.op, P.WhileLoop):
            nb = eqn.op.body_consts
            assert eqn.op.body.in_types[nb:] == eqn.op.body.out_types


def eqns_of(program: Program, cls: type) -> list:
    return [e for e in program.eqns if isinstance(e.op, cls)]


def close(got, want, tol=1e-5):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def both(fn, *args):
    """Run `fn` eagerly and through its staged program; check they agree; return eager's."""
    eager = fn(*args)
    staged = evaluate(fn)(*args)
    check_exact(dsl.stage(fn)(*args))
    for e, s in zip(dsl.tree_leaves(eager), dsl.tree_leaves(staged)):
        assert np.asarray(e).dtype == np.asarray(s).dtype
        close(s, e)
    return eager


# ----------------------------------------------------------------------------------------------
# map


def test_map_matches_python_loop():
    xs = f32(5, 3)
    out = both(lambda x: C.map(lambda r: E.sin(r) * 2.0 + 1.0, x), xs)
    close(out, np.stack([np.sin(r) * 2 + 1 for r in xs]))


def test_map_pytrees_and_closure_over_concrete_array():
    xs = {"a": f32(4, 3), "b": f32(4)}
    w = A(f32(3))

    def f(t):
        return (t["a"] * w, {"s": t["b"] + 1.0, "n": None})

    out = C.map(f, {"a": A(xs["a"]), "b": A(xs["b"])})
    close(out[0], xs["a"] * np.asarray(w))
    close(out[1]["s"], xs["b"] + 1)
    assert out[1]["n"] is None


def test_map_keeps_dtypes_and_zero_length():
    xs = np.arange(6, dtype=np.int8).reshape(3, 2)
    out = C.map(lambda r: r * 2, A(xs))
    assert np.asarray(out).dtype == np.int8
    np.testing.assert_array_equal(out, xs * 2)
    empty = C.map(lambda r: (E.sin(r), r > 0), A(np.zeros((0, 4), np.float64)))
    assert np.asarray(empty[0]).shape == (0, 4) and np.asarray(empty[0]).dtype == np.float64
    assert np.asarray(empty[1]).shape == (0, 4) and np.asarray(empty[1]).dtype == np.bool_


def test_map_captures_outer_tracers():
    def f(x, w):
        return C.map(lambda r: E.tanh(r * w), x)

    program = dsl.stage(f)(f32(4, 2), f32(2))
    (eqn,) = eqns_of(program, P.Map)
    assert eqn.op.num_consts > 0
    x, w = f32(4, 2), f32(2)
    close(evaluate(program)(x, w), np.tanh(x * w))
    close(evaluate(f)(x, w), f(A(x), A(w)))


def test_map_errors():
    with pytest.raises(ShapeError, match=r"f32\[3\].*f32\[4\]"):
        C.map(lambda t: t[0] + 1.0, (A(f32(3)), A(f32(4))))
    with pytest.raises(ShapeError, match=r"f32\[\]"):
        C.map(lambda t: t, A(np.float32(1.0)))
    with pytest.raises(ValueError, match="no array leaves"):
        C.map(lambda t: t, ())
    with pytest.raises(TypeError, match="str"):
        C.map(lambda t: "no", A(f32(3)))


# ----------------------------------------------------------------------------------------------
# scan


def test_scan_cumsum_forward_and_reverse():
    xs = f32(7)

    def cumsum(x, reverse):
        return C.scan(lambda c, v: (c + v, c + v), 0.0, x, reverse=reverse)

    total, ys = both(lambda x: cumsum(x, False), xs)
    close(ys, np.cumsum(xs))
    close(total, xs.sum())
    total, ys = both(lambda x: cumsum(x, True), xs)
    close(ys, np.cumsum(xs[::-1])[::-1])
    close(total, xs.sum())


def test_scan_pytrees_none_y_and_length_only():
    xs = {"u": f32(5, 2), "v": f32(5)}

    def step(c, x):
        a, b = c
        return (a + x["u"], b * 0.5 + x["v"]), None

    (a, b), ys = C.scan(step, (A(np.zeros(2, np.float32)), 0.0), {k: A(v) for k, v in xs.items()})
    assert ys is None
    close(a, xs["u"].sum(0))
    want = 0.0
    for v in xs["v"]:
        want = want * 0.5 + v
    close(b, want)

    count, ys = C.scan(lambda c, _: (c + 1, c * 2), 0, None, length=4)
    assert int(count) == 4
    np.testing.assert_array_equal(ys, [0, 2, 4, 6])


def test_scan_zero_length():
    init = A(np.float32(3.0))
    c, ys = C.scan(lambda c, x: (c + lax.reduce_sum(x, (0,)), (x, c)), init, A(np.zeros((0, 2), np.float32)))
    close(c, 3.0)
    assert np.asarray(ys[0]).shape == (0, 2) and np.asarray(ys[1]).shape == (0,)
    assert np.asarray(ys[1]).dtype == np.float32


def test_scan_weak_carry_restaged_strong():
    xs = f32(4)

    def f(x):
        return C.scan(lambda c, v: (c + v, c), 0.0, x)

    program = dsl.stage(f)(xs)
    (eqn,) = eqns_of(program, P.Scan)
    assert eqn.op.body.in_types[0] == TensorType((), np.float32)  # strong, not ~f32[]
    check_exact(program)
    c, ys = both(f, xs)
    close(c, xs.sum())
    assert not c.weak
    # a weak output where a strong carry is expected is converted, not restaged
    c, _ = C.scan(lambda c, v: (1.0, None), A(np.float32(0.0)), A(xs))
    assert not c.weak and float(c) == 1.0
    check_exact(dsl.stage(lambda x: C.scan(lambda c, v: (1.0, None), A(np.float32(0)), x))(xs))


def test_scan_captures_outer_tracers_and_evaluates():
    def f(x, w, b):
        return C.scan(lambda c, v: (c * w + v, c + b), A(np.float32(0)), x)

    x, w, b = f32(6), np.float32(0.7), np.float32(-1.5)
    program = dsl.stage(f)(x, w, b)
    (eqn,) = eqns_of(program, P.Scan)
    assert eqn.op.num_consts == 2
    c, ys = evaluate(program)(x, w, b)
    want_c, want_ys = np.float32(0), []
    for v in x:
        want_ys.append(want_c + b)
        want_c = want_c * w + v
    close(c, want_c)
    close(ys, want_ys)


def test_scan_errors():
    x2 = A(f32(4, 3))
    with pytest.raises(ShapeError, match=r"f32\[3\] does not match the initial carry f32\[\]"):
        C.scan(lambda c, v: (c + v, None), A(np.float32(0)), x2)
    with pytest.raises(DTypeError, match=r"f32\[\] does not match the initial carry i32\[\]"):
        C.scan(lambda c, v: (c + v, None), A(np.int32(0)), A(f32(3)))
    with pytest.raises(ShapeError, match=r"\[1\]\['b'\]"):
        C.scan(lambda c, v: ((c[0], {"b": c[1]["b"] + v}), None),
               (0.0, {"b": A(np.float32(0))}), x2)
    with pytest.raises(TypeError, match="structure"):
        C.scan(lambda c, v: ([c[0], c[1]], None), (0.0, 0.0), A(f32(3)))
    with pytest.raises(TypeError, match="pair"):
        C.scan(lambda c, v: c, 0.0, A(f32(3)))
    with pytest.raises(ShapeError, match=r"f32\[3\].*f32\[4\]"):
        C.scan(lambda c, v: (c, None), 0.0, (A(f32(3)), A(f32(4))))
    with pytest.raises(ShapeError, match="length=5"):
        C.scan(lambda c, v: (c, None), 0.0, A(f32(3)), length=5)
    with pytest.raises(ValueError, match="length"):
        C.scan(lambda c, v: (c, None), 0.0)


# ----------------------------------------------------------------------------------------------
# reduce


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (2, 0, 1)])
def test_reduce_monoids_match_numpy(axis):
    x = f32(3, 4, 5)
    np_axis = axis if axis is None or isinstance(axis, int) else tuple(axis)
    close(C.reduce(lambda a, b: a + b, A(x), 0.0, axis), x.sum(axis=np_axis), 1e-4)
    close(C.reduce(lambda a, b: a * b, A(x), 1.0, axis), x.prod(axis=np_axis), 1e-4)
    close(C.reduce(E.maximum, A(x), -np.inf, axis), x.max(axis=np_axis))


def test_reduce_custom_op_and_staged():
    x = f32(6, 7)
    out = both(lambda v: C.reduce(E.logaddexp, v, -np.inf, 1), x)
    close(out, np.logaddexp.reduce(x, axis=1))


def test_reduce_integers_keep_dtype():
    x = np.arange(12, dtype=np.int16).reshape(3, 4)
    out = C.reduce(lambda a, b: a + b, A(x), 0, 0)
    assert np.asarray(out).dtype == np.int16
    np.testing.assert_array_equal(out, x.sum(0))


def test_reduce_pytree_argmax():
    x = f32(5, 9)
    x[:, 3] = x[:, 7] = 5.0  # ties: the first index wins

    def op(a, b):
        take = b[0] > a[0]
        return E.where(take, b[0], a[0]), E.where(take, b[1], a[1])

    idx = A(np.broadcast_to(np.arange(9, dtype=np.int32), (5, 9)))
    best, arg = C.reduce(op, (A(x), idx), (-np.inf, 0), 1)
    close(best, x.max(1))
    np.testing.assert_array_equal(arg, x.argmax(1))


def _matmul_op(a, b):
    """2x2 matrix product on 4 scalar leaves (a00, a01, a10, a11): associative, not commutative."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3])


def _matmul_via_cond(a, b):
    """The same product behind a `cond`, so the body is not elementwise (the fallback path)."""
    return C.cond(a[0] > -1e30, _matmul_op, lambda u, v: u, a, b)


def _mats(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 2, 2))


def _leaves4(m: np.ndarray) -> tuple:
    return tuple(A(m[..., i, j]) for i in (0, 1) for j in (0, 1))


@pytest.mark.parametrize("op", [_matmul_op, _matmul_via_cond])
@given(n=st.integers(0, 11))
def test_reduce_noncommutative_matches_ordered_product(op, n):
    m = _mats(n, n)
    eye = (1.0, 0.0, 0.0, 1.0)
    out = C.reduce(op, _leaves4(m), tuple(np.float64(v) for v in eye), 0)
    want = functools.reduce(np.matmul, list(m), np.eye(2))
    close(np.array(out).reshape(2, 2), want, 1e-12)


def test_reduce_fallback_matches_fast_path():
    x = f32(4, 5)
    fast = C.reduce(E.maximum, A(x), -np.inf, 0)
    slow = C.reduce(lambda a, b: C.cond(a > b, lambda: a, lambda: b), A(x), -np.inf, 0)
    close(fast, slow)
    close(slow, x.max(0))


def test_reduce_empty_gives_init():
    x = np.zeros((0, 3), np.float32)
    out = C.reduce(E.maximum, A(x), -np.inf, 0)
    np.testing.assert_array_equal(out, [-np.inf] * 3)
    assert np.asarray(out).dtype == np.float32


def test_reduce_captured_tracer_const():
    def f(x, w):
        # a + b + w is associative with identity -w
        return C.reduce(lambda a, b: a + b + w, x, E.negative(w), None)

    x, w = f32(3, 4), np.float32(2.5)
    program = dsl.stage(f)(x, w)
    (eqn,) = eqns_of(program, P.Reduce)
    assert eqn.op.num_consts == 1
    close(evaluate(program)(x, w), x.sum() + (x.size - 1) * w, 1e-4)
    close(f(A(x), A(w)), x.sum() + (x.size - 1) * w, 1e-4)


def test_reduce_errors():
    x = A(f32(3, 4))
    with pytest.raises(ShapeError, match=r"init must be a scalar, got f32\[3\]"):
        C.reduce(lambda a, b: a + b, x, A(f32(3)))
    with pytest.raises(ShapeError, match=r"f32\[3,4\].*f32\[4\]"):
        C.reduce(lambda a, b: (a[0] + b[0], a[1] + b[1]), (x, A(f32(4))), (0.0, 0.0))
    with pytest.raises(DTypeError, match=r"i32\[\].*f32\[\]"):
        C.reduce(lambda a, b: a + b, x, A(np.int32(0)))
    with pytest.raises(ShapeError, match="out of range"):
        C.reduce(lambda a, b: a + b, x, 0.0, 2)
    with pytest.raises(DTypeError, match=r"f64\[\].*f32\[\]"):
        C.reduce(lambda a, b: E.astype(a + b, np.float64), x, 0.0)


# ----------------------------------------------------------------------------------------------
# associative_scan


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_associative_scan_matches_numpy(axis):
    x = f32(9, 6)
    close(C.associative_scan(lambda a, b: a + b, A(x), axis=axis), np.cumsum(x, axis), 1e-4)
    close(C.associative_scan(E.maximum, A(x), axis=axis), np.maximum.accumulate(x, axis))
    rev = C.associative_scan(lambda a, b: a + b, A(x), reverse=True, axis=axis)
    close(rev, np.flip(np.cumsum(np.flip(x, axis), axis), axis), 1e-4)


@pytest.mark.parametrize("op", [_matmul_op, _matmul_via_cond])
@given(n=st.integers(0, 13))
def test_associative_scan_noncommutative(op, n):
    m = _mats(n, n)
    out = np.stack([np.asarray(v) for v in C.associative_scan(op, _leaves4(m))], -1)
    want, acc = [], np.eye(2)
    for k in range(n):
        acc = acc @ m[k]
        want.append(acc.reshape(4))
    close(out, np.array(want).reshape(n, 4), 1e-12)


def test_associative_scan_reverse_matches_jax():
    jax = pytest.importorskip("jax")
    m = _mats(6, 1).astype(np.float32)
    ours = C.associative_scan(_matmul_op, _leaves4(m), reverse=True)
    theirs = jax.lax.associative_scan(_matmul_op, tuple(m[..., i, j] for i in (0, 1)
                                                        for j in (0, 1)), reverse=True)
    for a, b in zip(ours, theirs):
        close(a, np.asarray(b))


def test_associative_scan_staged_with_const():
    def f(x, s):
        return C.associative_scan(lambda a, b: a + b * s, x)

    x, s = f32(5, 2), np.float32(1.0)
    program = dsl.stage(f)(x, s)
    assert eqns_of(program, P.AssociativeScan)[0].op.num_consts == 1
    close(evaluate(program)(x, s), np.cumsum(x, 0))


# ----------------------------------------------------------------------------------------------
# cond and switch


def test_cond_both_branches_and_pred_kinds():
    x = f32(3)

    def f(p, v):
        return C.cond(p, lambda u: (E.sin(u), u * 2.0), lambda u: (E.cos(u), u - 1.0), v)

    for p, taken in [(True, 0), (False, 1), (np.float32(2.0), 0), (np.float32(0.0), 1),
                     (np.int32(-3), 0)]:
        out = both(f, p, x)
        want = (np.sin(x), x * 2) if taken == 0 else (np.cos(x), x - 1)
        close(out[0], want[0])
        close(out[1], want[1])
    (eqn,) = eqns_of(dsl.stage(f)(True, x), P.Cond)
    assert eqn.inputs[0].type == TensorType((), np.int32)


def test_cond_weak_strong_branches_are_promoted():
    def f(p, v):
        return C.cond(p, lambda u: u * 2.0, lambda u: 1.0, v)

    x = A(np.float32(4.0))
    program = dsl.stage(f)(True, x)
    (eqn,) = eqns_of(program, P.Cond)
    assert [b.out_types for b in eqn.op.branches] == [(TensorType((), np.float32),)] * 2
    check_exact(program)
    assert float(f(True, x)) == 8.0 and float(f(False, x)) == 1.0
    assert not f(False, x).weak


def test_cond_union_of_captured_values():
    def f(p, a, b):
        return C.cond(p, lambda: a * 2.0, lambda: b + 1.0)

    a, b = f32(3), f32(3)
    program = dsl.stage(f)(True, a, b)
    (eqn,) = eqns_of(program, P.Cond)
    assert len(eqn.inputs) == 3  # index, a, b
    close(evaluate(program)(True, a, b), a * 2)
    close(evaluate(program)(False, a, b), b + 1)


def test_cond_errors():
    x = A(f32(3))
    with pytest.raises(ShapeError, match=r"true_fn \(branch 1\) returns f32\[3\] but "
                                         r"false_fn \(branch 0\) returns f32\[\]"):
        C.cond(True, lambda u: u, lambda u: A(np.float32(0)), x)
    with pytest.raises(DTypeError, match=r"branch 2 returns i32\[3\] but branch 0 returns f32"):
        C.switch(0, [lambda u: u, lambda u: u, lambda u: lax.convert(u, np.int32)], x)
    with pytest.raises(TypeError, match="structure"):
        C.cond(True, lambda u: (u, u), lambda u: [u, u], x)
    with pytest.raises(ShapeError, match=r"pred must be a scalar, got bool\[3\]"):
        C.cond(A(np.ones(3, bool)), lambda: 0.0, lambda: 1.0)


def test_switch_branches_and_clamping():
    fns = [lambda u: u + 1.0, lambda u: u * 10.0, lambda u: -u]
    x = f32(2)
    wants = [x + 1, x * 10, -x]
    for i, want in [(0, 0), (1, 1), (2, 2), (-5, 0), (7, 2)]:
        close(C.switch(i, fns, A(x)), wants[want])
    close(C.switch(A(np.int64(2**40)), fns, A(x)), wants[2])
    close(C.switch(A(np.uint8(200)), fns, A(x)), wants[2])
    f = lambda i, v: C.switch(i, fns, v)  # noqa: E731
    program = dsl.stage(f)(np.int32(0), x)
    for i in (-1, 0, 1, 2, 3):
        close(evaluate(program)(np.int32(i), x), wants[min(max(i, 0), 2)])
    with pytest.raises(DTypeError, match=r"f32\[\]"):
        C.switch(1.0, fns, A(x))
    with pytest.raises(ValueError, match="at least one"):
        C.switch(0, [], A(x))


# ----------------------------------------------------------------------------------------------
# while_loop and fori_loop


def test_while_loop_collatz_and_max_iters():
    def steps(n):
        def body(c):
            k, m = c
            return k + 1, E.where(m % 2 == 0, m // 2, 3 * m + 1)
        return C.while_loop(lambda c: c[1] != 1, body, (0, n))

    for n in (1, 6, 27):
        want, m = 0, n
        while m != 1:
            m, want = (m // 2 if m % 2 == 0 else 3 * m + 1), want + 1
        k, last = both(steps, A(np.int32(n)))
        assert int(k) == want and int(last) == 1
    k, _ = C.while_loop(lambda c: c[1] != 1, lambda c: (c[0] + 1, c[1] + 1), (0, 2),
                        max_iters=5)
    assert int(k) == 5
    assert int(C.while_loop(lambda c: c < 3, lambda c: c + 1, 0, max_iters=0)) == 0


def test_while_loop_weak_carry_and_captured_values():
    def f(limit, x):
        return C.while_loop(lambda c: c[0] < limit, lambda c: (c[0] + x, c[1] + 1), (0.0, 0))

    program = dsl.stage(f)(np.float32(10.0), np.float32(3.0))
    (eqn,) = eqns_of(program, P.WhileLoop)
    assert eqn.op.cond_consts == 1 and eqn.op.body_consts == 1
    check_exact(program)
    total, count = evaluate(program)(np.float32(10.0), np.float32(3.0))
    assert float(total) == 12.0 and int(count) == 4


def test_while_loop_errors():
    with pytest.raises(DTypeError, match=r"bool scalar, got f32\[\]"):
        C.while_loop(lambda c: c * 1.0, lambda c: c + 1.0, A(np.float32(0)))
    with pytest.raises(ShapeError, match=r"got bool\[2\]"):
        C.while_loop(lambda c: c > 0, lambda c: c - 1.0, A(f32(2)))
    with pytest.raises(DTypeError, match=r"f32\[\] does not match the initial carry i32\[\]"):
        C.while_loop(lambda c: c < 3, lambda c: c + 1.5, A(np.int32(0)))
    with pytest.raises(ValueError, match="max_iters"):
        C.while_loop(lambda c: c < 3, lambda c: c + 1, 0, max_iters=-1)


def test_fori_loop_static_bounds_is_a_scan():
    def f(x):
        return C.fori_loop(2, 7, lambda i, c: c * 0.5 + i, x)

    program = dsl.stage(f)(np.float32(1.0))
    assert eqns_of(program, P.Scan) and not eqns_of(program, P.WhileLoop)
    want = np.float32(1.0)
    for i in range(2, 7):
        want = want * np.float32(0.5) + np.float32(i)
    close(both(f, np.float32(1.0)), want)
    assert float(C.fori_loop(5, 2, lambda i, c: c + 1.0, 0.0)) == 0.0
    close(C.fori_loop(np.int32(0), A(np.int32(4)), lambda i, c: c + i, 0), 6)


def test_fori_loop_dynamic_bounds_is_a_while_loop():
    def f(n, x):
        return C.fori_loop(0, n, lambda i, c: (c[0] + i, c[1] * 2.0), (0, x))

    program = dsl.stage(f)(np.int32(3), np.float32(1.0))
    assert eqns_of(program, P.WhileLoop) and not eqns_of(program, P.Scan)
    check_exact(program)
    for n in (0, 1, 5):
        s, p = evaluate(program)(np.int32(n), np.float32(1.0))
        assert int(s) == n * (n - 1) // 2 and float(p) == 2.0 ** n


def test_fori_loop_bad_bounds():
    with pytest.raises(TypeError, match=r"f32\[\]"):
        C.fori_loop(0.0, 3, lambda i, c: c, 0)


# ----------------------------------------------------------------------------------------------
# nesting


def test_scan_inside_map():
    x = f32(4, 6)

    def f(v):
        return C.map(lambda row: C.scan(lambda c, e: (c + e, c + e), 0.0, row)[1], v)

    close(both(f, x), np.cumsum(x, 1), 1e-5)


def test_cond_inside_scan():
    x = f32(8)

    def f(v, w):
        def step(c, e):
            return C.cond(e > 0, lambda: c + e * w, lambda: c - 1.0), c
        return C.scan(step, 0.0, v)

    want, ys = np.float32(0), []
    for e in x:
        ys.append(want)
        want = want + e * np.float32(2) if e > 0 else want - 1
    c, out = both(f, x, np.float32(2.0))
    close(c, want)
    close(out, ys)
    program = dsl.stage(f)(x, np.float32(2.0))
    assert eqns_of(program, P.Scan)[0].op.num_consts == 1


def test_map_inside_scan_over_pytree():
    xs = f32(3, 4)

    def f(v):
        def step(c, row):
            sq = C.map(lambda e: e * e, row)
            return {"acc": c["acc"] + sq}, None
        return C.scan(step, {"acc": A(np.zeros(4, np.float32))}, v)[0]

    out = both(f, xs)
    close(out["acc"], (xs * xs).sum(0))


@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=3), data=st.data())
def test_reduce_and_scan_any_shape_and_axes(shape, data):
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    axes = data.draw(st.lists(st.integers(0, max(len(shape) - 1, 0)), unique=True,
                              max_size=len(shape)).map(tuple))
    out = C.reduce(lambda a, b: a + b, A(x), 0.0, axes)
    close(out, x.sum(axis=axes), 1e-4)
    slow = C.reduce(lambda a, b: C.cond(True, lambda: a + b, lambda: a), A(x), 0.0, axes)
    close(slow, x.sum(axis=axes), 1e-4)
    if shape:
        ax = data.draw(st.integers(-len(shape), len(shape) - 1))
        close(C.associative_scan(lambda a, b: a + b, A(x), axis=ax), np.cumsum(x, ax), 1e-4)
        slow = C.associative_scan(lambda a, b: C.cond(True, lambda: a + b, lambda: a), A(x),
                                  axis=ax)
        close(slow, np.cumsum(x, ax), 1e-4)
