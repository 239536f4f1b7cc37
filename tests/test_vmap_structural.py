"""vmap of the structural, indexing, reduction, cumulative, dot and sort primitives.

The law checked throughout: `vmap(f, in_axes)(*xs)` equals stacking `f` applied to each example
(exact: these primitives move or combine the same elements either way, up to float summation
order), with the batch axis at every position of each argument, some arguments unbatched, and
size-0 batches. Where JAX has the same function, `jax.vmap` is a second oracle. Staged
`vmap` programs must typecheck and evaluate to the eager result; `jit(vmap(f))` and nested
`vmap` agree too.
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
from dsl import lax
from dsl import ops as P
from dsl.core import bind
from dsl.types import TensorType
from interpreters import jit
from interpreters.evaluate import eval_program
from interpreters.vectorize import BATCH_RULES, load_rules
from interpreters.vectorize.api import vmap
from interpreters.vectorize.structural import FAMILIES

load_rules()
_R = np.random.default_rng(0)


def rnd(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        return _R.integers(-5, 6, shape).astype(dtype)
    return _R.standard_normal(shape).astype(dtype)


def _leaves(x: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in d.tree_leaves(x)]


def _close(got: Any, want: Any, tol: float = 1e-5) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if got.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, want)


def _example(x: np.ndarray, ax: int | None, i: int) -> np.ndarray:
    return x if ax is None else np.take(x, i, axis=ax)


def _batch(examples: np.ndarray, ax: int | None) -> np.ndarray:
    """Per-example arrays stacked on axis 0, with the batch axis moved to `ax`."""
    return examples[0] if ax is None else np.moveaxis(examples, 0, ax)


def check(f: Callable[..., Any], args: Sequence[np.ndarray], in_axes: Sequence[int | None],
          jf: Callable[..., Any] | None = None, staged: bool = True, tol: float = 1e-5) -> None:
    """The law against the loop, the jax oracle, and the staged program's typecheck + value."""
    in_axes = tuple(in_axes)
    size = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    got = _leaves(vmap(f, in_axes)(*args))
    if size:
        rows = [_leaves(f(*[d.asarray(_example(a, ax, i)) for a, ax in zip(args, in_axes)]))
                for i in range(size)]
        want = [np.stack([r[k] for r in rows]) for k in range(len(got))]
    else:
        types = [TensorType(a.shape if ax is None else np.delete(a.shape, ax % a.ndim),
                            a.dtype) for a, ax in zip(args, in_axes)]
        want = [np.zeros((0,) + t.shape, t.dtype) for t in d.stage(f)(*types).out_types]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _close(g, w, tol)
    if jf is not None:
        for g, w in zip(got, _leaves(jax.vmap(jf, in_axes)(*map(jnp.asarray, args)))):
            _close(g, np.asarray(w, g.dtype), tol)
    if staged:
        program = d.stage(vmap(f, in_axes))(*args)
        d.typecheck(program)
        for g, w in zip(got, eval_program(program, [np.asarray(a) for a in args])):
            _close(g, w, tol)


def axes_variants(ranks: Sequence[int], allow_none: bool = True) -> list[tuple[int | None, ...]]:
    """in_axes tuples that put each argument's batch axis at every position (negative ones
    too), plus ones where a single argument is batched (or, with three or more arguments, a
    single one is not)."""
    top = max(ranks) + 1
    out = [tuple(k % (r + 1) for r in ranks) for k in range(top)]
    out.append(tuple(-1 for _ in ranks))
    if allow_none and len(ranks) > 1:
        for j in range(len(ranks)):
            out.append(tuple((0 if j == 0 else ranks[j]) if k == j else None
                             for k in range(len(ranks))))
            if len(ranks) > 2:  # and all but one batched
                out.append(tuple(None if k == j else (j + k) % (r + 1)
                                 for k, r in enumerate(ranks)))
    return list(dict.fromkeys(out))


