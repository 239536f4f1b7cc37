"""Counter-based pseudo-random numbers: keys are values, and sampling is a pure function.

A key is a plain `u32[2]` array. Nothing is hidden or stateful: every sampler is a pure function
of its key, and the same key always gives the same numbers. To get fresh numbers, derive new
keys with `split` (several children of one key) or `fold_in` (a child named by an integer).

The generator is Threefry-2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011): a keyed bijection on pairs of 32-bit words, 20 rounds of add / rotate / xor. The
i-th random word of an array is the hash of the 64-bit counter i under the key, so every element
is computed independently of the others. The layout follows JAX's default
(`jax_threefry_partitionable=True` in jax 0.10.2): a sample of shape `s` hashes the counters
`0 .. prod(s)-1`, split into high and low 32-bit halves, elementwise over `s`; `split` keeps both
output words as the new key, `bits` xors them. So results equal `jax.random`'s bit for bit.

Everything here is derived: the hash is written with the language's own primitives (add, xor,
shifts, iota, convert, bitcast, ...) on `u32` values, so every interpreter (evaluate, staging,
lowering, vmap, differentiation) handles it without a rule of its own, and each function works
alike on concrete keys (eagerly, returning `Array`s) and on symbolic keys (while staging).

Where a sampler maps bits to floats through a transcendental function (`normal` via `erf_inv`,
`categorical` via `log`, `truncated_normal` via `erf`/`erf_inv`), the bits it draws are JAX's,
and the value equals JAX's up to the accuracy of that function on the backend that runs it.
Likewise `uniform` with bounds other than [0, 1) computes `u * (maxval - minval) + minval` with
two roundings, as written; XLA on CPU fuses it into one multiply-add, so JAX's values there may
differ in the last place (the default bounds are exact either way).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from dsl import dtypes
from dsl import lax
from dsl import ops as P
from dsl.array import Array
from dsl.core import Tracer, bind
from dsl.errors import ArgumentTypeError, ArgumentValueError, DTypeError, ShapeError
from dsl.np_elementwise import asarray, broadcast_shapes

__all__ = ["key", "split", "fold_in", "bits", "uniform", "normal", "bernoulli", "categorical",
           "permutation", "randint", "truncated_normal"]

_U32 = dtypes.uint32
_UINT_BY_BITS = {8: dtypes.uint8, 16: dtypes.uint16, 32: dtypes.uint32, 64: dtypes.uint64}
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA  # Threefry's key-schedule constant


# --------------------------------------------------------------------------------------------
# Small helpers on values


def _const(value: Any, dtype: Any) -> Array:
    """A strong rank-0 constant."""
    return Array(np.asarray(value, dtype=dtypes.canonicalize(dtype)), False)


def _u32(value: int) -> Array:
    return _const(value, _U32)


def _value(name: str, what: str, x: Any) -> Any:
    """An Array/Tracer from an argument (Python scalars and NumPy values are accepted)."""
    if type(x) in (Array, Tracer):
        return x
    try:
        return asarray(x)
    except (TypeError, ValueError) as e:
        raise ArgumentTypeError(f"random.{name}: {what} must be an array or a number, got "
                        f"{type(x).__name__} ({e})") from None


def _check_key(name: str, k: Any) -> tuple[Any, Any]:
    """The two words `(k1, k2)` (rank-0 u32) of a key, or a typed error naming `name`."""
    if type(k) not in (Array, Tracer):
        if not isinstance(k, (np.ndarray, np.generic, list, tuple)):
            raise ArgumentTypeError(f"random.{name}: key must be a u32[2] array (from d.random.key), "
                            f"got {type(k).__name__}")
        k = _value(name, "key", k)
    if k.dtype != _U32:
        raise DTypeError(f"random.{name}: key must be a u32[2] array (from d.random.key), got "
                         f"{k.type}")
    if k.shape != (2,):
        extra = " (use vmap to apply it to a batch of keys)" if k.ndim > 1 else ""
        raise ShapeError(f"random.{name}: key must be a u32[2] array (from d.random.key), got "
                         f"{k.type}{extra}")
    k1 = lax.reshape(lax.slice(k, (0,), (1,)), ())
    k2 = lax.reshape(lax.slice(k, (1,), (2,)), ())
    return k1, k2


def _shape(name: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (tuple, list)):
        items = shape
    elif isinstance(shape, np.ndarray) and shape.ndim == 1:
        items = shape.tolist()
    else:
        items = [shape]
    try:
        dims = tuple(operator.index(n) for n in items)
    except TypeError:
        raise ArgumentTypeError(f"random.{name}: shape must be an int or a sequence of ints, got "
                        f"{shape!r}") from None
    if any(n < 0 for n in dims):
        raise ShapeError(f"random.{name}: negative dimensions are not allowed: {dims}")
    return dims


def _dtype(name: str, dtype: Any, kinds: tuple[Any, ...], what: str) -> np.dtype:
    try:
        dt = dtypes.canonicalize(dtype)
    except (TypeError, ValueError) as e:
        raise DTypeError(f"random.{name}: unknown dtype {dtype!r} ({e})") from None
    if dt not in kinds:
        raise DTypeError(f"random.{name}: dtype must be {what}, got {dtypes.short_name(dt)}")
    return dt


def _fits(name: str, what: str, x: Any, shape: tuple[int, ...]) -> None:
    """`x` must broadcast to `shape` without enlarging it."""
    try:
        ok = broadcast_shapes(tuple(x.shape), shape) == shape
    except ShapeError:
        ok = False
    if not ok:
        raise ShapeError(f"random.{name}: {what} of type {x.type} does not broadcast to the "
                         f"sample shape {list(shape)}")


def _to_shape(x: Any, shape: tuple[int, ...]) -> Any:
    """`x` broadcast to `shape` (rank-0 values stay rank-0: elementwise ops take them)."""
    return x if x.shape in ((), shape) else lax.broadcast_to_rank_shape(x, shape)


# --------------------------------------------------------------------------------------------
# The Threefry-2x32 hash


def _rotate_left(x: Any, r: int) -> Any:
    return lax.binary(P.Or(), lax.binary(P.ShiftLeft(), x, _u32(r)),
                      lax.binary(P.ShiftRightLogical(), x, _u32(32 - r)))


def threefry2x32(k1: Any, k2: Any, x1: Any, x2: Any) -> tuple[Any, Any]:
    """The Threefry-2x32 hash of the counter pairs `(x1, x2)` under the key `(k1, k2)`.

    All operands are u32; `k1`, `k2` are rank-0 and `x1`, `x2` have one shape (or are rank-0).
    Twenty rounds, with the key injected after every four, as in the reference (Random123).
    """
    add, xor = P.Add(), P.Xor()
    ks = (k1, k2, lax.binary(xor, lax.binary(xor, k1, k2), _u32(_PARITY)))
    x1 = lax.binary(add, x1, ks[0])
    x2 = lax.binary(add, x2, ks[1])
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = lax.binary(add, x1, x2)
            x2 = lax.binary(xor, x1, _rotate_left(x2, r))
        x1 = lax.binary(add, x1, ks[(i + 1) % 3])
        x2 = lax.binary(add, lax.binary(add, x2, ks[(i + 2) % 3]), _u32(i + 1))
    return x1, x2


def _counters(shape: tuple[int, ...]) -> tuple[Any, Any]:
    """The row-major index of each element of `shape` as a 64-bit counter (high, low words).

    Built from one iota per dimension (not a reshaped 1-d iota), so a sharded sample computes
    its own counters locally. The high word is a rank-0 zero unless the size needs 64 bits.
    """
    size = math.prod(shape)
    if not shape or size == 0:
        return _u32(0), lax.broadcast_in_dim(_u32(0), shape, ())
    wide = size > 0xFFFFFFFF
    dt = dtypes.uint64 if wide else _U32
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    count: Any = None
    for d, stride in enumerate(strides):
        if shape[d] == 1:
            continue
        term = lax.iota(dt, shape, d)
        if stride != 1:
            term = lax.binary(P.Mul(), term, _const(stride, dt))
        count = term if count is None else lax.binary(P.Add(), count, term)
    if count is None:  # every dimension has size 1
        count = lax.broadcast_in_dim(_const(0, dt), shape, ())
    if not wide:
        return _u32(0), count
    hi = lax.convert(lax.binary(P.ShiftRightLogical(), count, _const(32, dt)), _U32)
    return hi, lax.convert(count, _U32)


def _hash_counters(k1: Any, k2: Any, shape: tuple[int, ...]) -> tuple[Any, Any]:
    hi, lo = _counters(shape)
    y1, y2 = threefry2x32(k1, k2, hi, lo)
    # a rank-0 counter pair stays rank-0 through the hash; give both words the sample's shape
    return _to_shape(y1, shape), _to_shape(y2, shape)


def _random_bits(k1: Any, k2: Any, width: int, shape: tuple[int, ...]) -> Any:
    y1, y2 = _hash_counters(k1, k2, shape)
    udt = _UINT_BY_BITS[width]
    if width == 64:
        hi = lax.binary(P.ShiftLeft(), lax.convert(y1, udt), _const(32, udt))
        return lax.binary(P.Or(), hi, lax.convert(y2, udt))
    word = lax.binary(P.Xor(), y1, y2)
    return word if width == 32 else lax.convert(word, udt)


def _stack_words(y1: Any, y2: Any) -> Any:
    nd = len(y1.shape)
    return lax.concatenate([lax.expand_dims(y1, (nd,)), lax.expand_dims(y2, (nd,))], nd)


def _split_words(k1: Any, k2: Any, shape: tuple[int, ...]) -> Any:
    y1, y2 = _hash_counters(k1, k2, shape)
    return _stack_words(y1, y2)


def _children(k1: Any, k2: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """The two keys of `split(key)`, as word pairs: row i is (y1[i], y2[i])."""
    y1, y2 = _hash_counters(k1, k2, (2,))

    def word(y: Any, i: int) -> Any:
        return lax.reshape(lax.slice(y, (i,), (i + 1,)), ())

    return (word(y1, 0), word(y2, 0)), (word(y1, 1), word(y2, 1))


# --------------------------------------------------------------------------------------------
# Keys


def key(seed: Any) -> Any:
    """A new key `u32[2]` from an integer seed (as `jax.random.PRNGKey`).

    A Python int seed is taken modulo 2**32 (as JAX does by default, in 32-bit mode); an integer
    array seed keeps its dtype: a 64-bit seed fills both words, a narrower one only the second.
    The seed may be symbolic.
    """
    if isinstance(seed, (bool, int)):
        if not -2**63 <= seed < 2**64:
            raise ArgumentValueError(f"random.key: seed {seed} does not fit in 64 bits")
        return Array(np.array([0, seed % 2**32], dtype=np.uint32), False)
    if isinstance(seed, (float, complex)):
        raise DTypeError(f"random.key: seed must be an integer, got {type(seed).__name__} "
                         f"{seed!r}")
    s = _value("key", "seed", seed)
    if not dtypes.is_integer(s.dtype):
        raise DTypeError(f"random.key: seed must be an integer scalar, got {s.type}")
    if s.shape != ():
        raise ShapeError(f"random.key: seed must be a scalar (use vmap for a batch of seeds), "
                         f"got {s.type}")
    if s.dtype.itemsize == 8:
        hi = lax.convert(lax.binary(P.ShiftRightLogical(), s, _const(32, s.dtype)), _U32)
    else:
        hi = _u32(0)
    lo = lax.convert(s, _U32)
    return lax.concatenate([lax.reshape(hi, (1,)), lax.reshape(lo, (1,))], 0)


def split(key: Any, num: Any = 2) -> Any:
    """`num` new keys from `key`: shape `(num, 2)` (or `(*num, 2)` for a tuple `num`)."""
    k1, k2 = _check_key("split", key)
    shape = _shape("split", num)
    return _split_words(k1, k2, shape)


def fold_in(key: Any, data: Any) -> Any:
    """A new key from `key` and an integer `data` (its low 32 bits; a Python int must be in
    [0, 2**32))."""
    k1, k2 = _check_key("fold_in", key)
    if isinstance(data, (bool, int)):
        if not 0 <= data < 2**32:
            raise ArgumentValueError(f"random.fold_in: data {data} is outside the uint32 range "
                             "[0, 2**32)")
        d = _u32(int(data))
    else:
        if isinstance(data, (float, complex)):
            raise DTypeError(f"random.fold_in: data must be an integer, got "
                             f"{type(data).__name__} {data!r}")
        d = _value("fold_in", "data", data)
        if not dtypes.is_integer(d.dtype):
            raise DTypeError(f"random.fold_in: data must be an integer scalar, got {d.type}")
        if d.shape != ():
            raise ShapeError(f"random.fold_in: data must be a scalar (use vmap for a batch), "
                             f"got {d.type}")
        d = lax.convert(d, _U32)
    # JAX hashes the pair (0, data) as one two-element count vector: word 0 from x1, 1 from x2
    y1, y2 = threefry2x32(k1, k2, _u32(0), d)
    return lax.concatenate([lax.reshape(y1, (1,)), lax.reshape(y2, (1,))], 0)


# --------------------------------------------------------------------------------------------
# Samplers


def bits(key: Any, shape: Any = (), dtype: Any = dtypes.uint32) -> Any:
    """Uniformly random bits: unsigned integers of `dtype` (u8, u16, u32 or u64)."""
    k1, k2 = _check_key("bits", key)
    dt = _dtype("bits", dtype, dtypes.UNSIGNED, "an unsigned integer dtype (u8, u16, u32, u64)")
    return _random_bits(k1, k2, dt.itemsize * 8, _shape("bits", shape))


def _bound(name: str, what: str, v: Any, dt: np.dtype, shape: tuple[int, ...]) -> Any:
    x = _value(name, what, v)
    if dtypes.is_complex(x.dtype):
        raise DTypeError(f"random.{name}: {what} must be real, got {x.type}")
    _fits(name, what, x, shape)
    return _to_shape(lax.convert(x, dt), shape)


def _uniform(k1: Any, k2: Any, shape: tuple[int, ...], dt: np.dtype, lo: Any, hi: Any) -> Any:
    """Floats in [lo, hi): random mantissa bits under the exponent of 1.0, then scaled."""
    fi = dtypes.finfo(dt)
    nbits, nmant = fi.bits, fi.nmant
    rng_bits = 8 if nmant < 8 else nbits  # bf16: 8 random bits, as JAX draws them
    udt = _UINT_BY_BITS[nbits]
    r = _random_bits(k1, k2, rng_bits, shape)
    if rng_bits != nbits:
        r = lax.convert(r, udt)
    mant = lax.binary(P.ShiftRightLogical(), r, _const(rng_bits - nmant, udt))
    one_bits = np.array(1.0, dtype=dt).view(udt)
    floats = lax.binary(P.Sub(), lax.bitcast(lax.binary(P.Or(), mant, _const(one_bits, udt)), dt),
                        _const(1.0, dt))
    scaled = lax.binary(P.Add(), lax.binary(P.Mul(), floats, lax.binary(P.Sub(), hi, lo)), lo)
    return _to_shape(lax.binary(P.Max(), lo, scaled), shape)


def uniform(key: Any, shape: Any = (), dtype: Any = dtypes.float32, minval: Any = 0.0,
            maxval: Any = 1.0) -> Any:
    """Floats uniform in `[minval, maxval)` (bounds broadcast to `shape`)."""
    k1, k2 = _check_key("uniform", key)
    dt = _dtype("uniform", dtype, dtypes.FLOATING, "a float dtype")
    sh = _shape("uniform", shape)
    lo = _bound("uniform", "minval", minval, dt, sh)
    hi = _bound("uniform", "maxval", maxval, dt, sh)
    return _uniform(k1, k2, sh, dt, lo, hi)


def _normal_real(k1: Any, k2: Any, shape: tuple[int, ...], dt: np.dtype) -> Any:
    # u in the open interval (-1, 1): the next float above -1, so erf_inv stays finite
    lo = -1.0 + 2.0 ** -(dtypes.finfo(dt).nmant + 1)
    u = _uniform(k1, k2, shape, dt, _const(lo, dt), _const(1.0, dt))
    return lax.binary(P.Mul(), _const(np.sqrt(2.0), dt), bind(P.ErfInv(), u))


def normal(key: Any, shape: Any = (), dtype: Any = dtypes.float32) -> Any:
    """Standard normal samples (by inverting the CDF of uniform samples, as JAX does).

    A complex dtype gives independent real and imaginary parts of variance 1/2 each.
    """
    k1, k2 = _check_key("normal", key)
    dt = _dtype("normal", dtype, dtypes.INEXACT, "a float or complex dtype")
    sh = _shape("normal", shape)
    if not dtypes.is_complex(dt):
        return _normal_real(k1, k2, sh, dt)
    rdt = dtypes.real_dtype(dt)
    (a1, a2), (b1, b2) = _children(k1, k2)
    inv = _const(np.sqrt(0.5), rdt)
    re = lax.binary(P.Mul(), _normal_real(a1, a2, sh, rdt), inv)
    im = lax.binary(P.Mul(), _normal_real(b1, b2, sh, rdt), inv)
    return lax.binary(P.Complex(), re, im)


def truncated_normal(key: Any, lower: Any, upper: Any, shape: Any = None,
                     dtype: Any = dtypes.float32) -> Any:
    """Standard normal samples conditioned on `lower < x < upper` (shape: `shape`, or the
    broadcast shape of the bounds)."""
    name = "truncated_normal"
    k1, k2 = _check_key(name, key)
    dt = _dtype(name, dtype, dtypes.FLOATING, "a float dtype")
    lo_v, hi_v = _value(name, "lower", lower), _value(name, "upper", upper)
    for what, v in (("lower", lo_v), ("upper", hi_v)):
        if dtypes.is_complex(v.dtype):
            raise DTypeError(f"random.{name}: {what} must be real, got {v.type}")
    if shape is None:
        try:
            sh = broadcast_shapes(tuple(lo_v.shape), tuple(hi_v.shape))
        except ShapeError:
            raise ShapeError(f"random.{name}: bounds {lo_v.type} and {hi_v.type} do not "
                             "broadcast together") from None
    else:
        sh = _shape(name, shape)
    lo = _bound(name, "lower", lo_v, dt, sh)
    hi = _bound(name, "upper", hi_v, dt, sh)
    sqrt2 = _const(np.sqrt(2.0), dt)
    a = bind(P.Erf(), lax.binary(P.Div(), lo, sqrt2))
    b = bind(P.Erf(), lax.binary(P.Div(), hi, sqrt2))
    u = _uniform(k1, k2, sh, dt, a, b)
    out = lax.binary(P.Mul(), sqrt2, bind(P.ErfInv(), u))
    # keep the open interval even where rounding (or u == a) lands on a bound
    above = lax.binary(P.Nextafter(), lax.stop_gradient(lo), _const(np.inf, dt))
    below = lax.binary(P.Nextafter(), lax.stop_gradient(hi), _const(-np.inf, dt))
    return _to_shape(lax.binary(P.Min(), lax.binary(P.Max(), out, above), below), sh)


def bernoulli(key: Any, p: Any = 0.5, shape: Any = None) -> Any:
    """Booleans that are True with probability `p` (a float; its dtype sets the precision)."""
    k1, k2 = _check_key("bernoulli", key)
    pv = _value("bernoulli", "p", p)
    if not dtypes.is_floating(pv.dtype):
        raise DTypeError(f"random.bernoulli: p must be a float, got {pv.type}")
    sh = tuple(pv.shape) if shape is None else _shape("bernoulli", shape)
    _fits("bernoulli", "p", pv, sh)
    dt = pv.dtype
    u = _uniform(k1, k2, sh, dt, _const(0.0, dt), _const(1.0, dt))
    return lax.binary(P.Lt(), u, _to_shape(pv, sh))


def categorical(key: Any, logits: Any, axis: int = -1, shape: Any = None) -> Any:
    """Indices (i32) drawn with probabilities `softmax(logits, axis)` (the Gumbel-max trick).

    The result has the shape of `logits` without `axis`, or `shape` (whose trailing dimensions
    must be that batch shape, broadcast; leading ones draw more samples)."""
    name = "categorical"
    k1, k2 = _check_key(name, key)
    lg = _value(name, "logits", logits)
    if not dtypes.is_floating(lg.dtype):
        raise DTypeError(f"random.{name}: logits must be floats, got {lg.type}")
    if lg.ndim == 0:
        raise ShapeError(f"random.{name}: logits must have at least one dimension, got "
                         f"{lg.type}")
    try:
        ax = operator.index(axis)
    except TypeError:
        raise ArgumentTypeError(f"random.{name}: axis must be an integer, got {axis!r}") from None
    if not -lg.ndim <= ax < lg.ndim:
        raise ShapeError(f"random.{name}: axis {ax} is out of bounds for {lg.type}")
    ax %= lg.ndim
    if lg.shape[ax] == 0:
        raise ShapeError(f"random.{name}: axis {ax} of {lg.type} has no categories")
    batch = tuple(n for i, n in enumerate(lg.shape) if i != ax)
    if shape is None:
        sh = batch
    else:
        sh = _shape(name, shape)
        try:
            ok = broadcast_shapes(sh, batch) == sh
        except ShapeError:
            ok = False
        if not ok:
            raise ShapeError(f"random.{name}: shape {list(sh)} must end in the batch shape "
                             f"{list(batch)} of logits {lg.type} (axis {ax} removed)")
    prefix = sh[:len(sh) - len(batch)]
    tail = list(sh[len(prefix):])
    tail.insert(ax, lg.shape[ax])
    full = prefix + tuple(tail)
    dt = lg.dtype
    tiny = _const(dtypes.finfo(dt).tiny, dt)
    u = _uniform(k1, k2, full, dt, tiny, _const(1.0, dt))
    gumbel = bind(P.Neg(), bind(P.Log(), bind(P.Neg(), bind(P.Log(), u))))
    lg = lax.reshape(lg, (1,) * len(prefix) + tuple(lg.shape))
    scores = lax.binary(P.Add(), gumbel, lax.broadcast_to_rank_shape(lg, full))
    return bind(P.Argmax(axis=len(prefix) + ax, index_dtype=dtypes.int32), scores)


def _shuffle(k: tuple[Any, Any], x: Any, axis: int) -> Any:
    """Sort `x` along `axis` by fresh random 32-bit keys, as many rounds as needed to make
    ties unlikely (3 log n / log 2**32 rounds, as in JAX/TensorFlow)."""
    rounds = int(np.ceil(3 * np.log(max(1, x.size)) / np.log(0xFFFFFFFF)))
    k1, k2 = k
    for _ in range(rounds):
        (k1, k2), (s1, s2) = _children(k1, k2)
        sort_keys = _random_bits(s1, s2, 32, tuple(x.shape))
        _, x = lax.sort([sort_keys, x], axis, 1)
    return x


def permutation(key: Any, x: Any, axis: int = 0) -> Any:
    """A random permutation of `arange(x)` (an int `x`), or of `x`'s slices along `axis`."""
    name = "permutation"
    k = _check_key(name, key)
    if isinstance(x, (bool, float, complex)):
        raise ArgumentTypeError(f"random.{name}: x must be an integer or an array with at least one "
                        f"dimension, got {type(x).__name__}")
    if isinstance(x, int):
        n = x
        if n < 0:
            raise ArgumentValueError(f"random.{name}: cannot permute a negative number {n} of items")
        return _shuffle(k, lax.iota(dtypes.int32, (n,), 0), 0)
    xv = _value(name, "x", x)
    if xv.ndim == 0:
        if not dtypes.is_integer(xv.dtype):
            raise DTypeError(f"random.{name}: x must be an integer or an array with at least "
                             f"one dimension, got {xv.type}")
        n = operator.index(xv)  # needs the concrete value: a ConcretizationError if symbolic
        return permutation(key, int(n), axis)
    try:
        ax = operator.index(axis)
    except TypeError:
        raise ArgumentTypeError(f"random.{name}: axis must be an integer, got {axis!r}") from None
    if not -xv.ndim <= ax < xv.ndim:
        raise ShapeError(f"random.{name}: axis {ax} is out of bounds for {xv.type}")
    ax %= xv.ndim
    if xv.ndim == 1:
        return _shuffle(k, xv, 0)
    m = xv.shape[ax]
    order = _shuffle(k, lax.iota(dtypes.int32, (m,), 0), 0)
    return lax.gather(xv, lax.reshape(order, (m, 1)), (ax,)) if ax == 0 else \
        lax.transpose(lax.gather(xv, lax.reshape(order, (m, 1)), (ax,)),
                      _gather_back(xv.ndim, ax))


