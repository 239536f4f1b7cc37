"""Tests of NumPy indexing (`dsl.np_indexing`): `x[idx]`, `x.at[idx]`, `take`, `take_along_axis`,
`put`, `put_along_axis`, `dynamic_slice` and `dynamic_update_slice`.

Expected values come from NumPy (in-range indices, where NumPy and we agree) and from `jax` as an
oracle for what NumPy does not define (out-of-range array indices, modes, symbolic indices).
Every expression is checked eagerly (on `Array`s) and staged (`evaluate`, where the index or the
operand is symbolic).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dsl as d
from dsl.np_indexing import IndexOutOfBounds, InvalidIndex
from interpreters.evaluate import evaluate

s_ = np.s_
X = np.arange(60, dtype=np.float32).reshape(3, 4, 5)


def same(got, want) -> None:
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def check_get(x: np.ndarray, idx) -> None:
    """`x[idx]` eagerly and staged (operand symbolic) equals NumPy's."""
    want = x[idx]
    same(d.asarray(x)[idx], want)
    same(evaluate(lambda a: a[idx])(x), want)


M3 = np.array([True, False, True])
M4 = np.array([False, True, True, False])
M34 = (np.arange(12).reshape(3, 4) % 3) == 0

GET_TABLE = [
    # integers and basic slices
    0, -1, 2, (1, 2), (1, 2, 3), (-1, -2, -3), np.int64(1), np.array(2), (np.int32(-1), 0),
    s_[:], s_[1:3], s_[::-1], s_[3:0:-2], s_[-1::-1], s_[::2, 1::-1], s_[-100:100],
    s_[::-3, ::2, ::-4], s_[2:0:-1, :, 4:1:-2], s_[1, ::-1, 3], s_[:, :, ::-1],
    # new axes and ellipsis
    None, s_[None, ...], s_[..., None], s_[None, ..., None], s_[:, None, 1], s_[..., 1],
    s_[1, ...], s_[1, ..., 2], s_[...], (), s_[..., ::-1], s_[None, 1, None, ::2, None],
    # zero-size results
    s_[1:1], s_[5:], s_[:, 4:0], s_[..., 3:3, None], s_[[]], s_[[0, 1], 1:1], s_[:, []],
    # integer arrays: adjacency and placement of the broadcast dimensions
    s_[[0, 2]], s_[[[0, 1], [2, 0]]], s_[[0, 2], :, [1, 3]], s_[:, [0, 2], [1, 3]],
    s_[[0, 2], [1, 3]], s_[:, [[0], [3]], [1, 2, 4]], s_[1, :, [0, 4]], s_[:, 1, [0, 4]],
    s_[[0, 1], None, [0, 1]], s_[:, [0, 1], None, [0, 1]], s_[..., [0, -1]], s_[[-1, -3]],
    s_[[0, 2], ..., [1, 3]], s_[[0, 1], ::-1, 1:4:2], s_[None, [1, 0], None, [2, 3]],
    s_[1, [1, 2], 3], s_[[2], 1:3, 1], s_[[[2]], [[1], [0]], :], s_[:, [1, 2], ...],
    s_[np.array([0, 2], np.uint8), 1], s_[np.array([[1], [2]], np.int64), 0, [0, 3, 4]],
    s_[:, [0, 1], ..., [0, 1]], s_[:, 1, ..., [0, 1]], s_[1, [0, 3], ::-2, None],
    # boolean masks (concrete)
    M3, s_[:, M4], s_[M34], s_[1, M4], s_[M3, :, [0, 1]], s_[..., M4[:3].tolist() + [1, 0]],
    s_[[True, False, False]], s_[None, M34, 2], s_[M34, ::-1],
    # boolean scalars: 0-d masks, advanced indices into a new unit dimension
    True, False, s_[:, True], s_[..., True], np.array(True), np.bool_(False), s_[[0, 1], True],
    s_[:, True, [0, 1]], s_[:, [0, 1], :, True], s_[None, True, :, [1, 2]], s_[True, True],
    s_[True, 1, :, [1, 2]], s_[True, ..., False], s_[0, True, 1], s_[1, :, True],
]