def run_case(f: Callable[..., Any], shapes: Sequence[Any], jf: Callable[..., Any] | None = None,
             size: int = 3, allow_none: bool = True, staged_every: int = 3,
             tol: float = 1e-5) -> None:
    """`shapes`: per-example shapes, or callables `(size) -> batched examples (axis 0)`."""
    ex = [s(size) if callable(s) else rnd(size, *s) for s in shapes]
    for n, axes in enumerate(axes_variants([e.ndim - 1 for e in ex], allow_none)):
        args = [_batch(e, ax) for e, ax in zip(ex, axes)]
        # the loop checks every variant; the jax oracle (slow to trace) and staging a subset
        check(f, args, axes, jf if n % 2 == 0 else None, staged=n % staged_every == 1,
              tol=tol)


# --- every primitive of these families has a rule ---------------------------------------------

def test_every_primitive_has_a_batching_rule() -> None:
    mine = [cls for cls in P.ALL_OPS if cls.family in FAMILIES]
    assert len(mine) >= 28  # 12 structural, 2 indexing, 8 reductions, 4 cumulative, dot, sort
    missing = [cls.name for cls in mine if cls not in BATCH_RULES]
    assert not missing, missing


# --- shapes ------------------------------------------------------------------------------------

STRUCTURAL_CASES: list[tuple[str, Callable[..., Any], list[Any], Any]] = [
    ("broadcast_in_dim", lambda x: lax.broadcast_in_dim(x, (2, 3, 4), (0, 2)), [(2, 4)],
     lambda x: jax.lax.broadcast_in_dim(x, (2, 3, 4), (0, 2))),
    ("broadcast_scalar", lambda x: lax.broadcast_in_dim(x, (2, 3), ()), [()], None),
    ("reshape", lambda x: lax.reshape(x, (3, 2, 2)), [(4, 3)],
     lambda x: jnp.reshape(x, (3, 2, 2))),
    ("d.reshape", lambda x: d.reshape(x, (-1,)), [(2, 3)], lambda x: jnp.reshape(x, (-1,))),
    ("transpose", lambda x: lax.transpose(x, (2, 0, 1)), [(2, 3, 4)],
     lambda x: jnp.transpose(x, (2, 0, 1))),
    ("d.transpose", lambda x: d.transpose(x), [(2, 3)], lambda x: jnp.transpose(x)),
    ("squeeze", lambda x: lax.squeeze(x, (0, 2)), [(1, 3, 1)], lambda x: jnp.squeeze(x, (0, 2))),
    ("expand_dims", lambda x: lax.expand_dims(x, (0, 3)), [(2, 3)],
     lambda x: jnp.expand_dims(x, (0, 3))),
    ("rev", lambda x: lax.rev(x, (1,)), [(2, 3)], lambda x: jnp.flip(x, 1)),
    ("pad", lambda x: lax.pad(x, np.float32(-1), ((1, 2, 1), (-1, 0, 0))), [(3, 4)],
     lambda x: jax.lax.pad(x, np.float32(-1), ((1, 2, 1), (-1, 0, 0)))),
    ("pad_batched_value", lambda x, v: lax.pad(x, v, ((1, -1, 2), (0, 2, 0))), [(3, 2), ()],
     lambda x, v: jax.lax.pad(x, v, ((1, -1, 2), (0, 2, 0)))),
    ("d.pad", lambda x: d.pad(x, ((1, 0), (2, 1))), [(2, 3)],
     lambda x: jnp.pad(x, ((1, 0), (2, 1)))),
    ("concatenate", lambda x, y, z: lax.concatenate([x, y, z], 1), [(2, 1), (2, 3), (2, 2)],
     lambda x, y, z: jnp.concatenate([x, y, z], 1)),
    ("d.concatenate", lambda x, y: d.concatenate([x, y]), [(2,), (3,)],
     lambda x, y: jnp.concatenate([x, y])),
    ("slice", lambda x: lax.slice(x, (1, 0), (3, 4), (1, 2)), [(4, 4)],
     lambda x: jax.lax.slice(x, (1, 0), (3, 4), (1, 2))),
    ("x[static]", lambda x: x[1:, ::-2, 0], [(3, 4, 2)], lambda x: x[1:, ::-2, 0]),
]


@pytest.mark.parametrize("name,f,shapes,jf", STRUCTURAL_CASES, ids=[c[0] for c in STRUCTURAL_CASES])
def test_structural(name: str, f: Callable[..., Any], shapes: list[Any], jf: Any) -> None:
    run_case(f, shapes, jf)


