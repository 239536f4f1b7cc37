"""The lowering law over random well-typed programs: XLA's results equal the reference
interpreter's within the dtype's tolerance (DESIGN section 6), and jit agrees with evaluate."""

from __future__ import annotations

from interpreters import laws


def test_lowering_law_over_300_random_programs() -> None:
    assert laws.check_random_programs(laws.lowering_law, examples=300, max_eqns=6,
                                      max_depth=2, seed=3) == 300


def test_jit_law_on_a_pipeline() -> None:
    import dsl as d

    def f(x: d.Array) -> d.Array:
        h = d.tanh(x @ x.T) + d.sum(x, axis=0)
        return d.scan(lambda c, r: (c * 0.5 + r, c), d.zeros(h.shape[1]), h)

    laws.check_jit_matches_evaluate(f, d.random.normal(d.random.key(1), (4, 4)))
