"""Tests of `dsl.random` against `jax.random` (the oracle), bit for bit where JAX's algorithm is
matched, plus staging, reproducibility and error cases.

Bit-exact: key, split, fold_in, bits (u8..u64), uniform with the default bounds (every float
dtype), bernoulli, randint, permutation, and categorical's indices on the seeds tested.
Close, not bit-exact: uniform with other bounds (XLA CPU fuses `u * span + lo` into one FMA, our
evaluate rounds twice: checked exactly against the unfused formula on JAX's own bits, and within
one rounding of JAX), and samplers going through a transcendental function (normal via erf_inv,
truncated_normal via erf/erf_inv), whose last bits depend on the backend's implementation of
that function: checked against JAX to f32 rounding tolerance, plus moment/range properties.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl as d
from dsl import random as R
from dsl.errors import ConcretizationError, DTypeError, ShapeError
from dsl.typecheck import typecheck
from interpreters import evaluate
from interpreters.evaluate import eval_program

SEEDS = [0, 1, 42, 2**31 - 1, 2**32 - 1, 123456789]
LOGITS = np.random.RandomState(0).randn(5, 7).astype(np.float32)
P_GRID = np.linspace(0, 1, 12).astype(np.float32).reshape(3, 4)
X3 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
LO3 = np.array([-1.0, 0.0, 1.0], np.float32)

# Each case: (our function of a key, JAX's function of a key, how they must agree). Every JAX
# case is traced into ONE jitted, vmapped-over-seeds program (XLA compiles cost about a second
# each, so one compile for the whole table keeps the file fast).
Case = tuple[Callable[[Any], Any], Callable[[Any], Any], str]
JR = jax.random


def _cases() -> dict[str, Case]:
    c: dict[str, Case] = {}
    for num in [2, 1, 0, (2, 3), ()]:
        c[f"split{num}"] = (lambda k, n=num: R.split(k, n), lambda k, n=num: JR.split(k, n),
                            "exact")
    for data in [0, 7, 2**32 - 1, np.int8(-1), np.int32(-12)]:
        c[f"fold_in{data!r}"] = (lambda k, x=data: R.fold_in(k, x),
                                 lambda k, x=data: JR.fold_in(k, x), "exact")
    for shape in [(), (1,), (3, 4), (2, 3, 5), (0,), (2, 0, 3), (2000,)]:
        c[f"bits{shape}"] = (lambda k, s=shape: R.bits(k, s), lambda k, s=shape: JR.bits(k, s),
                             "exact")
    c["bits_int_shape"] = (lambda k: R.bits(k, 6), lambda k: JR.bits(k, (6,)), "exact")
    for dt in [np.uint8, np.uint16]:
        for shape in [(), (3, 5)]:
            c[f"bits{shape}{dt.__name__}"] = (lambda k, s=shape, t=dt: R.bits(k, s, t),
                                              lambda k, s=shape, t=dt: JR.bits(k, s, t), "exact")
    for dt, shapes in [(np.float32, [(), (1000,), (3, 4), (0, 5)]),
                       (np.float16, [(1000,)]), (ml_dtypes.bfloat16, [(), (1000,)])]:
        for shape in shapes:
            c[f"uniform{shape}{dt.__name__}"] = (lambda k, s=shape, t=dt: R.uniform(k, s, t),
                                                 lambda k, s=shape, t=dt: JR.uniform(k, s, t),
                                                 "exact")
    for lo, hi in [(-3.5, 2.25), (-1e-3, 5e4)]:
        # XLA fuses `u * span + lo` into one FMA, our evaluate rounds twice: one rounding apart
        c[f"uniform[{lo},{hi})"] = (
            lambda k, a=lo, b=hi: R.uniform(k, (2000,), minval=a, maxval=b),
            lambda k, a=lo, b=hi: JR.uniform(k, (2000,), minval=a, maxval=b), f"fma{max(-lo, hi)}")
    c["uniform_array_bounds"] = (lambda k: R.uniform(k, (4, 3), minval=LO3, maxval=LO3 + 1),
                                 lambda k: JR.uniform(k, (4, 3), minval=LO3, maxval=LO3 + 1),
                                 "fma2")
    for shape in [(), (1000,), (0,)]:
        # JAX's CPU erf_inv is accurate to a few ulps, ours to f32 rounding
        c[f"normal{shape}"] = (lambda k, s=shape: R.normal(k, s),
                               lambda k, s=shape: JR.normal(k, s), "close")
    c["normal_c64"] = (lambda k: R.normal(k, (300,), np.complex64),
                       lambda k: JR.normal(k, (300,), np.complex64), "close")
    for p, shape in [(0.3, (100,)), (0.5, ()), (0.0, (10,))]:
        c[f"bernoulli{p}{shape}"] = (lambda k, q=p, s=shape: R.bernoulli(k, q, s),
                                     lambda k, q=p, s=shape: JR.bernoulli(k, q, s), "exact")
    c["bernoulli_grid"] = (lambda k: R.bernoulli(k, P_GRID), lambda k: JR.bernoulli(k, P_GRID),
                           "exact")
    c["bernoulli_row"] = (lambda k: R.bernoulli(k, P_GRID[0], (5, 4)),
                          lambda k: JR.bernoulli(k, P_GRID[0], (5, 4)), "exact")
    for args in [((50,), -5, 1000), ((3, 4), 0, 2**31 - 1), ((20,), 5, 3),
                 ((20,), -2**31, 2**31 - 1), ((), 0, 7), ((0, 3), 0, 5)]:
        c[f"randint{args}"] = (lambda k, a=args: R.randint(k, *a),
                               lambda k, a=args: JR.randint(k, *a), "exact")
    for dt in [np.int8, np.uint8, np.int16, np.uint32]:
        for lo, hi in [(0, 256), (-3, 100)]:
            if np.iinfo(dt).min <= lo:
                c[f"randint{dt.__name__}[{lo},{hi})"] = (
                    lambda k, t=dt, a=lo, b=hi: R.randint(k, (40,), a, b, t),
                    lambda k, t=dt, a=lo, b=hi: JR.randint(k, (40,), a, b, t), "exact")
    lo_i = np.array([0, 10, 100], np.int32)
    c["randint_array_bounds"] = (lambda k: R.randint(k, (2, 3), lo_i, 1000),
                                 lambda k: JR.randint(k, (2, 3), lo_i, 1000), "exact")
    # 2000 > 1625 = 2**(32/3) elements need two sorting rounds
    for n in [0, 1, 100, 2000]:
        c[f"permutation{n}"] = (lambda k, m=n: R.permutation(k, m),
                                lambda k, m=n: JR.permutation(k, m), "exact")
    for axis in [0, 1, -1]:
        c[f"permutation_axis{axis}"] = (lambda k, a=axis: R.permutation(k, X3, a),
                                        lambda k, a=axis: JR.permutation(k, X3, a), "exact")
    v = np.arange(10, dtype=np.int16) * 3
    c["permutation_i16"] = (lambda k: R.permutation(k, v), lambda k: JR.permutation(k, v),
                            "exact")
    for axis, shape in [(-1, None), (0, None), (-1, (3, 5)), (0, (2, 7))]:
        c[f"categorical{axis}{shape}"] = (
            lambda k, a=axis, s=shape: R.categorical(k, LOGITS, a, s),
            lambda k, a=axis, s=shape: JR.categorical(k, LOGITS, a, shape=s), "exact")
    for lower, upper, shape in [(-1.0, 2.0, (1000,)), (-2.0, -1.9, (50,))]:
        c[f"truncated_normal({lower},{upper}){shape}"] = (
            lambda k, a=lower, b=upper, s=shape: R.truncated_normal(k, a, b, s),
            lambda k, a=lower, b=upper, s=shape: JR.truncated_normal(k, a, b, s), "close")
    c["truncated_normal_bcast"] = (lambda k: R.truncated_normal(k, LO3, LO3 + 0.5),
                                   lambda k: JR.truncated_normal(k, LO3, LO3 + 0.5), "close")
    return c


def _cases64() -> dict[str, Case]:
    """Cases needing JAX's 64-bit mode as the oracle (our 64-bit dtypes)."""
    c: dict[str, Case] = {}
    for shape in [(), (3, 5)]:
        c[f"bits{shape}u64"] = (lambda k, s=shape: R.bits(k, s, np.uint64),
                                lambda k, s=shape: JR.bits(k, s, np.uint64), "exact")
    c["uniform_f64"] = (lambda k: R.uniform(k, (500,), np.float64),
                        lambda k: JR.uniform(k, (500,), np.float64), "exact")
    c["normal_f64"] = (lambda k: R.normal(k, (500,), np.float64),
                       lambda k: JR.normal(k, (500,), np.float64), "close64")
    for dt in [np.int64, np.uint64]:
        for lo, hi in [(0, 256), (-3, 100)]:
            if np.iinfo(dt).min <= lo:
                c[f"randint{dt.__name__}[{lo},{hi})"] = (
                    lambda k, t=dt, a=lo, b=hi: R.randint(k, (40,), a, b, t),
                    lambda k, t=dt, a=lo, b=hi: JR.randint(k, (40,), a, b, t), "exact")
    c["randint_i32_in_x64"] = (lambda k: R.randint(k, (30,), -4, 4, np.int32),
                               lambda k: JR.randint(k, (30,), -4, 4, np.int32), "exact")
    return c


