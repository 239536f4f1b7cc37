"""Tests of `dsl.pytree`: flattening, rebuilding, structure equality, tree_map and paths."""

from __future__ import annotations

import collections
import copy
import dataclasses
import sys
from typing import Any, NamedTuple

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typeguard import install_import_hook, suppress_type_checks

if "dsl.pytree" not in sys.modules:
    with install_import_hook(["dsl.pytree"]):
        import dsl.pytree  # noqa: F401

from dsl.pytree import (  # noqa: E402
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    PyTreeDef,
    SequenceKey,
    flatten_up_to,
    keystr,
    register_leaf,
    register_pytree,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)


class Point(NamedTuple):
    x: Any
    y: Any


class OtherPoint(NamedTuple):
    x: Any
    y: Any


@dataclasses.dataclass
class Layer:
    weight: Any
    bias: Any


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: Any
    b: Any = None
    tag: str = dataclasses.field(default="default", init=False)


@dataclasses.dataclass
class KwOnly:
    a: Any
    b: Any = dataclasses.field(kw_only=True)


@attrs.define
class Private:
    _x: Any
    y: Any
    cache: Any = attrs.field(init=False, default=None)


@attrs.frozen
class Aliased:
    value: Any = attrs.field(alias="v")


@attrs.frozen
class AttrsLeaf:
    shape: tuple[int, ...]


register_leaf(AttrsLeaf)


class Box:
    """A registered custom node with two children and a label as aux data."""

    def __init__(self, label: str, left: Any, right: Any) -> None:
        self.label, self.left, self.right = label, left, right

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and (self.label, self.left, self.right) == (
            other.label, other.left, other.right)


register_pytree(Box, lambda b: ((b.left, b.right), b.label),
                lambda label, ch: Box(label, *ch))


def roundtrip(tree: Any) -> Any:
    leaves, treedef = tree_flatten(tree)
    assert treedef.num_leaves == len(leaves)
    return tree_unflatten(treedef, leaves)


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("tree", [
    (1, 2, 3), [1, [2, 3]], {"b": 1, "a": 2}, None, (), [], {}, 5, "leaf",
    Point(1, (2, 3)), Layer(weight=[1, 2], bias=3.0), KwOnly(1, b=2),
    ((1,), [2, {"k": (None, 3)}], Point(x=[], y={"z": 4})),
])
def test_roundtrip(tree: Any) -> None:
    rebuilt = roundtrip(tree)
    assert rebuilt == tree
    assert type(rebuilt) is type(tree)


def test_namedtuple_rebuilt_as_same_class() -> None:
    rebuilt = roundtrip([Point(1, 2)])
    assert type(rebuilt[0]) is Point
    assert tree_leaves(Point(x=1, y=2)) == [1, 2]


def test_dataclass_non_init_field_is_aux() -> None:
    f = Frozen(1, 2)
    object.__setattr__(f, "tag", "custom")
    leaves, treedef = tree_flatten(f)
    assert leaves == [1, 2]
    rebuilt = treedef.unflatten([10, 20])
    assert (rebuilt.a, rebuilt.b, rebuilt.tag) == (10, 20, "custom")
    assert tree_structure(Frozen(1, 2)) != treedef  # different non-init data


def test_attrs_private_names_and_alias() -> None:
    p = Private(1, [2, 3])
    p.cache = "cached"
    leaves, treedef = tree_flatten(p)
    assert leaves == [1, 2, 3]
    rebuilt = treedef.unflatten([4, 5, 6])
    assert (rebuilt._x, rebuilt.y, rebuilt.cache) == (4, [5, 6], "cached")
    assert tree_map(lambda v: v * 2, Aliased(3)) == Aliased(6)


def test_none_is_a_node_without_leaves() -> None:
    leaves, treedef = tree_flatten([None, 1, {"a": None}])
    assert leaves == [1]
    assert treedef.num_leaves == 1
    assert treedef.unflatten([7]) == [None, 7, {"a": None}]
    assert tree_structure(None).num_leaves == 0
    assert tree_unflatten(tree_structure(None), []) is None