def test_iota_inside_vmap_is_unbatched() -> None:
    f = lambda x: x + lax.iota(np.float32, (3,))  # noqa: E731
    check(f, [rnd(4, 3)], (0,), lambda x: x + jnp.arange(3, dtype=np.float32))
    assert BATCH_RULES[P.Iota] is not None


def test_pad_batched_value_keeps_nan_and_ints() -> None:
    f = lambda x, v: lax.pad(x, v, ((2, 1, 1),))  # noqa: E731
    x, v = rnd(3, 2, dtype=np.int32), np.array([7, -8, 9], np.int32)
    check(f, [x, v], (0, 0), lambda x, v: jax.lax.pad(x, v, ((2, 1, 1),)))
    check(f, [x[0], v], (None, 0))
    xf = np.array([[np.nan, 1.0]], np.float32)
    check(f, [xf, np.array([np.nan], np.float32)], (0, 0))


# --- dynamic windows ---------------------------------------------------------------------------

_CLAMP = {"allow_negative_indices": False}  # jax wraps negative starts by default; ours clamp


def _starts(lo: int, hi: int) -> Callable[[int], np.ndarray]:
    """Batched start indices, some out of range on both sides (the primitive clamps them)."""
    return lambda size: _R.integers(lo, hi, (size,)).astype(np.int32)


DYNAMIC_CASES: list[tuple[str, Callable[..., Any], list[Any], Any]] = [
    ("dynamic_slice", lambda x, i, j: lax.dynamic_slice(x, (i, j), (2, 3)),
     [(4, 5), _starts(-3, 7), _starts(-3, 7)],
     lambda x, i, j: jax.lax.dynamic_slice(x, (i, j), (2, 3), **_CLAMP)),
    ("dynamic_slice_one_start", lambda x, i: lax.dynamic_slice(x, (i, np.int32(1), i), (2, 1, 2)),
     [(3, 4, 5), _starts(-2, 6)],
     lambda x, i: jax.lax.dynamic_slice(x, (i, np.int32(1), i), (2, 1, 2), **_CLAMP)),
    ("dynamic_update_slice", lambda x, u, i, j: lax.dynamic_update_slice(x, u, (i, j)),
     [(4, 5), (2, 3), _starts(-3, 7), _starts(-3, 7)],
     lambda x, u, i, j: jax.lax.dynamic_update_slice(x, u, (i, j), **_CLAMP)),
    ("dynamic_update_slice_1d", lambda x, u, i: lax.dynamic_update_slice(x, u, (i,)),
     [(6,), (2,), _starts(-2, 8)],
     lambda x, u, i: jax.lax.dynamic_update_slice(x, u, (i,), **_CLAMP)),
]


@pytest.mark.parametrize("name,f,shapes,jf", DYNAMIC_CASES, ids=[c[0] for c in DYNAMIC_CASES])
def test_dynamic(name: str, f: Callable[..., Any], shapes: list[Any], jf: Any) -> None:
    run_case(f, shapes, jf, size=5)


def test_dynamic_starts_unbatched() -> None:
    f = lambda x, i: lax.dynamic_slice(x, (i, np.int32(2)), (2, 2))  # noqa: E731
    check(f, [rnd(3, 4, 5), np.int32(9)], (1, None),
          lambda x, i: jax.lax.dynamic_slice(x, (i, np.int32(2)), (2, 2), **_CLAMP))
    h = lambda x: lax.dynamic_slice(x, (), ())  # noqa: E731  (rank 0: no start at all)
    check(h, [rnd(3)], (0,), lambda x: jax.lax.dynamic_slice(x, (), ()))
    check(lambda x, u: lax.dynamic_update_slice(x, u, ()), [rnd(3), np.float32(2)], (0, None))
    g = lambda x, u, i: lax.dynamic_update_slice(x, u, (i,))  # noqa: E731
    check(g, [rnd(4), rnd(2, 3), np.int32(-1)], (None, 1, None),
          lambda x, u, i: jax.lax.dynamic_update_slice(x, u, (i,), **_CLAMP))


