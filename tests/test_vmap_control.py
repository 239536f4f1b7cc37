"""Batching rules of the control-flow primitives (interpreters/vectorize/control.py).

Every combinator is checked through the public API against the vmap law (`vmap(f)(xs)` equals
stacking `f` over the examples, computed with the eager interpreter), with batch axes in several
positions and unbatched arguments, against `jax.vmap` where JAX has the same function, under
nested vmap, staged (`d.stage` + `d.typecheck`), under `jit`, and under `grad`.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dsl as d
from dsl import lax
from dsl import ops as P
from dsl.core import bind
from interpreters import checkpoint, custom_jvp, custom_vjp, grad, jit
from interpreters.vectorize import BATCH_RULES, load_rules
from interpreters.vectorize.api import vmap

load_rules()


def _temporary_rules() -> None:
    """Minimal rules for the few elementwise/structural primitives these tests need, used only
    where the real ones (written in parallel) have not landed yet."""
    from interpreters.vectorize import bdim_to_front

    def elementwise(op, values, dims, size):  # noqa: ANN001, ANN202
        fronts = [x if e is None else bdim_to_front(x, e, size) for x, e in zip(values, dims)]
        example = max((tuple(x.shape[1:]) if e is not None else tuple(x.shape)
                       for x, e in zip(fronts, dims)), key=len)
        full = (size,) + example

        def widen(x, e):  # noqa: ANN001, ANN202
            if e is None and x.ndim == 0:
                return x  # rank-0 operands broadcast by themselves
            if e is not None and x.ndim == 1:
                return lax.broadcast_in_dim(x, full, (0,))  # one scalar per example
            return lax.broadcast_in_dim(x, full, tuple(range(len(full) - x.ndim, len(full))))

        outs = [widen(x, e) for x, e in zip(fronts, dims)]
        return [bind(op, *outs)], [0]

    for cls in (P.Add, P.Sub, P.Mul, P.Div, P.Max, P.Min, P.Lt, P.Gt, P.Ge, P.Le, P.Eq, P.Ne,
                P.Select):
        BATCH_RULES.setdefault(cls, elementwise)
    for cls in (P.Sin, P.Cos, P.Exp, P.Neg, P.Tanh, P.Convert):
        BATCH_RULES.setdefault(cls, lambda op, v, ds, n: ([bind(op, v[0])], ds))


_temporary_rules()

RNG = np.random.default_rng(0)


def _f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _take(x: np.ndarray, axis: int | None, i: int) -> np.ndarray:
    return x if axis is None else np.take(x, i, axis=axis)


def _loop(f, in_axes, *args):  # noqa: ANN001, ANN202
    """The reference: `f` per example (eagerly), stacked on axis 0 (pytrees of arrays)."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    rows = [f(*(_take(a, ax, i) for a, ax in zip(args, in_axes))) for i in range(size)]
    leaves = [d.pytree.tree_leaves(r) for r in rows]
    return [np.stack([np.asarray(r[k]) for r in leaves]) for k in range(len(leaves[0]))]


