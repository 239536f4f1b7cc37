"""Pytrees: nested containers of arrays, and how to take them apart and put them back together.

A *pytree* is a Python value built from container *nodes* whose non-container contents are
*leaves*. Transformations work on flat lists of leaves, so every function that takes "a tree of
arrays" first flattens it into `(leaves, treedef)`, where the `PyTreeDef` records the shape of the
containers, and later rebuilds a tree of the same shape from new leaves.

The nodes are: tuples, lists, dicts (children in sorted key order), `None` (a node with no
children, so it contributes no leaves), namedtuples, dataclasses (their `init=True` fields are the
children; the values of `init=False` fields travel in the treedef and are restored after the
constructor runs), attrs classes (likewise; rebuilt through the constructor, so a field `_x` is
passed as `x`), and any class given to `register_pytree`. Registration takes precedence over
dataclass and attrs detection, and `register_leaf` makes a class a leaf even if it is an attrs
class or a dataclass. Everything else is a leaf: arrays, numbers, strings, arbitrary objects, and
subclasses of tuple, list or dict other than namedtuples. Registration is by exact type.

Node types are found through a dict keyed by exact type; the namedtuple, dataclass and attrs
checks run once per type and are cached there. A `PyTreeDef` is immutable, hashable and
comparable, so it can be part of a cache key. A leaf's *path* is a tuple of keys (`SequenceKey`,
`DictKey`, `GetAttrKey`, `FlattenedIndexKey`), which `keystr` prints as `[0]['w'].bias`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Union

import attrs
from dsl.errors import ArgumentTypeError, ArgumentValueError

__all__ = [
    "DictKey", "FlattenedIndexKey", "GetAttrKey", "KeyEntry", "KeyPath", "PyTreeDef",
    "SequenceKey", "flatten_up_to", "keystr", "register_leaf", "register_pytree",
    "tree_flatten", "tree_flatten_with_path", "tree_leaves", "tree_map", "tree_structure",
    "tree_unflatten",
]

IsLeaf = Union[Callable[[Any], bool], None]


@attrs.frozen
class SequenceKey:
    """The path step to element `idx` of a tuple or list; prints as `[idx]`."""
    idx: int

    def __str__(self) -> str:
        return f"[{self.idx}]"


@attrs.frozen
class DictKey:
    """The path step to the value under `key` in a dict; prints as `[repr(key)]`."""
    key: Hashable

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@attrs.frozen
class GetAttrKey:
    """The path step to attribute `name` of a namedtuple, dataclass or attrs object: `.name`."""
    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@attrs.frozen
class FlattenedIndexKey:
    """The path step to child `idx` of a node of a registered type; prints as `[idx]`."""
    idx: int

    def __str__(self) -> str:
        return f"[{self.idx}]"


KeyEntry = Union[SequenceKey, DictKey, GetAttrKey, FlattenedIndexKey]
KeyPath = tuple[KeyEntry, ...]


def keystr(path: Sequence[KeyEntry]) -> str:
    """The path as accessor text, e.g. `[0]['w'].bias`; the empty string for the root."""
    for k in path:
        if not isinstance(k, (SequenceKey, DictKey, GetAttrKey, FlattenedIndexKey)):
            raise ArgumentTypeError(f"keystr: path entries must be pytree keys, got {k!r}")
    return "".join(str(k) for k in path)


class _Kind:
    """How to take apart, rebuild, name and print the nodes of one type (one object per type)."""

    __slots__ = ("type", "flatten", "unflatten", "keys", "fmt")

    def __init__(self, type_: type, flatten: Callable[[Any], tuple[Sequence[Any], Any]],
                 unflatten: Callable[[Any, list[Any]], Any],
                 keys: Callable[[Any, int], list[KeyEntry]],
                 fmt: Callable[[Any, list[str]], str]) -> None:
        self.type, self.flatten, self.unflatten, self.keys, self.fmt = (
            type_, flatten, unflatten, keys, fmt)


# A treedef node is `None` for a leaf, else `(kind, aux, children, num_leaves)`: plain tuples, so
# equality and hashing run in C (kinds compare by identity; there is one per type).
_Node = Union[tuple[Any, ...], None]
_LEAF = object()  # dispatch-cache value: this type is a leaf
_MISSING = object()  # aux value of an init=False field that was never set
_kinds: dict[type, Any] = {}  # exact type -> _Kind or _LEAF
_registered: set[type] = set()  # types fixed by registration, never re-classified


def _name(t: type) -> str:
    return str(getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or t)


def _add(kind: _Kind) -> None:
    _kinds[kind.type] = kind
    _registered.add(kind.type)


def _dict_flatten(d: dict[Any, Any]) -> tuple[list[Any], tuple[Any, ...]]:
    try:
        keys = tuple(sorted(d))
    except TypeError:
        raise ArgumentTypeError(f"pytree dict keys must be sortable (children go in sorted key order); "
                        f"got keys {list(d)!r}") from None
    return [d[k] for k in keys], keys


def _index_keys(aux: Any, n: int) -> list[KeyEntry]:
    return [SequenceKey(i) for i in range(n)]


def _attr_kind(cls: type, names: tuple[str, ...], flatten: Callable[[Any], Any],
               unflatten: Callable[[Any, list[Any]], Any]) -> _Kind:
    return _Kind(cls, flatten, unflatten, lambda a, n: [GetAttrKey(k) for k in names],
                 lambda a, s: f"{_name(cls)}({', '.join(f'{k}={v}' for k, v in zip(names, s))})")


_add(_Kind(tuple, lambda t: (t, None), lambda a, c: tuple(c), _index_keys,
           lambda a, s: f"({s[0]},)" if len(s) == 1 else f"({', '.join(s)})"))
_add(_Kind(list, lambda t: (t, None), lambda a, c: list(c), _index_keys,
           lambda a, s: f"[{', '.join(s)}]"))
_add(_Kind(dict, _dict_flatten, lambda a, c: dict(zip(a, c)), lambda a, n: [DictKey(k) for k in a],
           lambda a, s: "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(a, s)) + "}"))
_add(_Kind(type(None), lambda x: ((), None), lambda a, c: None, _index_keys, lambda a, s: "None"))


def _fields_kind(cls: type, names: tuple[str, ...], kwnames: tuple[str, ...],
                 extra: tuple[str, ...]) -> _Kind:
    """The kind of a dataclass or attrs class: init fields are children, passed as `kwnames`."""

    def flatten(x: Any) -> tuple[list[Any], tuple[tuple[str, Any], ...]]:
        try:
            children = [getattr(x, n) for n in names]
        except AttributeError as e:
            raise ArgumentTypeError(f"cannot flatten a {_name(cls)}: a field is not set ({e})") from None
        return children, tuple((n, getattr(x, n, _MISSING)) for n in extra)

    def unflatten(aux: tuple[tuple[str, Any], ...], children: list[Any]) -> Any:
        obj = cls(**dict(zip(kwnames, children)))
        for n, v in aux:
            if v is not _MISSING:
                object.__setattr__(obj, n, v)  # also works on frozen classes
        return obj

    return _attr_kind(cls, names, flatten, unflatten)


def _classify(t: type) -> Any:
    """The kind of a type not yet in the cache (namedtuple, dataclass, attrs class, or leaf)."""
    kind: Any = _LEAF
    fields = getattr(t, "_fields", None)
    if issubclass(t, tuple) and isinstance(fields, tuple):
        kind = _attr_kind(t, fields, lambda x: (x, None), lambda a, c: t(*c))
    elif dataclasses.is_dataclass(t):
        init = tuple(f.name for f in dataclasses.fields(t) if f.init)
        other = tuple(f.name for f in dataclasses.fields(t) if not f.init)
        kind = _fields_kind(t, init, init, other)
    elif attrs.has(t):
        fs = [a for a in attrs.fields(t) if a.init]
        kind = _fields_kind(t, tuple(a.name for a in fs),
                            tuple(getattr(a, "alias", None) or a.name.lstrip("_") for a in fs),
                            tuple(a.name for a in attrs.fields(t) if not a.init))
    _kinds[t] = kind
    return kind


def _check_new(what: str, cls: Any) -> None:
    if not isinstance(cls, type):
        raise ArgumentTypeError(f"{what}: expected a class, got {cls!r}")
    if cls in _registered:
        raise ArgumentValueError(f"{what}: {_name(cls)} is already registered")


def register_pytree(cls: type, flatten: Callable[[Any], tuple[Sequence[Any], Hashable]],
                    unflatten: Callable[[Any, Sequence[Any]], Any]) -> None:
    """Make `cls` (exactly, not its subclasses) a pytree node type.

    `flatten(obj)` returns `(children, aux)`: the child subtrees, and hashable, comparable data
    needed to rebuild the node; `unflatten(aux, children)` builds a node. Registration overrides
    dataclass/attrs detection; registering a type twice (or a built-in container, or a type given
    to `register_leaf`) raises `ValueError`.
    """
    _check_new("register_pytree", cls)
    if not callable(flatten) or not callable(unflatten):
        raise ArgumentTypeError("register_pytree: flatten and unflatten must be callable")

    def checked_flatten(x: Any) -> tuple[list[Any], Any]:
        out = flatten(x)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ArgumentTypeError(f"the flatten function of {_name(cls)} must return (children, aux), "
                            f"got {out!r}")
        return list(out[0]), out[1]

    _add(_Kind(cls, checked_flatten, unflatten,
               lambda a, n: [FlattenedIndexKey(i) for i in range(n)],
               lambda a, s: f"CustomNode({_name(cls)}[{a!r}], [{', '.join(s)}])"))


def register_leaf(cls: type) -> None:
    """Make `cls` (exactly) always a leaf, even if it is a dataclass or attrs class; meant for
    library types such as arrays, tracers and IR values. `ValueError` if already registered."""
    _check_new("register_leaf", cls)
    _kinds[cls] = _LEAF
    _registered.add(cls)


class PyTreeDef:
    """The container structure of a pytree, without its leaves.

    Immutable, hashable and comparable: equal treedefs have the same node types, the same node
    data (dict keys, registered aux data) and the same shape. Make one with `tree_structure`.
    """

    __slots__ = ("_node", "_hash")

    def __init__(self, node: _Node) -> None:
        _set_node(self, node)
        _set_hash(self, None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("PyTreeDef is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("PyTreeDef is immutable")

    @property
    def num_leaves(self) -> int:
        """How many leaves a tree of this structure has."""
        return 1 if self._node is None else self._node[3]

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """A tree of this structure holding `leaves` (in flattening order)."""
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ArgumentValueError(f"{self!r} expects {self.num_leaves} leaves, got {len(leaves)}")
        return leaves[0] if self._node is None else _build(self._node, iter(leaves))

    def children(self) -> list[PyTreeDef]:
        """The treedefs of the root node's children (none for a leaf)."""
        return [] if self._node is None else [PyTreeDef(c) for c in self._node[2]]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        try:
            return bool(self._node == other._node)
        except Exception:  # node data whose `==` gives no bool (e.g. arrays)
            return False

    def __hash__(self) -> int:
        if self._hash is None:
            _set_hash(self, hash(self._node))
        return self._hash

    def __repr__(self) -> str:
        return f"PyTreeDef({_fmt(self._node)})"

    def __copy__(self) -> PyTreeDef:
        return self

    def __deepcopy__(self, memodict: dict[int, Any]) -> PyTreeDef:
        return self


