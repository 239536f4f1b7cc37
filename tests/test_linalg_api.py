"""The NumPy-named products (dot, vdot, matmul, inner, outer, tensordot, einsum, trace, kron,
cross, vecdot) against NumPy, eagerly and staged, with JAX's 32-bit promotion for dtypes.

Expected values are NumPy's, computed in 64 bits and rounded to the dtype our promotion rules
give (`jnp.promote_types`, the same lattice with 32-bit defaults). Hypothesis draws compatible
shapes, zero-size dimensions included, and random `einsum` subscripts (repeated labels, implicit
and explicit outputs, ellipses).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_numpy_api import check, same

import dsl as d
from dsl import dtypes as D
from dsl.testing import arrays, shapes
from dsl.types import TensorType

F32, F64, I32, I8, BOOL, C64 = D.float32, D.float64, D.int32, D.int8, D.bool_, D.complex64
PRODUCT_DTYPES = (F32, F64, I32, I8, C64)


def _promoted(*xs: np.ndarray) -> np.dtype:
    dt = xs[0].dtype
    for x in xs[1:]:
        dt = jnp.promote_types(dt, x.dtype)
    return np.dtype(dt)


@st.composite
def operand_pair(draw: Any, a_rank: tuple[int, int], b_rank: tuple[int, int]) -> Any:
    dts = draw(st.tuples(st.sampled_from(PRODUCT_DTYPES), st.sampled_from(PRODUCT_DTYPES)))
    k = draw(st.integers(0, 4))
    a_shape = draw(shapes(*a_rank, 0, 3))
    b_shape = draw(shapes(*b_rank, 0, 3))
    return draw(arrays(TensorType(a_shape, dts[0]), (-3, 3))), draw(
        arrays(TensorType(b_shape, dts[1]), (-3, 3))), k


def _with_dim(shape: tuple[int, ...], at: int, n: int) -> tuple[int, ...]:
    s = list(shape)
    s[at] = n
    return tuple(s)


@given(operand_pair((0, 3), (0, 3)))
def test_dot_inner_outer_vdot(case: Any) -> None:
    a, b, k = case
    dt = _promoted(a, b)
    if a.ndim and b.ndim:  # make the contracted dimensions agree
        a = np.resize(a, _with_dim(a.shape, -1, k))
        b = np.resize(b, _with_dim(b.shape, 0 if b.ndim == 1 else -2, k))
    check(d.dot, np.dot, a, b, dtype=dt, wide=True)
    check(lambda x, y: x.dot(y), np.dot, a, b, dtype=dt, wide=True)
    check(d.outer, np.outer, a, b, dtype=dt, wide=True)
    if a.ndim and b.ndim:
        b2 = np.resize(b, _with_dim(b.shape, -1, k))
        check(d.inner, np.inner, a, b2, dtype=dt, wide=True)
    if a.size == b.size:
        check(d.vdot, lambda x, y: np.vdot(x, y), a, b, dtype=dt, wide=True)


@st.composite
def matmul_pair(draw: Any) -> Any:
    dts = draw(st.tuples(st.sampled_from(PRODUCT_DTYPES), st.sampled_from(PRODUCT_DTYPES)))
    m, k, n = (draw(st.integers(0, 3)) for _ in range(3))
    batch = draw(shapes(0, 2, 0, 3))
    a_batch = tuple(draw(st.sampled_from([s, 1])) for s in batch)
    b_batch = tuple(draw(st.sampled_from([s, 1])) for s in batch)
    a_batch = a_batch[draw(st.integers(0, len(a_batch))):]
    b_batch = b_batch[draw(st.integers(0, len(b_batch))):]
    a_shape = draw(st.sampled_from([(k,), a_batch + (m, k)]))
    b_shape = draw(st.sampled_from([(k,), b_batch + (k, n)]))
    return (draw(arrays(TensorType(a_shape, dts[0]), (-3, 3))),
            draw(arrays(TensorType(b_shape, dts[1]), (-3, 3))))


@given(matmul_pair())
def test_matmul_broadcasts_like_numpy(pair: Any) -> None:
    a, b = pair
    dt = _promoted(a, b)
    check(d.matmul, np.matmul, a, b, dtype=dt, wide=True)
    check(lambda x, y: x @ y, np.matmul, a, b, dtype=dt, wide=True)
    if a.ndim >= 2 and b.ndim >= 2:
        check(lambda x, y: d.matmul(y.mT, x.mT),
              lambda x, y: np.matmul(np.swapaxes(y, -1, -2), np.swapaxes(x, -1, -2)), a, b,
              dtype=dt, wide=True)


@settings(max_examples=20)
@given(st.data())
def test_tensordot(data: Any) -> None:
    dt = data.draw(st.sampled_from((F32, I32)))
    a_shape = data.draw(shapes(0, 4, 0, 3))
    n = data.draw(st.integers(0, len(a_shape)))
    a_axes = data.draw(st.permutations(range(len(a_shape))))[:n]
    b_rest = data.draw(shapes(0, 2, 0, 3))
    b_order = data.draw(st.permutations(range(n + len(b_rest))))
    b_shape = [0] * (n + len(b_rest))
    b_axes = b_order[:n]
    for ax_a, ax_b in zip(a_axes, b_axes):
        b_shape[ax_b] = a_shape[ax_a]
    for ax_b, size in zip(b_order[n:], b_rest):
        b_shape[ax_b] = size
    a = data.draw(arrays(TensorType(a_shape, dt)))
    b = data.draw(arrays(TensorType(tuple(b_shape), F32)))
    neg = [ax - len(a_shape) for ax in a_axes]
    check(lambda x, y: d.tensordot(x, y, (neg, b_axes)),
          lambda x, y: np.tensordot(x, y, (a_axes, b_axes)), a, b, dtype=F32, wide=True)
    # the integer form: the last n axes of a with the first n of b
    b2 = data.draw(arrays(TensorType(tuple(a_shape[len(a_shape) - n:]) + tuple(b_rest), F32)))
    check(lambda x, y: d.tensordot(x, y, n), lambda x, y: np.tensordot(x, y, n), a, b2,
          dtype=F32, wide=True)


@st.composite
def einsum_case(draw: Any) -> Any:
    sizes = {c: draw(st.sampled_from([2, 3, 1, 0])) for c in "abcde"}  # shrinks toward 2
    n_ops = draw(st.integers(1, 3))
    ell = draw(st.sampled_from([(), (2,), (3, 1), (1,)])) if draw(st.booleans()) else None
    terms, ops = [], []
    for _ in range(n_ops):
        labels = draw(st.lists(st.sampled_from("abcde"), min_size=draw(st.sampled_from([1, 0])),
                               max_size=3))
        shape = [sizes[c] for c in labels]
        term = "".join(labels)
        if ell is not None and draw(st.booleans()):
            cut = draw(st.integers(0, len(ell)))
            e = tuple(draw(st.sampled_from([n, 1])) for n in ell[cut:])
            term = "..." + term
            shape = list(e) + shape
        terms.append(term)
        ops.append(draw(arrays(TensorType(tuple(shape), draw(st.sampled_from((F32, I32)))),
                               (-2, 2))))
    used = sorted({c for t in terms for c in t if c.isalpha()})
    spec = ",".join(terms)
    if draw(st.booleans()):
        out = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
        has_ell = any("..." in t for t in terms)
        spec += "->" + ("..." if has_ell else "") + "".join(out)
    return spec, ops


@settings(max_examples=40)
@given(einsum_case())
def test_einsum_matches_numpy(case: Any) -> None:
    spec, ops = case
    check(lambda *xs: d.einsum(spec, *xs), lambda *xs: np.einsum(spec, *xs), *ops,
          dtype=_promoted(*ops), wide=True)


EINSUM_TABLE = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]), ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]), ("i,i", [(4,), (4,)]),
    ("i,j->ij", [(2,), (3,)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("...i,...i", [(3, 4), (4,)]),
    ("iij->j", [(2, 2, 3)]), ("ijk,kj,i->", [(2, 3, 4), (4, 3), (2,)]),
    ("a,b,c->cba", [(2,), (3,), (1,)]), ("ij ,jk -> ki", [(2, 3), (3, 1)]),
    ("ij,ij->ij", [(2, 3), (1, 3)]), ("...", [(2, 3)]), ("i->", [(0,)]),
]


@pytest.mark.parametrize("spec, shapes_", EINSUM_TABLE, ids=[c[0] for c in EINSUM_TABLE])
def test_einsum_table(spec: str, shapes_: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(1)
    ops = [rng.standard_normal(s).astype(np.float32) for s in shapes_]
    check(lambda *xs: d.einsum(spec, *xs), lambda *xs: np.einsum(spec, *xs), *ops,
          dtype=F32, wide=True)


def test_einsum_forms_and_dtypes() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    check(lambda x, y: d.einsum(x, [0, 1], y, [1, 2], [0, 2]),
          lambda x, y: np.einsum(x, [0, 1], y, [1, 2], [0, 2]), a, b, dtype=F32, wide=True)
    check(lambda x, y: d.einsum(x, [Ellipsis, 1], y, [1, 2]),
          lambda x, y: np.einsum(x, [Ellipsis, 1], y, [1, 2]), a, b, dtype=F32, wide=True)
    m = np.array([[True, False], [False, False]])
    check(lambda x, y: d.einsum("ij,jk->ik", x, y), lambda x, y: (x.astype(int) @ y) > 0,
          m, m.T.copy())
    i8 = np.full((2, 40), 100, np.int8)
    check(lambda x: d.einsum("ij,kj->ik", x, x, preferred_element_type=I32),
          lambda x: x.astype(np.int32) @ x.T.astype(np.int32), i8)
    check(lambda x, y: d.einsum("i,i", x, y), lambda x, y: np.einsum("i,i", x, y),
          np.arange(3, dtype=np.int8), np.arange(3.0, dtype=np.float16), dtype=D.float16,
          wide=True)


def test_product_dtypes_match_jax() -> None:
    def both(ours: Any, theirs: Any) -> None:
        got, want = ours(), theirs()
        assert (got.dtype, got.weak) == (np.dtype(want.dtype), jax.typeof(want).weak_type)
        np.testing.assert_allclose(np.asarray(got, np.float64) if got.dtype != C64
                                   else np.asarray(got), np.asarray(want), rtol=1e-5)

    i8 = np.ones((2, 3), np.int8)
    f16 = np.ones((2, 3), np.float16)
    bl = np.ones((2, 3), bool)
    both(lambda: d.dot(2.0, d.ones(3)), lambda: jnp.dot(2.0, jnp.ones(3)))
    both(lambda: d.dot(i8, i8.T), lambda: jnp.dot(i8, i8.T))
    both(lambda: d.matmul(bl, bl.T), lambda: jnp.matmul(bl, bl.T))
    both(lambda: d.matmul(f16, i8.T), lambda: jnp.matmul(f16, i8.T))
    both(lambda: d.matmul(i8, i8.T, preferred_element_type=I32),
         lambda: jnp.matmul(i8, i8.T, preferred_element_type=jnp.int32))
    both(lambda: d.dot(f16, f16.T, preferred_element_type=F32),
         lambda: jnp.dot(f16, f16.T, preferred_element_type=jnp.float32))
    both(lambda: d.outer(2.0, d.ones(3, dtype=D.float16)),
         lambda: jnp.outer(2.0, jnp.ones(3, dtype=jnp.float16)))
    both(lambda: d.inner(i8, 3), lambda: jnp.inner(i8, 3))
    both(lambda: d.tensordot(bl, bl, 2), lambda: jnp.tensordot(bl, bl, 2))
    both(lambda: d.trace(i8[:, :2]), lambda: jnp.trace(i8[:, :2]))
    both(lambda: d.kron(d.ones(2), 2), lambda: jnp.kron(jnp.ones(2), 2))
    both(lambda: d.cross(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0], np.float32)),
         lambda: jnp.cross(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0], np.float32)))
    both(lambda: d.vecdot(i8, i8), lambda: jnp.vecdot(i8, i8))
    both(lambda: d.vdot(np.ones(3, C64), np.ones(3, np.float32)),
         lambda: jnp.vdot(np.ones(3, C64), np.ones(3, np.float32)))
    assert d.dot(np.ones(2), np.ones(2)).dtype == F64  # an explicit f64 is kept


def test_other_products() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    x3 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    c = (rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))).astype(np.complex64)
    check(d.trace, np.trace, x)
    check(lambda a: d.trace(a, 1, 2, 0), lambda a: np.trace(a, 1, 2, 0), x3)
    check(lambda a: d.trace(a, -1, dtype=D.float64), lambda a: np.trace(a, -1), x, dtype=F64,
          wide=True)
    check(d.kron, np.kron, x, x3[0, :2, :2])
    check(d.kron, np.kron, x[0], x3)
    check(d.cross, np.cross, x3[..., :3], x[:, 1:])
    check(lambda a, b: d.cross(a, b, axisa=0, axisb=1, axisc=0),
          lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0), x[:, :2], x[:2, 1:])
    check(lambda a, b: d.cross(a, b, axis=0), lambda a, b: np.cross(a, b, axis=0), x, x[::-1])
    check(d.vecdot, np.vecdot, c, c[::-1])
    check(lambda a, b: d.vecdot(a, b, axis=0), lambda a, b: np.vecdot(a, b, axis=0), x, x[:, :1])
    check(d.vdot, np.vdot, c, c[::-1])
    check(d.dot, np.dot, c, c.T)


ERRORS: list[tuple[str, Any, type[Exception], str]] = [
    ("dot", lambda x, v: d.dot(x, x), d.ShapeError,
     r"dot: contracting dimensions differ: f32\[3,4\] . f32\[3,4\]"),
    ("dot vector", lambda x, v: d.dot(x, v), d.ShapeError, r"dot: .*f32\[3,4\] . f32\[3\]"),
    ("matmul", lambda x, v: d.matmul(x, x), d.ShapeError, r"matmul: .*f32\[3,4\] @ f32\[3,4\]"),
    ("matmul operator", lambda x, v: x @ v, d.ShapeError, r"matmul: .*f32\[3,4\] @ f32\[3\]"),
    ("matmul scalar", lambda x, v: d.matmul(x, 2.0), d.ShapeError, r"matmul: .*f32\[\]"),
    ("matmul batch", lambda x, v: d.matmul(d.ones((2, 3, 4)), d.ones((3, 4, 5))), d.ShapeError,
     r"matmul: batch dimensions .*f32\[2,3,4\] @ f32\[3,4,5\]"),
    ("vdot", lambda x, v: d.vdot(x, v), d.ShapeError, r"vdot: .*f32\[12\] . f32\[3\]"),
    ("inner", lambda x, v: d.inner(x, v), d.ShapeError, r"inner: .*f32\[3,4\] , f32\[3\]"),
    ("tensordot", lambda x, v: d.tensordot(x, x, 1), d.ShapeError, r"tensordot: .*f32\[3,4\]"),
    ("tensordot pairs", lambda x, v: d.tensordot(x, x, ((0,), (0, 1))), d.ShapeError,
     r"tensordot: .*pair up"),
    ("tensordot count", lambda x, v: d.tensordot(x, x, 3), d.ShapeError, r"tensordot: .*3 axes"),
    ("tensordot axis", lambda x, v: d.tensordot(x, x, ((2,), (0,))), d.ShapeError,
     r"tensordot: axis 2 .*f32\[3,4\]"),
    ("tensordot repeated", lambda x, v: d.tensordot(x, x.T, ((0, 0), (1, 1))), d.ShapeError,
     r"tensordot: repeated"),
    ("tensordot form", lambda x, v: d.tensordot(x, x, "ab"), TypeError, r"tensordot"),
    ("einsum count", lambda x, v: d.einsum("ij,jk", x), ValueError, r"einsum: .*2 operands"),
    ("einsum rank", lambda x, v: d.einsum("ijk", x), d.ShapeError, r"einsum: .*f32\[3,4\]"),
    ("einsum sizes", lambda x, v: d.einsum("ij,ij", x, x.T), d.ShapeError,
     r"einsum: label 'i' .*f32\[4,3\]"),
    ("einsum diagonal", lambda x, v: d.einsum("ii", x), d.ShapeError, r"einsum: .*f32\[3,4\]"),
    ("einsum character", lambda x, v: d.einsum("i1", x), ValueError, r"einsum: invalid"),
    ("einsum output", lambda x, v: d.einsum("ij->k", x), ValueError, r"einsum: output label"),
    ("einsum output repeated", lambda x, v: d.einsum("ij->ii", x), ValueError, r"einsum"),
    ("einsum arrows", lambda x, v: d.einsum("i->i->i", v), ValueError, r"einsum"),
    ("einsum ellipses", lambda x, v: d.einsum("......", x), ValueError, r"einsum"),
    ("einsum output ellipsis", lambda x, v: d.einsum("...i->i", x), d.ShapeError, r"einsum"),
    ("einsum no operands", lambda x, v: d.einsum("i"), ValueError, r"einsum"),
    ("trace", lambda x, v: d.trace(v), d.ShapeError, r"trace: .*f32\[3\]"),
    ("trace axes", lambda x, v: d.trace(x, 0, 0, 0), d.ShapeError, r"diagonal: .*f32\[3,4\]"),
    ("cross size", lambda x, v: d.cross(x, x), d.ShapeError, r"cross: .*f32\[3,4\]"),
    ("cross scalar", lambda x, v: d.cross(v, 1.0), d.ShapeError, r"cross"),
    ("vecdot", lambda x, v: d.vecdot(x, d.ones((3, 5))), d.ShapeError,
     r"vecdot: .*f32\[3,4\] , f32\[3,5\]"),
]


@pytest.mark.parametrize("fn, exc, pattern", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_products_raise_typed_errors(fn: Any, exc: type[Exception], pattern: str) -> None:
    x, v = d.ones((3, 4)), d.ones(3)
    with pytest.raises(exc, match=pattern) as info:
        fn(x, v)
    assert "(at test_linalg_api.py:" in str(info.value)  # the user's line, not ours
    if exc is d.ShapeError:  # the same check fires while staging
        with pytest.raises(exc, match=pattern.split(":")[0]):
            d.stage(fn)(TensorType((3, 4), F32), TensorType((3,), F32))


def test_staged_programs_use_one_dot_general() -> None:
    prog = d.stage(lambda a, b: d.matmul(a, b))(TensorType((5, 2, 3), F32), TensorType((3, 4), F32))
    assert [e.op.name for e in prog.eqns] == ["dot_general"]
    prog = d.stage(lambda a, b: d.einsum("bij,bjk->bik", a, b))(
        TensorType((5, 2, 3), F32), TensorType((5, 3, 4), F32))
    assert [e.op.name for e in prog.eqns] == ["dot_general"]
    assert prog.out_types[0] == TensorType((5, 2, 4), F32)
    same(d.einsum("ij,jk->ik", np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)),
         np.eye(2, dtype=np.float32))


def test_non_arrays_are_refused() -> None:
    for f in (d.kron, d.dot, d.matmul, d.outer, d.tensordot, d.inner, d.vdot, d.vecdot,
              d.cross, d.trace):
        for bad in ("a", object(), [[1, 2], [3]]):
            with pytest.raises((TypeError, ValueError), match=f.__name__) as info:
                f(bad, d.ones(3)) if f is not d.trace else f(bad)
            assert "(at test_linalg_api.py:" in str(info.value)
        with pytest.raises(d.DTypeError, match=rf"{f.__name__}: .*<U1"):
            f(np.array(["a", "b", "c"]), d.ones(3)) if f is not d.trace else f(np.array([["a"]]))
    with pytest.raises(TypeError, match="einsum: subscripts"):
        d.einsum(d.ones(2), object())
