# %% [markdown]
# # combinax quickstart
#
# The examples of JAX's README, in combinax: the same functions, written with `import dsl as d`
# where JAX writes `import jax.numpy as jnp`. Each one runs eagerly (like NumPy) and also as a
# staged program, the typed expression tree that combinax's interpreters work on.
# Run: `python tutorials/quickstart.py`.

# %%
import os

# 8 CPU devices for the Scaling section (set before any client exists, as with JAX)
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"

import numpy as np

import dsl as d
from interpreters import evaluate, grad, jit, vmap


# %% [markdown]
# ## The README's `tanh`
#
# Eagerly, `tanh(1.0)` is a number; staged, it is a program of four equations on a weakly typed
# float (a Python scalar input, printed `~f32[]`).

# %%
def tanh(x):
    y = d.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


print(tanh(1.0))  # prints 0.7615941, as JAX does in float32
print(d.stage(tanh)(1.0))
assert abs(float(tanh(1.0)) - np.tanh(1.0)) < 1e-6

# %% [markdown]
# Its derivatives, to any order, as in the README:

# %%
grad_tanh = grad(tanh)
print(grad_tanh(1.0))  # prints 0.4199743
print(grad(grad(grad(tanh)))(1.0))  # 0.6216266; JAX prints 0.62162673, one float32 ulp away


def abs_val(x):
    if x > 0:
        return x
    else:
        return -x


abs_val_grad = grad(abs_val)
print(abs_val_grad(1.0))   # prints 1.0
print(abs_val_grad(-1.0))  # prints -1.0 (abs_val is re-evaluated)


# %% [markdown]
# ## The README's network: `predict` and `loss`
#
# Parameters come from counter-based random keys (`d.random`, the same streams as
# `jax.random`). The loss runs eagerly, and staged then evaluated, with the same result.

# %%
def predict(params, inputs):
    for W, b in params:
        outputs = d.dot(inputs, W) + b
        inputs = d.tanh(outputs)  # inputs to the next layer
    return outputs  # no activation on last layer


def loss(params, inputs, targets):
    preds = predict(params, inputs)
    return d.sum((preds - targets) ** 2)


def init_params(key, sizes):
    params = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        key, wkey = d.random.split(key)
        params.append((d.random.normal(wkey, (m, n)) / m ** 0.5, d.zeros(n)))
    return params


key = d.random.key(0)
params = init_params(key, [4, 8, 2])
inputs = d.random.normal(d.random.fold_in(key, 1), (5, 4))
targets = d.random.normal(d.random.fold_in(key, 2), (5, 2))

grad_loss = jit(grad(loss))  # compiled gradient evaluation function
perex_grads = jit(vmap(grad_loss, in_axes=(None, 0, 0)))  # fast per-example grads
grads = grad_loss(params, inputs, targets)
print("gradient shapes", [(g_w.shape, g_b.shape) for g_w, g_b in grads])
print("per-example", [(g_w.shape, g_b.shape) for g_w, g_b in perex_grads(params, inputs, targets)])

eager_loss = loss(params, inputs, targets)
staged_loss = evaluate(loss)(params, inputs, targets)
print("loss", eager_loss, staged_loss)

ref = np.asarray(inputs, np.float64)
for W, b in params:
    out = ref @ np.asarray(W, np.float64) + np.asarray(b)
    ref = np.tanh(out)
np_loss = np.sum((out - np.asarray(targets)) ** 2)
np.testing.assert_allclose(float(eager_loss), np_loss, rtol=1e-5)
np.testing.assert_allclose(float(staged_loss), np_loss, rtol=1e-5)

# %% [markdown]
# ## Pairwise distances with nested `vmap`

# %%
def l1_distance(x, y):
    assert x.ndim == y.ndim == 1  # only works on 1D inputs
    return d.sum(d.abs(x - y))


def pairwise_distances(dist1D, xs):
    return vmap(vmap(dist1D, (0, None)), (None, 0))(xs, xs)


xs = d.random.normal(d.random.key(0), (100, 3))
dists = pairwise_distances(l1_distance, xs)
print(dists.shape)  # (100, 100)
x_np = np.asarray(xs)
np.testing.assert_allclose(np.asarray(dists), np.abs(x_np[None] - x_np[:, None]).sum(-1),
                           rtol=1e-6)

# %% [markdown]
# ## Control flow as combinators
#
# Loops whose trip count depends on data are `while_loop`s; here, Newton's method for a square
# root, with a bound on the iterations.

# %%
def newton_sqrt(a):
    def body(state):
        x, _ = state
        nxt = 0.5 * (x + a / x)
        return nxt, d.abs(nxt - x)

    x, _ = d.while_loop(lambda s: d.max(s[1]) > 1e-6, body, (a, d.ones_like(a)), max_iters=50)
    return x


print(newton_sqrt(d.asarray([2.0, 9.0, 0.25])))  # [1.4142135 3. 0.5]
np.testing.assert_allclose(np.asarray(newton_sqrt(d.asarray([2.0, 9.0, 0.25]))),
                           np.sqrt([2.0, 9.0, 0.25]), rtol=1e-6)


# %% [markdown]
# ## Scaling: the README's sharded training gradient
#
# A mesh of the 8 devices with an `Explicit` axis: parameters sharded FSDP-style, the batch
# sharded for data parallelism, `jit(grad(loss))` parallelized by XLA. Shardings are part of
# the types. More in `tutorials/05_sharding.py`.

# %%
from backends import device_put
from dsl import AxisType, P

big = init_params(key, [784, 512, 512, 10])
batch_in = d.random.normal(d.random.fold_in(key, 3), (128, 784))
batch_out = d.random.normal(d.random.fold_in(key, 4), (128, 10))
one_device = grad(loss)(big, batch_in, batch_out)

mesh = d.make_mesh((8,), ('data',), axis_types=(AxisType.Explicit,))
with d.set_mesh(mesh):
    big = [(device_put(W, P('data')), device_put(b, P())) for W, b in big]
    print(d.typeof(big[1][0]))  # f32[512@data,512]
    print(d.typeof(big[1][1]))  # f32[512]
    batch_in, batch_out = device_put((batch_in, batch_out), P('data'))
    param_grads = jit(grad(loss))(big, batch_in, batch_out)
for (gW, gb), (rW, rb) in zip(param_grads, one_device):
    np.testing.assert_allclose(np.asarray(gW), np.asarray(rW), rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(gb), np.asarray(rb), rtol=2e-4, atol=1e-5)
print("sharded gradients equal the single-device ones:", d.typeof(param_grads[0][0]))
