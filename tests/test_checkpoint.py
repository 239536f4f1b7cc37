"""`checkpoint` and its policies: gradients against the un-checkpointed ones and jax's (an MLP
layer, a scan body, nested checkpoints, higher order, vmap); what the staged backward program
recomputes under each policy (counted against the un-checkpointed program, the expectations
derived by hand from the policies' meaning); `checkpoint_name` in every interpreter; printing
and parsing; errors; compiled programs and scan temp memory against jax's."""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import checkpoint_name as jax_name
from typeguard import suppress_type_checks

import dsl as d
from dsl.errors import ShapeError
from interpreters import (checkpoint, checkpoint_policies, evaluate, grad, hessian, jit, jvp,
                          show, value_and_grad, vmap)

cp = checkpoint_policies
jcp = jax.checkpoint_policies
rng = np.random.default_rng(0)
X = rng.normal(size=(4, 3)).astype(np.float32)
W1 = rng.normal(size=(3, 5)).astype(np.float32)
W2 = rng.normal(size=(5, 2)).astype(np.float32)

# (ours, jax's): every policy, by object and (where JAX has one) by name
POLICIES: dict[str, tuple[Any, Any]] = {
    "default": (None, None),
    "nothing_saveable": (cp.nothing_saveable, jcp.nothing_saveable),
    "everything_saveable": (cp.everything_saveable, jcp.everything_saveable),
    "dots_saveable": (cp.dots_saveable, jcp.dots_saveable),
    "checkpoint_dots": (cp.checkpoint_dots, jcp.checkpoint_dots),
    "dots_with_no_batch_dims_saveable": (cp.dots_with_no_batch_dims_saveable,
                                         jcp.dots_with_no_batch_dims_saveable),
    "by name dots_saveable": ("dots_saveable", jcp.dots_saveable),
    "by name checkpoint_dots": ("checkpoint_dots", jcp.dots_saveable),
    "save_only_these_names(h1)": (cp.save_only_these_names("h1"),
                                  jcp.save_only_these_names("h1")),
    "save_only_these_names(a1)": (cp.save_only_these_names("a1"),
                                  jcp.save_only_these_names("a1")),
    "save_any_names_but_these(h1)": (cp.save_any_names_but_these("h1"),
                                     jcp.save_any_names_but_these("h1")),
    "save_anything_except_these_names(h1)": (cp.save_anything_except_these_names("h1"),
                                             jcp.save_anything_except_these_names("h1")),
}


def mlp(lib: Any, name: Callable[[Any, str], Any]) -> Callable[..., Any]:
    """Two layers with named intermediates: `sin`'s derivative needs its input (h1), `tanh`'s
    and the square's need the output."""

    def f(x: Any, w1: Any, w2: Any) -> Any:
        h = name(lib.dot(x, w1), "h1")
        a = name(lib.sin(h), "a1")
        o = lib.tanh(lib.dot(a, w2))
        return lib.sum(o * o)

    return f


F = mlp(d, d.checkpoint_name)
FJ = mlp(jnp, jax_name)


