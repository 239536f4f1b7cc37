"""The laws that tie the interpreters together, as checkers users can run on their own code.

Each checker takes a function (or a staged `Program`) and example arguments, checks one law, and
raises `LawViolation` (an `AssertionError`) with the program and the numbers when it fails:

- `check_parse(f, *args)`: the printed program parses back to an alpha-equivalent program, prints
  identically, and typechecks;
- `check_staged_matches_eager(f, *args)`: running `f` eagerly and running its staged program
  with the reference interpreter agree within the dtype's tolerance.

`check_shard_map(rng, mesh)` checks the shard_map law on one random program: a `shard_map`
program equals the same program unsharded (elementwise bodies under random specs, outputs kept
split, or reduced with `psum`, or gathered back with `all_gather`), eagerly and under `jit`.

`check_random_programs(law)` runs a law over random well-typed programs from `dsl.testing`
(it needs `hypothesis`, the test extra). The laws of later interpreters (lowering, derivatives,
vectorization) join this module with them. Tolerances are those of DESIGN section 6.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dsl import dtypes
from dsl.ir import Program
from dsl.pytree import tree_leaves
from dsl.staging import stage_with_tree

RTOL = {dtypes.float64: 1e-12, dtypes.complex128: 1e-12, dtypes.float32: 1e-5,
        dtypes.complex64: 1e-5, dtypes.float16: 1e-2, dtypes.bfloat16: 1e-2}


class LawViolation(AssertionError):
    """A law failed; the message shows the program and the differing values."""


def tolerance(dtype: np.dtype) -> float:
    """The relative (and absolute) tolerance for comparing values of `dtype`; 0 means exact."""
    return RTOL.get(np.dtype(dtype), 0.0)


def assert_close(actual: Any, expected: Any, what: str = "values") -> None:
    """Equal dtypes and shapes, and values within the dtype's tolerance (NaNs in the same places)."""
    a, e = np.asarray(actual), np.asarray(expected)
    if a.dtype != e.dtype or a.shape != e.shape:
        raise LawViolation(f"{what}: {dtypes.short_name(a.dtype)}{list(a.shape)} vs "
                           f"{dtypes.short_name(e.dtype)}{list(e.shape)}")
    tol = tolerance(a.dtype)
    if tol == 0.0:
        same = np.array_equal(a, e)
    else:
        wide = np.complex128 if dtypes.is_complex(a.dtype) else np.float64
        aw, ew = a.astype(wide), e.astype(wide)
        same = bool(np.all(np.isclose(aw, ew, rtol=tol, atol=tol, equal_nan=True)))
    if not same:
        raise LawViolation(f"{what} differ beyond tolerance {tol}:\n  got      {a!r}\n"
                           f"  expected {e!r}")


def _program(fn: Any, args: Sequence[Any]) -> Program:
    if isinstance(fn, Program):
        return fn
    return stage_with_tree(fn, tuple(args), what="laws")[0]


def check_parse(fn: Callable[..., Any] | Program, *args: Any) -> Program:
    """`parse(str(p)) == p` (alpha-equivalence), it prints the same, and `typecheck(p)` holds."""
    from dsl.parser import parse
    from dsl.typecheck import typecheck

    program = _program(fn, args)
    text = str(program)
    back = parse(text)
    if back != program:
        raise LawViolation(f"parse(str(p)) is not alpha-equivalent to p:\n{text}\n--- parsed:\n"
                           f"{back}")
    if str(back) != text:
        raise LawViolation(f"printing is not stable under parsing:\n{text}\n--- reprinted:\n{back}")
    typecheck(program)
    return program


def check_staged_matches_eager(fn: Callable[..., Any], *args: Any) -> None:
    """`fn(*args)` run eagerly equals its staged program run by the reference interpreter."""
    from interpreters.evaluate import evaluate

    eager = tree_leaves(fn(*args))
    staged = tree_leaves(evaluate(fn)(*args))
    if len(eager) != len(staged):
        raise LawViolation(f"eager gives {len(eager)} outputs, staged {len(staged)}")
    for i, (e, s) in enumerate(zip(eager, staged)):
        assert_close(s, e, f"output {i} (staged vs eager)")