CASES, CASES64 = _cases(), _cases64()


def _run_oracle(cases: dict[str, Case], path: str) -> None:
    """Compute JAX's results of `cases` (run in a subprocess, see `_Oracle`) into `path`."""
    fn = jax.jit(lambda k: {name: theirs(k) for name, (_, theirs, _) in cases.items()})
    runs = [fn(jax.random.PRNGKey(s)) for s in SEEDS]
    np.savez(path, **{name: np.stack([np.asarray(r[name]) for r in runs]) for name in cases})


class _Oracle:
    """JAX's results, computed in a subprocess with XLA's optimizer off: compiling the table
    takes seconds instead of a minute, and XLA flags of this process stay untouched. Both
    subprocesses start at once and run alongside the other tests."""

    def __init__(self) -> None:
        self.procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        self.dir: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> None:
        if self.procs:
            return
        self.dir = tempfile.TemporaryDirectory(prefix="test_random_oracle_")  # removed at exit
        here = os.path.dirname(os.path.abspath(__file__))
        env = dict(os.environ, XLA_FLAGS="--xla_backend_optimization_level=0 "
                   "--xla_llvm_disable_expensive_passes=true", JAX_PLATFORMS="cpu",
                   PYTHONPATH=os.pathsep.join([here, os.path.dirname(here),
                                               os.environ.get("PYTHONPATH", "")]))
        for which in ("x32", "x64"):
            path = os.path.join(self.dir.name, which + ".npz")
            code = ("import sys, jax, test_random as T\n"
                    "if sys.argv[1] == 'x64': jax.config.update('jax_enable_x64', True)\n"
                    "T._run_oracle(T.CASES if sys.argv[1] == 'x32' else T.CASES64, sys.argv[2])")
            proc = subprocess.Popen([sys.executable, "-c", code, which, path], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.procs[which] = (proc, path)

    def get(self, which: str) -> dict[str, np.ndarray]:
        self.start()
        proc, path = self.procs[which]
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out.decode()[-3000:]
        with np.load(path) as f:  # (npz keeps bfloat16 as raw 2-byte records)
            return {k: f[k].view(ml_dtypes.bfloat16) if f[k].dtype == np.dtype("V2") else f[k]
                    for k in f.files}


_ORACLE = _Oracle()


@pytest.fixture(scope="module", autouse=True)
def _start_oracle() -> None:
    _ORACLE.start()


@pytest.fixture(scope="module")
def oracle() -> dict[str, np.ndarray]:
    return _ORACLE.get("x32")


@pytest.fixture(scope="module")
def oracle64() -> dict[str, np.ndarray]:
    return _ORACLE.get("x64")


def same(ours: Any, theirs: Any) -> None:
    """Equal shape, dtype and bits."""
    a, b = np.asarray(ours), np.asarray(theirs)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.tobytes() == b.tobytes(), (a, b)


def agree(ours: Any, theirs: np.ndarray, how: str) -> None:
    a = np.asarray(ours)
    if how == "exact":
        same(a, theirs)
        return
    assert a.shape == theirs.shape and a.dtype == theirs.dtype, (a.dtype, theirs.dtype)
    if how.startswith("fma"):
        # one rounding apart, at the scale of the bounds
        np.testing.assert_allclose(a, theirs, rtol=0, atol=np.spacing(np.float32(how[3:])))
    elif how == "close":
        np.testing.assert_allclose(a, theirs, rtol=2e-5, atol=2e-7)
    else:
        np.testing.assert_allclose(a, theirs, rtol=1e-12, atol=1e-14)


def jkey(seed: Any) -> Any:
    return jax.random.PRNGKey(seed)


# ------------------------------------------------------------------------------------------
# keys


@pytest.mark.parametrize("seed", SEEDS + [-1, -7, 2**40 + 7, -2**40, 2**63 - 1])
def test_key_matches_jax(seed: int) -> None:
    same(R.key(seed), jkey(seed))


@pytest.mark.parametrize("seed", [np.int8(-3), np.int16(-1), np.uint16(65535), np.int32(-5),
                                  np.uint32(4000000000)])
def test_key_from_narrow_integer_arrays(seed: Any) -> None:
    same(R.key(seed), jkey(seed))


def test_key_from_64_bit_seeds_uses_both_words() -> None:
    with jax.enable_x64(True):
        for seed in [np.int64(2**40 + 7), np.int64(-2), np.uint64(2**63 + 5)]:
            same(R.key(seed), jax.random.PRNGKey(seed))


def test_split_chain_matches_jax() -> None:
    k, jk = R.key(5), jkey(5)
    for _ in range(3):
        k, sub = R.split(k)
        jk, jsub = jax.random.split(jk)
        same(k, jk)
        same(sub, jsub)


_bits_of_fold_in = jax.jit(lambda k, x: jax.random.bits(jax.random.fold_in(k, x), (3, 5)))


@settings(max_examples=8)
@given(seed=st.integers(0, 2**32 - 1), data=st.integers(0, 2**32 - 1))
def test_bits_of_fold_in_hypothesis(seed: int, data: int) -> None:
    same(R.bits(R.fold_in(R.key(seed), data), (3, 5)),
         _bits_of_fold_in(jkey(seed), np.uint32(data)))


# ------------------------------------------------------------------------------------------
# properties of the samples


def test_uniform_ranges() -> None:
    u = np.asarray(R.uniform(R.key(0), (10000,)))
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    u = np.asarray(R.uniform(R.key(1), (4, 3), minval=LO3, maxval=LO3 + 1))
    assert (u >= LO3).all() and (u < LO3 + 1).all()


def test_normal_moments() -> None:
    z = np.asarray(R.normal(R.key(11), (200000,))).astype(np.float64)
    # standard errors: mean 1/sqrt(n) ~ 0.0022, variance sqrt(2/n) ~ 0.0032 (5+ sigma bounds)
    assert abs(z.mean()) < 0.012 and abs(z.var() - 1) < 0.016
    assert abs(np.mean(np.abs(z) < 1) - 0.6826894921) < 0.006


def test_randint_in_range() -> None:
    lo = np.array([0, 10, 100], np.int32)
    v = np.asarray(R.randint(R.key(8), (5000, 3), lo, lo + 4))
    assert ((v >= lo) & (v < lo + 4)).all()
    assert all(len(np.unique(v[:, j])) == 4 for j in range(3))


def test_permutation_is_a_permutation() -> None:
    for n in (1, 7, 300):
        p = np.asarray(R.permutation(R.key(n), n))
        assert p.dtype == np.int32 and sorted(p.tolist()) == list(range(n))


def test_categorical_frequencies() -> None:
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4], np.float32))
    n = 40000
    draws = np.asarray(R.categorical(R.key(0), logits, shape=(n,)))
    counts = np.bincount(draws, minlength=4)
    expected = n * np.array([0.1, 0.2, 0.3, 0.4])
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert chi2 < 21.1  # chi-square, 3 degrees of freedom: P(chi2 > 21.1) < 1e-4


