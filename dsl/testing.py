"""Hypothesis strategies for the language, shipped to users who property-test numeric kernels.

* `dtypes`, `shapes`, `tensor_types`: the types of the language (zero-size dimensions included).
* `arrays(type, domain)`: NumPy values of a type, with elements drawn from a domain (an interval
  `(lo, hi)` or a named one: `"real"`, `"positive"`, `"unit"`, `"nonzero"`, `"small"`).
* `programs(...)`: random **well-typed programs** over every primitive and combinator, with size
  and depth controls. Each step draws a primitive, finds (or makes) operands of types it accepts,
  and appends the equation; combinator bodies are generated recursively, one level shallower.
  Every generated program typechecks; the generator never calls user code.

Programs are built directly as IR (`Var`, `Lit`, `Eqn`) so the generator reaches every primitive
and parameter, including ones the NumPy-level API never emits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from dsl import dtypes as D
from dsl import ops as P
from dsl.ir import Atom, Eqn, Lit, Op, Program, Var
from dsl.types import TensorType

FLOATS = (D.float32, D.float64, D.float16, D.bfloat16)
INTS = (D.int32, D.int8, D.int64, D.uint8, D.uint32)
ALL_DTYPES = FLOATS + INTS + (D.bool_, D.complex64)


def dtypes(kinds: Sequence[np.dtype] = ALL_DTYPES) -> st.SearchStrategy[np.dtype]:
    """One of `kinds` (default: a representative set of every kind)."""
    return st.sampled_from(tuple(kinds))


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 0,
           max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes, zero-size dimensions included unless `min_side > 0`."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims,
                    max_size=max_dims).map(tuple)


def tensor_types(dtype: st.SearchStrategy[np.dtype] | None = None,
                 shape: st.SearchStrategy[tuple[int, ...]] | None = None
                 ) -> st.SearchStrategy[TensorType]:
    return st.builds(TensorType, shape if shape is not None else shapes(),
                     dtype if dtype is not None else dtypes())


DOMAINS: dict[str, tuple[float, float]] = {
    "real": (-10.0, 10.0), "positive": (0.01, 10.0), "unit": (-0.99, 0.99),
    "nonzero": (0.1, 10.0), "small": (-3.0, 3.0), "ge1": (1.01, 10.0),
}


def arrays(type_: TensorType, domain: str | tuple[float, float] = "real"
           ) -> st.SearchStrategy[np.ndarray]:
    """NumPy arrays of `type_` with elements in `domain` (for `nonzero`, the sign is random)."""
    lo, hi = DOMAINS[domain] if isinstance(domain, str) else domain
    dt, n = type_.dtype, type_.size
    if D.is_bool(dt):
        elem: st.SearchStrategy[Any] = st.booleans()
    elif D.is_integer(dt):
        info = np.iinfo(dt)
        elem = st.integers(int(max(info.min, np.floor(lo))), int(min(info.max, np.ceil(hi))))
        if domain == "nonzero":  # integers in [1, hi] with a random sign where it has one
            elem = st.tuples(st.integers(1, int(min(info.max, hi))), st.booleans()).map(
                lambda p: -p[0] if p[1] and info.min < 0 else p[0])
    else:
        elem = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
        if domain == "nonzero":
            elem = st.tuples(elem, st.booleans()).map(lambda p: -p[0] if p[1] else p[0])
        if D.is_complex(dt):
            elem = st.builds(complex, elem, elem)

    def build(vals: list[Any]) -> np.ndarray:
        return np.asarray(vals, dtype=dt if not D.is_floating(dt) else np.float64
                          ).astype(dt).reshape(type_.shape)

    return st.lists(elem, min_size=n, max_size=n).map(build)


# ---------------------------------------------------------------------------------------------
# Random programs.

class _Gen:
    """A program under construction: a pool of typed atoms and the equations so far."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any], inputs: list[Var],
                 depth: int):
        self.draw = draw
        self.pool: list[Var] = list(inputs)
        self.eqns: list[Eqn] = []
        self.depth = depth

    def emit(self, op: Op, ins: Sequence[Atom]) -> list[Var]:
        outs = [Var(t) for t in op.infer(*(a.type for a in ins))]
        self.eqns.append(Eqn(op, tuple(ins), tuple(outs)))
        self.pool.extend(outs)
        return outs

    def pick(self, pred: Callable[[TensorType], bool]) -> Var | None:
        cands = [v for v in self.pool if pred(v.type)]
        return self.draw(st.sampled_from(cands)) if cands else None

    def lit(self, dt: np.dtype, value: Any = None) -> Lit:
        if value is None:
            value = self.draw(_scalar(dt))
        return Lit(np.asarray(value).astype(dt), TensorType((), dt))

    def of_type(self, t: TensorType) -> Atom:
        """An atom of exactly type `t` (weak flag aside): a pool var, or a broadcast constant."""
        v = self.pick(lambda u: u.same_ignoring_weak(t))
        if v is not None and self.draw(st.integers(0, 3)) > 0:
            return v
        if t.shape == ():
            return self.lit(t.dtype)
        return self.emit(P.BroadcastInDim(shape=t.shape, broadcast_dimensions=()),
                         [self.lit(t.dtype)])[0]

    def convert_to(self, v: Atom, dt: np.dtype) -> Atom:
        if v.type.dtype == dt:
            return v
        return self.emit(P.Convert(dtype=dt), [v])[0]


