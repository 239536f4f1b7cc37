"""Sharded arrays and SPMD compilation: `backends.device_put` onto meshes, the views of sharded
storage (`.sharding`, `.addressable_shards`, host copies), `jit` of sharded arguments (results
read back sharded, fed back without copies, donation), and the errors of bad placements.

Oracles: NumPy slices and arithmetic; `jax`'s own `NamedSharding.devices_indices_map` for which
piece each device holds (jax's devices and ours share ids). The session has 8 CPU devices
(tests/conftest.py).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import pytest

import backends
import dsl as d
from dsl.errors import ArgumentValueError, ShardingError
from dsl.sharding import AxisType, NamedSharding, P, get_mesh, make_mesh, set_mesh
from interpreters import grad, jit

MESH_1D = make_mesh((8,), ("data",))
MESH_2D = make_mesh((2, 4), ("x", "y"))

SPECS_1D = [P(), P("data"), P(None, "data"), P("data", None)]
SPECS_2D = [P(), P("x"), P("y"), P("x", "y"), P("y", "x"), P(("x", "y")), P(None, ("y", "x")),
            P(None, "y"), P(("y", "x"), None)]


def _jax_indices(mesh: Any, spec: P, shape: tuple[int, ...]) -> dict[int, tuple[slice, ...]]:
    """Which slice each device id holds, according to jax (the oracle)."""
    by_id = {dev.id: dev for dev in jax.devices()}
    grid = np.vectorize(lambda dev: by_id[dev.id], otypes=[object])(mesh.devices)
    jmesh = jax.sharding.Mesh(grid, mesh.axis_names)
    jspec = jax.sharding.PartitionSpec(*spec)
    m = jax.sharding.NamedSharding(jmesh, jspec).devices_indices_map(shape)
    return {dev.id: idx for dev, idx in m.items()}


def _check_placed(a: Any, x: np.ndarray, mesh: Any, spec: P) -> None:
    assert a.sharding == NamedSharding(mesh, spec)
    np.testing.assert_array_equal(np.asarray(a), x)
    shards = a.addressable_shards
    assert [s.device for s in shards] == mesh.device_list
    expected = _jax_indices(mesh, spec, x.shape)
    for s in shards:
        # the same piece as jax places on that device, holding the same numbers as NumPy's
        np.testing.assert_array_equal(x[s.index], x[expected[s.device.id]])
        np.testing.assert_array_equal(np.asarray(s.data), x[s.index])
        assert s.data.sharding.device == s.device
    sizes = mesh.shape
    want = tuple(n // int(np.prod([sizes[ax] for ax in axes]))
                 for n, axes in zip(x.shape, spec.padded(x.ndim)))
    assert {s.data.shape for s in shards} == {want}


@pytest.mark.parametrize("spec", SPECS_1D, ids=repr)
def test_device_put_1d_mesh(spec: P) -> None:
    x = np.arange(16 * 8, dtype=np.float32).reshape(16, 8)
    a = backends.device_put(x, NamedSharding(MESH_1D, spec))
    _check_placed(a, x, MESH_1D, spec)


@pytest.mark.parametrize("spec", SPECS_2D, ids=repr)
def test_device_put_2d_mesh(spec: P) -> None:
    x = np.arange(8 * 16, dtype=np.int32).reshape(8, 16) * 3 - 7
    a = backends.device_put(x, NamedSharding(MESH_2D, spec))
    _check_placed(a, x, MESH_2D, spec)
    assert a.dtype == np.int32 and a.type == d.typeof(x)  # Auto axes: a plain type


def test_device_put_bare_spec_uses_current_mesh_and_pytrees() -> None:
    x = np.linspace(0, 1, 16, dtype=np.float32)
    with set_mesh(MESH_1D):
        a = backends.device_put(x, P("data"))
    assert a.sharding == NamedSharding(MESH_1D, P("data"))
    tree = {"w": np.ones((8, 4), np.float32), "b": np.zeros(8, np.float32)}
    one = backends.device_put(tree, NamedSharding(MESH_1D, P("data")))
    assert one["w"].sharding.spec == P("data") and one["b"].sharding.spec == P("data")
    each = backends.device_put(tree, {"w": NamedSharding(MESH_2D, P("x", "y")),
                                      "b": NamedSharding(MESH_1D, P())})
    assert each["w"].sharding == NamedSharding(MESH_2D, P("x", "y"))
    assert each["b"].sharding == NamedSharding(MESH_1D, P())
    np.testing.assert_array_equal(np.asarray(each["w"]), tree["w"])
    # back to one device: gathered
    single = backends.device_put(a, backends.devices()[3])
    assert single.sharding.device == backends.devices()[3]
    assert repr(single.sharding) == f"SingleDeviceSharding(device={backends.devices()[3]})"
    np.testing.assert_array_equal(np.asarray(single), x)


def test_printing_and_block_until_ready() -> None:
    x = np.arange(16, dtype=np.float32).reshape(8, 2) / 4
    a = backends.device_put(x, NamedSharding(MESH_1D, P("data")))
    assert a.block_until_ready() is a
    assert str(a) == str(x)
    assert repr(a) == repr(x).replace("array(", "Array(").replace("dtype=float32", "dtype=float32")


def test_eager_ops_on_sharded_arrays() -> None:
    x = np.arange(48, dtype=np.float32).reshape(16, 3) - 20
    a = _sharded(x, MESH_1D, P("data"))
    np.testing.assert_array_equal(np.asarray(d.abs(a) + a * 2), np.abs(x) + x * 2)
    np.testing.assert_array_equal(np.asarray(a[3:7, 1]), x[3:7, 1])
    np.testing.assert_allclose(np.asarray(a.sum(axis=0)), x.sum(axis=0))
    assert str(d.typeof(a + 1)) == "f32[16,3]"  # Auto axes: plain types


def test_explicit_axes_are_in_the_type() -> None:
    mesh = make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))
    w = np.arange(16 * 4, dtype=np.float32).reshape(16, 4)
    W = backends.device_put(w, NamedSharding(mesh, P("data")))
    assert str(d.typeof(W)) == "f32[16@data,4]"
    auto = backends.device_put(w, NamedSharding(MESH_1D, P("data")))
    assert str(d.typeof(auto)) == "f32[16,4]"
    # eager ops on explicit arrays: the numbers of NumPy, the type of the type rules
    def f(v: Any) -> Any:
        return v * 2.0 + 1.0

    want = d.stage(f)(d.typeof(W)).out_types[0]
    V = f(W)
    assert d.typeof(V) == want
    np.testing.assert_allclose(np.asarray(V), w * 2 + 1)
    np.testing.assert_allclose(float(d.sum(W)), w.sum())
    # jit gives results the layout of their types
    out = jit(lambda v: d.sin(v) * v)(W)
    assert d.typeof(out) == d.stage(lambda v: d.sin(v) * v)(d.typeof(W)).out_types[0]
    np.testing.assert_allclose(np.asarray(out), np.sin(w) * w, rtol=1e-6)


def test_explicit_types_follow_the_type_rules() -> None:
    mesh = make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))
    with set_mesh(mesh):
        staged = d.stage(lambda v: v * 2.0)(d.TensorType((16, 4), np.float32, False,
                                                         (("data",), ())))
    if staged.out_types[0].sharding is None:
        pytest.skip("the type rules do not derive Explicit shardings (dsl.sharding_rules)")
    w = np.arange(16 * 4, dtype=np.float32).reshape(16, 4)
    W = backends.device_put(w, NamedSharding(mesh, P("data")))
    V = W * 2.0 + 1.0  # elementwise keeps the operand's sharding
    assert str(d.typeof(V)) == "f32[16@data,4]"
    assert V.sharding == NamedSharding(mesh, P("data"))
    out = jit(lambda v: d.sin(v) * v)(W)
    assert str(d.typeof(out)) == "f32[16@data,4]"
    assert out.sharding == NamedSharding(mesh, P("data"))


def _sharded(x: np.ndarray, mesh: Any, spec: P) -> Any:
    return backends.device_put(x, NamedSharding(mesh, spec))


def test_jit_elementwise_matmul_reductions_1d() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8)).astype(np.float32)
    w = rng.normal(size=(8, 4)).astype(np.float32)
    xs = _sharded(x, MESH_1D, P("data"))
    ws = _sharded(w, MESH_1D, P())

    double = jit(lambda v: v * 2)
    y = double(xs)
    np.testing.assert_array_equal(np.asarray(y), x * 2)
    assert y.sharding == NamedSharding(MESH_1D, P("data"))  # read back from the executable

    mm = jit(lambda a, b: d.tanh(a @ b))
    out = mm(xs, ws)
    np.testing.assert_allclose(np.asarray(out), np.tanh(x @ w), rtol=1e-5, atol=1e-6)
    assert out.sharding.mesh == MESH_1D and out.sharding.spec == P("data")

    red = jit(lambda a: (a.sum(), a.max(axis=0), a.mean(axis=1)))
    total, col_max, row_mean = red(xs)
    np.testing.assert_allclose(float(total), x.sum(), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(col_max), x.max(axis=0))
    np.testing.assert_allclose(np.asarray(row_mean), x.mean(axis=1), rtol=1e-5, atol=1e-6)


def test_jit_2d_mesh_matmul() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 16)).astype(np.float32)
    w = rng.normal(size=(16, 12)).astype(np.float32)
    xs = _sharded(x, MESH_2D, P("x", "y"))
    ws = _sharded(w, MESH_2D, P("y", None))
    out = jit(lambda a, b: a @ b + 1.0)(xs, ws)
    np.testing.assert_allclose(np.asarray(out), x @ w + 1, rtol=1e-5, atol=1e-5)
    assert out.sharding.mesh == MESH_2D


def test_results_feed_back_without_host_copies() -> None:
    x = np.arange(64, dtype=np.float32).reshape(16, 4)
    xs = _sharded(x, MESH_1D, P("data"))
    step = jit(lambda v: v * 0.5 + 1.0)
    y = xs
    for _ in range(3):
        y = step(y)
        assert y._host is None  # never gathered to host between calls
    assert len(step._direct) == 1  # one entry, dispatched straight on device buffers
    want = x
    for _ in range(3):
        want = want * 0.5 + 1.0
    np.testing.assert_allclose(np.asarray(y), want)


def test_unsharded_arguments_are_replicated() -> None:
    x = np.arange(32, dtype=np.float32).reshape(8, 4)
    xs = _sharded(x, MESH_1D, P("data"))
    host = np.full((8, 4), 2.0, np.float32)
    one_device = backends.device_put(np.ones(4, np.float32), backends.devices()[5])
    f = jit(lambda a, b, c, s: a * b + c * s)
    out = f(xs, host, one_device, 3.0)
    np.testing.assert_array_equal(np.asarray(out), x * 2 + 3)
    assert out.sharding.mesh == MESH_1D
    lowered = f.lower(xs, host, one_device, 3.0).as_text()
    assert "mhlo.num_partitions = 8" in lowered
    assert 'mhlo.sharding = "{devices=[8,1]<=[8]}"' in lowered
    assert lowered.count('mhlo.sharding = "{replicated}"') >= 3


def test_donation_of_sharded_arguments() -> None:
    x = np.arange(32, dtype=np.float32).reshape(8, 4)
    xs = _sharded(x, MESH_1D, P("data"))
    f = jit(lambda v: v * v + v * 2.0, donate_argnums=0)
    out = f(xs)
    np.testing.assert_array_equal(np.asarray(out), x * x + x * 2)
    assert xs._buffer.is_deleted()  # its memory went to the result
    # using a donated array again is an error, not a crash of the multi-device runtime
    with pytest.raises(ArgumentValueError, match=r"donated"):
        f(xs)
    with pytest.raises(ArgumentValueError, match=r"donated"):
        np.asarray(xs)
    again = f(out)
    np.testing.assert_array_equal(np.asarray(again), (x * x + x * 2) ** 2 + (x * x + x * 2) * 2)


def test_sharded_gradient_step_matches_numpy() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 8)).astype(np.float32)
    w = rng.normal(size=(8,)).astype(np.float32)

    def loss(wv: Any, xv: Any) -> Any:
        return d.sum((xv @ wv) ** 2)

    g = jit(grad(loss))(_sharded(w, MESH_1D, P()), _sharded(x, MESH_1D, P("data")))
    np.testing.assert_allclose(np.asarray(g), 2 * x.T @ (x @ w), rtol=1e-4, atol=1e-4)


def test_bad_placements_are_sharding_errors() -> None:
    x = np.zeros((8, 6), np.float32)
    with pytest.raises(ShardingError, match=r"P\('data', None, None\).*rank 2.*Mesh\(data=8\)|"
                                            r"Mesh\(data=8\).*P\('data', None, None\).*rank 2"):
        backends.device_put(x, NamedSharding(MESH_1D, P("data", None, None)))
    with pytest.raises(ShardingError, match=r"'model'.*not in the mesh"):
        backends.device_put(x, NamedSharding(MESH_1D, P("model")))
    with pytest.raises(ShardingError, match=r"size 6.*\(8, 6\).*not divisible by 8"):
        backends.device_put(x, NamedSharding(MESH_1D, P(None, "data")))
    assert get_mesh() is None
    with pytest.raises(ShardingError, match=r"needs a current mesh"):
        backends.device_put(x, P("data"))
    with pytest.raises(ShardingError, match=r"needs 16 devices, but only 8"):
        make_mesh((16,), ("data",))


def test_mismatched_meshes_at_dispatch_are_errors() -> None:
    x = np.ones((8, 4), np.float32)
    a = _sharded(x, MESH_1D, P("data"))
    b = _sharded(x, MESH_2D, P("x"))
    f = jit(lambda p, q: p + q)
    with pytest.raises(ShardingError, match=r"Mesh\(data=8\).*Mesh\(x=2, y=4\)"):
        f(a, b)
    # a program compiled for one layout refuses arrays laid out otherwise
    compiled = jit(lambda p: p * 2).lower(a).compile()
    with pytest.raises(ShardingError, match=r"over Mesh\(x=2, y=4\).*compiled for Mesh\(data=8\)"):
        compiled(b)
    with pytest.raises(ShardingError, match=r"laid out as .*P\(\).*compiled for"):
        compiled(_sharded(x, MESH_1D, P()))
    np.testing.assert_array_equal(np.asarray(compiled(a)), x * 2)
    np.testing.assert_array_equal(np.asarray(compiled(x)), x * 2)  # host values are placed
