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


# %% [markdown]
# ## Named axes and collectives
#
# `vmap(f, axis_name='i')` names the batch axis while `f` is staged, so `f` can compute *across*
# the batch with the collectives of `jax.lax` (`d.psum`, `d.pmean`, `d.all_gather`,
# `d.ppermute`, `d.all_to_all`, `d.psum_scatter`, `d.axis_index`). Each example sees one value;
# the collective sees them all. vmap turns each collective into an operation on the batch axis
# (a sum, a transpose, a gather), so the batched program has none left.

# %%
def standardize(x):
    centered = x - d.pmean(x, "i")
    return centered / d.sqrt(d.pmean(centered ** 2, "i"))


batch = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
z = vmap(standardize, axis_name="i")(batch)
np.testing.assert_allclose(np.asarray(z), (batch - batch.mean(0)) / batch.std(0), rtol=1e-5,
                           atol=1e-6)
show(vmap(standardize, axis_name="i"))(batch)

# %% [markdown]
# `ppermute` sends example `src`'s value to example `dst`; `axis_index` numbers the examples.
# Nested vmaps give two names, and a collective over both acts on the whole grid, numbered
# row-major.

# %%
rotate = vmap(lambda x: d.ppermute(x, "i", [(k, (k + 1) % 8) for k in range(8)]), axis_name="i")
np.testing.assert_array_equal(np.asarray(rotate(batch)), np.roll(batch, 1, axis=0))

grid = np.arange(6.0, dtype=np.float32).reshape(2, 3)
total = vmap(vmap(lambda x: d.psum(x, ("i", "j")), axis_name="j"), axis_name="i")(grid)
position = vmap(vmap(lambda x: d.axis_index(("i", "j")), axis_name="j"), axis_name="i")(grid)
print(total)
print(position)  # [[0 1 2] [3 4 5]]
np.testing.assert_array_equal(np.asarray(total), np.full((2, 3), grid.sum()))
np.testing.assert_array_equal(np.asarray(position), np.arange(6).reshape(2, 3))

# %% [markdown]
# Collectives differentiate like any other operation: the transpose of a `psum` is a `psum`,
# of an `all_gather` a `psum_scatter`, of a `ppermute` the inverse permutation.

# %%
g = grad(lambda xs: d.sum(vmap(standardize, axis_name="i")(xs)[:, 0] * d.arange(8.0)))(batch)
centered = batch[:, 0] - batch[:, 0].mean()
sd = centered.std()
w = np.arange(8.0) - np.arange(8.0).mean()  # d/dx of sum(w * (x - mean) / sd)
expected = (w - centered * (w @ centered) / (8 * sd ** 2)) / sd
np.testing.assert_allclose(np.asarray(g)[:, 0], expected, rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(np.asarray(g)[:, 1:], 0.0, atol=1e-6)
