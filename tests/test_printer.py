"""Golden tests of the printer: the text of programs, written by hand from DESIGN section 3."""

import textwrap

import ml_dtypes
import numpy as np
import pytest

import dsl as d
from dsl import combinators as C
from dsl import ops as P
from dsl.ir import Eqn, Lit, Program, Var
from dsl.printer import format_type, print_eqn, print_program, var_name
from dsl.types import TensorType

F32 = TensorType((), np.float32)


def gold(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def lit(value, dtype, weak=False):
    v = np.asarray(value, dtype)
    return Lit(v, TensorType(v.shape, v.dtype, weak))


def design_example() -> Program:
    """The program DESIGN section 3 prints, built directly as IR."""
    a, b = Var(TensorType((8,), np.float32)), Var(F32)
    d_, e, f, g = Var(F32), Var(F32), Var(F32), Var(F32)
    map_body = Program((d_, e), (Eqn(P.Mul(), (e, d_), (f,)), Eqn(P.Sin(), (f,), (g,))), (g,))
    c = Var(TensorType((8,), np.float32))
    j, k, l_ = Var(F32), Var(F32), Var(F32)
    scan_body = Program((j, k), (Eqn(P.Add(), (j, k), (l_,)),), (l_, l_))
    h, i = Var(F32), Var(TensorType((8,), np.float32))
    m = Var(TensorType((), np.bool_))
    zero = lit(0.0, np.float32)
    eqns = (Eqn(P.Map(body=map_body, num_consts=1), (b, a), (c,)),
            Eqn(P.Scan(body=scan_body, length=8, num_carry=1), (zero, c), (h, i)),
            Eqn(P.Gt(), (h, zero), (m,)))
    return Program((a, b), eqns, (h, i, m))


DESIGN_TEXT = gold("""
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
      in (h, i, m) }
""")


def test_design_example_exactly():
    assert str(design_example()) == DESIGN_TEXT


def test_staged_elementwise():
    p = d.stage(lambda x, y: d.sin(x) * y)(np.ones(3, np.float32), np.float32(2))
    assert str(p) == gold("""
        { lambda ; a:f32[3] b:f32[]. let
            c:f32[3] = sin a
            d:f32[3] = mul c b
          in (d,) }
    """)


def test_staged_reduction_and_params():
    p = d.stage(lambda x: d.sum(d.tanh(x) ** 2, axis=0))(np.ones((2, 3), np.float32))
    assert str(p) == gold("""
        { lambda ; a:f32[2,3]. let
            b:f32[2,3] = tanh a
            c:f32[2,3] = integer_pow[y=2] b
            d:f32[3] = reduce_sum[axes=(0,)] c
          in (d,) }
    """)


def test_staged_nested_tuple_param():
    p = d.stage(lambda x: d.dot(x, x.T))(np.ones((2, 3), np.float32))
    assert str(p) == gold("""
        { lambda ; a:f32[2,3]. let
            b:f32[3,2] = transpose[permutation=(1, 0)] a
            c:f32[2,2] = dot_general[contracting=((1,), (0,))] a b
          in (c,) }
    """)


def test_staged_weak_scalars_keep_dtype():
    p = d.stage(lambda x: x * 2 + 1.5)(np.ones(3, np.float16))
    assert str(p) == gold("""
        { lambda ; a:f16[3]. let
            b:f16[3] = mul a 2.0:f16[]
            c:f16[3] = add b 1.5:f16[]
          in (c,) }
    """)


def test_staged_while_loop_two_bodies():
    p = d.stage(lambda x: C.while_loop(lambda c: c < 10.0, lambda c: c * 2.0, x))(
        np.float32(1))
    assert str(p) == gold("""
        { lambda ; a:f32[]. let
            b:f32[] = while_loop[
              cond={ lambda ; c:f32[]. let d:bool[] = lt c 10.0:f32[] in (d,) }
              body={ lambda ; e:f32[]. let f:f32[] = mul e 2.0:f32[] in (f,) }
            ] a
          in (b,) }
    """)


def test_long_body_prints_as_block():
    # The one-line body would pass 100 columns, so it is an indented block.
    p = d.stage(lambda x: C.fori_loop(0, 3, lambda i, c: c * 2.0, x))(np.ones(3, np.float32))
    assert str(p) == gold("""
        { lambda ; a:f32[3]. let
            b:~i32[] c:f32[3] = scan[
              body={ lambda ; d:~i32[] e:f32[3]. let
                  f:~i32[] = add d 1:~i32[]
                  g:f32[3] = mul e 2.0:f32[]
                in (f, g) }
              length=3 num_carry=2
            ] 0:~i32[] a
          in (c,) }
    """)


def test_body_with_nested_body_is_a_block_and_branches_a_tuple():
    x = Var(F32)
    inner_in, inner_out = Var(F32), Var(F32)
    inner = Program((inner_in,), (Eqn(P.Neg(), (inner_in,), (inner_out,)),), (inner_out,))
    bi, bo = Var(F32), Var(F32)
    branch0 = Program((bi,), (Eqn(P.Cond(branches=(inner, inner)), (lit(0, np.int32), bi),
                                  (bo,)),), (bo,))
    ci = Var(F32)
    branch1 = Program((ci,), (), (ci,))
    out = Var(F32)
    p = Program((x,), (Eqn(P.Cond(branches=(branch0, branch1)), (lit(1, np.int32), x),
                           (out,)),), (out,))
    assert str(p) == gold("""
        { lambda ; a:f32[]. let
            b:f32[] = cond[
              branches=(
                { lambda ; c:f32[]. let
                    d:f32[] = cond[
                      branches=(
                        { lambda ; e:f32[]. let f:f32[] = neg e in (f,) },
                        { lambda ; g:f32[]. let h:f32[] = neg g in (h,) },
                      )
                    ] 0:i32[] c
                  in (d,) },
                { lambda ; i:f32[]. let in (i,) },
              )
            ] 1:i32[] a
          in (b,) }
    """)


def test_empty_program_and_literal_outputs():
    x = Var(TensorType((2,), np.int8))
    p = Program((x,), (), (x, lit(3, np.int8)))
    assert str(p) == gold("""
        { lambda ; a:i8[2]. let
          in (a, 3:i8[]) }
    """)
    assert str(Program((), (), ())) == "{ lambda ; . let\n  in () }"


@pytest.mark.parametrize("value, dtype, text", [
    (1.5, np.float32, "1.5:f32[]"),
    (0.1, np.float32, "0.1:f32[]"),
    (0.1, np.float64, "0.1:f64[]"),
    (1e20, np.float32, "1e+20:f32[]"),
    (3.0, np.float16, "3.0:f16[]"),
    (0.1, np.float16, "0.1:f16[]"),
    (-0.0, np.float32, "-0.0:f32[]"),
    (np.inf, np.float32, "inf:f32[]"),
    (-np.inf, np.float64, "-inf:f64[]"),
    (np.nan, np.float32, "nan:f32[]"),
    (-np.nan, np.float64, "-nan:f64[]"),
    (0.1, ml_dtypes.bfloat16, "0.1:bf16[]"),
    (1.0, ml_dtypes.bfloat16, "1.0:bf16[]"),
    (True, np.bool_, "True:bool[]"),
    (-7, np.int8, "-7:i8[]"),
    (2**64 - 1, np.uint64, "18446744073709551615:u64[]"),
    (1.5 - 2j, np.complex64, "1.5-2.0j:c64[]"),
    (complex(0.0, np.nan), np.complex128, "0.0+nanj:c128[]"),
    ([1, 2, 3], np.int32, "[1,2,3]:i32[3]"),
    ([[1.0, 2.5]], np.float32, "[[1.0,2.5]]:f32[1,2]"),
    ([2.0], np.float32, "[2.0]:f32[1]"),
    (np.full((4, 5), 2.0), np.float32, "2.0:f32[4,5]"),  # one value fills a uniform array
    (np.zeros((2, 0)), np.float32, "[[],[]]:f32[2,0]"),
    (np.zeros((0, 2)), np.float32, "[]:f32[0,2]"),
])
def test_literal_text(value, dtype, text):
    x = Var(TensorType((), np.float32))
    p = Program((x,), (), (lit(value, dtype),))
    assert str(p).splitlines()[-1] == f"  in ({text},) }}"


def test_nan_payload_prints_its_bits():
    v = np.asarray(0x7FC00001, np.uint32).view(np.float32)
    p = Program((), (), (Lit(v, TensorType((), np.float32)),))
    assert "nan0x7FC00001:f32[]" in str(p)


def test_weak_literal_and_type():
    x = Var(TensorType((), np.float32, weak=True))
    y = Var(TensorType((), np.float32, weak=True))
    p = Program((x,), (Eqn(P.Add(), (x, lit(2.0, np.float32, weak=True)), (y,)),), (y,))
    assert str(p) == gold("""
        { lambda ; a:~f32[]. let
            b:~f32[] = add a 2.0:~f32[]
          in (b,) }
    """)


@pytest.mark.parametrize("sharding, text", [
    ((("data",), ()), "f32[512@data,512]"),
    ((("data", "model"), ()), "f32[512@(data,model),512]"),
    (((), ()), "f32[512@(),512@()]"),
    (None, "f32[512,512]"),
])
def test_sharded_types(sharding, text):
    t = TensorType((512, 512), np.float32, False, sharding)
    assert format_type(t) == text


def test_string_and_dtype_params():
    x = Var(TensorType((3,), np.float32))
    y, z = Var(TensorType((3,), np.float32)), Var(TensorType((3,), np.int32))
    idx = Lit(np.zeros((1, 1), np.int32), TensorType((1, 1), np.int32))
    w = Var(TensorType((1,), np.float32))
    p = Program((x,), (Eqn(P.Round(method="half_away_from_zero"), (x,), (y,)),
                       Eqn(P.Convert(dtype=np.int32), (y,), (z,)),
                       Eqn(P.Gather(axes=(0,), mode="fill"), (x, idx), (w,))), (z, w))
    assert str(p) == gold("""
        { lambda ; a:f32[3]. let
            b:f32[3] = round[method=half_away_from_zero] a
            c:i32[3] = convert[dtype=i32] b
            d:f32[1] = gather[axes=(0,) mode=fill] a [[0]]:i32[1,1]
          in (c, d) }
    """)


def test_default_params_are_not_printed():
    x = Var(TensorType((3,), np.float32))
    y = Var(TensorType((3,), np.float32))
    p = Program((x,), (Eqn(P.Cumsum(axis=0), (x,), (y,)),), (y,))
    assert "cumsum[axis=0] a" in str(p)
    y2 = Var(TensorType((3,), np.float32))
    p2 = Program((x,), (Eqn(P.Cumsum(axis=0, reverse=True), (x,), (y2,)),), (y2,))
    assert "cumsum[axis=0 reverse=True] a" in str(p2)


def test_variable_names():
    assert [var_name(i) for i in (0, 1, 25, 26, 27, 52, 26 * 26)] == \
        ["a", "b", "z", "ba", "bb", "ca", "baa"]
    # The printer skips names the parser reserves ("in" is the 222nd name).
    xs = [Var(F32) for _ in range(300)]
    text = str(Program(tuple(xs), (), (xs[-1],)))
    names = [b.split(":")[0] for b in text.split(". let")[0].split(" ")[3:]]
    assert "in" not in names and len(set(names)) == 300
    assert names[:3] == ["a", "b", "c"] and names[220] == "im" and names[221] == "io"


def test_source_comments_flag():
    p = d.stage(lambda x: d.sin(x))(np.ones(3, np.float32))  # the line is recorded
    line = test_source_comments_flag.__code__.co_firstlineno + 1
    assert "#" not in str(p)
    assert print_program(p, source=True).splitlines()[1] == \
        f"    b:f32[3] = sin a  # test_printer.py:{line}"


def test_print_eqn_and_repr_do_not_crash_on_free_variables():
    x, free, y = Var(F32), Var(F32), Var(F32)
    e = Eqn(P.Add(), (x, free), (y,))
    assert print_eqn(e) == "c:f32[] = add ?a ?b"
    p = Program((x,), (e,), (y,))
    assert "add a ?b" in str(p)