_set_node, _set_hash = PyTreeDef._node.__set__, PyTreeDef._hash.__set__  # past __setattr__


def _fmt(node: _Node) -> str:
    return "*" if node is None else node[0].fmt(node[1], [_fmt(c) for c in node[2]])


def _build(node: tuple[Any, ...], it: Any) -> Any:
    kind, aux, children, _ = node
    return kind.unflatten(aux, [next(it) if c is None else _build(c, it) for c in children])


def _flatten(x: Any, is_leaf: IsLeaf, out: list[Any]) -> _Node:
    kind = _kinds.get(type(x)) or _classify(type(x))
    if kind is _LEAF or (is_leaf is not None and is_leaf(x)):
        out.append(x)
        return None
    start = len(out)
    children, aux = kind.flatten(x)
    nodes: list[_Node] = []
    for c in children:  # known leaf types inline: this loop is the hot path
        if _kinds.get(type(c)) is _LEAF:
            out.append(c)
            nodes.append(None)
        else:
            nodes.append(_flatten(c, is_leaf, out))
    return (kind, aux, tuple(nodes), len(out) - start)


def tree_flatten(tree: Any, is_leaf: IsLeaf = None) -> tuple[list[Any], PyTreeDef]:
    """The leaves of `tree` (depth first, dict children in key order) and its structure.

    `is_leaf(x)`, if given, is asked about each subtree that is a node; where it returns true,
    that subtree is taken as one leaf.
    """
    leaves: list[Any] = []
    return leaves, PyTreeDef(_flatten(tree, is_leaf, leaves))


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """A tree of structure `treedef` holding `leaves`; `ValueError` if their count is wrong."""
    if not isinstance(treedef, PyTreeDef):
        raise ArgumentTypeError(f"tree_unflatten: expected a PyTreeDef, got {type(treedef).__name__}")
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: IsLeaf = None) -> list[Any]:
    """The leaves of `tree`, in flattening order."""
    leaves: list[Any] = []
    _flatten(tree, is_leaf, leaves)
    return leaves


