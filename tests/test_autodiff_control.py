"""Differentiation through the combinators (`interpreters/differentiate/control.py`).

Every check goes through the public API (`d.scan`, `d.map`, `d.cond`, `d.switch`,
`d.while_loop`, `d.fori_loop`, `d.reduce`, `d.associative_scan` differentiated by `grad`, `jvp`,
`vjp`). Expected values come from central finite differences of our own *primal* evaluation in
float64 (in random directions), from the jax oracle (`jax.lax.scan` / `cond` / `switch` /
`fori_loop` / `map` / `associative_scan`, `jnp.prod` / `jnp.max`, under `jax.enable_x64`), from
closed forms, and from the dot-product law `<vjp(ct), t> == <ct, jvp(t)>` tying the two modes.
Staged derivatives are type-checked and compiled (`jit`), second derivatives (grad of grad,
Hessians) go through scan, cond, while_loop, reduce and associative_scan, and random well-typed
programs with combinators (`dsl.testing.programs`) obey the dot-product law.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import dsl as d
from dsl.core import inline
from dsl.errors import TransformError
from dsl.testing import arrays, programs
from interpreters.differentiate import load_rules
from interpreters.differentiate.api import grad, hessian, jvp, vjp
from interpreters.jit import jit
from interpreters.laws import check_dot_product

load_rules()

RNG = np.random.default_rng(7)
EPS = 1e-6


def f64(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def leaves(tree) -> list[np.ndarray]:
    return [np.asarray(x, dtype=np.float64) for x in d.tree_leaves(tree)]


def inner(a, b) -> float:
    return float(sum(np.vdot(x, y) for x, y in zip(leaves(a), leaves(b))))


def shift(args: tuple, vs: tuple, h: float) -> tuple:
    return tuple(np.asarray(a) + h * np.asarray(v) for a, v in zip(args, vs))


def check(f, *args, jax_f=None, rtol: float = 1e-6):
    """Check `f` at float64 `args`: jvp against central differences in a random direction, the
    dot-product law between vjp and jvp, and (with `jax_f`) the vjp against jax's."""
    vs = tuple(f64(*np.shape(a)) for a in args)
    out, t_out = jvp(f, args, vs)
    fd = [(p - m) / (2 * EPS) for p, m in zip(leaves(f(*shift(args, vs, EPS))),
                                               leaves(f(*shift(args, vs, -EPS))))]
    for got, want in zip(leaves(t_out), fd):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    ct = d.tree_map(lambda o: f64(*np.shape(o)), out)
    _, back = vjp(f, *args)
    cts = back(ct)
    np.testing.assert_allclose(inner(cts, vs), inner(ct, t_out), rtol=1e-9, atol=1e-9)
    if jax_f is not None:
        def jax_vjp(args, ct):
            jout, jback = jax.vjp(jax_f, *args)
            return jout, jback(ct)

        with jax.enable_x64(True):  # jitted: jax's op-by-op dispatch is slow
            jout, jcts = jax.jit(jax_vjp)(args, d.tree_map(np.asarray, ct))
        for got, want in zip(leaves(out), leaves(jout)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        for got, want in zip(leaves(cts), leaves(jcts)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    return cts


def typechecks(fn, *args) -> d.Program:
    """Stage `fn` (a derivative) and type-check the program, nested bodies included."""
    program = d.stage(fn)(*args)
    d.typecheck(program)
    return program


# ----------------------------------------------------------------------------------------------
# scan


def rnn(w, xs):
    def step(h, x):
        h = d.tanh(w * h + x)
        return h, h * h
    return d.scan(step, 0.5 + 0 * w, xs)


def jax_rnn(w, xs):
    def step(h, x):
        h = jnp.tanh(w * h + x)
        return h, h * h
    return jax.lax.scan(step, 0.5 + 0 * w, xs)


def test_scan_carry_and_ys_match_jax_and_fd():
    check(rnn, f64(), f64(6), jax_f=jax_rnn)


def test_scan_reverse():
    def f(a, xs):
        return d.scan(lambda c, x: (d.sin(c) * x + a, c * x), a, xs, reverse=True)

    def jf(a, xs):
        return jax.lax.scan(lambda c, x: (jnp.sin(c) * x + a, c * x), a, xs, reverse=True)

    check(f, f64(), f64(5), jax_f=jf)


def test_scan_pytrees_with_int_carry_and_no_ys():
    def f(a, xs, ys):
        def step(c, x):
            k, s = c["k"], c["s"]
            return {"k": k + 1, "s": (s[0] * x[0] + x[1], s[1] + s[0] * x[1])}, None
        c, _ = d.scan(step, {"k": 0, "s": (a, a * a)}, (xs, ys))
        return c["s"]

    def jf(a, xs, ys):
        def step(c, x):
            k, s = c["k"], c["s"]
            return {"k": k + 1, "s": (s[0] * x[0] + x[1], s[1] + s[0] * x[1])}, None
        c, _ = jax.lax.scan(step, {"k": 0, "s": (a, a * a)}, (xs, ys))
        return c["s"]

    check(f, f64(), f64(4), f64(4), jax_f=jf)


def test_scan_consts_cotangents_are_summed():
    w = f64(3)

    def f(w, xs):
        return d.scan(lambda c, x: (c * w + x, d.sum(c * w)), d.zeros(3, d.float64), xs)

    def jf(w, xs):
        return jax.lax.scan(lambda c, x: (c * w + x, jnp.sum(c * w)), jnp.zeros(3), xs)

    check(f, w, f64(5, 3), jax_f=jf)


def test_scan_zero_carry_tangent_becomes_nonzero():
    # the carry starts as a constant (tangent zero) and picks up a tangent from w after a step
    def f(w):
        return d.scan(lambda c, x: (c * x + w, c), d.zeros((), d.float64),
                      d.asarray(np.arange(1.0, 5.0)))

    w = f64()
    _, t = jvp(f, (w,), (np.float64(1.0),))
    # c_{k+1} = c_k x_k + w, so dc/dw follows the same recurrence with w -> 1
    c, cs = 0.0, []
    for x in np.arange(1.0, 5.0):
        cs.append(c)
        c = c * x + 1.0
    np.testing.assert_allclose(np.asarray(t[0]), c, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(t[1]), cs, rtol=1e-12)
    check(f, w)


def test_scan_zero_length_and_f32():
    g = grad(lambda a: d.scan(lambda c, x: (c * x, x), a, d.zeros((0,), d.float32))[0])(
        d.asarray(np.float32(2.0)))
    assert g.dtype == np.float32 and float(g) == 1.0
    x = np.linspace(-1, 1, 5).astype(np.float32)
    g = grad(lambda x: rnn(d.asarray(np.float32(0.7)), x)[0])(x)
    with jax.enable_x64(False):
        want = jax.jit(jax.grad(lambda x: jax_rnn(jnp.float32(0.7), x)[0]))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(np.asarray(g), np.asarray(want), rtol=2e-5, atol=1e-6)


def test_grad_of_grad_through_scan():
    xs = f64(5)

    def f(a):
        return d.scan(lambda c, x: (d.sin(c * x) + c, c * c), a, xs)[1].sum()

    def jf(a):
        return jax.lax.scan(lambda c, x: (jnp.sin(c * x) + c, c * c), a, xs)[1].sum()

    a = f64()
    with jax.enable_x64(True):
        want1, want2 = jax.jit(jax.grad(jf))(a), jax.jit(jax.grad(jax.grad(jf)))(a)
        want3 = jax.jit(jax.grad(jax.grad(jax.grad(jf))))(a)
    np.testing.assert_allclose(np.asarray(grad(f)(a)), want1, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(grad(grad(f))(a)), want2, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(grad(grad(grad(f)))(a)), want3, rtol=1e-9)
    typechecks(grad(grad(f)), a)


def test_hessian_through_scan_forward_over_reverse():
    xs = f64(4)

    def f(w):
        return d.sum(rnn(w[0], xs * w[1])[1])

    def jf(w):
        return jnp.sum(jax_rnn(w[0], xs * w[1])[1])

    w = f64(2)
    with jax.enable_x64(True):
        want = jax.jit(jax.hessian(jf))(w)
    h = hessian(f)(w)
    np.testing.assert_allclose(np.asarray(h), want, rtol=1e-9, atol=1e-12)


def test_staged_scan_derivatives_typecheck_and_compile():
    w, xs = f64(), f64(3)
    f = lambda w, xs: d.sum(rnn(w, xs)[1])  # noqa: E731
    typechecks(grad(f, argnums=(0, 1)), w, xs)
    typechecks(lambda w: jvp(lambda w: rnn(w, xs), (w,), (np.float64(1.0),)), w)
    for got, want in zip(jit(grad(f, argnums=(0, 1)))(w, xs), grad(f, argnums=(0, 1))(w, xs)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# map


def test_map_with_consts():
    def f(w, xs):
        return d.map(lambda x: (d.sin(x * w), d.sum(x) * w), xs)

    def jf(w, xs):
        return jax.lax.map(lambda x: (jnp.sin(x * w), jnp.sum(x) * w), xs)

    check(f, f64(3), f64(4, 3), jax_f=jf)


def test_map_pytree_and_int_outputs():
    def f(xs):
        out = d.map(lambda t: {"a": t[0] * t[1], "n": d.asarray(1)}, (xs, xs + 1.0))
        return out["a"]

    check(f, f64(5))


# ----------------------------------------------------------------------------------------------
# cond and switch


@pytest.mark.parametrize("x", [0.0, -2.0, 3.0])
def test_cond_untaken_branch_does_not_leak_nan(x):
    def f(x):
        # log(0) and 1/0 are infinite, and their derivatives too: a select would leak NaN
        return d.cond(x > 0, lambda v: d.log(v) + 1.0 / v, lambda v: v * v * v, x)

    x = np.float64(x)
    want = 1 / x - 1 / x ** 2 if x > 0 else 3 * x * x
    g = grad(f)(x)
    _, t = jvp(f, (x,), (np.float64(1.0),))
    assert np.isfinite(float(g)) and np.isfinite(float(t))
    np.testing.assert_allclose(float(g), want, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(float(t), want, rtol=1e-12, atol=1e-300)
    with jax.enable_x64(True):
        jg = jax.grad(lambda v: jax.lax.cond(v > 0, lambda u: jnp.log(u) + 1.0 / u,
                                             lambda u: u * u * u, v))(x)
    np.testing.assert_allclose(float(g), float(jg), rtol=1e-12)


def test_cond_pytrees_and_constant_branch():
    def f(a, b):
        return d.cond(a[0] > 0, lambda p: {"u": p[0] * p[1], "v": d.sin(p[1])},
                      lambda p: {"u": d.zeros(3, d.float64) + 2.0, "v": p[0][0] + 0.0 * p[1]},
                      (a, b))

    def jf(a, b):
        return jax.lax.cond(a[0] > 0, lambda p: {"u": p[0] * p[1], "v": jnp.sin(p[1])},
                            lambda p: {"u": jnp.zeros(3) + 2.0, "v": p[0][0] + 0.0 * p[1]},
                            (a, b))

    for sign in (1.0, -1.0):
        a = f64(3)
        a[0] = sign * abs(a[0])
        check(f, a, f64(3), jax_f=jf)


@pytest.mark.parametrize("index", [-1, 0, 1, 2, 5])
def test_switch_clamps_and_differentiates_taken_branch(index):
    branches = [lambda x: d.sqrt(x), lambda x: x * x, lambda x: d.log(-x)]
    jbranches = [lambda x: jnp.sqrt(x), lambda x: x * x, lambda x: jnp.log(-x)]
    x = np.array([0.0, 2.0]) if index <= 0 else np.array([-3.0, -0.5])
    i = d.asarray(np.int32(index))
    g = grad(lambda x: d.sum(d.switch(i, branches, x)))(x)
    with jax.enable_x64(True):
        want = jax.grad(lambda x: jnp.sum(jax.lax.switch(index, jbranches, x)))(x)
    if index <= 0:  # sqrt at 0: an infinite derivative in the taken branch is the right answer
        assert np.isinf(np.asarray(g)[0])
        np.testing.assert_allclose(np.asarray(g)[1], np.asarray(want)[1], rtol=1e-12)
    else:
        assert np.all(np.isfinite(np.asarray(g)))
        np.testing.assert_allclose(np.asarray(g), want, rtol=1e-12)


def test_staged_cond_derivative_typechecks_and_compiles():
    f = lambda x: d.cond(x > 0, lambda v: d.log(v), lambda v: v * v, x)  # noqa: E731
    p = typechecks(grad(f), np.float64(1.5))
    assert any(type(e.op).__name__ == "Cond" for e in p.walk())
    assert float(jit(grad(f))(np.float64(0.0))) == 0.0  # no NaN from log'(0) under XLA either
    assert float(jit(grad(f))(np.float64(2.0))) == 0.5


def test_second_derivative_through_cond():
    f = lambda x: d.cond(x > 1, lambda v: v ** 3, lambda v: d.sin(v), x)  # noqa: E731
    for x in (2.0, 0.5):
        want = 6 * x if x > 1 else -np.sin(x)
        np.testing.assert_allclose(float(grad(grad(f))(np.float64(x))), want, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# while_loop and fori_loop


def power_loop(x, y, max_iters=None):
    """Multiply y into the carry while the counter is below 5 (capped by max_iters)."""
    return d.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * y + d.sin(x)),
                        (0, x), max_iters=max_iters)[1]


def power_closed(x, y, n):
    c = x
    for _ in range(n):
        c = c * y + np.sin(x)
    return c


def test_while_loop_forward_mode_without_max_iters():
    x, y = f64(), f64()
    _, t = jvp(power_loop, (x, y), (np.float64(1.0), np.float64(0.0)))
    fd = (power_closed(x + EPS, y, 5) - power_closed(x - EPS, y, 5)) / (2 * EPS)
    np.testing.assert_allclose(float(t), fd, rtol=1e-7)
    _, t = jvp(power_loop, (x, y), (np.float64(0.0), np.float64(1.0)))
    fd = (power_closed(x, y + EPS, 5) - power_closed(x, y - EPS, 5)) / (2 * EPS)
    np.testing.assert_allclose(float(t), fd, rtol=1e-7)


def test_while_loop_reverse_mode_needs_max_iters():
    with pytest.raises(TransformError, match="max_iters") as err:
        grad(power_loop)(f64(), f64())
    assert "fori_loop" in str(err.value) and "scan" in str(err.value)


@pytest.mark.parametrize("max_iters", [0, 3, 5, 9])
def test_while_loop_reverse_mode_with_max_iters(max_iters):
    f = functools.partial(power_loop, max_iters=max_iters)
    x, y = f64(), f64()
    np.testing.assert_allclose(float(f(x, y)), power_closed(x, y, min(max_iters, 5)), rtol=1e-12)

    def jf(x, y):  # the same iterations, counted statically, as a jax fori_loop
        return jax.lax.fori_loop(0, min(max_iters, 5), lambda i, c: c * y + jnp.sin(x), x)

    check(f, x, y, jax_f=jf)


def test_while_loop_data_dependent_stop_with_max_iters():
    def f(x):  # halve the norm until it is below 1; max_iters is a safe cap
        return d.while_loop(lambda v: d.sum(v * v) > 1.0, lambda v: v * 0.5 + d.sin(v) * 0.1,
                            x, max_iters=50)

    x = np.array([3.0, -4.0, 2.0])
    check(f, x)


def test_while_loop_with_captured_consts_in_cond_and_body():
    def f(x, w, limit):
        return d.while_loop(lambda c: c[1] < limit, lambda c: (c[0] * w, c[1] + 1.0),
                            (x, 0.0 * x), max_iters=20)[0]

    x, w, limit = np.float64(1.3), np.float64(0.9), np.float64(3.5)  # four iterations
    np.testing.assert_allclose(float(f(x, w, limit)), x * w ** 4, rtol=1e-12)
    gx, gw, gl = grad(f, argnums=(0, 1, 2))(x, w, limit)
    np.testing.assert_allclose([float(gx), float(gw), float(gl)], [w ** 4, 4 * x * w ** 3, 0.0],
                               rtol=1e-12)
    _, t = jvp(f, (x, w, limit), (np.float64(0.0), np.float64(1.0), np.float64(1.0)))
    np.testing.assert_allclose(float(t), 4 * x * w ** 3, rtol=1e-12)
    h = hessian(lambda v: f(v[0], v[1], limit))(np.array([x, w]))
    want = [[0.0, 4 * w ** 3], [4 * w ** 3, 12 * x * w ** 2]]
    np.testing.assert_allclose(np.asarray(h), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("lo,hi", [(0, 4), (2, 7), (3, 3)])
def test_fori_loop_static_bounds(lo, hi):
    def f(x, w):
        return d.fori_loop(lo, hi, lambda i, c: c * w + d.cos(c) * i, x)

    def jf(x, w):
        return jax.lax.fori_loop(lo, hi, lambda i, c: c * w + jnp.cos(c) * i, x)

    check(f, f64(3), f64(3), jax_f=jf)


# ----------------------------------------------------------------------------------------------
# reduce


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2)])
def test_reduce_add_and_mul(axis):
    x = f64(2, 3, 4)
    check(lambda x: d.reduce(lambda a, b: a + b, x, 0.0, axis=axis), x,
          jax_f=lambda x: jnp.sum(x, axis=axis))
    check(lambda x: d.reduce(lambda a, b: b * a, x, 1.0, axis=axis), x,
          jax_f=lambda x: jnp.prod(x, axis=axis))


@pytest.mark.parametrize("zeros", [[1], [0, 3], [0, 1, 2, 3]])
def test_reduce_mul_with_zeros_in_the_input(zeros):
    x = RNG.uniform(0.5, 2.0, 4)
    x[zeros] = 0.0
    g = grad(lambda x: d.reduce(lambda a, b: a * b, x, 1.0))(x)
    want = [np.prod(np.delete(x, i)) for i in range(4)]
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-12)
    check(lambda x: d.reduce(lambda a, b: a * b, x, 1.0), x, jax_f=jnp.prod)
    # init is an operand too: d/ds (s * prod x) = prod x
    gs = grad(lambda s: d.reduce(lambda a, b: a * b, x, s))(np.float64(3.0))
    np.testing.assert_allclose(float(gs), np.prod(x), rtol=1e-12)


