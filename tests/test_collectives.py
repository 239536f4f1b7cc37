"""Collectives over named axes under `vmap(..., axis_name=...)`.

Oracles: NumPy closed forms over the batch (`ref` below: a sum over the examples, a stack, a
permutation of the examples, chunks exchanged between them), the law that a collective over two
nested names equals the same collective over one name on the flattened batch, and `jax.vmap`
with `jax.lax`'s collectives (values and gradients) where JAX supports the case. Also: the
programs print and parse back, typecheck after vmap, and bad input raises the documented errors.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dsl as d
from dsl import ops as P
from dsl.axes import bound_axes
from dsl.core import bind, inline, stage_flat
from dsl.errors import ArgumentValueError, ShapeError, TransformError
from dsl.types import TensorType
from interpreters import evaluate, grad, jit, vmap
from interpreters.differentiate import JVP_RULES, VJP_RULES
from interpreters.evaluate import RULES as EVAL_RULES
from interpreters.lower import RULES as LOWER_RULES
from interpreters.lower import lower_program
from interpreters.vectorize import BATCH_RULES, load_rules

load_rules()
_R = np.random.default_rng(0)


def rnd(*shape: int) -> np.ndarray:
    return _R.standard_normal(shape).astype(np.float32)


def ref(name: str, xs: np.ndarray, **kw: Any) -> np.ndarray:
    """What each example of the batch `xs` (examples along axis 0) gets from a collective over
    the batch's axis, stacked: NumPy closed forms."""
    n = xs.shape[0]
    if name == "psum":
        return np.broadcast_to(xs.sum(0), xs.shape)
    if name == "all_gather":
        ax, tiled = kw.get("axis", 0), kw.get("tiled", False)
        every = np.concatenate(list(xs), ax) if tiled else np.stack(list(xs), ax)
        return np.stack([every] * n)
    if name == "ppermute":
        out = np.zeros_like(xs)
        for src, dst in kw["perm"]:
            out[dst] = xs[src]
        return out
    if name == "all_to_all":
        s, c, tiled = kw["split_axis"], kw["concat_axis"], kw.get("tiled", False)
        if tiled:
            return np.stack([np.concatenate([np.split(xs[j], n, s)[k] for j in range(n)], c)
                             for k in range(n)])
        return np.stack([np.stack([np.take(xs[j], k, s) for j in range(n)], c)
                         for k in range(n)])
    if name == "psum_scatter":
        dim, tiled = kw.get("scatter_dimension", 0), kw.get("tiled", False)
        total = xs.sum(0)
        return np.stack([np.split(total, n, dim)[k] if tiled else np.take(total, k, dim)
                         for k in range(n)])
    raise AssertionError(name)


def call(lib: Any, name: str, x: Any, axis_name: Any, kw: dict[str, Any]) -> Any:
    """`lib.<name>(x, axis_name, **kw)` for `lib` = dsl or jax.lax (the same signatures)."""
    fn = getattr(lib, name)
    if name == "all_to_all":
        return fn(x, axis_name, kw["split_axis"], kw["concat_axis"], tiled=kw.get("tiled", False))
    return fn(x, axis_name, **kw)


def _close(got: Any, want: Any, tol: float = 1e-5) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


N = 4  # the batch


def _cases() -> list[tuple[str, tuple[int, ...], dict[str, Any]]]:
    cases: list[tuple[str, tuple[int, ...], dict[str, Any]]] = []
    for shape in [(3,), (4, 8), (8, 2, 4)]:
        nd = len(shape)
        cases.append(("psum", shape, {}))
        cases += [("all_gather", shape, {"axis": a}) for a in range(nd + 1)]
        cases += [("all_gather", shape, {"axis": a, "tiled": True}) for a in range(nd)]
        cases.append(("ppermute", shape, {"perm": [(0, 1), (1, 2), (2, 3), (3, 0)]}))
        cases.append(("ppermute", shape, {"perm": [(0, 2), (3, 1)]}))
        for s in range(nd):
            for c in range(nd):
                if shape[s] % N == 0:
                    cases.append(("all_to_all", shape, {"split_axis": s, "concat_axis": c,
                                                        "tiled": True}))
                if shape[s] == N:
                    cases.append(("all_to_all", shape, {"split_axis": s, "concat_axis": c}))
            if shape[s] % N == 0:
                cases.append(("psum_scatter", shape, {"scatter_dimension": s, "tiled": True}))
            if shape[s] == N:
                cases.append(("psum_scatter", shape, {"scatter_dimension": s}))
    return cases


