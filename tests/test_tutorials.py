"""Every tutorial runs to the end (each checks its own numbers against NumPy as it goes)."""

from __future__ import annotations

import pathlib
import runpy

import pytest

TUTORIALS = sorted((pathlib.Path(__file__).parent.parent / "tutorials").glob("*.py"))


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_runs(path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "Traceback" not in out and out.strip()


def test_quickstart_prints_the_readme_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(TUTORIALS[-1].parent / "quickstart.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "0.7615941"  # jax.numpy prints this for the README's tanh(1.0) in f32
    assert "0.4199743" in lines  # the README's grad(tanh)(1.0)
    third = float(lines[lines.index("0.4199743") + 1])  # the README's third derivative
    assert abs(third - 0.62162673) <= 2e-7  # one float32 ulp from JAX's print (see tutorial)
    assert "(100, 100)" in lines