@pytest.mark.parametrize("idx", GET_TABLE, ids=repr)
def test_get_table(idx) -> None:
    check_get(X, idx)


def test_get_whole_mask_and_dtypes() -> None:
    check_get(X, X > 30)
    for dt in (np.int32, np.bool_, np.float64, np.uint8, np.complex64):
        x = (np.arange(24).reshape(2, 3, 4) % 5).astype(dt)
        for idx in (1, s_[:, ::-1], s_[[1, 0], 2], s_[..., [3, 0, 3]], s_[:, M3, None]):
            check_get(x, idx)


def test_get_zero_size_and_scalar_operands() -> None:
    e = np.zeros((0, 3), np.float32)
    for idx in (s_[:], s_[:, 1], s_[::-1], s_[[]], s_[..., [2, 0]], s_[None]):
        check_get(e, idx)
    s = np.float32(3.5)
    for idx in ((), None, s_[...], s_[None, ..., None]):
        check_get(np.asarray(s), idx)


def test_get_keeps_dtype_and_weak_type() -> None:
    w = d.asarray(2.0)[None]
    assert w.type.weak and w.shape == (1,)
    assert d.asarray(np.arange(3, dtype=np.int64))[1].dtype == np.int64


def test_get_iteration() -> None:
    rows = list(d.asarray(X))
    assert len(rows) == 3
    for r, want in zip(rows, X):
        same(r, want)


# --- Program size ----------------------------------------------------------------------------

@pytest.mark.parametrize("idx,most", [
    (1, 2), (s_[1:3], 1), (s_[::-1], 1), (None, 1), (s_[1, 2], 2), (s_[:, None, 1], 2),
    (s_[1, ::-1], 3), ((), 0), (s_[[0, 2]], 1), (s_[:, [0, 2]], 2), (s_[..., 1:2], 1),
])
def test_program_size(idx, most) -> None:
    p = d.stage(lambda a: a[idx])(X)
    assert len(p.eqns) <= most, [e.op for e in p.eqns]


def test_basic_index_is_a_slice() -> None:
    names = [e.op.name for e in d.stage(lambda a: a[1])(X).eqns]
    assert names[0] == "slice" and names[-1] in ("squeeze", "reshape")
    names = [e.op.name for e in d.stage(lambda a: a[[0, 1], 1])(X).eqns]
    assert "gather" in names


# --- Symbolic indices ------------------------------------------------------------------------

@pytest.mark.parametrize("f", [
    lambda a, i: a[i], lambda a, i: a[:, i], lambda a, i: a[i, 1:3], lambda a, i: a[1, i, ::-1],
    lambda a, i: a[i, None], lambda a, i: a[..., i], lambda a, i: a[i, i, i],
    lambda a, i: a[i, [0, 2]], lambda a, i: a[[0, 2], :, i],
])
def test_symbolic_scalar_index(f) -> None:
    for k in range(-3, 3):
        same(evaluate(f)(X, np.int32(k)), f(X, k))
        same(evaluate(f)(X, k), f(X, k))  # a weak Python int
    for k in (3, 7, -4, -100):  # out of range: clamped, as in jax under jit
        same(evaluate(f)(X, np.int32(k)), np.asarray(jax.jit(f)(jnp.asarray(X), np.int32(k))))


@pytest.mark.parametrize("f", [
    lambda a, i: a[i], lambda a, i: a[:, i], lambda a, i: a[:, i, 0], lambda a, i: a[i, :, i],
    lambda a, i: a[1:, i, ::-1], lambda a, i: a[None, i, None], lambda a, i: a[i, 2, [[1], [4]]],
])
def test_symbolic_array_index(f) -> None:
    for i in (np.array([[0, 2], [1, -1]], np.int32), np.array([-3, 0, 2], np.int64),
              np.zeros((0,), np.int32), np.array(1, np.int8).reshape(1, 1)):
        same(evaluate(f)(X, i), f(X, i))
    i = np.array([[5, -7], [2, 100]], np.int32)  # out of range: clamped, like jax
    same(evaluate(f)(X, i), np.asarray(jax.jit(f)(jnp.asarray(X), i)))


