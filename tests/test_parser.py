"""The parser: the round-trip law `parse(str(p)) == p` and the errors of bad text."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import dsl as d
from dsl import combinators as C
from dsl import ops as P
from dsl.errors import ParseError
from dsl.ir import Eqn, Lit, Program, Var
from dsl.parser import Parser, parse, tokenize
from dsl.printer import format_param, print_program
from dsl.testing import programs
from dsl.types import TensorType

F32 = TensorType((), np.float32)
LAW = settings(max_examples=500, deadline=None, derandomize=True,
               suppress_health_check=list(HealthCheck))


def law(p: Program) -> None:
    text = str(p)
    q = parse(text)
    assert q == p, text
    assert str(q) == text


def round_trips(p: Program) -> None:
    law(p)
    assert parse(print_program(p, source=True, width=40)) == p  # layout does not matter


@LAW
@given(programs())
def test_round_trip_law_random_programs(p):
    law(p)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(programs(max_eqns=14, max_depth=3))
def test_round_trip_law_deeper_programs(p):
    round_trips(p)


DESIGN_TEXT = """\
{ lambda ; a:f32[8] b:f32[]. let
    c:f32[8] = map[
      body={ lambda ; d:f32[] e:f32[]. let f:f32[] = mul e d; g:f32[] = sin f in (g,) }
      num_consts=1
    ] b a
    h:f32[] i:f32[8] = scan[
      body={ lambda ; j:f32[] k:f32[]. let l:f32[] = add j k in (l, l) }
      length=8 num_carry=1
    ] 0.0:f32[] c
    m:bool[] = gt h 0.0:f32[]
  in (h, i, m) }"""


def test_design_example_parses():
    p = parse(DESIGN_TEXT)
    assert str(p) == DESIGN_TEXT
    (map_eqn, scan_eqn, gt_eqn) = p.eqns
    assert map_eqn.op.num_consts == 1 and map_eqn.inputs == (p.inputs[1], p.inputs[0])
    assert scan_eqn.op.length == 8 and scan_eqn.op.num_carry == 1
    assert scan_eqn.op.body.outputs == (scan_eqn.op.body.eqns[0].outputs[0],) * 2
    assert p.outputs == scan_eqn.outputs + gt_eqn.outputs


def lit_program(value, dtype, weak=False):
    v = np.asarray(value, dtype)
    x = Var(TensorType((), np.float32))
    return Program((x,), (), (Lit(v, TensorType(v.shape, v.dtype, weak)),))


BITS_NAN32 = np.asarray(0x7FC00001, np.uint32).view(np.float32)
BITS_NAN16 = np.asarray(0xFE01, np.uint16).view(np.float16)


@pytest.mark.parametrize("value, dtype", [
    (np.nan, np.float32), (-np.nan, np.float32), (np.inf, np.float16), (-np.inf, np.float64),
    (-0.0, np.float32), (-0.0, ml_dtypes.bfloat16), (0.1, ml_dtypes.bfloat16),
    (3.3895313892515355e38, ml_dtypes.bfloat16), (1e-45, np.float32), (5.96e-8, np.float16),
    (65504.0, np.float16), (np.finfo(np.float64).max, np.float64), (0.1, np.float64),
    (1 / 3, np.float32), (BITS_NAN32, np.float32), (BITS_NAN16, np.float16),
    (np.nan, ml_dtypes.bfloat16), (1 + 2j, np.complex64), (complex(-0.0, -np.inf), np.complex128),
    (complex(np.nan, 1e-300), np.complex128), (complex(1e-5, -1e-5), np.complex64),
    (True, np.bool_), (False, np.bool_), (-128, np.int8), (255, np.uint8),
    (2**63 - 1, np.int64), (-(2**63), np.int64), (2**64 - 1, np.uint64),
    ([[1.5, np.nan], [-0.0, np.inf]], np.float32), (np.arange(24).reshape(2, 3, 4), np.int16),
    (np.full((3, 4), -0.0), np.float32), (np.zeros((0,)), np.float32),
    (np.zeros((2, 0, 3)), np.complex64), ([1 + 1j, 2 - 1j], np.complex64),
    ([True, False], np.bool_), (np.ones((2, 2)), ml_dtypes.bfloat16),
])
def test_literals_round_trip_bit_exactly(value, dtype):
    round_trips(lit_program(value, dtype))
    round_trips(lit_program(value, dtype, weak=True))


@pytest.mark.parametrize("dt", [np.float16, ml_dtypes.bfloat16])
def test_float_bit_patterns_of_f16_and_bf16_round_trip(dt):
    # Every 61st bit pattern (both signs, subnormals, NaNs with payloads), and the edges.
    edges = [0x0000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0x7C01, 0x7E00, 0x7F7F, 0x7F80,
             0x7F81, 0x7FC0, 0x8000, 0xFBFF, 0xFC00, 0xFE00, 0xFF80, 0xFFC0, 0xFFFF]
    bits = np.concatenate([np.arange(0, 2**16, 61), edges]).astype(np.uint16)
    vals = bits.view(dt)
    lit = Lit(vals, TensorType(vals.shape, vals.dtype))
    law(Program((Var(F32),), (), (lit,)))


@pytest.mark.parametrize("sharding", [
    (("data",), ()), (("data", "model"), ("x",)), ((), ()), ((), ("model",)),
])
def test_sharded_types_round_trip(sharding):
    t = TensorType((4, 6), np.float32, False, sharding)
    x, y = Var(t), Var(t)
    round_trips(Program((x,), (Eqn(P.Sin(), (x,), (y,)),), (y,)))


def test_sharded_scalar_and_quoted_axis_names():
    t0 = TensorType((), np.float32, False, ())
    t1 = TensorType((4,), np.float32, True, (("odd name", "a-b"),))
    x, y = Var(t0), Var(t1)
    p = Program((x, y), (), (y, x))
    assert '@("odd name","a-b")' in str(p) and "f32[@()]" in str(p)
    round_trips(p)


def test_all_dtypes_round_trip():
    for dt in d.dtypes.ALL:
        x = Var(TensorType((2,), dt))
        y = Var(TensorType((2,), dt))
        round_trips(Program((x,), (Eqn(P.StopGradient(), (x,), (y,)),), (y,)))


def test_param_kinds_round_trip():
    x = Var(TensorType((2, 3), np.float32))
    y = Var(TensorType((2, 3), np.float32))
    outs = [Var(TensorType((2, 2), np.float64)), Var(TensorType((2,), np.int64)),
            Var(TensorType((3, 6), np.float32)), Var(TensorType((1, 2), np.float32)),
            Var(TensorType((2, 3), np.float32)), Var(TensorType((2, 3), np.float32))]
    xd = Var(TensorType((2, 3), np.float64))
    eqns = (
        Eqn(P.Convert(dtype=np.float64), (x,), (xd,)),
        Eqn(P.DotGeneral(contracting=((1,), (1,)), preferred=np.float64), (xd, xd), (outs[0],)),
        Eqn(P.Argmax(axis=1, index_dtype=np.int64), (x,), (outs[1],)),
        Eqn(P.Pad(config=((0, 1, 0), (-1, 2, 1))), (x, Lit(np.float32(0), F32)), (outs[2],)),
        Eqn(P.Slice(start_indices=(0, 0), limit_indices=(1, 3), strides=(1, 2)), (x,),
            (outs[3],)),
        Eqn(P.Round(method="half_away_from_zero"), (x,), (outs[4],)),
        Eqn(P.Cumsum(axis=1, reverse=True), (x,), (outs[5],)),
        Eqn(P.Sin(), (x,), (y,)),
    )
    p = Program((x,), eqns, tuple(outs) + (y,))
    round_trips(p)


def test_staged_programs_round_trip():
    f32 = np.ones((3,), np.float32)

    def scan_fn(x):
        def body(c, xi):
            return c + xi, d.sin(c) * xi
        return C.scan(body, 0.0, x)

    fns = [
        lambda x: d.sum(d.tanh(x) ** 2),
        lambda x: C.map(lambda t: d.cos(t) + x[0], x),
        scan_fn,
        lambda x: C.cond(x[0] > 0, lambda t: t * 2.0, lambda t: t - 1.0, x),
        lambda x: C.while_loop(lambda c: c[0] < 10.0, lambda c: c * 2.0, x),
        lambda x: C.fori_loop(0, 3, lambda i, c: c * 2.0, x),
        lambda x: C.associative_scan(d.add, x),
        lambda x: d.sort(x),
        lambda x: x.at[1].set(5.0),
        lambda x: x + np.arange(3, dtype=np.float32) * d.nan,
    ]
    for fn in fns:
        round_trips(d.stage(fn)(f32))


def test_names_and_layout_are_free():
    # Alpha-equivalence: any names, any layout, `;` separators, comments.
    text = """
        # a hand-written program
        { lambda ; x:f32[3] y:f32[]. let   tmp:f32[3] = mul x y ;
          out:f32[] = reduce_sum[ axes = ( 0 , ) ]   tmp  # sum it
          in ( out , ) }
    """
    p = d.stage(lambda x, y: d.sum(x * y))(np.ones(3, np.float32), np.float32(1))
    assert parse(text) == p


def test_alpha_equivalence_is_structural():
    p = parse("{ lambda ; a:f32[] b:f32[]. let c:f32[] = add a b in (c,) }")
    q = parse("{ lambda ; a:f32[] b:f32[]. let c:f32[] = add b a in (c,) }")
    assert p != q
    assert p == parse("{ lambda ; u:f32[] v:f32[]. let w:f32[] = add u v in (w,) }")


def test_tokenizer_positions():
    toks = tokenize("{ lambda ;\n  a:f32[3]. let")
    assert [(t.text, t.line, t.col) for t in toks[:6]] == [
        ("{", 1, 1), ("lambda", 1, 3), (";", 1, 10), ("a", 2, 3), (":", 2, 4), ("f32", 2, 5)]


def bad(text: str, *fragments: str) -> str:
    with pytest.raises(ParseError) as info:
        parse(text)
    msg = str(info.value)
    for f in fragments:
        assert f in msg, msg
    return msg


def test_error_unknown_op_lists_close_names():
    bad("{ lambda ; a:f32[]. let\n    b:f32[] = sinn a\n  in (b,) }",
        "line 2, column 15", "unknown op 'sinn'", "sin", "sinh")


def test_error_unknown_variable():
    bad("{ lambda ; a:f32[]. let\n    b:f32[] = sin q\n  in (b,) }",
        "line 2, column 19", "unknown variable q")


def test_error_bodies_are_closed():
    text = ("{ lambda ; a:f32[3] b:f32[]. let\n    c:f32[3] = map[\n"
            "      body={ lambda ; d:f32[]. let e:f32[] = mul d b in (e,) }\n    ] a\n"
            "  in (c,) }")
    bad(text, "line 3, column 52", "unknown variable b")


def test_error_declared_type_differs_from_rule():
    bad("{ lambda ; a:f32[3]. let\n    b:f32[4] = sin a\n  in (b,) }",
        "line 2, column 5", "declared output types (f32[4])", "gives (f32[3])")
    bad("{ lambda ; a:f32[3]. let\n    b:~f32[3] = sin a\n  in (b,) }",
        "declared output types (~f32[3])")
    bad("{ lambda ; a:f32[3]. let\n    b:f32[3] c:f32[3] = sin a\n  in (b,) }",
        "declared output types (f32[3], f32[3])")


def test_error_type_rule_rejects_inputs():
    bad("{ lambda ; a:f32[3] b:i32[3]. let\n    c:f32[3] = add a b\n  in (c,) }",
        "line 2, column 16", "add: operands must have the same dtype")


def test_error_defined_twice():
    bad("{ lambda ; a:f32[] a:f32[]. let in (a,) }", "line 1, column 20", "defined twice")
    bad("{ lambda ; a:f32[]. let a:f32[] = sin a in (a,) }", "defined twice")


@pytest.mark.parametrize("text, fragments", [
    ("", ["line 1, column 1", "expected '{' to start a program"]),
    ("{ lambda ; a:f33[]. let in (a,) }", ["column 14", "expected a type like f32[3,4]"]),
    ("{ lambda ; a:f32[x]. let in (a,) }", ["column 18", "expected a dimension size"]),
    ("{ lambda ; a:f32[]. let in (a,) } extra", ["column 35", "end of the text"]),
    ("{ lambda ; a:f32[]. let in (a,)", ["expected '}'"]),
    ("{ lambda ; a:f32[]. let b:f32[] = sin a", ["expected an equation or 'in'"]),
    ("{ lambda ; a:f32[]. let in (a b) }", ["column 31", "expected ',' or ')'"]),
    ("{ lambda ; a:f32[]. let b = sin a in (b,) }", ["column 27", "expected ':' and a type"]),
    ("{ lambda ; a:f32[]. let in (1.5x:f32[],) }", ["column 29", "expected a number"]),
    ("{ lambda ; a:f32[]. let in (300:i8[],) }", ["out of range for i8"]),
    ("{ lambda ; a:f32[]. let in (1.5:i32[],) }", ["expected an integer"]),
    ("{ lambda ; a:f32[]. let in (1:bool[],) }", ["expected True or False"]),
    ("{ lambda ; a:f32[]. let in (x,) }", ["column 29", "unknown variable x"]),
    ("{ lambda ; a:f32[]. let in (1+2:c64[],) }", ["expected a complex value"]),
    ("{ lambda ; a:f32[]. let in ([1,2]:i32[3],) }", ["does not have the shape"]),
    ("{ lambda ; a:f32[]. let in ([[1,2]]:i32[2],) }", ["does not have the shape"]),
    ("{ lambda ; a:f32[]. let in (1.0,) }",
     ["column 32", "expected ':' and the literal's type, got ','"]),
    ("{ lambda ; a:f32[]. let in (a$,) }", ["column 30", "unexpected character '$'"]),
    ('{ lambda ; a:f32[@"x]. let in (a,) }', ["unterminated string"]),
    ("{ lambda ; a:f32[3]. let b:f32[3] = reduce_sum a in (b,) }",
     ["reduce_sum needs the parameters axes"]),
    ("{ lambda ; a:f32[3]. let b:f32[] = reduce_sum[axis=0] a in (b,) }",
     ["column 47", "has no parameter 'axis'", "axes"]),
    ("{ lambda ; a:f32[3]. let b:f32[] = reduce_sum[axes=0] a in (b,) }",
     ["column 52", "parameter axes of reduce_sum expects tuple[int, ...]"]),
    ("{ lambda ; a:f32[3]. let b:f32[] = reduce_sum[axes=(0,) axes=(0,)] a in (b,) }",
     ["given twice"]),
    ("{ lambda ; a:f32[3]. let b:i32[3] = convert[dtype=f99] a in (b,) }",
     ["parameter dtype of convert expects dtype"]),
    ("{ lambda ; a:f32[3]. let b:f32[3] = cumsum[axis=0 reverse=1] a in (b,) }",
     ["parameter reverse of cumsum expects bool"]),
    ("{ lambda ; a:f32[3]. let b:f32[3] = map[body=3] a in (b,) }",
     ["parameter body of map expects Program"]),
    ("{ lambda ; a:f32[3]. let b:f32[3] = sin[] a in (b,) c }",
     ["column 53", "expected '}' to end the program, got 'c'"]),
])
def test_syntax_errors(text, fragments):
    bad(text, *fragments)


def test_error_message_shows_the_line_and_a_caret():
    msg = bad("{ lambda ; a:f32[]. let\n    b:f32[] = sinn a\n  in (b,) }")
    assert "\n        b:f32[] = sinn a\n                  ^" in msg


@pytest.mark.parametrize("value", [
    None, True, False, 0, -3, 2**70, 1.5, -0.25, float("inf"), "clip", "two words", "f32",
    "None", "nan", "", 'quote " and \\ backslash', np.dtype(np.float32), d.bfloat16,
    (), (1,), (1, 2), ((1,), ()), ((0, 1, 0), (-1, 2, 1)), [1, (2, "x")],
    TensorType((3,), np.float32, True), TensorType((2, 4), np.int8, False, (("x",), ())),
])
def test_param_values_round_trip(value):
    text = format_param(value)
    got = Parser(text).value()
    assert type(got) is type(value) and got == value, text


def test_param_value_nan():
    got = Parser(format_param(float("nan"))).value()
    assert isinstance(got, float) and got != got