def _scalar(dt: np.dtype) -> st.SearchStrategy[Any]:
    if D.is_bool(dt):
        return st.booleans()
    if D.is_integer(dt):
        info = np.iinfo(dt)
        return st.integers(max(info.min, -5), min(info.max, 5))
    if D.is_complex(dt):
        return st.builds(complex, st.sampled_from([-1.5, 0.0, 0.5, 2.0]),
                         st.sampled_from([-1.0, 0.0, 1.0]))
    return st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0, 0.1])


def _unary(g: _Gen) -> None:
    cls = g.draw(st.sampled_from(P.UNARY))
    if cls is P.IntegerPow:
        op: Op = P.IntegerPow(y=g.draw(st.integers(-2, 3)))
    elif cls is P.Round:
        op = P.Round(method=g.draw(st.sampled_from(P.elementwise.ROUNDING_METHODS)))
    else:
        op = cls()
    x = g.pick(lambda t: t.dtype in cls.allowed)
    if x is None:
        return
    if cls is P.IntegerPow and op.y < 0 and not D.is_inexact(x.type.dtype):  # type: ignore
        op = P.IntegerPow(y=2)
    g.emit(op, [x])


def _binary(g: _Gen) -> None:
    cls = g.draw(st.sampled_from(P.BINARY + P.COMPARE))
    x = g.pick(lambda t: t.dtype in cls.allowed)
    if x is None:
        return
    choice = g.draw(st.integers(0, 2))
    if choice == 0:
        y: Atom = g.lit(x.type.dtype)
    elif choice == 1:
        y = g.of_type(x.type)
    else:
        y = x
    args = [x, y] if g.draw(st.booleans()) else [y, x]
    g.emit(cls(), args)


def _select_clamp(g: _Gen) -> None:
    x = g.pick(lambda t: not D.is_complex(t.dtype))
    if x is None:
        return
    if g.draw(st.booleans()):
        pred = g.pick(lambda t: t.dtype == D.bool_ and t.shape in ((), x.type.shape))
        if pred is None:
            pred = g.emit(P.Lt(), [x, g.lit(x.type.dtype)])[0]
        g.emit(P.Select(), [pred, x, g.of_type(x.type)])
    else:
        lo, hi = sorted([g.draw(_scalar(x.type.dtype)), g.draw(_scalar(x.type.dtype))])
        g.emit(P.Clamp(), [g.lit(x.type.dtype, lo), x, g.lit(x.type.dtype, hi)])


def _cast(g: _Gen) -> None:
    x = g.pick(lambda t: True)
    assert x is not None
    if g.draw(st.booleans()):
        targets = [d for d in ALL_DTYPES if not (D.is_complex(x.type.dtype)
                                                  and not D.is_complex(d))]
        g.emit(P.Convert(dtype=g.draw(st.sampled_from(targets))), [x])
    else:
        same = [d for d in D.ALL if d.itemsize == x.type.dtype.itemsize and d != D.bool_
                and not D.is_complex(d)]
        if x.type.dtype == D.bool_ or D.is_complex(x.type.dtype) or not same:
            return
        g.emit(P.Bitcast(dtype=g.draw(st.sampled_from(same))), [x])


