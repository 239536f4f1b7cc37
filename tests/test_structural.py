"""The structural, indexing, reduction, dot and sort primitives against independent oracles.

Each expected value is computed another way than the rule computes it: element loops in Python
for gather/scatter/pad/sort, float64 `einsum` for `dot_general`, NumPy's own functions for the
rest. A law closes the file: over random programs, every rule returns exactly the dtypes and
shapes that the type rules declare.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl as d
from dsl import dtypes as D
from dsl import ops as P
from dsl.core import bind
from dsl.testing import arrays, programs, shapes
from dsl.types import TensorType
from interpreters.evaluate import eval_program

F32 = D.float32


def run(op: P.Op, *xs: Any) -> Any:
    """Eager result and the staged-then-evaluated result must agree; return the eager one."""
    eager = bind(op, *xs)
    prog = d.stage(lambda *a: bind(op, *a))(*xs)
    staged = eval_program(prog, [np.asarray(x) for x in xs])
    outs = eager if isinstance(eager, (tuple, list)) else (eager,)
    for e, s, t in zip(outs, staged, prog.out_types):
        assert np.asarray(e).dtype == t.dtype and np.asarray(e).shape == t.shape
        np.testing.assert_array_equal(np.asarray(e), s)
    return eager


def arr(x: Any, dtype: Any = None) -> d.Array:
    return d.asarray(np.asarray(x, dtype=dtype))


# --- shapes ----------------------------------------------------------------------------------

def test_iota_each_dimension() -> None:
    out = np.asarray(run(P.Iota(dtype=D.int32, shape=(2, 3), dimension=1)))
    np.testing.assert_array_equal(out, [[0, 1, 2], [0, 1, 2]])
    out = np.asarray(run(P.Iota(dtype=F32, shape=(3, 2), dimension=0)))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0], [1, 1], [2, 2]])


@given(st.data())
def test_broadcast_in_dim_matches_numpy(data: Any) -> None:
    shape = data.draw(shapes(1, 3, 0, 3))
    keep = data.draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    dims = tuple(i for i, k in enumerate(keep) if k)
    src_shape = tuple(data.draw(st.sampled_from([1, shape[i]])) for i in dims)
    x = data.draw(arrays(TensorType(src_shape, F32)))
    out = run(P.BroadcastInDim(shape=shape, broadcast_dimensions=dims), arr(x))
    view = [1] * len(shape)
    for j, i in enumerate(dims):
        view[i] = src_shape[j]
    np.testing.assert_array_equal(np.asarray(out), np.broadcast_to(x.reshape(view), shape))


@given(st.data())
def test_reshape_transpose_rev(data: Any) -> None:
    shape = data.draw(shapes(1, 3, 0, 4))
    x = data.draw(arrays(TensorType(shape, D.int32)))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    np.testing.assert_array_equal(np.asarray(run(P.Transpose(permutation=perm), arr(x))),
                                  x.transpose(perm))
    np.testing.assert_array_equal(np.asarray(run(P.Reshape(new_sizes=(x.size,)), arr(x))),
                                  x.ravel())
    dims = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1)))))
    np.testing.assert_array_equal(np.asarray(run(P.Rev(dimensions=dims), arr(x))),
                                  np.flip(x, dims) if dims else x)


def test_squeeze_expand_dims() -> None:
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 1, 3)
    assert np.asarray(run(P.Squeeze(dimensions=(0, 2)), arr(x))).shape == (2, 3)
    y = np.asarray(run(P.ExpandDims(dimensions=(0, 3)), arr(x[0, :, 0])))
    np.testing.assert_array_equal(y, x[0, :, 0].reshape(1, 2, 3, 1))


def _pad_oracle(x: np.ndarray, v: Any, config: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """Element by element: input index i lands at lo + i * (interior + 1), then crop."""
    full_shape = [n + max(n - 1, 0) * c + max(lo, 0) + max(hi, 0)
                  for n, (lo, hi, c) in zip(x.shape, config)]
    out = np.full(full_shape, v, x.dtype)
    for idx in itertools.product(*map(range, x.shape)):
        pos = tuple(max(lo, 0) + i * (c + 1) for i, (lo, _, c) in zip(idx, config))
        out[pos] = x[idx]
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi, _) in zip(full_shape, config))
    return out[crop]


@given(st.data())
def test_pad_with_negative_and_interior(data: Any) -> None:
    shape = data.draw(shapes(1, 2, 0, 4))
    x = data.draw(arrays(TensorType(shape, F32)))
    config = []
    for n in shape:
        interior = data.draw(st.integers(0, 2))
        size = n + max(n - 1, 0) * interior
        lo = data.draw(st.integers(-size, 2))
        hi = data.draw(st.integers(-(size + lo) if size + lo > 0 else 0, 2))
        config.append((lo, hi, interior))
    out = run(P.Pad(config=tuple(config)), arr(x), arr(np.float32(-7)))
    np.testing.assert_array_equal(np.asarray(out), _pad_oracle(x, -7, tuple(config)))


def test_concatenate_and_slices() -> None:
    a = np.arange(6, dtype=np.int16).reshape(2, 3)
    b = np.arange(4, dtype=np.int16).reshape(2, 2) + 100
    np.testing.assert_array_equal(np.asarray(run(P.Concatenate(dimension=1), arr(a), arr(b))),
                                  np.concatenate([a, b], 1))
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    out = run(P.Slice(start_indices=(1, 0), limit_indices=(4, 5), strides=(2, 3)), arr(x))
    np.testing.assert_array_equal(np.asarray(out), x[1:4:2, 0:5:3])


@pytest.mark.parametrize("start,expect", [((1, 1), (1, 1)), ((-5, 2), (0, 2)),
                                          ((9, 9), (2, 3))])
def test_dynamic_slice_and_update_clamp(start: tuple[int, int], expect: tuple[int, int]) -> None:
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    starts = [arr(np.int32(s)) for s in start]
    out = run(P.DynamicSlice(slice_sizes=(2, 2)), arr(x), *starts)
    i, j = expect
    np.testing.assert_array_equal(np.asarray(out), x[i:i + 2, j:j + 2])
    u = -np.ones((2, 2), np.float32)
    out = run(P.DynamicUpdateSlice(), arr(x), arr(u), *starts)
    want = x.copy()
    want[i:i + 2, j:j + 2] = u
    np.testing.assert_array_equal(np.asarray(out), want)


# --- gather and scatter ----------------------------------------------------------------------

def _fill(dt: np.dtype) -> Any:
    if dt == np.bool_:
        return True
    if dt.kind == "u":
        return np.iinfo(dt).max
    return np.iinfo(dt).min if dt.kind == "i" else np.nan


@given(st.data())
def test_gather_by_loops(data: Any) -> None:
    dt = data.draw(st.sampled_from([F32, D.int32, D.uint8, D.bool_]))
    shape = data.draw(shapes(1, 3, 1, 4))
    x = data.draw(arrays(TensorType(shape, dt)))
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    batch = data.draw(shapes(0, 2, 0, 3))
    idx = data.draw(arrays(TensorType(batch + (len(axes),), D.int32), (-6, 6)))
    mode = data.draw(st.sampled_from(["clip", "fill"]))
    out = np.asarray(run(P.Gather(axes=axes, mode=mode), arr(x), arr(idx)))
    rest = [n for i, n in enumerate(shape) if i not in axes]
    want = np.empty(batch + tuple(rest), x.dtype)
    for b in itertools.product(*map(range, batch)):
        pos = idx[b]
        ok = all(0 <= p < shape[a] for p, a in zip(pos, axes))
        for r in itertools.product(*map(range, rest)):
            full, it = [], iter(r)
            for i in range(len(shape)):
                if i in axes:
                    p = int(pos[axes.index(i)])
                    full.append(min(max(p, 0), shape[i] - 1))
                else:
                    full.append(next(it))
            want[b + r] = x[tuple(full)] if ok or mode == "clip" else _fill(x.dtype)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("kind", ["set", "add", "mul", "min", "max"])
def test_scatter_by_loops(kind: str) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    idx = np.array([[0], [2], [2], [5], [-1], [0]], np.int32)  # repeats and out of bounds
    u = np.arange(24, dtype=np.float32).reshape(6, 4) - 5
    out = np.asarray(run(P.Scatter(axes=(0,), kind=kind), arr(x), arr(idx), arr(u)))
    want = x.copy()
    combine = {"add": np.add, "mul": np.multiply, "min": np.minimum, "max": np.maximum}
    for k, (i,) in enumerate(idx):
        if 0 <= i < 3:
            want[i] = u[k] if kind == "set" else combine[kind](want[i], u[k])
    if kind == "set":  # with repeated indices any one update may win: check both candidates
        assert np.array_equal(out[2], u[1]) or np.array_equal(out[2], u[2])
        want[2] = out[2]
    np.testing.assert_array_equal(out, want)


def test_scatter_bf16_adds_in_f32() -> None:
    x = np.zeros(2, D.bfloat16)
    out = run(P.Scatter(axes=(0,), kind="add"), arr(x), arr(np.zeros((3, 1), np.int32)),
              arr(np.array([256, 1, 1], D.bfloat16)))
    assert np.asarray(out).dtype == D.bfloat16
    assert float(np.asarray(out)[0]) == 258.0  # bf16 steps would lose both 1s


# --- reductions ------------------------------------------------------------------------------

REDUCE = [(P.ReduceSum, np.sum, D.NUMERIC), (P.ReduceProd, np.prod, (F32, D.int32, D.float64)),
          (P.ReduceMax, np.max, (F32, D.int8, D.uint16, D.bool_)),
          (P.ReduceMin, np.min, (F32, D.int64, D.bool_)),
          (P.ReduceAnd, np.bitwise_and.reduce, (D.bool_, D.int32, D.uint8)),
          (P.ReduceOr, np.bitwise_or.reduce, (D.bool_, D.int16))]


@pytest.mark.parametrize("cls,fn,dts", REDUCE, ids=lambda v: getattr(v, "name", ""))
@given(data=st.data())
def test_reductions(cls: type, fn: Any, dts: tuple, data: Any) -> None:
    dt = data.draw(st.sampled_from(dts))
    shape = data.draw(shapes(0, 3, 0, 4))
    x = data.draw(arrays(TensorType(shape, dt), (-3, 3)))
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1))))) if shape else ()
    out = np.asarray(run(cls(axes=axes), arr(x)))
    assert out.dtype == dt
    empty = any(shape[a] == 0 for a in axes)
    if cls in (P.ReduceMax, P.ReduceMin) and empty:
        lo = -np.inf if D.is_inexact(dt) else (False if dt == D.bool_ else np.iinfo(dt).min)
        hi = np.inf if D.is_inexact(dt) else (True if dt == D.bool_ else np.iinfo(dt).max)
        assert np.all(out == (lo if cls is P.ReduceMax else hi))
        return
    if cls in (P.ReduceAnd, P.ReduceOr) and empty:
        ident = (np.array(-1).astype(dt) if dt != D.bool_ else True) \
            if cls is P.ReduceAnd else np.zeros((), dt)
        assert np.all(out == ident)
        return
    wide = x.astype(np.float64) if D.is_floating(dt) else x
    if cls in (P.ReduceSum, P.ReduceProd) and not D.is_inexact(dt):
        want = fn(x, axis=axes, dtype=dt) if axes else x
    elif cls in (P.ReduceAnd, P.ReduceOr):
        want = x
        for a in reversed(axes):
            want = fn(want, axis=a)
    else:
        want = fn(wide, axis=axes) if axes else wide
    tol = 1e-2 if dt in (D.float16, D.bfloat16) else 1e-5
    if D.is_inexact(dt):
        np.testing.assert_allclose(out.astype(np.complex128 if D.is_complex(dt) else np.float64),
                                   want, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(out, want)


def test_reductions_propagate_nan_and_argmax_takes_first_nan() -> None:
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 2.0, -1.0, 0.0]], np.float32)
    assert np.isnan(np.asarray(run(P.ReduceMax(axes=(1,)), arr(x)))[0])
    np.testing.assert_array_equal(np.asarray(run(P.Argmax(axis=1), arr(x))), [1, 0])
    np.testing.assert_array_equal(np.asarray(run(P.Argmin(axis=1), arr(x))), [1, 2])
    out = run(P.Argmax(axis=0, index_dtype=D.uint8), arr(x))
    assert np.asarray(out).dtype == np.uint8


@pytest.mark.parametrize("cls,fn", [(P.Cumsum, np.cumsum), (P.Cumprod, np.cumprod),
                                    (P.Cummax, np.maximum.accumulate),
                                    (P.Cummin, np.minimum.accumulate)])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumulative(cls: type, fn: Any, reverse: bool) -> None:
    x = np.array([[3, -1, 4, 1, -5], [9, 2, -6, 5, 3]], np.int32)
    out = np.asarray(run(cls(axis=1, reverse=reverse), arr(x)))
    want = fn(x[:, ::-1], axis=1)[:, ::-1] if reverse else fn(x, axis=1)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, want)


# --- dot_general and sort --------------------------------------------------------------------

@given(st.data())
def test_dot_general_against_einsum(data: Any) -> None:
    dt = data.draw(st.sampled_from([F32, D.int32, D.float64, D.bfloat16, D.complex64]))
    nb, nc, nl, nr = (data.draw(st.integers(0, 2)) for _ in range(4))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=10, max_size=10))
    b, c, lf, rf = sizes[:nb], sizes[2:2 + nc], sizes[4:4 + nl], sizes[7:7 + nr]
    letters = iter("abcdefghij")
    bl, cl = [next(letters) for _ in b], [next(letters) for _ in c]
    ll, rl = [next(letters) for _ in lf], [next(letters) for _ in rf]
    # shuffle operand dimension orders so dimension numbers are not the trivial ones
    lhs_dims = data.draw(st.permutations(list(zip(bl + cl + ll, b + c + lf))))
    rhs_dims = data.draw(st.permutations(list(zip(bl + cl + rl, b + c + rf))))
    x = data.draw(arrays(TensorType(tuple(n for _, n in lhs_dims), dt), (-4, 4)))
    y = data.draw(arrays(TensorType(tuple(n for _, n in rhs_dims), dt), (-4, 4)))
    ln, rn = [k for k, _ in lhs_dims], [k for k, _ in rhs_dims]
    op = P.DotGeneral(contracting=(tuple(ln.index(k) for k in cl), tuple(rn.index(k) for k in cl)),
                      batch=(tuple(ln.index(k) for k in bl), tuple(rn.index(k) for k in bl)))
    out = np.asarray(run(op, arr(x), arr(y)))
    free = [k for k in ln if k in ll] + [k for k in rn if k in rl]  # operand order
    spec = f"{''.join(ln)},{''.join(rn)}->{''.join(bl + free)}"
    wide = np.complex128 if D.is_complex(dt) else np.float64
    want = np.einsum(spec, x.astype(wide), y.astype(wide))
    assert out.dtype == dt
    tol = 5e-2 if dt == D.bfloat16 else 1e-5
    np.testing.assert_allclose(out.astype(wide), want, rtol=tol, atol=tol)


def test_dot_preferred_accumulates_int8_in_int32() -> None:
    x = np.full((1, 4), 100, np.int8)
    out = run(P.DotGeneral(contracting=((1,), (0,)), preferred=D.int32), arr(x), arr(x.T))
    assert np.asarray(out).dtype == np.int32 and int(np.asarray(out)[0, 0]) == 40000


def _lex_key(v: Any) -> Any:
    v = float(v)
    return (1, 0.0) if np.isnan(v) else (0, v)  # NaN after every number; -0.0 == 0.0


@given(st.data())
def test_sort_stable_lexicographic(data: Any) -> None:
    n = data.draw(st.integers(0, 8))
    k1 = data.draw(st.lists(st.sampled_from([0.0, -0.0, 1.0, -2.0, np.nan, np.inf]),
                            min_size=n, max_size=n))
    k2 = data.draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))
    payload = np.arange(n, dtype=np.int32)
    a, b = np.array(k1, np.float32), np.array(k2, np.int32)
    num_keys = data.draw(st.sampled_from([1, 2]))
    outs = run(P.Sort(dimension=0, num_keys=num_keys), arr(a), arr(b), arr(payload))
    order = sorted(range(n), key=lambda i: (_lex_key(a[i]),) + ((int(b[i]),) if num_keys == 2
                                                                 else ()))
    np.testing.assert_array_equal(np.asarray(outs[2]), payload[order])
    np.testing.assert_array_equal(np.asarray(outs[1]), b[order])


def test_sort_along_inner_dimension() -> None:
    x = np.array([[3, 1, 2], [0, 5, -1]], np.int32)
    (out,) = run(P.Sort(dimension=1), arr(x))
    np.testing.assert_array_equal(np.asarray(out), np.sort(x, axis=1))


# --- the law: rules agree with type rules ----------------------------------------------------

@settings(max_examples=150)
@given(st.data())
def test_every_rule_returns_its_declared_types(data: Any) -> None:
    prog = data.draw(programs(max_eqns=6, max_depth=2))
    args = [data.draw(arrays(t)) for t in prog.in_types]
    env = dict(zip(prog.inputs, args))
    for eqn in prog.eqns:
        from interpreters.evaluate import apply
        vals = [a.value if isinstance(a, d.Lit) else env[a] for a in eqn.inputs]
        outs = apply(eqn.op, *vals)
        assert len(outs) == len(eqn.outputs), eqn.op.name
        for v, o in zip(eqn.outputs, outs):
            assert isinstance(o, np.ndarray), eqn.op.name
            assert (o.shape, o.dtype) == (v.type.shape, v.type.dtype), (eqn.op.name, o, v.type)
            env[v] = o


def test_every_primitive_has_an_evaluate_rule() -> None:
    from dsl.ir import OPS
    from interpreters.evaluate import RULES

    assert len(OPS) >= 100
    assert [name for name, cls in OPS.items() if cls not in RULES] == []