CASES = _cases()
IDS = [f"{n}-{'x'.join(map(str, s))}-{'-'.join(f'{k}={v}' for k, v in kw.items() if k != 'perm')}"
       for n, s, kw in CASES]


# --- each collective against its closed form, eager, under jit, nested, staged ----------------

@pytest.mark.parametrize("name,shape,kw", CASES, ids=IDS)
def test_collective_over_the_batch(name: str, shape: tuple[int, ...], kw: dict[str, Any]
                                   ) -> None:
    xs = rnd(N, *shape)
    want = ref(name, xs, **kw)

    def f(x: Any) -> Any:
        return call(d, name, x, "i", kw)

    _close(vmap(f, axis_name="i")(xs), want)
    _close(jit(vmap(f, axis_name="i"))(xs), want)
    program = d.stage(vmap(f, axis_name="i"))(xs)
    d.typecheck(program)
    assert not any(e.op.collective for e in program.walk())  # vmap eliminated it
    # two nested names = one name over the flattened batch (row-major over the names)
    nested = vmap(vmap(lambda x: call(d, name, x, ("i", "j"), kw), axis_name="j"),
                  axis_name="i")(xs.reshape(2, 2, *shape))
    _close(np.asarray(nested).reshape(want.shape), want)
    swapped = jit(vmap(vmap(lambda x: call(d, name, x, ("i", "j"), kw), axis_name="i"),
                       axis_name="j"))(xs.reshape(2, 2, *shape).swapaxes(0, 1))
    _close(np.asarray(swapped).swapaxes(0, 1).reshape(want.shape), want)


def test_the_pmean_example() -> None:
    xs = rnd(5, 3)
    out = vmap(lambda x: x - d.pmean(x, "i"), axis_name="i")(xs)
    _close(out, xs - xs.mean(0))
    ints = np.arange(6, dtype=np.int32).reshape(3, 2)
    mean = vmap(lambda x: d.pmean(x, "i"), axis_name="i")(ints)
    assert np.asarray(mean).dtype == np.float32  # integers give floats, as `/` does
    _close(mean, np.broadcast_to(ints.mean(0), (3, 2)))


def test_axis_index_and_shared_operands() -> None:
    xs = rnd(5, 2)
    _close(vmap(lambda x: d.axis_index("i"), axis_name="i")(xs), np.arange(5))
    # an operand that is the same in every example: psum multiplies by the batch size
    out = vmap(lambda x, w: x * d.psum(w, "i") + d.psum(1, "i"), in_axes=(0, None),
               axis_name="i")(xs, np.float32(2.0))
    _close(out, xs * 10.0 + 5.0)
    g = vmap(lambda x, w: d.all_gather(w, "i"), in_axes=(0, None), axis_name="i")(xs, xs[0])
    _close(g, np.broadcast_to(xs[0], (5, 5, 2)))
    p = vmap(lambda x, w: d.ppermute(w, "i", [(0, 1), (1, 0)]), in_axes=(0, None),
             axis_name="i")(xs, xs[0])
    _close(p, np.stack([xs[0], xs[0], 0 * xs[0], 0 * xs[0], 0 * xs[0]]))
    s = vmap(lambda x, w: d.psum_scatter(w, "i", tiled=True), in_axes=(0, None),
             axis_name="i")(xs, np.arange(10.0, dtype=np.float32))
    _close(s, 5 * np.arange(10.0).reshape(5, 2))
    # booleans are summed as int32, as in JAX
    flags = np.array([True, False, True, True])
    count = vmap(lambda b: d.psum(b, "i"), axis_name="i")(flags)
    assert np.asarray(count).dtype == np.int32
    _close(count, np.full(4, 3))


