"""Several processes: two Python processes of 4 CPU devices each join one job on 127.0.0.1 and run
8-device programs across both (`tests/distributed_worker.py` is the script each one runs).

Every subprocess is started in its own session and its whole process group is killed at the end
of each test, whatever happened; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backends
from backends import distributed
from dsl.errors import ArgumentTypeError, ArgumentValueError

WORKER = Path(__file__).with_name("distributed_worker.py")
JOB_TIMEOUT = 90.0  # seconds for a whole two-process job on a loaded machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if "xla_force_host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join(flags)
    return env


class Job:
    """The outcome of one process: exit status, output lines by kind, whole output."""

    def __init__(self, returncode: int | None, text: str):
        self.returncode = returncode
        self.text = text
        self.lines: dict[str, list[Any]] = {}
        for line in text.splitlines():
            kind, _, rest = line.partition(" ")
            if kind in ("INFO", "RESULT", "TRAIN", "READY", "PEER_LOST", "ERROR", "SHUTDOWN"):
                self.lines.setdefault(kind, []).append(json.loads(rest))

    def one(self, kind: str) -> Any:
        got = self.lines.get(kind, [])
        assert len(got) == 1, f"expected one {kind} line, got {got}\n{self.text}"
        return got[0]


def run_job(tmp_path: Path, scenario: str, num_processes: int = 2, arg: str | None = None,
            timeout: float = JOB_TIMEOUT) -> list[Job]:
    """Run the worker as processes 0..num_processes-1 of one job; kill what is left at the end."""
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for i in range(num_processes):
            log = open(tmp_path / f"{scenario}-{i}.log", "wb")
            logs.append(log)
            cmd = [sys.executable, str(WORKER), scenario, str(port), str(i), str(num_processes)]
            procs.append(subprocess.Popen(cmd + ([arg] if arg else []), stdout=log,
                                          stderr=subprocess.STDOUT, env=worker_env(),
                                          start_new_session=True))
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the worker and anything it started
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
        for log in logs:
            log.close()
    jobs = [Job(p.returncode, (tmp_path / f"{scenario}-{i}.log").read_text(errors="replace"))
            for i, p in enumerate(procs)]
    return jobs


def numpy_sgd(steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The workers' training steps in one process, by hand in float64: forward through tanh
    layers, backward by the chain rule, then params - LR * grads."""
    from distributed_worker import BATCH, LR, SIZES, mlp_data

    params, xb, yb = mlp_data(SIZES, BATCH)
    ps = [(w.astype(np.float64), b.astype(np.float64)) for w, b in params]
    x, y = xb.astype(np.float64), yb.astype(np.float64)
    for _ in range(steps):
        acts = [x]
        for w, b in ps[:-1]:
            acts.append(np.tanh(acts[-1] @ w + b))
        w, b = ps[-1]
        delta = 2.0 * (acts[-1] @ w + b - y) / BATCH
        grads = []
        for i in reversed(range(len(ps))):
            grads.append((acts[i].T @ delta, delta.sum(axis=0)))
            if i:
                delta = (delta @ ps[i][0].T) * (1.0 - acts[i] ** 2)
        grads.reverse()
        ps = [(w - LR * gw, b - LR * gb) for (w, b), (gw, gb) in zip(ps, grads)]
    return ps