def test_symbolic_index_in_eager_operand() -> None:
    x = d.asarray(X)
    same(evaluate(lambda i: x[i, ::-1])(np.int32(-1)), X[-1, ::-1])


def test_known_mask_under_staging_with_values() -> None:
    from dsl.staging import stage_with_tree

    p, _, _ = stage_with_tree(lambda a, m: a[m], (X, M3), known=True)
    assert p.out_types[0].shape == (2, 4, 5)


# --- Hypothesis: random indices against NumPy ------------------------------------------------

@st.composite
def mixed_indices(draw, shape: tuple[int, ...]):
    """An index mixing ints, slices, integer arrays, None and an optional ellipsis."""
    items: list = []
    dims = list(range(len(shape)))
    use_ellipsis = draw(st.booleans()) and dims
    cut = draw(st.integers(0, len(dims))) if use_ellipsis else len(dims)
    for dim in dims[:draw(st.integers(0, len(dims)))]:
        if use_ellipsis and dim == cut:
            items.append(Ellipsis)
            break
        n = shape[dim]
        kind = draw(st.sampled_from(["int", "slice", "array", "array", "none"]))
        if kind == "none":
            items.append(None)
        if kind == "int" and n:
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "array" and n:
            bshape = draw(st.sampled_from([(2,), (1, 2), (3, 1), (0,), ()]))
            items.append(draw(hnp.arrays(np.int32, bshape, elements=st.integers(-n, n - 1))))
        else:
            lo = draw(st.none() | st.integers(-n - 1, n + 1))
            hi = draw(st.none() | st.integers(-n - 1, n + 1))
            step = draw(st.none() | st.sampled_from([1, 2, -1, -2, 3]))
            items.append(slice(lo, hi, step))
    return tuple(items)


@given(st.data())
def test_mixed_indices_match_numpy(data) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    idx = data.draw(mixed_indices(shape))
    try:
        want = x[idx]
    except IndexError:  # NumPy refuses (arrays that do not broadcast together): so do we
        with pytest.raises(IndexError):
            d.asarray(x)[idx]
        return
    same(d.asarray(x)[idx], want)
    same(evaluate(lambda a: a[idx])(x), want)


@given(st.data())
def test_basic_indices_match_numpy(data) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    x = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    idx = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    check_get(x, idx)


@given(st.data())
def test_symbolic_array_indices_match_numpy(data) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    idx = data.draw(hnp.integer_array_indices(shape, dtype=np.int32))
    same(evaluate(lambda a, *i: a[i])(x, *idx), x[idx])


# --- Functional updates ----------------------------------------------------------------------

AT_TABLE = [
    1, -1, s_[1:3], s_[::-1], s_[::2, 1], s_[[0, 2]], s_[:, [1, 3], 2], s_[[0, 2], :, [1, 3]],
    s_[..., None], s_[None, 1], s_[-1, ::-2, [4, 0]], M3, s_[:, M4], s_[1, 2, 3], s_[1:3, 0],
    s_[:, :, 4:1:-1], s_[[[0], [2]], 1:4:2, [0, 2, 4]], s_[1, :, [0, 4]], s_[[]], s_[1:1],
    True, s_[1, False], s_[:, True, [0, 2]], s_[True, 2, :, [1, 3]],
]


def _values(x: np.ndarray, idx) -> np.ndarray:
    shape = x[idx].shape
    return (np.arange(int(np.prod(shape))) % 7 - 3).astype(x.dtype).reshape(shape)


