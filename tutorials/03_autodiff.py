# %% [markdown]
# # Derivatives: `grad`, `jvp`, `vjp` and friends
#
# Differentiation in combinax is an interpreter over staged programs: `grad(f)` stages `f` on its
# argument (with the value known, so Python control flow works), runs the program forward keeping
# what reverse mode needs, and walks it backwards with one rule per primitive. Derivatives are
# programs too, so they print, compile with `jit`, and can be differentiated again.
#
# Run it as a script: `python tutorials/03_autodiff.py`. The test suite runs it too.

# %%
import numpy as np

import dsl as d
from interpreters import (checkpoint, custom_vjp, grad, hessian, jit, jvp, laws, show,
                          value_and_grad, vjp)


# %% [markdown]
# ## The README's `tanh`

# %%
def tanh(x):
    y = d.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


grad_tanh = grad(tanh)
print(grad_tanh(1.0))  # prints 0.4199743
print(grad(grad(grad(tanh)))(1.0))  # 0.6216266; JAX prints 0.62162673, one float32 ulp away
assert abs(float(grad_tanh(1.0)) - (1 - np.tanh(1.0) ** 2)) < 1e-6


# %% [markdown]
# ## Python control flow
#
# Outside `jit`, the argument's value is known while staging, so `if x > 0` picks a branch and the
# program is specialised to it (and staged again for the next call).

# %%
def abs_val(x):
    if x > 0:
        return x
    else:
        return -x


abs_val_grad = grad(abs_val)
print(abs_val_grad(1.0))   # prints 1.0
print(abs_val_grad(-1.0))  # prints -1.0 (abs_val is re-evaluated)

# %% [markdown]
# ## The gradient is a program
#
# `show` prints the program of any stack of transforms:

# %%
show(grad(lambda x: d.sin(x) * x))(0.5)

# %% [markdown]
# ## Hessian-vector products
#
# Forward over reverse: the jvp of the gradient along `v`, without forming the Hessian.

# %%
def f(x):
    return d.sum(d.sin(x) * x ** 2)


def hvp(f, x, v):
    return jvp(grad(f), (x,), (v,))[1]


x = d.asarray([0.1, 0.5, 1.0])
v = d.asarray([1.0, 0.0, -1.0])
print(hvp(f, x, v))
np.testing.assert_allclose(np.asarray(hvp(f, x, v)), np.asarray(hessian(f)(x)) @ np.asarray(v),
                           rtol=1e-5)


# %% [markdown]
# ## A custom rule
#
# `log1pexp(x) = log(1 + exp(x))` overflows its naive gradient for large `x`. A `custom_vjp` gives
# a stable rule; unlike JAX, the same rule also serves forward mode (combinax transposes it).

# %%
@custom_vjp
def log1pexp(x):
    return d.log1p(d.exp(x))


def log1pexp_fwd(x):
    return log1pexp(x), x


def log1pexp_bwd(x, ct):
    return (ct * (1.0 - 1.0 / (1.0 + d.exp(x))),)


log1pexp.defvjp(log1pexp_fwd, log1pexp_bwd)
print(grad(log1pexp)(100.0), jvp(log1pexp, (100.0,), (1.0,))[1])  # 1.0 1.0, not nan


# %% [markdown]
# ## Through `scan`, and checkpointing
#
# Reverse mode through a `scan` runs a reverse scan over the saved carries. `checkpoint` trades
# memory for time: its body is recomputed on the way back instead of kept.

# %%
def rnn_loss(w, xs):
    step = checkpoint(lambda h, x: d.tanh(w * h + x))

    def body(h, x):
        h = step(h, x)
        return h, h

    _, hs = d.scan(body, d.zeros_like(xs[0]), xs)  # the carry takes the inputs' dtype
    return d.sum(hs ** 2)


xs = d.linspace(-1.0, 1.0, 16)
loss, g = value_and_grad(rnn_loss)(0.5, xs)
print(loss, g)
print(jit(grad(rnn_loss))(0.5, xs))
laws.check_grads(rnn_loss, (np.float32(0.5), np.asarray(xs)), order=1)

# %% [markdown]
# Reverse mode through a `while_loop` needs a bound on its iterations (then it works, with a bounded
# loop, which JAX does not offer):

# %%
def halve_until_small(x):
    return d.while_loop(lambda v: v > 1.0, lambda v: v * 0.5, x, max_iters=64)


print(grad(halve_until_small)(37.0))  # 2**-6: the loop ran six times