def test_pytrees_and_tuple_axis_names() -> None:
    xs, ys = rnd(4, 3), rnd(4)
    out = vmap(lambda t: d.psum(t, ("i",)), axis_name="i")({"a": xs, "b": (ys,)})
    _close(out["a"], ref("psum", xs))
    _close(out["b"][0], ref("psum", ys))
    # a psum is the same in every example, so it may leave the vmap unbatched
    total = vmap(lambda x: d.psum(x, "i"), axis_name="i", out_axes=None)(xs)
    _close(total, xs.sum(0))
    # an empty tuple of names is the identity (JAX's convention)
    _close(vmap(lambda x: d.psum(x, ()), axis_name="i")(xs), xs)


def test_nested_names_against_jax() -> None:
    xs = rnd(2, 3, 4, 8)
    fns = [
        lambda L, x: L.psum(x, ("i", "j")) - L.psum(x, "k"),
        lambda L, x: L.psum(x, ("k", "i")) * L.axis_index(("k", "i", "j")),
        lambda L, x: x * L.axis_index("j") + L.pmean(x, ("j", "k", "i")),
        lambda L, x: L.all_to_all(x, ("i", "k"), 0, 0, tiled=True),
        lambda L, x: L.all_to_all(x.reshape(8, 1), ("k", "i"), 0, 1, tiled=True),
        lambda L, x: L.all_to_all(x.reshape(8, 1), ("i", "k"), 0, 1),
        lambda L, x: L.all_to_all(x.reshape(1, 2, 4), ("j", "k"), 2, 0, tiled=True)
        if False else L.all_to_all(x.reshape(2, 4), "k", 1, 0),
    ]
    for fn in fns:
        ours = vmap(vmap(vmap(lambda x: fn(d, x), axis_name="k"), axis_name="j"),
                    axis_name="i")(xs)
        theirs = jax.vmap(jax.vmap(jax.vmap(lambda x: fn(jax.lax, x), axis_name="k"),
                                   axis_name="j"), axis_name="i")(xs)
        _close(ours, theirs, 1e-4)


def test_an_inner_name_shadows_an_outer_one() -> None:
    xs = rnd(3, 4)

    def f(L: Any, x: Any) -> Any:
        return L.psum(x, "i") + L.axis_index("i")

    ours = vmap(vmap(lambda x: f(d, x), axis_name="i"), axis_name="i")(xs)
    theirs = jax.vmap(jax.vmap(lambda x: f(jax.lax, x), axis_name="i"), axis_name="i")(xs)
    _close(ours, theirs)


def test_unnamed_vmaps_and_control_flow_inherit_the_batch_axis() -> None:
    xs = rnd(3, 4, 2)
    # an unnamed inner vmap: the psum is over the outer, named axis
    out = vmap(vmap(lambda x: d.psum(x, "i")), axis_name="i")(xs)
    _close(out, np.broadcast_to(xs.sum(0), xs.shape))

    # a collective inside a scan body and a cond branch, over the vmapped axis
    def f(x: Any) -> Any:
        def body(c: Any, row: Any) -> Any:
            return c + d.psum(row, "i"), d.axis_index("i") * row

        c, ys = d.scan(body, d.zeros(2), x)
        return c + d.cond(d.sum(c) > 1e9, lambda v: v, lambda v: d.pmean(v, "i"), c), ys

    c, ys = vmap(f, axis_name="i")(xs)
    _close(c, np.broadcast_to(2 * xs.sum((0, 1)), (3, 2)))
    _close(ys, xs * np.arange(3)[:, None, None])
    c2, _ = jit(vmap(f, axis_name="i"))(xs)
    _close(c2, c)


def test_vmap_without_collectives_is_unchanged() -> None:
    xs = rnd(4, 3)
    out = vmap(lambda x: d.sin(x) * 2.0, axis_name="batch")(xs)
    _close(out, np.sin(xs) * 2.0)
    a = d.stage(vmap(lambda x: d.sin(x), axis_name="batch"))(xs)
    b = d.stage(vmap(lambda x: d.sin(x)))(xs)
    assert a == b