def test_truncated_normal_stays_inside() -> None:
    for lower, upper in [(-1.0, 2.0), (0.5, 3.0), (-2.0, -1.9), (3.0, 3.0001)]:
        t = np.asarray(R.truncated_normal(R.key(3), lower, upper, (2000,)))
        assert (t > np.float32(lower)).all() and (t < np.float32(upper)).all()


# ------------------------------------------------------------------------------------------
# staging, reproducibility


STAGED: list[tuple[str, Callable[[Any], Any]]] = [
    ("split", lambda k: R.split(k, 3)),
    ("split_shape", lambda k: R.split(k, (2, 2))),
    ("fold_in", lambda k: R.fold_in(k, 17)),
    ("bits", lambda k: R.bits(k, (3, 4))),
    ("bits_u64", lambda k: R.bits(k, (5,), np.uint64)),
    ("bits_empty", lambda k: R.bits(k, (0, 3))),
    ("uniform", lambda k: R.uniform(k, (6,), minval=-1.0, maxval=3.0)),
    ("normal", lambda k: R.normal(k, (2, 3))),
    ("bernoulli", lambda k: R.bernoulli(k, 0.25, (8,))),
    ("categorical", lambda k: R.categorical(k, np.ones((3, 4), np.float32))),
    ("permutation", lambda k: R.permutation(k, 10)),
    ("randint", lambda k: R.randint(k, (7,), -3, 9)),
    ("truncated_normal", lambda k: R.truncated_normal(k, -0.5, 0.5, (4,))),
]