@pytest.mark.parametrize("which", ["max", "min"])
def test_reduce_max_min_split_ties_evenly(which):
    x = np.array([[1.0, 5.0, 5.0, -2.0], [3.0, 3.0, 3.0, 3.0], [-1.0, 0.5, -7.0, -7.0]])
    if which == "min":
        x = -x
    op = d.maximum if which == "max" else d.minimum
    init = -np.inf if which == "max" else np.inf
    for axis in (None, 1, 0):
        g = grad(lambda x: d.sum(d.reduce(op, x, init, axis=axis) * d.arange(1.0, 2.0)))(x)
        with jax.enable_x64(True):
            jfn = jnp.max if which == "max" else jnp.min
            want = jax.grad(lambda x: jnp.sum(jfn(x, axis=axis)))(x)
        np.testing.assert_allclose(np.asarray(g), want, rtol=1e-12)
    check(lambda x: d.reduce(op, x, init, axis=1), f64(3, 4))  # no ties: differentiable


def test_reduce_max_with_init_above_the_elements():
    x = f64(4)
    s = np.float64(10.0)
    gx, gs = grad(lambda x, s: d.reduce(d.maximum, x, s), argnums=(0, 1))(x, s)
    assert float(gs) == 1.0 and np.all(np.asarray(gx) == 0.0)
    gx, gs = grad(lambda x, s: d.reduce(d.maximum, x, s), argnums=(0, 1))(x, np.max(x))
    np.testing.assert_allclose(float(gs), 0.5)  # a tie between init and the largest element


