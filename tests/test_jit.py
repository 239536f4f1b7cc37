"""`jit`, its cache, static arguments, AOT compilation, and the backends' device storage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backends
import dsl as d
from interpreters import evaluate
from interpreters.jit import jit


def test_jit_matches_numpy_and_returns_device_arrays() -> None:
    f = jit(lambda x, y: d.sin(x) * y + x)
    x = np.linspace(-1, 1, 7).astype(np.float32)
    out = f(x, 2.0)
    assert isinstance(out, d.Array) and out.is_device_backed
    assert out.dtype == np.float32 and out.shape == (7,)
    np.testing.assert_allclose(np.asarray(out), np.sin(x) * 2 + x, rtol=1e-6)


def test_results_feed_back_without_host_copies() -> None:
    f = jit(lambda x: x * 2.0)
    a = f(d.ones(4))
    b = f(a)
    assert a._host is None  # never fetched to the host: the device buffer went straight in
    np.testing.assert_array_equal(np.asarray(b), np.full(4, 4.0, np.float32))


def test_cache_stages_once_per_signature() -> None:
    calls = []

    def f(x: Any) -> Any:
        calls.append(1)
        return x + 1

    g = jit(f)
    g(d.ones(3))
    g(d.ones(3) * 5)
    assert len(calls) == 1
    g(d.ones(4))
    assert len(calls) == 2
    g(np.ones(3, np.float64))  # an explicit float64 is a new signature, never truncated
    assert len(calls) == 3
    assert g(np.ones(3, np.float64)).dtype == np.float64


def test_weak_scalars_keep_the_array_dtype() -> None:
    f = jit(lambda x, s: x * s)
    out = f(d.ones(2, dtype=d.bfloat16), 3.0)
    assert out.dtype == d.bfloat16
    np.testing.assert_array_equal(np.asarray(out, np.float32), [3.0, 3.0])


def test_static_arguments() -> None:
    def f(x: Any, n: int, *, mode: str = "add") -> Any:
        for _ in range(n):  # Python control flow on a static value
            x = x + 1 if mode == "add" else x * 2
        return x

    g = jit(f, static_argnums=1, static_argnames="mode")
    np.testing.assert_array_equal(np.asarray(g(d.zeros(2), 3)), [3.0, 3.0])
    np.testing.assert_array_equal(np.asarray(g(d.ones(2), 3, mode="mul")), [8.0, 8.0])
    with pytest.raises(TypeError, match="hashable"):
        jit(lambda x, s: x, static_argnums=1)(d.ones(2), [1, 2])


def test_python_control_flow_on_traced_values_is_a_concretization_error() -> None:
    def f(x: Any) -> Any:
        if x > 0:
            return x
        return -x

    with pytest.raises(d.ConcretizationError, match="test_jit.py"):
        jit(f)(1.0)


def test_nested_jit_inlines() -> None:
    inner = jit(lambda x: x * 3.0)
    outer = jit(lambda x: inner(x) + 1.0)
    prog = d.stage(lambda x: inner(x) + 1.0)(d.ones(2))
    assert [e.op.name for e in prog.eqns] == ["mul", "add"]
    np.testing.assert_array_equal(np.asarray(outer(d.ones(2))), [4.0, 4.0])


def test_pytrees_in_and_out() -> None:
    f = jit(lambda p: {"sum": p["a"] + p["b"], "pair": (p["a"], p["b"] * 2)})
    out = f({"a": d.ones(2), "b": d.arange(2.0)})
    np.testing.assert_array_equal(np.asarray(out["sum"]), [1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(out["pair"][1]), [0.0, 2.0])


def test_aot_lower_compile_and_typed_dispatch() -> None:
    f = jit(lambda x, y: d.dot(x, y))
    lowered = f.lower(d.ones((2, 3)), d.ones(3))
    text = lowered.as_text()
    assert "func.func public @main" in text and "stablehlo.dot_general" in text
    compiled = lowered.compile()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(np.asarray(compiled(x, np.ones(3, np.float32))), x.sum(1))
    assert compiled.cost_analysis()["flops"] > 0
    assert compiled.memory_analysis() is not None
    with pytest.raises(d.ShapeError, match=r"f32\[4\]"):
        compiled(x, np.ones(4, np.float32))
    with pytest.raises(d.DTypeError, match=r"i32\[3\]"):  # same width, never reinterpreted
        compiled(x, np.ones(3, np.int32))


def test_lower_accepts_types() -> None:
    lowered = jit(lambda x: x + 1).lower(d.TensorType((5,), np.int32))
    assert "tensor<5xi32>" in lowered.as_text()


def test_donation_gives_correct_results() -> None:
    f = jit(lambda x: x * x + x * 2.0, donate_argnums=0)
    x = backends.device_put(d.arange(4.0))
    np.testing.assert_array_equal(np.asarray(f(x)), np.arange(4.0) ** 2 + 2 * np.arange(4.0))


def test_jit_equals_evaluate_on_combinators() -> None:
    def f(xs: Any) -> Any:
        c, ys = d.scan(lambda c, x: (c + x, c * x), 0.0, xs)
        return d.cond(c > 3, lambda: ys.sum(), lambda: -ys.sum()), d.while_loop(
            lambda v: v < 100.0, lambda v: v * 2, c, max_iters=20)

    xs = np.arange(5, dtype=np.float32)
    for a, b in zip(jit(f)(xs), evaluate(f)(xs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_backends_api() -> None:
    assert backends.default_backend() == "cpu"
    devs = backends.devices()
    assert devs and devs[0].platform == "cpu"
    a = backends.device_put(np.arange(3, dtype=np.int16))
    assert a.is_device_backed and a.dtype == np.int16
    np.testing.assert_array_equal(np.asarray(a), [0, 1, 2])
    assert a.block_until_ready() is a
    assert "Array([0, 1, 2], dtype=int16)" == repr(a)


def test_missing_plugin_names_the_extra() -> None:
    with pytest.raises(backends.BackendUnavailable, match=r"combinax\[cuda12\]"):
        backends.client("cuda")
    with pytest.raises(ValueError, match="unknown platform"):
        backends.configure(platform="quantum")


def test_export_then_load_gives_the_same_results(tmp_path: Any) -> None:
    from interpreters.export import export, load

    def f(x: Any, y: Any) -> Any:
        return {"erfinv": d.erfinv(x) if hasattr(d, "erfinv") else d.tanh(x), "sum": x + y}

    x = np.linspace(-0.9, 0.9, 5).astype(np.float32)
    y = np.arange(5, dtype=np.int32).astype(np.float32)
    exp = export(f, d.TensorType((5,), np.float32), d.TensorType((5,), np.float32))
    path = tmp_path / "f.cbx"
    exp.save(path)
    loaded = load(path)
    assert loaded.in_types == exp.in_types and loaded.out_types == exp.out_types
    got, want = loaded(x, y), evaluate(f)(x, y)
    for k in ("erfinv", "sum"):
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-5)
    assert load(exp.serialize())(x, y)["sum"].shape == (5,)
    with pytest.raises(d.ShapeError):
        loaded(np.ones(4, np.float32), y)
    with pytest.raises(ValueError, match="not a combinax export"):
        load(b"garbage")
    assert b"pickle" not in path.read_bytes()[:64]


def test_dlpack_round_trips() -> None:
    a = jit(lambda v: v * 2)(d.arange(4.0))
    np.testing.assert_array_equal(np.from_dlpack(a), [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_array_equal(np.from_dlpack(d.arange(3)), [0, 1, 2])
    b = backends.from_dlpack(np.arange(5, dtype=np.int16))
    assert b.dtype == np.int16 and np.asarray(b).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="__dlpack__"):
        backends.from_dlpack([1, 2])


def test_cpu_device_count_from_xla_flags() -> None:
    import subprocess
    import sys

    code = ("import backends; print(len(backends.devices()))")
    env = {**__import__("os").environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "4"
    code = ("import backends; backends.configure(cpu_devices=3); print(len(backends.devices()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "3"


def test_plugin_discovery_finds_an_installed_library(tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from backends import plugins

    pkg = tmp_path / "jax_plugins" / "xla_cuda12"
    pkg.mkdir(parents=True)
    (tmp_path / "jax_plugins" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("raise ImportError('must not be imported')")
    (pkg / "xla_cuda_plugin.so").write_bytes(b"")
    import sys

    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "jax_plugins" or m.startswith("jax_plugins.")]:
        monkeypatch.delitem(sys.modules, name)
    try:
        assert plugins.find("cuda") == str(pkg / "xla_cuda_plugin.so")
        assert plugins.find("tpu") is None
    finally:  # forget the fake namespace package, or later lookups would still find it
        for name in [m for m in sys.modules if m == "jax_plugins" or m.startswith("jax_plugins.")]:
            sys.modules.pop(name, None)
