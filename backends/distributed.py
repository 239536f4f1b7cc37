"""Several processes: one program over the devices of every process (multi-controller SPMD).

Every process runs the same script and calls, before its first use of the `cpu` backend,

    backends.distributed.initialize("127.0.0.1:PORT", num_processes=2, process_id=i)

After that the `cpu` client of `backends` is a distributed one: `backends.devices()` lists the
devices of all processes (ids are not contiguous: 0-3 in process 0, 2048-2051 in process 1),
`backends.local_devices()` the ones this process drives, and a program compiled for the global
devices runs with every process feeding its own shards; collectives between processes go over
Gloo TCP.

This is XLA's own distributed runtime from jaxlib: a coordination service (key-value store,
barriers, heartbeats), a client per process, Gloo collectives and a CPU client told about the
other nodes. Two jaxlib behaviours shape this module:

* A client whose coordination service reports an error (a peer stopped heartbeating, or the
  service itself went away) kills its process with a fatal log; jaxlib 0.10.2 cannot deliver that
  error to Python (a Python `missed_heartbeat_callback` aborts with `std::bad_cast`). So the
  service runs *recoverable* (a dead task is not propagated as an error to the others) in a small
  child process of process 0, which outlives process 0 by a grace period; and each process runs
  a watchdog thread that asks the service which tasks are alive (`get_live_nodes`, a call that
  returns once every live task has made it, or once the service has declared a task dead). When
  a peer is gone the watchdog records the failure and shuts this process's client down, and the
  next wait on a device result (a host read such as `np.asarray`, `block_until_ready`, `jit`'s
  periodic sync; they all go through `backends.xla.wait_ready`/`WAIT_HOOK`) raises
  `PeerLostError` instead of hanging in a collective that will never complete. The cpu client
  is then never freed: its destructor would join threads stuck in those collectives.
* `connect()` failing (coordinator unreachable, a peer never joining) is fatal in the same way.
  Before connecting, each process therefore checks that the coordinator's port answers, so the
  common mistakes (wrong address, process 0 not started) are a `DistributedError`. A peer that
  never starts still ends the others through XLA's fatal error after `initialization_timeout`.

`shutdown()` ends the client (a barrier with the other processes, bounded by `shutdown_timeout`)
and, in process 0, the service; it runs at exit too, so peers are never aborted by a process that
simply returned. Call it in a `finally` when a script may stop early.
"""

from __future__ import annotations

import atexit
import math
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from dsl.errors import ArgumentTypeError, ArgumentValueError, CombinaxError


class DistributedError(CombinaxError, RuntimeError):
    """Setting up, using or ending the multi-process runtime failed."""


class PeerLostError(DistributedError):
    """Another process of the job stopped (it died, or shut down while this one still ran)."""


# The coordination service, run as `python -c` in a child of process 0 so that it outlives
# process 0 long enough for the survivors to notice and shut down cleanly. It prints `ready` (or
# `error <message>`), then waits for `stop` on stdin; on end-of-file (process 0 died) it lingers
# first. SIGINT is ignored: a Ctrl-C in the terminal reaches the workers, whose exit handlers stop
# the service in order.
_SERVICE_SCRIPT = r"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
from jaxlib import _jax
address, n, heartbeat, register, shut, linger = sys.argv[1:7]
try:
    service = _jax.get_distributed_runtime_service(
        address, int(n), heartbeat_timeout=int(heartbeat), cluster_register_timeout=int(register),
        shutdown_timeout=int(shut), recoverable=True)
except Exception as e:
    print("error " + " ".join(str(e).split()), flush=True)
    sys.exit(1)
print("ready", flush=True)
if sys.stdin.readline().strip() != "stop":
    time.sleep(float(linger))