def test_dict_children_in_sorted_key_order() -> None:
    leaves, treedef = tree_flatten({"c": 3, "a": 1, "b": 2})
    assert leaves == [1, 2, 3]
    assert treedef.unflatten(["x", "y", "z"]) == {"a": "x", "b": "y", "c": "z"}


def test_unsortable_dict_keys_raise_type_error() -> None:
    with pytest.raises(TypeError, match=r"sortable.*\[1, 'a'\]"):
        tree_flatten({1: 0, "a": 1})


def test_other_objects_and_container_subclasses_are_leaves() -> None:
    arr = np.ones(3)
    od = collections.OrderedDict(a=1)
    assert tree_leaves([arr, od, AttrsLeaf((2, 3)), object]) == [arr, od, AttrsLeaf((2, 3)),
                                                                  object]


def test_deep_nesting() -> None:
    tree: Any = 0
    for i in range(200):
        tree = [tree, {"k": i}]
    assert roundtrip(tree) == tree
    assert len(tree_leaves(tree)) == 201


# --- PyTreeDef --------------------------------------------------------------------------------

def test_treedef_equality_and_hash() -> None:
    a = tree_structure((1, {"a": 2, "b": None}))
    b = tree_structure(("x", {"a": [], "b": None}))
    c = tree_structure(("x", {"a": "y", "b": None}))
    assert a == c and hash(a) == hash(c)
    assert a != b
    assert {a: 1}[c] == 1
    assert tree_structure({"a": 1}) != tree_structure({"b": 1})
    assert tree_structure([1, 2]) != tree_structure((1, 2))
    assert tree_structure(Point(1, 2)) != tree_structure(OtherPoint(1, 2))
    assert tree_structure(Point(1, 2)) != tree_structure((1, 2))
    assert tree_structure(1) == tree_structure("leaf")
    assert a != "not a treedef"


def test_treedef_repr() -> None:
    assert repr(tree_structure((1, {"a": 2, "b": None}))) == "PyTreeDef((*, {'a': *, 'b': None}))"
    assert repr(tree_structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree_structure(5)) == "PyTreeDef(*)"
    assert repr(tree_structure([Point(1, 2)])) == "PyTreeDef([Point(x=*, y=*)])"
    assert repr(tree_structure(Layer(1, 2))) == "PyTreeDef(Layer(weight=*, bias=*))"
    assert repr(tree_structure(Box("l", 1, 2))) == "PyTreeDef(CustomNode(Box['l'], [*, *]))"


def test_treedef_children_and_num_leaves() -> None:
    treedef = tree_structure((1, [2, 3], None))
    assert treedef.num_leaves == 3
    assert treedef.children() == [tree_structure(0), tree_structure([0, 0]), tree_structure(None)]
    assert tree_structure(1).children() == []


def test_unflatten_wrong_leaf_count() -> None:
    treedef = tree_structure((1, 2))
    with pytest.raises(ValueError, match="expects 2 leaves, got 3"):
        treedef.unflatten([1, 2, 3])
    with pytest.raises(ValueError, match="expects 2 leaves, got 1"):
        tree_unflatten(treedef, iter([1]))


def test_treedef_is_immutable_and_copyable() -> None:
    treedef = tree_structure([1, 2])
    with pytest.raises(AttributeError):
        treedef._node = None  # type: ignore[misc]
    assert copy.copy(treedef) is treedef and copy.deepcopy(treedef) is treedef


def test_treedef_with_array_aux_compares_unequal_without_raising() -> None:
    t1 = tree_structure(Box(np.zeros(2), 1, 2))  # type: ignore[arg-type]
    t2 = tree_structure(Box(np.zeros(2), 1, 2))  # type: ignore[arg-type]
    assert t1 != t2 and t1 == t1


