"""Bad input gets a typed error naming the operation, the offending types or values, and the
user's line; never an AttributeError, IndexError or KeyError from our internals.

Each case is (call, expected exception classes, fragments the message must contain). Every
message must also name this file and the line of the call (the `(at file:line)` suffix).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dsl as d
from dsl.errors import CombinaxError

E = d.ShapeError


def _cases() -> list[tuple[str, Callable[[], Any], tuple[type, ...], tuple[str, ...]]]:
    ones = d.ones
    return [
        ("add shapes", lambda: d.add(ones((3, 4)), ones(5)), (TypeError, ValueError),
         ("add", "f32[3,4]", "f32[5]")),
        ("sin of str", lambda: d.sin("abc"), (TypeError,), ("sin", "str")),
        ("add object", lambda: d.add(object(), 1), (TypeError,), ("add", "object")),
        ("ragged list", lambda: d.sin([[1, 2], [3]]), (TypeError, ValueError), ("sin",)),
        ("stage object", lambda: d.stage(lambda x: x)(object()), (TypeError,),
         ("stage", "object")),
        ("stage returns object", lambda: d.stage(lambda x: object())(1.0), (TypeError,),
         ("stage", "object")),
        ("scan carry dtype", lambda: d.scan(lambda c, x: (c.astype(d.int32), x), 0.0, ones(3)),
         (TypeError,), ("scan", "i32[]", "f32[]")),
        ("scan carry shape", lambda: d.scan(lambda c, x: (d.concatenate([c, c]), x), ones(2),
                                            ones((3, 2))),
         (TypeError, ValueError), ("scan", "f32[4]", "f32[2]")),
        ("scan xs lengths", lambda: d.scan(lambda c, x: (c, x), 0.0, (ones(3), ones(4))),
         (TypeError, ValueError), ("scan", "f32[3]", "f32[4]")),
        ("scan not callable", lambda: d.scan(3, 0.0, ones(3)), (TypeError,), ("scan", "int")),
        ("scan returns one value", lambda: d.scan(lambda c, x: c, 0.0, ones(3)), (TypeError,),
         ("scan", "pair")),
        ("cond branch types", lambda: d.cond(True, lambda: ones(3), lambda: ones(4)),
         (TypeError, ValueError), ("cond", "f32[3]", "f32[4]")),
        ("cond predicate shape", lambda: d.cond(ones(3) > 0, lambda: 1.0, lambda: 2.0),
         (TypeError, ValueError), ("cond", "bool[3]")),
        ("while cond not bool", lambda: d.while_loop(lambda c: c, lambda c: c + 1, 0),
         (TypeError,), ("while_loop", "i32[]")),
        ("while max_iters", lambda: d.while_loop(lambda c: c < 3, lambda c: c + 1, 0,
                                                 max_iters=-1), (ValueError,),
         ("while_loop", "-1")),
        ("fori float bound", lambda: d.fori_loop(0.0, 3, lambda i, c: c, 0), (TypeError,),
         ("fori_loop", "f32[]")),
        ("switch no branch", lambda: d.switch(0, [], 1.0), (ValueError,), ("switch",)),
        ("map over scalar", lambda: d.map(lambda x: x, 1.0), (TypeError, ValueError),
         ("map", "f32[]")),
        ("reduce axis", lambda: d.reduce(lambda a, b: a + b, ones(3), 0.0, axis=5),
         (TypeError, ValueError), ("reduce", "f32[3]")),
        ("matmul shapes", lambda: ones((3, 4)) @ ones((5,)), (TypeError, ValueError),
         ("matmul", "f32[3,4]", "f32[5]")),
        ("sum axis", lambda: d.sum(ones((3, 4)), axis=2), (TypeError, ValueError),
         ("sum", "f32[3,4]")),
        ("reshape size", lambda: ones((3, 4)).reshape(5), (TypeError, ValueError),
         ("reshape", "f32[3,4]")),
        ("astype unknown dtype", lambda: ones(3).astype("foo"), (TypeError,), ("foo",)),
        ("concatenate shapes", lambda: d.concatenate([ones((2, 3)), ones((2, 4))]),
         (TypeError, ValueError), ("concatenate", "f32[2,3]", "f32[2,4]")),
        ("transpose axes", lambda: d.transpose(ones((2, 3)), (0, 0)), (TypeError, ValueError),
         ("transpose", "f32[2,3]")),
        ("index out of range", lambda: ones((3, 4))[5], (IndexError,), ("f32[3,4]", "5")),
        ("float index", lambda: ones((3, 4))[1.5], (TypeError, IndexError), ("1.5",)),
        ("bitwise on floats", lambda: d.bitwise_and(ones(3), ones(3)), (TypeError,),
         ("bitwise_and", "f32[3]")),
        ("asarray of dict", lambda: d.asarray({"a": 1}), (TypeError,), ("asarray", "dict")),
        ("dot shapes", lambda: d.dot(ones(3), ones(4)), (TypeError, ValueError),
         ("dot", "f32[3]", "f32[4]")),
        ("where shapes", lambda: d.where(ones(3) > 0, ones(4), 0.0), (TypeError, ValueError),
         ("where", "f32[4]")),
        ("random key", lambda: d.random.normal(ones(3), (2,)), (TypeError,),
         ("normal", "f32[3]")),
        ("randint float dtype", lambda: d.random.randint(d.random.key(0), (2,), 0, 5,
                                                         dtype=d.float32), (TypeError,),
         ("randint", "f32")),
        ("parse unknown op", lambda: d.parse("{ lambda ; a:f32[]. let b:f32[] = frob a in (b,) }"),
         (d.ParseError,), ("frob", "line 1")),
        ("int of tracer", lambda: d.stage(lambda x: int(x))(1.0), (d.ConcretizationError,),
         ("int()", "f32[]")),
        ("if on tracer", lambda: d.stage(lambda x: x if x > 0 else -x)(1.0),
         (d.ConcretizationError,), ("bool", "d.where")),
        ("zeros negative", lambda: d.zeros((-1, 2)), (ValueError,), ("zeros", "-1")),
        ("einsum sizes", lambda: d.einsum("ij,jk->ik", ones((2, 3)), ones((4, 5))),
         (TypeError, ValueError), ("einsum", "f32[4,5]")),
        ("split unequal", lambda: d.split(ones(5), 2), (ValueError,), ("split", "f32[5]")),
        ("at set shape", lambda: ones((3, 4)).at[0].set(ones(5)), (TypeError, ValueError),
         ("set", "f32[5]")),
        ("tree_map structure", lambda: d.tree_map(lambda x, y: x, {"a": 1}, 3), (ValueError,),
         ("tree_map",)),
        ("lax slice bounds", lambda: d.lax.slice(ones(3), (0,), (5,)), (TypeError, ValueError),
         ("slice", "f32[3]")),
        ("dynamic_slice index dtype", lambda: d.lax.dynamic_slice(ones(3), (1.0,), (1,)),
         (TypeError,), ("dynamic_slice", "float 1.0")),
        ("sort axis", lambda: d.sort(ones((2, 3)), axis=2), (TypeError, ValueError),
         ("sort", "f32[2,3]")),
        ("empty list is f32", lambda: d.asarray([]) + d.ones(2, dtype=d.int32),
         (TypeError, ValueError), ("add", "f32[0]", "f32[2]")),
    ]


CASES = _cases()


@pytest.mark.parametrize("name,call,kinds,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_typed_error(name: str, call: Callable[[], Any], kinds: tuple[type, ...],
                                    fragments: tuple[str, ...]) -> None:
    with pytest.raises(Exception) as info:
        call()
    err = info.value
    assert not isinstance(err, (AttributeError, KeyError)) or isinstance(err, CombinaxError), err
    for k in kinds:
        assert isinstance(err, k), f"{name}: {type(err).__name__} is not a {k.__name__}: {err}"
    msg = str(err)
    for frag in fragments:
        assert frag in msg, f"{name}: {frag!r} not in {msg!r}"
    # the user's line: this file, at the line of the lambda that made the call
    assert re.search(r"test_errors\.py:\d+", msg), f"{name}: no user line in {msg!r}"


def test_shape_errors_are_type_and_value_errors() -> None:
    assert issubclass(d.ShapeError, TypeError) and issubclass(d.ShapeError, ValueError)


def test_location_is_the_callers_line() -> None:
    line = None
    try:
        line = _line() + 1
        d.add(d.ones((3, 4)), d.ones(5))
    except d.ShapeError as e:
        assert f"test_errors.py:{line}" in str(e)
    else:
        raise AssertionError("no error")


def test_errors_inside_staging_name_the_body_line() -> None:
    def body(c: Any, x: Any) -> Any:
        return c + d.ones(7), x  # the line to report

    try:
        d.scan(body, d.zeros(3), d.ones((2, 3)))
    except d.ShapeError as e:
        assert f"test_errors.py:{body.__code__.co_firstlineno + 1}" in str(e)
    else:
        raise AssertionError("no error")


def _line() -> int:
    import inspect

    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def test_numpy_inputs_keep_their_dtype_in_messages() -> None:
    with pytest.raises(d.ShapeError, match=r"f64\[2\]"):
        d.add(np.ones(2), np.ones(3, np.float32))


def test_sharding_errors_name_the_users_line_once() -> None:
    """A bad mesh axis in a NamedSharding points at the caller (not at attrs' generated
    __init__), and a wrapped error (shard_map specs that do not match the arguments) carries
    one location, not two."""
    from dsl.sharding import NamedSharding, P, make_mesh
    from interpreters import shard_map

    mesh = make_mesh((2,), ("data",))
    with pytest.raises(d.ShardingError) as bad_axis:
        NamedSharding(mesh, P("model"))
    assert "'model'" in str(bad_axis.value) and "test_errors.py:" in str(bad_axis.value)
    with pytest.raises(d.ShardingError) as bad_tree:
        shard_map(lambda x, y: x, mesh=mesh, in_specs=(P("data"),),
                  out_specs=P("data"))(np.ones(2), np.ones(2))
    assert str(bad_tree.value).count("(at ") == 1 and "test_errors.py:" in str(bad_tree.value)
