"""One process of a two-process job, started by `tests/test_distributed.py`.

    python tests/distributed_worker.py SCENARIO PORT PROCESS_ID NUM_PROCESSES [ARG]

Scenarios: `allreduce` (a hand-written all-reduce over the 8 global devices), `run` (that, then
ARG jitted training steps of a small MLP, data-parallel over a 'data' mesh of the 8 global
devices), `bench` (the README's MLP step timed), `die` (process ARG exits abruptly after a few
all-reduces; the survivor must raise `PeerLostError`), `errors` (failures of `initialize` and a
one-process job).
Each process prints `RESULT <json>` lines that the test checks against NumPy, and, when a peer
is lost, `PEER_LOST <message>` (exit status 3).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import backends  # noqa: E402
from backends import distributed  # noqa: E402

LOCAL_DEVICES = 4
HEARTBEAT = 5.0

ALLREDUCE = """
module @allreduce attributes {mhlo.num_partitions = 8 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<8x2xf32> {mhlo.sharding = "{devices=[8,1]<=[8]}"})
      -> (tensor<8x2xf32> {mhlo.sharding = "{devices=[8,1]<=[8]}"}) {
    %0 = stablehlo.custom_call @Sharding(%arg0) {mhlo.sharding = "{devices=[8,1]<=[8]}"}
        : (tensor<8x2xf32>) -> tensor<8x2xf32>
    %1 = stablehlo.custom_call @SPMDFullToShardShape(%0) {mhlo.sharding = "{manual}"}
        : (tensor<8x2xf32>) -> tensor<1x2xf32>
    %2 = "stablehlo.all_reduce"(%1) ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %s = stablehlo.add %a, %b : tensor<f32>
      stablehlo.return %s : tensor<f32>
    }) {channel_handle = #stablehlo.channel_handle<handle = 1, type = 1>,
        replica_groups = dense<[[0, 1, 2, 3, 4, 5, 6, 7]]> : tensor<1x8xi64>,
        use_global_device_ids} : (tensor<1x2xf32>) -> tensor<1x2xf32>
    %3 = stablehlo.custom_call @Sharding(%2) {mhlo.sharding = "{manual}"}
        : (tensor<1x2xf32>) -> tensor<1x2xf32>
    %4 = stablehlo.custom_call @SPMDShardToFullShape(%3) {mhlo.sharding = "{devices=[8,1]<=[8]}"}
        : (tensor<1x2xf32>) -> tensor<8x2xf32>
    return %4 : tensor<8x2xf32>
  }
}
"""


def emit(kind: str, payload: Any) -> None:
    print(f"{kind} {json.dumps(payload)}", flush=True)


def global_mesh(axis: str) -> Any:
    from dsl.sharding import make_mesh

    return make_mesh((len(backends.devices()),), (axis,))


def allreduce_runner() -> Any:
    """Compile the hand-written module through `backends.xla` for the 8 global devices; return
    run(x) -> this process's rows of the result (row i lives on global device i)."""
    from backends import xla
    from dsl.array import Array
    from dsl.types import TensorType

    mesh = global_mesh("x")
    t = TensorType((8, 2), np.dtype(np.float32))
    lay = xla.layout(mesh, (("x",), ()))
    exe = xla.compile_spmd(ALLREDUCE, mesh.device_list, [False])
    handler = xla.sharded_result_handler(t, lay)
    rows = {d: i for i, d in enumerate(mesh.device_list)}

    def run(x: np.ndarray) -> dict[int, list[float]]:
        (out,) = exe.execute_sharded([xla.put_sharded(x, t, lay)]).consume_with_handlers(
            [handler])
        distributed.wait([out])
        return {rows[s.device]: np.asarray(s.data).reshape(-1).tolist()
                for s in Array._on_device(out, False).addressable_shards}

    return run


SIZES = (8, 16, 4)
BATCH = 64
LR = 0.1