def _check(f, in_axes, *args, rtol: float = 1e-5, atol: float = 1e-6):  # noqa: ANN001, ANN202
    """The vmap law, the staged program's typecheck, and the jit'd result."""
    want = _loop(f, in_axes, *args)
    got = d.pytree.tree_leaves(vmap(f, in_axes=in_axes)(*args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.asarray(g).shape == w.shape
        assert np.asarray(g).dtype == w.dtype
        np.testing.assert_allclose(np.asarray(g), w, rtol=rtol, atol=atol)
    d.typecheck(d.stage(vmap(f, in_axes=in_axes))(*args))
    return got


# ----------------------------------------------------------------------------------------------
# map


@pytest.mark.parametrize("in_axes", [(0, None), (1, None), (2, 0), (-1, 0), (None, 0)])
def test_map(in_axes: tuple) -> None:
    xs = _f32(4, 3, 5) if in_axes[0] is not None else _f32(3, 5)
    if in_axes[0] == 1:
        xs = _f32(3, 4, 5)
    if in_axes[0] in (2, -1):
        xs = _f32(3, 5, 4)
    s = _f32(4) if in_axes[1] == 0 else np.float32(1.5)

    def f(xs, s):  # noqa: ANN001, ANN202
        return d.map(lambda row: (d.sin(row) * s, d.sum(row)), xs)

    _check(f, in_axes, xs, s)


def test_map_jax_oracle() -> None:
    xs = _f32(5, 3, 4)
    got = vmap(lambda x: d.map(lambda r: d.exp(r) - r, x), in_axes=2)(xs)
    want = jax.vmap(lambda x: jax.lax.map(lambda r: jnp.exp(r) - r, x), in_axes=2)(xs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# scan


def _rnn(w, c0, xs):  # noqa: ANN001, ANN202
    def step(c, x):  # noqa: ANN001, ANN202
        h = d.tanh(c * w + x)
        return h, h * 2.0

    return d.scan(step, c0, xs)


@pytest.mark.parametrize("in_axes", [(None, None, 0), (None, 0, None), (0, None, None),
                                     (0, 0, 1), (None, None, 1), (None, None, -1)])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan(in_axes: tuple, reverse: bool) -> None:
    b, n = 4, 6
    w = _f32(b, 3) if in_axes[0] == 0 else _f32(3)
    c0 = _f32(b, 3) if in_axes[1] == 0 else _f32(3)
    xs = {0: _f32(b, n, 3), 1: _f32(n, b, 3), -1: _f32(n, 3, b), None: _f32(n, 3)}[in_axes[2]]

    def f(w, c0, xs):  # noqa: ANN001, ANN202
        def step(c, x):  # noqa: ANN001, ANN202
            h = d.tanh(c * w + x)
            return h, (h * 2.0, d.sum(x))

        return d.scan(step, c0, xs, reverse=reverse)

    _check(f, in_axes, w, c0, xs)


def test_scan_carry_batched_after_a_step() -> None:
    # the carry starts unbatched (a constant) and becomes batched through xs: fixpoint
    def f(xs):  # noqa: ANN001, ANN202
        def step(c, x):  # noqa: ANN001, ANN202
            a, k = c
            return (a + x, k + 1), a * 0.5

        return d.scan(step, (d.zeros(()), d.asarray(0)), xs)

    got = _check(f, (0,), _f32(5, 7))
    np.testing.assert_array_equal(np.asarray(got[1]), np.full(5, 7, np.int32))
    prog = d.stage(vmap(f))(_f32(5, 7))
    (eqn,) = [e for e in prog.eqns if isinstance(e.op, P.Scan)]
    assert eqn.outputs[0].type.shape == (5,)
    assert eqn.outputs[1].type.shape == ()  # the counter stays unbatched


def test_scan_jax_oracle_and_nested() -> None:
    w, c0, xs = _f32(3), _f32(4, 3), _f32(6, 4, 3)
    got = vmap(_rnn, in_axes=(None, 0, 1))(w, c0, xs)

    def jrnn(w, c0, xs):  # noqa: ANN001, ANN202
        def step(c, x):  # noqa: ANN001, ANN202
            h = jnp.tanh(c * w + x)
            return h, h * 2.0
        return jax.lax.scan(step, c0, xs)

    want = jax.vmap(jrnn, in_axes=(None, 0, 1))(w, c0, xs)
    for g, e in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-6)
    # nested vmap == vmap over the flattened batch
    c2, x2 = _f32(2, 3, 3), _f32(2, 3, 6, 3)
    nested = vmap(vmap(_rnn, in_axes=(None, 0, 0)), in_axes=(None, 0, 0))(w, c2, x2)
    flat = vmap(_rnn, in_axes=(None, 0, 0))(w, c2.reshape(6, 3), x2.reshape(6, 6, 3))
    for g, e in zip(nested, flat):
        np.testing.assert_allclose(np.asarray(g).reshape(np.shape(e)), np.asarray(e),
                                   rtol=1e-5, atol=1e-6)


def test_scan_jit_and_grad() -> None:
    w, c0, xs = _f32(3), _f32(4, 3), _f32(4, 6, 3)
    f = vmap(_rnn, in_axes=(None, 0, 0))
    eager = f(w, c0, xs)
    for g, e in zip(jit(f)(w, c0, xs), eager):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-6)

    def loss(w, c0, xs):  # noqa: ANN001, ANN202
        c, ys = _rnn(w, c0, xs)
        return d.sum(c * c) + d.sum(ys)

    per_ex = vmap(grad(loss, argnums=(0, 1)), in_axes=(None, 0, 0))(w, c0, xs)
    for i in range(4):
        gw, gc = grad(loss, argnums=(0, 1))(w, c0[i], xs[i])
        np.testing.assert_allclose(np.asarray(per_ex[0][i]), np.asarray(gw), rtol=1e-4,
                                   atol=1e-5)
        np.testing.assert_allclose(np.asarray(per_ex[1][i]), np.asarray(gc), rtol=1e-4,
                                   atol=1e-5)
    jw = jax.vmap(jax.grad(lambda w, c0, xs: _jloss(w, c0, xs)), in_axes=(None, 0, 0))(
        w, c0, xs)
    np.testing.assert_allclose(np.asarray(per_ex[0]), np.asarray(jw), rtol=1e-4, atol=1e-5)
    jitted = jit(vmap(grad(loss), in_axes=(None, 0, 0)))(w, c0, xs)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(per_ex[0]), rtol=1e-4, atol=1e-5)


