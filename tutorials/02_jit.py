# %% [markdown]
# # Compiling with XLA: `jit`
#
# `jit(f)` stages `f` once per argument signature, lowers the program to StableHLO, compiles it
# with XLA (through jaxlib's PJRT runtime, without the `jax` package) and runs it on a device.
# Results are `d.Array`s that stay on the device and feed back into compiled code without copies.
#
# Run it as a script: `python tutorials/02_jit.py`. The test suite runs it too.

# %%
import time

import numpy as np

import backends
import dsl as d
from interpreters import evaluate, export, jit, load

print("backend:", backends.default_backend(), backends.devices())


# %% [markdown]
# ## The README's `slow_f`
#
# Elementwise ops see a large benefit from fusion: eagerly, each op makes a 5000x5000
# intermediate; compiled, XLA fuses them into one loop.

# %%
def slow_f(x):
    return x * x + x * 2.0


x = d.ones((5000, 5000))
fast_f = jit(slow_f)
fast_f(x).block_until_ready()  # compile once


def best(fn, n=3):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn().block_until_ready()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


print(f"jit: {best(lambda: fast_f(x)):.1f} ms   eager: {best(lambda: slow_f(x)):.1f} ms")
np.testing.assert_allclose(np.asarray(fast_f(x))[:2, :2], 3.0)

# %% [markdown]
# ## What XLA receives
#
# `jit(f).lower(*args)` gives the StableHLO module; `.compile()` gives the executable with XLA's
# cost and memory analyses.

# %%
lowered = jit(lambda a, b: d.tanh(a @ b) + 1.0).lower(d.ones((2, 3)), d.ones((3, 4)))
print(lowered.as_text())
compiled = lowered.compile()
print("flops:", compiled.cost_analysis()["flops"])
print(compiled(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)))

# %% [markdown]
# A compiled function accepts exactly the types it was compiled for; anything else is a typed
# error, never a reinterpretation of the bytes:

# %%
try:
    compiled(np.ones((2, 3), np.int32), np.ones((3, 4), np.float32))
except TypeError as e:
    print(type(e).__name__, ":", e)

# %% [markdown]
# ## Caching and static arguments
#
# The cache key is the argument structure and each argument's shape, dtype and weakness. Python
# values that choose the program's shape (loop counts, flags) are marked static.

# %%
traces = []


def power(x, n):
    traces.append(n)
    for _ in range(n - 1):
        x = x * x
    return x


p = jit(power, static_argnums=1)
print(p(d.asarray([1.5, 2.0]), 3), p(d.asarray([3.0, 4.0]), 3), p(d.asarray([2.0, 2.0]), 2))
print("staged", len(traces), "times")  # twice: n=3 once, n=2 once
assert traces == [3, 2]

# %% [markdown]
# Python control flow on traced values is impossible, and the error says what to use instead:

# %%
try:
    jit(lambda v: v if v > 0 else -v)(1.0)
except d.ConcretizationError as e:
    print(e)
print(jit(lambda v: d.where(v > 0, v, -v))(-2.0))

# %% [markdown]
# ## Export and load
#
# An exported computation is a portable file (StableHLO bytecode plus the types as JSON); loading
# it runs no Python code from the file.

# %%
import os
import tempfile

exported = export(lambda a: d.cumsum(a) * 2, d.TensorType((4,), np.float32))
path = os.path.join(tempfile.mkdtemp(), "cumsum.cbx")
exported.save(path)
again = load(path)
print(again(np.arange(4, dtype=np.float32)))
np.testing.assert_allclose(np.asarray(again(np.arange(4, dtype=np.float32))),
                           np.asarray(evaluate(lambda a: d.cumsum(a) * 2)(np.arange(4.0, dtype=np.float32))))