def _gather_back(ndim: int, ax: int) -> tuple[int, ...]:
    """The permutation moving gather's leading (indexed) dimension back to `ax`."""
    rest = list(range(1, ndim))
    rest.insert(ax, 0)
    return tuple(rest)


def _clip_convert(x: Any, dt: np.dtype) -> Any:
    """Integer `x` converted to integer `dt`, saturating instead of wrapping."""
    src, dst = dtypes.iinfo(x.dtype), dtypes.iinfo(dt)
    lo, hi = max(int(src.min), int(dst.min)), min(int(src.max), int(dst.max))
    return lax.convert(lax.clamp(_const(lo, x.dtype), x, _const(hi, x.dtype)), dt)


def _int_bound(name: str, what: str, v: Any) -> Any:
    x = _value(name, what, v)
    if dtypes.is_integer(x.dtype):
        return lax.convert(x, x.dtype) if x.weak else x
    if dtypes.is_floating(x.dtype) or dtypes.is_bool(x.dtype):
        return lax.convert(x, dtypes.int32)  # as JAX: float bounds are truncated to int
    raise DTypeError(f"random.{name}: {what} must be an integer, got {x.type}")


def randint(key: Any, shape: Any, minval: Any, maxval: Any, dtype: Any = dtypes.int32) -> Any:
    """Integers uniform in `[minval, maxval)` (JAX's algorithm: two words per sample, reduced
    modulo the span; narrow dtypes are sampled in 32 bits)."""
    name = "randint"
    k = _check_key(name, key)
    dt = _dtype(name, dtype, dtypes.INTEGER, "an integer dtype")
    sh = _shape(name, shape)
    lo, hi = _int_bound(name, "minval", minval), _int_bound(name, "maxval", maxval)
    _fits(name, "minval", lo, sh)
    _fits(name, "maxval", hi, sh)
    info = dtypes.iinfo(dt)
    if info.bits < 32:
        i32 = dtypes.int32
        lo = lax.clamp(_const(int(info.min), i32), lax.convert(lo, i32), _const(int(info.max), i32))
        hi = lax.clamp(_const(int(info.min), i32), lax.convert(hi, i32),
                       _const(int(info.max) + 1, i32))
        return lax.convert(_randint(k, sh, lo, hi, i32), dt)
    return _randint(k, sh, lo, hi, dt)


