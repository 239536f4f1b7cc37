"""`shard_map`: per-device programs over the 8 CPU devices (meshes (8,) and (2, 4)).

Oracles: NumPy closed forms for the classic cases (the data-parallel `psum(x.sum())`, a ring
shift), `jax.shard_map` with `jax.lax`'s collectives on the same meshes for every collective
(values eagerly and under jit, and jvp / vjp / grad / vmap), and the shard_map law (a shard_map
program equals the same program unsharded) over random programs. Also: the program prints and
parses back, bad input raises `ShardingError` with clear messages.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh as JaxMesh
from jax.sharding import PartitionSpec as JP

import backends
import dsl as d
from dsl import P
from dsl.errors import ShardingError
from interpreters import grad, jit, jvp, laws, vjp, vmap
from interpreters.shard_map import shard_map

MESH1 = d.make_mesh((8,), ("i",))
MESH2 = d.make_mesh((2, 4), ("a", "b"))
JMESH1 = JaxMesh(np.array(jax.devices()[:8]), ("i",))
JMESH2 = JaxMesh(np.array(jax.devices()[:8]).reshape(2, 4), ("a", "b"))
MESHES = {1: (MESH1, JMESH1), 2: (MESH2, JMESH2)}

# the same names on both sides: `ns.psum`, `ns.sin`, ...
JNS = types.SimpleNamespace(
    psum=jax.lax.psum, pmean=jax.lax.pmean, all_gather=jax.lax.all_gather,
    ppermute=jax.lax.ppermute, all_to_all=jax.lax.all_to_all, psum_scatter=jax.lax.psum_scatter,
    axis_index=jax.lax.axis_index, sin=jnp.sin, cos=jnp.cos, tanh=jnp.tanh, exp=jnp.exp,
    dot=jnp.dot, sum=jnp.sum)

_R = np.random.default_rng(0)


def rnd(*shape: int) -> np.ndarray:
    return _R.standard_normal(shape).astype(np.float32)


def jspec(spec: P) -> JP:
    return JP(*tuple(spec))


def jspecs(specs: Any) -> Any:
    if isinstance(specs, P):
        return jspec(specs)
    return tuple(jspecs(s) for s in specs)


def pair(body: Callable[..., Any], mesh: int, in_specs: Any, out_specs: Any,
         check_vma: bool = True, jax_check_vma: bool | None = None
         ) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """`body(ns, *args)` as our shard_map and as jax's, on mesh 1 or 2. (jax types the result of
    `all_gather` as varying, so jax needs `check_vma=False` where ours proves it is not.)"""
    ours, theirs = MESHES[mesh]
    f = shard_map(lambda *a: body(d, *a), mesh=ours, in_specs=in_specs, out_specs=out_specs,
                  check_vma=check_vma)
    g = jax.shard_map(lambda *a: body(JNS, *a), mesh=theirs, in_specs=jspecs(in_specs),
                      out_specs=jspecs(out_specs),
                      check_vma=check_vma if jax_check_vma is None else jax_check_vma)
    return f, g


def close(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, (x.shape, y.shape)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# Closed forms


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_data_parallel_sum(compiled: bool) -> None:
    f = shard_map(lambda x: d.psum(x.sum(), "i"), mesh=MESH1, in_specs=P("i"), out_specs=P())
    x = rnd(64)
    out = (jit(f) if compiled else f)(x)
    assert out.shape == ()
    np.testing.assert_allclose(np.asarray(out), x.sum(), rtol=1e-5)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_ring_shift(compiled: bool) -> None:
    perm = [(j, (j + 1) % 8) for j in range(8)]
    f = shard_map(lambda x: d.ppermute(x, "i", perm), mesh=MESH1, in_specs=P("i"),
                  out_specs=P("i"))
    x = np.arange(16, dtype=np.float32)
    out = np.asarray((jit(f) if compiled else f)(x))
    np.testing.assert_array_equal(out, np.roll(x.reshape(8, 2), 1, axis=0).reshape(16))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_pmean_and_axis_index_2d(compiled: bool) -> None:
    def body(x: Any) -> Any:
        return (d.pmean(x, ("a", "b")), x * 0 + d.axis_index(("a", "b")),
                d.reshape(d.axis_index("b"), (1,)))

    f = shard_map(body, mesh=MESH2, in_specs=P(("a", "b")), out_specs=(P(), P(("a", "b")),
                                                                        P("b")))
    x = rnd(16)
    m, idx, b = (jit(f) if compiled else f)(x)
    np.testing.assert_allclose(np.asarray(m), x.reshape(8, 2).mean(0), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(idx), np.repeat(np.arange(8), 2))
    np.testing.assert_array_equal(np.asarray(b), np.arange(4, dtype=np.int32))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_replicated_operand_and_closure(compiled: bool) -> None:
    w = rnd(3, 2)
    x = rnd(16, 3)

    def loss(w: Any, x: Any) -> Any:
        def body(x: Any) -> Any:  # closes over w (replicated on every device)
            return d.psum(d.sum(d.dot(x, w) ** 2), "i")
        return shard_map(body, mesh=MESH1, in_specs=P("i"), out_specs=P())(x)

    fn = jit(loss) if compiled else loss
    np.testing.assert_allclose(np.asarray(fn(w, x)), ((x @ w) ** 2).sum(), rtol=1e-5)
    g = (jit(grad(loss)) if compiled else grad(loss))(w, x)
    np.testing.assert_allclose(np.asarray(g), 2 * x.T @ (x @ w), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_control_flow_in_the_body(compiled: bool) -> None:
    perm = [(j, (j + 1) % 8) for j in range(8)]

    def ring_sum(x: Any) -> Any:  # an all-reduce by 7 ring steps
        def step(i: Any, c: Any) -> Any:
            acc, cur = c
            cur = d.ppermute(cur, "i", perm)
            return acc + cur, cur
        return d.fori_loop(0, 7, step, (x, x))[0]

    def running(x: Any) -> Any:  # a scan whose carry stays the same on every device
        return d.scan(lambda c, xi: (c + d.psum(xi, "i"), c), d.zeros((), x.dtype), x)

    x = rnd(16)
    g = shard_map(ring_sum, mesh=MESH1, in_specs=P("i"), out_specs=P("i"))
    s = shard_map(running, mesh=MESH1, in_specs=P("i"), out_specs=(P(), P("i")))
    if compiled:
        g, s = jit(g), jit(s)
    sums = x.reshape(8, 2).sum(0)
    close(g(x), np.tile(sums, 8))
    total, ys = s(x)
    close(total, sums.sum())
    close(ys, np.tile([0.0, sums[0]], 8))
    loss = grad(lambda v: d.sum(g(v) * v))
    close(jit(loss)(x) if compiled else loss(x), 2 * np.tile(sums, 8), rtol=1e-4)


def test_no_arguments() -> None:
    f = shard_map(lambda: d.reshape(d.axis_index("i"), (1,)), mesh=MESH1, in_specs=(),
                  out_specs=P("i"))
    np.testing.assert_array_equal(np.asarray(f()), np.arange(8))
    np.testing.assert_array_equal(np.asarray(jit(f)()), np.arange(8))


# ----------------------------------------------------------------------------------------------
# Every collective against jax.shard_map

COLLECTIVE_CASES: dict[str, tuple[Callable[..., Any], int, Any, Any, tuple[int, ...]]] = {
    "psum": (lambda ns, x: ns.psum(x, "i"), 1, P("i"), P(), (16, 3)),
    "psum_2axes": (lambda ns, x: ns.psum(x.sum(0), ("a", "b")), 2, P(("a", "b")), P(),
                   (16, 3)),
    "psum_partial": (lambda ns, x: ns.psum(x, "b"), 2, P("a", "b"), P("a"), (4, 8)),
    "pmean": (lambda ns, x: x - ns.pmean(x, "i"), 1, P("i"), P("i"), (16,)),
    "all_gather": (lambda ns, x: ns.all_gather(x, "i"), 1, P("i"), P(), (16, 2)),
    "all_gather_axis1": (lambda ns, x: ns.all_gather(x, "b", axis=1), 2, P("a", "b"), P("a"),
                         (4, 8)),
    "all_gather_tiled": (lambda ns, x: ns.all_gather(x, "b", axis=1, tiled=True), 2,
                         P("a", "b"), P("a"), (4, 8)),
    "all_gather_2axes": (lambda ns, x: ns.all_gather(x, ("b", "a"), tiled=True), 2,
                         P(("a", "b")), P(), (16,)),
    "ppermute_ring": (lambda ns, x: ns.ppermute(x, "i", [(j, (j + 1) % 8) for j in range(8)]),
                      1, P("i"), P("i"), (16,)),
    "ppermute_partial": (lambda ns, x: ns.ppermute(x, "b", [(0, 1), (1, 3)]), 2, P("a", "b"),
                         P("a", "b"), (4, 8)),
    "all_to_all": (lambda ns, x: ns.all_to_all(x, "i", 0, 0, tiled=True), 1, P("i"), P("i"),
                   (64,)),
    "all_to_all_2d": (lambda ns, x: ns.all_to_all(x, "a", 0, 1, tiled=True), 2, P("a", "b"),
                      P("a", "b"), (4, 8)),
    "all_to_all_untiled": (lambda ns, x: ns.all_to_all(x, "b", 0, 1), 2, P(None, "b"),
                           P("a", "b"), (4, 8)),
    "psum_scatter": (lambda ns, x: ns.psum_scatter(x, "i", tiled=True), 1, P(), P("i"), (16,)),
    "psum_scatter_untiled": (lambda ns, x: ns.psum_scatter(x, "b", scatter_dimension=1), 2,
                             P("a"), P(("a", "b")), (2, 4)),
    "axis_index": (lambda ns, x: x * ns.axis_index(("a", "b")), 2, P(), P(("a", "b")), (3,)),
}


@pytest.mark.parametrize("name", list(COLLECTIVE_CASES))
def test_collectives_match_jax(name: str) -> None:
    body, mesh, ins, outs, shape = COLLECTIVE_CASES[name]
    f, g = pair(body, mesh, ins, outs, jax_check_vma=False)
    x = rnd(*shape)
    want = g(x)
    close(f(x), want)
    close(jit(f)(x), want)


# ----------------------------------------------------------------------------------------------
# Derivatives and vmap against jax

DIFF_CASES: dict[str, tuple[Callable[..., Any], int, Any, Any, tuple[tuple[int, ...], ...]]] = {
    "sum_sin": (lambda ns, x: ns.psum(ns.sum(ns.sin(x) * x), "i"), 1, P("i"), P(), ((16,),)),
    "data_parallel": (lambda ns, x, w: ns.pmean(ns.sum(ns.tanh(ns.dot(x, w)) ** 2), "i"), 1,
                      (P("i"), P()), P(), ((16, 3), (3, 2))),
    "ring": (lambda ns, x: ns.ppermute(ns.sin(x), "i", [(j, (j + 1) % 8) for j in range(8)])
             * x, 1, P("i"), P("i"), ((16,),)),
    "gather_2d": (lambda ns, x: ns.all_gather(ns.cos(x), "b", axis=1, tiled=True) ** 2, 2,
                  P("a", "b"), P("a"), ((4, 8),)),
    "all_to_all": (lambda ns, x: ns.all_to_all(x * x, "a", 0, 1, tiled=True), 2, P("a", "b"),
                   P("a", "b"), ((4, 8),)),
    "psum_scatter": (lambda ns, x, y: ns.psum_scatter(ns.exp(x) * y, "b", scatter_dimension=1,
                                                       tiled=True), 2,
                     (P("a"), P()), P("a", "b"), ((4, 8), (8,))),
    "replicated_in_2d": (lambda ns, x, w: ns.psum(ns.sin(x * w), "a"), 2, (P("a", "b"), P()),
                         P(None, "b"), ((4, 8), (1,))),
}


# jax types all_gather's result as varying: these need check_vma=False on jax's side
NO_JAX_VMA = {"gather_2d"}


def diff_pair(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    body, mesh, ins, outs, _ = DIFF_CASES[name]
    return pair(body, mesh, ins, outs, jax_check_vma=False if name in NO_JAX_VMA else None)


def _args(shapes: tuple[tuple[int, ...], ...]) -> list[np.ndarray]:
    return [rnd(*s) for s in shapes]


@pytest.mark.parametrize("name", list(DIFF_CASES))
def test_vjp_matches_jax(name: str) -> None:
    shapes = DIFF_CASES[name][-1]
    f, g = diff_pair(name)
    args = _args(shapes)
    y, back = vjp(f, *args)
    jy, jback = jax.vjp(g, *args)
    close(y, jy)
    ct = rnd(*np.shape(jy))
    close(back(ct), jback(ct), rtol=1e-4, atol=1e-4)
    # and compiled
    close(jit(lambda *a: vjp(f, *a)[1](ct))(*args), jback(ct), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(DIFF_CASES))
def test_jvp_matches_jax(name: str) -> None:
    shapes = DIFF_CASES[name][-1]
    f, g = diff_pair(name)
    args = _args(shapes)
    tans = _args(shapes)
    y, t = jvp(f, tuple(args), tuple(tans))
    jy, jt = jax.jvp(g, tuple(args), tuple(tans))
    close(y, jy)
    close(t, jt, rtol=1e-4, atol=1e-4)
    close(jit(lambda a, b: jvp(f, a, b)[1])(tuple(args), tuple(tans)), jt, rtol=1e-4,
          atol=1e-4)


@pytest.mark.parametrize("name", ["sum_sin", "data_parallel", "replicated_in_2d"])
def test_grad_matches_jax(name: str) -> None:
    shapes = DIFF_CASES[name][-1]
    f, g = diff_pair(name)
    args = _args(shapes)
    argnums = tuple(range(len(args)))
    want = jax.grad(lambda *a: jnp.sum(g(*a)), argnums=argnums)(*args)
    close(grad(lambda *a: d.sum(f(*a)), argnums=argnums)(*args), want, rtol=1e-4, atol=1e-5)
    close(jit(grad(lambda *a: d.sum(f(*a)), argnums=argnums))(*args), want, rtol=1e-4,
          atol=1e-5)


def test_second_derivative_matches_jax() -> None:
    f, g = pair(lambda ns, x: ns.psum(ns.sum(ns.sin(x) * x), "i"), 1, P("i"), P())
    x = rnd(16)
    want = jax.grad(lambda v: jnp.sum(jax.grad(g)(v) ** 2))(x)
    close(grad(lambda v: d.sum(grad(f)(v) ** 2))(x), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["sum_sin", "ring", "gather_2d", "all_to_all", "psum_scatter"])
def test_vmap_matches_jax(name: str) -> None:
    shapes = DIFF_CASES[name][-1]
    f, g = diff_pair(name)
    args = [rnd(3, *shapes[0])] + _args(shapes[1:])
    in_axes = (0,) + (None,) * (len(args) - 1)
    want = jax.vmap(g, in_axes=in_axes)(*args)
    close(vmap(f, in_axes=in_axes)(*args), want)
    close(jit(vmap(f, in_axes=in_axes))(*args), want)


def test_vmap_of_grad_and_batch_axis_not_first() -> None:
    f, g = pair(lambda ns, x, w: ns.pmean(ns.sum(ns.tanh(ns.dot(x, w)) ** 2), "i"), 1,
                (P("i"), P()), P())
    x, w = rnd(16, 3), rnd(3, 2, 5)
    want = jax.vmap(jax.grad(g, argnums=1), in_axes=(None, 2))(x, w)
    close(vmap(grad(f, argnums=1), in_axes=(None, 2))(x, w), want, rtol=1e-4, atol=1e-5)
    close(jit(vmap(grad(f, argnums=1), in_axes=(None, 2)))(x, w), want, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# check_vma, sharded arguments, printing


def test_check_vma_rejects_a_varying_result() -> None:
    f = shard_map(lambda x: x * 2, mesh=MESH1, in_specs=P("i"), out_specs=P())
    with pytest.raises(ShardingError, match=r"varies along mesh axis 'i'.*out_specs P\(\)"):
        f(rnd(16))
    g = shard_map(lambda x: x * d.axis_index("b"), mesh=MESH2, in_specs=P("a"),
                  out_specs=P("a"))
    with pytest.raises(ShardingError, match="varies along mesh axis 'b'"):
        g(rnd(4, 3))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_unchecked_result_comes_from_index_0(compiled: bool) -> None:
    f = shard_map(lambda x: x + d.axis_index("b").astype(x.dtype), mesh=MESH2, in_specs=P("a"),
                  out_specs=P("a"), check_vma=False)
    x = rnd(4, 3)
    np.testing.assert_allclose(np.asarray((jit(f) if compiled else f)(x)), x)


def test_sharded_arguments_under_jit() -> None:
    x = rnd(16, 4)
    xs = backends.device_put(x, d.NamedSharding(MESH1, P("i")))
    f = jit(shard_map(lambda x: d.psum(x.sum(0), "i"), mesh=MESH1, in_specs=P("i"),
                      out_specs=P()))
    np.testing.assert_allclose(np.asarray(f(xs)), x.sum(0), rtol=1e-5)
    # a (2, 4) mesh over the same devices, in the same order
    g = jit(shard_map(lambda x: d.psum(x, "a"), mesh=MESH2, in_specs=P(("a", "b")),
                      out_specs=P("b")))
    np.testing.assert_allclose(np.asarray(g(xs)),
                               x.reshape(2, 4, 2, 4).sum(0).reshape(8, 4), rtol=1e-5)


@pytest.mark.parametrize("which", ["first4", "reversed", "last4_2d"])
def test_meshes_over_other_devices(which: str) -> None:
    devs = backends.devices()
    mesh = {"first4": lambda: d.make_mesh((4,), ("i",)),
            "reversed": lambda: d.make_mesh((8,), ("i",), devices=devs[::-1]),
            "last4_2d": lambda: d.make_mesh((2, 2), ("i", "j"), devices=devs[4:])}[which]()
    n = mesh.shape["i"]
    f = shard_map(lambda x: d.ppermute(x, "i", [(0, 1), (1, 0)]) + d.axis_index("i"),
                  mesh=mesh, in_specs=P("i"), out_specs=P("i"), check_vma=False)
    x = np.arange(16, dtype=np.float32)
    blocks = x.reshape(n, -1)
    want = np.zeros_like(blocks)
    want[0], want[1] = blocks[1], blocks[0]
    want += np.arange(n, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(np.asarray(f(x)), want.reshape(-1))
    np.testing.assert_array_equal(np.asarray(jit(f)(x)), want.reshape(-1))


def test_vmap_with_an_axis_name_around_shard_map() -> None:
    f = shard_map(lambda x: d.psum(x, "k") + d.psum(x.sum(), "i"), mesh=MESH1,
                  in_specs=P("i"), out_specs=P("i"))
    xs = rnd(3, 16)
    want = xs.sum(0)[None] + xs.sum(1)[:, None]
    close(vmap(f, axis_name="k")(xs), want)
    close(jit(vmap(f, axis_name="k"))(xs), want)


def test_explicit_mesh_types() -> None:
    emesh = d.make_mesh((8,), ("i",), (d.AxisType.Explicit,))
    xh = rnd(16)
    x = backends.device_put(xh, d.NamedSharding(emesh, P("i")))
    assert str(d.typeof(x)) == "f32[16@i]"
    g = shard_map(lambda x: d.sin(x) * 2, mesh=emesh, in_specs=P("i"), out_specs=P("i"))
    s = shard_map(lambda x: d.psum(x.sum(), "i"), mesh=emesh, in_specs=P("i"), out_specs=P())
    for fn in (g, jit(g)):
        y = fn(x)
        assert str(d.typeof(y)) == "f32[16@i]"
        np.testing.assert_allclose(np.asarray(y), np.sin(xh) * 2, rtol=1e-6)
    for fn in (s, jit(s)):
        y = fn(x)
        assert str(d.typeof(y)) == "f32[]"
        np.testing.assert_allclose(np.asarray(y), xh.sum(), rtol=1e-5)
    for gr in (grad(lambda v: d.sum(g(v))), jit(grad(lambda v: d.sum(g(v))))):
        np.testing.assert_allclose(np.asarray(gr(x)), 2 * np.cos(xh), rtol=1e-5)


def test_current_mesh_is_the_default() -> None:
    x = rnd(16)
    with d.set_mesh(MESH1):
        f = shard_map(lambda x: d.psum(x.sum(), "i"), in_specs=P("i"), out_specs=P())
        np.testing.assert_allclose(np.asarray(f(x)), x.sum(), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(jit(f)(x)), x.sum(), rtol=1e-5)


def test_prints_and_parses_back() -> None:
    f = shard_map(lambda x, y: (d.psum(x.sum(0), "a"), x * y), mesh=MESH2,
                  in_specs=(P("a", "b"), P("a", "b")), out_specs=(P("b"), P("a", "b")))
    program = d.stage(f)(rnd(4, 8), rnd(4, 8))
    text = str(program)
    assert "shard_map[" in text and "psum[axes=(a,)" in text
    again = d.parse(text)
    assert again == program
    d.typecheck(again)


def test_nested_pytrees_and_spec_prefixes() -> None:
    def body(p: dict[str, Any], x: Any) -> Any:
        return {"s": d.psum(d.sum(x * p["w"]), "i"), "y": x + p["b"]}

    f = shard_map(body, mesh=MESH1, in_specs=({"w": P(), "b": P()}, P("i")),
                  out_specs={"s": P(), "y": P("i")})
    p = {"w": rnd(3), "b": rnd(3)}
    x = rnd(8, 3)
    out = f(p, x)
    np.testing.assert_allclose(np.asarray(out["s"]), (x * p["w"]).sum(), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out["y"]), x + p["b"], rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Bad input


def test_bad_specs_raise_sharding_errors() -> None:
    x = rnd(12)
    with pytest.raises(ShardingError, match=r"dimension 0 of size 12.*not divisible by 8"):
        shard_map(lambda x: x, mesh=MESH1, in_specs=P("i"), out_specs=P("i"))(x)
    with pytest.raises(ShardingError, match=r"axis 'j' of P\('j'\) is not in the mesh"):
        shard_map(lambda x: x, mesh=MESH1, in_specs=P("j"), out_specs=P("j"))(rnd(16))
    with pytest.raises(ShardingError, match=r"2 entries for an array of rank 1"):
        shard_map(lambda x: x, mesh=MESH1, in_specs=P("i", None), out_specs=P("i"))(rnd(16))
    with pytest.raises(ShardingError, match=r"in_specs .* does not match the structure"):
        shard_map(lambda x, y: x, mesh=MESH1, in_specs=(P("i"),), out_specs=P("i"))(
            rnd(16), rnd(16))
    with pytest.raises(ShardingError, match=r"out_specs .* 2 entries for a value of rank 1"):
        shard_map(lambda x: x, mesh=MESH1, in_specs=P("i"), out_specs=P("i", None))(rnd(16))
    with pytest.raises(ShardingError, match=r"axis 'z'.* is not in the mesh"):
        shard_map(lambda x: x, mesh=MESH1, in_specs=P("i"), out_specs=P("z"))(rnd(16))
    with pytest.raises(ShardingError, match=r"entries must be P\(\.\.\.\)"):
        shard_map(lambda x: x, mesh=MESH1, in_specs=("i",), out_specs=P("i"))(rnd(16))
    with pytest.raises(ShardingError, match=r"uses a mesh axis twice"):
        shard_map(lambda x: x, mesh=MESH2, in_specs=P("a", "a"), out_specs=P())(rnd(4, 4))


def test_missing_mesh_and_unbound_axis() -> None:
    with pytest.raises(ShardingError, match="no mesh"):
        shard_map(lambda x: x, in_specs=P(), out_specs=P())(rnd(3))
    with pytest.raises(ValueError, match=r"unbound axis name 'j'"):
        shard_map(lambda x: d.psum(x, "j"), mesh=MESH1, in_specs=P("i"), out_specs=P())(
            rnd(16))


# ----------------------------------------------------------------------------------------------
# The law


def test_shard_map_law_over_random_programs() -> None:
    rng = np.random.default_rng(20240611)
    meshes = [MESH1, MESH2]
    n = 0
    for k in range(120):
        laws.check_shard_map(rng, meshes[k % 2], compiled=(k % 4 == 0))
        n += 1
    assert n >= 100