@pytest.mark.parametrize("name,fn", STAGED, ids=[n for n, _ in STAGED])
def test_staged_equals_eager(name: str, fn: Callable[[Any], Any]) -> None:
    k = R.key(31)
    program = d.stage(fn)(k)
    assert program.in_types[0] == d.TensorType((2,), np.uint32)
    typecheck(program)
    (out,) = eval_program(program, [np.asarray(k)])
    same(out, fn(k))
    same(evaluate(fn)(k), fn(k))


def test_staged_key_from_symbolic_seed() -> None:
    def f(seed: Any) -> Any:
        return R.bits(R.split(R.key(seed), 2)[1], (4,))

    theirs = jax.jit(lambda s: jax.random.bits(jax.random.split(jax.random.PRNGKey(s))[1], (4,)))
    for seed in (np.int32(5), np.int32(-9), np.uint32(3000000000)):
        program = d.stage(f)(seed)
        (out,) = eval_program(program, [np.asarray(seed)])
        same(out, theirs(seed))


def test_staged_fold_in_symbolic_data() -> None:
    k = R.key(2)
    program = d.stage(lambda key, i: R.fold_in(key, i))(k, np.int32(0))
    for i in (0, 5, -1):
        (out,) = eval_program(program, [np.asarray(k), np.asarray(np.int32(i))])
        same(out, jax.random.fold_in(jkey(2), np.int32(i)))