# --- gather and scatter ------------------------------------------------------------------------

def _idx(lo: int, hi: int, *shape: int, dtype: Any = np.int32) -> Callable[[int], np.ndarray]:
    return lambda size: _R.integers(lo, hi, (size,) + shape).astype(dtype)


INDEX_CASES: list[tuple[str, Callable[..., Any], list[Any], Any]] = [
    ("gather_clip", lambda x, i: lax.gather(x, i, (1,)), [(3, 4, 2), _idx(-2, 6, 5, 1)], None),
    ("gather_fill", lambda x, i: lax.gather(x, i, (2, 0), "fill"),
     [(3, 2, 4), _idx(-1, 5, 2, 3, 2)], None),
    ("gather_u8", lambda x, i: lax.gather(x, i, (0,)), [(4,), _idx(0, 4, 3, 1, dtype=np.uint8)],
     None),
    ("x[i]", lambda x, i: x[i], [(5, 2), _idx(-5, 5, 3)], lambda x, i: x[i]),
    ("x[:, i, j]", lambda x, i, j: x[:, i, j], [(2, 4, 3), _idx(0, 4, 2), _idx(0, 3, 2)],
     lambda x, i, j: x[:, i, j]),
    ("x[scalar i]", lambda x, i: x[i, 1:], [(4, 3), _idx(-4, 4)], lambda x, i: x[i, 1:]),
    ("take_along_axis", lambda x, i: d.take_along_axis(x, i, 1), [(2, 4), _idx(0, 4, 2, 3)],
     lambda x, i: jnp.take_along_axis(x, i, 1)),
    ("d.take", lambda x, i: d.take(x, i, axis=0), [(4, 2), _idx(0, 4, 3)],
     lambda x, i: jnp.take(x, i, axis=0)),
    ("at.set", lambda x, i, u: x.at[i].set(u), [(5, 2), _idx(-5, 5, 3), (3, 2)], None),
    ("at.add repeated", lambda x, i, u: x.at[i].add(u), [(4,), _idx(0, 2, 6), (6,)],
     lambda x, i, u: x.at[i].add(u)),
    ("at.scalar add", lambda x, i, u: x.at[i, 0].add(u), [(4, 3), _idx(-4, 4), ()],
     lambda x, i, u: x.at[i, 0].add(u)),
]
for _kind in ("add", "mul", "min", "max"):
    INDEX_CASES.append((f"scatter_{_kind}", lambda x, i, u, k=_kind: lax.scatter(x, i, u, (0,), k),
                        [(4, 2), _idx(-1, 5, 6, 1), (6, 2)], None))
INDEX_CASES.append(("scatter_set_oob", lambda x, i, u: lax.scatter(x, i, u, (1, 0)),
                    [(3, 4), _idx(-1, 4, 2, 2), (2,)], None))


@pytest.mark.parametrize("name,f,shapes,jf", INDEX_CASES, ids=[c[0] for c in INDEX_CASES])
def test_indexing(name: str, f: Callable[..., Any], shapes: list[Any], jf: Any) -> None:
    run_case(f, shapes, jf, size=4)


def test_gather_batch_larger_than_index_dtype() -> None:
    f = lambda x, i: lax.gather(x, i, (0,))  # noqa: E731
    x = rnd(300, 3)
    i = _R.integers(0, 3, (300, 2, 1)).astype(np.uint8)
    check(f, [x, i], (0, 0), staged=False)
    g = lambda x, i, u: lax.scatter(x, i, u, (0,), "add")  # noqa: E731
    check(g, [x, i, rnd(300, 2)], (0, 0, 0), staged=False)


def test_scatter_int_exact() -> None:
    f = lambda x, i, u: x.at[i].max(u)  # noqa: E731
    check(f, [rnd(3, 5, dtype=np.int32), _idx(0, 5, 4)(3), rnd(3, 4, dtype=np.int32)], (0, 0, 0),
          lambda x, i, u: x.at[i].max(u))


# --- reductions, cumulative ops, dot, sort -----------------------------------------------------

