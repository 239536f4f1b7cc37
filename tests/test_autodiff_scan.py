"""Reverse mode of `scan` (`interpreters/differentiate/scan.py`): the forward scan stacks the
residuals of each step and the backward scan reads them; a `checkpoint`ed body is recomputed in
the backward scan instead.

Gradients are checked against the jax oracle (`jax.lax.scan`, `jax.checkpoint`, in float64),
against central finite differences of our own primal, and by the dot-product law tying vjp to
jvp. Program-structure checks read the staged gradient: which forward values the backward scan
recomputes, which residuals the forward scan stacks, and which it hoists out of the loop.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dsl as d
from dsl import ops as P
from dsl.core import bind
from interpreters.differentiate import VJP_RULES, Zero, load_rules
from interpreters.differentiate.api import grad, jvp, value_and_grad, vjp
from interpreters import checkpoint
from interpreters.jit import jit
from interpreters import vmap

load_rules()

RNG = np.random.default_rng(11)
H, N = 5, 7


def f64(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def make_rnn(lib, scan, remat=None, where="cell", reverse=False):
    """The benchmark's RNN: h = tanh(h @ w + x), y = sum(h); loss = sum(ys) + sum(h_final**2).
    `remat` wraps the cell (`where="cell"`), the whole body ("body") or the whole scan ("scan")."""
    def rnn(w, xs):
        def cell(h, x):
            return lib.tanh(lib.dot(h, w) + x)

        cell2 = remat(cell) if remat is not None and where == "cell" else cell

        def body(h, x):
            h = cell2(h, x)
            return h, lib.sum(h)

        body2 = remat(body) if remat is not None and where == "body" else body

        def run(w_, xs_):
            return scan(body2, lib.zeros(H, dtype=xs_.dtype), xs_, reverse=reverse)

        run2 = remat(run) if remat is not None and where == "scan" else run
        h, ys = run2(w, xs)
        return lib.sum(ys) + lib.sum(h * h)

    return rnn


def jax_grad(f, *args):
    with jax.enable_x64(True):
        return [np.asarray(g) for g in jax.jit(jax.grad(f, argnums=tuple(range(len(args)))))(
            *args)]


def scans(program: d.Program, reverse: bool = False) -> tuple[list, list]:
    """The top-level forward and backward scans of a staged gradient (of a `reverse` scan)."""
    found = [e for e in program.eqns if e.op.name == "scan"]
    return ([e for e in found if e.op.reverse == reverse],
            [e for e in found if e.op.reverse != reverse])


def carry_shapes(eqn) -> list[tuple[int, ...]]:
    op = eqn.op
    return [v.type.shape for v in op.body.inputs[op.num_consts: op.num_consts + op.num_carry]]


def op_names(body: d.Program) -> set[str]:
    return {e.op.name for e in body.walk()}


def assert_close(got, want, rtol=1e-10):
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=rtol, atol=rtol)


# ----------------------------------------------------------------------------------------------
# gradients against jax


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("where", [None, "cell", "body", "scan"])
def test_rnn_gradient_matches_jax(where, reverse):
    w, xs = f64(H, H) / np.sqrt(H), f64(N, H)
    ours = make_rnn(d, d.scan, checkpoint if where else None, where or "cell", reverse)
    theirs = make_rnn(jnp, jax.lax.scan, jax.checkpoint if where else None, where or "cell",
                      reverse)
    want = jax_grad(theirs, w, xs)
    assert_close(grad(ours, argnums=(0, 1))(w, xs), want)
    assert_close(jit(grad(ours, argnums=(0, 1)))(w, xs), want)


def test_value_and_grad_and_f32_match_jax():
    w, xs = (f64(H, H) / np.sqrt(H)).astype(np.float32), f64(N, H).astype(np.float32)
    ours, theirs = make_rnn(d, d.scan), make_rnn(jnp, jax.lax.scan)
    val, g = jit(value_and_grad(ours))(w, xs)
    jval, jg = jax.jit(jax.value_and_grad(theirs))(w, xs)
    np.testing.assert_allclose(np.asarray(val), np.asarray(jval), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(g), np.asarray(jg), rtol=1e-4, atol=1e-5)


def test_only_the_final_carry_or_only_the_ys_used():
    w, xs = f64(H, H) / np.sqrt(H), f64(N, H)

    def make(lib, scan, use):
        def f(w, xs):
            def body(h, x):
                h = lib.sin(lib.dot(h, w)) + x
                return h, h * x
            h, ys = scan(body, lib.ones(H, dtype=xs.dtype), xs)
            return lib.sum(h ** 3) if use == "carry" else lib.sum(ys ** 2)
        return f

    for use in ("carry", "ys"):
        assert_close(grad(make(d, d.scan, use), argnums=(0, 1))(w, xs),
                     jax_grad(make(jnp, jax.lax.scan, use), w, xs))


def test_pytree_carry_with_an_integer_counter_and_several_ys():
    w, xs = f64(H), f64(N, H)

    def make(lib, scan):
        def f(w, xs):
            def body(c, x):
                h, k = c
                h = lib.tanh(h * w + x * k.astype(x.dtype))
                return (h, k + 1), {"a": h, "b": lib.exp(-h).sum()}
            init = (lib.zeros(H, dtype=xs.dtype), lib.asarray(1, dtype=lib.int32))
            (h, k), ys = scan(body, init, xs)
            return lib.sum(ys["a"] * xs) + lib.sum(ys["b"]) + lib.sum(h) * k.astype(h.dtype)
        return f

    assert_close(grad(make(d, d.scan), argnums=(0, 1))(w, xs),
                 jax_grad(make(jnp, jax.lax.scan), w, xs))


def test_nested_scans_match_jax():
    w, xs = f64(H) * 0.5, f64(N, 3, H)

    def make(lib, scan):
        def f(w, xs):
            def outer(h, xrow):
                def inner(g, x):
                    g = lib.sin(g * w + x)
                    return g, g * g
                g, gs = scan(inner, h, xrow)
                return g * 0.9, lib.sum(gs)
            h, ys = scan(outer, lib.zeros(H, dtype=xs.dtype), xs)
            return lib.sum(ys) + lib.sum(h)
        return f

    assert_close(grad(make(d, d.scan), argnums=(0, 1))(w, xs),
                 jax_grad(make(jnp, jax.lax.scan), w, xs))


def test_second_order_and_vmap_of_grad_match_jax():
    w, xs = f64(H, H) / np.sqrt(H), f64(N, H)
    ours, theirs = make_rnn(d, d.scan), make_rnn(jnp, jax.lax.scan)
    v = f64(H, H)
    hvp = jvp(grad(ours), (w, xs), (v, np.zeros_like(xs)))[1]
    with jax.enable_x64(True):
        jhvp = jax.jit(lambda w, xs, v: jax.jvp(jax.grad(theirs), (w, xs),
                                                (v, jnp.zeros_like(xs)))[1])(w, xs, v)
        ws = np.stack([w, 2 * w, -w])
        jper = jax.jit(jax.vmap(jax.grad(theirs), in_axes=(0, None)))(ws, xs)
    np.testing.assert_allclose(np.asarray(hvp), np.asarray(jhvp), rtol=1e-9, atol=1e-10)
    gg = grad(lambda w, xs: d.sum(grad(ours)(w, xs) ** 2))(w, xs)
    with jax.enable_x64(True):
        jgg = jax.jit(jax.grad(lambda w, xs: jnp.sum(jax.grad(theirs)(w, xs) ** 2)))(w, xs)
    np.testing.assert_allclose(np.asarray(gg), np.asarray(jgg), rtol=1e-8, atol=1e-10)
    per = jit(vmap(grad(ours), in_axes=(0, None)))(ws, xs)
    np.testing.assert_allclose(np.asarray(per), np.asarray(jper), rtol=1e-9, atol=1e-10)


def test_dot_product_law_and_finite_differences():
    w, xs = f64(H, H) / np.sqrt(H), f64(N, H)

    def f(w, xs):
        def body(h, x):
            h = d.tanh(d.dot(h, w) + x)
            return h, d.sin(h) * x
        return d.scan(body, d.ones(H, dtype=xs.dtype), xs)

    tw, tx = f64(H, H), f64(N, H)
    out, t_out = jvp(f, (w, xs), (tw, tx))
    ct = (f64(H), f64(N, H))
    _, back = vjp(f, w, xs)
    cw, cx = back(ct)
    lhs = np.vdot(cw, tw) + np.vdot(cx, tx)
    rhs = sum(np.vdot(c, np.asarray(t)) for c, t in zip(ct, t_out))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)
    eps = 1e-6
    plus = f(w + eps * tw, xs + eps * tx)
    minus = f(w - eps * tw, xs - eps * tx)
    for p, m, t in zip(plus, minus, t_out):
        np.testing.assert_allclose((np.asarray(p) - np.asarray(m)) / (2 * eps), np.asarray(t),
                                   rtol=1e-6, atol=1e-7)


def test_the_rule_without_saved_residuals_runs_the_residual_scan_itself():
    w, xs = f64(H, H) / np.sqrt(H), f64(N, H)
    program = d.stage(lambda w, xs: d.scan(
        lambda h, x: (d.tanh(d.dot(h, w) + x), d.sum(h)), d.zeros(H, dtype=xs.dtype), xs))(w, xs)
    (eqn,) = program.eqns
    ins = [w, np.zeros(H), xs]
    outs = bind(eqn.op, *ins)
    cts = [np.ones(H), Zero(eqn.outputs[1].type)]
    got = VJP_RULES[P.Scan](eqn.op, ins, list(outs), cts)

    def jf(w, h0, xs):
        return jnp.sum(jax.lax.scan(lambda h, x: (jnp.tanh(h @ w + x), jnp.sum(h)), h0, xs)[0])

    assert_close(got, jax_grad(jf, *ins))


def test_zero_length_scan():
    w = f64(H)

    def f(w):
        h, _ = d.scan(lambda h, x: (h * x, h), w, np.zeros((0, H)))
        return d.sum(h * h)

    np.testing.assert_allclose(np.asarray(grad(f)(w)), 2 * w)


# ----------------------------------------------------------------------------------------------
# what the forward scan keeps and the backward scan recomputes


def test_plain_scan_backward_does_not_recompute_the_forward_body():
    w, xs = f64(H, H), f64(N, H)
    program = d.stage(grad(make_rnn(d, d.scan)))(w, xs)
    d.typecheck(program)
    (fwd,), (back,) = scans(program)
    assert "tanh" in op_names(fwd.op.body)
    names = op_names(back.op.body)
    assert "tanh" not in names and "optimization_barrier" not in names
    # the backward scan's one dot is the h cotangent (g @ w.T), not the forward's h @ w; the w
    # cotangent sum_i h_i (x) g_i is one contraction over the steps after the loop
    dots = [e for e in back.op.body.walk() if e.op.name == "dot_general"]
    assert len(dots) == 1 and dots[0].op.contracting == ((0,), (1,))
    assert (H, H) not in carry_shapes(back)  # no running sum of the w cotangent
    (after,) = [e for e in program.eqns if e.op.name == "dot_general"]
    assert after.op.contracting == ((0,), (0,)) and after.outputs[0].type.shape == (H, H)
    assert after.inputs[1] in back.outputs and after.inputs[0] in fwd.outputs
    # residuals: the carry entering each step and tanh's output, each (N, H); no more than jax
    stacked = fwd.outputs[2:]
    assert len(stacked) <= 3 and all(v.type.shape == (N, H) for v in stacked)


@pytest.mark.parametrize("where", ["cell", "body"])
def test_checkpointed_body_is_recomputed_in_the_backward_scan(where):
    w, xs = f64(H, H), f64(N, H)
    program = d.stage(grad(make_rnn(d, d.scan, checkpoint, where)))(w, xs)
    d.typecheck(program)
    (fwd,), (back,) = scans(program)
    names = op_names(back.op.body)
    assert "optimization_barrier" in names
    dots = [e for e in back.op.body.walk() if e.op.name == "dot_general"]
    assert len(dots) == 3  # the recomputed h @ w, then the two transposed ones
    assert "tanh" in names or where == "cell"  # (cell: the kept output gives tanh's partial)


def test_checkpoint_around_the_whole_scan_reruns_it_in_the_backward_pass():
    w, xs = f64(H, H), f64(N, H)
    program = d.stage(grad(make_rnn(d, d.scan, checkpoint, "scan")))(w, xs)
    d.typecheck(program)
    (ck,) = [e for e in program.eqns if e.op.name == "checkpoint"]
    assert "scan" in op_names(ck.op.body)  # the primal scan
    (barrier,) = [e for e in program.eqns if e.op.name == "optimization_barrier"]
    (rerun,), (back,) = scans(program)  # after the checkpoint: its rerun, with residuals
    assert set(rerun.inputs) & set(barrier.outputs)  # ... from the barrier's values
    assert len(rerun.outputs) > len(ck.outputs)  # stacking residuals
    assert "tanh" not in op_names(back.op.body)


def test_per_step_residuals_cheap_to_remake_are_not_stacked():
    w, xs = f64(H, H), f64(N, H)

    def make(lib, scan):
        def f(w, xs):
            def body(h, x):
                big = lib.broadcast_to(x[:, None], (H, H))  # per step, remade from x
                h = lib.tanh(lib.dot(h, w) + lib.sum(big * w, axis=0))
                return h, lib.sum(h)
            return lib.sum(scan(body, lib.zeros(H, dtype=xs.dtype), xs)[1])
        return f

    program = d.stage(grad(make(d, d.scan), argnums=(0, 1)))(w, xs)
    d.typecheck(program)
    (fwd,), _ = scans(program)
    assert all(v.type.shape == (N, H) for v in fwd.outputs[2:])  # no (N, H, H) residual
    assert_close(grad(make(d, d.scan), argnums=(0, 1))(w, xs),
                 jax_grad(make(jnp, jax.lax.scan), w, xs))


def test_loop_invariant_residuals_are_computed_once_before_the_loop():
    w, h0, xs = f64(H, H), f64(H), f64(N, H)
    # a step that computes sin(w) itself (staging `d.scan` would hoist it already; programs
    # from other transforms need not): cos(w), its partial, depends on the consts alone
    body = d.stage(lambda w, h, x: (d.tanh(d.dot(h, d.sin(w)) + x),) * 2)(w, h0, xs[0])
    op = P.Scan(body=body, length=N, num_consts=1, num_carry=1)

    def f(w, h0, xs):
        h, ys = bind(op, w, h0, xs)
        return d.sum(ys * ys) + d.sum(h)

    def jf(w, h0, xs):
        h, ys = jax.lax.scan(lambda h, x: (jnp.tanh(h @ jnp.sin(w) + x),) * 2, h0, xs)
        return jnp.sum(ys * ys) + jnp.sum(h)

    program = d.stage(grad(f, argnums=(0, 1, 2)))(w, h0, xs)
    d.typecheck(program)
    (fwd,), (back,) = scans(program)
    assert all(v.type.shape == (N, H) for v in fwd.outputs[2:])  # no (N, H, H) residual
    assert "cos" not in op_names(back.op.body)
    (cos,) = [e for e in program.eqns if e.op.name == "cos"]  # once, before the loops
    assert cos.outputs[0] in back.inputs[: back.op.num_consts]
    assert_close(grad(f, argnums=(0, 1, 2))(w, h0, xs), jax_grad(jf, w, h0, xs))


@pytest.mark.parametrize("batch", [2, 9])
def test_batched_rnn_weight_cotangent_summed_after_the_loop_when_cheaper(batch):
    w, xs, h0 = f64(H, H) / np.sqrt(H), f64(N, batch, H), f64(batch, H)

    def make(lib, scan):
        def f(w, h0, xs):
            def body(h, x):
                h = lib.tanh(h @ w + x)
                return h, lib.sum(h * h, axis=1)
            h, ys = scan(body, h0, xs, reverse=True)
            return lib.sum(ys) + lib.sum(h)
        return f

    program = d.stage(grad(make(d, d.scan), argnums=(0, 1, 2)))(w, h0, xs)
    d.typecheck(program)
    (_,), (back,) = scans(program, reverse=True)
    # (batch, H) per step from the backward loop; deferred only when no bigger than (H, H)
    after = [e for e in program.eqns if e.op.name == "dot_general"]
    if batch <= H:
        assert len(after) == 1 and after[0].op.contracting == ((0, 1), (0, 1))
        assert (H, H) not in carry_shapes(back)
    else:
        assert not after and (H, H) in carry_shapes(back)
    want = jax_grad(make(jnp, jax.lax.scan), w, h0, xs)
    assert_close(grad(make(d, d.scan), argnums=(0, 1, 2))(w, h0, xs), want)
    assert_close(jit(grad(make(d, d.scan), argnums=(0, 1, 2)))(w, h0, xs), want)


def test_rnn_gradient_memory_plain_and_checkpointed_against_jax():
    n, h = 200, 64
    w = (RNG.standard_normal((h, h)) / np.sqrt(h)).astype(np.float32)
    xs = RNG.standard_normal((n, h)).astype(np.float32)
    global H
    old, H = H, h
    try:
        temp = {}
        for remat in (None, "cell"):
            ours = jit(grad(make_rnn(d, d.scan, checkpoint if remat else None)))
            theirs = jax.jit(jax.grad(make_rnn(jnp, jax.lax.scan,
                                               jax.checkpoint if remat else None)))
            temp[remat] = (ours.lower(w, xs).compile().memory_analysis().temp_size_in_bytes,
                           theirs.lower(w, xs).compile().memory_analysis().temp_size_in_bytes)
    finally:
        H = old
    row = n * h * 4
    # plain: jax stacks three (n, h) residuals; we stack two, and the backward loop's g_i
    assert 3 * row <= temp[None][0] <= temp[None][1]
    # checkpointed: only the carry entering each step is kept, the step is recomputed
    assert row <= temp["cell"][0] < 2 * row
