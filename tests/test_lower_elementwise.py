"""The lowering rules of the elementwise primitives agree with the evaluate rules.

Each test stages one program applying an operation to every dtype it is tried on (for the first
dtype also to rank-0 operands mixed with full ones, all rank-0 and zero-size operands), compiles it
once with XLA on CPU (`run_on_cpu`) and compares its outputs with the reference interpreter
(`eval_program`) on hypothesis-drawn values with NaN, infinities, -0.0 and the integer edge cases
(0, -1, INT_MIN, INT_MAX, shift counts around the bit width) mixed in. Integers and bools must
match exactly, floats within their dtype's tolerance. XLA compiles every output as a kernel of
its own (~30 ms each), so the primitive-by-primitive test only tries the dtypes that no op-table
row reaches.

Known differences the inputs avoid: XLA's CPU runtime flushes subnormal floats to zero; complex
functions at infinities and NaN (and on branch cuts, by the sign of a zero part) follow XLA's
formulas, not NumPy's. Two evaluate rules are not bit-level (`population_count` of negative
integers, `complex` with an infinite imaginary part); those are checked against closed forms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import dsl as d
from dsl import dtypes as D
from dsl import ops as P
from dsl.core import bind
from dsl.ir import Program
from dsl.testing import arrays
from dsl.types import TensorType
from interpreters.evaluate import eval_program
from interpreters.lower import RULES, run_on_cpu
from op_table import TABLE, OpCase

RTOL = {D.float64: 1e-12, D.float32: 1e-5, D.float16: 1e-2, D.bfloat16: 1e-2,
        D.complex64: 1e-5, D.complex128: 1e-12}
ATOL = {D.float64: 1e-12, D.float32: 1e-6, D.float16: 1e-3, D.bfloat16: 1e-2,
        D.complex64: 1e-6, D.complex128: 1e-12}
FULL = (2, 4)
# the draws are whole programs' operands: shrinking them takes minutes and the assertion
# message already names the output, its operand types and the differing elements
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
MORE = max(1, settings.default.max_examples // 25)  # the `thorough` profile draws 20x more


def _host(x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object:  # a bf16 device buffer (no buffer protocol): ask jaxlib to copy it
        a = a.item()._single_device_array_to_np_array_did_copy()[0]
    return a


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.complex128 if D.is_complex(x.dtype) else np.float64)


def assert_same(got: Any, want: Any, what: str, scale: float = 1.0) -> None:
    got, want = _host(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if D.is_inexact(want.dtype):
        np.testing.assert_allclose(_wide(got), _wide(want), rtol=RTOL[want.dtype] * scale,
                                   atol=ATOL[want.dtype] * scale, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


# -- operand values ---------------------------------------------------------------------------

def _specials(dt: np.dtype) -> list[Any]:
    if D.is_floating(dt):
        return [np.nan, np.inf, -np.inf, -0.0, 0.0]
    if D.is_integer(dt):
        info, bits = np.iinfo(dt), dt.itemsize * 8
        pool = [0, 1, info.min, info.max, bits - 1, bits, bits + 1]
        if info.min < 0:
            pool += [-1, -bits]
        return pool
    return []


def flush(a: np.ndarray, below: float | None = None) -> np.ndarray:
    """`a` with subnormal floats (or those below `below` in magnitude) replaced by signed zeros:
    XLA's CPU runtime flushes subnormals (it runs with the FTZ/DAZ modes on, as JAX does), NumPy
    does not; a known difference, for inputs and for results alike."""
    if not D.is_inexact(a.dtype):
        return a
    if D.is_complex(a.dtype):
        out = a.copy()
        out.real, out.imag = flush(a.real, below), flush(a.imag, below)
        return out
    tiny = below or np.finfo(D.float32 if a.dtype == D.bfloat16 else a.dtype).tiny
    w = a.astype(np.float64)
    return np.where(np.abs(w) < tiny, np.copysign(0.0, w), w).astype(a.dtype)


def values(t: TensorType, domain: Any = "real", specials: bool = True
           ) -> st.SearchStrategy[np.ndarray]:
    """Arrays of `t` in `domain`, with up to three elements replaced by special values."""
    base = arrays(t, domain).map(flush)
    pool = _specials(t.dtype) if specials else []
    if not pool or t.size == 0:
        return base

    def patch(a: np.ndarray, picks: list[tuple[int, Any]]) -> np.ndarray:
        a = a.copy()
        flat = a.reshape(-1)
        for i, v in picks:
            flat[i] = np.asarray(v).astype(t.dtype)
        return a

    picks = st.lists(st.tuples(st.integers(0, t.size - 1), st.sampled_from(pool)), max_size=3)
    return st.tuples(base, picks).map(lambda p: patch(*p))


# -- grouped programs ---------------------------------------------------------------------------

def groups(arity: int) -> list[tuple[tuple[int, ...], ...]]:
    """Operand shapes to try: equal full shapes, all rank-0, zero-size, one rank-0 operand."""
    empty = (0,) + FULL[1:]
    out = [(FULL,) * arity, ((),) * arity, (empty,) * arity]
    if arity > 1:
        out += [tuple(() if j == i else FULL for j in range(arity)) for i in range(arity)]
    return out


@dataclass
class Grouped:
    """A program applying one operation to operand groups of several dtypes, and its layout:
    per group, the dtype's index and the operands' shapes."""

    program: Program
    arity: int
    dtypes: list[np.dtype]
    layout: list[tuple[int, tuple[tuple[int, ...], ...]]]

    def draw(self, data: Any, domains: Sequence[Any], specials: Callable[[np.dtype], bool],
             strategy: Callable[..., st.SearchStrategy[np.ndarray]] | None = None
             ) -> list[np.ndarray]:
        """One full-shape array per dtype and operand, drawn once; the rank-0 and zero-size
        operands are cut from it (each XLA kernel costs a compile, each draw a little time)."""
        make = strategy or values
        full = [[data.draw(make(TensorType(FULL, dt), domains[i], specials(dt)))
                 for i in range(self.arity)] for dt in self.dtypes]
        args = []
        for k, shapes in self.layout:
            for i, shape in enumerate(shapes):
                a = full[k][i]
                args.append(a if shape == FULL else a.reshape(-1)[-1:].reshape(())
                            if shape == () else a[:0])
        return args


def staged(apply: Callable[..., Any], arity: int, dts: Sequence[np.dtype],
           shapes: bool = True) -> Grouped:
    """One program applying `apply` to every dtype in `dts`: on full-shape operands, and for the
    first dtype also on every group of `groups` (the rules broadcast alike for every dtype)."""
    layout = []
    for k, dt in enumerate(dts):
        for shapes in groups(arity) if k == 0 and shapes else [(FULL,) * arity]:
            layout.append((k, shapes))
    types = [TensorType(s, dts[k]) for k, shapes in layout for s in shapes]

    def fn(*xs: Any) -> list[Any]:
        return [apply(*xs[i:i + arity]) for i in range(0, len(xs), arity)]

    return Grouped(d.stage(fn)(*types), arity, list(dts), layout)


def check_program(program: Program, args: list[np.ndarray], what: str,
                  scale: float = 1.0) -> None:
    got = run_on_cpu(program, args)
    want = eval_program(program, args)
    assert len(got) == len(want)
    per = len(args) // len(got) if len(args) % len(got) == 0 else 0
    for i, (g, w) in enumerate(zip(got, want)):
        ins = f" of {args[i * per:(i + 1) * per]}" if per else ""  # one output per group
        assert_same(g, w, f"{what}: output {i} ({program.outputs[i].type}){ins}", scale)


# -- every row of the op table ----------------------------------------------------------------

# rows whose XLA expansions (CHLO polynomials, pow via exp/log) are a few ulps off NumPy's
SCALE = {"lgamma": 10.0, "digamma": 10.0, "erf_inv": 10.0, "tan": 10.0, "power": 10.0}


def _domains(case: OpCase) -> tuple[Any, ...]:
    if isinstance(case.domain, tuple) and isinstance(case.domain[0], str):
        return case.domain
    return (case.domain,) * case.arity


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_op_table_row_lowers_like_evaluate(case: OpCase) -> None:
    grouped = staged(case.ours, case.arity, case.dtypes)

    @settings(phases=NO_SHRINK, max_examples=4 * MORE)
    @given(st.data())
    def run(data: Any) -> None:
        args = grouped.draw(data, _domains(case), _real_specials)
        check_program(grouped.program, args, case.name, SCALE.get(case.name, 1.0))

    run()


def _real_specials(dt: np.dtype) -> bool:
    # complex functions at infinities and NaN are left out: XLA and NumPy pick different
    # (equally valid) results there
    return not D.is_complex(dt)


# -- every primitive on every dtype it accepts --------------------------------------------------

ELEMENTWISE = [*P.UNARY, *P.BINARY, *P.COMPARE, *P.TERNARY, P.Convert, P.Bitcast]

# classes whose complex results at NaN/inf are specified alike by XLA and NumPy
COMPLEX_SPECIALS = {P.Neg, P.Real, P.Imag, P.Conj, P.Add, P.Sub, P.Max, P.Min, P.Eq, P.Ne,
                    P.StopGradient, P.Select, P.Abs, P.Exp, P.Sign}
DOMAIN: dict[type[P.Op], Any] = {P.ErfInv: "unit", P.Acosh: "ge1"}
SPECIAL_FUNCTIONS = (P.Lgamma, P.Digamma, P.ErfInv, P.Tan, P.Pow)


def _apply(cls: type[P.Op]) -> Callable[..., Any]:
    def apply(*xs: Any) -> Any:
        if cls is P.Select:  # the predicate compares the first two operands
            ordered = not D.is_complex(xs[0].dtype)
            return bind(P.Select(), bind(P.Gt() if ordered else P.Ne(), xs[0], xs[1]), xs[1],
                        xs[2])
        if cls is P.Clamp:  # the bound operands may be rank-0, the clamped one not
            lo, x, hi = sorted(xs, key=lambda v: v.ndim)
            return bind(P.Clamp(), lo, x, hi)
        return bind(cls(), *xs)

    return apply


PRIMITIVES = [c for c in [*P.UNARY, *P.BINARY, *P.COMPARE, *P.TERNARY]
              if c not in (P.IntegerPow, P.Round, P.PopulationCount, P.Complex)]


def _covered_by_op_table() -> set[tuple[str, np.dtype]]:
    """The (primitive, dtype) pairs the op-table rows already lower (staging is cheap)."""
    seen = set()
    for case in TABLE:
        for dt in case.dtypes:
            program = d.stage(case.ours)(*[TensorType(FULL, dt)] * case.arity)
            seen |= {(e.op.name, e.inputs[-1].type.dtype) for e in program.walk()}
    return seen


COVERED = _covered_by_op_table()


@pytest.mark.parametrize("cls", PRIMITIVES, ids=[c.name for c in PRIMITIVES])
def test_primitive_lowers_like_evaluate(cls: type[P.Op]) -> None:
    arity = 1 if cls in P.UNARY else 3 if cls in P.TERNARY else 2
    if cls is P.Clamp:  # max then min: the op table's `clip` covers more dtypes
        dts = [D.bool_, D.int8, D.uint64, D.float16, D.bfloat16, D.float32]
    elif cls is P.Select:
        dts = list(D.ALL)
    else:
        dts = list(cls.allowed)
    # the dtypes no op-table row reaches (the rows run with special values too)
    dts = [t for t in dts if (cls.name, t) not in COVERED] or dts[:1]
    grouped = staged(_apply(cls), arity, dts)

    @settings(phases=NO_SHRINK, max_examples=4 * MORE)
    @given(st.data())
    def run(data: Any) -> None:
        args = grouped.draw(data, [DOMAIN.get(cls, "real")] * arity,
                            lambda dt: not D.is_complex(dt) or cls in COMPLEX_SPECIALS)
        if cls not in COMPLEX_SPECIALS:
            args = [off_axes(a) for a in args]
        check_program(grouped.program, args, cls.name, 10.0 if cls in SPECIAL_FUNCTIONS else 1.0)

    run()


def off_axes(a: np.ndarray) -> np.ndarray:
    """Complex values moved off the axes: on a branch cut the sign of a zero part picks the side,
    and XLA and NumPy disagree on some of those."""
    if not D.is_complex(a.dtype):
        return a
    out = a.copy()
    out.real = np.where(a.real == 0, 0.25, a.real)
    out.imag = np.where(a.imag == 0, 0.25, a.imag)
    return out


def test_round_both_methods_and_integer_pow() -> None:
    methods = ("half_even", "half_away_from_zero")
    rounds = staged(lambda x: [bind(P.Round(method=m), x) for m in methods], 1, D.FLOATING)
    exps = (0, 1, 2, 3, 7, -1, -2, -3)  # negative ones only for inexact operands (integer_pow's
    # type rule rejects a negative power of an integer, as JAX does)
    ipow = staged(lambda x: [bind(P.IntegerPow(y=y), x) for y in exps
                             if y >= 0 or D.is_inexact(x.dtype)], 1,
                  (D.int8, D.int64, D.uint32, D.bfloat16, D.float32, D.float64, D.complex64))

    @settings(phases=NO_SHRINK, max_examples=6 * MORE)
    @given(st.data())
    def run(data: Any) -> None:
        args = rounds.draw(data, [(-6.0, 6.0)], lambda dt: True)
        check_program(rounds.program, [with_ties(a) for a in args], "round")
        # integers: odd ones, no power of which wraps to 0 (1 / 0 is outside integer_pow's
        # contract); complex: finite values (XLA and NumPy multiply infinities differently);
        # floats: no tiny ones, whose powers XLA flushes to zero before dividing
        args = ipow.draw(data, ["small"], lambda dt: False)
        args = [np.asarray(a | 1) if D.is_integer(a.dtype) else flush(a, 1e-3) for a in args]
        check_program(ipow.program, args, "integer_pow")

    run()


def with_ties(a: np.ndarray) -> np.ndarray:
    """`a` with every other element rounded to a multiple of 1/2 (the ties of rounding)."""
    w = a.astype(np.float64)
    every_other = (np.arange(a.size) % 2 == 0).reshape(a.shape)
    return np.where(every_other, np.round(w * 2) / 2, w).astype(a.dtype)


def test_population_count_and_complex_against_closed_forms() -> None:
    # population_count counts the two's-complement bits (as XLA and JAX do); evaluate's
    # np.bitwise_count counts the bits of |x| for signed integers, so this checks closed forms
    popcount = staged(lambda x: bind(P.PopulationCount(), x), 1, D.INTEGER)
    cplx = staged(lambda x, y: bind(P.Complex(), x, y), 2, (D.float32, D.float64))

    @settings(phases=NO_SHRINK, max_examples=6 * MORE)
    @given(st.data())
    def run(data: Any) -> None:
        args = popcount.draw(data, ["real"], lambda dt: True)
        for i, (x, out) in enumerate(zip(args, run_on_cpu(popcount.program, args))):
            u = x.view(np.dtype(f"u{x.dtype.itemsize}"))
            assert_same(out, np.bitwise_count(u).astype(x.dtype), f"popcount {i} of {x}")
        # complex(re, im) places the parts as they are, infinities included (evaluate's
        # `x + 1j * y` turns an infinite y into a NaN real part)
        args = cplx.draw(data, ["real", "real"], lambda dt: True)
        for i, out in enumerate(run_on_cpu(cplx.program, args)):
            re, im = np.broadcast_arrays(args[2 * i], args[2 * i + 1])
            want = np.empty(re.shape, D.complex_dtype(re.dtype))
            want.real, want.imag = re, im
            assert_same(out, want, f"complex {i} of {re}, {im}")

    run()


def test_complex_max_min_order_and_nan() -> None:
    # lexicographic order with IEEE comparisons (0.0 == -0.0); a NaN operand wins, the first
    # if both are NaN (NumPy's rule, which evaluate follows)
    grouped = staged(lambda x, y: [bind(P.Max(), x, y), bind(P.Min(), x, y)], 2, D.COMPLEX)
    nan = complex(np.nan, 0.0)
    x = np.array([[nan, 1 + 2j, complex(0.0, np.nan), -0.0 + 0j],
                  [3 + 1j, 3 - 1j, nan, complex(0.0, -1.0)]])
    y = np.array([[1 + 1j, nan, 0j, complex(0.0, -1e-3)],
                  [3 + 0j, 3 + 2j, complex(np.nan, 1.0), complex(-0.0, 2.0)]])
    args = []
    for k, shapes in grouped.layout:
        dt = grouped.dtypes[k]
        for a, shape in zip((x, y), shapes):
            args.append(a.astype(dt) if shape == FULL else a.astype(dt).reshape(-1)[-1:].reshape(
                ()) if shape == () else a.astype(dt)[:0])
    check_program(grouped.program, args, "complex max/min")


def test_integer_conventions_against_closed_forms() -> None:
    i32, u8 = np.iinfo(np.int32), np.iinfo(np.uint8)
    x = np.array([7, -7, i32.min, i32.min, 5, -1, 1, -8], np.int32)
    y = np.array([0, 0, -1, 0, 2, 33, 32, -1], np.int32)
    ux, uy = np.array([7, 0, 255, 200], np.uint8), np.array([0, 0, 8, 9], np.uint8)
    f = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.9, -2.9, -0.0], np.float32)

    def fn(x: Any, y: Any, ux: Any, uy: Any, f: Any) -> list[Any]:
        ops = (P.Div(), P.Rem(), P.ShiftLeft(), P.ShiftRightArithmetic(),
               P.ShiftRightLogical())
        return ([bind(op, x, y) for op in ops] + [bind(op, ux, uy) for op in ops[:3]]
                + [bind(P.Convert(dtype=t), f) for t in (D.int32, D.uint8, D.int64)])

    types = [TensorType(a.shape, a.dtype) for a in (x, y, ux, uy, f)]
    got = [_host(g) for g in run_on_cpu(d.stage(fn)(*types), [x, y, ux, uy, f])]
    want = [[-1, -1, i32.min, -1, 2, 0, 0, 8],  # div: by 0 -> -1, INT_MIN / -1 -> INT_MIN
            [7, -7, 0, i32.min, 1, -1, 1, 0],  # rem: by 0 -> the dividend
            [7, -7, 0, i32.min, 20, 0, 0, 0],  # counts outside [0, 32) (-1 too) -> 0
            [7, -7, -1, i32.min, 1, -1, 0, -1],  # ... or the sign fill
            [7, -7, 0, i32.min, 1, 0, 0, 0],
            [u8.max, u8.max, 31, 22], [7, 0, 7, 2], [7, 0, 0, 0],
            [0, i32.max, i32.min, i32.max, i32.min, 2, -2, 0],  # truncate, saturate, NaN -> 0
            [0, 255, 0, 255, 0, 2, 0, 0],
            [0, 2**63 - 1, -2**63, 3000000000, -3000000000, 2, -2, 0]]
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, np.asarray(w, g.dtype), err_msg=f"output {i}")


# -- casts ------------------------------------------------------------------------------------

EDGES = [float(v) for v in (
    3.7, -3.7, 2.5, -2.5, 0.5, -0.5, 127.5, 128.0, -128.0, -129.0, 255.5, 256.0, 32767.5, -32769.0,
    65535.5, 65536.0, 2147483520.0, 2**31, -(2**31), -2147483904.0, 4294967040.0, 2**32, 2**63,
    -(2**63), 9.2233715e18, 2**64, 1.9e19, -1e19, 65504.0, 70000.0, 16777217.0, 3.4e38, 1e300,
    1e-30, 1e-300)]


def _cast_values(t: TensorType, *_: Any) -> st.SearchStrategy[np.ndarray]:
    dt = t.dtype
    if D.is_floating(dt) or D.is_complex(dt):
        real = D.real_dtype(dt)
        elem = st.one_of(st.sampled_from(EDGES + [np.nan, np.inf, -np.inf, -0.0, 0.0]),
                         st.floats(-1e20, 1e20), st.floats(-300, 300))
        if D.is_complex(dt):
            elem = st.builds(complex, elem, elem)
        with np.errstate(over="ignore"):
            return st.lists(elem, min_size=t.size, max_size=t.size).map(
                lambda v: np.asarray(v).astype(np.complex128 if D.is_complex(dt) else real
                                               ).astype(dt).reshape(t.shape)).map(flush)
    if D.is_bool(dt):
        return arrays(t)
    info = np.iinfo(dt)
    return st.lists(st.one_of(st.integers(int(info.min), int(info.max)),
                              st.sampled_from(_specials(dt))), min_size=t.size,
                    max_size=t.size).map(lambda v: np.asarray(v, dt).reshape(t.shape))


@pytest.mark.parametrize("src", D.ALL, ids=[D.short_name(t) for t in D.ALL])
def test_convert_every_pair(src: np.dtype) -> None:
    targets = [t for t in D.ALL if D.is_complex(t) or not D.is_complex(src)]
    grouped = staged(lambda x: [bind(P.Convert(dtype=t), x) for t in targets], 1, [src],
                     shapes=src == D.float32)

    @settings(phases=NO_SHRINK, max_examples=8 * MORE)
    @given(st.data())
    def run(data: Any) -> None:
        with np.errstate(over="ignore"):  # floats beyond f16/bf16 become infinities
            args = grouped.draw(data, [None], lambda dt: True, _cast_values)
        check_program(grouped.program, args, f"convert from {D.short_name(src)}")

    run()


def test_bitcast_every_pair() -> None:
    pairs = [(a, b) for a in D.ALL for b in D.ALL
             if a.itemsize == b.itemsize and D.bool_ not in (a, b)]
    sources = sorted({a for a, _ in pairs}, key=D.ALL.index)
    types = [TensorType(s, a) for a in sources for s in ((5,), (), (0, 2))]

    def fn(*xs: Any) -> list[Any]:
        return [bind(P.Bitcast(dtype=b), x) for x, t in zip(xs, types) for a, b in pairs
                if a == t.dtype]

    program = d.stage(fn)(*types)

    @settings(phases=NO_SHRINK, max_examples=8 * MORE)
    @given(st.data())
    def run(data: Any) -> None:
        args = [np.frombuffer(data.draw(st.binary(min_size=t.size * t.dtype.itemsize,
                                                  max_size=t.size * t.dtype.itemsize)),
                              t.dtype).reshape(t.shape) for t in types]
        got, want = run_on_cpu(program, args), eval_program(program, args)
        for i, (g, w) in enumerate(zip(got, want)):
            g = _host(g)
            assert g.dtype == w.dtype and g.shape == w.shape, f"bitcast output {i}"
            assert g.tobytes() == np.ascontiguousarray(w).tobytes(), f"bitcast output {i}"

    run()


def test_every_elementwise_primitive_has_a_lowering_rule() -> None:
    import interpreters.lower.elementwise  # noqa: F401  (registers the rules)

    missing = [c.name for c in ELEMENTWISE if c not in RULES]
    assert not missing, f"elementwise primitives without a lowering rule: {missing}"
    assert len(set(ELEMENTWISE)) == len(ELEMENTWISE) > 60