def _structural(g: _Gen) -> None:
    kind = g.draw(st.sampled_from(["iota", "bcast", "reshape", "transpose", "squeeze", "expand",
                                   "rev", "pad", "concat", "slice", "dslice", "dus"]))
    if kind == "iota":
        shape = g.draw(shapes(1, 2, 1, 4))
        g.emit(P.Iota(dtype=g.draw(st.sampled_from(INTS[:2] + FLOATS[:2])), shape=shape,
                      dimension=g.draw(st.integers(0, len(shape) - 1))), [])
        return
    x = g.pick(lambda t: t.ndim <= 3)
    if x is None:
        return
    t = x.type
    nd = t.ndim
    if kind == "bcast":
        n = g.draw(st.integers(0, 3))
        g.emit(P.BroadcastInDim(shape=(n,) + t.shape,
                                broadcast_dimensions=tuple(range(1, nd + 1))), [x])
    elif kind == "reshape":
        g.emit(P.Reshape(new_sizes=(t.size,) if g.draw(st.booleans()) else t.shape[::-1]), [x])
    elif kind == "transpose":
        perm = g.draw(st.permutations(range(nd)))
        g.emit(P.Transpose(permutation=tuple(perm)), [x])
    elif kind == "squeeze":
        ones = [i for i, n in enumerate(t.shape) if n == 1]
        if ones:
            g.emit(P.Squeeze(dimensions=(g.draw(st.sampled_from(ones)),)), [x])
    elif kind == "expand":
        g.emit(P.ExpandDims(dimensions=(g.draw(st.integers(0, nd)),)), [x])
    elif kind == "rev" and nd:
        g.emit(P.Rev(dimensions=(g.draw(st.integers(0, nd - 1)),)), [x])
    elif kind == "pad":
        cfg = tuple((g.draw(st.integers(-min(n, 1), 2)), g.draw(st.integers(0, 2)),
                     g.draw(st.integers(0, 1))) for n in t.shape)
        g.emit(P.Pad(config=cfg), [x, g.lit(t.dtype)])
    elif kind == "concat" and nd:
        g.emit(P.Concatenate(dimension=g.draw(st.integers(0, nd - 1))), [x, g.of_type(t)])
    elif kind == "slice":
        starts, limits, strides = [], [], []
        for n in t.shape:
            lo = g.draw(st.integers(0, n))
            starts.append(lo)
            limits.append(g.draw(st.integers(lo, n)))
            strides.append(g.draw(st.integers(1, 2)))
        g.emit(P.Slice(start_indices=tuple(starts), limit_indices=tuple(limits),
                       strides=tuple(strides)), [x])
    elif kind == "dslice":
        sizes = tuple(g.draw(st.integers(0, n)) for n in t.shape)
        idx = [g.lit(D.int32, g.draw(st.integers(-1, n + 1))) for n in t.shape]
        g.emit(P.DynamicSlice(slice_sizes=sizes), [x] + idx)
    elif kind == "dus":
        sizes = tuple(g.draw(st.integers(0, n)) for n in t.shape)
        upd = g.emit(P.Slice(start_indices=(0,) * nd, limit_indices=sizes), [x])[0]
        idx = [g.lit(D.int32, g.draw(st.integers(-1, n + 1))) for n in t.shape]
        g.emit(P.DynamicUpdateSlice(), [x, upd] + idx)


def _indexing(g: _Gen) -> None:
    x = g.pick(lambda t: 1 <= t.ndim <= 3)
    if x is None:
        return
    t = x.type
    axes = tuple(sorted(g.draw(st.sets(st.integers(0, t.ndim - 1), min_size=1))))
    batch = g.draw(shapes(0, 2, 0, 3))
    vals = g.draw(st.lists(st.integers(-1, 4), min_size=int(np.prod(batch)) * len(axes),
                           max_size=int(np.prod(batch)) * len(axes)))
    idx = Lit(np.asarray(vals, np.int32).reshape(batch + (len(axes),)),
              TensorType(batch + (len(axes),), D.int32))
    if g.draw(st.booleans()):
        g.emit(P.Gather(axes=axes, mode=g.draw(st.sampled_from(P.structural.GATHER_MODES))),
               [x, idx])
    else:
        kinds = list(P.structural.SCATTER_KINDS)
        if D.is_complex(t.dtype):
            kinds = ["set", "add", "mul"]
        if D.is_bool(t.dtype):
            kinds = ["set", "min", "max"]
        upd_t = P.Gather(axes=axes).infer(t, idx.type)[0]
        g.emit(P.Scatter(axes=axes, kind=g.draw(st.sampled_from(kinds))),
               [x, idx, g.of_type(upd_t)])