def check_random_programs(law: Callable[[Program, list[np.ndarray]], None], *,
                          examples: int = 100, max_eqns: int = 8, max_depth: int = 2,
                          seed: int = 0, input_dtypes: Sequence[Any] | None = None) -> int:
    """Run `law(program, args)` on `examples` random well-typed programs with random arguments.

    Deterministic for a given `seed`; returns the number of programs checked. Hypothesis
    shrinks a failing program before the violation is raised. `input_dtypes` restricts the
    programs' input dtypes (for example to floats, for the derivative laws).
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis import strategies as st

    from dsl.testing import arrays, programs

    count = [0]

    @st.composite
    def cases(draw: Any) -> tuple[Program, list[np.ndarray]]:
        dts = None if input_dtypes is None else st.sampled_from(
            [np.dtype(t) for t in input_dtypes])
        program = draw(programs(max_eqns=max_eqns, max_depth=max_depth, dtype=dts))
        return program, [draw(arrays(t)) for t in program.in_types]

    @fixed_seed(seed)
    @settings(max_examples=examples, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def run(case: tuple[Program, list[np.ndarray]]) -> None:
        count[0] += 1
        law(*case)

    run()
    return count[0]


def parse_law(program: Program, args: list[np.ndarray]) -> None:
    """`check_parse` as a law over (program, args) pairs, for `check_random_programs`."""
    check_parse(program)


def eager_law(program: Program, args: list[np.ndarray]) -> None:
    """Re-binding a program's equations eagerly (`dsl.core.inline` on concrete values) equals
    running it with the reference interpreter."""
    from dsl.array import Array
    from dsl.core import inline
    from interpreters.evaluate import eval_program

    want = eval_program(program, args)
    got = inline(program, [Array(np.asarray(a), t.weak) for a, t in zip(args, program.in_types)])
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, f"output {i} (eager vs evaluate)")


def lowering_law(program: Program, args: list[np.ndarray]) -> None:
    """Compiling with XLA (`interpreters.lower`) gives the reference interpreter's values."""
    from interpreters.evaluate import eval_program
    from interpreters.lower import run_on_cpu

    want = eval_program(program, args)
    got = run_on_cpu(program, args)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(np.asarray(g), np.asarray(w), f"output {i} (XLA vs evaluate)")


def check_jit_matches_evaluate(fn: Callable[..., Any], *args: Any) -> None:
    """`jit(fn)(*args)` equals `evaluate(fn)(*args)` within the dtype's tolerance."""
    from interpreters.evaluate import evaluate
    from interpreters.jit import jit

    got = tree_leaves(jit(fn)(*args))
    want = tree_leaves(evaluate(fn)(*args))
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(np.asarray(g), np.asarray(w), f"output {i} (jit vs evaluate)")


# --- derivatives -------------------------------------------------------------------------------

GRAD_RTOL = {dtypes.float64: 1e-6, dtypes.complex128: 1e-6, dtypes.float32: 2e-3,
             dtypes.complex64: 2e-3, dtypes.float16: 5e-2, dtypes.bfloat16: 5e-2}


def _inner(a: Sequence[Any], b: Sequence[Any]) -> float:
    return float(sum(np.vdot(np.asarray(x, np.complex128).ravel(),
                             np.asarray(y, np.complex128).ravel()).real for x, y in zip(a, b)))


def _leaves_f64(x: Any) -> list[np.ndarray]:
    out = []
    for v in tree_leaves(x):
        v = np.asarray(v)
        out.append(v.astype(np.complex128 if dtypes.is_complex(v.dtype) else np.float64))
    return out


