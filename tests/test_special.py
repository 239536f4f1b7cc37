"""Tests for interpreters._special: the NumPy reference special functions.

The reference is scipy.special (a test-time dependency, brought in by jax); special values follow
XLA/JAX rather than scipy where the two differ (digamma is nan at 0 / -0 where scipy gives -+inf,
and lgamma(-inf) is +inf where scipy gives -inf). scipy's gammaln also returns inf for subnormal
arguments, where the true value -log|x| ~ 708..745 is finite; the reference patches that.

Tolerances, float64 (rtol 1e-12 throughout), with the few absolute tolerances explained:

* lgamma, x > 0: atol 1e-15. At its zeros x = 1 and x = 2 lgamma tends to 0 and scipy's gammaln
  (a Lanczos-style sum) is only accurate in the absolute sense there (errors ~4e-16, i.e. relative
  errors up to 1e-10 near x = 1 +- 1e-5). Ours uses the Taylor series about 1 and 2 and is
  relatively accurate; the mpmath test below checks that at 1e-14.
* lgamma and digamma, x < 0: atol 1e-13. Both implementations (ours and scipy's) use the
  reflection formula, which loses relative accuracy next to the zeros that lie between every two
  negative poles (lgamma: -2.457..., -2.747..., ...; digamma: -1.573..., -2.611..., ...): the result
  is the difference of two O(1) terms. Only the absolute error (~1e-15) is meaningful there.
* digamma, x < 0: the reference is the reflection formula psi(1 - x) - pi / tan(pi r) with scipy's
  digamma and the exactly reduced r = x - round(x), because scipy's own negative branch skips that
  reduction and is only ~1e-8 accurate next to the poles (ours agrees with mpmath there).
* erfc: atol 1e-300, since scipy rounds the subnormal tail (x > ~26.5) differently.
* erf_inv needs no loosening even next to +-1: we solve erfc(y) = 1 - x there (1 - x is exact),
  and scipy is also accurate there (both agree to ~2e-16 at x = 1 - k 2**-53); the mpmath test
  checks this too. Subnormal outputs are compared with atol 1e-320 (they carry fewer bits).
"""

import math
import time

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interpreters import _special as S

FUNCS = ("erf", "erfc", "erf_inv", "lgamma", "digamma")
NARROW = [(np.float32, 1e-6), (np.float16, 1e-2), (ml_dtypes.bfloat16, 1e-2)]

_DIGAMMA_ROOT0 = 1.4616321449683622
_DIGAMMA_ROOT1 = -0.5040830082644554


@pytest.fixture(scope="module")
def sp():
    return pytest.importorskip("scipy.special")


