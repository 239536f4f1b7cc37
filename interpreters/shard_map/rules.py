"""The rules of `shard_map` in each interpreter's table: evaluate, vmap, jvp and vjp (see
`semantics` for what they compute and why they agree with the nested-vmap meaning)."""

from __future__ import annotations

from typing import Any

from dsl.axes import bound_axes
from dsl.core import bind
from dsl.ops.shard_map import ShardMap
from dsl.types import Sharding, TensorType
from interpreters import evaluate as _evaluate
from interpreters.differentiate import (JVP_RULES, VJP_RULES, Zero, differentiable, type_of,
                                        vjp_program)
from interpreters.differentiate.control import (_deinterleave, _in_mask, _interleave, _jvp_body,
                                                _nz, _tangent_operands, _value)
from interpreters.shard_map.semantics import (closed, mask_index0, mesh_binding, omitted,
                                              psum_over, rebuilt, shard_map_evaluate)
from interpreters.vectorize import BATCH_RULES, batch_program, moveaxis

Dim = int | None


# ----------------------------------------------------------------------------------------------
# vmap


def _batched(t: TensorType, size: int) -> TensorType:
    return TensorType((size,) + t.shape, t.dtype, t.weak)


def shard_map_vectorize(op: ShardMap, values: list[Any], dims: list[Dim], size: int
                        ) -> tuple[list[Any], list[Dim]]:
    xs = [x if d is None else moveaxis(x, d, 0) for x, d in zip(values, dims)]
    in_dims: list[Dim] = [None if d is None else 0 for d in dims]
    types = [t if d is None else _batched(t, size) for t, d in zip(op.body.in_types, in_dims)]
    found: list[list[Dim]] = []

    def body(*args: Any) -> list[Any]:
        outs, out_dims = batch_program(op.body, args, in_dims, size)
        found.append(list(out_dims))
        return [o if d is None else moveaxis(o, d, 0) for o, d in zip(outs, out_dims)]

    program = closed(op, body, types)
    out_dims: list[Dim] = [None if d is None else 0 for d in found[0]]
    in_specs = [s if d is None else ((),) + s for s, d in zip(op.in_specs, in_dims)]
    out_specs = [s if d is None else ((),) + s for s, d in zip(op.out_specs, out_dims)]
    outs = bind(rebuilt(op, program, in_specs, out_specs), *xs)
    return list(outs), out_dims


# ----------------------------------------------------------------------------------------------
# jvp


def shard_map_jvp(op: ShardMap, primals: list[Any], tangents: list[Any]
                  ) -> tuple[list[Any], list[Any]]:
    body = op.body
    n_in, n_out = len(body.inputs), len(body.outputs)
    mask = _in_mask(tangents, body.in_types)
    with bound_axes(mesh_binding(op)):
        program, om = _jvp_body(body, mask, [False] * n_out, [n_in], [n_out])
    in_specs = _interleave(list(op.in_specs), list(op.in_specs), mask, [n_in])
    out_specs = _interleave(list(op.out_specs), list(op.out_specs), om, [n_out])
    operands = _interleave(primals, _tangent_operands(primals, tangents, mask), mask, [n_in])
    outs = bind(rebuilt(op, program, in_specs, out_specs), *operands)
    return _deinterleave(outs, None, om, [n_out])


# ----------------------------------------------------------------------------------------------
# vjp


def shard_map_vjp(op: ShardMap, ins: list[Any], outs: list[Any], cts: list[Any]) -> list[Any]:
    body = op.body
    in_t, out_t = body.in_types, body.out_types
    n_in = len(in_t)
    di = [i for i in range(n_in) if differentiable(in_t[i])]
    yk = [j for j in range(len(out_t)) if _nz(cts[j]) and differentiable(out_t[j])]
    out_omitted = {j: omitted(op, op.out_specs[j]) for j in yk}
    in_omitted = {i: omitted(op, op.in_specs[i]) for i in di}

    def step(*a: Any) -> list[Any]:
        cto: list[Any] = [Zero(t) for t in out_t]
        for j, c in zip(yk, a[n_in:]):
            cto[j] = mask_index0(op, c, out_omitted[j])
        _, back = vjp_program(body, list(a[:n_in]))
        cin = back(cto)
        return [psum_over(op, _value(cin[i], in_t[i].strong()), in_omitted[i]) for i in di]

    types = list(in_t) + [out_t[j].strong() for j in yk]
    program = closed(op, step, types)
    in_specs: list[Sharding] = list(op.in_specs) + [op.out_specs[j] for j in yk]
    out_specs = [op.in_specs[i] for i in di]
    new = rebuilt(op, program, in_specs, out_specs)
    ct_args = [_value(cts[j], type_of(outs[j]).strong()) for j in yk]
    r = bind(new, *ins, *ct_args) if di else []
    result: list[Any] = [Zero(type_of(x)) for x in ins]
    for q, i in enumerate(di):
        result[i] = r[q]
    return result


_evaluate.RULES[ShardMap] = shard_map_evaluate
BATCH_RULES[ShardMap] = shard_map_vectorize
JVP_RULES[ShardMap] = shard_map_jvp
VJP_RULES[ShardMap] = shard_map_vjp

__all__ = ["shard_map_jvp", "shard_map_vectorize", "shard_map_vjp"]