@suppress_type_checks()
def test_bad_arguments_raise_type_error() -> None:
    """Without typeguard, wrong argument types still give a TypeError (not AttributeError)."""
    with pytest.raises(TypeError):
        tree_unflatten("nope", [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        flatten_up_to([1], [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        keystr(["a"])  # type: ignore[list-item]


# --- tree_map -----------------------------------------------------------------------------------

def test_tree_map_single_and_multiple_trees() -> None:
    tree = {"w": [1, 2], "b": Point(3, None)}
    assert tree_map(lambda x: x + 1, tree) == {"w": [2, 3], "b": Point(4, None)}
    other = {"w": [10, 20], "b": Point(30, None)}
    third = {"w": [100, 200], "b": Point(300, None)}
    assert tree_map(lambda x, y, z: x + y + z, tree, other, third) == {
        "w": [111, 222], "b": Point(333, None)}


def test_tree_map_rest_may_be_deeper_at_leaves() -> None:
    out = tree_map(lambda axis, sub: (axis, sub), [0, 1], [{"a": 1}, (2, 3)])
    assert out == [(0, {"a": 1}), (1, (2, 3))]


@pytest.mark.parametrize("other, path, found", [
    ({"w": [(1, 2)], "b": 0}, "['w'][0]", "a tuple with 2 children"),
    ({"w": [[1]], "b": 0}, "['w'][0]", "a list with 1 child"),
    ({"w": [5], "b": 0}, "['w'][0]", "a leaf of type int"),
    ({"w": [[1, 2]], "c": 0}, "the root", "a dict with keys ['c', 'w']"),
    ({"w": ([1, 2],), "b": 0}, "['w']", "a tuple"),
])
def test_tree_map_mismatch_names_path(other: Any, path: str, found: str) -> None:
    tree = {"w": [[1, 2]], "b": 0}
    with pytest.raises(ValueError) as info:
        tree_map(lambda x, y: x, tree, other)
    message = str(info.value)
    assert f"at {path}:" in message
    assert found in message
    assert "argument 2" in message


def test_tree_map_mismatch_message_shows_both_structures() -> None:
    with pytest.raises(ValueError, match=r"\['w'\]\[0\].*\{'a': \*\}.*\[\*\]"):
        tree_map(lambda x, y: x, {"w": [{"a": 1}]}, {"w": [[1]]})


def test_tree_map_none_positions_must_match() -> None:
    assert tree_map(lambda x, y: x + y, [1, None], [2, None]) == [3, None]
    with pytest.raises(ValueError, match=r"at \[1\]: expected None"):
        tree_map(lambda x, y: x + y, [1, None], [2, 3])


def test_tree_map_registered_aux_mismatch() -> None:
    with pytest.raises(ValueError, match="node data"):
        tree_map(lambda x, y: x, Box("a", 1, 2), Box("b", 1, 2))


# --- is_leaf ------------------------------------------------------------------------------------

def test_is_leaf_stops_descent() -> None:
    tree = [(1, 2), [3, (4, 5)]]
    leaves, treedef = tree_flatten(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), 3, (4, 5)]
    assert treedef.unflatten(leaves) == tree
    summed = tree_map(lambda x: x if isinstance(x, int) else sum(x), tree,
                      is_leaf=lambda x: isinstance(x, tuple))
    assert summed == [3, [3, 9]]
    assert tree_leaves([None, 1], is_leaf=lambda x: x is None) == [None, 1]


def test_flatten_up_to_prefix_with_none_leaves() -> None:
    in_axes = tree_structure((0, None), is_leaf=lambda x: x is None)
    assert flatten_up_to(in_axes, ([1, 2], {"a": 3})) == [[1, 2], {"a": 3}]
    with pytest.raises(ValueError, match="at the root"):
        flatten_up_to(in_axes, [1, 2])


# --- paths --------------------------------------------------------------------------------------

def test_paths_and_keystr() -> None:
    tree = [{"w": Layer(weight=1, bias=2)}, Point(3, (4,)), Box("b", 5, [6])]
    pairs, treedef = tree_flatten_with_path(tree)
    assert [leaf for _, leaf in pairs] == [1, 2, 3, 4, 5, 6]
    assert treedef == tree_structure(tree)
    assert [keystr(p) for p, _ in pairs] == [
        "[0]['w'].weight", "[0]['w'].bias", "[1].x", "[1].y[0]", "[2][0]", "[2][1][0]"]
    assert pairs[1][0] == (SequenceKey(0), DictKey("w"), GetAttrKey("bias"))
    assert pairs[4][0] == (SequenceKey(2), FlattenedIndexKey(0))
    assert tree_flatten_with_path(7)[0] == [((), 7)]
    assert keystr(()) == ""


def test_paths_with_is_leaf_and_attrs() -> None:
    pairs, _ = tree_flatten_with_path({"p": Private((1, 2), 3)}, is_leaf=lambda x: x == (1, 2))
    assert [(keystr(p), v) for p, v in pairs] == [("['p']._x", (1, 2)), ("['p'].y", 3)]


# --- registration -------------------------------------------------------------------------------

def test_register_pytree_roundtrip_and_map() -> None:
    box = Box("lbl", [1, 2], {"a": 3})
    leaves, treedef = tree_flatten(box)
    assert leaves == [1, 2, 3]
    assert treedef.unflatten(leaves) == box
    assert tree_map(lambda x: -x, box) == Box("lbl", [-1, -2], {"a": -3})
    assert tree_structure(Box("x", 1, 2)) != tree_structure(Box("y", 1, 2))


def test_register_twice_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_pytree(Box, lambda b: ((), None), lambda a, c: Box("", None, None))
    with pytest.raises(ValueError, match="already registered"):
        register_pytree(tuple, lambda t: (t, None), lambda a, c: tuple(c))
    with pytest.raises(ValueError, match="already registered"):
        register_leaf(AttrsLeaf)
    with suppress_type_checks(), pytest.raises(TypeError, match="expected a class"):
        register_pytree(Box("", 1, 2), lambda b: ((), None), lambda a, c: c)  # type: ignore


def test_registration_takes_precedence_over_dataclass() -> None:
    @dataclasses.dataclass
    class Pair:
        first: Any
        second: Any

    assert tree_leaves(Pair(1, 2)) == [1, 2]  # classified (and cached) as a dataclass first
    register_pytree(Pair, lambda p: ((p.second,), p.first), lambda a, c: Pair(a, c[0]))
    leaves, treedef = tree_flatten(Pair(1, 2))
    assert leaves == [2]
    assert treedef.unflatten([5]) == Pair(1, 5)


def test_registered_flatten_must_return_pair() -> None:
    class Bad:
        pass

    register_pytree(Bad, lambda b: [1, 2], lambda a, c: Bad())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"must return \(children, aux\)"):
        tree_flatten(Bad())


def test_dataclass_with_unset_field_raises_type_error() -> None:
    layer = Layer(1, 2)
    del layer.bias
    with pytest.raises(TypeError, match="Layer"):
        tree_flatten(layer)


# --- property test ------------------------------------------------------------------------------

leaf_values = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=3),
                        st.booleans())


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=4),
        st.builds(Point, children, children),
        st.builds(Layer, children, children),
        st.builds(Private, children, children),
        st.builds(Box, st.text(max_size=2), children, children),
        st.none(),
    )


trees = st.recursive(leaf_values | st.none(), _containers, max_leaves=30)


@given(trees)  # example count from the hypothesis profile (tests/conftest.py)
def test_property_roundtrip(tree: Any) -> None:
    leaves, treedef = tree_flatten(tree)
    assert treedef.num_leaves == len(leaves)
    assert treedef.unflatten(leaves) == tree
    assert tree_structure(treedef.unflatten(leaves)) == treedef
    assert hash(tree_structure(tree)) == hash(treedef)
    markers = list(range(len(leaves)))
    assert tree_leaves(treedef.unflatten(markers)) == markers
    pairs, treedef2 = tree_flatten_with_path(tree)
    assert treedef2 == treedef and [v for _, v in pairs] == leaves
    assert tree_map(lambda x, y: x, tree, tree) == tree
    assert flatten_up_to(treedef, tree) == leaves