def _jloss(w, c0, xs):  # noqa: ANN001, ANN202
    def step(c, x):  # noqa: ANN001, ANN202
        h = jnp.tanh(c * w + x)
        return h, h * 2.0
    c, ys = jax.lax.scan(step, c0, xs)
    return jnp.sum(c * c) + jnp.sum(ys)


def test_fori_loop() -> None:
    def f(x, n):  # noqa: ANN001, ANN202
        return d.fori_loop(0, 5, lambda i, c: c * x + i.astype(d.float32), n)

    _check(f, (0, None), _f32(6), np.float32(0.5))
    _check(f, (None, 0), np.float32(0.9), _f32(6))

    # symbolic bounds become a while loop whose trip count is per example
    def g(hi, x):  # noqa: ANN001, ANN202
        return d.fori_loop(0, hi, lambda i, c: c + x * i.astype(d.float32), d.zeros(()))

    _check(g, (0, None), np.array([0, 3, 1, 5], np.int32), np.float32(1.5))


# ----------------------------------------------------------------------------------------------
# cond / switch


@pytest.mark.parametrize("in_axes", [(None, 0, None), (None, None, 0), (None, 1, 0),
                                     (0, 0, None), (0, None, None), (0, 1, 0)])
def test_cond(in_axes: tuple) -> None:
    b = 6
    p = np.array([True, False, True, True, False, False]) if in_axes[0] == 0 else np.bool_(True)
    x = {0: _f32(b, 3), 1: _f32(3, b), None: _f32(3)}[in_axes[1]]
    y = _f32(b) if in_axes[2] == 0 else np.float32(2.0)

    def f(p, x, y):  # noqa: ANN001, ANN202
        # the false branch ignores x, so its output is unbatched when only x is batched
        return d.cond(p, lambda x, y: (d.sin(x) * y, y + 1.0),
                      lambda x, y: (d.zeros(3) + y, d.asarray(1.0, dtype=d.float32)), x, y)

    _check(f, in_axes, p, x, y)


