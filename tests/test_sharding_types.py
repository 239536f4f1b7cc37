"""Explicit shardings in types: the sharding rules of every primitive, `sharding_constraint`
(`d.reshard`, `d.with_sharding_constraint`) in every interpreter, and the laws.

Programs are staged on `TensorType`s carrying shardings under a (8,) `data` mesh and a (2, 4)
`data`/`model` mesh of Explicit axes. Output shardings are checked against JAX's explicit mode
(`jax.eval_shape` on `ShapeDtypeStruct`s with `NamedSharding`s under `jax.set_mesh`) wherever
the semantics agree, and against hand-derived layouts where this library decides differently
(documented in `dsl/sharding_rules.py`). Values: a sharded program equals the unsharded one
(evaluate and XLA), and gradients equal JAX's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import backends  # noqa: F401  (devices for make_mesh)
import dsl as d
from dsl import P, lax
from dsl import ops as O
from dsl.errors import ShardingError
from dsl.ir import OPS, Program
from dsl.sharding_rules import REPLICATED, RULES
from dsl.typecheck import typecheck
from dsl.types import TensorType
from interpreters import grad, jvp, vjp, vmap
from interpreters.evaluate import eval_program
from interpreters.lower import lower_program, run_on_cpu

E = d.AxisType.Explicit
MESH1 = d.make_mesh((8,), ("data",), axis_types=(E,))
MESH2 = d.make_mesh((2, 4), ("data", "model"), axis_types=(E, E))
JMESH2 = jax.make_mesh((2, 4), ("data", "model"),
                       axis_types=(jax.sharding.AxisType.Explicit,) * 2)
HERE = os.path.basename(__file__)
F32 = np.float32


def T(shape: tuple[int, ...], *spec: Any, dtype: Any = F32) -> TensorType:
    """A type of `shape` split as `P(*spec)` (unsharded when `spec` is empty)."""
    s = P(*spec).padded(len(shape)) if spec else None
    return TensorType(shape, dtype, False, s if s and any(s) else None)


def out_types(fn: Callable[..., Any], *types: TensorType, mesh: Any = MESH2
              ) -> tuple[TensorType, ...]:
    with d.set_mesh(mesh):
        p = d.stage(fn)(*types)
        typecheck(p)
    return p.out_types


def stage(fn: Callable[..., Any], *types: TensorType, mesh: Any = MESH2) -> Program:
    with d.set_mesh(mesh):
        p = d.stage(fn)(*types)
        typecheck(p)
    return p


def norm(parts: Any, ndim: int) -> tuple[tuple[str, ...], ...]:
    """Per-dimension axes from a P / per-dimension tuples / None."""
    if parts is None:
        return ((),) * ndim
    out = []
    for e in tuple(parts) + (None,) * (ndim - len(tuple(parts))):
        out.append(() if e is None else (e,) if isinstance(e, str) else tuple(e))
    return tuple(out)


def jax_parts(fn: Callable[..., Any], *types: TensorType) -> Any:
    """JAX's explicit-mode output sharding of `fn` on arguments of these types (or the
    exception it raises)."""
    args = []
    for t in types:
        spec = jax.sharding.PartitionSpec(*(a if a else None for a in norm(t.sharding, t.ndim)))
        args.append(jax.ShapeDtypeStruct(t.shape, t.dtype,
                                         sharding=jax.sharding.NamedSharding(JMESH2, spec)))
    with jax.set_mesh(JMESH2):
        out = jax.eval_shape(fn, *args)
    return norm(out.sharding.spec, len(out.shape))


# ----------------------------------------------------------------------------------------------
# The headline cases


def test_matmul_keeps_batch_and_feature_axes() -> None:
    (t,) = out_types(lambda x, w: x @ w, T((8, 4), "data"), T((4, 16), None, "model"))
    assert str(t) == "f32[8@data,16@model]"
    assert t.sharding == (("data",), ("model",))


def test_one_dimensional_mesh() -> None:
    (t,) = out_types(lambda x, w: d.tanh(x @ w), T((16, 4), "data"), T((4, 3)), mesh=MESH1)
    assert str(t) == "f32[16@data,3]"


def test_x_times_x_transpose_is_a_sharding_error_naming_op_types_line_and_fix() -> None:
    with d.set_mesh(MESH1), pytest.raises(ShardingError) as e:
        d.stage(lambda x: x @ x.T)(T((8, 4), "data"))
    msg = str(e.value)
    for part in ("dot_general", "f32[8@data,4]", "f32[4,8@data]", "f32[8@data,8@data]",
                 "reshard", HERE):
        assert part in msg, (part, msg)


# ----------------------------------------------------------------------------------------------
# Rule families against JAX's explicit mode

X = T((8, 4), "data")
XM = T((8, 4), None, "model")
XDM = T((8, 4), "data", "model")
I3 = T((3,), dtype=np.int32)

AGREE: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple[TensorType, ...]]] = [
    ("add replicated", lambda a, b: a + b, lambda a, b: a + b, (X, T((8, 4)))),
    ("add both", lambda a, b: a * b, lambda a, b: a * b, (X, XM)),
    ("broadcast row", lambda a, b: a + b, lambda a, b: a + b, (X, T((4,), "model"))),
    ("scalar", lambda a: a * 2.0 + 1.0, lambda a: a * 2.0 + 1.0, (XDM,)),
    ("unary", lambda a: d.exp(d.sin(a)), lambda a: jnp.exp(jnp.sin(a)), (XDM,)),
    ("compare", lambda a, b: a < b, lambda a, b: a < b, (X, XM)),
    ("cast", lambda a: a.astype(np.int32), lambda a: a.astype(jnp.int32), (XDM,)),
    ("sum sharded dim", lambda a: d.sum(a, axis=0), lambda a: jnp.sum(a, axis=0), (XDM,)),
    ("sum all", lambda a: d.sum(a), lambda a: jnp.sum(a), (XDM,)),
    ("max", lambda a: d.max(a, axis=1), lambda a: jnp.max(a, axis=1), (XDM,)),
    ("argmax", lambda a: d.argmax(a, axis=0), lambda a: jnp.argmax(a, axis=0), (XDM,)),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, (X, T((4, 16), None, "model"))),
    ("one-sided contraction", lambda a, b: a @ b, lambda a, b: a @ b,
     (XM, T((4, 16)))),
    ("batch dot", lambda a, b: d.einsum("bij,bjk->bik", a, b),
     lambda a, b: jnp.einsum("bij,bjk->bik", a, b),
     (T((2, 8, 4), "data"), T((2, 4, 4)))),
    ("transpose", lambda a: a.T, lambda a: a.T, (XDM,)),
    ("broadcast_to", lambda a: d.broadcast_to(a[None], (3, 8, 4)),
     lambda a: jnp.broadcast_to(a[None], (3, 8, 4)), (XDM,)),
    ("outer", lambda a, b: a[:, None] * b[None, :], lambda a, b: a[:, None] * b[None, :],
     (T((8,), "data"), T((4,), "model"))),
    ("reshape merge", lambda a: d.reshape(a, (32,)), lambda a: a.reshape(32), (X,)),
    ("reshape merge lead", lambda a: d.reshape(a, (32, 2)), lambda a: a.reshape(32, 2),
     (T((8, 4, 2), "data"),)),
    ("reshape split", lambda a: d.reshape(a, (2, 4, 4)), lambda a: a.reshape(2, 4, 4), (X,)),
    ("reshape split two axes", lambda a: d.reshape(a, (2, 4, 4)),
     lambda a: a.reshape(2, 4, 4), (T((8, 4), ("data", "model")),)),
    ("reshape unit dims", lambda a: d.reshape(a, (8, 1, 4)), lambda a: a.reshape(8, 1, 4),
     (XDM,)),
    ("reshape 3->2", lambda a: d.reshape(a, (8, 4)), lambda a: a.reshape(8, 4),
     (T((2, 4, 4), "data", "model"),)),
    ("squeeze/expand", lambda a: d.squeeze(d.expand_dims(a, 1), 1),
     lambda a: jnp.squeeze(jnp.expand_dims(a, 1), 1), (XDM,)),
    ("slice unsharded", lambda a: a[:, 1:3], lambda a: a[:, 1:3], (X,)),
    ("slice sharded", lambda a: a[2:6], lambda a: a[2:6], (X,)),
    ("pad", lambda a: d.pad(a, ((1, 1), (0, 0))), lambda a: jnp.pad(a, ((1, 1), (0, 0))), (X,)),
    ("concat sharded", lambda a: d.concatenate([a, a], 0),
     lambda a: jnp.concatenate([a, a], 0), (X,)),
    ("concat other", lambda a: d.concatenate([a, a], 1),
     lambda a: jnp.concatenate([a, a], 1), (X,)),
    ("flip", lambda a: d.flip(a, 0), lambda a: jnp.flip(a, 0), (X,)),
    ("cumsum", lambda a: d.cumsum(a, axis=1), lambda a: jnp.cumsum(a, axis=1), (X,)),
    ("sort", lambda a: d.sort(a, axis=1), lambda a: jnp.sort(a, axis=1), (X,)),
    ("gather columns", lambda a, i: a[:, i], lambda a, i: a[:, i], (X, I3)),
    ("scatter columns", lambda a, i, u: a.at[:, i].set(u),
     lambda a, i, u: a.at[:, i].set(u), (X, I3, T((8, 3), "data"))),
    ("dynamic slice", lambda a, i: lax.dynamic_slice(a, (i, 0), (2, 4)),
     lambda a, i: jax.lax.dynamic_slice(a, (i, 0), (2, 4)), (X, T((), dtype=np.int32))),
    ("dynamic update slice", lambda a, u, i: lax.dynamic_update_slice(a, u, (0, i)),
     lambda a, u, i: jax.lax.dynamic_update_slice(a, u, (0, i)),
     (X, T((8, 2), "data"), T((), dtype=np.int32))),
    ("fori_loop", lambda a: d.fori_loop(0, 3, lambda i, c: c * 2.0, a),
     lambda a: jax.lax.fori_loop(0, 3, lambda i, c: c * 2.0, a), (X,)),
    ("scan carry", lambda c, xs: d.scan(lambda c, x: (c + x, c * x), c, xs)[0],
     lambda c, xs: jax.lax.scan(lambda c, x: (c + x, c * x), c, xs)[0],
     (T((4,), "model"), T((8, 4), None, "model"))),
    ("scan ys", lambda c, xs: d.scan(lambda c, x: (c + x, c * x), c, xs)[1],
     lambda c, xs: jax.lax.scan(lambda c, x: (c + x, c * x), c, xs)[1],
     (T((4,), "model"), T((8, 4), None, "model"))),
    ("while", lambda a: d.while_loop(lambda c: d.sum(c) < 10.0, lambda c: c + 1.0, a),
     lambda a: jax.lax.while_loop(lambda c: jnp.sum(c) < 10.0, lambda c: c + 1.0, a), (X,)),
]


@pytest.mark.parametrize("name,ours,theirs,types", AGREE, ids=[a[0] for a in AGREE])
def test_rules_agree_with_jax(name: str, ours: Callable[..., Any], theirs: Callable[..., Any],
                              types: tuple[TensorType, ...]) -> None:
    (t,) = out_types(ours, *types)
    assert norm(t.sharding, t.ndim) == jax_parts(theirs, *types), (name, t)


REFUSE: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple[TensorType, ...]]] = [
    ("conflicting add", lambda a, b: a + b, lambda a, b: a + b, (X, T((8, 4), "model"))),
    ("outer on one axis", lambda a, b: a[:, None] * b[None, :],
     lambda a, b: a[:, None] * b[None, :], (T((8,), "data"), T((8,), "data"))),
    ("contract different axes", lambda a, b: a @ b, lambda a, b: a @ b,
     (XM, T((4, 16), "data"))),
    ("batch dims disagree", lambda a, b: d.einsum("bij,bjk->bik", a, b),
     lambda a, b: jnp.einsum("bij,bjk->bik", a, b),
     (T((4, 8, 4), "data"), T((4, 4, 4), "model"))),
    ("reshape merge non-leading", lambda a: d.reshape(a, (32,)), lambda a: a.reshape(32),
     (XM,)),
    ("reshape split too small", lambda a: d.reshape(a, (8, 2, 2)),
     lambda a: a.reshape(8, 2, 2), (XM,)),
    ("reshape split uneven", lambda a: d.reshape(a, (4, 2, 4)),
     lambda a: a.reshape(4, 2, 4), (T((8, 4), ("data", "model")),)),
    ("slice uneven", lambda a: a[1:4], lambda a: a[1:4], (X,)),
    ("pad uneven", lambda a: d.pad(a, ((1, 0), (0, 0))), lambda a: jnp.pad(a, ((1, 0), (0, 0))),
     (X,)),
    ("cumsum sharded", lambda a: d.cumsum(a, axis=0), lambda a: jnp.cumsum(a, axis=0), (X,)),
    ("sort sharded", lambda a: d.sort(a, axis=0), lambda a: jnp.sort(a, axis=0), (X,)),
    ("scan sharded xs", lambda c, xs: d.scan(lambda c, x: (c + x, x), c, xs)[0],
     lambda c, xs: jax.lax.scan(lambda c, x: (c + x, x), c, xs)[0], (T((4,)), X)),
]


@pytest.mark.parametrize("name,ours,theirs,types", REFUSE, ids=[a[0] for a in REFUSE])
def test_refusals_agree_with_jax(name: str, ours: Callable[..., Any],
                                 theirs: Callable[..., Any],
                                 types: tuple[TensorType, ...]) -> None:
    with pytest.raises(Exception):
        jax_parts(theirs, *types)
    with d.set_mesh(MESH2), pytest.raises(ShardingError) as e:
        d.stage(ours)(*types)
    msg = str(e.value)
    assert "reshard" in msg and HERE in msg and "@" in msg, msg


# ----------------------------------------------------------------------------------------------
# Where this library decides (documented in dsl/sharding_rules.py)


def test_contraction_sharded_alike_on_both_sides_is_allowed() -> None:
    # JAX asks for an out_sharding; here the partitioner sums across devices
    (t,) = out_types(lambda a, b: a @ b, XM, T((4, 16), "model"))
    assert t.sharding is None and t.shape == (8, 16)
    (t,) = out_types(lambda a, b: a @ b, XDM, T((4, 16), "model"))
    assert str(t) == "f32[8@data,16]"
    (t,) = out_types(lambda a, b: d.dot(a, b), T((8,), "data"), T((8,), "data"))
    assert str(t) == "f32[]"


def test_one_sided_contraction_may_reuse_the_axis_on_a_free_dimension() -> None:
    (t,) = out_types(lambda a, b: a @ b, T((8, 4), None, "data"), T((4, 16), None, "data"))
    assert str(t) == "f32[8,16@data]"


def test_gather_on_a_sharded_dimension_replicates_it() -> None:
    (t,) = out_types(lambda a, i: a[i], X, I3)
    assert str(t) == "f32[3,4]"
    (t,) = out_types(lambda a, i: a[i], XDM, T((4,), "data", dtype=np.int32))
    assert str(t) == "f32[4@data,4@model]"
    with d.set_mesh(MESH2), pytest.raises(ShardingError, match="gather"):
        d.stage(lambda a, i: a[:, i])(X, T((4,), "data", dtype=np.int32))


def test_select_and_clamp_merge_like_elementwise_ops() -> None:
    pb = T((8, 4), "data", dtype=np.bool_)
    (t,) = out_types(lambda p, a, b: d.where(p, a, b), pb, XM, T((8, 4)))
    assert str(t) == "f32[8@data,4@model]"
    (t,) = out_types(lambda a: d.clip(a, 0.0, 1.0), XDM)
    assert str(t) == "f32[8@data,4@model]"
    with d.set_mesh(MESH2), pytest.raises(ShardingError, match="select"):
        d.stage(lambda p, a: d.where(p, a, 0.0))(pb, T((8, 4), "model"))


def test_dynamic_update_slice_keeps_the_operand_and_refuses_a_conflicting_update() -> None:
    i = T((), dtype=np.int32)
    (t,) = out_types(lambda a, u, i: lax.dynamic_update_slice(a, u, (i, 0)), X, T((2, 4)), i)
    assert str(t) == "f32[8@data,4]"
    with d.set_mesh(MESH2), pytest.raises(ShardingError, match="update"):
        d.stage(lambda a, u, i: lax.dynamic_update_slice(a, u, (0, i)))(
            X, T((8, 2), "model"), i)


def test_scatter_keeps_the_operand_sharding() -> None:
    (t,) = out_types(lambda a, i, u: a.at[i].add(u), X, I3, T((3, 4)))
    assert str(t) == "f32[8@data,4]"


def test_iota_and_constants_are_replicated() -> None:
    p = stage(lambda a: a + lax.iota(np.float32, (8, 4), 1) + 2.0, X)
    assert str(p.out_types[0]) == "f32[8@data,4]"
    # iota takes no operands, so it is a constant (a literal) while staging: unsharded
    lits = [a for e in p.eqns for a in e.inputs if not isinstance(a, d.Var)]
    assert lits and all(a.type.sharding is None for a in lits)
    assert O.Iota in REPLICATED


def test_bitcast_round_and_integer_pow_keep_the_sharding() -> None:
    (t,) = out_types(lambda a: lax.bitcast(a, np.int32), XDM)
    assert str(t) == "i32[8@data,4@model]"
    (t,) = out_types(lambda a: d.round(a) ** 3, XDM)
    assert str(t) == "f32[8@data,4@model]"


def test_reshape_split_needs_the_mesh_sizes() -> None:
    with pytest.raises(ShardingError, match="set_mesh"):
        d.stage(lambda a: d.reshape(a, (2, 4, 4)))(X)
    p = d.stage(lambda a: d.reshape(a, (32,)))(X)  # a merge needs no sizes
    assert str(p.out_types[0]) == "f32[32@data]"


def test_result_axes_must_be_in_the_mesh() -> None:
    with d.set_mesh(MESH1), pytest.raises(ShardingError, match="model"):
        d.stage(lambda a: a + 1.0)(XM)


# ----------------------------------------------------------------------------------------------
# Combinators


def test_scan_body_is_staged_with_the_sharded_types() -> None:
    p = stage(lambda c, xs: d.scan(lambda c, x: (c * x, x + 1.0), c, xs),
              T((4,), "model"), T((8, 4), None, "model"))
    (scan,) = [e for e in p.eqns if isinstance(e.op, O.Scan)]
    assert [str(t) for t in scan.op.body.in_types] == ["f32[4@model]", "f32[4@model]"]
    assert [str(t) for t in p.out_types] == ["f32[4@model]", "f32[8,4@model]"]


def test_scan_carry_must_be_consistent() -> None:
    body = lambda c, x: (d.reshard(c, P("data")), x)  # noqa: E731
    with d.set_mesh(MESH2), pytest.raises(ShardingError, match="carry"):
        d.stage(lambda c, xs: d.scan(body, c, xs))(T((4,), "model"), T((8, 4)))
    # a replicated initial carry takes the axes the body gives it
    (c, ys) = out_types(lambda c, xs: d.scan(lambda c, x: (c + x, x), c, xs),
                        T((4,)), T((8, 4), None, "model"))
    assert str(c) == "f32[4@model]" and str(ys) == "f32[8,4@model]"


def test_map_cond_reduce_and_associative_scan() -> None:
    (t,) = out_types(lambda xs: d.map(lambda x: d.sum(x * x), xs), X)
    assert str(t) == "f32[8@data]"
    (t,) = out_types(lambda xs: d.map(lambda x: x * 2.0, xs), XDM)
    assert str(t) == "f32[8@data,4@model]"
    (t,) = out_types(lambda p, a: d.cond(p, lambda a: a * 2.0, lambda a: d.zeros_like(a), a),
                     T((), dtype=np.bool_), X)
    assert str(t) == "f32[8@data,4]"
    with d.set_mesh(MESH2), pytest.raises(ShardingError, match="branches"):
        d.stage(lambda p, a: d.cond(p, lambda a: a, lambda a: d.reshard(a, P("model")), a))(
            T((), dtype=np.bool_), X)
    (t,) = out_types(lambda a: d.reduce(lambda u, v: u + v, a, 0.0, axis=1), XDM)
    assert str(t) == "f32[8@data]"
    (t,) = out_types(lambda a: d.associative_scan(lambda u, v: u + v, a, axis=1), X)
    assert str(t) == "f32[8@data,4]"
    with d.set_mesh(MESH2), pytest.raises(ShardingError, match="reshard"):
        d.stage(lambda a: d.associative_scan(lambda u, v: u + v, a, axis=0))(X)


def test_custom_rules_and_checkpoint_keep_the_body_shardings() -> None:
    from interpreters import checkpoint, custom_jvp, custom_vjp

    @custom_jvp
    def f(x: Any) -> Any:
        return d.sin(x)

    @f.defjvp
    def f_jvp(primals: Any, tangents: Any) -> Any:
        return d.sin(primals[0]), d.cos(primals[0]) * tangents[0]

    @custom_vjp
    def g(x: Any) -> Any:
        return x * x * 0.5

    g.defvjp(lambda x: (x * x * 0.5, x), lambda res, ct: (ct * res,))

    for fn in (f, g, checkpoint(lambda x: d.tanh(x) * 2.0)):
        (t,) = out_types(fn, XDM)
        assert str(t) == "f32[8@data,4@model]"
        with d.set_mesh(MESH2):
            gp = d.stage(grad(lambda x: d.sum(fn(x))))(XDM)
        assert str(gp.out_types[0]) == "f32[8@data,4@model]"


# ----------------------------------------------------------------------------------------------
# Coverage: every primitive has a rule or a documented reason to replicate


def test_every_primitive_has_a_sharding_rule_or_replicates() -> None:
    import dsl.sharding_rules as SR

    missing = [name for name, cls in OPS.items()
               if cls not in RULES and cls not in REPLICATED and cls.family != "collective"]
    assert missing == []
    for cls in REPLICATED:
        assert f"`{cls.name}`" in (SR.__doc__ or "")
    assert "family `collective`" in (SR.__doc__ or "")
    assert len(RULES) >= 100


# ----------------------------------------------------------------------------------------------
# sharding_constraint: reshard and with_sharding_constraint


def test_reshard_changes_the_type_and_prints_and_parses() -> None:
    def f(x: Any, w: Any) -> Any:
        y = d.reshard(x @ w, P(None, "data"))
        return d.sum(y, axis=0), y

    p = stage(f, T((8, 4), "data"), T((4, 16), None, "model"))
    text = str(p)
    assert "f32[8@data,16@model]" in text and "sharding_constraint" in text
    assert [str(t) for t in p.out_types] == ["f32[16@data]", "f32[8,16@data]"]
    with d.set_mesh(MESH2):
        q = d.parse(text)
        typecheck(q)
    assert q == p and str(q) == text


def test_reshard_validates_the_spec() -> None:
    with d.set_mesh(MESH2):
        with pytest.raises(ShardingError, match="divisible"):
            d.stage(lambda x: d.reshard(x, P("model")))(T((6, 4)))
        with pytest.raises(ShardingError, match="not in the mesh"):
            d.stage(lambda x: d.reshard(x, P("rows")))(X)
        with pytest.raises(ShardingError, match="rank"):
            d.stage(lambda x: d.reshard(x, P("data", None, None)))(X)
    with pytest.raises(ShardingError, match="current mesh"):
        d.stage(lambda x: d.reshard(x, P("data")))(X)
    ns = d.NamedSharding(MESH2, P(None, "data"))
    (t,) = d.stage(lambda x: d.reshard(x, ns))(T((8, 4))).out_types
    assert str(t) == "f32[8,4@data]"


def test_with_sharding_constraint_keeps_only_explicit_axes_in_the_type() -> None:
    mixed = d.make_mesh((2, 4), ("data", "model"), axis_types=(E, d.AxisType.Auto))
    with d.set_mesh(mixed):
        p = d.stage(lambda x: d.with_sharding_constraint(x, P("data", "model")))(T((8, 4)))
        assert str(p.out_types[0]) == "f32[8@data,4]"
        text = lower_program(p, debug=True)
        with pytest.raises(ShardingError, match="Auto"):
            d.stage(lambda x: d.reshard(x, P("data", "model")))(T((8, 4)))
    assert 'mhlo.sharding = "{devices=[2,4]<=[8]}"' in text
    assert d.parse(str(p)) == p


def test_reshard_is_the_identity_eagerly_and_on_pytrees() -> None:
    x = np.arange(32.0, dtype=F32).reshape(8, 4)
    with d.set_mesh(MESH2):
        a, b = d.reshard((x, x + 1), P("data"))
        np.testing.assert_array_equal(np.asarray(a), x)
        np.testing.assert_array_equal(np.asarray(b), x + 1)
        c = d.with_sharding_constraint({"k": x}, {"k": P(None, "model")})
        np.testing.assert_array_equal(np.asarray(c["k"]), x)


def test_sharding_constraint_rules_in_every_interpreter() -> None:
    from interpreters.differentiate import JVP_RULES, VJP_RULES
    from interpreters.evaluate import RULES as EV
    from interpreters.lower import RULES as LO
    from interpreters.vectorize import BATCH_RULES

    for table in (EV, JVP_RULES, VJP_RULES, BATCH_RULES, LO):
        assert O.ShardingConstraint in table
    with d.set_mesh(MESH2):
        f = lambda x: d.reshard(x, P(None, "model")) * 2.0  # noqa: E731
        # jvp: the tangent is constrained likewise
        p = d.stage(lambda x, t: jvp(f, (x,), (t,)))(X, X)
        assert [str(t) for t in p.out_types] == ["f32[8,4@model]"] * 2
        cs = [e for e in p.eqns if isinstance(e.op, O.ShardingConstraint)]
        assert len(cs) == 2
        # vjp: the cotangent is constrained likewise, then given the primal's sharding
        p = d.stage(lambda x, ct: vjp(f, x)[1](ct))(X, T((8, 4), None, "model"))
        assert str(p.out_types[0]) == "f32[8@data,4]"
        # vmap: the batch dimension is inserted replicated
        p = d.stage(vmap(lambda x: d.reshard(x, P("data")), in_axes=1))(T((8, 3)))
        (c,) = [e for e in p.eqns if isinstance(e.op, O.ShardingConstraint)]
        assert c.op.parts == (("data",), ())
        assert str(p.out_types[0]) == "f32[3,8@data]"