service.shutdown()
"""

_WATCH_INTERVAL = 0.5


class _State:
    """The one distributed runtime of this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.close_lock = threading.Lock()
        self.address: str | None = None
        self.process_id = 0
        self.num_processes = 1
        self.service: subprocess.Popen[bytes] | None = None
        self.client: Any = None
        self.cpu: Any = None
        self.client_closed = False
        self.stopping = threading.Event()
        self.watchdog: threading.Thread | None = None
        self.failure: str | None = None
        self.shutdown_ms = 60_000

    @property
    def active(self) -> bool:
        return self.client is not None


_STATE = _State()


def _seconds(value: float, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or \
            not math.isfinite(value):
        raise ArgumentValueError(f"distributed.initialize: {name} must be a positive number of "
                                 f"seconds, got {value!r}")
    return max(1, math.ceil(value))


def _split_address(address: str) -> tuple[str, int]:
    if not isinstance(address, str):
        raise ArgumentTypeError(f"distributed.initialize: coordinator_address must be a "
                                f"'host:port' string, got {type(address).__name__}")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ArgumentValueError(f"distributed.initialize: coordinator_address must be "
                                 f"'host:port' with a port in 1..65535, got {address!r}")
    return host.strip("[]"), int(port)


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _wait_for_port(host: str, port: int, deadline: float) -> None:
    """Return once something accepts TCP connections on host:port; DistributedError at the
    deadline (connecting to an absent coordinator would otherwise abort the process)."""
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as e:
            if time.monotonic() > deadline:
                raise DistributedError(
                    f"distributed.initialize: no coordinator answers at {host}:{port} ({e}); "
                    f"start process 0 with the same coordinator_address") from None
            time.sleep(0.1)


def _check_port_free(host: str, port: int) -> None:
    """Bind host:port once, so a port in use (or a host that is not this machine) is a clear
    error rather than a failed service start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise DistributedError(
                f"distributed.initialize: process 0 cannot serve the coordinator at "
                f"{host}:{port} ({e.strerror or e}); choose a free port on process 0's "
                f"machine") from None


def _start_service(address: str, num_processes: int, heartbeat: int, register: int, shut: int,
                   deadline: float) -> subprocess.Popen[bytes]:
    linger = 2 * heartbeat + 10
    env = dict(os.environ)
    if env.get("TF_CPP_MIN_LOG_LEVEL", "1") == "1":
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"  # hides the warning that recoverable mode is new
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVICE_SCRIPT, address, str(num_processes), str(heartbeat),
         str(register), str(shut), str(linger)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        readable, _, _ = select.select([proc.stdout], [], [], max(0.0, remaining))
        if not readable:
            _stop_service(proc, 1.0)
            raise DistributedError(f"distributed.initialize: the coordination service at "
                                   f"{address} did not start in time")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        line += chunk
    text = line.decode(errors="replace").strip()
    if text != "ready":
        _stop_service(proc, 1.0)
        why = text[len("error "):] if text.startswith("error ") else \
            f"its process exited with status {proc.returncode}"
        raise DistributedError(f"distributed.initialize: could not start the coordination "
                               f"service at {address}: {why}")
    return proc


def _stop_service(proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.write(b"stop\n")
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def initialize(coordinator_address: str, num_processes: int, process_id: int,
               local_device_count: int | None = None, *, initialization_timeout: float = 60.0,
               heartbeat_timeout: float = 10.0, shutdown_timeout: float = 60.0) -> None:
    """Join this process to a job of `num_processes` processes (each calls this with its own
    `process_id` and the same `coordinator_address`, `host:port` where process 0 runs the
    coordination service). The `cpu` backend then spans every process's devices;
    `local_device_count` is this process's (default: `configure(cpu_devices=)` or XLA_FLAGS).

    Timeouts are in seconds: joining (all processes must connect within
    `initialization_timeout`), declaring a silent peer dead (`heartbeat_timeout`; a survivor's
    next wait on a device result then raises `PeerLostError`), and the barrier at `shutdown`.
    """
    import backends
    from backends import xla

    with _STATE.lock:
        for name, v in (("num_processes", num_processes), ("process_id", process_id)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ArgumentTypeError(f"distributed.initialize: {name} must be an int, got "
                                        f"{type(v).__name__}")
        if num_processes < 1:
            raise ArgumentValueError(f"distributed.initialize: num_processes must be positive, "
                                     f"got {num_processes}")
        if not 0 <= process_id < num_processes:
            raise ArgumentValueError(f"distributed.initialize: process_id must be in "
                                     f"0..{num_processes - 1}, got {process_id}")
        if local_device_count is not None and (isinstance(local_device_count, bool) or not
                                               isinstance(local_device_count, int) or
                                               local_device_count < 1):
            raise ArgumentValueError(f"distributed.initialize: local_device_count must be a "
                                     f"positive int, got {local_device_count!r}")
        host, port = _split_address(coordinator_address)
        init = _seconds(initialization_timeout, "initialization_timeout")
        heartbeat = _seconds(heartbeat_timeout, "heartbeat_timeout")
        shut = _seconds(shutdown_timeout, "shutdown_timeout")
        if _STATE.active:
            raise DistributedError(f"distributed.initialize: already initialized (process "
                                   f"{_STATE.process_id} of {_STATE.num_processes} at "
                                   f"{_STATE.address}); a process joins one job, once")
        if backends.has_client("cpu"):
            raise DistributedError("distributed.initialize: the cpu backend is already in use "
                                   "by this process; call initialize before the first "
                                   "computation, device query or device_put")
        deadline = time.monotonic() + init
        count = local_device_count or backends.configured_cpu_devices() or \
            xla.cpu_device_count()

        service = None
        if process_id == 0:
            _check_port_free(host, port)
            service = _start_service(coordinator_address, num_processes, heartbeat, init, shut,
                                     deadline)
        try:
            _wait_for_port(host, port, deadline)
            from jaxlib import _jax, xla_client

            remaining = max(1, math.ceil(deadline - time.monotonic()))
            client = _jax.get_distributed_runtime_client(
                coordinator_address, process_id, rpc_timeout=max(heartbeat, 10),
                init_timeout=remaining, shutdown_timeout=shut, heartbeat_timeout=heartbeat,
                shutdown_on_destruction=False)
            client.connect()
        except BaseException:
            if service is not None:
                _stop_service(service, 5.0)
            raise
        _STATE.address = coordinator_address
        _STATE.process_id = process_id
        _STATE.num_processes = num_processes
        _STATE.service = service
        _STATE.client = client
        _STATE.client_closed = False
        _STATE.failure = None
        _STATE.shutdown_ms = 1000 * shut
        _STATE.stopping = threading.Event()
        atexit.register(shutdown)
        try:
            collectives = _jax.make_gloo_tcp_collectives(
                distributed_client=client, hostname=host if _is_loopback(host) else None)
            minutes = max(1, math.ceil(remaining / 60))
            cpu = xla_client.make_cpu_client(
                distributed_client=client, node_id=process_id, num_nodes=num_processes,
                collectives=collectives, num_devices=count,
                get_local_topology_timeout_minutes=minutes,
                get_global_topology_timeout_minutes=minutes)
        except BaseException:
            _shutdown_locked(barrier=False)
            raise
        _STATE.cpu = cpu
        xla.WAIT_HOOK[0] = wait
        watchdog = threading.Thread(target=_watch, args=(_STATE.stopping,),
                                    name="combinax-distributed-watchdog", daemon=True)
        _STATE.watchdog = watchdog
        watchdog.start()
    backends.install_client("cpu", cpu)


def _watch(stopping: threading.Event) -> None:
    """Ask the service which processes are alive until one is missing or we are stopping."""
    client, cpu = _STATE.client, _STATE.cpu
    ids = list(range(_STATE.num_processes))
    while not stopping.is_set():
        try:
            live = client.get_live_nodes(ids)
        except Exception as e:  # the service went away, or our client was shut down
            if stopping.is_set():
                return
            _STATE.failure = (f"lost contact with the coordination service at "
                              f"{_STATE.address}: {' '.join(str(e).split())}")
            break
        if stopping.is_set():
            return
        missing = sorted(set(ids) - set(live))
        if missing:
            which = ", ".join(str(m) for m in missing)
            _STATE.failure = (f"process {which} of {_STATE.num_processes} stopped (it died or "
                              f"shut down while process {_STATE.process_id} still ran); its "
                              f"collectives can never complete")
            break
        stopping.wait(_WATCH_INTERVAL)
    if _STATE.failure is not None and cpu is not None:
        _keep_forever(cpu)
    # Without its client, this process no longer depends on the service, which may now go away.
    _close_client()


def _keep_forever(obj: Any) -> None:
    """Never free `obj`: the destructor of a cpu client joins its worker threads, and those wait
    forever in collectives with a dead peer, so freeing it at exit would hang the process."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _close_client() -> None:
    """Shut this process's client down once (from the watchdog or from `shutdown`)."""
    with _STATE.close_lock:
        client = _STATE.client
        if client is None or _STATE.client_closed:
            return
        _STATE.client_closed = True
        try:
            client.shutdown()
        except Exception:
            pass  # a peer already gone, or the barrier timed out: nothing left to end


def shutdown() -> None:
    """Leave the job: end this process's client (a barrier with the other processes, bounded by
    `shutdown_timeout`) and, in process 0, the coordination service. Idempotent; also runs at
    exit. The distributed `cpu` client stays usable for local work only."""
    with _STATE.lock:
        _shutdown_locked()


def _shutdown_locked(barrier: bool = True) -> None:
    if not _STATE.active:
        return
    if barrier and _STATE.failure is None and _STATE.num_processes > 1 and \
            not _STATE.client_closed:
        # The service is recoverable, so the client's own shutdown does not wait for the
        # others: meet them at a barrier first, so process 0 does not stop the service while a
        # peer still needs it.
        try:
            _STATE.client.wait_at_barrier("combinax_shutdown", _STATE.shutdown_ms)
        except Exception:
            pass  # a peer is gone or late: leave anyway
    _STATE.stopping.set()
    if _STATE.failure is not None and _STATE.cpu is not None:
        _keep_forever(_STATE.cpu)
    _close_client()
    watchdog = _STATE.watchdog
    if watchdog is not None and watchdog is not threading.current_thread():
        watchdog.join(timeout=5.0)
    if _STATE.service is not None:
        _stop_service(_STATE.service, 10.0)
    _STATE.service = None
    _STATE.client = None
    _STATE.cpu = None
    _STATE.watchdog = None
    try:
        atexit.unregister(shutdown)
    except Exception:
        pass


def is_initialized() -> bool:
    """Whether this process has joined a multi-process job (and not left it)."""
    return _STATE.active


def check() -> None:
    """Raise `PeerLostError` if another process of the job has stopped."""
    failure = _STATE.failure
    if failure is not None:
        raise PeerLostError(f"distributed: {failure}")


def wait(buffers: Iterable[Any]) -> None:
    """Wait until device buffers are computed, raising `PeerLostError` (instead of waiting
    forever on a collective) once another process of the job has stopped."""
    pending = [b for b in buffers if not b.is_ready()]
    if not pending:
        return
    if not _STATE.active and _STATE.failure is None:
        for b in pending:
            b.block_until_ready()
        return
    delay = 1e-4
    while pending:
        check()
        time.sleep(delay)
        delay = min(2 * delay, 0.005)
        pending = [b for b in pending if not b.is_ready()]


__all__ = ["DistributedError", "PeerLostError", "check", "initialize", "is_initialized",
           "shutdown", "wait"]