def test_reproducible_and_key_dependent() -> None:
    a = np.asarray(R.normal(R.key(0), (100,)))
    same(a, R.normal(R.key(0), (100,)))
    b = np.asarray(R.normal(R.key(1), (100,)))
    assert np.mean(a == b) < 0.05
    k1, k2 = R.split(R.key(0))
    assert np.mean(np.asarray(R.bits(k1, (100,))) == np.asarray(R.bits(k2, (100,)))) < 0.05


def test_returns_arrays_eagerly() -> None:
    k = R.key(0)
    assert isinstance(k, d.Array) and k.dtype == np.uint32 and k.shape == (2,)
    assert isinstance(R.uniform(k, (2,)), d.Array)


# ------------------------------------------------------------------------------------------
# errors


BAD_KEYS = [(np.zeros(3, np.uint32), ShapeError, "u32[3]"),
            (np.zeros((4, 2), np.uint32), ShapeError, "u32[4,2]"),
            (np.zeros(2, np.int32), DTypeError, "i32[2]"),
            (np.zeros(2, np.float32), DTypeError, "f32[2]")]

FUNCS: list[tuple[str, Callable[[Any], Any]]] = [
    ("split", lambda k: R.split(k)), ("fold_in", lambda k: R.fold_in(k, 1)),
    ("bits", lambda k: R.bits(k)), ("uniform", lambda k: R.uniform(k)),
    ("normal", lambda k: R.normal(k)), ("bernoulli", lambda k: R.bernoulli(k)),
    ("categorical", lambda k: R.categorical(k, np.zeros(3, np.float32))),
    ("permutation", lambda k: R.permutation(k, 4)),
    ("randint", lambda k: R.randint(k, (2,), 0, 3)),
    ("truncated_normal", lambda k: R.truncated_normal(k, -1.0, 1.0)),
]


