"""All benchmarks, one entry point: `python benchmarks/run.py [--quick] [names...]`.

Each benchmark measures ours and a peer (NumPy or `jax`) in the same process, on the same inputs,
interleaving the two so that drift in the machine's speed affects both, and prints the times and
the ratio ours / peer (lower is better). The bars are in DESIGN section 7.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

# Eight CPU devices for the `sharding` group, set before jax or our backends make a client.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=8").strip()

import numpy as np  # noqa: E402


def best_of(fn: Callable[[], Any], number: int, repeat: int) -> float:
    """Best mean time per call (seconds) over `repeat` rounds of `number` calls."""
    times = []
    for _ in range(repeat):
        gc.disable()
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
        gc.enable()
    return min(times)


def interleaved(ours: Callable[[], Any], peer: Callable[[], Any], number: int,
                rounds: int = 7) -> tuple[float, float]:
    """Alternate rounds of ours and the peer; return the best time of each."""
    ours(), peer()  # warm up
    a, b = [], []
    for _ in range(rounds):
        a.append(best_of(ours, number, 1))
        b.append(best_of(peer, number, 1))
    return min(a), min(b)


def report(name: str, ours: float, peer: float, peer_name: str) -> None:
    print(f"  {name:42s} ours {ours * 1e6:10.2f} us   {peer_name} {peer * 1e6:10.2f} us   "
          f"ratio {ours / peer:6.2f}")


def bench_eager(quick: bool) -> None:
    """Eager op overhead: one op on concrete arrays, against NumPy and jax's eager mode."""
    import dsl as d

    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    print("eager op overhead (ours / NumPy, ours / jax eager)")
    for n in (3, 1000, 100_000):
        xn = np.linspace(-1, 1, n, dtype=np.float32)
        yn = np.linspace(1, 2, n, dtype=np.float32)
        x, y = d.asarray(xn), d.asarray(yn)
        number = 300 if quick else (2000 if n < 10_000 else 200)
        cases = [
            ("add", lambda: x + y, lambda: xn + yn),
            ("sin", lambda: d.sin(x), lambda: np.sin(xn)),
            ("mul by Python scalar", lambda: x * 2.0, lambda: xn * np.float32(2.0)),
            ("sum", lambda: d.sum(x), lambda: np.sum(xn)),
            ("x[1:]", lambda: x[1:], lambda: xn[1:].copy()),
        ]
        for label, ours, peer in cases:
            t_ours, t_np = interleaved(ours, peer, number)
            report(f"{label} f32[{n}] vs NumPy", t_ours, t_np, "numpy")
        if jax is not None:
            xj, yj = jnp.asarray(xn), jnp.asarray(yn)
            jcases = [
                ("add", lambda: x + y, lambda: (xj + yj).block_until_ready()),
                ("sin", lambda: d.sin(x), lambda: jnp.sin(xj).block_until_ready()),
                ("sum", lambda: d.sum(x), lambda: jnp.sum(xj).block_until_ready()),
            ]
            for label, ours, peer in jcases:
                t_ours, t_jax = interleaved(ours, peer, number // 4 or 1)
                report(f"{label} f32[{n}] vs jax eager", t_ours, t_jax, "jax  ")


def bench_staging(quick: bool) -> None:
    """Staging time of a chain of n elementwise ops: it must grow linearly in n."""
    import dsl as d

    print("staging time (must be linear in program size)")
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    per_eqn = []
    for n in sizes:
        def chain(x: Any, n: int = n) -> Any:
            for i in range(n // 2):
                x = d.sin(x) * 1.5
            return x

        x = np.ones(8, np.float32)
        reps = 3 if n <= 10_000 else 1
        t = min(best_of(lambda: d.stage(chain)(x), 1, 1) for _ in range(reps))
        per_eqn.append(t / n)
        print(f"  {n:>7d} equations: {t * 1e3:9.1f} ms   {t / n * 1e6:6.2f} us/equation")
    growth = per_eqn[-1] / per_eqn[0]
    print(f"  per-equation cost at {sizes[-1]} / at {sizes[0]}: {growth:.2f} "
          f"({'linear' if growth < 1.5 else 'SUPERLINEAR'})")


def bench_jit(quick: bool) -> None:
    """jit: dispatch of `x + 1` on f32[3], the README's slow_f on 5000x5000 (with and without
    donation), an MLP forward (784-512-512-10, batch 128): first call and steady step."""
    import jax
    import jax.numpy as jnp

    import backends
    import dsl as d
    from interpreters import jit

    print("jit (ours / jax, same process, interleaved)")
    x = backends.device_put(d.ones(3))
    xj = jnp.ones(3)
    f, fj = jit(lambda v: v + 1), jax.jit(lambda v: v + 1)
    f(x), fj(xj)
    t_ours, t_jax = interleaved(lambda: f(x), lambda: fj(xj), 300 if quick else 3000)
    report("dispatch x + 1, f32[3]", t_ours, t_jax, "jax  ")

    def slow_f(v: Any) -> Any:
        return v * v + v * 2.0

    big = backends.device_put(d.ones((5000, 5000)))
    bigj = jnp.ones((5000, 5000))
    g, gj = jit(slow_f), jax.jit(slow_f)
    t_ours, t_jax = interleaved(lambda: g(big).block_until_ready(),
                                lambda: gj(bigj).block_until_ready(), 1, 3 if quick else 7)
    report("slow_f 5000x5000", t_ours, t_jax, "jax  ")

    gd, gjd = jit(slow_f, donate_argnums=0), jax.jit(slow_f, donate_argnums=0)
    state = {"o": backends.device_put(d.ones((5000, 5000))), "j": jnp.ones((5000, 5000))}

    def ours_donated() -> None:
        state["o"] = gd(state["o"]).block_until_ready()

    def jax_donated() -> None:
        state["j"] = gjd(state["j"]).block_until_ready()

    t_ours, t_jax = interleaved(ours_donated, jax_donated, 1, 3 if quick else 7)
    report("slow_f 5000x5000, donated", t_ours, t_jax, "jax  ")

    sizes = [784, 512, 512, 10]
    rng = np.random.default_rng(0)
    params = [((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32),
               np.zeros(n, np.float32)) for m, n in zip(sizes[:-1], sizes[1:])]
    batch = rng.normal(size=(128, 784)).astype(np.float32)

    def mlp(lib: Any) -> Callable[..., Any]:
        def predict(ps: Any, inputs: Any) -> Any:
            for w, b in ps[:-1]:
                inputs = lib.tanh(lib.dot(inputs, w) + b)
            w, b = ps[-1]
            return lib.dot(inputs, w) + b

        return predict

    ps_ours = [(backends.device_put(w), backends.device_put(b)) for w, b in params]
    ps_jax = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
    xb, xbj = backends.device_put(batch), jnp.asarray(batch)
    t0 = time.perf_counter()
    h = jit(mlp(d))
    h(ps_ours, xb).block_until_ready()
    first_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    hj = jax.jit(mlp(jnp))
    hj(ps_jax, xbj).block_until_ready()
    first_jax = time.perf_counter() - t0
    report("MLP forward, first call (stage+lower+compile)", first_ours, first_jax, "jax  ")
    t0 = time.perf_counter()
    jit(mlp(d)).lower(ps_ours, xb)
    lower_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.jit(mlp(jnp)).lower(ps_jax, xbj)
    lower_jax = time.perf_counter() - t0
    report("MLP forward, staging + lowering only", lower_ours, lower_jax, "jax  ")
    t_ours, t_jax = interleaved(lambda: h(ps_ours, xb).block_until_ready(),
                                lambda: hj(ps_jax, xbj).block_until_ready(),
                                10 if quick else 50)
    report("MLP forward, steady step", t_ours, t_jax, "jax  ")


def bench_grad(quick: bool) -> None:
    """Reverse mode: the README's MLP jit(grad(loss)) first call and steady step; gradient /
    primal time for the MLP and for a scan RNN (1000 steps, hidden 256); peak memory of a long
    scan's gradient with and without checkpointing (compiled memory statistics)."""
    import jax
    import jax.numpy as jnp

    import backends
    import dsl as d
    from interpreters import checkpoint, grad, jit

    print("gradients (ours / jax, same process, interleaved)")
    rng = np.random.default_rng(0)
    sizes = [784, 512, 512, 10]
    params = [((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32),
               np.zeros(n, np.float32)) for m, n in zip(sizes[:-1], sizes[1:])]
    xb = rng.normal(size=(128, 784)).astype(np.float32)
    yb = rng.normal(size=(128, 10)).astype(np.float32)

    def make_loss(lib: Any) -> Callable[..., Any]:
        def loss(ps: Any, inputs: Any, targets: Any) -> Any:
            for w, b in ps:
                outputs = lib.dot(inputs, w) + b
                inputs = lib.tanh(outputs)
            return lib.sum((outputs - targets) ** 2)

        return loss

    ps_o = [(backends.device_put(w), backends.device_put(b)) for w, b in params]
    ps_j = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
    xo, yo = backends.device_put(xb), backends.device_put(yb)
    xj, yj = jnp.asarray(xb), jnp.asarray(yb)
    t0 = time.perf_counter()
    go = jit(grad(make_loss(d)))
    jax_block = lambda tree: jax.tree_util.tree_map(lambda a: a.block_until_ready(), tree)  # noqa
    ours_block = lambda tree: [a.block_until_ready() for p in tree for a in p]  # noqa: E731
    ours_block(go(ps_o, xo, yo))
    first_o = time.perf_counter() - t0
    t0 = time.perf_counter()
    gj = jax.jit(jax.grad(make_loss(jnp)))
    jax_block(gj(ps_j, xj, yj))
    first_j = time.perf_counter() - t0
    report("MLP jit(grad(loss)), first call", first_o, first_j, "jax  ")
    n = 5 if quick else 30
    t_o, t_j = interleaved(lambda: ours_block(go(ps_o, xo, yo)),
                           lambda: jax_block(gj(ps_j, xj, yj)), n)
    report("MLP jit(grad(loss)), steady step", t_o, t_j, "jax  ")
    fo, fj = jit(make_loss(d)), jax.jit(make_loss(jnp))
    p_o, p_j = interleaved(lambda: fo(ps_o, xo, yo).block_until_ready(),
                           lambda: fj(ps_j, xj, yj).block_until_ready(), n)
    print(f"  MLP gradient/primal: ours {t_o / p_o:.2f}   jax {t_j / p_j:.2f}")

    steps, hidden = (200 if quick else 1000), 256
    wh = (rng.normal(size=(hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
    seq = rng.normal(size=(steps, hidden)).astype(np.float32)

    def make_rnn(lib: Any, scan: Any, remat: Any = None) -> Callable[..., Any]:
        def rnn(w: Any, xs: Any) -> Any:
            def cell(h: Any, x: Any) -> Any:
                return lib.tanh(lib.dot(h, w) + x)

            cell2 = remat(cell) if remat is not None else cell

            def body(h: Any, x: Any) -> Any:
                h = cell2(h, x)
                return h, lib.sum(h)

            _, ys = scan(body, lib.zeros(hidden), xs)
            return lib.sum(ys)

        return rnn

    wo, so = backends.device_put(wh), backends.device_put(seq)
    wj, sj = jnp.asarray(wh), jnp.asarray(seq)
    r_o, r_j = jit(make_rnn(d, d.scan)), jax.jit(make_rnn(jnp, jax.lax.scan))
    rg_o, rg_j = jit(grad(make_rnn(d, d.scan))), jax.jit(jax.grad(make_rnn(jnp, jax.lax.scan)))
    m = 2 if quick else 5
    pr_o, pr_j = interleaved(lambda: r_o(wo, so).block_until_ready(),
                             lambda: r_j(wj, sj).block_until_ready(), m)
    gr_o, gr_j = interleaved(lambda: rg_o(wo, so).block_until_ready(),
                             lambda: rg_j(wj, sj).block_until_ready(), m)
    report(f"scan RNN ({steps} steps) grad step", gr_o, gr_j, "jax  ")
    print(f"  scan RNN gradient/primal: ours {gr_o / pr_o:.2f}   jax {gr_j / pr_j:.2f}")

    def temp_mb(lowered: Any) -> float:
        return float(lowered.compile().memory_analysis().temp_size_in_bytes) / 1e6

    mem = {}
    for remat in (False, True):
        mem[("ours", remat)] = temp_mb(jit(grad(make_rnn(d, d.scan, checkpoint if remat
                                                          else None))).lower(wo, so))
        mem[("jax", remat)] = temp_mb(jax.jit(jax.grad(make_rnn(
            jnp, jax.lax.scan, jax.checkpoint if remat else None))).lower(wj, sj))
    print(f"  scan RNN gradient temp memory (MB): ours plain {mem[('ours', False)]:.1f}, "
          f"checkpointed {mem[('ours', True)]:.1f};  jax plain {mem[('jax', False)]:.1f}, "
          f"checkpointed {mem[('jax', True)]:.1f}")


def bench_vmap(quick: bool) -> None:
    """vmap: per-example gradients of the README's MLP at batch 128 (against jax, and against a
    Python loop of grad), and pairwise L1 distances of 1000 points."""
    import jax
    import jax.numpy as jnp

    import backends
    import dsl as d
    from interpreters import grad, jit, vmap

    print("vmap (ours / jax, same process, interleaved)")
    rng = np.random.default_rng(0)
    sizes = [784, 512, 512, 10]
    params = [((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32),
               np.zeros(n, np.float32)) for m, n in zip(sizes[:-1], sizes[1:])]
    xb = rng.normal(size=(128, 784)).astype(np.float32)
    yb = rng.normal(size=(128, 10)).astype(np.float32)

    def make_loss(lib: Any) -> Callable[..., Any]:
        def loss(ps: Any, inputs: Any, targets: Any) -> Any:
            for w, b in ps:
                outputs = lib.dot(inputs, w) + b
                inputs = lib.tanh(outputs)
            return lib.sum((outputs - targets) ** 2)

        return loss

    ps_o = [(backends.device_put(w), backends.device_put(b)) for w, b in params]
    ps_j = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
    xo, yo = backends.device_put(xb), backends.device_put(yb)
    xj, yj = jnp.asarray(xb), jnp.asarray(yb)
    po = jit(vmap(grad(make_loss(d)), in_axes=(None, 0, 0)))
    pj = jax.jit(jax.vmap(jax.grad(make_loss(jnp)), in_axes=(None, 0, 0)))
    ob = lambda t: [a.block_until_ready() for p in t for a in p]  # noqa: E731
    jb = lambda t: jax.tree_util.tree_map(lambda a: a.block_until_ready(), t)  # noqa: E731
    n = 3 if quick else 10
    t_o, t_j = interleaved(lambda: ob(po(ps_o, xo, yo)), lambda: jb(pj(ps_j, xj, yj)), n)
    report("MLP per-example grads, batch 128", t_o, t_j, "jax  ")
    g1 = jit(grad(make_loss(d)))
    rows = [(backends.device_put(xb[i]), backends.device_put(yb[i])) for i in range(128)]
    ob(g1(ps_o, *rows[0]))
    t0 = time.perf_counter()
    for x1, y1 in rows:
        ob(g1(ps_o, x1, y1))
    t_loop = time.perf_counter() - t0
    print(f"  per-example grads: Python loop of jit(grad) {t_loop * 1e3:.1f} ms, vmap "
          f"{t_o * 1e3:.2f} ms (loop / vmap = {t_loop / t_o:.2f})")

    pts = rng.normal(size=(1000, 3)).astype(np.float32)

    def pairwise(lib: Any, vm: Any) -> Callable[..., Any]:
        def l1(x: Any, y: Any) -> Any:
            return lib.sum(lib.abs(x - y))

        return lambda xs: vm(vm(l1, (0, None)), (None, 0))(xs, xs)

    fo, fj = jit(pairwise(d, vmap)), jax.jit(pairwise(jnp, jax.vmap))
    po_, pj_ = backends.device_put(pts), jnp.asarray(pts)
    t_o, t_j = interleaved(lambda: fo(po_).block_until_ready(),
                           lambda: fj(pj_).block_until_ready(), n)
    report("pairwise L1 distances, 1000 points", t_o, t_j, "jax  ")


def bench_sharding(quick: bool) -> None:
    """Data-parallel training on the 8-device CPU mesh: the README's MLP (784-512-512-10, batch
    128, f32), parameters replicated, the batch split over 'data'; one step is jit of
    grad(loss) plus the SGD update. Each step waits for its result (XLA's CPU runtime deadlocks
    with hundreds of multi-device programs in flight, jax's included)."""
    import jax
    import jax.numpy as jnp

    import backends
    import dsl as d
    from dsl.sharding import NamedSharding, P, make_mesh
    from interpreters import grad, jit

    print("sharding: data-parallel MLP training step on 8 CPU devices (ours / jax)")
    if len(backends.devices()) < 8 or len(jax.devices()) < 8:
        print("  skipped: needs 8 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)")
        return
    rng = np.random.default_rng(0)
    sizes = [784, 512, 512, 10]
    params = [((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32),
               np.zeros(n, np.float32)) for m, n in zip(sizes[:-1], sizes[1:])]
    xb = rng.normal(size=(128, 784)).astype(np.float32)
    yb = rng.normal(size=(128, 10)).astype(np.float32)
    lr = 1e-3

    def make_step(lib: Any, grad_: Any) -> Callable[..., Any]:
        def loss(ps: Any, inputs: Any, targets: Any) -> Any:
            for w, b in ps:
                outputs = lib.dot(inputs, w) + b
                inputs = lib.tanh(outputs)
            return lib.sum((outputs - targets) ** 2)

        def step(ps: Any, inputs: Any, targets: Any) -> Any:
            gs = grad_(loss)(ps, inputs, targets)
            return [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(ps, gs)]

        return step

    mesh = make_mesh((8,), ("data",))
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    jmesh = jax.make_mesh((8,), ("data",))
    jreplicated = jax.sharding.NamedSharding(jmesh, jax.sharding.PartitionSpec())
    jsplit = jax.sharding.NamedSharding(jmesh, jax.sharding.PartitionSpec("data"))
    state = {"ours": backends.device_put(params, replicated),
             "jax": jax.device_put(params, jreplicated)}
    xo, yo = backends.device_put(xb, split), backends.device_put(yb, split)
    xj, yj = jax.device_put(xb, jsplit), jax.device_put(yb, jsplit)
    step_o, step_j = jit(make_step(d, grad)), jax.jit(make_step(jnp, jax.grad))

    def ours() -> None:
        state["ours"] = step_o(state["ours"], xo, yo)
        state["ours"][-1][0].block_until_ready()

    def theirs() -> None:
        state["jax"] = step_j(state["jax"], xj, yj)
        state["jax"][-1][0].block_until_ready()

    t0 = time.perf_counter()
    ours()
    first_o = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs()
    first_j = time.perf_counter() - t0
    report("first call (stage+lower+compile)", first_o, first_j, "jax  ")
    gap = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
              for pa, pb in zip(state["ours"], state["jax"]) for a, b in zip(pa, pb))
    t_o, t_j = interleaved(ours, theirs, 5 if quick else 20, 3 if quick else 7)
    report("steady training step", t_o, t_j, "jax  ")
    print(f"  parameters after the same steps differ by at most {gap:.2e}; result layout "
          f"{state['ours'][0][0].sharding}")


def bench_import(quick: bool) -> None:
    """Import time of `dsl` + `interpreters` against `import jax`, each in a fresh process."""
    import subprocess

    def fresh(code: str) -> float:
        times = []
        for _ in range(2 if quick else 5):
            out = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); "
                                  f"{code}; print(time.perf_counter() - t)"],
                                 capture_output=True, text=True, check=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
        return min(times)

    print("import time (fresh processes)")
    report("import dsl, interpreters", fresh("import dsl, interpreters"), fresh("import jax"),
           "jax  ")


BENCHMARKS: dict[str, Callable[[bool], None]] = {
    "eager": bench_eager,
    "staging": bench_staging,
    "jit": bench_jit,
    "grad": bench_grad,
    "vmap": bench_vmap,
    "sharding": bench_sharding,
    "import": bench_import,
}


def bench_distributed(quick: bool) -> None:
    """Several processes: the README's MLP training step (jit of grad(loss) plus SGD, params
    replicated, batch 128 split over a 'data' mesh) on 8 CPU devices owned by two processes of 4
    (`tests/distributed_worker.py bench`), collectives over Gloo on loopback. No peer: jax has
    no lighter multi-process setup to compare with; `sharding` times the one-process step."""
    import json
    import os
    import signal
    import socket
    import subprocess
    from pathlib import Path

    print("distributed: 2 processes x 4 CPU devices, data-parallel MLP training step")
    worker = Path(__file__).resolve().parent.parent / "tests" / "distributed_worker.py"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                                if "xla_force_host_platform_device_count" not in f)
    steps = "5" if quick else "20"
    procs = [subprocess.Popen([sys.executable, str(worker), "bench", str(port), str(i), "2",
                               steps], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env=env, start_new_session=True, text=True) for i in range(2)]
    outs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=300)
            outs.append(out)
    except subprocess.TimeoutExpired:
        print("  timed out")
        return
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
    for i, (p, out) in enumerate(zip(procs, outs)):
        lines = [ln for ln in out.splitlines() if ln.startswith("BENCH ")]
        if p.returncode != 0 or not lines:
            print(f"  process {i} failed (exit status {p.returncode})")
            return
        r = json.loads(lines[-1].split(" ", 1)[1])
        print(f"  process {i}: first call {r['first_s'] * 1e3:8.1f} ms   steady step "
              f"{r['step_s'] * 1e3:8.2f} ms")


BENCHMARKS["distributed"] = bench_distributed

def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"any of {sorted(BENCHMARKS)} (default all)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; choose from {sorted(BENCHMARKS)}")
    for name in args.names or list(BENCHMARKS):
        BENCHMARKS[name](args.quick)


if __name__ == "__main__":
    main(sys.argv[1:])