def _reduction(g: _Gen) -> None:
    kind = g.draw(st.sampled_from(["reduce", "arg", "cum", "dot", "sort"]))
    if kind == "reduce":
        cls = g.draw(st.sampled_from(P.REDUCTIONS))
        x = g.pick(lambda t: t.dtype in cls.allowed)
        if x is not None:
            axes = g.draw(st.sets(st.integers(0, max(x.type.ndim - 1, 0)), max_size=x.type.ndim))
            g.emit(cls(axes=tuple(sorted(axes))), [x])
    elif kind == "arg":
        x = g.pick(lambda t: t.ndim >= 1 and 0 not in t.shape and not D.is_complex(t.dtype))
        if x is not None:
            cls = g.draw(st.sampled_from([P.Argmax, P.Argmin]))
            g.emit(cls(axis=g.draw(st.integers(0, x.type.ndim - 1)),
                       index_dtype=g.draw(st.sampled_from([D.int32, D.int64]))), [x])
    elif kind == "cum":
        cls = g.draw(st.sampled_from(P.CUMULATIVE))
        x = g.pick(lambda t: t.ndim >= 1 and t.dtype in cls.allowed)
        if x is not None:
            g.emit(cls(axis=g.draw(st.integers(0, x.type.ndim - 1)),
                       reverse=g.draw(st.booleans())), [x])
    elif kind == "dot":
        x = g.pick(lambda t: 1 <= t.ndim <= 3 and t.dtype in D.NUMERIC)
        if x is not None:
            d = g.draw(st.integers(0, x.type.ndim - 1))
            g.emit(P.DotGeneral(contracting=((d,), (d,))), [x, g.of_type(x.type)])
    else:
        x = g.pick(lambda t: t.ndim >= 1 and not D.is_complex(t.dtype))
        if x is not None:
            ops_ = [x] if g.draw(st.booleans()) else [x, g.of_type(x.type)]
            g.emit(P.Sort(dimension=g.draw(st.integers(0, x.type.ndim - 1)),
                          num_keys=g.draw(st.integers(1, len(ops_)))), ops_)


_MONOIDS = {P.Add: D.NUMERIC, P.Mul: D.NUMERIC, P.Max: D.INTEGER + D.FLOATING,
            P.Min: D.INTEGER + D.FLOATING, P.And: D.INTEGER + (D.bool_,),
            P.Or: D.INTEGER + (D.bool_,)}


def _monoid_body(g: _Gen, dt: np.dtype) -> Program:
    cls = g.draw(st.sampled_from([c for c, ok in _MONOIDS.items() if dt in ok]))
    a, b = Var(TensorType((), dt)), Var(TensorType((), dt))
    out = Var(TensorType((), dt))
    return Program((a, b), (Eqn(cls(), (a, b), (out,)),), (out,))


def _identity(cls: type[Op], dt: np.dtype) -> Any:
    if cls is P.Add or cls is P.Or:
        return 0
    if cls is P.Mul:
        return 1
    if cls is P.And:
        return True if dt == D.bool_ else -1
    if D.is_floating(dt):
        return -np.inf if cls is P.Max else np.inf
    if dt == D.bool_:
        return cls is not P.Max
    info = np.iinfo(dt)
    return info.min if cls is P.Max else info.max


def _body(g: _Gen, in_types: Sequence[TensorType], out_types: Sequence[TensorType] | None,
          max_eqns: int) -> Program:
    """A random closed body with the given inputs; outputs coerced to `out_types` if given."""
    sub = _Gen(g.draw, [Var(t) for t in in_types], g.depth - 1)
    ins = list(sub.pool)
    _fill(sub, max_eqns)
    if out_types is None:
        k = g.draw(st.integers(1, 2))
        outs: list[Atom] = [sub.draw(st.sampled_from(sub.pool)) for _ in range(k)]
    else:
        outs = [sub.of_type(t) for t in out_types]
    return Program(tuple(ins), tuple(sub.eqns), tuple(outs))