def close(got: Any, want: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    gl, wl = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(gl) == len(wl)
    for g, w in zip(gl, wl):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


def counts(program: d.Program) -> collections.Counter[str]:
    """Equations by primitive, nested bodies included (so a forward pass inside a `checkpoint`
    counts like one outside)."""
    return collections.Counter(e.op.name for e in program.walk())


# ----------------------------------------------------------------------------------------------
# gradients: un-checkpointed and jax's


@pytest.mark.parametrize("key", list(POLICIES))
def test_mlp_gradients(key: str) -> None:
    ours, theirs = POLICIES[key]
    g = grad(checkpoint(F, policy=ours), argnums=(0, 1, 2))
    plain = grad(F, argnums=(0, 1, 2))(X, W1, W2)
    want = jax.grad(jax.checkpoint(FJ, policy=theirs), argnums=(0, 1, 2))(X, W1, W2)
    close(g(X, W1, W2), plain, rtol=1e-6)
    close(g(X, W1, W2), want)
    close(jit(g)(X, W1, W2), want)
    d.typecheck(d.stage(g)(X, W1, W2))


@pytest.mark.parametrize("key", ["default", "dots_saveable", "everything_saveable",
                                 "save_only_these_names(h1)"])
def test_scan_body_with_checkpoint(key: str) -> None:
    ours, theirs = POLICIES[key]
    xs = rng.normal(size=(6, 5)).astype(np.float32)
    w = (rng.normal(size=(5, 5)) / 2).astype(np.float32)

    def rnn(lib: Any, scan: Any, remat: Any, name: Any) -> Callable[..., Any]:
        def cell(h: Any, x: Any, w: Any) -> Any:
            z = name(lib.dot(h, w), "h1")
            return lib.tanh(lib.sin(z) + x)

        step = remat(cell)

        def loss(w: Any, xs: Any) -> Any:
            def body(h: Any, x: Any) -> Any:
                h = step(h, x, w)
                return h, lib.sum(h * h)

            h, ys = scan(body, lib.zeros(5, dtype=lib.float32), xs)
            return lib.sum(ys) + lib.sum(h)

        return loss

    ours_f = rnn(d, d.scan, functools.partial(checkpoint, policy=ours), d.checkpoint_name)
    plain_f = rnn(d, d.scan, lambda c: c, d.checkpoint_name)
    jax_f = rnn(jnp, jax.lax.scan, functools.partial(jax.checkpoint, policy=theirs), jax_name)
    want = jax.grad(jax_f, argnums=(0, 1))(w, xs)
    close(grad(ours_f, argnums=(0, 1))(w, xs), grad(plain_f, argnums=(0, 1))(w, xs), rtol=1e-6)
    close(grad(ours_f, argnums=(0, 1))(w, xs), want)
    close(jit(grad(ours_f, argnums=(0, 1)))(w, xs), want)
    # the recomputation happens inside the backward loop, behind its barrier
    program = d.stage(grad(ours_f, argnums=(0, 1)))(w, xs)
    nested = [e for e in program.walk() if e.op.name == "optimization_barrier"]
    assert not any(e.op.name == "optimization_barrier" for e in program.eqns)
    assert bool(nested) == (key != "everything_saveable")


@pytest.mark.parametrize("outer,inner", [("default", "dots_saveable"),
                                         ("dots_saveable", "default"),
                                         ("everything_saveable", "default"),
                                         ("save_only_these_names(a1)", "dots_saveable")])
def test_nested_checkpoint(outer: str, inner: str) -> None:
    (oo, oj), (io, ij) = POLICIES[outer], POLICIES[inner]

    def two(lib: Any, remat: Callable[..., Any], inner_remat: Callable[..., Any],
            f: Callable[..., Any]) -> Callable[..., Any]:
        layer = inner_remat(f)

        def g(x: Any, w1: Any, w2: Any) -> Any:
            return layer(x, w1, w2) * layer(lib.sin(x), w1, w2)

        return remat(g)

    ours = two(d, functools.partial(checkpoint, policy=oo),
               functools.partial(checkpoint, policy=io), F)
    plain = two(d, lambda f: f, lambda f: f, F)
    theirs = two(jnp, functools.partial(jax.checkpoint, policy=oj),
                 functools.partial(jax.checkpoint, policy=ij), FJ)
    g = grad(ours, argnums=(0, 1, 2))
    want = jax.grad(theirs, argnums=(0, 1, 2))(X, W1, W2)
    close(g(X, W1, W2), grad(plain, argnums=(0, 1, 2))(X, W1, W2), rtol=1e-6)
    close(g(X, W1, W2), want)
    close(jit(g)(X, W1, W2), want)
    d.typecheck(d.stage(g)(X, W1, W2))


def test_higher_order_and_vmap() -> None:
    f = checkpoint(lambda x: d.sum(d.tanh(d.dot(d.sin(x), W1))), policy=cp.dots_saveable)
    fj = jax.checkpoint(lambda x: jnp.sum(jnp.tanh(jnp.dot(jnp.sin(x), W1))),
                        policy=jcp.dots_saveable)
    x = X[0]
    close(hessian(f)(x), jax.hessian(fj)(x), rtol=1e-4, atol=1e-5)
    close(grad(lambda v: d.sum(grad(f)(v)))(x),
          jax.grad(lambda v: jnp.sum(jax.grad(fj)(v)))(x), rtol=1e-4, atol=1e-5)
    close(vmap(grad(f))(X), jax.vmap(jax.grad(fj))(X))
    close(jvp(f, (x,), (np.ones(3, np.float32),))[1],
          jax.jvp(fj, (x,), (jnp.ones(3),))[1])


# ----------------------------------------------------------------------------------------------
# what the backward program recomputes

# Extra equations of the staged gradient program over the un-checkpointed one (dot_general,
# sin, tanh), derived from the policies: the backward pass reads h1 (sin's derivative), a1 (the
# second dot's), the second dot's result (tanh's) and tanh's result (the square's); with
# nothing saved it recomputes both dots, sin and tanh; dots saved leave sin and tanh; h1 saved
# leaves sin, the second dot and tanh; a1 saved leaves tanh and the second dot, and the first
# dot for sin's derivative; saving all but h1 recomputes only the dot that makes h1.
RECOMPUTED = {
    "default": (2, 1, 1),
    "nothing_saveable": (2, 1, 1),
    "dots_saveable": (0, 1, 1),
    "checkpoint_dots": (0, 1, 1),
    "by name dots_saveable": (0, 1, 1),
    "dots_with_no_batch_dims_saveable": (0, 1, 1),
    "everything_saveable": (0, 0, 0),
    "save_only_these_names(h1)": (1, 1, 1),
    "save_only_these_names(a1)": (2, 0, 1),
    "save_any_names_but_these(h1)": (2, 0, 1),
    "save_anything_except_these_names(h1)": (1, 0, 0),
}


@pytest.mark.parametrize("key", list(RECOMPUTED))
def test_what_the_backward_pass_recomputes(key: str) -> None:
    g = grad(checkpoint(F, policy=POLICIES[key][0]), argnums=(0, 1, 2))
    program = d.stage(g)(X, W1, W2)
    got, plain = counts(program), counts(d.stage(grad(F, argnums=(0, 1, 2)))(X, W1, W2))
    extra = tuple(got[p] - plain[p] for p in ("dot_general", "sin", "tanh"))
    assert extra == RECOMPUTED[key]
    barriers = [e for e in program.eqns if e.op.name == "optimization_barrier"]
    assert len(barriers) == (0 if extra == (0, 0, 0) else 1)
    if barriers:  # every recomputed equation starts from the barrier
        fenced = set(barriers[0].outputs)
        after = program.eqns[program.eqns.index(barriers[0]) + 1:]
        assert any(v in fenced for e in after for v in e.inputs)


def test_dots_saveable_keeps_the_dots_as_checkpoint_outputs() -> None:
    program = d.stage(grad(checkpoint(F, policy=cp.dots_saveable), argnums=(0, 1, 2)))(
        X, W1, W2)
    (call,) = [e for e in program.eqns if e.op.name == "checkpoint"]
    body = call.op.body
    made_by = {v: e.op.name for e in body.eqns for v in e.outputs}
    extra = body.outputs[1:]  # the saved residuals
    assert len(extra) == 2 and all(made_by[v] == "dot_general" for v in extra)
    text = str(program)
    assert "optimization_barrier" in text and text.count("tanh") == 2


def test_batch_dims_decide_dots_with_no_batch_dims() -> None:
    xb = rng.normal(size=(2, 4, 3)).astype(np.float32)
    wb = rng.normal(size=(2, 3, 5)).astype(np.float32)

    def f(x: Any, w: Any, v: Any) -> Any:  # a batched dot, then an unbatched one
        return d.sum(d.sin(d.dot(d.tanh(d.matmul(x, w)), v)))

    def fj(x: Any, w: Any, v: Any) -> Any:
        return jnp.sum(jnp.sin(jnp.dot(jnp.tanh(jnp.matmul(x, w)), v)))

    v = rng.normal(size=(5, 4)).astype(np.float32)
    plain = counts(d.stage(grad(f, argnums=(0, 1, 2)))(xb, wb, v))
    for pol, jpol, recomputed_dots in [(cp.dots_saveable, jcp.dots_saveable, 0),
                                       (cp.dots_with_no_batch_dims_saveable,
                                        jcp.dots_with_no_batch_dims_saveable, 1)]:
        g = grad(checkpoint(f, policy=pol), argnums=(0, 1, 2))
        assert counts(d.stage(g)(xb, wb, v))["dot_general"] - plain["dot_general"] == \
            recomputed_dots
        close(g(xb, wb, v), jax.grad(jax.checkpoint(fj, policy=jpol), argnums=(0, 1, 2))(
            xb, wb, v))


def test_prevent_cse_false_has_no_barrier() -> None:
    g = grad(checkpoint(F, prevent_cse=False), argnums=(0, 1, 2))
    program = d.stage(g)(X, W1, W2)
    assert counts(program)["optimization_barrier"] == 0
    assert counts(program)["dot_general"] == counts(
        d.stage(grad(F, argnums=(0, 1, 2)))(X, W1, W2))["dot_general"] + 2
    close(g(X, W1, W2), jax.grad(jax.checkpoint(FJ, prevent_cse=False), argnums=(0, 1, 2))(
        X, W1, W2))


def test_show_prints_the_recomputation(capsys: pytest.CaptureFixture[str]) -> None:
    show(grad(checkpoint(lambda v: d.sum(d.tanh(d.dot(v, W1))))))(X)
    out = capsys.readouterr().out
    barrier = out.index("optimization_barrier")
    assert "dot_general" in out[barrier:] and "tanh" in out[barrier:]


def _compiled_counts(text: str) -> tuple[int, int, int]:
    return (len(re.findall(r" sine\(", text)), len(re.findall(r" tanh\(", text)),
            len(re.findall(r" opt-barrier\(", text)))


@pytest.mark.parametrize("key", ["default", "dots_saveable", "everything_saveable",
                                 "save_only_these_names(a1)",
                                 "save_anything_except_these_names(h1)"])
def test_compiled_program_recomputes_like_jax(key: str) -> None:
    """After XLA's optimizations (the barrier stops CSE of the recomputation with the forward
    pass), the compiled gradient holds as many sin/tanh as jax's."""
    ours, theirs = POLICIES[key]
    lowered = jit(value_and_grad(checkpoint(F, policy=ours), argnums=(0, 1, 2))).lower(
        X, W1, W2)
    assert ("stablehlo.optimization_barrier" in lowered.as_text()) == \
        (key != "everything_saveable")
    compiled = lowered.compile()
    text = "\n".join(m.to_string() for m in compiled.executable.hlo_modules())
    want = jax.jit(jax.value_and_grad(jax.checkpoint(FJ, policy=theirs), argnums=(0, 1, 2))
                   ).lower(X, W1, W2).compile().as_text()
    assert _compiled_counts(text) == _compiled_counts(want)


# ----------------------------------------------------------------------------------------------
# checkpoint_name in every interpreter, printing and parsing


def test_checkpoint_name_is_the_identity_everywhere() -> None:
    def f(x: Any) -> Any:
        return d.sin(d.checkpoint_name(x * 2.0, "twice"))

    x = X[0]
    want = np.sin(x * 2.0)
    close(f(x), want)
    close(jit(f)(x), want)
    close(evaluate(f)(x), want)
    close(vmap(f)(X), np.sin(X * 2.0))
    close(jvp(f, (x,), (np.ones(3, np.float32),))[1], 2.0 * np.cos(2.0 * x))
    close(grad(lambda v: d.sum(f(v)))(x), 2.0 * np.cos(2.0 * x))
    tree = d.checkpoint_name({"a": x, "b": (x, 1.0)}, "t")
    close(tree["b"][0], x)
    program = d.stage(f)(x)
    (eqn,) = [e for e in program.eqns if e.op.name == "checkpoint_name"]
    assert eqn.op.label == "twice" and "checkpoint_name[label=twice]" in str(program)
    assert d.parse(str(program)) == program


@pytest.mark.parametrize("key", ["save_only_these_names(h1)", "dots_saveable", "default"])
def test_programs_print_and_parse(key: str) -> None:
    for fn in (checkpoint(F, policy=POLICIES[key][0]),
               grad(checkpoint(F, policy=POLICIES[key][0]), argnums=(0, 1, 2))):
        program = d.stage(fn)(X, W1, W2)
        again = d.parse(str(program))
        assert again == program
        d.typecheck(again)
    text = str(d.stage(checkpoint(F, policy=cp.save_only_these_names("h1", "z")))(X, W1, W2))
    assert "policy=save_only_these_names names=(h1, z)" in text


def test_policy_objects() -> None:
    assert cp.checkpoint_dots is cp.dots_saveable
    assert cp.save_only_these_names("b", "a", "a") == cp.save_only_these_names("a", "b")
    assert repr(cp.dots_saveable) == "checkpoint_policies.dots_saveable"
    assert repr(cp.save_only_these_names("a")) == "checkpoint_policies.save_only_these_names('a')"


# ----------------------------------------------------------------------------------------------
# errors


def test_errors() -> None:
    with pytest.raises(ValueError, match="policy must be one of"):
        checkpoint(F, policy="some")
    with pytest.raises(ValueError, match="needs names"):
        checkpoint(F, policy="save_only_these_names")
    with pytest.raises(TypeError, match="arbitrary policy functions"):
        checkpoint(F, policy=lambda *a, **k: True)
    with suppress_type_checks():  # (as users run: arguments of wrong types reach our checks)
        with pytest.raises(TypeError, match="prevent_cse"):
            checkpoint(F, prevent_cse=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="names must be str"):
            cp.save_only_these_names(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="checkpoint_name: the name must be a str"):
            d.checkpoint_name(X, 3)  # type: ignore[arg-type]
    body = d.stage(lambda v: d.sin(v))(X[0])
    with pytest.raises(ShapeError, match="need one of the policies"):
        d.ops.Checkpoint(body=body, policy="dots_saveable", names=("a",)).infer(
            *body.in_types)
    with pytest.raises(ShapeError, match="policy must be one of"):
        d.ops.Checkpoint(body=body, policy="sometimes").infer(*body.in_types)


# ----------------------------------------------------------------------------------------------
# memory: a long scan's gradient, as benchmarks/run.py measures it


def test_scan_gradient_temp_memory_against_jax() -> None:
    """XLA's temp buffer size of a checkpointed scan RNN's jit(grad) is no more than jax's
    under each policy (the recomputation stays in the backward loop)."""
    steps, hidden = 120, 128
    w = (rng.normal(size=(hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
    seq = rng.normal(size=(steps, hidden)).astype(np.float32)

    def make(lib: Any, scan: Any, remat: Any) -> Callable[..., Any]:
        def rnn(w: Any, xs: Any) -> Any:
            def cell(h: Any, x: Any) -> Any:
                return lib.tanh(lib.dot(lib.tanh(lib.dot(h, w)), w) + x)

            step = remat(cell)

            def body(h: Any, x: Any) -> Any:
                h = step(h, x)
                return h, lib.sum(h)

            _, ys = scan(body, lib.zeros(hidden, dtype=lib.float32), xs)
            return lib.sum(ys)

        return rnn

    def temp_mb(lowered: Any) -> float:
        return float(lowered.compile().memory_analysis().temp_size_in_bytes) / 1e6

    for key in ("default", "dots_saveable", "everything_saveable"):
        ours, theirs = POLICIES[key]
        o = temp_mb(jit(grad(make(d, d.scan, functools.partial(checkpoint, policy=ours))))
                    .lower(w, seq))
        j = temp_mb(jax.jit(jax.grad(make(jnp, jax.lax.scan, functools.partial(
            jax.checkpoint, policy=theirs)))).lower(w, seq))
        assert o <= 1.05 * j + 0.01, (key, o, j)