def _is_pole(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (x <= 0) & (x == np.floor(x))


def reference(name: str, x: np.ndarray, sp) -> np.ndarray:
    """scipy.special with the XLA/JAX special values, in float64."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        if name == "erf":
            return sp.erf(x)
        if name == "erfc":
            return sp.erfc(x)
        if name == "erf_inv":
            return sp.erfinv(x)
        if name == "lgamma":
            r = np.asarray(sp.gammaln(x), dtype=np.float64)
            # scipy's gammaln returns inf for subnormal x; there lgamma(x) = -log|x| exactly
            # (the next term, gamma * x, is below 1e-300).
            sub = (x != 0) & (np.abs(x) < np.finfo(np.float64).tiny)
            r = np.where(sub, -np.log(np.abs(np.where(sub, x, 1.0))), r)
            return np.where(_is_pole(x) | np.isinf(x), np.inf, r)
        if name == "digamma":
            r = np.asarray(sp.digamma(x), dtype=np.float64)
            # scipy evaluates pi / tan(pi x) without reducing x first, which costs it ~1e-8
            # relative accuracy next to the negative poles (e.g. x = -1 + 1e-9). Use the
            # reflection formula on scipy's positive-argument digamma with the exact reduction
            # x - round(x) instead.
            neg = (x < 0) & np.isfinite(x)
            xn = np.where(neg, x, -0.5)
            refl = sp.digamma(1.0 - xn) - np.pi / np.tan(np.pi * (xn - np.round(xn)))
            r = np.where(neg, refl, r)
            return np.where(_is_pole(x) | (x == -np.inf), np.nan, r)
    raise ValueError(name)


def _atol(name: str, x: np.ndarray) -> np.ndarray:
    if name == "lgamma":
        return np.where(x < 0, 1e-13, 1e-15)
    if name == "digamma":
        return np.where(x < 0, 1e-13, 0.0)
    if name == "erfc":
        return np.full(x.shape, 1e-300)
    if name == "erf_inv":
        return np.full(x.shape, 1e-320)
    return np.zeros(x.shape)


def check_f64(name: str, x, sp) -> None:
    x = np.asarray(x, dtype=np.float64)
    got = getattr(S, name)(x)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.float64 and got.shape == x.shape
    want = reference(name, x, sp)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name} nan at {x}")
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"{name} inf at {x[inf]}")
    ok = ~np.isnan(want) & ~inf
    g, w, a = got[ok], want[ok], _atol(name, x)[ok]
    bad = ~(np.abs(g - w) <= a + 1e-12 * np.abs(w))
    assert not bad.any(), (
        f"{name}: x={x[ok][bad]!r} got={g[bad]!r} want={w[bad]!r} "
        f"rel={np.abs(g - w)[bad] / np.abs(w[bad])!r}"
    )


def check_narrow(name: str, x, dtype, rtol: float, sp) -> None:
    with np.errstate(over="ignore"):
        xd = np.asarray(x, dtype=np.float64).astype(dtype)
    got = getattr(S, name)(xd)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.dtype(dtype) and got.shape == xd.shape
    with np.errstate(over="ignore"):
        want = reference(name, xd.astype(np.float64), sp).astype(dtype).astype(np.float64)
    tiny = float(ml_dtypes.finfo(dtype).smallest_subnormal)
    np.testing.assert_allclose(
        got.astype(np.float64), want, rtol=rtol, atol=tiny, equal_nan=True,
        err_msg=f"{name} {np.dtype(dtype)} at {xd}",
    )


# ------------------------------------------------------------------------------------------
# Inputs

SPECIAL = [
    0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.25, -0.75,
    1e-300, -1e-300, 5e-324, -5e-324, 1e-8, -1e-8, 1e-17, 1 + 2**-52, 1 - 2**-53, 2 + 2**-51,
    2 - 2**-52, 1.0001, 0.9999, 1.9999, 2.0001, 3.5, 10.0, 26.0, 27.0, 30.0, 100.5, 171.6,
    1e5, 1e15 + 0.5, 1e300, -1e300, 1.7e308, -1.7e308, 2.0**52 + 1, -(2.0**52) - 0.5,
    -(2.0**51) - 0.5, -100.5, -1e-5, -0.9999999, -1.0000001, -170.3,
    _DIGAMMA_ROOT0, _DIGAMMA_ROOT1, -2.457024738220800, -2.747682646727, -1.573498473162,
    math.inf, -math.inf, math.nan,
]
ERF_INV_SPECIAL = [
    0.0, -0.0, 1.0, -1.0, 1.5, -1.5, 1 + 2**-52, math.inf, -math.inf, math.nan, 0.5, -0.5,
    1 - 2**-53, -1 + 2**-53, 1 - 2**-52, 1 - 1e-10, 0.9999, 0.999999, 1e-300, 5e-324, -5e-324,
    2**-26, 2**-26 * (1 - 2**-53), 1e-8, 0.1, 0.84, 0.99,
]


def grid(name: str) -> np.ndarray:
    if name == "erf_inv":
        return np.concatenate([
            np.linspace(-1, 1, 2001),
            1 - np.arange(1, 200) * 2.0**-53, -1 + np.arange(1, 200) * 2.0**-53,
            1 - np.logspace(-15, -1, 300), np.logspace(-320, -1, 300),
            np.array(ERF_INV_SPECIAL),
        ])
    return np.concatenate([
        np.linspace(-10, 10, 4001),  # hits the integers (poles) and half-integers exactly
        np.linspace(0.99, 1.01, 401), np.linspace(1.99, 2.01, 401),
        np.linspace(_DIGAMMA_ROOT0 - 0.3, _DIGAMMA_ROOT0 + 0.3, 401),
        np.linspace(_DIGAMMA_ROOT1 - 0.2, _DIGAMMA_ROOT1 + 0.2, 401),
        np.logspace(-320, 308, 600), -np.logspace(-320, 17, 600),
        -np.arange(1, 300) - 0.5, -np.arange(1, 300) + 1e-9, -np.arange(1, 300) - 1e-9,
        np.array(SPECIAL),
    ])


def finite_and_special(min_value=None, max_value=None):
    return st.one_of(
        st.floats(min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False),
        st.sampled_from(SPECIAL),
        st.floats(allow_nan=True, allow_infinity=True),
    )


def _arrays(elements):
    return st.lists(elements, min_size=1, max_size=40).map(lambda v: np.array(v, np.float64))


STRATEGIES = {
    "erf": _arrays(finite_and_special(-30, 30)),
    "erfc": _arrays(finite_and_special(-30, 30)),
    "erf_inv": _arrays(st.one_of(
        st.floats(min_value=-1, max_value=1),
        st.floats(min_value=0.999, max_value=1).map(lambda v: v if v < 1 else 1 - 2**-53),
        st.sampled_from(ERF_INV_SPECIAL),
        st.floats(allow_nan=True, allow_infinity=True),
    )),
    "lgamma": _arrays(st.one_of(finite_and_special(-50, 50), st.floats(0.5, 3.5))),
    "digamma": _arrays(st.one_of(finite_and_special(-50, 50), st.floats(0.5, 3.5))),
}


# ------------------------------------------------------------------------------------------
# Accuracy against scipy


@pytest.mark.parametrize("name", FUNCS)
def test_grid_f64(name, sp):
    check_f64(name, grid(name), sp)


@pytest.mark.parametrize("name", FUNCS)
def test_hypothesis_f64(name, sp):
    @given(STRATEGIES[name])
    def run(x):
        check_f64(name, x, sp)

    run()


@pytest.mark.parametrize("dtype,rtol", NARROW)
@pytest.mark.parametrize("name", FUNCS)
def test_grid_narrow(name, dtype, rtol, sp):
    check_narrow(name, grid(name), dtype, rtol, sp)


@pytest.mark.parametrize("dtype,rtol", NARROW)
@pytest.mark.parametrize("name", FUNCS)
def test_hypothesis_narrow(name, dtype, rtol, sp):
    @given(STRATEGIES[name])
    def run(x):
        check_narrow(name, x, dtype, rtol, sp)

    run()


# ------------------------------------------------------------------------------------------
# Special values (XLA/JAX semantics)

nan, inf = math.nan, math.inf


F64_ONLY = "f64 only:"


@pytest.mark.parametrize("name,x,want", [
    ("erf", [nan, inf, -inf, 0.0, -0.0], [nan, 1.0, -1.0, 0.0, -0.0]),
    ("erfc", [nan, inf, -inf, 0.0, 30.0], [nan, 0.0, 2.0, 1.0, 0.0]),
    ("erf_inv", [nan, 1.0, -1.0, 1.5, -1.5, inf, -inf, 0.0, -0.0, F64_ONLY, -1.0000001],
     [nan, inf, -inf, nan, nan, nan, nan, 0.0, -0.0, F64_ONLY, nan]),
    ("lgamma", [nan, inf, -inf, 0.0, -0.0, -1.0, -2.0, 1.0, 2.0, F64_ONLY, -1e300, 1e306],
     [nan, inf, inf, inf, inf, inf, inf, 0.0, 0.0, F64_ONLY, inf, inf]),
    ("digamma", [nan, inf, -inf, 0.0, -0.0, -1.0, -2.0, F64_ONLY, -1e300, 5e-324, -5e-324],
     [nan, inf, nan, nan, nan, nan, nan, F64_ONLY, nan, -inf, inf]),
])
def test_special_values(name, x, want):
    """Exactly representable in every dtype, except the f64-only tail (after F64_ONLY)."""
    cut = x.index(F64_ONLY) if F64_ONLY in x else len(x)
    for dtype in (np.float64, np.float32, np.float16, ml_dtypes.bfloat16):
        if dtype is np.float64:
            xs, ws = x[:cut] + x[cut + 1:], want[:cut] + want[cut + 1:]
        else:
            xs, ws = x[:cut], want[:cut]
        xd = np.array(xs, np.float64).astype(dtype)
        w = np.array(ws, np.float64).astype(dtype).astype(np.float64)
        got = getattr(S, name)(xd)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got.astype(np.float64), w, err_msg=f"{name} {dtype}")
        # signs of zeros
        zero = w == 0
        np.testing.assert_array_equal(np.signbit(got.astype(np.float64)[zero]), np.signbit(w[zero]))


def test_semantics_match_jax():
    """The special values above are the ones XLA produces (checked in float32, jax's default)."""
    jax = pytest.importorskip("jax")
    jsp = pytest.importorskip("jax.scipy.special")
    x = np.array([nan, inf, -inf, 0.0, -0.0, -1.0, -2.0, -3.0, 1.0, 2.0, 1.5, -1.5, 1.0, -1.0,
                  0.5, 3.0], np.float32)
    pairs = {"erf": jsp.erf, "erfc": jsp.erfc, "erf_inv": jsp.erfinv, "lgamma": jsp.gammaln,
             "digamma": jsp.digamma}
    for name, jf in pairs.items():
        want = np.asarray(jax.device_get(jf(x)), np.float32)
        got = getattr(S, name)(x)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=name)
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=name)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)