@given(st.integers(1, 6), st.integers(0, 3), st.randoms(use_true_random=False))
def test_random_permutations(n: int, width: int, r: Any) -> None:
    xs = _R.standard_normal((n, width)).astype(np.float32)
    dsts = list(range(n))
    r.shuffle(dsts)
    perm = [(s, t) for s, t in zip(range(n), dsts) if r.random() < 0.7]
    out = vmap(lambda x: d.ppermute(x, "i", perm), axis_name="i")(xs)
    _close(out, ref("ppermute", xs, perm=perm))


@given(st.integers(1, 5), st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=4))
def test_random_sums_and_gathers(n: int, row: list[float]) -> None:
    xs = np.array([row] * n, dtype=np.float32) * np.arange(1, n + 1, dtype=np.float32)[:, None]
    _close(vmap(lambda x: d.psum(x, "i"), axis_name="i")(xs), ref("psum", xs), 1e-3)
    _close(vmap(lambda x: d.all_gather(x, "i", axis=-1), axis_name="i")(xs),
           ref("all_gather", xs, axis=1))


def test_ppermute_over_several_names_with_partial_perm() -> None:
    xs = rnd(2, 3, 5)
    perm = [(0, 5), (5, 1), (2, 3), (4, 0)]
    out = vmap(vmap(lambda x: d.ppermute(x, ("i", "j"), perm), axis_name="j"),
               axis_name="i")(xs)
    _close(np.asarray(out).reshape(6, 5), ref("ppermute", xs.reshape(6, 5), perm=perm))


# --- gradients against the jax oracle ----------------------------------------------------------

TERMS = {
    "psum": lambda L, NP, x: NP.sum(NP.sin(x) * L.psum(x * x, "i")),
    "pmean": lambda L, NP, x: NP.sum(NP.sin(x) * L.pmean(x * x, "i")),
    "all_gather": lambda L, NP, x: NP.sum(L.all_gather(x, "i", axis=1) ** 3),
    "all_gather_tiled": lambda L, NP, x: NP.sum(NP.sin(L.all_gather(x, "i", tiled=True))),
    "ppermute": lambda L, NP, x: NP.sum(L.ppermute(x, "i", [(0, 1), (1, 2), (2, 0)]) * x),
    "psum_scatter_tiled": lambda L, NP, x: NP.sum(
        L.psum_scatter(NP.cos(x), "i", tiled=True) ** 2),
    "psum_scatter": lambda L, NP, x: NP.sum(L.psum_scatter(NP.cos(x[:3]), "i") ** 2),
    "all_to_all_tiled": lambda L, NP, x: NP.sum(
        L.all_to_all(x, "i", 0, 0, tiled=True) ** 2 * NP.arange(6.0)),
    "all_to_all": lambda L, NP, x: NP.sum(
        NP.sin(L.all_to_all(x.reshape(3, 2), "i", 0, 1)) * NP.arange(6.0).reshape(2, 3)),
    "axis_index": lambda L, NP, x: NP.sum(x * x * L.axis_index("i")),
}


@pytest.mark.parametrize("name", list(TERMS))
def test_gradients_match_jax(name: str) -> None:
    fn = TERMS[name]
    xs = rnd(3, 6)

    def ours(x: Any) -> Any:
        return fn(d, d, x)

    def theirs(x: Any) -> Any:
        return fn(jax.lax, jnp, x)

    want = jax.grad(lambda v: jnp.sum(jax.vmap(theirs, axis_name="i")(v)))(xs)
    got = grad(lambda v: d.sum(vmap(ours, axis_name="i")(v)))(xs)
    _close(got, want, 1e-4)
    # per-example gradients: every collective here is linear and moves or sums values across
    # the examples, so vmap(grad) equals the gradient of the summed batch (as JAX computes it;
    # jax.vmap(jax.grad) fails on the untiled all_to_all, so that one uses the line above)
    if name != "all_to_all":
        want = jax.vmap(jax.grad(theirs), axis_name="i")(xs)
    _close(vmap(grad(ours), axis_name="i")(xs), want, 1e-4)
    _close(jit(vmap(grad(ours), axis_name="i"))(xs), want, 1e-4)