@pytest.mark.parametrize("idx", AT_TABLE, ids=repr)
def test_at_set_and_combine(idx) -> None:
    for v in (_values(X, idx), np.float32(2.5)):
        want = X.copy()
        want[idx] = v
        same(d.asarray(X).at[idx].set(v), want)
        same(evaluate(lambda a, u: a.at[idx].set(u))(X, v), want)
        for method, ufunc in (("add", np.add), ("multiply", np.multiply), ("mul", np.multiply),
                              ("min", np.minimum), ("max", np.maximum)):
            want = X.copy()
            ufunc.at(want, idx, v)
            same(getattr(d.asarray(X).at[idx], method)(v), want)
            same(evaluate(lambda a, u: getattr(a.at[idx], method)(u))(X, v), want)


def test_at_get_is_getitem() -> None:
    for idx in (1, s_[[0, 2], :, 1], s_[::-1, None]):
        same(d.asarray(X).at[idx].get(), X[idx])


@pytest.mark.parametrize("idx", [s_[[1, 1, 2]], s_[[0, 0], :, [1, 1]], s_[[2, -1, 0, 2]],
                                 s_[[[1, 1], [1, 0]], 2]])
def test_repeated_indices_accumulate(idx) -> None:
    v = _values(X, idx)
    for method, ufunc in (("add", np.add), ("multiply", np.multiply), ("min", np.minimum),
                          ("max", np.maximum)):
        want = X.copy()
        ufunc.at(want, idx, v)
        same(getattr(d.asarray(X).at[idx], method)(v), want)
    got = np.asarray(d.asarray(X).at[idx].set(v))  # set keeps one of the repeated updates
    assert set(np.unique(got[idx])) <= set(np.unique(v))


def test_at_dtype_casting() -> None:
    xi = np.arange(6, dtype=np.int32)
    same(d.asarray(xi).at[1].set(2.7), np.array([0, 2, 2, 3, 4, 5], np.int32))
    same(d.asarray(xi).at[[0, 5]].add(np.float32(1.5)), np.array([1, 1, 2, 3, 4, 6], np.int32))
    same(d.asarray(X).at[0, 0, 0].add(1), X + (np.arange(60) == 0).reshape(X.shape))
    xb = np.zeros(4, bool)
    same(d.asarray(xb).at[[1, 1, 3]].add(True), np.array([False, True, False, True]))
    w = d.asarray(2.0).at[()].set(3)
    assert w.type.weak and float(w) == 3.0
    with pytest.raises(TypeError, match="complex"):
        d.asarray(X).at[0].set(1j)


def test_at_symbolic_index_and_values() -> None:
    def f(a, i, u):
        return a.at[i, 1:3].add(u)

    for k in (0, -1, 2):
        want = X.copy()
        want[k, 1:3] += 1.5
        same(evaluate(f)(X, np.int32(k), np.float32(1.5)), want)
    i = np.array([2, 0, 2], np.int32)
    u = np.ones((3, 2, 5), np.float32)
    want = X.copy()
    np.add.at(want, (i, slice(1, 3)), u)
    same(evaluate(f)(X, i, u), want)


def test_at_out_of_range_updates_follow_jax() -> None:
    x = np.arange(5, dtype=np.float32)
    j = jnp.asarray(x)
    i = np.array([7, -9, -1, 2], np.int32)
    u = np.array([10, 20, 30, 40], np.float32)
    for mode in (None, "drop", "clip", "fill", "promise_in_bounds"):
        if mode == "promise_in_bounds":
            i2 = np.array([-1, 2], np.int32)
            same(d.asarray(x).at[i2].set(u[:2], mode=mode), j.at[i2].set(u[:2], mode=mode))
            continue
        same(d.asarray(x).at[i].set(u, mode=mode), j.at[i].set(u, mode=mode))
        same(d.asarray(x).at[i].add(u, mode=mode), j.at[i].add(u, mode=mode))
        same(evaluate(lambda a, k: a.at[k].max(u, mode=mode))(x, i),
             j.at[i].max(u, mode=mode))
    for k in (5, -6, 100):  # symbolic scalars out of range: dropped (default) or clamped
        for mode in (None, "clip"):
            def f(a, k):
                return a.at[k].set(-1.0, mode=mode)

            same(evaluate(f)(x, np.int32(k)), jax.jit(f)(j, np.int32(k)))
    # a static int out of range with an explicit mode follows the mode, as in jax
    same(d.asarray(x).at[7].set(1.0, mode="drop"), j.at[7].set(1.0, mode="drop"))
    same(d.asarray(x).at[7].set(1.0, mode="clip"), j.at[7].set(1.0, mode="clip"))