def test_programs_across_two_processes(tmp_path: Path) -> None:
    """A hand-written all-reduce, then jit(grad) SGD steps of an MLP data-parallel over the 8
    global devices (params replicated, batch split on 'data'), each process checking the
    replicated result against one-process computations."""
    steps = 2
    jobs = run_job(tmp_path, "run", arg=str(steps))
    for i, job in enumerate(jobs):
        assert job.returncode == 0, job.text
        info = job.one("INFO")
        assert info["index"] == i and info["count"] == 2
        assert len(info["devices"]) == 8 and len(info["local"]) == 4
    infos = [job.one("INFO") for job in jobs]
    assert infos[0]["devices"] == infos[1]["devices"]
    assert sorted(infos[0]["local"] + infos[1]["local"]) == sorted(infos[0]["devices"])
    assert set(infos[0]["local"]).isdisjoint(infos[1]["local"])

    # the hand-written all-reduce sums the eight rows, one per device, on every device
    x = np.arange(16, dtype=np.float32).reshape(8, 2)
    rows: dict[int, list[float]] = {}
    for job in jobs:
        rows.update({int(k): v for k, v in job.one("RESULT").items()})
    assert sorted(rows) == list(range(8))
    for r in rows.values():
        np.testing.assert_array_equal(np.array(r, np.float32), x.sum(axis=0))

    from distributed_worker import BATCH, SIZES, mlp_data

    expected = numpy_sgd(steps)
    initial, _, _ = mlp_data(SIZES, BATCH)
    moved = max(float(np.abs(e[0] - w0).max()) for e, (w0, _) in zip(expected, initial))
    assert moved > 1e-3  # the steps change the weights by far more than the tolerance
    for job in jobs:
        train = job.one("TRAIN")
        assert train["layout"] == "NamedSharding(Mesh(data=8), P())"
        assert train["x_layout"] == "NamedSharding(Mesh(data=8), P('data'))"
        assert train["gap_vs_evaluate"] < 1e-5
        for (w, b), (ew, eb) in zip(train["params"], expected):
            np.testing.assert_allclose(np.array(w), ew, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np.array(b), eb, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("victim", [1, 0])
def test_peer_death_is_a_python_error(tmp_path: Path, victim: int) -> None:
    """One process exits abruptly (os._exit, as if killed) between training steps; the other,
    reading its next result, gets `PeerLostError` within the heartbeat bound instead of hanging
    in the step's collectives or aborting, and exits."""
    start = time.monotonic()
    jobs = run_job(tmp_path, "die", arg=str(victim), timeout=60)
    elapsed = time.monotonic() - start
    survivor = jobs[1 - victim]
    assert jobs[victim].returncode == 7, jobs[victim].text
    assert survivor.returncode == 3, survivor.text
    lost = survivor.one("PEER_LOST")
    assert f"process {victim} of 2 stopped" in lost["message"]
    assert lost["after_s"] < 30, lost
    assert elapsed < 60


def test_initialize_errors_and_one_process_job(tmp_path: Path) -> None:
    (job,) = run_job(tmp_path, "errors", num_processes=1, timeout=60)
    assert job.returncode == 0, job.text
    errors = {e["case"]: e for e in job.lines["ERROR"]}
    assert errors["unreachable"]["type"] == "DistributedError"
    assert "no coordinator answers" in errors["unreachable"]["message"]
    assert errors["unreachable"]["seconds"] < 10
    assert errors["busy"]["type"] == "DistributedError"
    assert "cannot serve the coordinator" in errors["busy"]["message"]
    assert errors["twice"]["type"] == "DistributedError"
    assert "already initialized" in errors["twice"]["message"]
    assert errors["after shutdown"]["type"] == "DistributedError"
    assert "already in use" in errors["after shutdown"]["message"]
    info = job.one("INFO")
    assert info["devices"] == info["local"] and len(info["devices"]) == 4
    assert info["index"] == 0 and info["count"] == 1 and info["initialized"]
    assert job.one("SHUTDOWN") == {"initialized": False}


@pytest.mark.parametrize("args, kwargs, kind, words", [
    (("127.0.0.1", 2, 0), {}, ArgumentValueError, "host:port"),
    (("127.0.0.1:99999", 2, 0), {}, ArgumentValueError, "host:port"),
    (("127.0.0.1:1234", 2, 2), {}, ArgumentValueError, "process_id must be in 0..1"),
    (("127.0.0.1:1234", 0, 0), {}, ArgumentValueError, "num_processes must be positive"),
    (("127.0.0.1:1234", False, 0), {}, ArgumentTypeError, "num_processes must be an int"),
    (("127.0.0.1:1234", 2, True), {}, ArgumentTypeError, "process_id must be an int"),
    (("127.0.0.1:1234", 2, 0, 0), {}, ArgumentValueError, "local_device_count"),
    (("127.0.0.1:1234", 2, 0), {"heartbeat_timeout": 0}, ArgumentValueError, "heartbeat"),
    (("127.0.0.1:1234", 2, 0), {"initialization_timeout": float("inf")}, ArgumentValueError,
     "initialization_timeout"),
])
def test_initialize_rejects_bad_arguments(args: tuple[Any, ...], kwargs: dict[str, Any],
                                          kind: type, words: str) -> None:
    with pytest.raises(kind, match=words):
        distributed.initialize(*args, **kwargs)
    assert not distributed.is_initialized()


def test_initialize_after_the_cpu_client_exists() -> None:
    backends.devices("cpu")
    with pytest.raises(distributed.DistributedError, match="already in use"):
        distributed.initialize(f"127.0.0.1:{free_port()}", 2, 0)
    assert not distributed.is_initialized()
    assert backends.process_count("cpu") == 1 and backends.process_index("cpu") == 0
    assert backends.local_devices("cpu") == backends.devices("cpu")


def test_shutdown_without_initialize_is_a_no_op() -> None:
    distributed.shutdown()
    distributed.check()
    assert not distributed.is_initialized()
