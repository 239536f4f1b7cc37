"""Batching (vmap) of the elementwise primitives.

The law is `vmap(f, in_axes)(*xs) == stack([f(*x_i) for i in range(size)])`, with the loop run
eagerly on one example at a time (exact for integer and bool results, a few ulps for floats).
It is checked over the op table (NumPy-level functions, which promote and broadcast before they
bind primitives) and over every elementwise primitive bound directly, where rank-0 operands, batched
or not, meet rank-k ones. Batch axes are drawn at every position (negative ones included), some
operands are unbatched (in_axes None), batches may be empty, and every batched program is staged
and typechecked. Nested vmap is checked against vmap over the flattened batch, `jit(vmap(f))`
against eager vmap, `vmap(grad(f))` against per-example grads and `jax`, and `dsl.random` under
vmap against a loop over keys (and `jax.random`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl as d
from dsl import dtypes as D
from dsl import ops as P
from dsl.core import bind
from dsl.ir import Op
from dsl.testing import DOMAINS, arrays, shapes
from dsl.typecheck import typecheck
from dsl.types import TensorType
from interpreters import grad, jit
from interpreters.vectorize import BATCH_RULES, load_rules
from interpreters.vectorize.api import vmap
from interpreters.vectorize.elementwise import ELEMENTWISE
from op_table import TABLE, OpCase

jax = pytest.importorskip("jax")
jnp = jax.numpy

load_rules()

RTOL = {D.float64: 1e-13, D.float32: 1e-6, D.float16: 1e-3, D.bfloat16: 1e-2,
        D.complex64: 1e-6, D.complex128: 1e-13}


# ---------------------------------------------------------------------------------------------
# Helpers


def _wide(x: np.ndarray) -> np.ndarray:
    if D.is_complex(x.dtype):
        return x.astype(np.complex128)
    if D.is_floating(x.dtype):
        return x.astype(np.float64)
    return x


def assert_same(got: Any, want: np.ndarray, what: str) -> None:
    """Equal dtype and shape; equal values (exact unless inexact, then within a few ulps)."""
    got = np.asarray(got)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if D.is_inexact(want.dtype):
        np.testing.assert_allclose(_wide(got), _wide(want), rtol=RTOL[want.dtype],
                                   atol=RTOL[want.dtype], equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def example(x: np.ndarray, axis: int | None, i: int) -> np.ndarray:
    return x if axis is None else np.take(x, i, axis=axis)


def loop(f: Callable[..., Any], xs: Sequence[np.ndarray], axes: Sequence[int | None],
         size: int) -> np.ndarray:
    """`stack([f(*x_i) ...])`, eagerly, one example at a time; an empty batch takes its
    per-example result type from a zero example."""
    if size == 0:
        zero = [np.zeros(x.shape if a is None else np.delete(x.shape, a % x.ndim), x.dtype)
                for x, a in zip(xs, axes)]
        one = np.asarray(f(*(d.asarray(z) for z in zero)))
        return np.zeros((0,) + one.shape, one.dtype)
    rows = [np.asarray(f(*(d.asarray(example(x, a, i)) for x, a in zip(xs, axes))))
            for i in range(size)]
    return np.stack(rows)


def check_law(f: Callable[..., Any], xs: Sequence[np.ndarray], axes: Sequence[int | None],
              size: int, what: str) -> None:
    """vmap equals the loop, and the batched program typechecks."""
    want = loop(f, xs, axes, size)
    args = [d.asarray(x) for x in xs]
    got = vmap(f, in_axes=tuple(axes))(*args)
    assert isinstance(got, d.Array)
    assert_same(got, want, f"{what} with in_axes={tuple(axes)}")
    typecheck(d.stage(vmap(f, in_axes=tuple(axes)))(*args))


def batched_type(t: TensorType, axis: int | None, size: int) -> TensorType:
    """The type of a batch of `t` with its batch axis at `axis` (None: `t` itself)."""
    if axis is None:
        return t
    a = axis % (t.ndim + 1)
    return TensorType(t.shape[:a] + (size,) + t.shape[a:], t.dtype)


@st.composite
def batch_axes(draw: Any, ranks: Sequence[int], may_be_none: Sequence[bool]) -> list[int | None]:
    """One in_axis per operand (any position, negative included, or None); at least one int."""
    axes: list[int | None] = []
    for r, none_ok in zip(ranks, may_be_none):
        choices = st.integers(-(r + 1), r)
        axes.append(draw(st.one_of(st.none(), choices) if none_ok else choices))
    if all(a is None for a in axes):
        axes[0] = draw(st.integers(-(ranks[0] + 1), ranks[0]))
    return axes


def _broadcastable(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[int, ...]]:
    return st.one_of(
        st.just(shape), st.just(()),
        st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)).map(
            lambda keep: tuple(n if k else 1 for n, k in zip(shape, keep))),
        st.integers(0, len(shape)).map(lambda i: shape[i:]))


def _domains(case: OpCase) -> tuple[Any, ...]:
    if isinstance(case.domain, tuple) and isinstance(case.domain[0], str):
        return case.domain
    return (case.domain,) * case.arity


# ---------------------------------------------------------------------------------------------
# Coverage


def test_every_elementwise_primitive_has_a_batching_rule() -> None:
    declared = {cls for cls in P.ALL_OPS if cls.__module__ == "dsl.ops.elementwise"}
    assert declared == set(ELEMENTWISE), sorted(c.name for c in declared ^ set(ELEMENTWISE))
    missing = [cls.name for cls in ELEMENTWISE if cls not in BATCH_RULES]
    assert not missing, f"elementwise primitives with no batching rule: {missing}"


# ---------------------------------------------------------------------------------------------
# The op table: NumPy-level functions


@st.composite
def table_batch(draw: Any, case: OpCase) -> tuple[list[np.ndarray], list[int | None], int]:
    dt = draw(st.sampled_from(case.dtypes))
    shape = draw(shapes(0, 2, 0, 3))
    size = draw(st.integers(0, 3))
    ex_shapes = [shape if i == 0 or case.same_shape else draw(_broadcastable(shape))
                 for i in range(case.arity)]
    axes = draw(batch_axes([len(s) for s in ex_shapes], [case.arity > 1] * case.arity))
    doms = _domains(case)
    xs = [draw(arrays(batched_type(TensorType(s, dt), a, size), dom))
          for s, a, dom in zip(ex_shapes, axes, doms)]
    return xs, axes, size


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_table_vmap_equals_loop(case: OpCase) -> None:
    @settings(max_examples=6)
    @given(table_batch(case))
    def run(batch: tuple[list[np.ndarray], list[int | None], int]) -> None:
        xs, axes, size = batch
        check_law(case.ours, xs, axes, size, case.name)

    run()


@st.composite
def nested_batch(draw: Any, case: OpCase) -> tuple[list[np.ndarray], list[str], int, int]:
    """Operands batched over (outer, inner) at the front, over the outer axis only, or not."""
    dt = draw(st.sampled_from(case.dtypes))
    shape = draw(shapes(0, 2, 1, 3))
    b1, b2 = draw(st.integers(1, 3)), draw(st.integers(0, 3))
    kinds = [draw(st.sampled_from(("both", "outer", "none"))) for _ in range(case.arity)]
    kinds[0] = "both"
    doms = _domains(case)
    xs = []
    for i, (kind, dom) in enumerate(zip(kinds, doms)):
        s = shape if i == 0 or case.same_shape else draw(_broadcastable(shape))
        lead = {"both": (b1, b2), "outer": (b1,), "none": ()}[kind]
        xs.append(draw(arrays(TensorType(lead + s, dt), dom)))
    return xs, kinds, b1, b2


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_table_nested_vmap_equals_flat_vmap(case: OpCase) -> None:
    @settings(max_examples=2)
    @given(nested_batch(case))
    def run(batch: tuple[list[np.ndarray], list[str], int, int]) -> None:
        xs, kinds, b1, b2 = batch
        inner = tuple(0 if k == "both" else None for k in kinds)
        outer = tuple(None if k == "none" else 0 for k in kinds)
        got = vmap(vmap(case.ours, in_axes=inner), in_axes=outer)(*(d.asarray(x) for x in xs))
        flat = [x.reshape((b1 * b2,) + x.shape[2:]) if k == "both" else
                np.repeat(x, b2, axis=0) if k == "outer" else x for x, k in zip(xs, kinds)]
        want = np.asarray(vmap(case.ours, in_axes=outer)(*(d.asarray(x) for x in flat)))
        assert_same(got, want.reshape((b1, b2) + want.shape[1:]), f"nested {case.name}")

    run()


def _fixed_operands(case: OpCase, shape: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    dt = D.float32 if D.float32 in case.dtypes else case.dtypes[0]
    out = []
    for dom in _domains(case):
        lo, hi = DOMAINS[dom] if isinstance(dom, str) else dom
        v = rng.uniform(lo, hi, shape)
        if dom == "nonzero":
            v = v * rng.choice([-1, 1], shape)
        if D.is_bool(dt):
            out.append(v > (lo + hi) / 2)
        elif D.is_integer(dt):
            v = np.round(np.clip(v, -hi if dom == "nonzero" else lo, hi))
            if dom == "nonzero":
                v = np.where(v == 0, 1, v)
            out.append(np.clip(v, np.iinfo(dt).min, None).astype(dt))
        else:
            out.append(v.astype(dt))
    return out


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_table_jit_of_vmap(case: OpCase) -> None:
    # batch axis 1 on the first operand, 0 on a middle one; the last (of two or more) unbatched
    xs = _fixed_operands(case, (3, 4))
    axes = [1] + [0] * (case.arity - 2) + [None] * (case.arity > 1)
    xs[1:] = [x.T.copy() for x in xs[1:]]  # examples of shape (3,): batch at 1 or 0
    if case.arity > 1:
        xs[-1] = xs[-1][0]
    batched = vmap(case.ours, in_axes=tuple(axes))
    want = np.asarray(batched(*(d.asarray(x) for x in xs)))
    assert_same(want, loop(case.ours, xs, axes, 4), f"{case.name} eager")
    close_to_xla(jit(batched)(*xs), want, f"jit(vmap({case.name}))")
    theirs = getattr(jnp, case.name, None)  # the oracle, where jax.numpy has the function
    if theirs is not None and getattr(d, case.name, None) is case.ours:
        close_to_xla(jax.vmap(theirs, in_axes=tuple(axes))(*xs), want, f"jax.vmap({case.name})")


def close_to_xla(got: Any, want: np.ndarray, what: str) -> None:
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if D.is_inexact(want.dtype):  # XLA's kernels may differ from NumPy's in the last places
        tol = {D.float32: 2e-5, D.float64: 1e-12}.get(want.dtype, 1e-2)
        np.testing.assert_allclose(_wide(got), _wide(want), rtol=tol, atol=tol, equal_nan=True,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


# ---------------------------------------------------------------------------------------------
# Every elementwise primitive, bound directly


def _spec(cls: type[Op]) -> tuple[Op, tuple[np.dtype, ...]]:
    """An instance of `cls` and the dtypes of its operands."""
    if cls is P.Convert:
        return P.Convert(dtype=D.int32), (D.float32,)
    if cls is P.Bitcast:
        return P.Bitcast(dtype=D.int32), (D.float32,)
    if cls is P.Round:
        return P.Round(method="half_away_from_zero"), (D.float32,)
    if cls is P.IntegerPow:
        return P.IntegerPow(y=3), (D.float32,)
    if cls is P.Select:
        return P.Select(), (D.bool_, D.float32, D.float32)
    if cls is P.Clamp:
        return P.Clamp(), (D.int32, D.int32, D.int32)
    allowed = cls.allowed
    dt = next(t for t in (D.float32, D.int32, D.bool_, D.complex64) if t in allowed)
    return cls(), (dt,) * (1 if cls in P.UNARY else 2)


EXTRA: list[tuple[Op, tuple[np.dtype, ...]]] = [
    (P.Convert(dtype=D.bfloat16), (D.float32,)), (P.Convert(dtype=D.float32, weak=True),
                                                  (D.int8,)),
    (P.Bitcast(dtype=D.uint8), (D.int8,)), (P.Round(), (D.float16,)),
    (P.IntegerPow(y=-2), (D.float64,)), (P.IntegerPow(y=0), (D.int8,)),
    (P.Select(), (D.bool_, D.int8, D.int8)), (P.Clamp(), (D.float32,) * 3),
    (P.Add(), (D.uint8, D.uint8)), (P.Not(), (D.bool_,)),
]
SPECS = [_spec(cls) for cls in ELEMENTWISE] + EXTRA


def _values(dt: np.dtype, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if D.is_bool(dt):
        return rng.random(shape) < 0.5
    if D.is_integer(dt):
        return rng.integers(0, 6, shape).astype(dt)  # small: valid shift counts too
    v = rng.uniform(0.2, 0.95, shape)  # inside every float primitive's domain but acosh's
    if D.is_complex(dt):
        v = v + 1j * rng.uniform(-1, 1, shape)
    return v.astype(dt)


@st.composite
def primitive_batch(draw: Any, spec: tuple[Op, tuple[np.dtype, ...]]
                    ) -> tuple[list[np.ndarray], list[int | None], int]:
    op, dts = spec
    shape = draw(shapes(0, 3, 0, 3))
    size = draw(st.integers(0, 3))
    n = len(dts)
    # any operand may be rank 0, except clamp's operand when its bounds are not
    scalar = [draw(st.booleans()) if n > 1 else False for _ in range(n)]
    if isinstance(op, P.Clamp):
        scalar[1] = False
    ex_shapes = [() if s else shape for s in scalar]
    axes = draw(batch_axes([len(s) for s in ex_shapes], [n > 1] * n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xs = [_values(dt, batched_type(TensorType(s, dt), a, size).shape, rng)
          for s, a, dt in zip(ex_shapes, axes, dts)]
    return xs, axes, size


@pytest.mark.parametrize("spec", SPECS, ids=[f"{op!r}-" + "-".join(D.short_name(t) for t in ts)
                                              for op, ts in SPECS])
def test_primitive_vmap_equals_loop(spec: tuple[Op, tuple[np.dtype, ...]]) -> None:
    op = spec[0]

    @settings(max_examples=6)
    @given(primitive_batch(spec))
    def run(batch: tuple[list[np.ndarray], list[int | None], int]) -> None:
        xs, axes, size = batch
        check_law(lambda *a: bind(op, *a), xs, axes, size, repr(op))

    run()


@pytest.mark.parametrize("cls", [P.Add, P.Select, P.Clamp, P.Atan2])
@pytest.mark.parametrize("layout", ["scalar batch, unbatched tensor",
                                    "scalar batch, tensor batch at 1",
                                    "unbatched tensor, tensor batch at 2",
                                    "unbatched scalar, scalar batch"])
def test_rank0_layouts(cls: type[Op], layout: str) -> None:
    # the cases the rule must broadcast (or may leave alone), one by one
    op, dts = _spec(cls)
    rng = np.random.default_rng(1)
    n, size = len(dts), 4
    if layout == "scalar batch, unbatched tensor":
        shapes_, axes = [(size,), (2, 3)], [0, None]
    elif layout == "scalar batch, tensor batch at 1":
        shapes_, axes = [(size,), (2, size, 3)], [0, 1]
    elif layout == "unbatched tensor, tensor batch at 2":
        shapes_, axes = [(2, 3), (2, 3, size)], [None, 2]
    else:
        shapes_, axes = [(), (size,)], [None, 0]
    if n == 3:  # the middle operand of clamp must be the full one: put the pair around it
        shapes_, axes = [shapes_[0], shapes_[1], shapes_[0]], [axes[0], axes[1], axes[0]]
    xs = [_values(dt, s, rng) for dt, s in zip(dts, shapes_)]
    check_law(lambda *a: bind(op, *a), xs, axes, size, f"{op!r} {layout}")


def test_same_batch_axis_needs_no_transpose() -> None:
    x = d.asarray(np.arange(12.0, dtype=np.float32).reshape(3, 4))
    program = d.stage(vmap(lambda v: d.sin(v) * 2.0 + v, in_axes=1, out_axes=1))(x)
    names = [e.op.name for e in program.eqns]
    assert names == ["sin", "mul", "add"], names
    typecheck(program)


def test_unbatched_scalars_stay_scalars() -> None:
    # mixed batch axes go to the front (one transpose); the literal is never broadcast
    x, y = d.ones((4, 3)), d.ones((3, 4))
    program = d.stage(vmap(lambda a, b: (a + b) * 2.0, in_axes=(0, 1)))(x, y)
    names = [e.op.name for e in program.eqns]
    assert names == ["transpose", "add", "mul"], names
    typecheck(program)


def test_weak_scalar_operands_keep_the_dtype() -> None:
    x = np.arange(-4, 4, dtype=np.int8).reshape(4, 2)
    got = vmap(lambda v: v * 3 + 1, in_axes=1)(d.asarray(x))
    assert_same(got, (x * 3 + 1).T.astype(np.int8), "int8 * 3 + 1")
    y = np.linspace(0, 1, 6, dtype=np.float16)
    assert_same(vmap(lambda v: v * 0.5)(d.asarray(y)), (y * np.float16(0.5)), "f16 * 0.5")


# ---------------------------------------------------------------------------------------------
# vmap of grad


GRAD_CASES: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any], tuple[float, float]]] = [
    ("sin", d.sin, jnp.sin, (-3.0, 3.0)), ("exp", d.exp, jnp.exp, (-2.0, 2.0)),
    ("tanh", d.tanh, jnp.tanh, (-2.0, 2.0)), ("log", d.log, jnp.log, (0.1, 4.0)),
    ("sqrt", d.sqrt, jnp.sqrt, (0.1, 4.0)), ("logistic", d.logistic, jax.nn.sigmoid, (-3, 3)),
    ("arctan", d.arctan, jnp.arctan, (-3.0, 3.0)),
]


@pytest.mark.parametrize("name,ours,theirs,dom", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_vmap_of_grad_unary(name: str, ours: Callable[[Any], Any], theirs: Callable[[Any], Any],
                            dom: tuple[float, float]) -> None:
    xs = np.random.default_rng(2).uniform(*dom, 5).astype(np.float32)
    g = grad(ours)
    got = vmap(g)(d.asarray(xs))
    want = loop(g, [xs], [0], 5)
    assert_same(got, want, f"vmap(grad({name}))")
    np.testing.assert_allclose(np.asarray(got), np.asarray(jax.vmap(jax.grad(theirs))(xs)),
                               rtol=2e-6, atol=1e-7)
    assert_same(jit(vmap(g))(xs), want, f"jit(vmap(grad({name})))")


def test_vmap_of_grad_with_unbatched_operand() -> None:
    def f(x: Any, y: Any) -> Any:
        return d.sin(x) * y + d.exp(x * y)

    xs = np.linspace(-1, 1, 4, dtype=np.float32)
    y = np.float32(0.7)
    got = vmap(grad(f, argnums=(0, 1)), in_axes=(0, None))(d.asarray(xs), d.asarray(y))
    want = jax.vmap(jax.grad(lambda x, y: jnp.sin(x) * y + jnp.exp(x * y), argnums=(0, 1)),
                    in_axes=(0, None))(xs, y)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# dsl.random under vmap: a batch of keys gives the streams of a loop over the keys


def require_rules(fn: Callable[..., Any], *args: Any) -> None:
    """Skip unless every primitive `fn` stages to has a batching rule (the structural rules
    live in interpreters/vectorize/structural.py, written separately)."""
    missing = sorted({e.op.name for e in d.stage(fn)(*args).walk()
                      if type(e.op) not in BATCH_RULES})
    if missing:
        pytest.skip(f"no batching rule yet for {missing} (structural rules, "
                    "interpreters/vectorize/structural.py, not written yet)")


KEYS = d.random.split(d.random.key(0), 4)

SAMPLERS: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = [
    ("normal", lambda k: d.random.normal(k, (3,)), lambda k: jax.random.normal(k, (3,))),
    ("uniform", lambda k: d.random.uniform(k, (2, 3)), lambda k: jax.random.uniform(k, (2, 3))),
    ("bits", lambda k: d.random.bits(k, (5,)), lambda k: jax.random.bits(k, (5,))),
    ("split", lambda k: d.random.split(k, 3), lambda k: jax.random.split(k, 3)),
    ("randint", lambda k: d.random.randint(k, (4,), 0, 10),
     lambda k: jax.random.randint(k, (4,), 0, 10)),
    ("bernoulli", lambda k: d.random.bernoulli(k, 0.3, (6,)),
     lambda k: jax.random.bernoulli(k, 0.3, (6,))),
]


@pytest.mark.parametrize("name,ours,theirs", SAMPLERS, ids=[s[0] for s in SAMPLERS])
def test_random_vmap_over_keys_equals_loop(name: str, ours: Callable[[Any], Any],
                                           theirs: Callable[[Any], Any]) -> None:
    require_rules(ours, KEYS[0])
    keys = np.asarray(KEYS)
    want = loop(ours, [keys], [0], 4)
    got = vmap(ours)(KEYS)
    assert_same(got, want, f"vmap(random.{name})")
    rows = [w.tobytes() for w in want]
    assert len(set(rows)) == len(rows) or name == "bernoulli", "streams are not independent"
    if name in ("normal", "split"):  # (the others stage the same hash: spare the time)
        assert_same(jit(vmap(ours))(keys), want, f"jit(vmap(random.{name}))")
        # keys batched along axis 1
        assert_same(vmap(ours, in_axes=1)(d.asarray(keys.T.copy())), want, f"in_axes=1 {name}")
    theirs_out = np.asarray(jax.vmap(theirs)(keys))
    if D.is_inexact(want.dtype):
        np.testing.assert_allclose(np.asarray(got), theirs_out, rtol=2e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(np.asarray(got), theirs_out)


def test_random_fold_in_batched_data() -> None:
    key = d.random.key(7)

    def f(i: Any) -> Any:
        return d.random.uniform(d.random.fold_in(key, i), (2,))

    data = np.arange(5, dtype=np.uint32)
    require_rules(f, d.asarray(data[0]))
    want = loop(f, [data], [0], 5)
    assert_same(vmap(f)(d.asarray(data)), want, "vmap(fold_in)")
    jkey = jax.random.PRNGKey(7)
    theirs = jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(jkey, i), (2,)))(data)
    np.testing.assert_allclose(np.asarray(want), np.asarray(theirs), rtol=2e-6, atol=1e-6)


def test_random_nested_vmap_over_a_grid_of_keys() -> None:
    def f(k: Any) -> Any:
        return d.random.normal(k, (2,))

    require_rules(f, KEYS[0])
    grid = d.random.split(d.random.key(3), (2, 3))
    got = vmap(vmap(f))(grid)
    flat = np.asarray(vmap(f)(d.asarray(np.asarray(grid).reshape(6, 2))))
    assert_same(got, flat.reshape(2, 3, 2), "nested vmap of normal")