def test_at_get_modes_follow_jax() -> None:
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    j = jnp.asarray(x)
    i = np.array([7, -9, -1, 2, -5, 5], np.int32)
    for mode, fill in ((None, None), ("clip", None), ("fill", None), ("drop", None),
                       ("fill", -3.0), (None, 4.0)):
        want = j.at[:, i].get(mode=mode, fill_value=fill)
        same(d.asarray(x).at[:, i].get(mode=mode, fill_value=fill), want)
        same(evaluate(lambda a, k: a.at[:, k].get(mode=mode, fill_value=fill))(x, i), want)
        want = jax.jit(lambda a, k: a.at[k, 1:].get(mode=mode, fill_value=fill))(j, np.int32(3))
        same(evaluate(lambda a, k: a.at[k, 1:].get(mode=mode, fill_value=fill))(
            x, np.int32(3)), want)
    xi = np.arange(5, dtype=np.int32)
    same(d.asarray(xi).at[i].get(mode="fill"), jnp.asarray(xi).at[i].get(mode="fill"))
    same(d.asarray(x).at[1, 9].get(mode="fill"), j.at[1, 9].get(mode="fill"))


# --- take, take_along_axis, put_along_axis ---------------------------------------------------

def test_take_matches_numpy_in_range() -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for idx, axis in (([0, 2, -1], 1), (np.array([[1], [0]]), 0), (5, None), (-1, 2),
                      (np.array([3, 3, 0]), -1), ([], 0)):
        same(d.take(a, idx, axis=axis), np.take(a, idx, axis=axis))
        same(evaluate(lambda v: d.take(v, idx, axis=axis))(a), np.take(a, idx, axis=axis))


def test_take_modes_follow_jax() -> None:
    for a in (np.arange(5, dtype=np.float32), np.arange(10, dtype=np.int32).reshape(2, 5)):
        i = np.array([-1, 2, 7, -6, 4], np.int32)
        for mode in (None, "fill", "clip", "wrap"):
            for axis in (None, -1):
                if mode in ("clip", "wrap"):  # NumPy's modes, which jax follows
                    want = np.take(a, i, axis=axis, mode=mode)
                else:
                    want = jnp.take(jnp.asarray(a), i, axis=axis, mode=mode)
                same(d.take(a, i, axis=axis, mode=mode), want)
                same(evaluate(lambda v, k: d.take(v, k, axis=axis, mode=mode))(a, i), want)
        same(d.take(a, i, axis=-1, fill_value=-2),
             jnp.take(jnp.asarray(a), i, axis=-1, fill_value=-2))
        same(evaluate(lambda v, k: d.take(v, k, axis=0))(a, np.int32(9)),
             jnp.take(jnp.asarray(a), np.int32(9), axis=0))


