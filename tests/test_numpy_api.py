"""The NumPy-named creation, manipulation and reduction functions against NumPy (and JAX).

Every function runs twice: eagerly on concrete arrays, and staged (`evaluate(f)` stages `f` on
symbolic inputs and runs the program with the reference interpreter). Both must give NumPy's
values with the dtype our 32-bit defaults prescribe. Expected values come from NumPy (computed in
64 bits and rounded to the expected dtype) or, for dtypes and weak types, from `jax.numpy`.
Hypothesis draws shapes (zero-size dimensions included), axes (negative and tuples) and
`keepdims`; tables cover the rest. Bad inputs must raise our typed errors, naming the function
and the offending types.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typeguard import suppress_type_checks

import dsl as d
from dsl import dtypes as D
from dsl import numpy_api as api
from dsl.testing import arrays, shapes
from dsl.types import TensorType
from interpreters import evaluate

F32, F64, I32, I8, U8, BOOL = D.float32, D.float64, D.int32, D.int8, D.uint8, D.bool_
RTOL = {D.float64: 1e-10, D.float32: 2e-5, D.float16: 2e-2, D.bfloat16: 2e-2,
        D.complex64: 2e-5, D.complex128: 1e-10}


def _wide(x: Any) -> Any:
    x = np.asarray(x)
    if D.is_complex(x.dtype):
        return x.astype(np.complex128)
    if D.is_floating(x.dtype):
        return x.astype(np.float64)
    if D.is_unsigned(x.dtype):
        return x.astype(np.uint64)
    if D.is_integer(x.dtype):
        return x.astype(np.int64)
    return x


def same(got: Any, want: Any, what: str = "") -> None:
    """`got` is an `Array` with exactly `want`'s dtype and shape and (nearly) its values."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), what
        for g, w in zip(got, want):
            same(g, w, what)
        return
    assert isinstance(got, d.Array), f"{what}: got a {type(got).__name__}"
    g, w = np.asarray(got), np.asarray(want)
    assert g.dtype == w.dtype, f"{what}: dtype {g.dtype}, expected {w.dtype}"
    assert g.shape == w.shape, f"{what}: shape {g.shape}, expected {w.shape}"
    if D.is_inexact(w.dtype):
        tol = RTOL[w.dtype]
        np.testing.assert_allclose(_wide(g), _wide(w), rtol=tol, atol=tol, equal_nan=True,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(g, w, err_msg=what)


def _cast(want: Any, dtype: Any) -> Any:
    if isinstance(want, (tuple, list)):
        return type(want)(_cast(w, dtype) for w in want)
    with np.errstate(all="ignore"):
        return np.asarray(want).astype(dtype)


def check(f: Callable[..., Any], ref: Callable[..., Any], *args: np.ndarray,
          dtype: Any = None, wide: bool = False) -> Any:
    """`f` eager and staged against the NumPy reference `ref`.

    With `wide`, `ref` sees the inputs widened to 64 bits; with `dtype`, its result is cast to
    that dtype (the dtype our result must have); otherwise our dtype must be NumPy's.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's warnings about empty or degenerate slices
        want = ref(*(_wide(a) if wide else a for a in args))
    if dtype is not None:
        want = _cast(want, dtype)
    eager = f(*(d.asarray(a) for a in args))
    same(eager, want, "eager")
    staged = evaluate(f)(*args)
    same(staged, want, "staged")
    return eager


RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4)).astype(np.float32)
X3 = RNG.standard_normal((2, 3, 4)).astype(np.float32)
I = RNG.integers(-5, 6, (3, 4)).astype(np.int32)
B = RNG.random((3, 4)) > 0.5


# ---------------------------------------------------------------------------------------------
# Creation.

CREATION: list[tuple[str, Callable[[], Any], Callable[[], Any], Any]] = [
    ("zeros", lambda: d.zeros((2, 3)), lambda: np.zeros((2, 3)), F32),
    ("zeros int", lambda: d.zeros(4, dtype=int), lambda: np.zeros(4), I32),
    ("zeros empty", lambda: d.zeros((0, 3), D.float64), lambda: np.zeros((0, 3)), F64),
    ("zeros scalar", lambda: d.zeros(()), lambda: np.zeros(()), F32),
    ("ones", lambda: d.ones([2, 1], dtype="bool"), lambda: np.ones((2, 1)), BOOL),
    ("ones np int", lambda: d.ones(np.int64(3)), lambda: np.ones(3), F32),
    ("empty", lambda: d.empty((2,)), lambda: np.zeros(2), F32),
    ("full float", lambda: d.full((2, 3), 1.5), lambda: np.full((2, 3), 1.5), F32),
    ("full int", lambda: d.full(3, 7), lambda: np.full(3, 7), I32),
    ("full dtype", lambda: d.full((2,), 3, dtype=D.uint8), lambda: np.full(2, 3), U8),
    ("full row", lambda: d.full((2, 3), [1.0, 2.0, 3.0]), lambda: np.full((2, 3), [1., 2., 3.]),
     F32),
    ("full f64 value", lambda: d.full(2, np.array(0.1)), lambda: np.full(2, 0.1), F64),
    ("full bool", lambda: d.full(2, True), lambda: np.full(2, True), BOOL),
    ("zeros_like", lambda: d.zeros_like(I), lambda: np.zeros_like(I), I32),
    ("ones_like dtype", lambda: d.ones_like(I, dtype=D.float16), lambda: np.ones((3, 4)),
     D.float16),
    ("ones_like shape", lambda: d.ones_like(X, shape=(2,)), lambda: np.ones(2), F32),
    ("full_like", lambda: d.full_like(I, 2.7), lambda: np.full_like(I, 2.7), I32),
    ("full_like dtype", lambda: d.full_like(B, 2.5, dtype=float), lambda: np.full((3, 4), 2.5),
     F32),
    ("empty_like", lambda: d.empty_like(X), lambda: np.zeros_like(X), F32),
    ("arange", lambda: d.arange(5), lambda: np.arange(5), I32),
    ("arange start stop step", lambda: d.arange(2, 11, 3), lambda: np.arange(2, 11, 3), I32),
    ("arange negative step", lambda: d.arange(10, 0, -3), lambda: np.arange(10, 0, -3), I32),
    ("arange empty", lambda: d.arange(5, 2), lambda: np.arange(5, 2), I32),
    ("arange float", lambda: d.arange(0.5, 3.2, 0.3), lambda: np.arange(0.5, 3.2, 0.3), F32),
    ("arange float stop", lambda: d.arange(3.0), lambda: np.arange(3.0), F32),
    ("arange dtype", lambda: d.arange(4, dtype=D.float64), lambda: np.arange(4.0), F64),
    ("arange np int64", lambda: d.arange(np.int64(4)), lambda: np.arange(4), D.int64),
    ("linspace", lambda: d.linspace(0, 1, 5), lambda: np.linspace(0, 1, 5), F32),
    ("linspace default num", lambda: d.linspace(-2.0, 3.0), lambda: np.linspace(-2, 3), F32),
    ("linspace no endpoint", lambda: d.linspace(1, 2, 4, endpoint=False),
     lambda: np.linspace(1, 2, 4, endpoint=False), F32),
    ("linspace one", lambda: d.linspace(3, 5, 1), lambda: np.linspace(3, 5, 1), F32),
    ("linspace zero", lambda: d.linspace(3, 5, 0), lambda: np.linspace(3, 5, 0), F32),
    ("linspace int dtype", lambda: d.linspace(-3, 10, 6, dtype=int),
     lambda: np.linspace(-3, 10, 6, dtype=np.int64), I32),
    ("linspace arrays", lambda: d.linspace(np.zeros(2), np.array([1.0, 2.0]), 3),
     lambda: np.linspace(np.zeros(2), [1.0, 2.0], 3), F64),
    ("linspace axis", lambda: d.linspace([0.0, 1.0], 5.0, 4, axis=-1),
     lambda: np.linspace([0.0, 1.0], 5.0, 4, axis=-1), F32),
    ("linspace retstep", lambda: d.linspace(0, 1, 5, retstep=True),
     lambda: np.linspace(0, 1, 5, retstep=True), F32),
    ("logspace", lambda: d.logspace(0, 3, 4), lambda: np.logspace(0, 3, 4), F32),
    ("logspace base", lambda: d.logspace(0, 4, 5, base=2.0, endpoint=False),
     lambda: np.logspace(0, 4, 5, base=2.0, endpoint=False), F32),
    ("geomspace", lambda: d.geomspace(1, 1000, 4), lambda: np.geomspace(1, 1000, 4), F32),
    ("geomspace negative", lambda: d.geomspace(-1, -16, 5), lambda: np.geomspace(-1, -16, 5),
     F32),
    ("eye", lambda: d.eye(3), lambda: np.eye(3), F32),
    ("eye rect k", lambda: d.eye(3, 5, k=2), lambda: np.eye(3, 5, k=2), F32),
    ("eye negative k", lambda: d.eye(4, 2, k=-1, dtype=int), lambda: np.eye(4, 2, k=-1), I32),
    ("eye empty", lambda: d.eye(0), lambda: np.eye(0), F32),
    ("identity", lambda: d.identity(2, dtype=bool), lambda: np.identity(2), BOOL),
    ("tri", lambda: d.tri(3, 4, k=1), lambda: np.tri(3, 4, k=1), F32),
    ("indices", lambda: d.indices((2, 3)), lambda: np.indices((2, 3)), I32),
    ("indices empty", lambda: d.indices(()), lambda: np.indices(()), I32),
    ("indices sparse", lambda: d.indices((2, 0, 3), sparse=True),
     lambda: np.indices((2, 0, 3), sparse=True), I32),
    ("tril_indices", lambda: d.tril_indices(3, 1, 4), lambda: np.tril_indices(3, 1, 4), I32),
    ("triu_indices", lambda: d.triu_indices(4, -1), lambda: np.triu_indices(4, -1), I32),
    ("tril_indices_from", lambda: d.tril_indices_from(X), lambda: np.tril_indices_from(X), I32),
    ("triu_indices_from", lambda: d.triu_indices_from(X, 2), lambda: np.triu_indices_from(X, 2),
     I32),
    ("diag_indices", lambda: d.diag_indices(3, 3), lambda: np.diag_indices(3, 3), I32),
    # `d.array` is shadowed by the module dsl.array (see the report); use the API's name
    ("array ndmin", lambda: api.array([1, 2], ndmin=3), lambda: np.array([1, 2], ndmin=3), I32),
    ("array dtype", lambda: api.array([[1, 2]], dtype=D.float64), lambda: np.array([[1., 2.]]),
     F64),
    ("meshgrid xy", lambda: d.meshgrid(np.arange(3), np.arange(2.0), np.arange(4)),
     lambda: np.meshgrid(np.arange(3), np.arange(2.0), np.arange(4)), None),
    ("meshgrid ij sparse", lambda: d.meshgrid(np.arange(3), np.arange(2), indexing="ij",
                                              sparse=True),
     lambda: np.meshgrid(np.arange(3), np.arange(2), indexing="ij", sparse=True), None),
]


@pytest.mark.parametrize("ours, ref, dtype", [c[1:] for c in CREATION],
                         ids=[c[0] for c in CREATION])
def test_creation_matches_numpy(ours: Any, ref: Any, dtype: Any) -> None:
    check(ours, ref, dtype=dtype)


ON_ARRAYS = [  # creation functions whose argument is an array (symbolic when staged)
    ("tril", lambda x: d.tril(x), np.tril, X3),
    ("tril k", lambda x: d.tril(x, -1), lambda x: np.tril(x, -1), X),
    ("tril 1d", lambda x: d.tril(x, 1), lambda x: np.tril(x, 1), X[0]),
    ("triu k", lambda x: d.triu(x, 2), lambda x: np.triu(x, 2), X),
    ("triu 3d", lambda x: d.triu(x, -1), lambda x: np.triu(x, -1), I.reshape(2, 2, 3)),
    ("diag of matrix", lambda x: d.diag(x), np.diag, X),
    ("diag offset", lambda x: d.diag(x, 2), lambda x: np.diag(x, 2), X),
    ("diag offset past", lambda x: d.diag(x, -3), lambda x: np.diag(x, -3), X),
    ("diag offset beyond", lambda x: d.diag(x, 5), lambda x: np.diag(x, 5), X),
    ("diag of vector", lambda x: d.diag(x), np.diag, X[0]),
    ("diag of vector k", lambda x: d.diag(x, -2), lambda x: np.diag(x, -2), I[0]),
    ("diag of vector k+", lambda x: d.diag(x, 1), lambda x: np.diag(x, 1), B[0]),
    ("diagflat", lambda x: d.diagflat(x, 1), lambda x: np.diagflat(x, 1), X[:2, :2]),
    ("diagonal 3d", lambda x: d.diagonal(x, 1, 2, 0), lambda x: np.diagonal(x, 1, 2, 0), X3),
    ("diagonal negative axes", lambda x: d.diagonal(x, -1, -1, -2),
     lambda x: np.diagonal(x, -1, -1, -2), X3),
    ("diagonal empty", lambda x: d.diagonal(x), np.diagonal, np.zeros((0, 3), np.float32)),
    ("full_like", lambda x: d.full_like(x, 3), lambda x: np.full_like(x, 3), I),
    ("zeros_like", lambda x: d.zeros_like(x), np.zeros_like, X3),
    ("ones_like", lambda x: d.ones_like(x), np.ones_like, B),
    ("meshgrid", lambda x, y: d.meshgrid(x, y), np.meshgrid, X[0], I[:, 0]),
]


@pytest.mark.parametrize("ours, ref, args", [(c[1], c[2], c[3:]) for c in ON_ARRAYS],
                         ids=[c[0] for c in ON_ARRAYS])
def test_creation_on_arrays(ours: Any, ref: Any, args: Any) -> None:
    check(ours, ref, *args)


def test_creation_with_symbolic_values() -> None:
    # fill values and end points may be symbolic: the same code stages equations
    check(lambda v: d.full((2, 3), v), lambda v: np.full((2, 3), v), np.float32(2.5))
    check(lambda v: d.full((2, 3), v), lambda v: np.full((2, 3), v), np.arange(3))
    check(lambda v: d.full((2,), v, dtype=D.float16), lambda v: np.full(2, v, np.float16),
          np.int32(3))
    check(lambda a, b: d.linspace(a, b, 5), lambda a, b: np.linspace(a, b, 5),
          np.float32(-1), np.float32(3))
    check(lambda a, b: d.linspace(a, b, 4, endpoint=False, axis=1),
          lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=1), X[0], X[1])
    check(lambda a, b: d.logspace(a, b, 3), lambda a, b: np.logspace(a, b, 3),
          np.float32(0), np.float32(2))
    prog = d.stage(lambda a: d.linspace(0.0, a, 3))(TensorType((), F32))
    assert prog.out_types[0] == TensorType((3,), F32)


def test_linspace_endpoints_are_exact() -> None:
    for lo, hi, n in [(0.1, 0.7, 7), (-3.3, 1e6, 11), (1, 2, 2)]:
        y = np.asarray(d.linspace(lo, hi, n, dtype=D.float64))
        assert y[0] == lo and y[-1] == hi
    g = np.asarray(d.geomspace(3.0, 7.0, 5))
    assert g[0] == np.float32(3.0) and g[-1] == np.float32(7.0)


# ---------------------------------------------------------------------------------------------
# Dtypes and weak types, with jax.numpy (32-bit defaults) as the oracle.

def _weak(x: Any) -> bool:
    return bool(jax.typeof(x).weak_type)


WEAK_CASES: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
    ("zeros", lambda: d.zeros(3), lambda: jnp.zeros(3)),
    ("full python float", lambda: d.full((2,), 1.0), lambda: jnp.full((2,), 1.0)),
    ("full python int", lambda: d.full((2,), 1), lambda: jnp.full((2,), 1)),
    ("zeros_like weak", lambda: d.zeros_like(1.0), lambda: jnp.zeros_like(1.0)),
    ("full_like weak", lambda: d.full_like(2.0, 3), lambda: jnp.full_like(2.0, 3)),
    ("arange", lambda: d.arange(3), lambda: jnp.arange(3)),
    ("arange float", lambda: d.arange(1.0, 2.0, 0.5), lambda: jnp.arange(1.0, 2.0, 0.5)),
    ("linspace", lambda: d.linspace(0, 1, 3), lambda: jnp.linspace(0, 1, 3)),
    ("eye", lambda: d.eye(2), lambda: jnp.eye(2)),
    ("tri int", lambda: d.tri(2, dtype=int), lambda: jnp.tri(2, dtype=int)),
    ("sum weak", lambda: d.sum(d.asarray(2.0)), lambda: jnp.sum(2.0)),
    ("sum weak int", lambda: d.sum(d.asarray(2)), lambda: jnp.sum(2)),
    ("sum bool", lambda: d.sum(d.asarray(B)), lambda: jnp.sum(B)),
    ("sum u8", lambda: d.sum(np.ones(3, np.uint8)), lambda: jnp.sum(np.ones(3, np.uint8))),
    ("sum i16", lambda: d.sum(np.ones(3, np.int16)), lambda: jnp.sum(np.ones(3, np.int16))),
    ("sum dtype", lambda: d.sum(d.ones(2), dtype=D.int16),
     lambda: jnp.sum(jnp.ones(2), dtype=jnp.int16)),
    ("prod bool", lambda: d.prod(B), lambda: jnp.prod(B)),
    ("mean weak", lambda: d.mean(d.asarray(2.0)), lambda: jnp.mean(2.0)),
    ("mean int", lambda: d.mean(I), lambda: jnp.mean(I)),
    ("mean f16", lambda: d.mean(np.ones(3, np.float16)), lambda: jnp.mean(np.ones(3, np.float16))),
    ("mean dtype", lambda: d.mean(d.ones(2), dtype=D.float16),
     lambda: jnp.mean(jnp.ones(2), dtype=jnp.float16)),
    ("var weak", lambda: d.var(d.asarray(2.0)), lambda: jnp.var(2.0)),
    ("var c64", lambda: d.var(np.ones(3, np.complex64)), lambda: jnp.var(np.ones(3, np.complex64))),
    ("std int", lambda: d.std(I), lambda: jnp.std(I)),
    ("argmax", lambda: d.argmax(X), lambda: jnp.argmax(X)),
    ("cumsum bool", lambda: d.cumsum(B), lambda: jnp.cumsum(B)),
    ("cumsum i8", lambda: d.cumsum(np.ones(2, np.int8)), lambda: jnp.cumsum(np.ones(2, np.int8))),
    ("count_nonzero", lambda: d.count_nonzero(X), lambda: jnp.count_nonzero(X)),
    ("median int", lambda: d.median(I), lambda: jnp.median(I)),
    ("quantile int", lambda: d.quantile(I, 0.3), lambda: jnp.quantile(I, 0.3)),
    ("average int", lambda: d.average(I, weights=I), lambda: jnp.average(I, weights=I)),
    ("logsumexp int", lambda: d.logsumexp(I), lambda: jax.scipy.special.logsumexp(I)),
    ("softmax int", lambda: d.softmax(I), lambda: jax.nn.softmax(I)),
    ("nansum i8", lambda: d.nansum(np.ones(2, np.int8)), lambda: jnp.nansum(np.ones(2, np.int8))),
    ("diff u8", lambda: d.diff(np.ones(3, np.uint8)), lambda: jnp.diff(np.ones(3, np.uint8))),
    ("reshape weak", lambda: d.reshape(d.asarray(2.0), (1,)), lambda: jnp.reshape(2.0, (1,))),
    ("stack scalars", lambda: d.stack([1.0, 2.0]), lambda: jnp.stack([1.0, 2.0])),
    ("stack mixed", lambda: d.stack([1, np.int8(2)]), lambda: jnp.stack([1, jnp.int8(2)])),
    ("concatenate mixed", lambda: d.concatenate([X, I]), lambda: jnp.concatenate([X, I])),
    ("concatenate dtype", lambda: d.concatenate([X, I], dtype=D.float16),
     lambda: jnp.concatenate([X, I], dtype=jnp.float16)),
    ("repeat weak", lambda: d.repeat(2.0, 3), lambda: jnp.repeat(2.0, 3)),
    ("tile weak", lambda: d.tile(2.0, 3), lambda: jnp.tile(2.0, 3)),
    ("pad int8", lambda: d.pad(np.ones(2, np.int8), 1, constant_values=3),
     lambda: jnp.pad(np.ones(2, np.int8), 1, constant_values=3)),
    ("searchsorted", lambda: d.searchsorted(np.array([1., 2.]), 1.5),
     lambda: jnp.searchsorted(np.array([1., 2.], np.float32), 1.5)),
    ("argsort", lambda: d.argsort(I), lambda: jnp.argsort(I)),
    ("where", lambda: d.where(B, X, 1.5), lambda: jnp.where(B, X, 1.5)),
    ("clip", lambda: d.clip(np.ones(2, np.int8), 0, 1),
     lambda: jnp.clip(np.ones(2, np.int8), 0, 1)),
]


@pytest.mark.parametrize("ours, theirs", [c[1:] for c in WEAK_CASES],
                         ids=[c[0] for c in WEAK_CASES])
def test_dtype_and_weak_type_match_jax(ours: Any, theirs: Any) -> None:
    got, want = ours(), theirs()
    gots = got if isinstance(got, tuple) else (got,)
    wants = want if isinstance(want, tuple) else (want,)
    for g, w in zip(gots, wants):
        assert (g.dtype, g.weak) == (np.dtype(w.dtype), _weak(w))
        np.testing.assert_allclose(np.asarray(g, np.float64) if not D.is_complex(g.dtype)
                                   else np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)


def test_explicit_dtypes_are_kept() -> None:
    x64 = np.linspace(0, 1, 6).reshape(2, 3)
    for f in (d.sum, d.mean, d.var, d.std, d.max, d.cumsum, d.median, d.ptp, d.ravel,
              d.transpose, d.flip, d.sort, lambda a: d.quantile(a, 0.5),
              lambda a: d.concatenate([a, a]), lambda a: d.tile(a, 2), lambda a: d.diff(a)):
        assert f(x64).dtype == F64
        assert d.stage(f)(x64).out_types[0].dtype == F64
    assert d.sum(np.ones(3, np.int64)).dtype == D.int64
    assert d.mean(np.ones(3, np.int64)).dtype == F32  # statistics of integers: default float
    assert d.zeros_like(x64).dtype == F64
    assert d.full(2, np.array(1.0)).dtype == F64


# ---------------------------------------------------------------------------------------------
# Reductions.

REDUCTION_DTYPES = (F32, F64, I32, I8, U8, BOOL)


def _sum_dtype(dt: np.dtype) -> np.dtype:
    if dt in (BOOL, I8, D.int16):
        return I32
    if dt in (U8, D.uint16):
        return D.uint32
    return dt


def _float(dt: np.dtype) -> np.dtype:
    return dt if D.is_inexact(dt) else F32


REDUCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[[Any], Any],
                            bool]] = {
    # name: (ours, numpy, result dtype from input dtype, needs a non-empty reduction)
    "sum": (d.sum, np.sum, _sum_dtype, False),
    "prod": (d.prod, np.prod, _sum_dtype, False),
    "mean": (d.mean, np.mean, _float, False),
    "var": (d.var, np.var, _float, False),
    "std": (d.std, np.std, _float, False),
    "max": (d.max, np.max, lambda dt: dt, True),
    "min": (d.min, np.min, lambda dt: dt, True),
    "amax": (d.amax, np.amax, lambda dt: dt, True),
    "ptp": (d.ptp, np.ptp, lambda dt: dt, True),
    "any": (d.any, np.any, lambda dt: BOOL, False),
    "all": (d.all, np.all, lambda dt: BOOL, False),
    "count_nonzero": (d.count_nonzero, np.count_nonzero, lambda dt: I32, False),
    "median": (d.median, np.median, _float, False),
    "nansum": (d.nansum, np.nansum, _sum_dtype, False),
    "nanmax": (d.nanmax, np.nanmax, lambda dt: dt, True),
    "logsumexp": (d.logsumexp, None, _float, False),
}


@st.composite
def reduction_cases(draw: Any, dtypes: tuple[np.dtype, ...] = REDUCTION_DTYPES) -> Any:
    dt = draw(st.sampled_from(dtypes))
    shape = draw(shapes(0, 3, 0, 4))
    x = draw(arrays(TensorType(shape, dt), (-3, 3)))
    nd = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-nd, nd - 1) if nd else st.none(),
        st.lists(st.integers(0, nd - 1), unique=True, max_size=nd).map(
            lambda axes: tuple(a - nd if i % 2 else a for i, a in enumerate(axes)))
        if nd else st.just(())))
    return x, axis, draw(st.booleans())


def _logsumexp_ref(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    x = x.astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_matches_numpy(name: str) -> None:
    ours, ref, result_dtype, needs_elements = REDUCTIONS[name]
    ref = ref or _logsumexp_ref

    @settings(max_examples=15)
    @given(reduction_cases())
    def run(case: Any) -> None:
        x, axis, keepdims = case
        f = lambda a: ours(a, axis=axis, keepdims=keepdims)  # noqa: E731
        axes = range(x.ndim) if axis is None else np.atleast_1d(np.asarray(axis, int))
        empty = any(x.shape[a] == 0 for a in axes)
        if needs_elements and empty:
            with pytest.raises(d.ShapeError, match=name if name != "amax" else "max"):
                f(x)
            return
        if name == "median" and (empty or x.size == 0):
            return  # NumPy warns and gives NaN (or fails); see test_reduction_edge_cases
        if name == "ptp" and x.dtype == BOOL:
            with pytest.raises(d.DTypeError, match=r"ptp: .*bool"):
                f(x)
            return
        check(f, lambda a: ref(a, axis=axis, keepdims=keepdims), x,
              dtype=result_dtype(x.dtype), wide=True)

    run()


@settings(max_examples=20)
@given(reduction_cases((F32, I32, I8, BOOL)))
def test_argmax_argmin_cumulative_match_numpy(case: Any) -> None:
    x, axis, keepdims = case
    if isinstance(axis, tuple):
        axis = axis[0] if axis else None
    n = x.size if axis is None else x.shape[axis]
    for ours, ref in ((d.argmax, np.argmax), (d.argmin, np.argmin)):
        f = lambda a: ours(a, axis=axis, keepdims=keepdims)  # noqa: E731
        if n == 0:
            with pytest.raises(d.ShapeError, match=ours.__name__):
                f(x)
        else:
            check(f, lambda a: ref(a, axis=axis, keepdims=keepdims), x, dtype=I32)
    for ours, ref in ((d.cumsum, np.cumsum), (d.cumprod, np.cumprod)):
        dt = I32 if x.dtype == BOOL else x.dtype
        check(lambda a: ours(a, axis=axis), lambda a: ref(a, axis=axis), x, dtype=dt, wide=True)


def test_reduction_options() -> None:
    w = X > 0
    check(lambda x: d.sum(x, axis=1, initial=10.0), lambda x: np.sum(x, 1, initial=10), X)
    check(lambda x, m: d.sum(x, axis=0, where=m), lambda x, m: np.sum(x, 0, where=m), X, w)
    check(lambda x, m: d.prod(x, where=m, keepdims=True),
          lambda x, m: np.prod(x, where=m, keepdims=True), X, w)
    check(lambda x, m: d.max(x, axis=1, where=m, initial=-5.0),
          lambda x, m: np.max(x, 1, where=m, initial=-5.0), X, w)
    check(lambda x: d.min(x, axis=(0, 1), initial=-9), lambda x: np.min(x, (0, 1), initial=-9), I)
    check(lambda x: d.max(x, axis=0, initial=3.0), lambda x: np.max(x, 0, initial=3.0),
          np.zeros((0, 2), np.float32))
    check(lambda x, m: d.mean(x, axis=1, where=m), lambda x, m: np.mean(x, 1, where=m), X, w)
    check(lambda x, m: d.var(x, axis=0, where=m, ddof=1),
          lambda x, m: np.var(x, 0, where=m, ddof=1), X, w, wide=True, dtype=F32)
    check(lambda x: d.var(x, axis=1, ddof=2, keepdims=True),
          lambda x: np.var(x, 1, ddof=2, keepdims=True), X, wide=True, dtype=F32)
    check(lambda x: d.std(x, correction=1), lambda x: np.std(x, ddof=1), X, wide=True,
          dtype=F32)
    check(lambda x, m: d.any(x, axis=1, where=m), lambda x, m: np.any(x, 1, where=m), I, w)
    check(lambda x, m: d.all(x, axis=0, where=m), lambda x, m: np.all(x, 0, where=m), I, w)
    check(lambda x: d.sum(x, dtype=bool, axis=0), lambda x: np.sum(x, 0, dtype=bool), I)
    check(lambda x: d.sum(x, dtype=D.float16), lambda x: np.sum(x, dtype=np.float16), X,
          wide=True, dtype=D.float16)
    check(lambda x: d.mean(x, axis=0, dtype=D.float64), lambda x: np.mean(x, 0), X, wide=True,
          dtype=F64)
    check(lambda x: d.cumsum(x, axis=1, dtype=D.float32), lambda x: np.cumsum(x, 1), I,
          dtype=F32)


def test_reduction_edge_cases() -> None:
    nan = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], np.float32)
    check(lambda x: d.max(x, axis=1), lambda x: np.max(x, 1), nan)
    check(lambda x: d.argmax(x, axis=1), lambda x: np.argmax(x, 1), nan, dtype=I32)
    check(lambda x: d.argmin(x), lambda x: np.argmin(x), nan, dtype=I32)
    check(lambda x: d.median(x, axis=1), lambda x: np.median(x, 1), nan)
    check(lambda x: d.nanmean(x, axis=1), lambda x: np.nanmean(x, 1), nan)
    check(lambda x: d.nanvar(x, axis=0), lambda x: np.nanvar(x, 0), nan)
    check(lambda x: d.nanstd(x), lambda x: np.nanstd(x), nan)
    check(lambda x: d.nanmin(x, axis=1), lambda x: np.nanmin(x, 1), nan)
    check(lambda x: d.nanprod(x, axis=1), lambda x: np.nanprod(x, 1), nan)
    check(lambda x: d.nancumsum(x, axis=1), lambda x: np.nancumsum(x, 1), nan)
    check(lambda x: d.nanargmax(x, axis=1), lambda x: np.nanargmax(x, 1), nan, dtype=I32)
    check(lambda x: d.nanargmin(x), lambda x: np.nanargmin(x), nan, dtype=I32)
    check(lambda x: d.nanmax(x, axis=0), lambda x: np.array([np.nan, 5.0], np.float32),
          np.array([[np.nan, 1], [np.nan, 5]], np.float32))
    empty = np.zeros((0, 3), np.float32)
    check(lambda x: d.sum(x, axis=0), lambda x: np.sum(x, 0), empty)
    check(lambda x: d.prod(x, axis=0), lambda x: np.prod(x, 0), empty)
    check(lambda x: d.any(x), lambda x: np.any(x), empty)
    check(lambda x: d.all(x, axis=0), lambda x: np.all(x, 0), empty)
    check(lambda x: d.mean(x, axis=0), lambda x: np.full(3, np.nan, np.float32), empty)
    check(lambda x: d.median(x), lambda x: np.float32(np.nan), empty)
    big = np.array([1e30, 1e30], np.float32)
    check(lambda x: d.logsumexp(x), lambda x: np.float32(1e30), big)
    check(lambda x: d.logsumexp(x), lambda x: np.float32(np.log(2) - 1e3),
          np.full(2, -1e3, np.float32))
    check(lambda x: d.softmax(x), lambda x: np.full(2, 0.5, np.float32), big)
    check(lambda x: d.logsumexp(x), lambda x: np.float32(-np.inf),
          np.full(2, -np.inf, np.float32))
    h = np.full(4096, 0.1, np.float16)  # f16 statistics accumulate in f32
    check(lambda x: d.sum(x), lambda x: np.float16(409.6), h)
    check(lambda x: d.mean(x), lambda x: np.float16(0.1), h)


def test_statistics_functions() -> None:
    w = np.arange(1.0, 5.0, dtype=np.float32)
    check(lambda x, w: d.average(x, axis=1, weights=w), lambda x, w: np.average(x, 1, w), X, w)
    check(lambda x, w: d.average(x, weights=w, returned=True),
          lambda x, w: np.average(x, weights=w, returned=True), X, np.abs(X) + 1)
    check(lambda x: d.average(x, axis=0, returned=True),
          lambda x: np.average(x, 0, returned=True), X)
    check(lambda x: d.average(x, keepdims=True), lambda x: np.average(x, keepdims=True), I,
          dtype=F32, wide=True)
    for m in ("linear", "lower", "higher", "nearest", "midpoint"):
        for q, axis, kd in ((0.5, None, False), ([0.1, 0.9], 1, True),
                            ([[0.0, 1.0], [0.33, 0.75]], (0, 1), False), (0.25, -1, True)):
            check(lambda x: d.quantile(x, q, axis=axis, method=m, keepdims=kd),
                  lambda x: np.quantile(x, q, axis=axis, method=m, keepdims=kd), X3, wide=True,
                  dtype=F32)
    check(lambda x: d.percentile(x, [10, 50, 100], axis=0),
          lambda x: np.percentile(x, [10, 50, 100], axis=0), I, wide=True, dtype=F32)
    # a symbolic q
    check(lambda x, q: d.quantile(x, q, axis=1), lambda x, q: np.quantile(x, q, axis=1),
          X, np.array([0.2, 0.7], np.float32), wide=True, dtype=F32)
    nan = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], np.float32)
    check(lambda x: d.quantile(x, 0.3, axis=1), lambda x: np.quantile(x, 0.3, axis=1), nan)
    check(lambda x: d.logsumexp(x, axis=0, b=np.arange(3.0)[:, None]),
          lambda x: np.log(np.sum(np.arange(3.0)[:, None] * np.exp(x), 0)), X[:, :3], wide=True,
          dtype=F64)  # the f64 weights are an explicit dtype: they promote the result
    s, sg = d.logsumexp(np.array([1.0, 2.0], np.float32), b=np.array([1.0, -1.0], np.float32),
                        return_sign=True)
    same(s, np.float32(np.log(np.e**2 - np.e)))
    same(sg, np.float32(-1.0))
    check(lambda x: d.log_softmax(x, axis=0),
          lambda x: x - np.log(np.sum(np.exp(x), 0, keepdims=True)), X, wide=True, dtype=F32)
    check(lambda x: d.softmax(x, axis=(0, 1)), lambda x: np.exp(x) / np.exp(x).sum(), X,
          wide=True, dtype=F32)
    check(lambda x: d.cumulative_sum(x, axis=1, include_initial=True),
          lambda x: np.cumulative_sum(x, axis=1, include_initial=True), I, dtype=I32)
    check(lambda x: d.cumulative_prod(x, include_initial=True),
          lambda x: np.cumulative_prod(x, include_initial=True), X[0])
    check(lambda x: d.diff(x), np.diff, X)
    check(lambda x: d.diff(x, 2, axis=0), lambda x: np.diff(x, 2, axis=0), I)
    check(lambda x: d.diff(x, 5), lambda x: np.diff(x, 5), X)
    check(lambda x: d.diff(x, 0), lambda x: np.diff(x, 0), X)
    check(lambda x: d.diff(x, axis=0), lambda x: np.diff(x, axis=0), B)
    check(lambda x: d.diff(x, prepend=0, append=x[:, :1]),
          lambda x: np.diff(x, prepend=0, append=x[:, :1]), I, dtype=I32)  # 0 is weak


# ---------------------------------------------------------------------------------------------
# Manipulation.

MANIP_DTYPES = (F32, I32, BOOL, D.complex64, D.float16)


@st.composite
def array_and_axis(draw: Any, min_dims: int = 1, max_dims: int = 3) -> Any:
    shape = draw(shapes(min_dims, max_dims, 0, 4))
    x = draw(arrays(TensorType(shape, draw(st.sampled_from(MANIP_DTYPES)))))
    axis = draw(st.integers(-len(shape), len(shape) - 1)) if shape else 0
    return x, axis


@given(array_and_axis(0), st.data())
def test_reshape_ravel_transpose(xa: Any, data: Any) -> None:
    x, _ = xa
    n = x.size
    divisors = [k for k in range(1, n + 1) if n % k == 0] or [1]
    k = data.draw(st.sampled_from(divisors))
    shape = data.draw(st.sampled_from([(n,), (k, n // k if k else 0), (-1, k), (k, 1, -1)]))
    if n == 0:
        shape = (0, 2, 3)
    order = data.draw(st.sampled_from(["C", "F"]))
    check(lambda a: d.reshape(a, shape, order=order), lambda a: np.reshape(a, shape, order=order),
          x)
    check(lambda a: d.ravel(a, order=order), lambda a: np.ravel(a, order=order), x)
    perm = tuple(data.draw(st.permutations(range(x.ndim))))
    perm = tuple(p - x.ndim if i % 2 else p for i, p in enumerate(perm))
    check(lambda a: d.transpose(a, perm), lambda a: np.transpose(a, perm), x)
    check(lambda a: d.permute_dims(a, perm), lambda a: np.permute_dims(a, perm), x)
    check(d.transpose, np.transpose, x)


@given(array_and_axis(1), st.data())
def test_axis_moves(xa: Any, data: Any) -> None:
    x, axis = xa
    other = data.draw(st.integers(-x.ndim, x.ndim - 1))
    check(lambda a: d.swapaxes(a, axis, other), lambda a: np.swapaxes(a, axis, other), x)
    check(lambda a: d.moveaxis(a, axis, other), lambda a: np.moveaxis(a, axis, other), x)
    src = data.draw(st.lists(st.integers(0, x.ndim - 1), unique=True, max_size=x.ndim))
    dst = data.draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=len(src),
                             max_size=len(src)).filter(
        lambda v: len({a % x.ndim for a in v}) == len(v)))
    check(lambda a: d.moveaxis(a, src, dst), lambda a: np.moveaxis(a, src, dst), x)
    check(lambda a: d.flip(a, axis), lambda a: np.flip(a, axis), x)
    check(lambda a: d.flip(a, src), lambda a: np.flip(a, src), x)
    check(d.flip, np.flip, x)
    new = data.draw(st.integers(-x.ndim - 1, x.ndim))
    check(lambda a: d.expand_dims(a, new), lambda a: np.expand_dims(a, new), x)
    check(lambda a: d.expand_dims(a, (0, -1)), lambda a: np.expand_dims(a, (0, -1)), x)
    ones = tuple(i for i, n in enumerate(x.shape) if n == 1)
    check(d.squeeze, np.squeeze, x)
    check(lambda a: d.squeeze(a, ones), lambda a: np.squeeze(a, ones), x)
    if x.ndim >= 2:
        check(d.matrix_transpose, np.matrix_transpose, x)
        k = data.draw(st.integers(-5, 5))
        check(lambda a: d.rot90(a, k, (axis, other)) if axis % x.ndim != other % x.ndim
              else d.rot90(a, k), lambda a: np.rot90(a, k, (axis, other))
              if axis % x.ndim != other % x.ndim else np.rot90(a, k), x)


@given(array_and_axis(0), st.data())
def test_roll_tile_repeat(xa: Any, data: Any) -> None:
    x, axis = xa
    shift = data.draw(st.integers(-7, 7))
    check(lambda a: d.roll(a, shift), lambda a: np.roll(a, shift), x)
    reps = tuple(data.draw(st.lists(st.integers(0, 3), max_size=4)))
    check(lambda a: d.tile(a, reps), lambda a: np.tile(a, reps), x)
    r = data.draw(st.integers(0, 3))
    check(lambda a: d.repeat(a, r), lambda a: np.repeat(a, r), x)
    if x.ndim:
        shifts = data.draw(st.lists(st.integers(-9, 9), min_size=1, max_size=x.ndim))
        axes = list(range(len(shifts)))[::-1]
        check(lambda a: d.roll(a, shifts, axes), lambda a: np.roll(a, shifts, axes), x)
        check(lambda a: d.roll(a, shift, axis), lambda a: np.roll(a, shift, axis), x)
        check(lambda a: d.repeat(a, r, axis=axis), lambda a: np.repeat(a, r, axis=axis), x)
        counts = data.draw(st.lists(st.integers(0, 3), min_size=x.shape[axis],
                                    max_size=x.shape[axis]))
        check(lambda a: d.repeat(a, counts, axis=axis),
              lambda a: np.repeat(a, counts, axis=axis), x)


@given(array_and_axis(1), st.data())
def test_join_and_split(xa: Any, data: Any) -> None:
    x, axis = xa
    y = data.draw(arrays(TensorType(x.shape, I32)))
    want_dt = jnp.promote_types(x.dtype, np.int32)  # JAX's 32-bit promotion is ours
    check(lambda a, b: d.concatenate([a, b, a], axis), lambda a, b: np.concatenate(
        [a, b, a], axis).astype(want_dt), x, y)
    check(lambda a, b: d.stack((a, b), axis), lambda a, b: np.stack([a, b], axis).astype(
        want_dt), x, y)
    check(lambda a: d.concatenate([a, a], axis=None), lambda a: np.concatenate([a, a], None), x)
    if x.shape[0]:
        check(lambda a: d.stack(a, axis=-1), lambda a: np.stack(list(a), axis=-1), x)
    else:
        with pytest.raises(ValueError, match="stack"):
            d.stack(x)
    check(lambda a: d.unstack(a, axis=axis), lambda a: tuple(np.moveaxis(a, axis, 0)), x)
    check(lambda a: d.append(a, a, axis=axis), lambda a: np.append(a, a, axis=axis), x)
    n = x.shape[axis]
    sections = data.draw(st.sampled_from([k for k in range(1, 5) if n % k == 0] or [1]))
    if n % sections == 0:
        check(lambda a: d.split(a, sections, axis), lambda a: np.split(a, sections, axis), x)
    k = data.draw(st.integers(1, 5))
    check(lambda a: d.array_split(a, k, axis), lambda a: np.array_split(a, k, axis), x)
    cuts = data.draw(st.lists(st.integers(-5, 6), max_size=3))
    check(lambda a: d.split(a, cuts, axis), lambda a: np.split(a, cuts, axis), x)


def test_stacking_helpers() -> None:
    v, w = X[0], I[0]
    for ours, ref in ((d.hstack, np.hstack), (d.vstack, np.vstack), (d.dstack, np.dstack),
                      (d.column_stack, np.column_stack)):
        check(lambda a, b: ours([a, b]), lambda a, b: ref([a, b]).astype(np.float32), v, w)
        check(lambda a, b: ours([a, b]), lambda a, b: ref([a, b]).astype(np.float32), X, I)
    check(lambda a: d.hstack([a, a]), lambda a: np.hstack([a, a]), np.float32(1.0))
    for ours, ref in ((d.atleast_1d, np.atleast_1d), (d.atleast_2d, np.atleast_2d),
                      (d.atleast_3d, np.atleast_3d)):
        for a in (np.float32(2.0), X[0], X, X3):
            check(ours, ref, a)
        check(lambda a, b: ours(a, b), lambda a, b: ref(a, b), X[0], X[0, 0])
    for ours, ref, a in ((d.hsplit, np.hsplit, X), (d.hsplit, np.hsplit, X[0]),
                         (d.vsplit, np.vsplit, X[:2]), (d.dsplit, np.dsplit, X3)):
        check(lambda x: ours(x, 2), lambda x: ref(x, 2), a)
    check(lambda a: d.fliplr(a), np.fliplr, X3)
    check(lambda a: d.flipud(a), np.flipud, X[0])
    check(lambda a, b: d.broadcast_arrays(a, b), lambda a, b: np.broadcast_arrays(a, b),
          X[:, :1], I[0])
    check(lambda a: d.broadcast_to(a, (2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)), X)
    check(lambda a: d.broadcast_to(a, (0, 4)), lambda a: np.broadcast_to(a, (0, 4)), X[0])
    check(lambda a: d.broadcast_to(a, 5), lambda a: np.broadcast_to(a, 5), np.float32(1.0))
    check(lambda a: d.copy(a), np.copy, X)
    assert d.shape(X) == (3, 4) and d.ndim(X3) == 3 and d.size(X3) == 24
    assert d.size(X3, -1) == 4 and d.shape(2.0) == () and d.ndim([[1, 2]]) == 2
    assert d.result_type(X, I) == F32 and d.result_type(I, 1.0) == F32
    assert d.result_type(np.int8, 1) == I8 and d.result_type(np.uint8, D.int8) == D.int16


PAD_WIDTHS = [1, (2, 0), ((1, 2), (0, 3)), ((0, 0), (4, 1)), [[3], [1]]]


@pytest.mark.parametrize("mode", ["constant", "edge", "wrap", "reflect", "symmetric", "empty"])
@pytest.mark.parametrize("width", PAD_WIDTHS, ids=[str(w) for w in PAD_WIDTHS])
def test_pad_matches_numpy(mode: str, width: Any) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    ref = (lambda a: np.pad(a, width)) if mode == "empty" else (
        lambda a: np.pad(a, width, mode=mode))
    check(lambda a: d.pad(a, width, mode=mode), ref, x)
    check(lambda a: d.pad(a, width, mode=mode), ref if mode != "empty" else (
        lambda a: np.pad(a, width)), I[:1, :2])


def test_irregular_index_maps_use_gather() -> None:
    # index maps with many runs (long repeat-count lists, wide reflections) become one gather
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    counts = [2] * 19 + [3]  # every element its own constant run: too many for slices
    check(lambda a: d.repeat(a, counts, axis=0), lambda a: np.repeat(a, counts, axis=0), x)
    check(lambda a: d.pad(a, ((0, 0), (40, 41)), mode="reflect"),
          lambda a: np.pad(a, ((0, 0), (40, 41)), mode="reflect"), x)
    check(lambda a: d.pad(a, 37, mode="symmetric"), lambda a: np.pad(a, 37, mode="symmetric"),
          x[0])
    prog = d.stage(lambda a: d.repeat(a, counts, axis=0))(x)
    assert "gather" in [e.op.name for e in prog.eqns]


def test_pad_constant_values() -> None:
    check(lambda a: d.pad(a, 2, constant_values=7.5), lambda a: np.pad(a, 2, constant_values=7.5),
          X)
    check(lambda a: d.pad(a, ((1, 2), (2, 1)), constant_values=((1, 2), (3, 4))),
          lambda a: np.pad(a, ((1, 2), (2, 1)), constant_values=((1, 2), (3, 4))), I)
    check(lambda a, v: d.pad(a, 1, constant_values=v), lambda a, v: np.pad(a, 1,
                                                                       constant_values=v),
          X, np.float32(-2))
    check(lambda a: d.pad(a, 3, mode="reflect"), lambda a: np.pad(a, 3, mode="reflect"),
          np.arange(1, dtype=np.float32))


@settings(max_examples=20)
@given(array_and_axis(1), st.booleans())
def test_sorting(xa: Any, descending: bool) -> None:
    x, axis = xa
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    check(lambda a: d.sort(a, axis), lambda a: np.sort(a, axis, kind="stable"), x)
    check(lambda a: d.sort(a, None), lambda a: np.sort(a, None), x)
    check(lambda a: d.argsort(a, axis), lambda a: np.argsort(a, axis, kind="stable"), x,
          dtype=I32)
    if x.dtype != np.complex64:
        want = (lambda a: np.flip(np.sort(a, axis), axis)) if descending else (
            lambda a: np.sort(a, axis))
        check(lambda a: d.sort(a, axis, descending=descending), want, x)
        order = (lambda a: np.argsort(-a.astype(np.float64), axis, kind="stable")) \
            if descending else (lambda a: np.argsort(a, axis, kind="stable"))
        check(lambda a: d.argsort(a, axis, descending=descending), order, x, dtype=I32)


def test_sorting_tables() -> None:
    nan = np.array([3.0, np.nan, -1.0, 2.0, np.nan, -np.inf], np.float32)
    check(d.sort, np.sort, nan)
    check(d.argsort, lambda a: np.argsort(a, kind="stable"), nan, dtype=I32)
    c = np.array([1 + 2j, 1 - 1j, -3 + 0j, 1 + 0j], np.complex64)
    check(d.sort, np.sort, c)
    k1, k2 = np.array([1, 0, 1, 0, 2], np.int32), np.array([5.0, 4.0, 3.0, 4.0, 1.0], np.float32)
    check(lambda a, b: d.lexsort([a, b]), lambda a, b: np.lexsort([a, b]), k1, k2, dtype=I32)
    check(lambda a, b: d.lexsort((a, b), axis=0), lambda a, b: np.lexsort((a, b), axis=0),
          I, I[::-1].copy(), dtype=I32)
    srt = np.array([-1.0, 0.0, 0.0, 2.5, np.nan], np.float32)
    vals = np.array([[0.0, 3.0], [np.nan, -2.0]], np.float32)
    for side in ("left", "right"):
        check(lambda a, v: d.searchsorted(a, v, side=side),
              lambda a, v: np.searchsorted(a, v, side=side), srt, vals, dtype=I32)
    perm = np.array([1, 2, 0], np.int32)
    check(lambda a, s: d.searchsorted(a, 1.5, sorter=s),
          lambda a, s: np.searchsorted(a, 1.5, sorter=s), np.array([3.0, 1.0, 2.0], np.float32),
          perm, dtype=I32)


def test_symbolic_and_static_arguments() -> None:
    # a symbolic shift is a dynamic slice; static arguments that are symbolic are refused
    for s in (-7, -1, 0, 2, 9):
        check(lambda a, k: d.roll(a, k, axis=1), lambda a, k: np.roll(a, int(k), axis=1), X,
              np.int32(s))
        check(lambda a, k: d.roll(a, k), lambda a, k: np.roll(a, int(k)), X, np.int32(s))
    t = TensorType((3, 4), F32)
    for f in (lambda x: d.repeat(x, d.sum(x).astype(int)),
              lambda x: d.reshape(x, d.asarray(12) + d.sum(x).astype(int)),
              lambda x: d.arange(d.sum(x)),
              lambda x: d.tile(x, d.sum(x).astype(int))):
        with pytest.raises(d.ConcretizationError):
            d.stage(f)(t)
    with pytest.raises(TypeError, match="roll"):
        d.stage(lambda x, k: d.roll(x, k, axis=0))(t, TensorType((2,), I32))


# ---------------------------------------------------------------------------------------------
# Methods of arrays and tracers.

METHODS: list[tuple[str, Callable[[Any], Any], Callable[[np.ndarray], Any], Any]] = [
    ("T", lambda x: x.T, lambda x: x.T, None),
    ("mT", lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), None),
    ("sum", lambda x: x.sum(), lambda x: x.sum(), None),
    ("sum axis", lambda x: x.sum(axis=-1, keepdims=True), lambda x: x.sum(-1, keepdims=True),
     None),
    ("prod", lambda x: x.prod(0), lambda x: x.prod(0), None),
    ("mean", lambda x: x.mean(axis=(0, 2)), lambda x: x.mean(axis=(0, 2)), None),
    ("var", lambda x: x.var(ddof=1), lambda x: x.var(ddof=1), None),
    ("std", lambda x: x.std(axis=1, keepdims=True), lambda x: x.std(1, keepdims=True), None),
    ("max", lambda x: x.max(axis=1), lambda x: x.max(1), None),
    ("min", lambda x: x.min(), lambda x: x.min(), None),
    ("any", lambda x: (x > 1).any(axis=0), lambda x: (x > 1).any(0), None),
    ("all", lambda x: (x > -3).all(), lambda x: (x > -3).all(), None),
    ("argmax", lambda x: x.argmax(axis=2), lambda x: x.argmax(2), I32),
    ("argmin", lambda x: x.argmin(), lambda x: x.argmin(), I32),
    ("cumsum", lambda x: x.cumsum(axis=1), lambda x: x.cumsum(1), None),
    ("cumprod", lambda x: x.cumprod(), lambda x: x.cumprod(), None),
    ("reshape args", lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1), None),
    ("reshape tuple", lambda x: x.reshape((6, 4)), lambda x: x.reshape((6, 4)), None),
    ("reshape F", lambda x: x.reshape(4, 6, order="F"), lambda x: x.reshape(4, 6, order="F"),
     None),
    ("ravel", lambda x: x.ravel(), lambda x: x.ravel(), None),
    ("flatten", lambda x: x.flatten(), lambda x: x.flatten(), None),
    ("transpose", lambda x: x.transpose(), lambda x: x.transpose(), None),
    ("transpose args", lambda x: x.transpose(1, 0, 2), lambda x: x.transpose(1, 0, 2), None),
    ("transpose tuple", lambda x: x.transpose((2, 0, 1)), lambda x: x.transpose((2, 0, 1)),
     None),
    ("swapaxes", lambda x: x.swapaxes(0, -1), lambda x: x.swapaxes(0, -1), None),
    ("squeeze", lambda x: x[:1].squeeze(0), lambda x: x[:1].squeeze(0), None),
    ("astype", lambda x: x.astype(D.int8), lambda x: x.astype(np.int8), None),
    ("dot", lambda x: x[0].dot(x[1].T), lambda x: x[0].dot(x[1].T), None),
    ("matmul", lambda x: x @ x.mT, lambda x: x @ np.swapaxes(x, -1, -2), None),
    ("clip", lambda x: x.clip(-0.5, 0.5), lambda x: x.clip(-0.5, 0.5), None),
    ("round", lambda x: x.round(1), lambda x: x.round(1), None),
    ("conj", lambda x: x.conj(), lambda x: x.conj(), None),
    ("len", lambda x: d.full((), len(x)), lambda x: np.int32(len(x)), None),
]


@pytest.mark.parametrize("ours, ref, dtype", [
    pytest.param(*c[1:], id=c[0]) for c in METHODS])
def test_array_methods(ours: Any, ref: Any, dtype: Any) -> None:
    with np.errstate(all="ignore"):
        want = dtype or np.asarray(ref(X3)).dtype
    check(ours, ref, X3, dtype=want, wide=True)


# ---------------------------------------------------------------------------------------------
# Errors: typed, naming the function and the offending types.

XT, VT, CT = d.ones((3, 4)), d.ones(3), d.ones(3, dtype=D.complex64)

ERRORS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("sum axis", lambda: d.sum(XT, axis=2), d.ShapeError, r"sum: axis 2 .*f32\[3,4\]"),
    ("sum repeated axis", lambda: d.sum(XT, axis=(0, -2)), d.ShapeError, r"sum: repeated"),
    ("sum float axis", lambda: d.sum(XT, axis=1.0), TypeError, r"sum: axis must be an integer"),
    ("sum bad dtype", lambda: d.sum(XT, dtype="foo"), d.DTypeError, r"sum: 'foo'"),
    ("mean axis", lambda: d.mean(XT, axis=-3), d.ShapeError, r"mean: axis -3 .*f32\[3,4\]"),
    ("mean bad dtype", lambda: d.mean(XT, dtype=np.float128), d.DTypeError, r"mean:"),
    ("var axis", lambda: d.var(XT, axis=5), d.ShapeError, r"var: .*f32\[3,4\]"),
    ("std axis", lambda: d.std(XT, axis=(0, 0)), d.ShapeError, r"std: repeated"),
    ("ptp axis", lambda: d.ptp(XT, axis=3), d.ShapeError, r"ptp: .*f32\[3,4\]"),
    ("count_nonzero axis", lambda: d.count_nonzero(XT, axis=2), d.ShapeError, r"count_nonzero"),
    ("nanmax axis", lambda: d.nanmax(XT, axis=2), d.ShapeError, r"nanmax"),
    ("nansum axis", lambda: d.nansum(XT, axis=2), d.ShapeError, r"nansum"),
    ("nanmean axis", lambda: d.nanmean(XT, axis=2), d.ShapeError, r"nanmean"),
    ("max empty", lambda: d.max(d.ones((0, 3)), axis=0), d.ShapeError, r"max: .*f32\[0,3\]"),
    ("max complex", lambda: d.max(CT), d.DTypeError, r"max: .*c64\[3\]"),
    ("argmax empty", lambda: d.argmax(d.ones((0,))), d.ShapeError, r"argmax: .*f32\[0\]"),
    ("argmin complex", lambda: d.argmin(CT), d.DTypeError, r"argmin: .*c64\[3\]"),
    ("argmax tuple axis", lambda: d.argmax(XT, axis=(0, 1)), TypeError, r"argmax"),
    ("cumsum axis", lambda: d.cumsum(XT, axis=2), d.ShapeError, r"cumsum: .*f32\[3,4\]"),
    ("sum where shape", lambda: d.sum(XT, where=d.ones(3, dtype=bool)), d.ShapeError,
     r"sum: where bool\[3\] .*f32\[3,4\]"),
    ("sum where dtype", lambda: d.sum(XT, where=d.ones(4)), d.DTypeError, r"sum: .*f32\[4\]"),
    ("max where", lambda: d.max(XT, where=d.ones(4, dtype=bool)), ValueError, r"max: .*initial"),
    ("logsumexp complex", lambda: d.logsumexp(CT), d.DTypeError, r"logsumexp: .*c64\[3\]"),
    ("median axis", lambda: d.median(XT, axis=3), d.ShapeError, r"median"),
    ("quantile q", lambda: d.quantile(XT, 1.5), ValueError, r"quantile: q must be in \[0, 1\]"),
    ("quantile method", lambda: d.quantile(XT, 0.5, method="foo"), ValueError, r"quantile"),
    ("quantile empty", lambda: d.quantile(d.ones((0,)), 0.5), d.ShapeError,
     r"quantile: .*f32\[0\]"),
    ("quantile complex", lambda: d.quantile(CT, 0.5), d.DTypeError, r"quantile: .*c64\[3\]"),
    ("percentile q", lambda: d.percentile(XT, -1), ValueError, r"percentile"),
    ("average weights", lambda: d.average(XT, axis=0, weights=d.ones(4)), d.ShapeError,
     r"average: weights f32\[4\] .*f32\[3,4\]"),
    ("cumulative_sum axis", lambda: d.cumulative_sum(XT), d.ShapeError,
     r"cumulative_sum: .*f32\[3,4\]"),
    ("diff scalar", lambda: d.diff(d.asarray(1.0)), d.ShapeError, r"diff: .*~f32\[\]"),
    ("diff axis", lambda: d.diff(XT, axis=2), d.ShapeError, r"diff: axis 2"),
    ("diff n", lambda: d.diff(XT, -1), ValueError, r"diff"),
    ("diff float n", lambda: d.diff(XT, 1.5), TypeError, r"diff: order n"),
    ("diff prepend", lambda: d.diff(XT, prepend=d.ones(2)), d.ShapeError, r"concatenate"),
    ("reshape size", lambda: d.reshape(XT, (5, 2)), d.ShapeError,
     r"reshape: cannot reshape f32\[3,4\] to \(5, 2\)"),
    ("reshape two unknowns", lambda: d.reshape(XT, (-1, -1)), d.ShapeError, r"reshape"),
    ("reshape unknown", lambda: d.reshape(XT, (-1, 5)), d.ShapeError, r"reshape: .*f32\[3,4\]"),
    ("reshape negative", lambda: d.reshape(XT, (-2, -6)), ValueError, r"reshape"),
    ("reshape order", lambda: d.reshape(XT, (12,), order="X"), ValueError, r"reshape: order"),
    ("reshape shape", lambda: d.reshape(XT, "ab"), TypeError, r"reshape: shape"),
    ("transpose", lambda: d.transpose(XT, (0,)), d.ShapeError, r"transpose: .*f32\[3,4\]"),
    ("transpose repeated", lambda: d.transpose(XT, (0, 0)), d.ShapeError, r"transpose"),
    ("transpose int", lambda: d.transpose(XT, 0), d.ShapeError, r"transpose: axes 0 .*f32"),
    ("swapaxes", lambda: d.swapaxes(XT, 0, 2), d.ShapeError, r"swapaxes: axis 2 .*f32\[3,4\]"),
    ("moveaxis", lambda: d.moveaxis(XT, 0, 3), d.ShapeError, r"moveaxis"),
    ("moveaxis counts", lambda: d.moveaxis(XT, (0, 1), 0), d.ShapeError, r"moveaxis"),
    ("matrix_transpose", lambda: d.matrix_transpose(VT), d.ShapeError,
     r"matrix_transpose: .*f32\[3\]"),
    ("squeeze", lambda: d.squeeze(XT, 0), d.ShapeError, r"squeeze: .*f32\[3,4\]"),
    ("expand_dims", lambda: d.expand_dims(XT, 4), d.ShapeError, r"expand_dims"),
    ("broadcast_to", lambda: d.broadcast_to(XT, (3, 5)), d.ShapeError,
     r"broadcast_to: cannot broadcast f32\[3,4\]"),
    ("broadcast_to rank", lambda: d.broadcast_to(XT, (4,)), d.ShapeError, r"broadcast_to"),
    ("broadcast_to negative", lambda: d.broadcast_to(XT, (-1, 4)), ValueError, r"broadcast_to"),
    ("broadcast_arrays", lambda: d.broadcast_arrays(XT, VT), d.ShapeError,
     r"broadcast_arrays: .*f32\[3,4\], f32\[3\]"),
    ("concatenate ranks", lambda: d.concatenate([XT, VT]), d.ShapeError,
     r"concatenate: .*f32\[3,4\], f32\[3\]"),
    ("concatenate shapes", lambda: d.concatenate([XT, d.ones((3, 5))]), d.ShapeError,
     r"concatenate: .*f32\[3,5\]"),
    ("concatenate axis", lambda: d.concatenate([XT, XT], axis=2), d.ShapeError, r"concatenate"),
    ("concatenate scalars", lambda: d.concatenate([d.asarray(1.0), 2.0]), d.ShapeError,
     r"concatenate: zero-dimensional"),
    ("concatenate none", lambda: d.concatenate([]), ValueError, r"concatenate"),
    ("stack shapes", lambda: d.stack([XT, VT]), d.ShapeError, r"stack: .*f32\[3,4\], f32\[3\]"),
    ("stack axis", lambda: d.stack([VT, VT], axis=2), d.ShapeError, r"stack"),
    ("split unequal", lambda: d.split(XT, 3, axis=1), ValueError, r"split: .*f32\[3,4\]"),
    ("split axis", lambda: d.split(XT, 2, axis=2), d.ShapeError, r"split"),
    ("split zero", lambda: d.split(XT, 0), ValueError, r"split"),
    ("split float", lambda: d.split(XT, [1.5]), TypeError, r"split"),
    ("array_split zero", lambda: d.array_split(XT, 0), ValueError, r"array_split"),
    ("hsplit scalar", lambda: d.hsplit(d.asarray(1.0), 2), d.ShapeError, r"hsplit"),
    ("vsplit vector", lambda: d.vsplit(VT, 3), d.ShapeError, r"vsplit: .*f32\[3\]"),
    ("dsplit matrix", lambda: d.dsplit(XT, 3), d.ShapeError, r"dsplit: .*f32\[3,4\]"),
    ("tile negative", lambda: d.tile(XT, (-1,)), ValueError, r"tile"),
    ("repeat negative", lambda: d.repeat(XT, -1), ValueError, r"repeat"),
    ("repeat counts", lambda: d.repeat(XT, [1, 2], axis=0), d.ShapeError,
     r"repeat: .*f32\[3,4\]"),
    ("repeat axis", lambda: d.repeat(XT, 2, axis=2), d.ShapeError, r"repeat"),
    ("repeat float", lambda: d.repeat(XT, 1.5), TypeError, r"repeat"),
    ("flip axis", lambda: d.flip(XT, 2), d.ShapeError, r"flip: axis 2 .*f32\[3,4\]"),
    ("fliplr", lambda: d.fliplr(VT), d.ShapeError, r"fliplr: .*f32\[3\]"),
    ("roll axis", lambda: d.roll(XT, 1, 2), d.ShapeError, r"roll"),
    ("roll lengths", lambda: d.roll(XT, (1, 2, 3), (0, 1)), ValueError, r"roll"),
    ("rot90 vector", lambda: d.rot90(VT), d.ShapeError, r"rot90: .*f32\[3\]"),
    ("rot90 axes", lambda: d.rot90(XT, axes=(0, 0)), d.ShapeError, r"rot90"),
    ("pad mode", lambda: d.pad(XT, 1, mode="mean"), ValueError, r"pad: mode 'mean'"),
    ("pad negative", lambda: d.pad(XT, -1), ValueError, r"pad"),
    ("pad widths", lambda: d.pad(XT, ((1, 2, 3),)), d.ShapeError, r"pad: .*f32\[3,4\]"),
    ("pad empty axis", lambda: d.pad(d.ones((0, 2)), 1, mode="edge"), d.ShapeError,
     r"pad: .*f32\[0,2\]"),
    ("sort axis", lambda: d.sort(XT, axis=2), d.ShapeError, r"sort"),
    ("sort order", lambda: d.sort(XT, order="x"), ValueError, r"sort"),
    ("argsort axis", lambda: d.argsort(XT, axis=-3), d.ShapeError, r"argsort"),
    ("lexsort shapes", lambda: d.lexsort([VT, XT]), d.ShapeError,
     r"lexsort: .*f32\[3\], f32\[3,4\]"),
    ("searchsorted rank", lambda: d.searchsorted(XT, 1.0), d.ShapeError,
     r"searchsorted: .*f32\[3,4\]"),
    ("searchsorted side", lambda: d.searchsorted(VT, 1.0, side="middle"), ValueError,
     r"searchsorted"),
    ("unstack scalar", lambda: d.unstack(d.asarray(1.0)), d.ShapeError, r"unstack"),
    ("zeros negative", lambda: d.zeros((-1, 2)), ValueError, r"zeros: negative"),
    ("zeros shape", lambda: d.zeros("a"), TypeError, r"zeros: shape"),
    ("zeros dtype", lambda: d.zeros(2, dtype="float128"), d.DTypeError, r"float128"),
    ("ones dtype", lambda: d.ones(2, dtype=object), d.DTypeError, r"object"),
    ("full shape", lambda: d.full((2,), d.ones(3)), d.ShapeError,
     r"full: fill value f32\[3\] does not broadcast"),
    ("full overflow", lambda: d.full(2, 300, dtype=D.uint8), d.DTypeError, r"300"),
    ("arange step", lambda: d.arange(0, 5, 0), ValueError, r"arange: step"),
    ("arange array", lambda: d.arange(np.ones(2)), TypeError, r"arange"),
    ("linspace num", lambda: d.linspace(0, 1, -1), ValueError, r"linspace: num"),
    ("linspace num type", lambda: d.linspace(0, 1, 2.5), TypeError, r"linspace: num"),
    ("linspace axis", lambda: d.linspace(0, 1, 3, axis=2), d.ShapeError, r"linspace"),
    ("eye negative", lambda: d.eye(-1), ValueError, r"eye"),
    ("eye tuple", lambda: d.eye((2, 3)), TypeError, r"eye"),
    ("tril scalar", lambda: d.tril(d.asarray(1.0)), d.ShapeError, r"tril: .*~f32\[\]"),
    ("triu scalar", lambda: d.triu(np.float32(1.0)), d.ShapeError, r"triu: .*f32\[\]"),
    ("diagonal vector", lambda: d.diagonal(VT), d.ShapeError, r"diagonal: .*f32\[3\]"),
    ("diagonal same axes", lambda: d.diagonal(XT, 0, 1, -1), d.ShapeError,
     r"diagonal: .*f32\[3,4\]"),
    ("diagonal axis", lambda: d.diagonal(XT, 0, 0, 2), d.ShapeError, r"diagonal: axis 2"),
    ("diag rank", lambda: d.diag(d.ones((2, 2, 2))), d.ShapeError, r"diag: .*f32\[2,2,2\]"),
    ("meshgrid indexing", lambda: d.meshgrid(VT, indexing="foo"), ValueError, r"meshgrid"),
    ("indices negative", lambda: d.indices((2, -1)), ValueError, r"indices"),
    ("tril_indices_from", lambda: d.tril_indices_from(VT), d.ShapeError,
     r"tril_indices_from: .*f32\[3\]"),
    ("diag_indices ndim", lambda: d.diag_indices(3, -1), ValueError, r"diag_indices"),
    # non-arrays: the error names the function, whichever argument was wrong
    ("sum of str", lambda: d.sum("abc"), TypeError, r"sum: .*str"),
    ("mean of ragged list", lambda: d.mean([[1, 2], [3]]), ValueError, r"mean:"),
    ("transpose of strings", lambda: d.transpose(np.array(["a"])), d.DTypeError,
     r"transpose: .*<U1"),
    ("concatenate object", lambda: d.concatenate(object()), TypeError,
     r"concatenate: .*object"),
    ("hstack None", lambda: d.hstack(None), TypeError, r"hstack: .*NoneType"),
    ("pad of dict", lambda: d.pad({"a": 1}, 1), TypeError, r"pad: .*dict"),
    ("arange of str", lambda: d.arange("abc"), TypeError, r"arange: .*str"),
    ("shape of ragged list", lambda: d.shape([[1], [2, 3]]), ValueError, r"shape:"),
    ("result_type object", lambda: d.result_type(object()), TypeError, r"result_type"),
    ("quantile of str", lambda: d.quantile(XT, "a"), TypeError, r"quantile: .*str"),
    ("full_like of None", lambda: d.full_like(None, 1), TypeError, r"full_like: .*NoneType"),
    ("diag_indices array", lambda: d.diag_indices(np.array([2, 3])), TypeError,
     r"diag_indices"),
]


@pytest.mark.parametrize("fn, exc, pattern", [c[1:] for c in ERRORS],
                         ids=[c[0] for c in ERRORS])
def test_bad_inputs_raise_typed_errors(fn: Any, exc: type[Exception], pattern: str) -> None:
    # Without typeguard (as users run), arguments of wrong Python types reach our own checks.
    with suppress_type_checks(), pytest.raises(exc, match=pattern) as info:
        fn()
    assert isinstance(info.value, (d.ShapeError, d.DTypeError, TypeError, ValueError))
    assert "(at test_numpy_api.py:" in str(info.value)  # the user's line, not ours


@pytest.mark.parametrize("fn, exc, pattern", [
    (lambda x: d.sum(x, axis=2), d.ShapeError, r"sum: axis 2 .*f32\[3,4\]"),
    (lambda x: d.reshape(x, (5,)), d.ShapeError, r"reshape: .*f32\[3,4\]"),
    (lambda x: d.concatenate([x, x[0]]), d.ShapeError, r"concatenate: .*f32\[3,4\], f32\[4\]"),
    (lambda x: d.moveaxis(x, 0, -3), d.ShapeError, r"moveaxis"),
    (lambda x: d.tril(x[0, 0]), d.ShapeError, r"tril: .*f32\[\]"),
    (lambda x: d.max(x.astype(D.complex64)), d.DTypeError, r"max: .*c64\[3,4\]"),
    (lambda x: d.argmax(x[:0]), d.ShapeError, r"argmax: .*f32\[0,4\]"),
], ids=["sum", "reshape", "concatenate", "moveaxis", "tril", "max", "argmax"])
def test_errors_while_staging(fn: Any, exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        d.stage(fn)(TensorType((3, 4), F32))
