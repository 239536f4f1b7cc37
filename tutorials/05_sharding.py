# %% [markdown]
# # Sharding: one program over many devices
#
# Three ways to spread a computation over a mesh of devices, as in JAX's README:
#
# | mode     | view       | shardings in the types | collectives written by you |
# |----------|------------|------------------------|----------------------------|
# | Auto     | global     | no                     | no                         |
# | Explicit | global     | yes                    | no                         |
# | Manual   | per device | yes                    | yes (`shard_map`)          |
#
# On a laptop, ask XLA for 8 CPU devices before anything makes a client (the habit JAX users
# have); the same script runs unchanged on 8 GPUs.

# %%
import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"

import numpy as np

import backends
import dsl as d
from backends import device_put
from dsl import AxisType, P
from interpreters import grad, jit, shard_map

print(backends.devices())


# %% [markdown]
# ## Explicit mode: the README's Scaling example
#
# The MLP and its loss are the README's. Parameters are sharded FSDP-style (each weight's rows
# split over `data`), the batch is sharded for data parallelism, and `jit(grad(loss))` runs
# in parallel. With `Explicit` axes the shardings are part of the types: `d.typeof` prints them.

# %%
def loss(params, inputs, targets):
    for W, b in params:
        outputs = d.dot(inputs, W) + b
        inputs = d.tanh(outputs)
    return d.sum((outputs - targets) ** 2)


sizes = [784, 512, 512, 10]
keys = d.random.split(d.random.key(0), 5)
params = [(d.random.normal(k, (m, n)) / m ** 0.5, d.zeros(n))
          for k, m, n in zip(keys, sizes[:-1], sizes[1:])]
inputs = d.random.normal(keys[3], (128, 784))
targets = d.random.normal(keys[4], (128, 10))
unsharded = grad(loss)(params, inputs, targets)  # for comparison below

mesh = d.make_mesh((8,), ('data',), axis_types=(AxisType.Explicit,))
d.set_mesh(mesh)

# parameters are sharded for FSDP:
params = [(device_put(W, P('data')), device_put(b, P())) for W, b in params]
for W, b in params:
    print(f'{d.typeof(W)}')  # f32[784@data,512], then f32[512@data,512], f32[512@data,10]
    print(f'{d.typeof(b)}')  # f32[512]
assert str(d.typeof(params[1][0])) == "f32[512@data,512]"

# shard data for batch parallelism:
inputs, targets = device_put((inputs, targets), P('data'))
print(d.typeof(inputs))  # f32[128@data,784]

# evaluate gradients, automatically parallelized!
gradfun = jit(grad(loss))
param_grads = gradfun(params, inputs, targets)

for (gW, gb), (uW, ub), (W, b) in zip(param_grads, unsharded, params):
    assert d.typeof(gW) == d.typeof(W)  # each gradient has its parameter's sharded type
    np.testing.assert_allclose(np.asarray(gW), np.asarray(uW), rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(gb), np.asarray(ub), rtol=2e-4, atol=1e-5)
print([str(d.typeof(gW)) for gW, _ in param_grads])
print(len(param_grads[0][0].addressable_shards), "shards of",
      param_grads[0][0].addressable_shards[0].data.shape)


# %% [markdown]
# Each device holds one slice: the first weight gradient's 784 rows come as 8 pieces of 98.
#
# ## Sharded types in the program
#
# Shardings are derived by a rule per primitive while the program is built, so the staged
# program shows them on every value:

# %%
def layer(x, W):
    return d.tanh(x @ W)


x = device_put(d.ones((16, 8)), P('data'))
w = device_put(d.ones((8, 4)), P())
print(d.stage(layer)(x, w))

# %% [markdown]
# A result that would need one mesh axis twice is an error at build time, naming the types and
# the fix, instead of a silent all-gather:

# %%
try:
    d.stage(lambda x: x @ x.T)(x)
except d.ShardingError as e:
    print(type(e).__name__, str(e).splitlines()[0][:120])
    assert "reshard" in str(e)

y = jit(lambda x: d.reshard(x, P()) @ x.T)(x)  # gather one side explicitly
print(d.typeof(y))  # f32[16,16@data]
np.testing.assert_allclose(np.asarray(y), np.full((16, 16), 8.0))


# %% [markdown]
# ## Auto mode: XLA decides
#
# On an `Auto` mesh (the default axis type) shardings stay out of the types; inputs placed on the
# mesh and optional `with_sharding_constraint` hints go to XLA's partitioner, and the shardings
# it picks for the results are read back.

# %%
auto = d.make_mesh((2, 4), ('batch', 'model'))
a = device_put(np.arange(32.0, dtype=np.float32).reshape(8, 4), d.NamedSharding(auto, P('batch')))


@jit
def scale(a):
    return d.with_sharding_constraint(a * 2.0, d.NamedSharding(auto, P('batch', 'model')))


out = scale(a)
print(d.typeof(out), out.sharding)
np.testing.assert_array_equal(np.asarray(out), np.arange(32.0).reshape(8, 4) * 2.0)


# %% [markdown]
# ## Manual mode: `shard_map` and collectives
#
# `shard_map` runs a function once per device on that device's shard; collectives (`d.psum`,
# `d.all_gather`, `d.ppermute`, ...) communicate across a mesh axis by name. The same collectives
# work across the examples of a `vmap(..., axis_name=...)`.

# %%
xs = np.arange(64.0, dtype=np.float32)


@jit
def total(xs):
    return shard_map(lambda shard: d.psum(d.sum(shard), 'data'),
                     mesh=mesh, in_specs=P('data'), out_specs=P())(xs)


print(total(xs))  # 2016.0: each device sums its 8 numbers, psum adds the 8 partial sums
assert float(np.asarray(total(xs))) == xs.sum()


def ring_shift(shard):
    n = 8
    return d.ppermute(shard, 'data', perm=[(i, (i + 1) % n) for i in range(n)])


shifted = shard_map(ring_shift, mesh=mesh, in_specs=P('data'), out_specs=P('data'))(xs)
np.testing.assert_array_equal(np.asarray(shifted), np.roll(xs, 8))
d.set_mesh(None)


# %% [markdown]
# ## Several processes
#
# The same script runs over several hosts (or several processes on one machine): call
# `backends.distributed.initialize` first in every process, then build the mesh over all
# global devices. Each process places and reads only its own shards.
#
# ```python
# import backends
# backends.distributed.initialize("127.0.0.1:12345", num_processes=2, process_id=PID,
#                                 local_device_count=4)
# print(backends.process_index(), len(backends.devices()), len(backends.local_devices()))  # 8, 4
# mesh = d.make_mesh((8,), ('data',))    # the 8 global devices
# ...                                    # device_put, jit, grad as above
# backends.distributed.shutdown()        # also done at exit
# ```
#
# Run it as `python script.py 0 & python script.py 1` with PID taken from the command line.