def test_cond_batched_pred_jax_oracle() -> None:
    p, x = np.array([1.0, -1.0, 2.0, -3.0], np.float32), _f32(4, 2)
    got = vmap(lambda p, x: d.cond(p > 0, lambda x: d.exp(x), lambda x: -x, x))(p, x)
    want = jax.vmap(lambda p, x: jax.lax.cond(p > 0, jnp.exp, lambda x: -x, x))(p, x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    prog = d.stage(vmap(lambda p, x: d.cond(p > 0, d.exp, lambda x: -x, x)))(p, x)
    assert not any(isinstance(e.op, P.Cond) for e in prog.eqns)  # a select, not a cond
    np.testing.assert_allclose(
        np.asarray(jit(vmap(lambda p, x: d.cond(p > 0, d.exp, lambda x: -x, x)))(p, x)),
        np.asarray(want), rtol=1e-6)


@pytest.mark.parametrize("batched_index", [True, False])
def test_switch(batched_index: bool) -> None:
    idx = np.array([0, 2, 1, 7, -3], np.int32) if batched_index else np.int32(1)
    x = _f32(5, 2)
    branches = [lambda x: x * 2.0, lambda x: d.sin(x), lambda x: x - 10.0]

    def f(i, x):  # noqa: ANN001, ANN202
        return d.switch(i, branches, x)

    _check(f, (0 if batched_index else None, 0), idx, x)
    jb = [lambda x: x * 2.0, jnp.sin, lambda x: x - 10.0]
    want = jax.vmap(lambda i, x: jax.lax.switch(i, jb, x),
                    in_axes=(0 if batched_index else None, 0))(idx, x)
    np.testing.assert_allclose(np.asarray(vmap(f, in_axes=(0 if batched_index else None, 0))(
        idx, x)), np.asarray(want), rtol=1e-6)


def test_cond_nested_vmap() -> None:
    p = np.array([[True, False, True], [False, False, True]])
    x = _f32(2, 3, 4)

    def f(p, x):  # noqa: ANN001, ANN202
        return d.cond(p, lambda x: d.sum(x * x), lambda x: d.max(x), x)

    nested = vmap(vmap(f))(p, x)
    flat = vmap(f)(p.reshape(6), x.reshape(6, 4))
    np.testing.assert_allclose(np.asarray(nested).reshape(6), np.asarray(flat), rtol=1e-6)
    _check(f, (0, 0), p[0], x[0])


# ----------------------------------------------------------------------------------------------
# while_loop


def _collatz_steps(n):  # noqa: ANN001, ANN202
    def cond(c):  # noqa: ANN001, ANN202
        return c[0] != 1

    def body(c):  # noqa: ANN001, ANN202
        k, steps = c
        return d.where(k % 2 == 0, k // 2, 3 * k + 1), steps + 1

    return d.while_loop(cond, body, (n, d.asarray(0)))


def test_while_batched_predicate_lanes_finish_apart() -> None:
    n = np.array([1, 2, 3, 6, 7, 27], np.int32)
    got = _check(_collatz_steps, (0,), n)
    np.testing.assert_array_equal(np.asarray(got[1]), [0, 1, 7, 8, 16, 111])
    np.testing.assert_array_equal(np.asarray(got[0]), np.ones(6, np.int32))

    def jcollatz(n):  # noqa: ANN001, ANN202
        return jax.lax.while_loop(
            lambda c: c[0] != 1,
            lambda c: (jnp.where(c[0] % 2 == 0, c[0] // 2, 3 * c[0] + 1), c[1] + 1),
            (n, jnp.int32(0)))

    want = jax.vmap(jcollatz)(n)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
    jitted = jit(vmap(_collatz_steps))(n)
    np.testing.assert_array_equal(np.asarray(jitted[1]), [0, 1, 7, 8, 16, 111])


def test_while_grad_composes() -> None:
    # vmap(grad) == per-example grad, and grad(vmap) == the same, through a while loop whose
    # lanes stop at different steps (reverse mode needs max_iters)
    def f(x, limit):  # noqa: ANN001, ANN202
        return d.while_loop(lambda c: c[0] < limit,
                            lambda c: (c[0] + 1, d.sin(c[1]) * x), (d.asarray(0), x),
                            max_iters=6)[1]

    xs = np.array([0.5, 1.0, 1.5, 2.0], np.float32)
    lim = np.array([0, 2, 4, 9], np.int32)
    want = np.array([np.asarray(grad(f)(xs[i], lim[i])) for i in range(4)])
    np.testing.assert_allclose(np.asarray(vmap(grad(f))(xs, lim)), want, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad(lambda x: d.sum(vmap(f)(x, lim)))(xs)), want,
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(jit(vmap(grad(f)))(xs, lim)), want, rtol=1e-5)


def test_cond_batched_pred_grad() -> None:
    def f(x):  # noqa: ANN001, ANN202
        return d.cond(x > 0, lambda x: x * x * x, lambda x: d.sin(x), x)

    xs = np.array([-1.0, 0.5, 2.0, -0.25], np.float32)
    want = np.where(xs > 0, 3 * xs * xs, np.cos(xs))
    np.testing.assert_allclose(np.asarray(vmap(grad(f))(xs)), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grad(lambda x: d.sum(vmap(f)(x)))(xs)), want,
                               rtol=1e-6)


@pytest.mark.parametrize("max_iters", [0, 3, 10, 200])
def test_while_max_iters(max_iters: int) -> None:
    def f(limit, x):  # noqa: ANN001, ANN202
        return d.while_loop(lambda c: c[0] < limit, lambda c: (c[0] + 1, c[1] * x),
                            (d.asarray(0), d.ones(())), max_iters=max_iters)

    limits = np.array([0, 2, 5, 50], np.int32)
    got = _check(f, (0, None), limits, np.float32(1.1))
    np.testing.assert_array_equal(np.asarray(got[0]), np.minimum(limits, max_iters))
    _check(f, (0, 0), limits, np.array([1.0, 0.5, 1.01, 1.02], np.float32), rtol=1e-4)


def test_while_unbatched_predicate_stays_a_loop() -> None:
    def f(x):  # noqa: ANN001, ANN202
        return d.while_loop(lambda c: c[0] < 4, lambda c: (c[0] + 1, d.sin(c[1]) + 1.0),
                            (d.asarray(0), x))

    _check(f, (0,), _f32(5, 2))
    prog = d.stage(vmap(f))(_f32(5, 2))
    (eqn,) = [e for e in prog.eqns if isinstance(e.op, P.WhileLoop)]
    assert eqn.outputs[0].type.shape == ()  # the counter, hence the predicate, is unbatched
    assert not any(isinstance(e.op, P.Select) for e in eqn.op.body.eqns)


def test_while_pred_batched_through_consts_and_nested() -> None:
    def f(tol, x):  # noqa: ANN001, ANN202
        return d.while_loop(lambda c: d.abs(c * c - x) > tol,
                            lambda c: 0.5 * (c + x / c), d.asarray(1.0, dtype=d.float32))

    xs = np.array([[1.0, 2.0, 9.0], [100.0, 0.25, 3.0]], np.float32)
    got = vmap(vmap(f, in_axes=(None, 0)), in_axes=(None, 0))(np.float32(1e-4), xs)
    np.testing.assert_allclose(np.asarray(got), np.sqrt(xs), rtol=1e-4)
    _check(f, (0, 0), np.array([1e-1, 1e-3, 1e-5], np.float32), xs[0])


# ----------------------------------------------------------------------------------------------
# reduce and associative_scan


@pytest.mark.parametrize("axis", [0, 1, (0, 1), None])
@pytest.mark.parametrize("in_axis", [0, 1, 2])
def test_reduce(axis: object, in_axis: int) -> None:
    shape = [3, 4]
    shape.insert(in_axis, 5)
    x = _f32(*shape)

    def f(x):  # noqa: ANN001, ANN202
        return d.reduce(lambda a, b: d.maximum(a, b), x, -np.inf, axis=axis)

    _check(f, (in_axis,), x)


def test_reduce_pair_and_unbatched_operand() -> None:
    def f(x, y):  # noqa: ANN001, ANN202
        return d.reduce(lambda a, b: (a[0] + b[0], a[1] * b[1]), (x, y), (0.0, 1.0), axis=1)

    _check(f, (0, None), _f32(4, 3, 5), _f32(3, 5))
    _check(f, (None, 2), _f32(3, 5), _f32(3, 5, 4), rtol=1e-4)


def test_reduce_batched_init_and_const() -> None:
    # a per-example init (not an identity: the semantics folds it in once) and a per-example
    # const captured by the combining function fall back to a map over the batch
    def f(x, i0):  # noqa: ANN001, ANN202
        return d.reduce(lambda a, b: a + b, x, i0, axis=0)

    _check(f, (0, 0), _f32(4, 6), _f32(4))

    def g(x, s):  # noqa: ANN001, ANN202
        return d.reduce(lambda a, b: d.maximum(a, b * s), x, -np.inf, axis=0)

    _check(g, (0, 0), _f32(4, 6), np.abs(_f32(4)) + 1)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("reverse", [False, True])
def test_associative_scan(axis: int, reverse: bool) -> None:
    x = _f32(4, 5, 3)

    def f(x):  # noqa: ANN001, ANN202
        return d.associative_scan(lambda a, b: a + b, x, reverse=reverse, axis=axis)

    _check(f, (1,), x)
    # (jax's reverse associative_scan rejects a negative axis, hence `axis % 2` there)
    want = jax.vmap(lambda x: jax.lax.associative_scan(jnp.add, x, reverse=reverse, axis=axis % 2),
                    in_axes=1)(x)
    np.testing.assert_allclose(np.asarray(vmap(f, in_axes=1)(x)), np.asarray(want), rtol=1e-5,
                               atol=1e-6)


def test_associative_scan_pair_and_batched_const() -> None:
    # affine maps compose associatively: (a1, b1) then (a2, b2) is (a1 a2, a2 b1 + b2)
    def f(a, b):  # noqa: ANN001, ANN202
        return d.associative_scan(lambda p, q: (p[0] * q[0], q[0] * p[1] + q[1]), (a, b))

    _check(f, (0, None), _f32(3, 6), _f32(6), rtol=1e-4)

    def g(x, s):  # noqa: ANN001, ANN202
        return d.associative_scan(lambda p, q: d.maximum(p, q) * s, x)

    _check(g, (None, 0), _f32(6), np.ones(3, np.float32))


@given(st.integers(0, 4), st.integers(1, 5), st.booleans())
def test_scan_sizes_property(size: int, n: int, reverse: bool) -> None:
    # includes empty batches
    xs = RNG.standard_normal((size, n, 2)).astype(np.float32)
    out = vmap(lambda xs: d.scan(lambda c, x: (c + x, c * x), d.zeros(2), xs,
                                 reverse=reverse))(xs)
    order = xs[:, ::-1] if reverse else xs
    cum = np.cumsum(order, axis=1)
    prev = np.concatenate([np.zeros((size, 1, 2), np.float32), cum[:, :-1]], axis=1)
    ys = prev * order
    if reverse:
        ys = ys[:, ::-1]
    np.testing.assert_allclose(np.asarray(out[0]), cum[:, -1] if size else np.zeros((0, 2)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out[1]), ys, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# custom rules, checkpoint, barrier


def test_custom_jvp_under_vmap() -> None:
    @custom_jvp
    def soft(x, y):  # noqa: ANN001, ANN202
        return d.log(d.exp(x) + d.exp(y))

    @soft.defjvp
    def _(primals, tangents):  # noqa: ANN001, ANN202
        x, y = primals
        tx, ty = tangents
        out = soft(x, y)
        return out, tx * d.exp(x - out) + ty * d.exp(y - out)

    x, y = _f32(5, 3), _f32(3)
    _check(soft, (0, None), x, y)
    prog = d.stage(vmap(soft, in_axes=(0, None)))(x, y)
    assert any(isinstance(e.op, P.CustomJvpCall) for e in prog.eqns)  # the rule survives
    per_ex = vmap(grad(lambda x, y: d.sum(soft(x, y)), argnums=(0, 1)), in_axes=(0, None))(x, y)
    for i in range(5):
        gx, gy = grad(lambda x, y: d.sum(soft(x, y)), argnums=(0, 1))(x[i], y)
        np.testing.assert_allclose(np.asarray(per_ex[0][i]), np.asarray(gx), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(per_ex[1][i]), np.asarray(gy), rtol=1e-5)


def test_custom_vjp_under_vmap() -> None:
    @custom_vjp
    def clip_grad(x, w):  # noqa: ANN001, ANN202
        return x * w

    def fwd(x, w):  # noqa: ANN001, ANN202
        return x * w, (x, w)

    def bwd(res, g):  # noqa: ANN001, ANN202
        x, w = res
        return d.clip(g * w, -1.0, 1.0), 2.0 * g * x  # deliberately not the true gradient

    clip_grad.defvjp(fwd, bwd)
    x, w = _f32(4, 3) * 3, _f32(3)

    def loss(x, w):  # noqa: ANN001, ANN202
        return d.sum(clip_grad(x, w) * 5.0)

    _check(clip_grad, (0, None), x, w)
    prog = d.stage(vmap(clip_grad, in_axes=(0, None)))(x, w)
    assert any(isinstance(e.op, P.CustomVjpCall) for e in prog.eqns)
    per_ex = vmap(grad(loss, argnums=(0, 1)), in_axes=(0, None))(x, w)
    np.testing.assert_allclose(np.asarray(per_ex[1]), 10.0 * x, rtol=1e-6)  # the user's rule
    for i in range(4):
        gx, gw = grad(loss, argnums=(0, 1))(x[i], w)
        np.testing.assert_allclose(np.asarray(per_ex[0][i]), np.asarray(gx), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(per_ex[1][i]), np.asarray(gw), rtol=1e-6)
    # grad of a batched program through the batched rule: the shared w sums over the batch
    gw_total = grad(lambda w: d.sum(vmap(clip_grad, in_axes=(0, None))(x, w) * 5.0))(w)
    np.testing.assert_allclose(np.asarray(gw_total), np.asarray(per_ex[1]).sum(0), rtol=1e-5)


def test_checkpoint_and_barrier() -> None:
    def f(x, y):  # noqa: ANN001, ANN202
        return checkpoint(lambda x, y: d.sin(x) * y)(x, y)

    _check(f, (0, None), _f32(4, 3), _f32(3))
    prog = d.stage(vmap(f, in_axes=(0, None)))(_f32(4, 3), _f32(3))
    assert any(isinstance(e.op, P.Checkpoint) for e in prog.eqns)
    x, y = _f32(4, 3), _f32(3)
    per_ex = vmap(grad(lambda x, y: d.sum(f(x, y))), in_axes=(0, None))(x, y)
    np.testing.assert_allclose(np.asarray(per_ex), np.cos(x) * y, rtol=1e-5)

    x, y = _f32(3, 4), _f32(4)
    outs, dims = BATCH_RULES[P.OptimizationBarrier](P.OptimizationBarrier(),
                                                     [d.asarray(x), d.asarray(y)], [1, None], 4)
    assert dims == [1, None]
    np.testing.assert_array_equal(np.asarray(outs[0]), x)


def test_no_loop_fallback() -> None:
    # every control rule is a real rule: no per-example loop warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        vmap(_collatz_steps)(np.array([3, 4], np.int32))
        vmap(lambda x: d.reduce(lambda a, b: a + b, x, 0.0))(_f32(2, 3))
        vmap(lambda i, x: d.switch(i, [d.sin, d.cos], x))(np.array([0, 1], np.int32), _f32(2))


# ----------------------------------------------------------------------------------------------
# random well-typed programs


def test_vmap_law_on_random_programs_with_control_flow() -> None:
    """The vmap law on generated programs that contain a combinator: even inputs batched (at
    varying axes, the examples being rolled copies of the drawn argument), odd ones shared."""
    from dsl.array import Array
    from dsl.core import inline
    from dsl.ops.control import CONTROL
    from interpreters.evaluate import eval_program
    from interpreters.laws import assert_close, check_random_programs

    checked = [0]

    def law(program, args):  # noqa: ANN001, ANN202
        if not any(type(e.op) in CONTROL for e in program.walk()):
            return
        checked[0] += 1
        size, batched, axes = 3, [], []
        for i, (a, t) in enumerate(zip(args, program.in_types)):
            a = np.asarray(a, t.dtype)
            if i % 2:
                batched.append(a)
                axes.append(None)
                continue
            ax = (i // 2) % (a.ndim + 1)
            rows = [np.roll(a.reshape(-1), k).reshape(a.shape) for k in range(size)]
            batched.append(np.stack(rows, axis=ax))
            axes.append(ax)
        got = vmap(lambda *xs: inline(program, list(xs)), in_axes=tuple(axes))(
            *(Array(b, t.weak) for b, t in zip(batched, program.in_types)))
        for k in range(size):
            want = eval_program(program, [b if ax is None else np.asarray(np.take(b, k, axis=ax))
                                          for b, ax in zip(batched, axes)])
            for g, w in zip(got, want):
                assert_close(np.asarray(g)[k], w, f"example {k} (vmap vs loop)")

    check_random_programs(law, examples=250, max_eqns=8, max_depth=2, seed=3)
    assert checked[0] >= 20