REDUCE_CASES: list[tuple[str, Callable[..., Any], list[Any], Any]] = [
    ("d.sum", lambda x: d.sum(x, axis=(0, 2)), [(2, 3, 4)], lambda x: jnp.sum(x, axis=(0, 2))),
    ("d.sum all", lambda x: d.sum(x), [(2, 3)], lambda x: jnp.sum(x)),
    ("d.max", lambda x: d.max(x, axis=1), [(3, 4)], lambda x: jnp.max(x, axis=1)),
    ("d.min", lambda x: d.min(x, axis=0), [(3, 4)], lambda x: jnp.min(x, axis=0)),
    ("d.prod", lambda x: d.prod(x, axis=-1), [(3, 2)], lambda x: jnp.prod(x, axis=-1)),
    ("d.any", lambda x: d.any(x > 0, axis=0), [(3, 2)], lambda x: jnp.any(x > 0, axis=0)),
    ("reduce_and", lambda x: bind(P.ReduceAnd(axes=(1,)), x),
     [lambda n: rnd(n, 2, 3, dtype=np.int32)], None),
    ("reduce_or", lambda x: bind(P.ReduceOr(axes=(0, 1)), x),
     [lambda n: rnd(n, 2, 3, dtype=np.int32)], None),
    ("d.argmax", lambda x: d.argmax(x, axis=1), [(3, 4)], lambda x: jnp.argmax(x, axis=1)),
    ("d.argmin", lambda x: d.argmin(x, axis=0), [(3, 4)], lambda x: jnp.argmin(x, axis=0)),
    ("d.cumsum", lambda x: d.cumsum(x, axis=1), [(3, 4)], lambda x: jnp.cumsum(x, axis=1)),
    ("d.cumprod", lambda x: d.cumprod(x, axis=0), [(3, 2)], lambda x: jnp.cumprod(x, axis=0)),
    ("cummax reverse", lambda x: bind(P.Cummax(axis=0, reverse=True), x), [(4, 2)],
     lambda x: jax.lax.cummax(x, axis=0, reverse=True)),
    ("cummin", lambda x: bind(P.Cummin(axis=1), x), [(2, 4)],
     lambda x: jax.lax.cummin(x, axis=1)),
    ("d.dot", lambda x, y: d.dot(x, y), [(2, 3), (3, 4)], lambda x, y: jnp.dot(x, y)),
    ("d.dot vec", lambda x, y: d.dot(x, y), [(3,), (3,)], lambda x, y: jnp.dot(x, y)),
    ("d.matmul", lambda x, y: d.matmul(x, y), [(2, 2, 3), (2, 3, 4)],
     lambda x, y: jnp.matmul(x, y)),
    ("d.einsum", lambda x, y: d.einsum("ij,kj->ki", x, y), [(2, 3), (4, 3)],
     lambda x, y: jnp.einsum("ij,kj->ki", x, y)),
    ("dot_general", lambda x, y: lax.dot_general(x, y, ((2,), (0,)), ((0,), (2,))),
     [(2, 3, 4), (4, 5, 2)],
     lambda x, y: jax.lax.dot_general(x, y, (((2,), (0,)), ((0,), (2,))))),
    ("dot_general int preferred", lambda x, y: lax.dot_general(x, y, ((0,), (1,)),
                                                              preferred=np.int32),
     [lambda n: rnd(n, 3, 2, dtype=np.int8), lambda n: rnd(n, 4, 3, dtype=np.int8)], None),
    ("d.sort", lambda x: d.sort(x, axis=0), [(4, 3)], lambda x: jnp.sort(x, axis=0)),
    ("sort 2 keys", lambda k, v: lax.sort([k, v], 1, num_keys=1),
     [lambda n: rnd(n, 2, 5, dtype=np.int32), (2, 5)],
     lambda k, v: jax.lax.sort([k, v], dimension=1, num_keys=1)),
    ("d.argsort", lambda x: d.argsort(x), [(5,)], lambda x: jnp.argsort(x)),
]


@pytest.mark.parametrize("name,f,shapes,jf", REDUCE_CASES, ids=[c[0] for c in REDUCE_CASES])
def test_reductions(name: str, f: Callable[..., Any], shapes: list[Any], jf: Any) -> None:
    run_case(f, shapes, jf, tol=1e-4)