def _direction(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    v = rng.normal(size=x.shape)
    if dtypes.is_complex(x.dtype):
        v = v + 1j * rng.normal(size=x.shape)
    return np.asarray(v).astype(x.dtype)


def check_grads(fn: Callable[..., Any], args: Sequence[Any], order: int = 1,
                modes: Sequence[str] = ("fwd", "rev"), *, eps: float = 1e-6,
                rtol: float | None = None, seed: int = 0) -> int:
    """Derivatives of `fn` at `args` (a tuple of float arrays) up to `order`, checked against
    central finite differences computed in float64 in random directions (`fwd`: jvp; `rev`:
    vjp through the dot-product test against jvp and the differences). `fn` must accept
    float64 versions of its arguments (the differences are taken in float64). Returns the number
    of comparisons made."""
    from interpreters.differentiate.api import jvp, vjp

    rng = np.random.default_rng(seed)
    xs = [np.asarray(a) for a in args]
    dt = xs[0].dtype if xs else np.dtype(np.float32)
    tol = rtol if rtol is not None else GRAD_RTOL.get(np.dtype(dt), 2e-3)
    vs = [_direction(rng, x) for x in xs]
    wide = [x.astype(np.complex128 if dtypes.is_complex(x.dtype) else np.float64) for x in xs]
    plus = _leaves_f64(fn(*[w + eps * v for w, v in zip(wide, vs)]))
    minus = _leaves_f64(fn(*[w - eps * v for w, v in zip(wide, vs)]))
    fd = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
    out, tangent = jvp(fn, tuple(xs), tuple(vs))
    t_leaves = _leaves_f64(tangent)
    count = 0
    if "fwd" in modes:
        for i, (t, f) in enumerate(zip(t_leaves, fd)):
            scale = max(1.0, float(np.max(np.abs(f), initial=0.0)))
            if not np.allclose(t, f, rtol=tol, atol=tol * scale):
                raise LawViolation(f"jvp differs from central differences (output {i}):\n  jvp "
                                   f"{t!r}\n  fd  {f!r}")
            count += 1
    if "rev" in modes:
        _, back = vjp(fn, *xs)
        cts_tree = [_direction(rng, np.asarray(o)) for o in tree_leaves(out)]
        from dsl.pytree import tree_structure, tree_unflatten

        ct = tree_unflatten(tree_structure(out), cts_tree)
        grads = _leaves_f64(back(ct))
        lhs = _inner(grads, [v.astype(np.complex128) for v in vs])
        rhs = _inner([c.astype(np.complex128) for c in cts_tree], fd)
        scale = max(1.0, abs(rhs))
        if not abs(lhs - rhs) <= tol * scale * 10:
            raise LawViolation(f"<vjp(ct), v> = {lhs} but <ct, finite differences> = {rhs}")
        count += 1
    if order > 1:
        def deriv(*ys: Any) -> Any:
            return jvp(fn, tuple(ys), tuple(vs))[1]

        count += check_grads(deriv, xs, order - 1, modes, eps=eps, rtol=rtol, seed=seed + 1)
    return count


def check_dot_product(fn: Callable[..., Any], args: Sequence[Any], seed: int = 0) -> None:
    """The transpose law `<vjp(ct), t> == <ct, jvp(t)>` in random directions."""
    from interpreters.differentiate.api import jvp, vjp

    rng = np.random.default_rng(seed)
    xs = [np.asarray(a) for a in args]
    ts = [_direction(rng, x) for x in xs]
    out, tangent = jvp(fn, tuple(xs), tuple(ts))
    from dsl.pytree import tree_structure, tree_unflatten

    cts = [_direction(rng, np.asarray(o)) for o in tree_leaves(out)]
    _, back = vjp(fn, *xs)
    grads = back(tree_unflatten(tree_structure(out), cts))
    lhs = _inner(_leaves_f64(grads), [t.astype(np.complex128) for t in ts])
    rhs = _inner([c.astype(np.complex128) for c in cts], _leaves_f64(tangent))
    tol = GRAD_RTOL.get(np.dtype(xs[0].dtype), 2e-3) if xs else 1e-6
    if abs(lhs - rhs) > tol * max(1.0, abs(lhs), abs(rhs)):
        raise LawViolation(f"dot-product test failed: <vjp(ct), t> = {lhs}, <ct, jvp(t)> = {rhs}")


def check_jacobians(fn: Callable[..., Any], x: Any) -> None:
    """`jacfwd(fn)(x) == jacrev(fn)(x)`, and for a scalar `fn` the Hessian is symmetric. `x`
    and `fn`'s output may be pytrees: the Jacobians are compared leaf by leaf (where the input
    and output dtypes differ, jacfwd's leaves have the output's and jacrev's the input's, as in
    JAX; they are then compared in the output's), and the Hessian's blocks are assembled into
    one matrix over the flattened leaves of `x`."""
    from dsl.pytree import tree_structure
    from interpreters.differentiate.api import hessian, jacfwd, jacrev

    fwd, rev = jacfwd(fn)(x), jacrev(fn)(x)
    if tree_structure(fwd) != tree_structure(rev):
        raise LawViolation(f"jacfwd gives a {tree_structure(fwd)}, jacrev a "
                           f"{tree_structure(rev)}")
    for i, (a, b) in enumerate(zip(tree_leaves(fwd), tree_leaves(rev))):
        a, b = np.asarray(a), np.asarray(b)
        assert_close(a, b.astype(a.dtype), f"jacfwd vs jacrev (leaf {i})")
    outs = tree_leaves(fn(x))
    if len(outs) == 1 and np.shape(outs[0]) == ():
        blocks = [np.asarray(h) for h in tree_leaves(hessian(fn)(x))]
        sizes = [int(np.size(v)) for v in tree_leaves(x)]
        k = len(sizes)
        m = np.block([[blocks[i * k + j].reshape(sizes[i], sizes[j]) for j in range(k)]
                      for i in range(k)])
        assert_close(m, m.T, "Hessian vs its transpose")


# --- vectorization -------------------------------------------------------------------------------

def check_vmap(fn: Callable[..., Any], *args: Any, in_axes: Any = 0) -> None:
    """`vmap(fn)(*args)` equals stacking `fn` over the examples (a Python loop)."""
    from dsl.numpy_api import stack
    from interpreters.vectorize.api import vmap

    axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
    sizes = {np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None}
    if len(sizes) != 1:
        raise ValueError(f"check_vmap: batched arguments need one common size, got {sizes}")
    (n,) = sizes
    got = tree_leaves(vmap(fn, in_axes=tuple(axes))(*args))
    rows = []
    for i in range(n):
        ex = [a if ax is None else np.take(np.asarray(a), i, axis=ax) for a, ax in zip(args, axes)]
        rows.append(tree_leaves(fn(*ex)))
    for k, g in enumerate(got):
        want = np.asarray(stack([r[k] for r in rows])) if n else np.asarray(g)
        assert_close(np.asarray(g), want, f"output {k} (vmap vs loop)")


def check_vmap_nested(fn: Callable[..., Any], *args: Any) -> None:
    """`vmap(vmap(fn))` over arguments with two leading batch axes `[m, n, ...]` equals
    `vmap(fn)` over the flattened batch `[m*n, ...]`, reshaped back."""
    from interpreters.vectorize.api import vmap

    lead = np.shape(args[0])[:2]
    flat = [np.asarray(a).reshape((lead[0] * lead[1],) + np.shape(a)[2:]) for a in args]
    got = tree_leaves(vmap(vmap(fn))(*args))
    want = tree_leaves(vmap(fn)(*flat))
    for k, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        assert_close(np.asarray(g), w.reshape(lead + w.shape[1:]),
                     f"output {k} (nested vmap vs flattened batch)")


def check_vmap_jit(fn: Callable[..., Any], *args: Any) -> None:
    """`jit(vmap(fn))` and `jit(vmap(jit(fn)))` both equal `jit(fn)` looped over the examples
    (all compiled, so platform details such as NaN payloads agree)."""
    from dsl.numpy_api import stack
    from interpreters.jit import jit
    from interpreters.vectorize.api import vmap

    n = np.shape(args[0])[0]
    rows = [tree_leaves(jit(fn)(*(np.asarray(a)[i] for a in args))) for i in range(n)]
    for name, composed in (("jit(vmap(f))", jit(vmap(fn))), ("jit(vmap(jit(f)))", jit(vmap(jit(fn))))):
        for k, g in enumerate(tree_leaves(composed(*args))):
            want = np.asarray(stack([r[k] for r in rows])) if n else np.asarray(g)
            assert_close(np.asarray(g), want, f"output {k} ({name} vs a loop of jit(f))")


def check_vmap_grad(fn: Callable[..., Any], *args: Any) -> None:
    """`vmap(grad(fn))` equals `grad(fn)` on each example, stacked (`fn` returns a scalar;
    gradients with respect to every argument)."""
    from interpreters.differentiate.api import grad
    from interpreters.vectorize.api import vmap

    argnums = tuple(range(len(args)))
    got = tree_leaves(vmap(grad(fn, argnums=argnums))(*args))
    n = np.shape(args[0])[0]
    rows = [tree_leaves(grad(fn, argnums=argnums)(*(np.asarray(a)[i] for a in args)))
            for i in range(n)]
    for k, g in enumerate(got):
        want = np.stack([np.asarray(r[k]) for r in rows])
        assert_close(np.asarray(g), want, f"gradient {k} (vmap(grad(f)) vs per-example grad)")


def vmap_law(program: Program, args: list[np.ndarray]) -> None:
    """Over random programs: batching all inputs (three examples: the arguments, their values
    reversed, the arguments again) equals the loop over the examples; nested vmap equals vmap
    over the flattened batch; vmap commutes with jit; and, for float programs, `vmap(grad)` of
    the sum of the outputs equals the per-example gradients."""
    from dsl.core import inline
    from dsl.numpy_api import sum as total

    def fn(*xs: Any) -> Any:
        return tuple(inline(program, list(xs)))

    def rev(a: np.ndarray) -> np.ndarray:
        return a.reshape(-1)[::-1].reshape(a.shape)

    batch = [np.stack([a, rev(a), a]) for a in args]
    check_vmap(fn, *batch)
    check_vmap_nested(fn, *[np.stack([b, b[::-1]]) for b in batch])
    # XLA's batched and unbatched code may round a float op differently (a last-bit difference
    # that an integer result downstream, e.g. a bitcast or floor, would make exact): compare the
    # compiled runs where results are floats (within tolerance) or nothing is a float
    values = [*program.in_types, *(v.type for e in program.walk() for v in e.outputs)]
    if all(dtypes.is_floating(t.dtype) for t in program.out_types) or not any(
            dtypes.is_floating(t.dtype) for t in values):
        check_vmap_jit(fn, *batch)
    floats = all(dtypes.is_floating(t.dtype) for t in (*program.in_types, *program.out_types))
    if floats and program.in_types and program.out_types:
        def scalar(*xs: Any) -> Any:
            outs = fn(*xs)
            acc = total(outs[0])
            for o in outs[1:]:
                acc = acc + total(o).astype(acc.dtype)
            return acc

        check_vmap_grad(scalar, *batch)


# ----------------------------------------------------------------------------------------------
# shard_map


def _random_spec(rng: np.random.Generator, mesh: Any, rank: int) -> tuple[tuple[str, ...], ...]:
    """Per dimension of a rank-`rank` value, a random tuple of distinct mesh axes (some unused)."""
    parts: list[list[str]] = [[] for _ in range(rank)]
    for a in rng.permutation(list(mesh.axis_names)):
        k = int(rng.integers(0, rank + 1))
        if k < rank:
            parts[k].append(str(a))
    return tuple(tuple(p) for p in parts)


def check_shard_map(rng: np.random.Generator, mesh: Any, *, compiled: bool = False) -> None:
    """The shard_map law on one random program: an elementwise body `g` over operands split
    alike by a random spec on `mesh` (plus a replicated scalar), whose results are
    `g` itself (out spec = in spec), its total (`psum` of the local sum over the axes in use,
    out spec `P()`), its sum along a random dimension (`psum` over that dimension's axes), and,
    when dimension 0 is split, `g` gathered back along it (`all_gather`, tiled) — equals the
    same program on the whole operands (the local sum becomes the whole sum, the collectives
    disappear). Evaluated eagerly, and also compiled with `compiled`."""
    import dsl.numpy_api as dnp
    from dsl.collectives import all_gather, psum
    from dsl.sharding import P
    from interpreters.jit import jit
    from interpreters.shard_map import shard_map

    rank = int(rng.integers(1, 4))
    spec = _random_spec(rng, mesh, rank)
    sizes = mesh.shape
    shape = tuple(int(np.prod([sizes[a] for a in axes], dtype=np.int64))
                  * int(rng.integers(1, 3)) for axes in spec)
    n_args = int(rng.integers(1, 4))
    args = [rng.standard_normal(shape).astype(np.float32) for _ in range(n_args)]
    scalar = np.float32(rng.standard_normal())
    unary = [dnp.sin, dnp.tanh, dnp.negative, dnp.abs, lambda v: v * v, lambda v: v * scalar]
    binary = [dnp.add, dnp.subtract, dnp.multiply, dnp.maximum]
    plan: list[tuple[int, int, int]] = []  # (kind, op, operand) steps over a running value
    for _ in range(int(rng.integers(1, 6))):
        kind = int(rng.integers(0, 2))
        plan.append((kind, int(rng.integers(0, len(unary) if kind == 0 else len(binary))),
                     int(rng.integers(0, n_args))))
    k = int(rng.integers(0, rank))
    used = tuple(a for axes in spec for a in axes)

    def g(xs: Sequence[Any], c: Any) -> Any:
        y = xs[0]
        for kind, op, i in plan:
            y = unary[op](y) if kind == 0 else binary[op](y, xs[i])
        return y + c

    def body(c: Any, *xs: Any) -> Any:
        y = g(xs, c)
        outs = [y, psum(dnp.sum(y), used), psum(dnp.sum(y, axis=k), spec[k])]
        if spec[0]:
            outs.append(all_gather(y, spec[0], axis=0, tiled=True))
        return tuple(outs)

    def whole(c: Any, *xs: Any) -> Any:
        y = g(xs, c)
        outs = [y, dnp.sum(y), dnp.sum(y, axis=k)]
        if spec[0]:
            outs.append(y)
        return tuple(outs)

    pin = P(*(a if a else None for a in spec))
    pk = P(*(a if a else None for i, a in enumerate(spec) if i != k))
    p0 = P(*((None,) + tuple(a if a else None for a in spec[1:])))
    out_specs = (pin, P(), pk) + ((p0,) if spec[0] else ())
    f = shard_map(body, mesh=mesh, in_specs=(P(),) + (pin,) * n_args, out_specs=out_specs)
    want = [np.asarray(w) for w in whole(scalar, *args)]
    runs = [("eager", f)] + ([("jit", jit(f))] if compiled else [])
    for how, fn in runs:
        got = fn(scalar, *args)
        for j, (a, e) in enumerate(zip(got, want)):
            a = np.asarray(a)
            if a.shape != e.shape or not np.allclose(a, e, rtol=1e-4, atol=1e-4):
                raise LawViolation(
                    f"shard_map law ({how}): output {j} differs from the unsharded program "
                    f"(spec {pin!r} on {mesh!r}, shape {shape}, plan {plan}, k={k}):\n"
                    f"  got      {a!r}\n  expected {e!r}")


# ----------------------------------------------------------------------------------------------
# sharding (Auto mode)


def check_sharded(fn: Callable[..., Any] | Program, args: Sequence[Any], specs: Sequence[Any],
                  mesh: Any) -> None:
    """Sharding never changes values: `jit(fn)` on `args` placed on `mesh` under `specs` (one
    `P` per argument) equals the reference interpreter on the unplaced `args`, with the same
    result types (shardings aside)."""
    from backends import device_put
    from dsl.core import inline
    from dsl.sharding import NamedSharding
    from interpreters.evaluate import evaluate
    from interpreters.jit import jit

    if isinstance(fn, Program):
        program = fn

        def fn(*xs: Any) -> Any:  # noqa: F811 (the program as a function)
            return tuple(inline(program, list(xs)))

    want = tree_leaves(evaluate(fn)(*args))
    placed = [device_put(np.asarray(a), NamedSharding(mesh, s)) for a, s in zip(args, specs)]
    got = tree_leaves(jit(fn)(*placed))
    if len(got) != len(want):
        raise LawViolation(f"sharded run gave {len(got)} results, the reference {len(want)}")
    for k, (g, w) in enumerate(zip(got, want)):
        assert_close(np.asarray(g), np.asarray(w), f"output {k} (sharded under {list(specs)} "
                     f"vs unsharded)")