def circle(a, b):
    """Associative and commutative: (1 + a)(1 + b) - 1, identity 0."""
    return a * b + a + b


def matmul2(p, q):
    """2x2 matrix product on four scalars: associative, not commutative."""
    (a, b, c, e), (f, g, h, k) = p, q
    return (a * f + b * h, a * g + b * k, c * f + e * h, c * g + e * k)


def test_reduce_non_monoid_commutative_body():
    x = RNG.uniform(-0.5, 0.5, (3, 4))
    for axis in (None, 0, 1):
        check(lambda x: d.reduce(circle, x, 0.0, axis=axis), x)
    g = grad(lambda x: d.reduce(circle, x, 0.0))(x)
    y = 1 + x
    np.testing.assert_allclose(np.asarray(g), np.prod(y) / y, rtol=1e-12)


def test_reduce_non_commutative_pytree_body():
    ms = tuple(RNG.uniform(-1, 1, (2, 5)) for _ in range(4))
    eye = (1.0, 0.0, 0.0, 1.0)

    def f(a, b, c, e):
        return d.reduce(matmul2, (a, b, c, e), eye, axis=1)

    def jf(a, b, c, e):
        return functools.reduce(matmul2, [(a[:, i], b[:, i], c[:, i], e[:, i])
                                          for i in range(5)])

    check(f, *ms, jax_f=jf)