def test_jvp_of_collectives_is_the_collective_of_the_tangent() -> None:
    from interpreters import jvp

    xs, ts = rnd(4, 16), rnd(4, 16)

    def f(x: Any) -> Any:
        return d.all_to_all(d.psum_scatter(x, "i", tiled=True) * x[:4], "i", 0, 0, tiled=True)

    def g(x: Any, t: Any) -> Any:
        return jvp(f, (x,), (t,))

    out, tan = vmap(g, axis_name="i")(xs, ts)
    want, want_t = jax.vmap(lambda x, t: jax.jvp(
        lambda v: jax.lax.all_to_all(jax.lax.psum_scatter(v, "i", tiled=True) * v[:4], "i", 0,
                                     0, tiled=True), (x,), (t,)), axis_name="i")(xs, ts)
    _close(out, want, 1e-4)
    _close(tan, want_t, 1e-4)


# --- printing and parsing, rules, refusals ------------------------------------------------------

def _staged_collectives() -> d.Program:
    with bound_axes([("i", 4), ("f32", 2)]):  # a name that must be quoted when printed
        program, _, _ = stage_flat(lambda x: [
            d.psum(x, ("i", "f32")), d.all_gather(x, "i", axis=1, tiled=True),
            d.all_gather(x[0], "f32"), d.ppermute(x, "i", [(0, 1), (2, 3)]),
            d.ppermute(x, "i", []), d.all_to_all(x, "i", 0, 1, tiled=True),
            d.all_to_all(x[:4, 0], "i", 0, 0), d.psum_scatter(x, ("f32", "i"), tiled=True),
            d.psum_scatter(x[:2], "f32", scatter_dimension=0), d.axis_index(("i", "f32")),
        ], [TensorType((8, 3), d.float32)])
    return program


def test_every_collective_prints_and_parses_back() -> None:
    program = _staged_collectives()
    text = str(program)
    assert {e.op.name for e in program.eqns if e.op.collective} == {
        cls.name for cls in P.COLLECTIVES}
    assert 'psum[axes=(i, "f32") sizes=(4, 2)]' in text
    assert "perm=((0, 1), (2, 3))" in text
    again = d.parse(text)
    assert again == program and str(again) == text
    d.typecheck(again)


def test_every_collective_has_its_rules() -> None:
    assert len(P.COLLECTIVES) == 6
    for cls in P.COLLECTIVES:
        assert cls.family == "collective" and cls.collective and cls in P.ALL_OPS
        for table in (EVAL_RULES, LOWER_RULES, BATCH_RULES, JVP_RULES, VJP_RULES):
            assert cls in table, (cls.name, table)


def test_collectives_outside_a_binding_context_are_refused() -> None:
    program = _staged_collectives()
    with pytest.raises(TransformError, match=r"psum over axis \('i', 'f32'\) reached evaluate "
                                             r"outside a binding context"):
        evaluate(program)(rnd(8, 3))
    with pytest.raises(TransformError, match="psum over axis .* reached the lowering"):
        lower_program(program)
    with pytest.raises(TransformError, match="axis_index over axis 'i' reached evaluate"):
        bind(P.AxisIndex(axes=("i",), sizes=(4,)))
    # a staged program holding a collective cannot be jitted on its own either
    with pytest.raises(TransformError, match="all_gather over axis 'i'"):
        gather = d.parse("{ lambda ; a:f32[3]. let b:f32[2,3] = all_gather[axes=(i,) sizes=(2,)] "
                         "a in (b,) }")
        jit(lambda x: inline(gather, [x])[0])(rnd(3))


# --- bad input ------------------------------------------------------------------------------------