def test_take_edge_cases_follow_jax() -> None:
    x = np.arange(5, dtype=np.float32)
    j = jnp.asarray(x)
    i = np.array([9, -7, 1], np.int32)
    # fill_value only matters in mode fill
    same(d.take(x, i, mode="clip", fill_value=-1.0),
         jnp.take(j, i, mode="clip", fill_value=-1.0))
    same(d.take(np.arange(5, dtype=np.int32), i, fill_value=-1),
         jnp.take(jnp.arange(5, dtype=np.int32), i, fill_value=-1))
    u = np.array([0, 7, 2**31 + 5], np.uint32)
    for mode in (None, "clip"):
        want = jnp.take(j, u, mode=mode)
        same(d.take(x, u, mode=mode), want)
        same(evaluate(lambda v, k: d.take(v, k, mode=mode))(x, u), want)
    for mode in ("drop", "promise_in_bounds", "bogus"):  # jnp.take refuses these too
        with pytest.raises(ValueError, match="mode"):
            d.take(x, i, mode=mode)
    with pytest.raises(IndexError, match="size 0"):
        d.take(np.zeros((0, 2), np.float32), np.array([0]), axis=0)
    same(d.take(np.zeros((0, 2), np.float32), np.zeros(0, np.int32), axis=0),
         jnp.take(jnp.zeros((0, 2)), jnp.zeros(0, np.int32), axis=0))
    e = np.zeros((2, 0), np.float32)
    k = np.zeros((2, 3), np.int32)
    same(d.take_along_axis(e, k, 1), jnp.take_along_axis(e, k, 1))
    same(evaluate(lambda v: d.take_along_axis(v, k, 1))(e), jnp.take_along_axis(e, k, 1))


def test_take_along_axis_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    for axis in (0, 1, 2, -1):
        i = np.argsort(a, axis=axis)
        same(d.take_along_axis(a, i, axis), np.take_along_axis(a, i, axis))
        same(evaluate(lambda v, k: d.take_along_axis(v, k, axis))(a, i),
             np.take_along_axis(a, i, axis))
    for ishape, axis in (((3, 1, 5), 1), ((1, 4, 1), 2), ((2, 4, 1), 0), ((3, 4, 0), 2)):
        i = rng.integers(-3, 3, ishape)
        same(d.take_along_axis(a, i, axis), np.take_along_axis(a, i, axis))
    i = np.array([4, 0, 59, -1])
    same(d.take_along_axis(a, i, None), np.take_along_axis(a, i, None))
    b = np.ones((1, 4), np.float32)
    i = np.array([[0], [2], [1]])
    same(d.take_along_axis(b, i, 1), np.take_along_axis(b, i, 1))
    with pytest.raises(ValueError, match="broadcast"):  # as NumPy and jax refuse it
        d.take_along_axis(a, np.zeros((1, 2, 1), np.int32), 2)


def test_take_along_axis_out_of_range_follows_jax() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    i = np.array([[5], [-1]], np.int32)
    for mode in (None, "clip", "fill"):
        want = jnp.take_along_axis(jnp.asarray(a), i, axis=1, mode=mode)
        same(d.take_along_axis(a, i, 1, mode=mode), want)
        same(evaluate(lambda v, k: d.take_along_axis(v, k, 1, mode=mode))(a, i), want)
    same(d.take_along_axis(a, i, 1, fill_value=-1.0),
         jnp.take_along_axis(jnp.asarray(a), i, axis=1, fill_value=-1.0))


def test_put_along_axis_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    for axis in (0, 1):
        i = np.argsort(a, axis=axis)[:2] if axis == 0 else np.argsort(a, axis=axis)[:, :2]
        v = np.float32(-7.0)
        want = a.copy()
        np.put_along_axis(want, i, v, axis)
        same(d.put_along_axis(a, i, v, axis, inplace=False), want)
        same(evaluate(lambda x, k: d.put_along_axis(x, k, v, axis, inplace=False))(a, i), want)
    want = a.copy()
    np.put_along_axis(want, np.array([0, 11]), np.array([1.0, 2.0], np.float32), None)
    same(d.put_along_axis(a, np.array([0, 11]), np.array([1.0, 2.0], np.float32), None,
                          inplace=False), want)
    with pytest.raises(ValueError, match="inplace=False"):
        d.put_along_axis(a, i, 1.0, 1)


