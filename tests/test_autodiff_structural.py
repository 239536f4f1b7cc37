"""Derivatives of the structural, indexing, reduction, cumulative, dot and sort primitives.

Each case is checked four ways: forward mode against central finite differences (float64),
forward and reverse mode against the `jax` oracle where the function exists there, the
dot-product law `<vjp(ct), t> == <ct, jvp(t)>` that ties the two modes, and the same jvp/vjp
staged into a program (typechecked, then evaluated) against the eager result. Ties, repeated
scatter indices, out-of-bounds gathers and zero-size shapes are included; a few second-order
checks go through chains of these primitives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dsl as d
import interpreters.differentiate.elementwise  # noqa: F401  (rules of the elementwise ops)
import interpreters.differentiate.structural as S
from dsl import lax
from dsl import ops as P
from dsl.core import bind
from dsl.typecheck import typecheck
from interpreters.differentiate import JVP_RULES, VJP_RULES
from interpreters.differentiate.api import grad, hessian, jacfwd, jacrev, jvp, vjp
from interpreters.evaluate import eval_program


@pytest.fixture(autouse=True, scope="module")
def _x64() -> Any:
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


_R = np.random.default_rng(0)


def rnd(*shape: int) -> np.ndarray:
    return _R.standard_normal(shape)


def _leaves(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _np(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.asarray(x).dtype)


def _close(a: Any, b: Any, tol: float = 1e-6) -> None:
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    wide = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(b) else np.float64
    np.testing.assert_allclose(a.astype(wide), b.astype(wide), rtol=tol, atol=tol)


def check(fn: Callable[..., Any], args: Sequence[Any], jax_fn: Callable[..., Any] | None = None,
          diff: Sequence[int] | None = None, fd: bool = True, seed: int = 1) -> None:
    """The four checks of the module docstring, with respect to the arguments at `diff`."""
    args = [np.asarray(a) for a in args]
    diff = list(range(len(args))) if diff is None else list(diff)

    def sub(f: Callable[..., Any], wrap: Callable[[Any], Any]) -> Callable[..., Any]:
        def g(*xs: Any) -> Any:
            full = [wrap(a) for a in args]
            for i, x in zip(diff, xs):
                full[i] = x
            return f(*full)
        return g

    f = sub(fn, d.asarray)
    xs = [args[i] for i in diff]
    rng = np.random.default_rng(seed)
    ts = [rng.standard_normal(x.shape).astype(x.dtype) for x in xs]
    out, t_out = jvp(f, tuple(d.asarray(x) for x in xs), tuple(d.asarray(t) for t in ts))
    outs, t_outs = _leaves(out), _leaves(t_out)
    cts = [rng.standard_normal(np.shape(o)).astype(_np(o).dtype) for o in outs]
    out2, back = vjp(f, *(d.asarray(x) for x in xs))
    ct_arg = tuple(d.asarray(c) for c in cts) if isinstance(out2, (tuple, list)) else \
        d.asarray(cts[0])
    ct_in = back(ct_arg)
    for c, x in zip(ct_in, xs):
        assert _np(c).dtype == x.dtype and _np(c).shape == x.shape
    for t, o in zip(t_outs, outs):
        assert _np(t).dtype == _np(o).dtype and _np(t).shape == _np(o).shape
    # the dot-product law ties the two modes
    lhs = sum(complex(np.sum(_np(c) * t)) for c, t in zip(ct_in, ts))
    rhs = sum(complex(np.sum(c * _np(t))) for c, t in zip(cts, t_outs))
    assert abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs)), (lhs, rhs)
    if fd:
        eps = 1e-6
        plus = _leaves(f(*(d.asarray(x + eps * t) for x, t in zip(xs, ts))))
        minus = _leaves(f(*(d.asarray(x - eps * t) for x, t in zip(xs, ts))))
        for p, m, t, o in zip(plus, minus, t_outs, outs):
            if np.issubdtype(_np(o).dtype, np.inexact):  # fill values (NaN) are constants
                fd_t = np.where(np.isfinite(_np(o)), (_np(p) - _np(m)) / (2 * eps), 0.0)
                _close(fd_t, t, 1e-5)
    if jax_fn is not None:
        jf = sub(jax_fn, jnp.asarray)
        multi = isinstance(out2, (tuple, list))

        @jax.jit  # one compile for the whole comparison beats op-by-op dispatch
        def oracle(xs: Any, ts: Any, cts: Any) -> Any:
            j_out, j_t = jax.jvp(jf, tuple(xs), tuple(ts))
            return j_out, j_t, jax.vjp(jf, *xs)[1](tuple(cts) if multi else cts[0])

        j_out, j_t, j_ct = oracle(xs, ts, cts)
        for a, b in zip(outs, _leaves(j_out)):
            _close(a, b)
        for a, b in zip(t_outs, _leaves(j_t)):
            if np.issubdtype(_np(a).dtype, np.inexact):  # jax gives float0 for integers
                _close(a, b)
        for a, b in zip(ct_in, j_ct):
            _close(a, b)
    # the same rules staged into a program
    k = len(xs)
    prog = d.stage(lambda *v: list(_leaves(jvp(f, tuple(v[:k]), tuple(v[k:]))[1])))(*xs, *ts)
    typecheck(prog)
    for a, b in zip(eval_program(prog, [*xs, *ts]), t_outs):
        _close(a, b, 1e-12)
    prog = d.stage(lambda *v: list(vjp(f, *v[:k])[1](
        tuple(v[k:]) if isinstance(out2, (tuple, list)) else v[k])))(*xs, *cts)
    typecheck(prog)
    for a, b in zip(eval_program(prog, [*xs, *cts]), ct_in):
        _close(a, b, 1e-12)


def _cum(cls: type[P.Op], axis: int, reverse: bool = False) -> Callable[[Any], Any]:
    return lambda x: bind(cls(axis=axis, reverse=reverse), x)


I5 = np.array([0, 4, 7, -9, 2, 2])          # repeated and out-of-bounds (after wrapping)
REP = np.array([1, 3, 1, 9, 1])               # repeated, and one dropped
PAD_CFG = [(1, -1, 2), (-2, 1, 0), (0, 0, 1)]
PROD_X = np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0], [2.0, 3.0, 4.0], [0.5, -1.5, 2.0]])
CUMPROD_X = np.array([[0.5, 0.0, 2.0, 3.0, -1.0], [1.5, 2.0, 0.0, 0.0, 3.0]])
SCATTER_X = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
EXT_IDX = np.array([0, 0, 2, 4, 1, 0])
EXT_U = np.array([1.0, 0.5, 3.0, 7.0, 2.0, 1.0])  # ties with the operand and between updates

CASES: list[tuple[str, Callable[..., Any], list[Any], Callable[..., Any] | None, dict]] = [
    ("broadcast_in_dim", lambda x: lax.broadcast_in_dim(x, (2, 3, 4), (1, 2)), [rnd(3, 1)],
     lambda x: jax.lax.broadcast_in_dim(x, (2, 3, 4), (1, 2)), {}),
    ("broadcast_to", lambda x: d.broadcast_to(x, (2, 3, 4)), [rnd(1, 4)],
     lambda x: jnp.broadcast_to(x, (2, 3, 4)), {}),
    ("reshape", lambda x: d.reshape(x, (4, 3)), [rnd(2, 6)], lambda x: jnp.reshape(x, (4, 3)),
     {}),
    ("transpose", lambda x: d.transpose(x, (2, 0, 1)), [rnd(2, 3, 4)],
     lambda x: jnp.transpose(x, (2, 0, 1)), {}),
    ("squeeze", lambda x: lax.squeeze(x, (1,)), [rnd(3, 1, 2)],
     lambda x: jax.lax.squeeze(x, (1,)), {}),
    ("expand_dims", lambda x: lax.expand_dims(x, (0, 2)), [rnd(3, 2)],
     lambda x: jax.lax.expand_dims(x, (0, 2)), {}),
    ("rev", lambda x: lax.rev(x, (0, 1)), [rnd(3, 4)], lambda x: jax.lax.rev(x, (0, 1)), {}),
    ("pad", lambda x, v: lax.pad(x, v, PAD_CFG), [rnd(3, 4, 2), rnd()],
     lambda x, v: jax.lax.pad(x, v, PAD_CFG), {}),
    ("pad_crop", lambda x, v: lax.pad(x, v, [(-2, -1, 1)]), [rnd(4), rnd()],
     lambda x, v: jax.lax.pad(x, v, [(-2, -1, 1)]), {}),
    ("concatenate", lambda a, b, c: d.concatenate([a, b, c], axis=1),
     [rnd(2, 3), rnd(2, 0), rnd(2, 2)], lambda a, b, c: jnp.concatenate([a, b, c], axis=1), {}),
    ("slice_strided", lambda x: lax.slice(x, (1, 0), (6, 3), (2, 2)), [rnd(7, 4)],
     lambda x: jax.lax.slice(x, (1, 0), (6, 3), (2, 2)), {}),
    ("basic_index", lambda x: x[1:, ::-2], [rnd(4, 5)], lambda x: x[1:, ::-2], {}),
    ("dynamic_slice_clamped", lambda x: lax.dynamic_slice(x, [3, 5], (2, 2)), [rnd(4, 3)],
     lambda x: jax.lax.dynamic_slice(x, (3, 5), (2, 2)), {}),
    ("dynamic_slice_int_operand", lambda x, i: lax.dynamic_slice(x, [i, 0], (2, 3)),
     [rnd(4, 3), np.int32(5)], lambda x, i: jax.lax.dynamic_slice(x, (i, np.int32(0)), (2, 3)),
     {"diff": [0]}),
    ("dynamic_update_slice", lambda x, u: lax.dynamic_update_slice(x, u, [2, 1]),
     [rnd(4, 3), rnd(3, 2)], lambda x, u: jax.lax.dynamic_update_slice(x, u, (2, 1)), {}),
    ("gather_clip", lambda x: x.at[I5].get(mode="clip"), [rnd(5, 3)],
     lambda x: x.at[I5].get(mode="clip"), {}),
    ("gather_fill", lambda x: x.at[I5].get(mode="fill"), [rnd(5, 3)],
     lambda x: x.at[I5].get(mode="fill"), {}),
    ("gather_two_axes", lambda x: x[np.array([0, 2, 2]), :, np.array([1, 0, 1])],
     [rnd(3, 2, 4)], lambda x: x[np.array([0, 2, 2]), :, np.array([1, 0, 1])], {}),
    ("take_fill", lambda x: d.take(x, np.array([[3, -1], [5, 0]]), axis=1), [rnd(2, 4)],
     lambda x: jnp.take(x, np.array([[3, -1], [5, 0]]), axis=1), {}),
    ("scatter_add_repeated", lambda x, u: x.at[REP].add(u, mode="drop"), [rnd(5, 2), rnd(5, 2)],
     lambda x, u: x.at[REP].add(u, mode="drop"), {}),
    ("scatter_set_unique", lambda x, u: x.at[np.array([3, 0])].set(u), [rnd(5, 2), rnd(2, 2)],
     lambda x, u: x.at[np.array([3, 0])].set(u), {}),
    ("scatter_set_repeated", lambda x, u: x.at[REP].set(u, mode="drop"), [rnd(5, 2), rnd(5, 2)],
     None, {}),
    ("scatter_mul_unique", lambda x, u: x.at[np.array([4, 1])].multiply(u),
     [rnd(5), rnd(2)],
     lambda x, u: x.at[np.array([4, 1])].multiply(u, unique_indices=True), {}),
    ("scatter_mul_repeated_zeros", lambda x, u: x.at[np.array([1, 3, 1, 1, 0, 2, 2, 7])].multiply(
        u, mode="drop"), [rnd(5), np.array([0.0, 2.0, 3.0, 0.0, 0.0, -1.5, 0.0, 2.0])], None, {}),
    ("scatter_max", lambda x, u: x.at[np.array([0, 0, 3])].max(u), [rnd(5), rnd(3)],
     lambda x, u: x.at[np.array([0, 0, 3])].max(u), {}),
    ("scatter_max_ties", lambda x, u: x.at[EXT_IDX].max(u), [SCATTER_X, EXT_U],
     lambda x, u: x.at[EXT_IDX].max(u), {"fd": False}),
    ("scatter_min_ties", lambda x, u: x.at[EXT_IDX].min(u), [SCATTER_X, EXT_U],
     lambda x, u: x.at[EXT_IDX].min(u), {"fd": False}),
    ("scatter_mul_window", lambda x, u: x.at[np.array([1, 1, 0])].multiply(u),
     [rnd(3, 2), np.array([[0.0, 2.0], [0.0, 0.0], [1.5, -1.0]])], None, {}),
    ("scatter_min_window", lambda x, u: x.at[np.array([2, 0])].min(u), [rnd(3, 2), rnd(2, 2)],
     lambda x, u: x.at[np.array([2, 0])].min(u), {}),
    ("gather_uint8_fill", lambda x: lax.gather(x, np.array([[1, 0], [7, 1], [2, 1]], np.uint8),
                                               (0, 2), "fill"), [rnd(3, 2, 2)], None, {}),
    ("scatter_int64_rows", lambda x, u: lax.scatter(x, np.array([[-1], [2], [2]], np.int64), u,
                                                    (1,), "add"), [rnd(2, 3), rnd(3, 2)], None,
     {}),
    ("reduce_sum", lambda x: d.sum(x, axis=(0, 2)), [rnd(2, 3, 4)],
     lambda x: jnp.sum(x, axis=(0, 2)), {}),
    ("cumsum", lambda x: d.cumsum(x, axis=0), [rnd(4, 3)], lambda x: jnp.cumsum(x, axis=0), {}),
    ("cumsum_reverse", _cum(P.Cumsum, 1, True), [rnd(3, 5)],
     lambda x: jax.lax.cumsum(x, axis=1, reverse=True), {}),
    ("dot", lambda a, b: d.dot(a, b), [rnd(3, 4), rnd(4, 2)], jnp.dot, {}),
    ("dot_vectors", lambda a, b: d.dot(a, b), [rnd(4), rnd(4)], jnp.dot, {}),
    ("einsum_batch", lambda a, b: d.einsum("bij,bjk->bik", a, b), [rnd(2, 3, 4), rnd(2, 4, 2)],
     lambda a, b: jnp.einsum("bij,bjk->bik", a, b), {}),
    ("dot_general_odd", lambda x, y: lax.dot_general(x, y, ((2, 0), (1, 3)), ((1,), (0,))),
     [rnd(3, 2, 4, 5), rnd(2, 4, 6, 3)],
     lambda x, y: jax.lax.dot_general(x, y, (((2, 0), (1, 3)), ((1,), (0,)))), {}),
    ("reduce_prod_zeros", lambda x: d.prod(x, axis=1), [PROD_X],
     lambda x: jnp.prod(x, axis=1), {}),
    ("reduce_prod_axes", lambda x: d.prod(x, axis=(0, 2)), [rnd(2, 3, 2)],
     lambda x: jnp.prod(x, axis=(0, 2)), {}),
    ("reduce_max", lambda x: d.max(x, axis=1), [rnd(3, 4)], lambda x: jnp.max(x, axis=1), {}),
    ("reduce_max_ties", lambda x: d.max(x, axis=0), [np.array([[1.0, 3.0], [1.0, 2.0],
                                                               [0.0, 3.0]])],
     lambda x: jnp.max(x, axis=0), {"fd": False}),
    ("reduce_min_ties", lambda x: d.min(x), [np.array([[2.0, -1.0], [-1.0, -1.0]])],
     jnp.min, {"fd": False}),
    ("argmax_gather", lambda x: x[d.argmax(x)] * d.argmin(x), [rnd(5)],
     lambda x: x[jnp.argmax(x)] * jnp.argmin(x), {}),
    ("cumprod_zeros", lambda x: d.cumprod(x, axis=1), [CUMPROD_X],
     lambda x: jnp.cumprod(x, axis=1), {}),
    ("cumprod_reverse", _cum(P.Cumprod, 0, True), [np.array([[1.5, 2.0], [0.0, -1.0],
                                                              [2.0, 0.5], [0.5, 3.0]])],
     lambda x: jax.lax.cumprod(x, axis=0, reverse=True), {}),
    ("cummax", _cum(P.Cummax, 0), [rnd(6, 3)], lambda x: jax.lax.cummax(x, axis=0), {}),
    ("cummin_reverse", _cum(P.Cummin, 1, True), [rnd(3, 7)],
     lambda x: jax.lax.cummin(x, axis=1, reverse=True), {}),
    ("sort", lambda x: d.sort(x, axis=0), [rnd(5, 3)], lambda x: jnp.sort(x, axis=0), {}),
    ("sort_ties", lambda x: d.sort(x), [np.array([3.0, 1.0, 3.0, 1.0, 2.0])], jnp.sort,
     {"fd": False}),
    ("sort_carry", lambda k, v: lax.sort([k, v], 0, 1),
     [np.array([2.0, 1.0, 2.0, 0.0]), rnd(4)],
     lambda k, v: jax.lax.sort((k, v), dimension=0, num_keys=1), {"fd": False}),
    ("sort_two_keys", lambda a, b, v: lax.sort([a, b, v], 1, 2),
     [np.array([[1.0, 0.0, 1.0, 0.0]]), rnd(1, 4), rnd(1, 4)],
     lambda a, b, v: jax.lax.sort((a, b, v), dimension=1, num_keys=2), {"fd": False}),
    ("sort_int_keys", lambda k, v: lax.sort([k, v], 0, 1), [np.array([2, 0, 1]), rnd(3)],
     lambda k, v: jax.lax.sort((k, v), dimension=0, num_keys=1), {"diff": [1]}),
    # zero-size shapes
    ("zero_reshape", lambda x: d.reshape(x, (3, 0)), [rnd(0, 3)], None, {}),
    ("zero_sum", lambda x: d.sum(x, axis=1), [rnd(3, 0)], lambda x: jnp.sum(x, axis=1), {}),
    ("zero_prod", lambda x: d.prod(x, axis=1), [rnd(3, 0)], lambda x: jnp.prod(x, axis=1), {}),
    ("zero_gather", lambda x: x[np.zeros(0, np.int32)], [rnd(4, 2)], None, {}),
    ("zero_gather_axis", lambda x: x.at[np.array([0, 1])].get(mode="fill"), [rnd(0, 2)], None,
     {"fd": False}),
    ("zero_scatter", lambda x, u: x.at[np.zeros(0, np.int32)].add(u), [rnd(3), rnd(0)], None,
     {}),
    ("zero_sort", lambda x: d.sort(x, axis=0), [rnd(0, 3)], None, {}),
    ("zero_dot", lambda a, b: d.dot(a, b), [rnd(3, 0), rnd(0, 2)], jnp.dot, {}),
    ("zero_cumprod", lambda x: d.cumprod(x, axis=0), [rnd(0, 4)], None, {}),
    ("zero_cummax", _cum(P.Cummax, 1), [rnd(2, 0)], None, {}),
    ("zero_pad", lambda x, v: lax.pad(x, v, [(1, 2, 3)]), [rnd(0), rnd()], None, {}),
]


@pytest.mark.parametrize("name,fn,args,jax_fn,kw", CASES, ids=[c[0] for c in CASES])
def test_derivatives(name: str, fn: Any, args: list[Any], jax_fn: Any, kw: dict) -> None:
    check(fn, args, jax_fn, **kw)


# --- properties over random configurations (dot-product law and finite differences) ----------

@st.composite
def _pad_case(draw: Any) -> tuple[tuple[int, ...], list[tuple[int, int, int]]]:
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    cfg = []
    for n in shape:
        interior = draw(st.integers(0, 2))
        dilated = n + max(n - 1, 0) * interior
        lo = draw(st.integers(-dilated, 3))
        hi = draw(st.integers(-(dilated + lo), 3))  # never crops below zero size
        cfg.append((lo, hi, interior))
    return shape, cfg


@given(_pad_case())
def test_pad_any_config(case: Any) -> None:
    shape, cfg = case
    check(lambda x, v: lax.pad(x, v, cfg), [rnd(*shape), rnd()], None)


@st.composite
def _slice_case(draw: Any) -> tuple[tuple[int, ...], list[int], list[int], list[int]]:
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=1, max_size=3)))
    lo, hi, strides = [], [], []
    for n in shape:
        a = draw(st.integers(0, n))
        lo.append(a)
        hi.append(draw(st.integers(a, n)))
        strides.append(draw(st.integers(1, 3)))
    return shape, lo, hi, strides


@given(_slice_case())
def test_slice_any_config(case: Any) -> None:
    shape, lo, hi, strides = case
    check(lambda x: lax.slice(x, lo, hi, strides), [rnd(*shape)], None)


@st.composite
def _dot_case(draw: Any) -> tuple[Any, ...]:
    nb, nc, nfx, nfy = (draw(st.integers(0, 2)) for _ in range(4))
    sizes = [draw(st.integers(0, 3)) for _ in range(nb + nc + nfx + nfy)]
    b, c = sizes[:nb], sizes[nb:nb + nc]
    fx, fy = sizes[nb + nc:nb + nc + nfx], sizes[nb + nc + nfx:]
    px = draw(st.permutations(range(nb + nc + nfx)))
    py = draw(st.permutations(range(nb + nc + nfy)))
    # logical lhs dims: batch, contracting, free; `px[i]` is where logical dim i lives
    x_shape = [0] * len(px)
    for i, n in enumerate(b + c + fx):
        x_shape[px[i]] = n
    y_shape = [0] * len(py)
    for i, n in enumerate(b + c + fy):
        y_shape[py[i]] = n
    contracting = ([px[nb + k] for k in range(nc)], [py[nb + k] for k in range(nc)])
    batch = ([px[k] for k in range(nb)], [py[k] for k in range(nb)])
    return tuple(x_shape), tuple(y_shape), contracting, batch


@given(_dot_case())
def test_dot_general_any_dimension_numbers(case: Any) -> None:
    x_shape, y_shape, contracting, batch = case
    check(lambda x, y: lax.dot_general(x, y, contracting, batch), [rnd(*x_shape), rnd(*y_shape)],
          None)


@given(st.lists(st.sampled_from([-1.0, 0.0, 1.0, 2.0]), min_size=1, max_size=9),
       st.sampled_from([P.Cummax, P.Cummin, P.Cumprod, P.Cumsum]), st.booleans())
def test_cumulative_small_values(values: list[float], cls: type[P.Op], reverse: bool) -> None:
    # small integers tie often: the dot-product law must hold whatever the ties
    check(_cum(cls, 0, reverse), [np.asarray(values)], None, fd=cls in (P.Cumprod, P.Cumsum))


# --- conventions ------------------------------------------------------------------------------

def test_cummax_ties_split_like_max_of_the_prefix() -> None:
    x = np.array([0.0, 2.0, 2.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0])
    jac = _np(jacfwd(_cum(P.Cummax, 0))(d.asarray(x)))
    jac_rev = _np(jacrev(_cum(P.Cummax, 0))(d.asarray(x)))
    pick = jax.jit(jax.grad(lambda x, mask: jnp.max(jnp.where(mask, x, -jnp.inf))))
    for k in range(len(x)):
        expected = pick(x, np.arange(len(x)) <= k)
        _close(jac[k], expected, 1e-12)
        _close(jac_rev[k], expected, 1e-12)


def test_cummin_reverse_ties_split_like_min_of_the_suffix() -> None:
    x = np.array([1.0, 0.0, 0.0, 2.0, 0.0])
    jac = _np(jacrev(_cum(P.Cummin, 0, True))(d.asarray(x)))
    for k in range(len(x)):
        suffix = x[k:]
        hits = (suffix == suffix.min()).astype(float)
        _close(jac[k], np.concatenate([np.zeros(k), hits / hits.sum()]), 1e-12)


def test_reduce_max_of_empty_axis_has_zero_derivative() -> None:
    x = d.asarray(rnd(3, 0))
    out, t = jvp(lambda x: bind(P.ReduceMax(axes=(1,)), x), (x,), (x,))
    assert np.all(_np(out) == -np.inf) and np.all(_np(t) == 0)
    assert _np(grad(lambda x: d.sum(bind(P.ReduceMin(axes=(1,)), x) * 0.0))(x)).shape == (3, 0)


def test_scatter_set_repeated_index_last_update_wins() -> None:
    # the evaluate rule keeps the last of repeated updates; the derivative follows the winner
    idx = np.array([1, 1, 2])
    g_x, g_u = grad(lambda x, u: d.sum(x.at[idx].set(u) * np.array([1.0, 10.0, 100.0])),
                    argnums=(0, 1))(d.asarray(np.zeros(3)), d.asarray(np.ones(3)))
    _close(g_x, [1.0, 0.0, 0.0])
    _close(g_u, [0.0, 10.0, 100.0])


def test_gather_fill_rows_get_no_cotangent() -> None:
    x = d.asarray(rnd(3, 2))
    _, back = vjp(lambda x: x.at[np.array([2, 5, -7, 2])].get(mode="fill"), x)
    (ct,) = back(d.asarray(np.ones((4, 2))))
    _close(ct, [[0.0, 0.0], [0.0, 0.0], [2.0, 2.0]])


def test_integer_outputs_have_zero_tangents() -> None:
    x = d.asarray(rnd(4, 3))
    for fn in (lambda x: d.argmax(x, axis=0), lambda x: d.argmin(x),
               lambda x: d.argsort(x, axis=1)):
        _, t = jvp(fn, (x,), (x,))
        assert not np.issubdtype(_np(t).dtype, np.inexact) and not np.any(_np(t))
    g = grad(lambda x: d.sum(d.where(d.all(x > -10.0), x, 0.0) * d.arange(3.0)))(x)
    _close(g, np.broadcast_to(np.arange(3.0), (4, 3)))


def test_every_primitive_of_these_families_has_both_rules() -> None:
    families = ("structural", "indexing", "reduction", "cumulative", "sort")
    mine = [c for c in P.ALL_OPS if c.family in families] + [P.DotGeneral]
    assert len(mine) >= 28
    missing = [c.name for c in mine if c not in JVP_RULES or c not in VJP_RULES]
    assert not missing, missing
    # the documented no-derivative set: results that are integers, bools, or need no inputs
    for cls in S.INTEGER_OUTPUT:
        assert cls in mine and f"`{cls.name}`" in (S.__doc__ or "")


# --- dtypes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float16, "bfloat16"])
def test_cotangents_keep_the_operand_dtype(dtype: Any) -> None:
    x64 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x = d.asarray(x64).astype(dtype)
    fns = [lambda x: d.sum(d.cumprod(x, axis=1)), lambda x: d.sum(d.max(x, axis=0)),
           lambda x: d.sum(d.sort(x, axis=1) * d.arange(3.0).astype(x.dtype)),
           lambda x: d.sum(d.prod(x, axis=0)), lambda x: d.sum(x.T[np.array([2, 0])])]
    for fn in fns:
        g, g64 = grad(fn)(x), grad(fn)(d.asarray(x64))
        assert g.dtype == x.dtype
        _close(_np(g).astype(np.float64), g64, 2e-2 if dtype != np.float32 else 1e-5)


def test_preferred_dot_accumulates_wide_and_returns_narrow_cotangents() -> None:
    a, b = rnd(3, 4), rnd(4, 2)

    def f(x: Any, y: Any) -> Any:
        return lax.dot_general(x, y, ((1,), (0,)), preferred=np.float32)

    a16, b16 = d.asarray(a).astype(np.float16), d.asarray(b).astype(np.float16)
    out, t = jvp(f, (a16, b16), (a16, b16))
    assert out.dtype == t.dtype == np.float32
    _close(t, 2 * _np(a16).astype(np.float64) @ _np(b16).astype(np.float64), 1e-2)
    _, back = vjp(f, a16, b16)
    ct = np.ones((3, 2), np.float32)
    g_a, g_b = back(d.asarray(ct))
    assert g_a.dtype == g_b.dtype == np.float16
    _close(g_a, ct @ _np(b16).astype(np.float64).T, 1e-2)
    _close(g_b, _np(a16).astype(np.float64).T @ ct, 1e-2)


def test_complex_operands_match_jax() -> None:
    a = rnd(3, 4) + 1j * rnd(3, 4)
    b = rnd(4) + 1j * rnd(4)
    check(lambda a, b: d.prod(d.dot(a, b)[np.array([0, 2])]) * d.sum(d.cumsum(a, axis=1)),
          [a, b], lambda a, b: jnp.prod(jnp.dot(a, b)[np.array([0, 2])])
          * jnp.sum(jnp.cumsum(a, axis=1)), fd=False)


# --- second order -----------------------------------------------------------------------------

G_IDX = np.array([0, 2, 2, 3])
SQ_A = rnd(4, 4)
SECOND: list[tuple[str, Callable[..., Any], Callable[..., Any], np.ndarray]] = [
    ("reshape_transpose_gather", lambda x: d.sum(_sq(d.transpose(d.reshape(x, (3, 4)))[G_IDX, 1:])),
     lambda x: jnp.sum(jnp.square(jnp.transpose(jnp.reshape(x, (3, 4)))[G_IDX, 1:])), rnd(12)),
    ("prod_one_zero", lambda x: d.prod(x), jnp.prod, np.array([2.0, 0.0, 3.0, -1.0])),
    ("prod_two_zeros", lambda x: d.prod(x), jnp.prod, np.array([0.0, 2.0, 0.0, 3.0])),
    ("cumprod", lambda x: d.sum(d.cumprod(x) * x), lambda x: jnp.sum(jnp.cumprod(x) * x),
     np.array([1.5, 0.0, -2.0, 0.5, 1.0])),
    ("sort", lambda x: d.sum(_sq(d.sort(x)) * d.sort(x) * d.arange(5.0)),
     lambda x: jnp.sum(jnp.sort(x) ** 3 * jnp.arange(5.0)), rnd(5)),
    ("dot_quadratic", lambda x: d.dot(x, d.dot(SQ_A, x)),
     lambda x: jnp.dot(x, jnp.dot(SQ_A, x)), rnd(4)),
    ("cummax_max", lambda x: d.sum(_sq(_cum(P.Cummax, 0)(x))) + d.max(_sq(x)),
     lambda x: jnp.sum(jnp.square(jax.lax.cummax(x))) + jnp.max(jnp.square(x)), rnd(6)),
    ("pad_slice_scatter", lambda x: d.sum(_sq(lax.slice(lax.pad(x, x[0], [(2, -1, 1)]), (1,), (8,),
                                                         (2,)).at[np.array([0, 0])].add(x[1:3]))),
     lambda x: jnp.sum(jnp.square(jax.lax.slice(jax.lax.pad(x, x[0], [(2, -1, 1)]), (1,), (8,),
                                                (2,)).at[np.array([0, 0])].add(x[1:3]))), rnd(4)),
    ("scatter_mul_dus", lambda x: d.sum(lax.dynamic_update_slice(
        x.at[np.array([1, 3])].multiply(x[:2]), _sq(x[2:]), [1])),
     lambda x: jnp.sum(jax.lax.dynamic_update_slice(
         x.at[np.array([1, 3])].multiply(x[:2], unique_indices=True), jnp.square(x[2:]), (1,))),
     rnd(5)),
]


def _sq(x: Any) -> Any:
    return x * x


@pytest.mark.parametrize("name,fn,jax_fn,x", SECOND, ids=[c[0] for c in SECOND])
def test_second_order(name: str, fn: Any, jax_fn: Any, x: np.ndarray) -> None:
    expected = jax.jit(jax.hessian(jax_fn))(x)
    h = _np(hessian(fn)(d.asarray(x)))
    _close(h, expected, 1e-9)
    _close(h, h.T, 1e-12)
    _close(jacrev(jacrev(fn))(d.asarray(x)), expected, 1e-9)
    _close(jacfwd(jacfwd(fn))(d.asarray(x)), expected, 1e-9)


def test_cummax_nan_does_not_poison_earlier_cotangents() -> None:
    g = grad(lambda x: d.sum(_cum(P.Cummax, 0)(x)))(d.asarray(np.array([1.0, np.nan, 2.0])))
    _close(g, [1.0, 0.0, 0.0])


def test_rules_compose_with_jit() -> None:
    from interpreters import jit

    def f(x: Any, m: Any, **unique: bool) -> Any:
        y = m.sort(x) * m.cumprod(x) + m.max(x) + m.dot(x, x[::-1])
        w = x.at[np.array([1, 4])].multiply(x[:2], **unique).at[np.array([2, 2])].max(x[3:5])
        return m.sum(y * y) + m.sum(w) + m.prod(x.reshape(5, 1).T[0, 1:4])

    x = np.array([0.3, -1.2, 0.0, 2.0, 1.5])
    expected = jax.jit(jax.grad(lambda x: f(x, jnp, unique_indices=True)))(x)
    _close(grad(lambda v: f(v, d))(d.asarray(x)), expected, 1e-9)
    _close(jit(grad(lambda v: f(v, d)))(d.asarray(x)), expected, 1e-9)