# ------------------------------------------------------------------------------------------
# High-precision checks where scipy itself is not accurate enough to be the judge


def test_relative_accuracy_near_zeros_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 120
    rng = np.random.default_rng(0)

    def rel_err(got, xs, fn):
        want = np.array([float(fn(mpmath.mpf(float(v)))) for v in xs])
        return np.max(np.abs(got - want) / np.abs(want))

    lg = lambda v: mpmath.re(mpmath.loggamma(v))  # noqa: E731
    for centre in (1.0, 2.0):
        for width in (1e-1, 1e-4, 1e-9):
            xs = centre + rng.uniform(-width, width, 60)
            xs = xs[xs != centre]
            assert rel_err(S.lgamma(xs), xs, lg) < 4e-15, (centre, width)
    for lo, hi in ((1e-6, 0.5), (0.5, 3.5), (3.5, 40.0)):
        xs = rng.uniform(lo, hi, 100)
        assert rel_err(S.lgamma(xs), xs, lg) < 4e-15, (lo, hi)
    for root in (_DIGAMMA_ROOT0, _DIGAMMA_ROOT1):
        for width in (1e-1, 1e-5, 1e-12):
            xs = root + rng.uniform(-width, width, 60)
            assert rel_err(S.digamma(xs), xs, mpmath.digamma) < 4e-15, (root, width)
    for lo, hi in ((1e-6, 0.5), (0.5, 3.5), (3.5, 40.0), (40.0, 1e6)):
        xs = rng.uniform(lo, hi, 100)
        assert rel_err(S.digamma(xs), xs, mpmath.digamma) < 4e-15, (lo, hi)
    for xs in (1 - rng.integers(1, 10**6, 60) * 2.0**-53, rng.uniform(-1, 1, 100),
               np.exp(rng.uniform(-700, -1, 60))):
        assert rel_err(S.erf_inv(xs), xs, mpmath.erfinv) < 4e-15
    for xs in (rng.uniform(-6, 26, 200),):
        assert rel_err(S.erfc(xs), xs, mpmath.erfc) < 4e-15
        assert rel_err(S.erf(xs), xs, mpmath.erf) < 4e-15


