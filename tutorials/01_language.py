# %% [markdown]
# # The language: programs you can read
#
# combinax is an array language embedded in Python. Calling its functions on concrete values
# computes at once (eager mode, like NumPy); calling them inside `d.stage` builds a typed program
# instead, an explicit expression tree that every interpreter (evaluation, and later compilation,
# differentiation, vectorization, sharding) gives a meaning to. This tutorial writes a small
# pipeline with combinators, prints its tree, evaluates it, and meets a typed error.
#
# Run it as a script: `python tutorials/01_language.py`. The test suite runs it too.

# %%
import numpy as np

import dsl as d
from interpreters import evaluate

# %% [markdown]
# ## Eager mode
#
# Concrete inputs give concrete results, `d.Array`s that print and convert like NumPy arrays.
# Python scalars are *weakly typed*: `x * 2.0` keeps `x`'s float32, and the default dtypes are
# 32-bit.

# %%
x = d.linspace(0.0, 1.0, 5)
y = x * 2.0 + 1
print(y)
print(y.dtype, y.shape)
np.testing.assert_allclose(np.asarray(y), np.linspace(0, 1, 5) * 2 + 1, rtol=1e-6)

# %% [markdown]
# ## A pipeline with combinators
#
# Exponentially weighted moving averages are a `scan`: a carry (the running average) threaded
# through the rows of the input. A `cond` picks a rescaling by a runtime predicate, and a bounded
# `while_loop` halves the result until it is small. Python control flow on *known* values (here
# `decay`, a plain float) is resolved while staging and leaves no trace in the program.


# %%
def ewma(xs, decay=0.9):
    def step(avg, row):
        new = decay * avg + (1 - decay) * row
        return new, new

    _, averages = d.scan(step, d.zeros_like(xs[0]), xs)
    return averages


def pipeline(xs):
    smooth = ewma(xs)
    total = d.sum(smooth, axis=0)
    scaled = d.cond(d.max(total) > 1.0, lambda t: t / d.max(t), lambda t: t, total)
    return d.while_loop(lambda v: d.max(d.abs(v)) > 0.1, lambda v: v / 2, scaled, max_iters=32)


data = d.asarray(np.arange(12, dtype=np.float32).reshape(6, 2) / 10)
program = d.stage(pipeline)(data)
print(program)

# %% [markdown]
# The printed program is the whole meaning of `pipeline` on an `f32[6,2]` input: typed variables,
# one equation per primitive, combinator bodies as nested closed programs. It parses back into an
# equal program (equality is up to renaming of variables):

# %%
assert d.parse(str(program)) == program
d.typecheck(program)

# %% [markdown]
# ## Evaluate it
#
# `evaluate(program)` runs a program with the reference interpreter (NumPy). Running `pipeline`
# eagerly gives the same numbers; we check both against a plain NumPy loop.

# %%
staged_result = evaluate(program)(data)
eager_result = pipeline(data)

avg, rows = np.zeros(2, np.float32), []
for row in np.asarray(data):
    avg = 0.9 * avg + 0.1 * row
    rows.append(avg)
want = np.sum(rows, axis=0)
want = want / want.max() if want.max() > 1 else want
while np.abs(want).max() > 0.1:
    want = want / 2
print(staged_result, eager_result)
np.testing.assert_allclose(np.asarray(staged_result), want, rtol=1e-5)
np.testing.assert_allclose(np.asarray(eager_result), want, rtol=1e-5)

# %% [markdown]
# ## Typed errors
#
# Mistakes are reported when the program is built, in terms of types, with the line of *your*
# code that made them. A `scan` body whose carry changes shape:

# %%
def bad_step(avg, row):
    return d.concatenate([avg, row]), row  # the carry grows: f32[2] -> f32[4]


try:
    d.scan(bad_step, d.zeros(2), data)
except TypeError as e:
    print(type(e).__name__, ":", e)

# %% [markdown]
# Branching in Python on a value that is only known when the program runs is impossible while
# staging; the error says where and what to use instead:

# %%
def relu_python(v):
    if v > 0:  # v is symbolic here
        return v
    return 0 * v


try:
    d.stage(relu_python)(1.0)
except d.ConcretizationError as e:
    print(e)
print(d.stage(lambda v: d.where(v > 0, v, 0.0))(1.0))