def test_put_follows_numpy_and_jax() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    for ind, v in (([7, -1, 2, -8], [10.0, 20.0, 30.0, 40.0]), ([[0, 4], [1, 3]], [1.5, 2.5, 3.5]),
                   (np.array([4, 0], np.uint8), np.array([[9]], np.int32)), ([], [1.0])):
        for mode in ("clip", "wrap"):  # NumPy's modes (its default mode raises instead)
            want = a.copy()
            np.put(want, ind, np.asarray(v).astype(a.dtype), mode=mode)
            same(d.put(a, ind, v, mode=mode, inplace=False), want)
            same(evaluate(lambda x, i: d.put(x, i, v, mode=mode, inplace=False))(
                a, np.asarray(ind, np.int32)), want)
    i = np.array([7, -1, 2, -9], np.int32)  # no mode: jax counts from the end, then clamps
    same(d.put(a, i, 5.0, inplace=False), jnp.put(jnp.asarray(a), i, 5.0, inplace=False))
    with pytest.raises(ValueError, match="inplace=False"):
        d.put(a, [0], 1.0)
    with pytest.raises(ValueError, match="mode"):
        d.put(a, [0], 1.0, mode="raise", inplace=False)


# --- dynamic_slice, dynamic_update_slice -----------------------------------------------------

def test_dynamic_slice_follows_jax() -> None:
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    for starts in ((0, 0), (1, 2), (-2, -1), (3, 4), (-9, 7), (100, -100)):
        for sizes in ((2, 3), (4, 5), (0, 1)):
            want = jax.lax.dynamic_slice(jnp.asarray(x), starts, sizes)
            same(d.dynamic_slice(x, starts, sizes), want)
            same(evaluate(lambda a, i, j: d.dynamic_slice(a, (i, j), sizes))(
                x, np.int32(starts[0]), np.int32(starts[1])), want)
    same(d.dynamic_slice(x, np.array([1, 1]), (2, 2)), x[1:3, 1:3])
    same(evaluate(lambda a, s: d.dynamic_slice(a, s, (2, 2)))(x, np.array([3, -1], np.int32)),
         jax.lax.dynamic_slice(jnp.asarray(x), np.array([3, -1], np.int32), (2, 2)))
    same(d.dynamic_slice_in_dim(x, 2, 2, axis=1), x[:, 2:4])
    same(d.dynamic_index_in_dim(x, -1, axis=0, keepdims=False), x[-1])
    same(evaluate(lambda a, i: d.dynamic_index_in_dim(a, i, 1))(x, np.int32(9)), x[:, 4:5])


def test_dynamic_update_slice_follows_jax() -> None:
    x = np.zeros((4, 5), np.float32)
    u = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    for starts in ((0, 0), (1, 2), (-1, -1), (3, 4), (-9, 7)):
        want = jax.lax.dynamic_update_slice(jnp.asarray(x), u, starts)
        same(d.dynamic_update_slice(x, u, starts), want)
        same(evaluate(lambda a, b, i, j: d.dynamic_update_slice(a, b, (i, j)))(
            x, u, np.int32(starts[0]), np.int32(starts[1])), want)
    same(d.dynamic_update_slice(np.zeros(3, np.int32), np.array([7], np.int32), [1]),
         np.array([0, 7, 0], np.int32))
    same(d.dynamic_update_slice(np.zeros(3, np.float32), d.asarray([2.0]), [-1]),
         np.array([0, 0, 2], np.float32))
    with pytest.raises(TypeError, match="f64"):
        d.dynamic_update_slice(x, u.astype(np.float64), (0, 0))
    with pytest.raises(ValueError, match="must fit"):
        d.dynamic_update_slice(x, np.zeros((5, 1), np.float32), (0, 0))
    with pytest.raises(ValueError, match="start indices"):
        d.dynamic_slice(x, (0,), (1, 1))


# --- Errors ----------------------------------------------------------------------------------