def test_reduce_with_integer_operands():
    def argmax_op(a, b):  # (value, index): the larger value, the smaller index on ties
        (va, ia), (vb, ib) = a, b
        take_a = (va > vb) | ((va == vb) & (ia < ib))
        return d.where(take_a, va, vb), d.where(take_a, ia, ib)

    x = np.array([[0.3, 2.0, -1.0, 2.0], [1.0, -3.0, 0.5, 0.25]])
    idx = d.broadcast_to(d.arange(4), (2, 4))
    f = lambda x: d.reduce(argmax_op, (x, idx), (-np.inf, 2 ** 31 - 1), axis=1)[0]  # noqa: E731
    g = grad(lambda x: d.sum(f(x) * d.asarray([1.0, 2.0])))(x)
    np.testing.assert_allclose(np.asarray(g), [[0, 1, 0, 0], [2, 0, 0, 0]])
    check(f, f64(2, 4))


def test_reduce_body_with_captured_consts():
    def f(x, w):  # a + b + w a b is associative (identity 0): a conjugate of multiplication
        return d.reduce(lambda a, b: a + b + w * a * b, x, 0.0)

    def closed(x, w):
        return (np.prod(1 + w * x) - 1) / w

    x, w = RNG.uniform(-0.5, 0.5, 5), np.float64(0.7)
    np.testing.assert_allclose(float(f(x, w)), closed(x, w), rtol=1e-12)
    check(f, x, w)
    gw = grad(f, argnums=1)(x, w)
    fd = (closed(x, w + EPS) - closed(x, w - EPS)) / (2 * EPS)
    np.testing.assert_allclose(float(gw), fd, rtol=1e-7)


