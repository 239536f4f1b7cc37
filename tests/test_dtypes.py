"""Promotion rules against the jax oracle.

Strong operand pairs are compared with JAX's 64-bit mode (where explicit f64/i64 exist); weak
(Python scalar) cases with its default 32-bit mode, since our defaults are 32-bit while explicit
64-bit dtypes are never truncated.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import dsl as d
from dsl import dtypes as D

jax = pytest.importorskip("jax")
jnp = jax.numpy

ALL = [D.bool_, D.int8, D.int16, D.int32, D.int64, D.uint8, D.uint16, D.uint32, D.uint64,
       D.float16, D.bfloat16, D.float32, D.float64, D.complex64, D.complex128]


@pytest.mark.parametrize("a,b", list(itertools.combinations_with_replacement(ALL, 2)))
def test_strong_promotion_matches_jax_x64(a: np.dtype, b: np.dtype) -> None:
    ours, weak = D.promote(a, False, b, False)
    assert not weak
    with jax.enable_x64(True):
        theirs = jnp.promote_types(a, b)
    assert ours == np.dtype(theirs), f"{a} + {b}: ours {ours}, jax {theirs}"
    # and the user-level operator agrees with the table
    x = d.asarray(np.zeros(2, a))
    y = d.asarray(np.zeros(2, b))
    if not (D.is_bool(a) and D.is_bool(b)):
        assert d.add(x, y).dtype == ours


NARROW = [D.bool_, D.int8, D.int32, D.uint8, D.uint32, D.float16, D.bfloat16, D.float32,
          D.complex64]


@pytest.mark.parametrize("dt", NARROW)
@pytest.mark.parametrize("scalar", [True, 3, 2.5, 1j])
def test_weak_scalar_promotion_matches_jax_x32(dt: np.dtype, scalar: object) -> None:
    theirs = (jnp.zeros(2, dt) * scalar).dtype if not isinstance(scalar, bool) else \
        jnp.logical_or(jnp.zeros(2, dt), scalar).dtype if dt == D.bool_ else \
        (jnp.zeros(2, dt) + scalar).dtype
    x = d.asarray(np.zeros(2, dt))
    if isinstance(scalar, bool):
        ours = d.logical_or(x, scalar).dtype if dt == D.bool_ else d.add(x, scalar).dtype
    else:
        ours = d.multiply(x, scalar).dtype
    assert ours == np.dtype(theirs), f"{dt} * {scalar!r}: ours {ours}, jax {theirs}"


def test_defaults_are_32_bit() -> None:
    assert d.asarray(1.0).dtype == D.float32 and d.asarray(1).dtype == D.int32
    assert d.asarray([1, 2]).dtype == D.int32 and d.asarray([1.0, 2]).dtype == D.float32
    assert d.asarray(1j).dtype == D.complex64
    assert d.asarray(2**40).dtype == D.int64  # does not fit in i32: never wrapped


def test_canonicalize_names() -> None:
    assert D.canonicalize("f32") == D.float32 and D.canonicalize("bfloat16") == D.bfloat16
    assert D.canonicalize(float) == D.float32 and D.canonicalize(np.int64) == D.int64
    with pytest.raises(d.DTypeError, match="not a dtype"):
        D.canonicalize("nonsense")
    with pytest.raises(d.DTypeError, match="not supported"):
        D.canonicalize(np.dtype("U3"))