@pytest.mark.parametrize("name,fn", FUNCS, ids=[n for n, _ in FUNCS])
@pytest.mark.parametrize("bad,err,typ", BAD_KEYS, ids=[t for _, _, t in BAD_KEYS])
def test_bad_keys(name: str, fn: Callable[[Any], Any], bad: np.ndarray, err: type,
                  typ: str) -> None:
    with pytest.raises(err, match=rf"random\.{name}.*{re_escape(typ)}"):
        fn(d.asarray(bad))


def re_escape(s: str) -> str:
    import re

    return re.escape(s)


def test_key_not_an_array() -> None:
    with pytest.raises(TypeError, match="random.split"):
        R.split(5)


@pytest.mark.parametrize("call,err,pattern", [
    (lambda: R.key(1.5), DTypeError, r"random\.key.*float"),
    (lambda: R.key(np.float32(1.0)), DTypeError, r"random\.key.*f32\[\]"),
    (lambda: R.key(np.array([1, 2], np.int32)), ShapeError, r"random\.key.*i32\[2\]"),
    (lambda: R.key(np.bool_(True)), DTypeError, r"random\.key.*bool\[\]"),
    (lambda: R.key(2**64), ValueError, r"random\.key"),
    (lambda: R.fold_in(R.key(0), -1), ValueError, r"random\.fold_in"),
    (lambda: R.fold_in(R.key(0), 2**32), ValueError, r"random\.fold_in"),
    (lambda: R.fold_in(R.key(0), np.array([1, 2], np.int32)), ShapeError,
     r"random\.fold_in.*i32\[2\]"),
    (lambda: R.fold_in(R.key(0), np.float32(1)), DTypeError, r"random\.fold_in.*f32\[\]"),
    (lambda: R.split(R.key(0), -1), ShapeError, r"random\.split.*negative"),
    (lambda: R.split(R.key(0), 2.5), TypeError, r"random\.split.*shape"),
    (lambda: R.bits(R.key(0), (2,), np.int32), DTypeError, r"random\.bits.*i32"),
    (lambda: R.bits(R.key(0), (2,), np.float32), DTypeError, r"random\.bits.*f32"),
    (lambda: R.bits(R.key(0), (-1,)), ShapeError, r"random\.bits.*negative"),
    (lambda: R.bits(R.key(0), (2.5,)), TypeError, r"random\.bits.*shape"),
    (lambda: R.uniform(R.key(0), (2,), np.int32), DTypeError, r"random\.uniform.*i32"),
    (lambda: R.uniform(R.key(0), (2,), minval=np.zeros(3, np.float32)), ShapeError,
     r"random\.uniform.*f32\[3\]"),
    (lambda: R.normal(R.key(0), (2,), np.int32), DTypeError, r"random\.normal.*i32"),
    (lambda: R.randint(R.key(0), (2,), 0, 5, np.float32), DTypeError, r"random\.randint.*f32"),
    (lambda: R.randint(R.key(0), (2,), 0, np.zeros(3, np.int32)), ShapeError,
     r"random\.randint.*i32\[3\]"),
    (lambda: R.bernoulli(R.key(0), np.int32(1)), DTypeError, r"random\.bernoulli.*i32\[\]"),
    (lambda: R.bernoulli(R.key(0), np.zeros(3, np.float32), (2,)), ShapeError,
     r"random\.bernoulli.*f32\[3\]"),
    (lambda: R.categorical(R.key(0), np.zeros(3, np.int32)), DTypeError,
     r"random\.categorical.*i32\[3\]"),
    (lambda: R.categorical(R.key(0), np.zeros((2, 3), np.float32), axis=2), ShapeError,
     r"random\.categorical.*f32\[2,3\]"),
    (lambda: R.categorical(R.key(0), np.zeros((2, 3), np.float32), shape=(4,)), ShapeError,
     r"random\.categorical"),
    (lambda: R.categorical(R.key(0), np.zeros((2, 0), np.float32)), ShapeError,
     r"random\.categorical.*f32\[2,0\]"),
    (lambda: R.permutation(R.key(0), 2.5), TypeError, r"random\.permutation"),
    (lambda: R.permutation(R.key(0), np.float32(2)), DTypeError, r"random\.permutation.*f32"),
    (lambda: R.permutation(R.key(0), np.zeros((2, 3)), axis=2), ShapeError,
     r"random\.permutation.*f64\[2,3\]"),
    (lambda: R.truncated_normal(R.key(0), np.zeros(2, np.float32), np.ones(3, np.float32)),
     ShapeError, r"random\.truncated_normal.*f32\[2\].*f32\[3\]"),
    (lambda: R.truncated_normal(R.key(0), 0.0, 1.0, dtype=np.int32), DTypeError,
     r"random\.truncated_normal.*i32"),
])
def test_bad_arguments(call: Callable[[], Any], err: type, pattern: str) -> None:
    with pytest.raises(err, match=pattern):
        call()