def test_grad_of_grad_through_reduce():
    x = RNG.uniform(0.5, 1.5, 4)
    h = hessian(lambda x: d.reduce(circle, x, 0.0))(x)
    y = 1 + x
    want = np.prod(y) / np.outer(y, y)
    np.fill_diagonal(want, 0.0)
    np.testing.assert_allclose(np.asarray(h), want, rtol=1e-10, atol=1e-12)
    h = hessian(lambda x: d.reduce(lambda a, b: a * b, x, 1.0))(x)
    np.testing.assert_allclose(np.asarray(h), _prod_hessian(x), rtol=1e-10, atol=1e-12)


def _prod_hessian(x):
    n = len(x)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                out[i, j] = np.prod(np.delete(x, [i, j]))
    return out


# ----------------------------------------------------------------------------------------------
# associative_scan


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1])
def test_associative_scan_matches_jax(reverse, axis):
    x = RNG.uniform(-0.5, 0.5, (4, 5))
    for op, jop in ((lambda a, b: a + b, jnp.add), (circle, circle),
                    (lambda a, b: a * b, jnp.multiply)):
        check(lambda x: d.associative_scan(op, x, reverse=reverse, axis=axis), x,
              jax_f=lambda x: jax.lax.associative_scan(jop, x, reverse=reverse, axis=axis))