def test_unbound_axis_names() -> None:
    xs = rnd(4, 3)
    with pytest.raises(ArgumentValueError) as info:
        vmap(lambda x: d.psum(x, "j"), axis_name="i")(xs)
    msg = str(info.value)
    for part in ("psum", "'j'", "'i'", "f32[3]", "test_collectives.py"):
        assert part in msg, (part, msg)
    with pytest.raises(ArgumentValueError, match=r"all_gather: unbound axis name 'i'.*in scope: "
                                                 r"none"):
        d.all_gather(xs, "i")
    with pytest.raises(ArgumentValueError, match="axis_index: unbound axis name 'k'.*'i', 'j'"):
        vmap(vmap(lambda x: d.axis_index(("i", "k")), axis_name="j"), axis_name="i")(
            rnd(2, 2))
    with pytest.raises(ArgumentValueError, match="unbound"):  # an unnamed vmap binds no name
        vmap(lambda x: d.psum(x, "i"))(xs)
    with pytest.raises(ArgumentValueError, match="distinct"):
        vmap(lambda x: d.psum(x, ("i", "i")), axis_name="i")(xs)
    with pytest.raises(ArgumentValueError, match="axis_index_groups"):
        vmap(lambda x: d.psum(x, "i", axis_index_groups=[[0, 1], [2, 3]]), axis_name="i")(xs)


def test_bad_permutations() -> None:
    xs = rnd(4, 3)
    with pytest.raises(ArgumentValueError, match="repeats the destination 1"):
        vmap(lambda x: d.ppermute(x, "i", [(0, 1), (2, 1)]), axis_name="i")(xs)
    with pytest.raises(ArgumentValueError, match="repeats the source 0"):
        vmap(lambda x: d.ppermute(x, "i", [(0, 1), (0, 2)]), axis_name="i")(xs)
    with pytest.raises(ArgumentValueError, match=r"pair \(0, 4\) of perm is out of range for "
                                                 r"axis 'i' of size 4"):
        vmap(lambda x: d.ppermute(x, "i", [(0, 4)]), axis_name="i")(xs)
    with pytest.raises(TypeError, match="pairs of ints"):
        vmap(lambda x: d.ppermute(x, "i", [(0.5, 1)]), axis_name="i")(xs)
    with pytest.raises(d.ParseError, match="repeats the destination"):
        d.parse("{ lambda ; a:f32[3]. let b:f32[3] = ppermute[axes=(i,) sizes=(4,) "
                "perm=((0, 1), (2, 1))] a in (b,) }")


def test_bad_axes() -> None:
    xs = rnd(4, 6)
    with pytest.raises(ShapeError, match=r"all_gather: axis 2 is out of bounds for an operand "
                                         r"of type f32\[6\]"):
        vmap(lambda x: d.all_gather(x, "i", axis=2), axis_name="i")(xs)
    with pytest.raises(ShapeError, match="all_gather: axis 1 is out of bounds"):
        vmap(lambda x: d.all_gather(x, "i", axis=1, tiled=True), axis_name="i")(xs)
    with pytest.raises(ShapeError, match=r"split_axis 0 has size 6, not divisible by the size 4 "
                                         r"of axis 'i'; got \(f32\[6\]\)"):
        vmap(lambda x: d.all_to_all(x, "i", 0, 0, tiled=True), axis_name="i")(xs)
    with pytest.raises(ShapeError, match="untiled all_to_all needs the size 4"):
        vmap(lambda x: d.all_to_all(x, "i", 0, 0), axis_name="i")(xs)
    with pytest.raises(ShapeError, match="untiled psum_scatter needs the size 4"):
        vmap(lambda x: d.psum_scatter(x, "i"), axis_name="i")(xs)
    with pytest.raises(ShapeError, match="scatter_dimension 3 is out of bounds"):
        vmap(lambda x: d.psum_scatter(x, "i", scatter_dimension=3), axis_name="i")(xs)
    with pytest.raises(d.DTypeError, match="psum_scatter: does not accept dtype bool"):
        vmap(lambda x: d.psum_scatter(x > 0, "i", tiled=True), axis_name="i")(rnd(4, 8))
    with pytest.raises(ArgumentValueError, match="sizes"):
        P.Psum(axes=("i", "j"), sizes=(2,)).infer(TensorType((3,), d.float32))


def test_error_names_the_users_line() -> None:
    xs = rnd(4, 3)
    with pytest.raises(ArgumentValueError) as info:
        vmap(lambda x: d.ppermute(x, "i", [(1, 0), (2, 0)]), axis_name="i")(xs)
    assert re.search(r"at test_collectives\.py:\d+", str(info.value))