# ------------------------------------------------------------------------------------------
# Array plumbing


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, ml_dtypes.bfloat16])
def test_zero_d_and_shapes(name, dtype):
    f = getattr(S, name)
    x0 = np.array(0.25, dtype)
    r0 = f(x0)
    assert type(r0) is np.ndarray and r0.shape == () and r0.dtype == np.dtype(dtype)
    r = f(np.full((2, 0, 3), 0.25, dtype))
    assert type(r) is np.ndarray and r.shape == (2, 0, 3) and r.dtype == np.dtype(dtype)
    x = np.linspace(0.1, 0.9, 24).astype(dtype).reshape(2, 3, 4)
    r = f(x)
    assert r.shape == (2, 3, 4) and r.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(r.reshape(-1), f(x.reshape(-1)))
    # non-contiguous views work and the input is not modified
    xv = np.linspace(-3.3, 3.7, 40)[::3]
    before = xv.copy()
    np.testing.assert_array_equal(f(xv), f(xv.copy()))
    np.testing.assert_array_equal(xv, before)


@pytest.mark.parametrize("name", FUNCS)
def test_integer_input_gives_float64(name):
    r = getattr(S, name)(np.array([0, 1, 2], np.int32))
    assert r.dtype == np.float64
    np.testing.assert_array_equal(r, getattr(S, name)(np.array([0.0, 1.0, 2.0])))


def test_complex_rejected():
    with pytest.raises(TypeError):
        S.erf(np.array([1j]))


@pytest.mark.parametrize("name", FUNCS)
def test_vectorised_speed(name):
    """f64[10000] well under 50 ms (budgeted loosely here so a loaded CI machine does not flake)."""
    f = getattr(S, name)
    x = np.random.default_rng(0).uniform(-1 if name == "erf_inv" else -20, 1 if name == "erf_inv" else 20, 10_000)
    f(x)
    best = min(_timed(f, x) for _ in range(3))
    assert best < 0.25, best


def _timed(f, x) -> float:
    t0 = time.perf_counter()
    f(x)
    return time.perf_counter() - t0