@pytest.mark.parametrize("reverse", [False, True])
def test_associative_scan_non_commutative_pytree(reverse):
    ms = tuple(RNG.uniform(-1, 1, (6,)) for _ in range(4))
    check(lambda *m: d.associative_scan(matmul2, m, reverse=reverse), *ms,
          jax_f=lambda *m: jax.lax.associative_scan(matmul2, m, reverse=reverse))


def test_associative_scan_grad_of_grad_and_edges():
    x = RNG.uniform(-0.5, 0.5, 4)

    def f(x):
        return d.sum(d.associative_scan(circle, x) ** 2)

    def jf(x):
        return jnp.sum(jax.lax.associative_scan(circle, x) ** 2)

    with jax.enable_x64(True):
        want = jax.jit(jax.hessian(jf))(x)
    np.testing.assert_allclose(np.asarray(hessian(f)(x)), want, rtol=1e-10, atol=1e-12)
    one = np.array([0.3])
    np.testing.assert_allclose(np.asarray(grad(lambda x: d.sum(d.associative_scan(circle, x)))
                                          (one)), [1.0])
    empty = np.zeros((0, 3))
    assert np.asarray(grad(lambda x: d.sum(d.associative_scan(circle, x)))(empty)).shape == (0, 3)


# ----------------------------------------------------------------------------------------------
# compiled derivatives