def test_permutation_of_symbolic_count_needs_a_concrete_value() -> None:
    with pytest.raises(ConcretizationError):
        d.stage(lambda k, n: R.permutation(k, n))(R.key(0), np.int32(3))


def test_jax_is_only_the_oracle() -> None:
    # the module under test never imports jax (layering rule)
    import dsl.random as mod

    with open(mod.__file__) as f:
        src = f.read()
    assert "import jax" not in src


# ------------------------------------------------------------------------------------------
# the table of cases against JAX (last, so the oracle subprocesses run while the tests above do)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_jax(name: str, oracle: dict[str, np.ndarray]) -> None:
    ours, _, how = CASES[name]
    for i, seed in enumerate(SEEDS):
        agree(ours(R.key(seed)), oracle[name][i], how)


@pytest.mark.parametrize("name", list(CASES64))
def test_matches_jax_64_bit(name: str, oracle64: dict[str, np.ndarray]) -> None:
    ours, _, how = CASES64[name]
    for i, seed in enumerate(SEEDS):
        agree(ours(R.key(seed)), oracle64[name][i], how)


def test_uniform_with_bounds_is_the_unfused_formula(oracle: dict[str, np.ndarray]) -> None:
    for i, seed in enumerate(SEEDS):
        b = oracle["bits(2000,)"][i]  # JAX's own bits: the exact reference of our semantics
        f = ((b >> np.uint32(9)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)
        lo, hi = np.float32(-3.5), np.float32(2.25)
        ours = R.uniform(R.key(seed), (2000,), minval=-3.5, maxval=2.25)
        same(ours, np.maximum(lo, f * (hi - lo) + lo))