def test_out_of_range_static_index_names_index_and_type() -> None:
    x = d.asarray(np.zeros(3, np.float32))
    for i in (10, -4, np.int64(3)):
        with pytest.raises(IndexOutOfBounds, match=rf"index {int(i)} .*size 3.*f32\[3\]"):
            x[i]
        with pytest.raises(IndexError):
            evaluate(lambda a: a[i])(x)
    with pytest.raises(IndexError, match="out of bounds"):
        x.at[3].set(1.0)
    with pytest.raises(IndexError, match=r"index 2 .*axis 1 of size 2"):
        d.asarray(np.zeros((2, 2)))[0, 2]


def test_too_many_indices() -> None:
    x = d.asarray(np.zeros((3, 4), np.float32))
    with pytest.raises(IndexError, match=r"too many indices.*f32\[3,4\]"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="too many"):
        x[..., 0, [0], 1]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(IndexError, match="too many"):
        d.asarray(np.float32(1))[0]


def test_bad_index_types() -> None:
    x = d.asarray(np.zeros((3, 4), np.float32))
    with pytest.raises(InvalidIndex, match="float"):  # NumPy: IndexError, jax: TypeError
        x[1.0]
    for bad in (1.5, np.array([1.0]), "a", [[0], [1, 2]], slice(0.5, None)):
        with pytest.raises(IndexError):
            x[bad]
        with pytest.raises(TypeError):
            x.at[bad].set(0.0)
    with pytest.raises(TypeError, match=r"f64\[1\]"):
        x[np.array([1.0])]
    with pytest.raises(TypeError, match="f32"):
        x[np.float32(1)]
    with pytest.raises(TypeError, match=r"f32\[\]"):
        evaluate(lambda a, i: a[i])(x, np.float32(1))
    with pytest.raises(TypeError, match="not a valid index"):
        x["a"]
    with pytest.raises(IndexError, match=r"too many indices.*f32\[3,4\]"):
        x[True, 0, 0, 0]
    with pytest.raises(TypeError, match="slice bounds"):
        x[1.5:]
    with pytest.raises(ValueError, match="step cannot be zero"):
        x[::0]


def test_symbolic_mask_and_slice_bounds_are_refused() -> None:
    x = np.arange(4, dtype=np.float32)
    with pytest.raises(d.ConcretizationError, match=r"d\.where"):
        evaluate(lambda a: a[a > 1])(x)
    with pytest.raises(TypeError, match="depends on the data"):
        evaluate(lambda a, m: a[m])(x, x > 1)
    with pytest.raises(d.ConcretizationError, match=r"d\.where"):
        evaluate(lambda a, b: a[b])(x, np.bool_(True))
    with pytest.raises(d.ConcretizationError, match="dynamic_slice"):
        evaluate(lambda a, i: a[i:i + 2])(x, np.int32(1))


def test_index_shape_errors() -> None:
    x = d.asarray(X)
    with pytest.raises(IndexError, match="boolean index of shape"):
        x[np.array([True, False])]
    with pytest.raises(IndexError, match="do not broadcast"):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(IndexError, match=r"do not broadcast.*f32\[3,4,5\]"):
        evaluate(lambda a, i: a[i, 2, [1, 4]])(X, np.array([0, 1, 2], np.int64))
    with pytest.raises(ValueError, match=r"do not broadcast to the indexed shape \[4, 5\]"):
        x.at[0].set(np.ones((3, 5), np.float32))
    same(x.at[0].set(np.ones((1, 1, 4, 5), np.float32)), np.where(
        np.arange(3)[:, None, None] == 0, 1.0, X).astype(np.float32))
    with pytest.raises(IndexError, match="size 0"):
        evaluate(lambda a, i: a[i])(np.zeros((0, 2), np.float32), np.int32(0))
    with pytest.raises(ValueError, match="mode must be one of"):
        x.at[0].get(mode="wrong")
    with pytest.raises(ValueError, match="mode"):
        d.take(X, [0], mode="raise")
    with pytest.raises(TypeError, match="indices must be integers"):
        d.take(X, np.array([0.5]))
    with pytest.raises(ValueError, match="rank"):
        d.take_along_axis(X, np.zeros((3, 4), int), 0)
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 1.0
