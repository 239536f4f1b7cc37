"""Explicit shardings in types, the laws: gradients and vmap keep and transform shardings, and
sharding never changes values (evaluate, XLA on one device, and `jit` over 8 CPU devices, whose
partitioner follows the types' annotations).

The rules themselves are tested in `test_sharding_types.py`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import backends
import dsl as d
from dsl import P
from dsl import ops as O
from dsl.ir import Program
from dsl.typecheck import typecheck
from dsl.types import TensorType
from interpreters import grad, jit, vmap
from interpreters.evaluate import eval_program
from interpreters.lower import lower_program, run_on_cpu

E = d.AxisType.Explicit
MESH2 = d.make_mesh((2, 4), ("data", "model"), axis_types=(E, E))
F32 = np.float32
XDM = TensorType((8, 4), F32, False, (("data",), ("model",)))


def T(shape: tuple[int, ...], *spec: Any, dtype: Any = F32) -> TensorType:
    """A type of `shape` split as `P(*spec)` (unsharded when `spec` is empty)."""
    s = P(*spec).padded(len(shape)) if spec else None
    return TensorType(shape, dtype, False, s if s and any(s) else None)


def stage(fn: Any, *types: TensorType) -> Program:
    with d.set_mesh(MESH2):
        p = d.stage(fn)(*types)
        typecheck(p)
    return p


# ----------------------------------------------------------------------------------------------
# Gradients and vmap


def _mlp_loss(x: Any, w1: Any, w2: Any) -> Any:
    h = d.tanh(x @ w1)
    return d.sum((h @ w2) ** 2) / 8.0


def _jax_mlp_loss(x: Any, w1: Any, w2: Any) -> Any:
    h = jnp.tanh(x @ w1)
    return jnp.sum((h @ w2) ** 2) / 8.0


LAYOUTS = [
    ("data parallel", T((8, 4), "data"), T((4, 16)), T((16, 2))),
    ("tensor parallel", T((8, 4), "data"), T((4, 16), None, "model"), T((16, 2), "model")),
    ("fsdp", T((8, 4), "data"), T((4, 16), "data"), T((16, 2), "data")),
    ("2-D", T((8, 4), "data", "model"), T((4, 16), "model"), T((16, 2), None)),
]


@pytest.mark.parametrize("name,tx,t1,t2", LAYOUTS, ids=[a[0] for a in LAYOUTS])
def test_gradients_have_the_primal_shardings_and_values(name: str, tx: TensorType,
                                                        t1: TensorType, t2: TensorType) -> None:
    with d.set_mesh(MESH2):
        p = d.stage(grad(_mlp_loss, argnums=(0, 1, 2)))(tx, t1, t2)
        typecheck(p)
        assert list(p.out_types) == [tx, t1, t2]
        rng = np.random.default_rng(0)
        args = [rng.standard_normal(t.shape).astype(F32) for t in (tx, t1, t2)]
        ours = run_on_cpu(p, args)
        ref = eval_program(p, args)
    theirs = jax.grad(_jax_mlp_loss, argnums=(0, 1, 2))(*args)
    for a, b, c in zip(ours, ref, theirs):
        np.testing.assert_allclose(a, np.asarray(c), rtol=2e-5, atol=1e-5)
        np.testing.assert_allclose(b, np.asarray(c), rtol=2e-5, atol=1e-5)


def test_gradient_through_reductions_broadcasts_and_scan() -> None:
    def f(x: Any, b: Any) -> Any:
        y = x + b  # b: replicated row, broadcast
        c, ys = d.scan(lambda c, r: (c + r, c * r), d.zeros(4), d.reshard(y, P()))
        return d.sum(c) + d.mean(d.max(y, axis=1)) + d.sum(ys)

    with d.set_mesh(MESH2):
        p = d.stage(grad(f, argnums=(0, 1)))(XDM, T((4,), "model"))
        typecheck(p)
    assert [str(t) for t in p.out_types] == ["f32[8@data,4@model]", "f32[4@model]"]


def test_vmap_inserts_a_replicated_batch_dimension() -> None:
    def per_example(x: Any, w: Any) -> Any:
        return d.tanh(x @ w)

    p = stage(vmap(per_example, in_axes=(0, None)), T((3, 8, 4), None, "data"),
              T((4, 16), None, "model"))
    assert str(p.out_types[0]) == "f32[3,8@data,16@model]"
    p = stage(vmap(per_example, in_axes=(None, 0), out_axes=1), T((8, 4), "data"),
              T((5, 4, 16), None, None, "model"))
    assert str(p.out_types[0]) == "f32[8@data,5,16@model]"
    # per-example gradients keep the weights' sharding with a replicated batch dimension
    p = stage(vmap(grad(lambda w, x: d.sum(per_example(x, w))), in_axes=(None, 0)),
              T((4, 16), None, "model"), T((3, 8, 4), None, "data"))
    assert str(p.out_types[0]) == "f32[3,4,16@model]"


def test_vmap_of_combinators_keeps_the_shardings() -> None:
    def f(c: Any, xs: Any) -> Any:
        c2, ys = d.scan(lambda c, x: (c * x, c + x), c, xs)
        return d.while_loop(lambda c: d.sum(c) < 0.0, lambda c: c * 2.0, c2), ys

    p = stage(vmap(f), T((3, 4), None, "model"), T((3, 8, 4), None, None, "model"))
    assert [str(t) for t in p.out_types] == ["f32[3,4@model]", "f32[3,8,4@model]"]
    for e in p.walk():
        if isinstance(e.op, (O.Scan, O.WhileLoop)):
            assert all(t.sharding == ((), ("model",)) for t in e.op.body.in_types)
    p = stage(vmap(lambda x: d.map(lambda r: r * 2.0, x), in_axes=1),
              T((8, 3, 4), "data", None, "model"))
    assert str(p.out_types[0]) == "f32[3,8@data,4@model]"


# ----------------------------------------------------------------------------------------------
# Lowering: the types become constraints XLA follows; values never change


def test_lowering_annotates_sharded_results_and_values_equal_the_unsharded_program() -> None:
    def f(x: Any, w: Any, v: Any, sharded: bool = True) -> Any:
        h = d.tanh(x @ w) + 1.0
        z = d.reshard(h, P("data", None)) if sharded else h
        return d.sum(z, axis=1), d.cumsum(z, axis=1) @ v

    types = (T((8, 4), "data"), T((4, 16), None, "model"), T((16, 2)))
    p = stage(f, *types)
    plain = d.stage(lambda *a: f(*a, sharded=False))(*(T(t.shape) for t in types))
    assert all(t.sharding is None for e in plain.eqns for t in (v.type for v in e.outputs))
    with d.set_mesh(MESH2):
        text = lower_program(p, debug=True)
        assert text.count('call_target_name = "Sharding"') == sum(
            1 for e in p.eqns for v in e.outputs if v.type.sharding is not None
            and not isinstance(e.op, O.ShardingConstraint)) + 1
        assert 'mhlo.sharding = "{devices=[2,4]<=[8]}"' in text  # f32[8@data,16@model]
        assert 'mhlo.sharding = "{devices=[2,1,4]<=[8] last_tile_dim_replicate}"' in text
        rng = np.random.default_rng(1)
        args = [rng.standard_normal(t.shape).astype(F32) for t in types]
        ours = run_on_cpu(p, args)
    assert "custom_call" not in lower_program(plain)
    for a, b, c in zip(ours, run_on_cpu(plain, args), eval_program(p, args)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)


def test_xla_partitions_along_the_types() -> None:
    """Compiled for 8 partitions, the per-device shapes are the types' shards."""
    from jaxlib import xla_client as xc

    types = (T((8, 4), "data"), T((4, 16), None, "model"))
    p = stage(lambda x, w: d.tanh(x @ w), *types)
    with d.set_mesh(MESH2):
        from dsl.sharding import hlo_sharding

        attrs_ = [f'{{mhlo.sharding = "{hlo_sharding(t.sharding, MESH2)}"}}' for t in types]
        text = lower_program(p, num_partitions=8, arg_attrs=attrs_, debug=True)
    client = backends.xla.cpu_client()
    opts = xc.CompileOptions()
    opts.num_partitions = 8
    opts.executable_build_options.use_spmd_partitioning = True
    opts.executable_build_options.use_shardy_partitioner = False
    opts.device_assignment = xc.DeviceAssignment.create(np.arange(8).reshape(1, 8))
    exe = client.compile_and_load(text, xc.DeviceList(tuple(client.devices()[:8])), opts)
    hlo = exe.hlo_modules()[0].to_string()
    assert "f32[4,4]" in hlo  # one device's tanh(x @ w): 8/2 rows, 16/4 columns


