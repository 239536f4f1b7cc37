"""Functions that change shardings: `reshard` and `with_sharding_constraint` (users), and
`constrain` / `dot_operand_shardings` (transforms that must keep a value's sharding).

All bind `sharding_constraint` (`dsl.ops.sharding`), the identity on values; the sharding rules
that derive every other primitive's result shardings are in `dsl.sharding_rules`.
"""

from __future__ import annotations

from typing import Any

from dsl import ops as P
from dsl.errors import ShardingError
from dsl.sharding import AxisType, NamedSharding, check_spec, resolve
from dsl.sharding import P as Spec
from dsl.sharding_rules import parts
from dsl.types import Sharding, TensorType


def _constrain(what: str, x: Any, spec: Any, explicit_only: bool) -> Any:
    from dsl.core import Tracer, bind
    from dsl.array import Array
    from dsl.numpy_api import asarray
    from dsl.pytree import tree_flatten, tree_unflatten

    leaves, tree = tree_flatten(x)
    if isinstance(spec, (Spec, NamedSharding)):
        specs = [spec] * len(leaves)
    else:
        specs, _ = tree_flatten(spec)
        if len(specs) != len(leaves):
            raise ShardingError(f"{what}: {len(specs)} shardings for {len(leaves)} arrays; "
                                "pass one P / NamedSharding, or a pytree of them shaped like x")
    out = []
    for leaf, s in zip(leaves, specs):
        v = leaf if type(leaf) in (Tracer, Array) else asarray(leaf)
        ns = resolve(s, what)
        check_spec(ns.spec, tuple(v.shape), ns.mesh, what)
        auto = []
        for a in ns.spec.axes():
            kind = ns.mesh.axis_type(a)
            if kind is AxisType.Explicit:
                continue
            if explicit_only or kind is AxisType.Manual:
                does = ("moves Explicit axes (the ones in types)" if explicit_only
                        else "cannot constrain Manual axes")
                fix = ("use d.with_sharding_constraint for Auto axes" if explicit_only
                       else "constrain only Explicit or Auto axes")
                raise ShardingError(f"{what}: mesh axis {a!r} of {ns.spec!r} is {kind.name}, "
                                    f"but {what} {does}; got {v.type}. Fix: {fix}")
            auto.append(a)
        op = P.ShardingConstraint(parts=ns.spec.padded(v.ndim), auto=tuple(auto))
        out.append(bind(op, v))
    return tree_unflatten(tree, out)


def reshard(x: Any, spec: Any) -> Any:
    """`x` (an array or a pytree of arrays) with its Explicit sharding changed to `spec` (a `P`,
    read against the current mesh, or a `NamedSharding`; one for all leaves or a pytree of
    them). The values do not change; the result's type carries the new sharding:

    >>> y = d.reshard(x, P(None, 'data'))   # typeof(y) is f32[8,4@data]
    """
    return _constrain("reshard", x, spec, explicit_only=True)


def with_sharding_constraint(x: Any, shardings: Any) -> Any:
    """`x` laid out as `shardings` (Auto axes are a hint to XLA's partitioner; Explicit axes go
    into the type as with `reshard`). The values do not change."""
    return _constrain("with_sharding_constraint", x, shardings, explicit_only=False)


def constrain(x: Any, sharding: Sharding | None) -> Any:
    """`x` with its type's sharding set to `sharding` (Explicit axes), by a `sharding_constraint`
    equation (for transforms that must keep a value's sharding, e.g. cotangents)."""
    from dsl.core import bind

    ndim = len(x.shape)
    p = sharding if sharding is not None else ((),) * ndim
    return bind(P.ShardingConstraint(parts=p), x)


def dot_operand_shardings(x: TensorType, y: TensorType,
                          contracting: tuple[tuple[int, ...], tuple[int, ...]],
                          batch: tuple[tuple[int, ...], tuple[int, ...]],
                          want: Sharding | None) -> tuple[Sharding, Sharding]:
    """Shardings for the operands of `dot_general(x, y)` that give the result the sharding
    `want` (JAX's `out_sharding`): batch and free dimensions take the wanted axes; contracting
    dimensions keep theirs where that stays legal, else are replicated."""
    (lc, rc), (lb, rb) = contracting, batch
    nb = len(lb)
    lf = [i for i in range(x.ndim) if i not in lc + lb]
    rf = [i for i in range(y.ndim) if i not in rc + rb]
    w = want if want is not None else ((),) * (nb + len(lf) + len(rf))
    xs, ys = list(parts(x)), list(parts(y))
    for k, (a, b) in enumerate(zip(lb, rb)):
        xs[a] = ys[b] = w[k]
    for k, i in enumerate(lf):
        xs[i] = w[nb + k]
    for k, i in enumerate(rf):
        ys[i] = w[nb + len(lf) + k]
    used = {a for axes in w for a in axes}
    for a, b in zip(lc, rc):
        sa, sb = xs[a], ys[b]
        ok_a = not sa or not used.intersection(sa)
        ok_b = not sb or not used.intersection(sb)
        if not (ok_a and ok_b) or (sa and sb and sa != sb):
            xs[a] = ys[b] = ()
    return tuple(xs), tuple(ys)


__all__ = ["constrain", "dot_operand_shardings", "reshard", "with_sharding_constraint"]
