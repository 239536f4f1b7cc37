"""typecheck: holds on every generated and staged program, fails on corrupted ones."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import dsl as d
from dsl import combinators as C
from dsl import ops as P
from dsl.errors import TypeCheckError
from dsl.ir import Eqn, Lit, Program, Var
from dsl.parser import parse
from dsl.testing import programs
from dsl.typecheck import typecheck
from dsl.types import TensorType

F3 = TensorType((3,), np.float32)
F = TensorType((), np.float32)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(programs(max_eqns=10, max_depth=3))
def test_random_programs_typecheck(p):
    assert typecheck(p) is None


def scan_fn(x):
    def body(c, xi):
        return c + xi, d.sin(c) * xi
    return C.scan(body, 0.0, x)


STAGED = [
    lambda x: d.sum(d.tanh(x) ** 2),
    lambda x: d.dot(x, x) + x[1:].sum(),
    lambda x: C.map(lambda t: d.cos(t) + x[0], x),
    scan_fn,
    lambda x: C.cond(x[0] > 0, lambda t: t * 2.0, lambda t: t - 1.0, x),
    lambda x: C.switch(1, [lambda t: t, lambda t: -t, lambda t: t * t], x),
    lambda x: C.while_loop(lambda c: c[0] < 10.0, lambda c: c * 2.0, x),
    lambda x: C.fori_loop(0, 3, lambda i, c: c * 2.0, x),
    lambda x: C.reduce(lambda a, b: a * b, x, 1.0, 0),
    lambda x: C.associative_scan(d.add, x),
    lambda x: d.sort(x),
    lambda x: x.at[1].add(5.0),
    lambda x: d.where(x > 1, x, 0.0).astype(np.int8),
]


@pytest.mark.parametrize("fn", STAGED)
def test_staged_programs_typecheck(fn):
    p = d.stage(fn)(np.arange(3, dtype=np.float32))
    assert typecheck(p) is None


def fails(p: Program, *fragments: str) -> str:
    with pytest.raises(TypeCheckError) as info:
        typecheck(p)
    msg = str(info.value)
    for f in fragments:
        assert f in msg, msg
    return msg


def test_wrong_output_type():
    x, y = Var(F3), Var(TensorType((4,), np.float32))
    p = Program((x,), (Eqn(P.Sin(), (x,), (y,)),), (y,))
    fails(p, "equation 0 `b:f32[4] = sin a`", "declared output types (f32[4])",
          "type rule of sin gives (f32[3])")


def test_wrong_dtype_and_weak_flag():
    x = Var(F3)
    y = Var(TensorType((3,), np.bool_))
    p = Program((x,), (Eqn(P.Gt(), (x, x), (Var(F3),)),), (x,))
    fails(p, "equation 0", "declared output types (f32[3])", "gives (bool[3])")
    w = Var(TensorType((3,), np.float32, weak=True))
    p = Program((x,), (Eqn(P.Gt(), (x, x), (y,)), Eqn(P.Neg(), (x,), (w,))), (w,))
    fails(p, "equation 1 `c:~f32[3] = neg a`", "gives (f32[3])")


def test_wrong_number_of_outputs():
    x = Var(F3)
    p = Program((x,), (Eqn(P.Sin(), (x,), (Var(F3), Var(F3))),), (x,))
    fails(p, "equation 0", "declared output types (f32[3], f32[3])")


def test_use_before_definition():
    x, y, z = Var(F3), Var(F3), Var(F3)
    p = Program((x,), (Eqn(P.Sin(), (y,), (z,)), Eqn(P.Cos(), (x,), (y,))), (z,))
    fails(p, "equation 0", "input 0 (f32[3]) is used before it is defined")


def test_free_variable_and_undefined_output():
    x, free, y = Var(F3), Var(F3), Var(F3)
    fails(Program((x,), (Eqn(P.Add(), (x, free), (y,)),), (y,)),
          "equation 0", "input 1 (f32[3]) is used before it is defined")
    fails(Program((x,), (), (free,)), "outputs: output 0 (f32[3]) is used before")


def test_duplicate_definitions():
    x, y = Var(F3), Var(F3)
    fails(Program((x,), (Eqn(P.Sin(), (x,), (y,)), Eqn(P.Cos(), (x,), (y,))), (y,)),
          "equation 1", "output 0 (f32[3]) is already defined")
    fails(Program((x,), (Eqn(P.Sin(), (x,), (x,)),), (x,)),
          "equation 0", "already defined")
    fails(Program((x, x), (), (x,)), "input 1 (f32[3]) is bound twice")
    z = Var(F3)
    fails(Program((x,), (Eqn(P.Sort(dimension=0), (x, x), (z, z)),), (z,)),
          "equation 0", "output 1 (f32[3]) is already defined")


def test_type_rule_rejects_inputs():
    x, i, y = Var(F3), Var(TensorType((3,), np.int32)), Var(F3)
    fails(Program((x, i), (Eqn(P.Add(), (x, i), (y,)),), (y,)),
          "equation 0 `c:f32[3] = add a b`", "rejects inputs (f32[3], i32[3])",
          "operands must have the same dtype")


def test_errors_inside_bodies_name_the_body():
    a, b = Var(F), Var(TensorType((2,), np.float32))
    body = Program((a,), (Eqn(P.Sin(), (a,), (b,)),), (b,))
    xs, out = Var(F3), Var(TensorType((3, 2), np.float32))
    p = Program((xs,), (Eqn(P.Map(body=body), (xs,), (out,)),), (out,))
    msg = fails(p, "equation 0 (map) body 0: equation 0 `d:f32[2] = sin c`",
                "declared output types (f32[2])", "gives (f32[])")
    # A body that uses a variable of the program around it is not closed.
    inner_y = Var(F)
    leaky = Program((a,), (Eqn(P.Mul(), (a, xs), (inner_y,)),), (inner_y,))
    fails(Program((xs,), (Eqn(P.Map(body=leaky), (xs,), (Var(F3),)),), (xs,)),
          "body 0: equation 0", "used before it is defined")
    assert msg.startswith("typecheck: ")


def test_corrupted_literal():
    lit = Lit(np.float32(1.0), F)
    object.__setattr__(lit, "value", np.zeros((2,), np.float32))
    y = Var(F)
    fails(Program((), (Eqn(P.Neg(), (lit,), (y,)),), (y,)),
          "input 0: literal value does not have its declared type f32[]")


def test_shardings_are_not_rule_derived():
    # The type rules do not derive shardings: a sharded output still typechecks.
    t = TensorType((4,), np.float32, False, (("data",),))
    x, y = Var(t), Var(t)
    typecheck(Program((x,), (Eqn(P.Sin(), (x,), (y,)),), (y,)))


def test_parsed_programs_typecheck():
    p = parse("""
        { lambda ; a:f32[3] b:f32[]. let
            c:f32[3] = map[
              body={ lambda ; d:f32[] e:f32[]. let f:f32[] = mul e d in (f,) }
              num_consts=1
            ] b a
          in (c,) }
    """)
    typecheck(p)