# --- size-0 batches, nesting, jit, the pairwise example ----------------------------------------

ZERO_CASES = [c for c in STRUCTURAL_CASES + INDEX_CASES + REDUCE_CASES + DYNAMIC_CASES
              if c[0] in ("reshape", "pad_batched_value", "concatenate", "x[i]", "at.set",
                          "d.sum", "d.argmax", "d.cumsum", "d.dot", "d.sort", "dynamic_slice",
                          "dynamic_update_slice", "gather_fill")]


@pytest.mark.parametrize("name,f,shapes,jf", ZERO_CASES, ids=[c[0] for c in ZERO_CASES])
def test_size_zero_batch(name: str, f: Callable[..., Any], shapes: list[Any], jf: Any) -> None:
    ex = [s(0) if callable(s) else rnd(0, *s) for s in shapes]
    check(f, ex, (0,) * len(ex))


def test_pairwise_l1_distances() -> None:
    def l1_distance(x: Any, y: Any) -> Any:
        return d.sum(d.abs(x - y))

    xs = rnd(100, 3)
    got = np.asarray(vmap(vmap(l1_distance, (0, None)), (None, 0))(xs, xs))
    assert got.shape == (100, 100)
    want = np.abs(xs[:, None, :] - xs[None, :, :]).sum(-1)
    np.testing.assert_allclose(got, want.T, rtol=1e-5, atol=1e-5)


NESTED = [
    (lambda x, i: d.cumsum(x[i], axis=0), [(4, 3), _idx(0, 4, 2)]),
    (lambda x, y: d.dot(x, y), [(2, 3), (3,)]),
    (lambda x, i, u: lax.dynamic_update_slice(x, u, (i,)), [(5,), _idx(-2, 7), (2,)]),
    (lambda x, v: lax.pad(d.sort(x), v, ((1, 1, 0),)), [(4,), ()]),
]


@pytest.mark.parametrize("case", range(len(NESTED)))
def test_nested_vmap_equals_flat(case: int) -> None:
    f, shapes = NESTED[case]
    ex = [s(6) if callable(s) else rnd(6, *s) for s in shapes]
    args = [e.reshape((2, 3) + e.shape[1:]) for e in ex]
    # outer over axis 0, inner over (what was) axis 1 of each argument
    moved = [np.moveaxis(a, 1, -1) for a in args]
    got = _leaves(vmap(vmap(f, tuple(-1 for _ in args)), 0)(*moved))
    want = _leaves(vmap(f)(*ex))
    for g, w in zip(got, want):
        _close(g, w.reshape((2, 3) + w.shape[1:]), 1e-5)
    # one argument unbatched in the inner vmap
    inner_none = vmap(vmap(f, (None,) + (0,) * (len(args) - 1)), (0,) * len(args))
    got2 = _leaves(inner_none(*[args[0][:, 0]] + args[1:]))
    for b in range(2):
        for j in range(3):
            row = _leaves(f(*[args[0][b, 0]] + [a[b, j] for a in args[1:]]))
            for g, r in zip(got2, row):
                _close(g[b, j], r, 1e-5)


@pytest.mark.parametrize("case", ["gather", "dot", "dus", "sort"])
def test_jit_of_vmap(case: str) -> None:
    fs = {"gather": (lambda x, i: x[i] * 2.0, [rnd(3, 5), _idx(-5, 5, 2)(3)], (0, 0)),
          "dot": (lambda x, y: d.matmul(x, y), [rnd(2, 3), rnd(3, 4, 2)], (None, 2)),
          "dus": (lambda x, u, i: lax.dynamic_update_slice(x, u, (i,)),
                  [rnd(3, 6), rnd(2, 3), _idx(-3, 9)(3)], (0, 1, 0)),
          "sort": (lambda x: d.sort(d.cumsum(x, axis=0), axis=0), [rnd(4, 3)], (1,))}
    f, args, axes = fs[case]
    for g, w in zip(_leaves(jit(vmap(f, axes))(*args)), _leaves(vmap(f, axes)(*args))):
        _close(g, w, 1e-5)


