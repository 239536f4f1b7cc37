"""vmap's API: axes (ints, negative, None, pytree prefixes), out_axes, nesting, composition with
jit and grad, the seed's examples, bad input, and the vmap law over random programs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dsl as d
from interpreters import grad, jit, laws, vmap


def l1_distance(x: Any, y: Any) -> Any:
    assert x.ndim == y.ndim == 1  # only works on 1D inputs
    return d.sum(d.abs(x - y))


def test_seed_pairwise_distances() -> None:
    xs = d.random.normal(d.random.key(0), (100, 3))
    dists = vmap(vmap(l1_distance, (0, None)), (None, 0))(xs, xs)
    assert dists.shape == (100, 100)
    x = np.asarray(xs)
    np.testing.assert_allclose(np.asarray(dists), np.abs(x[None, :] - x[:, None]).sum(-1),
                               rtol=1e-6)


def test_per_example_gradients_match_a_loop() -> None:
    def loss(w: Any, x: Any, y: Any) -> Any:
        return d.sum((d.tanh(d.dot(x, w)) - y) ** 2)

    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 2)).astype(np.float32)
    xs = rng.normal(size=(6, 4)).astype(np.float32)
    ys = rng.normal(size=(6, 2)).astype(np.float32)
    per = jit(vmap(grad(loss), in_axes=(None, 0, 0)))(w, xs, ys)
    assert per.shape == (6, 4, 2)
    for i in range(6):
        np.testing.assert_allclose(np.asarray(per)[i], np.asarray(grad(loss)(w, xs[i], ys[i])),
                                   rtol=1e-5, atol=1e-6)


def test_axes_prefixes_and_out_axes() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = vmap(lambda p: p["a"] * p["b"], in_axes=({"a": 1, "b": None},))({"a": x, "b": 2.0})
    np.testing.assert_array_equal(np.asarray(out), (x * 2).T)
    out = vmap(lambda v: (v * 2, d.sum(v)), in_axes=-1, out_axes=(1, 0))(x)
    np.testing.assert_array_equal(np.asarray(out[0]), x * 2)
    np.testing.assert_array_equal(np.asarray(out[1]), x.sum(0))
    # an unbatched result is broadcast; axis_size when nothing is mapped
    out = vmap(lambda v: d.ones(2), axis_size=3, in_axes=None)(1.0)
    assert out.shape == (3, 2)
    assert vmap(lambda v: v + 1)(d.zeros((0, 5))).shape == (0, 5)


def test_while_loop_with_a_batched_predicate() -> None:
    def collatz_steps(n: Any) -> Any:
        def body(c: Any) -> Any:
            m, k = c
            return d.where(m % 2 == 0, m // 2, 3 * m + 1), k + 1

        return d.while_loop(lambda c: c[0] != 1, body, (n, 0))[1]

    starts = np.array([1, 2, 3, 6, 7, 27], np.int32)
    want = []
    for s in starts:
        k, m = 0, int(s)
        while m != 1:
            m, k = (m // 2 if m % 2 == 0 else 3 * m + 1), k + 1
        want.append(k)
    np.testing.assert_array_equal(np.asarray(vmap(collatz_steps)(starts)), want)


def test_vmap_law_checker_and_jit_commute() -> None:
    f = lambda a, b: d.sin(a) @ b  # noqa: E731
    a = np.random.default_rng(1).normal(size=(5, 3, 4)).astype(np.float32)
    b = np.random.default_rng(2).normal(size=(4, 2)).astype(np.float32)
    laws.check_vmap(f, a, b, in_axes=(0, None))
    np.testing.assert_allclose(np.asarray(jit(vmap(f, (0, None)))(a, b)),
                               np.asarray(vmap(f, (0, None))(a, b)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(vmap(jit(f), (0, None))(a, b)),
                               np.asarray(vmap(f, (0, None))(a, b)), rtol=1e-6)


def test_vmap_law_over_300_random_programs() -> None:
    assert laws.check_random_programs(laws.vmap_law, examples=300, max_eqns=6, seed=11) == 300


@pytest.mark.parametrize("call,fragment", [
    (lambda: vmap(lambda a, b: a + b)(d.ones(3), d.ones(4)), "different sizes"),
    (lambda: vmap(lambda a: a, in_axes=2)(d.ones((3, 4))), "out of range"),
    (lambda: vmap(lambda a: a, in_axes=({"x": 0},))(d.ones(3)), "does not match"),
    (lambda: vmap(lambda a: a, out_axes=None)(d.ones(3)), "out_axes=None"),
    (lambda: vmap(lambda a: a, in_axes=None)(d.ones(3)), "axis_size"),
])
def test_bad_input(call: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        call()


def test_wrapping_a_jitted_function_keeps_each_layer() -> None:
    # a wrapper must never take over the wrapped object's attributes (its cache, its function)
    def loss(w: Any, x: Any) -> Any:
        return d.sum(d.tanh(d.dot(x, w)))

    w, xs = d.ones((4, 2)), d.ones((5, 4))
    assert jit(vmap(jit(grad(loss)), in_axes=(None, 0)))(w, xs).shape == (5, 4, 2)
    assert jit(jit(lambda v: v * 2))(d.ones(3)).shape == (3,)


def test_a_user_primitive_without_a_batching_rule_loops_with_a_warning() -> None:
    """The fallback for extensions: a primitive with a type rule and an evaluate rule but no
    batching rule is run once per example and stacked, with a RuntimeWarning naming it."""
    import attrs
    import warnings

    from dsl.core import bind
    from dsl.ir import OPS, Op, primitive
    from dsl.types import TensorType
    from interpreters.evaluate import RULES

    @primitive("test_cumulative_norm")
    class CumNorm(Op):
        scale: float = 1.0

        def infer(self, *in_types: TensorType) -> tuple[TensorType, ...]:
            return (in_types[0],)

    RULES[CumNorm] = lambda op, x: [np.asarray(np.cumsum(x * x) * op.scale, dtype=x.dtype)]
    try:
        xs = np.arange(12, dtype=np.float32).reshape(3, 4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = vmap(lambda x: bind(CumNorm(scale=0.5), x) + 1.0)(xs)
        assert any("test_cumulative_norm" in str(w.message) and w.category is RuntimeWarning
                   for w in caught)
        np.testing.assert_allclose(np.asarray(got), np.cumsum(xs * xs, axis=1) * 0.5 + 1.0)
        assert attrs.has(CumNorm)
    finally:  # the closed set of primitives stays closed for the other tests
        del RULES[CumNorm]
        del OPS["test_cumulative_norm"]