def _randint(k: tuple[Any, Any], sh: tuple[int, ...], lo: Any, hi: Any, dt: np.dtype) -> Any:
    nbits = dtypes.iinfo(dt).bits
    udt = _UINT_BY_BITS[nbits]
    top = _clip_convert(_const(int(dtypes.iinfo(dt).max), dt), hi.dtype)
    hi_out_of_range = _to_shape(lax.binary(P.Gt(), hi, top), sh)
    lo = _to_shape(_clip_convert(lo, dt), sh)
    hi = _to_shape(_clip_convert(hi, dt), sh)
    (a1, a2), (b1, b2) = _children(*k)
    higher = _random_bits(a1, a2, nbits, sh)
    lower = _random_bits(b1, b2, nbits, sh)
    span = lax.convert(lax.binary(P.Sub(), hi, lo), udt)
    # an empty range (maxval <= minval) gives minval
    span = lax.select(lax.binary(P.Le(), hi, lo), _const(1, udt), span)
    # a maxval beyond the dtype's range stands for max+1: widen the span by one (it may wrap
    # to 0, and then the remainders below leave the offset as drawn, which is right)
    widen = lax.binary(P.And(), hi_out_of_range, lax.binary(P.Gt(), hi, lo))
    span = lax.select(widen, lax.binary(P.Add(), span, _const(1, udt)), span)
    rem, mul, add = P.Rem(), P.Mul(), P.Add()
    multiplier = lax.binary(rem, _const(2 ** (nbits // 2), udt), span)
    multiplier = lax.binary(rem, lax.binary(mul, multiplier, multiplier), span)
    offset = lax.binary(add, lax.binary(mul, lax.binary(rem, higher, span), multiplier),
                        lax.binary(rem, lower, span))
    offset = lax.binary(rem, offset, span)
    return _to_shape(lax.binary(add, lo, lax.convert(offset, dt)), sh)
