"""All benchmarks, one entry point: `python benchmarks/run.py [--quick] [names...]`.

Each benchmark measures ours and a peer (NumPy or `jax`) in the same process, on the same inputs,
interleaving the two so that drift in the machine's speed affects both, and prints the times and
the ratio ours / peer (lower is better). The bars are in DESIGN section 7.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


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


BENCHMARKS: dict[str, Callable[[bool], None]] = {
    "eager": bench_eager,
    "staging": bench_staging,
}


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
