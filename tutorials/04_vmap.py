# %% [markdown]
# # Vectorizing with `vmap`
#
# `vmap(f)` stages `f` on one example and rewrites the program to work on a whole batch: each
# primitive's batching rule moves the batch axis, so there is no Python loop, and the result
# composes with `jit` and `grad`.
#
# Run it as a script: `python tutorials/04_vmap.py`. The test suite runs it too.

# %%
import numpy as np

import dsl as d
from interpreters import grad, jit, show, vmap


# %% [markdown]
# ## The README's pairwise distances

# %%
def l1_distance(x, y):
    assert x.ndim == y.ndim == 1  # only works on 1D inputs
    return d.sum(d.abs(x - y))


def pairwise_distances(dist1D, xs):
    return vmap(vmap(dist1D, (0, None)), (None, 0))(xs, xs)


xs = d.random.normal(d.random.key(0), (100, 3))
dists = pairwise_distances(l1_distance, xs)
print(dists.shape)  # (100, 100)
x = np.asarray(xs)
np.testing.assert_allclose(np.asarray(dists), np.abs(x[None] - x[:, None]).sum(-1), rtol=1e-6)

# %% [markdown]
# The batched program has no loop: the batch is one more axis of each operation.

# %%
show(vmap(l1_distance, (0, None)))(xs[:4], xs[0])


# %% [markdown]
# ## Per-example gradients

# %%
def loss(params, inputs, targets):
    for W, b in params:
        outputs = d.dot(inputs, W) + b
        inputs = d.tanh(outputs)
    return d.sum((outputs - targets) ** 2)


key = d.random.key(1)
params = [(d.random.normal(d.random.fold_in(key, i), (m, n)) / m ** 0.5, d.zeros(n))
          for i, (m, n) in enumerate([(3, 8), (8, 1)])]
inputs = d.random.normal(d.random.fold_in(key, 10), (16, 3))
targets = d.random.normal(d.random.fold_in(key, 11), (16, 1))
per_example_grads = jit(vmap(grad(loss), in_axes=(None, 0, 0)))
grads = per_example_grads(params, inputs, targets)
print([g.shape for layer in grads for g in layer])  # one gradient per example
g0 = grad(loss)(params, inputs[0], targets[0])
np.testing.assert_allclose(np.asarray(grads[0][0][0]), np.asarray(g0[0][0]), rtol=1e-5, atol=1e-6)


# %% [markdown]
# ## A `while_loop` with a batched predicate
#
# Each example stops at its own step: the loop runs until every lane is done, and finished lanes
# keep their values.

# %%
def halvings(x):
    return d.while_loop(lambda c: c[0] > 1.0, lambda c: (c[0] / 2, c[1] + 1), (x, 0))[1]


print(vmap(halvings)(d.asarray([0.5, 3.0, 100.0, 1000.0])))  # [ 0  2  7 10]
