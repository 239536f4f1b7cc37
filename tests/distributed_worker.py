"""One process of a two-process job, started by `tests/test_distributed.py`.

    python tests/distributed_worker.py SCENARIO PORT PROCESS_ID NUM_PROCESSES [ARG]

Scenarios: `allreduce` (a hand-written all-reduce over the 8 global devices), `die` (process
ARG exits abruptly after a few all-reduces; the survivor must raise `PeerLostError`).
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
HEARTBEAT = 3.0

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


class _Aval:
    def __init__(self, shape: tuple[int, ...], dtype: Any):
        self.shape, self.dtype, self.weak_type, self.ndim = shape, np.dtype(dtype), False, len(
            shape)


class _TempXla:
    """Until backends.xla compiles and puts sharded arrays (in progress elsewhere)."""

    @staticmethod
    def compile_text(text: str, devices: list[Any], num_partitions: int) -> Any:
        from jaxlib import xla_client as xc
        opts = xc.CompileOptions()
        opts.num_partitions = num_partitions
        opts.executable_build_options.use_spmd_partitioning = True
        opts.device_assignment = xc.DeviceAssignment.create(np.array([[d.id for d in devices]]))
        return devices[0].client.compile_and_load(text, xc.DeviceList(tuple(devices)), opts)

    @staticmethod
    def _sharding(devices: list[Any], spec: str, shape: tuple[int, ...]) -> Any:
        from jaxlib import xla_client as xc
        hlo = xc.HloSharding.iota_tile([8, 1])

        class S(xc.GSPMDSharding):  # type: ignore[misc, name-defined]
            def _to_xla_hlo_sharding(self, ndim: int) -> Any:
                return hlo

            @property
            def _device_assignment(self) -> tuple[Any, ...]:
                return tuple(devices)

            @property
            def memory_kind(self) -> None:
                return None

            def devices_indices_map(self, shape: tuple[int, ...]) -> Any:
                return {d: (slice(i, i + 1), slice(None)) for i, d in enumerate(devices)}

        return S(xc.DeviceList(tuple(devices)), hlo)

    @classmethod
    def put_sharded(cls, shards: list[np.ndarray], shape: tuple[int, ...], dtype: Any,
                    devices: list[Any], spec: str, local: list[Any]) -> Any:
        from jaxlib import xla_client as xc
        aval = _Aval(shape, dtype)
        return xc.batched_device_put(aval, cls._sharding(devices, spec, shape), shards, local,
                                     enable_x64=True)

    @classmethod
    def execute_sharded(cls, exe: Any, arrays: list[Any], outs: list[Any], devices: list[Any],
                        spec: str) -> Any:
        from jaxlib import xla_client as xc
        handlers = [xc.array_result_handler(_Aval(sh, dt), cls._sharding(
            devices, spec, sh), True, _skip_checks=True) for sh, dt in outs]
        return exe.execute_sharded(arrays).consume_with_handlers(handlers)

    @staticmethod
    def local_shards(arr: Any) -> list[Any]:
        return list(arr._arrays)

    @staticmethod
    def to_host(buf: Any) -> np.ndarray:
        return buf._single_device_array_to_np_array_did_copy()[0]


def allreduce_runner() -> Any:
    """Compile the hand-written module for the 8 global devices; return run(x) -> this process's
    rows of the result (row i of the global result lives on global device i)."""
    xla = _TempXla

    devices = backends.devices()
    exe = xla.compile_text(ALLREDUCE, devices, num_partitions=len(devices))
    rows = {d: i for i, d in enumerate(devices)}
    local = backends.local_devices()

    def run(x: np.ndarray) -> dict[int, list[float]]:
        arr = xla.put_sharded([x[rows[d]:rows[d] + 1] for d in local], x.shape, x.dtype, devices,
                              "{devices=[8,1]<=[8]}", local)
        (out,) = xla.execute_sharded(exe, [arr], [((8, 2), np.dtype(np.float32))], devices,
                                     "{devices=[8,1]<=[8]}")
        distributed.wait([out])
        return {rows[d]: xla.to_host(s).reshape(-1).tolist()
                for d, s in zip(local, xla.local_shards(out))}

    return run


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
        elif scenario == "die":
            victim = int(arg or 1)
            run = allreduce_runner()
            start = None
            for step in range(10_000):
                run(x + step)
                if step == 3:
                    emit("READY", step)
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