def mlp_data(sizes: tuple[int, ...], batch: int) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The same parameters and batch in every process (a fixed seed)."""
    rng = np.random.default_rng(0)
    params = [((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32),
               (0.1 * rng.normal(size=n)).astype(np.float32))
              for m, n in zip(sizes[:-1], sizes[1:])]
    xb = rng.normal(size=(batch, sizes[0])).astype(np.float32)
    yb = rng.normal(size=(batch, sizes[-1])).astype(np.float32)
    return params, xb, yb


def make_step(batch: int) -> Any:
    """One SGD step of an MLP (tanh hidden layers, linear output, mean squared error)."""
    import dsl as d
    from interpreters import grad

    def loss(ps: Any, inputs: Any, targets: Any) -> Any:
        for w, b in ps[:-1]:
            inputs = d.tanh(d.dot(inputs, w) + b)
        w, b = ps[-1]
        return d.sum((d.dot(inputs, w) + b - targets) ** 2) / batch

    def step(ps: Any, inputs: Any, targets: Any) -> Any:
        gs = grad(loss)(ps, inputs, targets)
        return [(w - LR * gw, b - LR * gb) for (w, b), (gw, gb) in zip(ps, gs)]

    return step


def sharded_step(sizes: tuple[int, ...], batch: int) -> tuple[Any, Any, Any, Any]:
    """jit(step) over the global 'data' mesh: parameters replicated, the batch split by rows;
    returns (step, params, x, y) placed on the mesh (each process puts its own shards)."""
    from dsl.sharding import NamedSharding, P
    from interpreters import jit

    params, xb, yb = mlp_data(sizes, batch)
    mesh = global_mesh("data")
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    return (jit(make_step(batch)), backends.device_put(params, replicated),
            backends.device_put(xb, split), backends.device_put(yb, split))


def train(steps: int) -> dict[str, Any]:
    """`steps` sharded steps; the result (replicated: every process holds all of it) checked
    here against the same steps in this one process by our evaluator (no jit, host arrays)."""
    step, ps, x, y = sharded_step(SIZES, BATCH)
    for _ in range(steps):
        ps = step(ps, x, y)
    got = [(np.asarray(w), np.asarray(b)) for w, b in ps]
    ref, xb, yb = mlp_data(SIZES, BATCH)
    eager = make_step(BATCH)
    for _ in range(steps):
        ref = eager(ref, xb, yb)
    gap = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
              for pa, pb in zip(got, ref) for a, b in zip(pa, pb))
    return {"params": [(w.tolist(), b.tolist()) for w, b in got], "gap_vs_evaluate": gap,
            "layout": str(ps[0][0].sharding), "x_layout": str(x.sharding)}


def bench(steps: int) -> dict[str, Any]:
    """Seconds per sharded training step of the README's MLP (784-512-512-10, batch 128), each
    step waited for (the best of a few rounds)."""
    step, ps, x, y = sharded_step((784, 512, 512, 10), 128)
    t0 = time.perf_counter()
    ps = step(ps, x, y)
    distributed.wait([ps[-1][0]._buffer])
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(steps):
            ps = step(ps, x, y)
            distributed.wait([ps[-1][0]._buffer])
        best = min(best, (time.perf_counter() - t0) / steps)
    return {"first_s": first, "step_s": best}


def expect_error(label: str, kind: type, fn: Any) -> None:
    t0 = time.monotonic()
    try:
        fn()
    except kind as e:
        emit("ERROR", {"case": label, "type": type(e).__name__, "message": str(e),
                       "seconds": time.monotonic() - t0})
        return
    emit("ERROR", {"case": label, "type": None, "message": "no error",
                   "seconds": time.monotonic() - t0})


def errors(port: int) -> int:
    """Failures of `initialize` in one process, then a one-process job."""
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    expect_error("unreachable", distributed.DistributedError, lambda: distributed.initialize(
        f"127.0.0.1:{closed_port}", 2, 1, LOCAL_DEVICES, initialization_timeout=2))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    expect_error("busy", distributed.DistributedError, lambda: distributed.initialize(
        f"127.0.0.1:{busy.getsockname()[1]}", 2, 0, LOCAL_DEVICES, initialization_timeout=10))
    busy.close()
    distributed.initialize(f"127.0.0.1:{port}", 1, 0, LOCAL_DEVICES,
                           initialization_timeout=20, heartbeat_timeout=HEARTBEAT)
    emit("INFO", {"devices": [d.id for d in backends.devices()],
                  "local": [d.id for d in backends.local_devices()],
                  "index": backends.process_index(), "count": backends.process_count(),
                  "initialized": distributed.is_initialized()})
    expect_error("twice", distributed.DistributedError, lambda: distributed.initialize(
        f"127.0.0.1:{port}", 1, 0, LOCAL_DEVICES))
    distributed.shutdown()
    distributed.shutdown()
    emit("SHUTDOWN", {"initialized": distributed.is_initialized()})
    expect_error("after shutdown", distributed.DistributedError, lambda: distributed.initialize(
        f"127.0.0.1:{port}", 1, 0, LOCAL_DEVICES))
    return 0


def main() -> int:
    scenario, port, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    arg = sys.argv[5] if len(sys.argv) > 5 else None
    if scenario == "errors":
        return errors(port)
    distributed.initialize(f"127.0.0.1:{port}", n, pid, LOCAL_DEVICES,
                           initialization_timeout=40, heartbeat_timeout=HEARTBEAT,
                           shutdown_timeout=30)
    try:
        emit("INFO", {"devices": [d.id for d in backends.devices()],
                      "local": [d.id for d in backends.local_devices()],
                      "index": backends.process_index(), "count": backends.process_count()})
        x = np.arange(16, dtype=np.float32).reshape(8, 2)
        if scenario == "allreduce":
            run = allreduce_runner()
            emit("RESULT", run(x))
        elif scenario == "run":
            emit("RESULT", allreduce_runner()(x))
            emit("TRAIN", train(int(arg or 2)))
        elif scenario == "bench":
            emit("BENCH", bench(int(arg or 10)))
        elif scenario == "die":
            victim = int(arg or 1)
            step, ps, xs, ys = sharded_step(SIZES, BATCH)
            start = None
            for k in range(100_000):
                ps = step(ps, xs, ys)
                np.asarray(ps[0][0])  # a host read: waits for the step's collectives
                if k == 3:
                    emit("READY", k)
                    if pid == victim:
                        os._exit(7)  # no shutdown, no exit handlers: as if killed
                    start = time.monotonic()
            emit("RESULT", "never lost the peer")
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    except distributed.PeerLostError as e:
        emit("PEER_LOST", {"message": str(e), "after_s": time.monotonic() - start
                           if start is not None else None})
        return 3
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
