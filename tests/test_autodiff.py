"""The differentiation API: the README's numbers, argnums/has_aux/allow_int/holomorphic, custom
rules (custom_vjp under jvp included), checkpoint, composition with jit, bad input, and the laws
over random programs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dsl as d
from interpreters import (checkpoint, custom_jvp, custom_vjp, float0, grad, hessian, jacfwd,
                          jacrev, jit, jvp, laws, linear_transpose, linearize, value_and_grad,
                          vjp)


def tanh(x: Any) -> Any:
    y = d.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


def test_readme_numbers() -> None:
    assert str(grad(tanh)(1.0)) == "0.4199743"
    assert abs(float(grad(grad(grad(tanh)))(1.0)) - 0.62162673) < 2e-7


def test_python_control_flow_under_grad() -> None:
    def abs_val(x: Any) -> Any:
        if x > 0:
            return x
        return -x

    assert float(grad(abs_val)(1.0)) == 1.0
    assert float(grad(abs_val)(-1.0)) == -1.0


def test_argnums_has_aux_and_pytrees() -> None:
    def f(a: Any, b: Any, c: Any) -> Any:
        return d.sum(a["w"] * b) + c ** 2, {"aux": a["w"] * 0 + 1}

    a, b, c = {"w": d.arange(3.0)}, d.ones(3) * 2, 3.0
    (val, aux), g = value_and_grad(f, argnums=(0, -1), has_aux=True)(a, b, c)
    assert float(val) == pytest.approx(6.0 + 9.0)
    np.testing.assert_allclose(np.asarray(g[0]["w"]), [2.0, 2.0, 2.0])
    assert float(g[1]) == pytest.approx(6.0)
    np.testing.assert_allclose(np.asarray(aux["aux"]), [1.0, 1.0, 1.0])


def test_allow_int_gives_float0_zeros() -> None:
    g = grad(lambda x, n: x * n, argnums=(0, 1), allow_int=True)(2.0, 3)
    assert float(g[0]) == 3.0
    assert g[1].dtype == float0


def test_holomorphic() -> None:
    f = lambda z: z * z  # noqa: E731
    g = grad(f, holomorphic=True)(d.asarray(np.complex64(1 + 2j)))
    assert complex(g) == pytest.approx(2 + 4j)


def test_jvp_vjp_linearize_transpose() -> None:
    x = d.asarray([0.5, 1.0, 2.0])
    y, t = jvp(lambda v: d.sin(v) * v, (x,), (d.ones(3),))
    xn = np.asarray(x, np.float64)
    np.testing.assert_allclose(np.asarray(t), np.cos(xn) * xn + np.sin(xn), rtol=1e-6)
    out, back = vjp(lambda v: d.sin(v) * v, x)
    np.testing.assert_allclose(np.asarray(back(d.ones(3))[0]), np.asarray(t), rtol=1e-6)
    _, f_jvp = linearize(lambda v: v * v, x)
    np.testing.assert_allclose(np.asarray(f_jvp(d.ones(3))), 2 * xn, rtol=1e-6)
    m = np.arange(6, dtype=np.float32).reshape(2, 3)
    tr = linear_transpose(lambda v: d.dot(d.asarray(m), v), d.zeros(3))
    np.testing.assert_allclose(np.asarray(tr(d.ones(2))[0]), m.T @ np.ones(2), rtol=1e-6)


def test_jacobians_and_hessian() -> None:
    f = lambda v: d.sin(v) * d.sum(v * v)  # noqa: E731
    x = np.array([0.3, -0.7, 1.1], np.float32)
    laws.check_jacobians(f, x)
    h = np.asarray(hessian(lambda v: d.sum(v ** 3))(x))
    np.testing.assert_allclose(h, np.diag(6 * x), rtol=1e-5)
    j = np.asarray(jacrev(lambda v: v[:2] * 3.0)(x))
    np.testing.assert_allclose(j, np.eye(3)[:2] * 3.0)
    assert np.asarray(jacfwd(lambda v: v * 2.0)(x)).shape == (3, 3)


def test_composition_with_jit_both_orders() -> None:
    x = d.asarray([0.1, 0.2, 0.3])
    f = lambda v: d.sum(d.tanh(v) ** 2)  # noqa: E731
    want = np.asarray(grad(f)(x))
    np.testing.assert_allclose(np.asarray(jit(grad(f))(x)), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grad(jit(f))(x)), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jit(grad(grad(lambda v: d.sum(v) ** 3)))(1.0)), 6.0)


def test_custom_jvp_is_used_in_both_modes() -> None:
    @custom_jvp
    def f(x: Any) -> Any:
        return d.exp(x)

    @f.defjvp
    def f_jvp(primals: Any, tangents: Any) -> Any:
        (x,), (t,) = primals, tangents
        return f(x), 7.0 * t  # a deliberately different rule

    assert float(jvp(f, (1.0,), (1.0,))[1]) == pytest.approx(7.0)
    assert float(grad(f)(1.0)) == pytest.approx(7.0)
    assert float(f(0.0)) == 1.0


def test_custom_vjp_works_under_jvp_too() -> None:
    @custom_vjp
    def clip_grad(x: Any) -> Any:
        return x * 2.0

    def fwd(x: Any) -> Any:
        return x * 2.0, x

    def bwd(res: Any, ct: Any) -> Any:
        return (ct * 5.0,)

    clip_grad.defvjp(fwd, bwd)
    assert float(grad(clip_grad)(1.5)) == pytest.approx(5.0)
    # forward mode is derived by transposing bwd: J t = 5 t
    assert float(jvp(clip_grad, (1.5,), (2.0,))[1]) == pytest.approx(10.0)


def test_custom_rules_bad_structure() -> None:
    @custom_vjp
    def f(x: Any) -> Any:
        return x

    f.defvjp(lambda x: (x, x), lambda res, ct: ct)  # not a tuple
    with pytest.raises(TypeError, match="bwd must return a tuple"):
        grad(f)(1.0)


def test_checkpoint_gradient_and_barrier() -> None:
    h = checkpoint(lambda v: d.exp(d.sin(v)))
    x = 0.4
    assert float(grad(h)(x)) == pytest.approx(np.exp(np.sin(x)) * np.cos(x), rel=1e-6)
    prog = d.stage(grad(h))(x)
    assert any(e.op.name == "optimization_barrier" for e in prog.eqns)
    d.typecheck(prog)
    with pytest.raises(ValueError, match="policy"):
        checkpoint(lambda v: v, policy="some")


def test_while_loop_reverse_needs_max_iters() -> None:
    def f(x: Any) -> Any:
        return d.while_loop(lambda v: v < 10.0, lambda v: v * 2.0, x)

    assert float(jvp(f, (1.5,), (1.0,))[1]) == pytest.approx(8.0)
    with pytest.raises(d.TransformError, match="max_iters"):
        grad(f)(1.5)

    def g(x: Any) -> Any:
        return d.while_loop(lambda v: v < 10.0, lambda v: v * 2.0, x, max_iters=20)

    assert float(grad(g)(1.5)) == pytest.approx(8.0)


@pytest.mark.parametrize("call,kind,fragment", [
    (lambda: grad(lambda x: x * 2.0)(d.ones(3)), TypeError, "scalar"),
    (lambda: grad(lambda x: x > 0)(1.0), TypeError, "bool"),
    (lambda: grad(lambda x: x * 2)(3), TypeError, "allow_int"),
    (lambda: grad(lambda z: z * z)(d.asarray(np.complex64(1j))), TypeError, "holomorphic"),
    (lambda: grad(lambda x: x, argnums=3)(1.0), ValueError, "argnums"),
    (lambda: grad(lambda x: x, has_aux=True)(1.0), TypeError, "pair"),
    (lambda: jvp(lambda x: x, (d.ones(3),), (d.ones(2),)), TypeError, "f32[2]"),
    (lambda: vjp(lambda x: x, d.ones(3))[1](d.ones(4)), TypeError, "f32[4]"),
])
def test_bad_input(call: Any, kind: type, fragment: str) -> None:
    with pytest.raises(kind, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        call()


def _float_outputs(program: d.Program) -> Any:
    """The program as a function of its inputs returning only its float outputs."""
    from dsl.core import inline

    keep = [i for i, t in enumerate(program.out_types) if np.issubdtype(t.dtype, np.floating)]

    def f(*xs: Any) -> Any:
        outs = inline(program, list(xs))
        return tuple(outs[i] for i in keep)

    return f if keep else None


def test_dot_product_law_over_random_programs() -> None:
    """jvp and vjp agree (the transpose law) on random float programs; typecheck holds on the
    staged derivative programs."""
    checked = [0]

    def law(program: d.Program, args: list[np.ndarray]) -> None:
        f = _float_outputs(program)
        if f is None or any(e.op.name == "while_loop" and e.op.max_iters is None
                            for e in program.walk()):  # reverse mode needs max_iters there
            return
        xs = [np.asarray(a) for a in args]
        laws.check_dot_product(f, xs)
        outs = f(*xs)
        staged = d.stage(lambda *ys: vjp(f, *ys)[1](outs))(*xs)
        d.typecheck(staged)
        checked[0] += 1

    n = laws.check_random_programs(law, examples=300, max_eqns=5, max_depth=2, seed=7,
                                   input_dtypes=[np.float32, np.float64])
    assert n == 300 and checked[0] >= 200, checked[0]