def test_vmap_of_grad_through_gather() -> None:
    from interpreters import grad

    f = lambda x, i: d.sum(d.take_along_axis(x, i, 0) ** 2)  # noqa: E731
    x, i = rnd(3, 5), _idx(0, 5, 3)(3)
    got = np.asarray(vmap(grad(f))(x, i))
    want = np.stack([np.asarray(grad(f)(d.asarray(x[k]), d.asarray(i[k]))) for k in range(3)])
    _close(got, want)


def test_grad_of_vmap_with_batched_windows() -> None:
    from interpreters import grad

    win = lambda r, i: lax.dynamic_slice(r, (i,), (2,))  # noqa: E731
    x, i = rnd(4, 5), np.array([-1, 1, 3, 7], np.int32)
    got = np.asarray(grad(lambda x: d.sum(vmap(win)(x, i) ** 2))(x))
    want = np.stack([np.asarray(grad(lambda r: d.sum(win(r, i[k]) ** 2))(d.asarray(x[k])))
                     for k in range(4)])
    _close(got, want)


def test_axes_variants_cover_every_position() -> None:
    v = axes_variants([2, 0])
    assert {a[0] for a in v if a[0] is not None} >= {0, 1, 2, -1}
    assert (None, 0) in v and (0, None) in v
    assert all(not all(a is None for a in t) for t in v)


# --- random gathers and scatters ---------------------------------------------------------------

@st.composite
def _indexing_problem(draw: Any) -> tuple[Any, ...]:
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(0, 3), min_size=rank, max_size=rank)))
    axes = tuple(draw(st.permutations(range(rank)))[:draw(st.integers(1, rank))])
    ishape = tuple(draw(st.lists(st.integers(0, 3), max_size=2))) + (len(axes),)
    size = draw(st.integers(0, 3))
    x_ax = draw(st.none() | st.integers(-rank - 1, rank))
    i_ax = draw(st.integers(-len(ishape) - 1, len(ishape)) if x_ax is None
                else st.none() | st.integers(0, len(ishape)))
    seed = draw(st.integers(0, 2**16))
    return shape, axes, ishape, size, x_ax, i_ax, seed


def _indexing_args(shape: tuple[int, ...], axes: tuple[int, ...], ishape: tuple[int, ...],
                   size: int, x_ax: int | None, i_ax: int | None, seed: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    r, n = np.random.default_rng(seed), max(size, 1)  # an unbatched argument needs one example
    x = r.standard_normal((n,) + shape).astype(np.float32)
    hi = np.array([shape[a] for a in axes])
    i = (r.integers(-2, 3, (n,) + ishape) + r.integers(0, hi + 1, (n,) + ishape))
    return _batch(x[:size] if x_ax is not None else x, x_ax), \
        _batch(i[:size].astype(np.int32) if i_ax is not None else i.astype(np.int32), i_ax)


@given(_indexing_problem(), st.sampled_from(["clip", "fill"]))
def test_random_gather(problem: tuple[Any, ...], mode: str) -> None:
    shape, axes, ishape, size, x_ax, i_ax, seed = problem
    x, i = _indexing_args(*problem)
    check(lambda x, i: lax.gather(x, i, axes, mode), [x, i], (x_ax, i_ax), staged=False)


@given(_indexing_problem(), st.sampled_from(["set", "add", "mul", "min", "max"]), st.booleans())
def test_random_scatter(problem: tuple[Any, ...], kind: str, u_batched: bool) -> None:
    shape, axes, ishape, size, x_ax, i_ax, seed = problem
    x, i = _indexing_args(*problem)
    ushape = ishape[:-1] + tuple(n for k, n in enumerate(shape) if k not in axes)
    u = np.random.default_rng(seed + 1).standard_normal((size,) + ushape).astype(np.float32)
    if not u_batched:
        u = np.random.default_rng(seed + 2).standard_normal(ushape).astype(np.float32)
    # `set` with repeated indices keeps one update; the evaluator's choice is the same per
    # example and batched, so even that case compares exactly.
    check(lambda x, i, u: lax.scatter(x, i, u, axes, kind), [x, i, u],
          (x_ax, i_ax, 0 if u_batched else None), staged=False, tol=1e-4)