def test_unsharded_programs_take_no_sharding_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import dsl.sharding_rules as SR

    calls: list[Any] = []
    real = SR.infer_sharded
    monkeypatch.setattr(SR, "infer_sharded", lambda *a: calls.append(a) or real(*a))
    with d.set_mesh(MESH2):
        p = d.stage(grad(_mlp_loss, argnums=(0, 1, 2)))(T((8, 5)), T((5, 7)), T((7, 2)))
        assert "custom_call" not in lower_program(p)
    assert calls == [] and "@" not in str(p)


# ----------------------------------------------------------------------------------------------
# jit over 8 devices: arrays placed with Explicit specs run SPMD, their results typed by the rules


def _put(value: np.ndarray, *spec: Any) -> Any:
    return backends.device_put(value, P(*spec))


def test_jit_results_have_the_rule_types_and_the_unsharded_values() -> None:
    rng = np.random.default_rng(2)
    xv = rng.standard_normal((8, 4)).astype(F32)
    w1v = rng.standard_normal((4, 16)).astype(F32)
    w2v = rng.standard_normal((16, 2)).astype(F32)

    def f(x: Any, w1: Any, w2: Any, sharded: bool = True) -> Any:
        h = d.tanh(x @ w1)
        return h, d.reshard(h, P(None, "data")) if sharded else h, d.sum(h @ w2, axis=0)

    plain = jit(lambda *a: f(*a, sharded=False))(xv, w1v, w2v)
    with d.set_mesh(MESH2):
        args = (_put(xv, "data"), _put(w1v, None, "model"), _put(w2v, "model"))
        assert [str(d.typeof(a)) for a in args] == ["f32[8@data,4]", "f32[4,16@model]",
                                                    "f32[16@model,2]"]
        outs = jit(f)(*args)
    assert [str(d.typeof(o)) for o in outs] == ["f32[8@data,16@model]", "f32[8,16@data]",
                                                "f32[2]"]
    assert outs[1].sharding.spec == P(None, "data")
    want = np.tanh(xv @ w1v)
    for o, p, ref in zip(outs, plain, (want, want, (want @ w2v).sum(0))):
        np.testing.assert_allclose(np.asarray(o), np.asarray(p), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(o), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,tx,t1,t2", LAYOUTS, ids=[a[0] for a in LAYOUTS])
def test_jit_of_grad_keeps_the_parameter_shardings(name: str, tx: TensorType, t1: TensorType,
                                                   t2: TensorType) -> None:
    rng = np.random.default_rng(3)
    vals = [rng.standard_normal(t.shape).astype(F32) for t in (tx, t1, t2)]
    with d.set_mesh(MESH2):
        args = [backends.device_put(v, P(*(a if a else None for a in (t.sharding or ()))))
                for v, t in zip(vals, (tx, t1, t2))]
        gs = jit(grad(_mlp_loss, argnums=(0, 1, 2)))(*args)
    assert [d.typeof(g) for g in gs] == [tx, t1, t2]
    theirs = jax.grad(_jax_mlp_loss, argnums=(0, 1, 2))(*vals)
    for g, t in zip(gs, theirs):
        np.testing.assert_allclose(np.asarray(g), np.asarray(t), rtol=2e-5, atol=1e-5)


def test_jit_refuses_an_illegal_sharding_at_build_time() -> None:
    with d.set_mesh(MESH2):
        x = _put(np.ones((8, 4), F32), "data")
        with pytest.raises(d.ShardingError, match="reshard"):
            jit(lambda x: x @ x.T)(x)
        y = jit(lambda x: x @ d.reshard(x, P()).T)(x)
    assert str(d.typeof(y)) == "f32[8@data,8]"
    np.testing.assert_allclose(np.asarray(y), np.full((8, 8), 4.0, F32))