COMPILED = {
    "while": lambda x: d.sum(d.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * x),
                                          (0, x), max_iters=5)[1]),
    "reduce": lambda x: d.reduce(circle, x, 0.0),
    "mul": lambda x: d.reduce(lambda a, b: a * b, x, 1.0),
    "max": lambda x: d.reduce(d.maximum, x, -np.inf),
    "ascan": lambda x: d.sum(d.associative_scan(circle, x, reverse=True)),
    "map": lambda x: d.sum(d.map(lambda v: d.sin(v) * x[0], x)),
}


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_jit_of_derivatives_matches_eager(name):
    f, x = COMPILED[name], np.array([0.3, -0.2, 0.4, 0.1])
    np.testing.assert_allclose(np.asarray(jit(grad(f))(x)), np.asarray(grad(f)(x)), rtol=1e-12)
    tangent = lambda x: jvp(f, (x,), (x,))[1]  # noqa: E731
    np.testing.assert_allclose(np.asarray(jit(tangent)(x)), np.asarray(tangent(x)), rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# random programs


CONTROL_OPS = (d.ops.Map, d.ops.Scan, d.ops.Reduce, d.ops.AssociativeScan, d.ops.Cond,
               d.ops.WhileLoop)


@st.composite
def control_cases(draw):
    program = draw(programs(max_eqns=6, max_depth=2, dtype=st.just(np.dtype(np.float64))))
    return program, [draw(arrays(t)) for t in program.in_types]


@seed(11)
@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(control_cases())
def test_random_programs_with_combinators_obey_the_dot_product_law(case):
    program, args = case
    eqns = list(program.walk())
    if not any(isinstance(e.op, CONTROL_OPS) for e in eqns):
        return
    kinds = {v.type.dtype for e in eqns for v in e.outputs}
    if any(k.kind == "c" for k in kinds):
        return  # complex outputs of real inputs: the law there is the elementwise rules' business
    if any(k.kind == "f" and k != np.float64 for k in kinds) or any(
            k.kind == "V" for k in kinds):
        return  # the law is checked at float64 precision
    f = lambda *xs: inline(program, list(xs))  # noqa: E731
    outs = f(*(d.asarray(a) for a in args))
    if not all(np.all(np.isfinite(np.asarray(o))) for o in outs if np.asarray(o).dtype.kind == "f"):
        return
    unbounded = any(isinstance(e.op, d.ops.WhileLoop) and e.op.max_iters is None for e in eqns)
    if unbounded and any(np.asarray(a).dtype.kind == "f" for a in args):
        try:
            check_dot_product(f, args)
        except TransformError as e:
            assert "max_iters" in str(e)
        return
    check_dot_product(f, args)