def _control(g: _Gen) -> None:
    if g.depth <= 0:
        return
    kind = g.draw(st.sampled_from(["map", "scan", "reduce", "ascan", "cond", "while"]))
    if kind in ("map", "scan"):
        x = g.pick(lambda t: t.ndim >= 1)
        if x is None:
            return
        n = x.type.shape[0]
        elem = TensorType(x.type.shape[1:], x.type.dtype)
        const = g.pick(lambda t: t.ndim <= 1)
        consts = [const] if const is not None and g.draw(st.booleans()) else []
        if kind == "map":
            body = _body(g, [c.type for c in consts] + [elem], None, 3)
            g.emit(P.Map(body=body, num_consts=len(consts)), consts + [x])
            return
        carry = g.pick(lambda t: t.ndim <= 1) or g.lit(D.float32, 0.0)
        ct = carry.type.strong()
        body = _body(g, [c.type for c in consts] + [ct, elem], None, 3)
        body = Program(body.inputs, body.eqns, (_coerce_out(g, body, ct),) + body.outputs)
        g.emit(P.Scan(body=body, length=n, reverse=g.draw(st.booleans()),
                      num_consts=len(consts), num_carry=1), consts + [carry, x])
    elif kind in ("reduce", "ascan"):
        x = g.pick(lambda t: t.ndim >= 1 and t.dtype in D.NUMERIC + (D.bool_,)
                   and not D.is_complex(t.dtype))
        if x is None:
            return
        body = _monoid_body(g, x.type.dtype)
        if kind == "reduce":
            init = g.lit(x.type.dtype, _identity(type(body.eqns[0].op), x.type.dtype))
            axes = g.draw(st.sets(st.integers(0, x.type.ndim - 1), min_size=1))
            g.emit(P.Reduce(body=body, axes=tuple(sorted(axes))), [x, init])
        else:
            g.emit(P.AssociativeScan(body=body, axis=g.draw(st.integers(0, x.type.ndim - 1)),
                                     reverse=g.draw(st.booleans())), [x])
    elif kind == "cond":
        ops_ = [g.draw(st.sampled_from(g.pool)) for _ in range(g.draw(st.integers(1, 2)))]
        tys = [o.type for o in ops_]
        first = _body(g, tys, None, 3)
        branches = [first] + [_body(g, tys, first.out_types, 3)
                              for _ in range(g.draw(st.integers(1, 2)))]
        idx = g.pick(lambda t: t.shape == () and t.dtype == D.int32) or g.lit(
            D.int32, g.draw(st.integers(-1, 3)))
        g.emit(P.Cond(branches=tuple(branches)), [idx] + ops_)
    else:
        x = g.pick(lambda t: t.ndim <= 1 and not D.is_bool(t.dtype))
        if x is None:
            return
        i_t, x_t = TensorType((), D.int32), x.type.strong()
        ci, cx = Var(i_t), Var(x_t)
        pred = Var(TensorType((), D.bool_))
        n = g.draw(st.integers(0, 4))
        cond = Program((ci, cx), (Eqn(P.Lt(), (ci, Lit(np.int32(n), i_t)), (pred,)),), (pred,))
        body = _body(g, [i_t, x_t], None, 3)
        bi, bx = body.inputs
        nxt = Var(i_t)
        eqns = body.eqns + (Eqn(P.Add(), (bi, Lit(np.int32(1), i_t)), (nxt,)),)
        body = Program(body.inputs, eqns, (nxt, _coerce_out(g, body, x_t)))
        start = g.lit(D.int32, 0)
        max_iters = g.draw(st.sampled_from([None, n, n + 2, max(n - 1, 0)]))
        g.emit(P.WhileLoop(cond=cond, body=body, max_iters=max_iters), [start, x])


def _coerce_out(g: _Gen, body: Program, t: TensorType) -> Atom:
    """A strong var of type `t` in `body` (its own input of that type always qualifies)."""
    cands = [v for v in body.inputs + tuple(o for e in body.eqns for o in e.outputs)
             if v.type.same_ignoring_weak(t) and not v.type.weak]
    return g.draw(st.sampled_from(cands))


_STEPS = [(_unary, 4), (_binary, 4), (_select_clamp, 1), (_cast, 1), (_structural, 3),
          (_indexing, 1), (_reduction, 2), (_control, 1)]
_STEP_CHOICES = [fn for fn, w in _STEPS for _ in range(w)]


def _fill(g: _Gen, max_eqns: int) -> None:
    n = g.draw(st.integers(1, max_eqns))
    for _ in range(4 * n):
        if len(g.eqns) >= n:
            break
        g.draw(st.sampled_from(_STEP_CHOICES))(g)


@st.composite
def programs(draw: Callable[[st.SearchStrategy[Any]], Any], max_eqns: int = 8,
             max_depth: int = 2, in_types: Sequence[TensorType] | None = None,
             dtype: st.SearchStrategy[np.dtype] | None = None) -> Program:
    """Random well-typed programs: `max_eqns` top-level steps, bodies nested `max_depth` deep."""
    if in_types is None:
        k = draw(st.integers(1, 3))
        in_types = [draw(tensor_types(dtype, shapes(0, 3, 0, 3))) for _ in range(k)]
    g = _Gen(draw, [Var(t) for t in in_types], max_depth)
    ins = list(g.pool)
    _fill(g, max_eqns)
    k = draw(st.integers(1, 3))
    outs = [draw(st.sampled_from(g.pool)) for _ in range(k)]
    return Program(tuple(ins), tuple(g.eqns), tuple(outs))


__all__ = ["ALL_DTYPES", "DOMAINS", "arrays", "dtypes", "programs", "shapes", "tensor_types"]