def tree_structure(tree: Any, is_leaf: IsLeaf = None) -> PyTreeDef:
    """The `PyTreeDef` of `tree`."""
    return PyTreeDef(_flatten(tree, is_leaf, []))


def _paths(node: _Node, path: KeyPath, out: list[KeyPath]) -> None:
    if node is None:
        out.append(path)
        return
    kind, aux, children, _ = node
    for k, c in zip(kind.keys(aux, len(children)), children):
        _paths(c, path + (k,), out)


def tree_flatten_with_path(tree: Any, is_leaf: IsLeaf = None
                           ) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Like `tree_flatten`, but each leaf comes as `(path, leaf)`; `keystr` prints a path."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    paths: list[KeyPath] = []
    _paths(treedef._node, (), paths)
    return list(zip(paths, leaves)), treedef


def _describe(kind: Any, aux: Any, n: int) -> str:
    if kind is dict:
        return f"a dict with keys {list(aux)!r}"
    if kind is type(None):
        return "None"
    return f"a {_name(kind)} with {n} {'child' if n == 1 else 'children'}"


def _short(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."


def _same_data(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _up_to(node: _Node, x: Any, path: KeyPath, out: list[Any]) -> None:
    if node is None:
        out.append(x)
        return
    kind, aux, nodes, _ = node
    got = _kinds.get(type(x)) or _classify(type(x))
    problem = f"a leaf of type {_name(type(x))}" if got is _LEAF else None
    if problem is None:
        children, got_aux = got.flatten(x)
        if got is not kind or len(children) != len(nodes):
            problem = _describe(got.type, got_aux, len(children))
        elif not _same_data(aux, got_aux):
            problem = _describe(got.type, got_aux, len(children))
            problem += "" if kind.type is dict else f" and node data {got_aux!r} (not {aux!r})"
    if problem is not None:
        raise ArgumentValueError(f"at {keystr(path) or 'the root'}: expected "
                         f"{_describe(kind.type, aux, len(nodes))}, structure "
                         f"{_short(_fmt(node))}; got {problem}, structure "
                         f"{_short(_fmt(_flatten(x, None, [])))}")
    for k, n, c in zip(kind.keys(aux, len(nodes)), nodes, children):
        _up_to(n, c, path + (k,), out)


def flatten_up_to(treedef: PyTreeDef, tree: Any) -> list[Any]:
    """The subtrees of `tree` at the leaf positions of `treedef`, in flattening order.

    `tree` must have the nodes of `treedef` (same types, dict keys and node data) but may hold any
    subtree where `treedef` has a leaf; this matches a prefix tree (such as `in_axes`) against a
    full one. A mismatch raises `ValueError` naming its path and both structures there.
    """
    if not isinstance(treedef, PyTreeDef):
        raise ArgumentTypeError(f"flatten_up_to: expected a PyTreeDef, got {type(treedef).__name__}")
    out: list[Any] = []
    _up_to(treedef._node, tree, (), out)
    return out


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any, is_leaf: IsLeaf = None) -> Any:
    """A tree like `tree` with each leaf `x` replaced by `f(x, *ys)`.

    The `ys` are the subtrees of the `rest` trees at the same position. Each of `rest` must have
    the structure of `tree`, except that it may hold any subtree where `tree` has a leaf; a
    mismatch raises `ValueError` naming the path and the structures found there.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = []
    for i, other in enumerate(rest):
        try:
            others.append(flatten_up_to(treedef, other))
        except ValueError as e:
            raise ArgumentValueError(f"tree_map: tree argument {i + 2} does not match the structure of "
                             f"the first tree, {_short(repr(treedef))}: {e}") from None
    return treedef.unflatten(f(*xs) for xs in zip(leaves, *others))
