"""Event to fields: only the paths some rule uses, each leaf with its array membership.

The matcher keeps a *path tree*: the union of the paths of all its rules, as nested nodes.
Flattening walks the event and the tree together, so keys no rule mentions are never visited
and the work grows with the used part of the event, not its size.

Names with dots: EventBridge joins nested names with ``.``, so the event field
``{"state.status": "running"}`` is the same field as ``{"state": {"status": "running"}}``. Paths
are kept as segments (the compiler splits pattern keys at their dots), and each node's
``lookup`` maps both its children's names and the dot-joined names of every deeper node to
those nodes: ``"status"`` leads to the child, ``"status.code"`` straight to the grandchild. An
event key is then one dictionary lookup whether or not it has dots, and an event that spells a
path partly nested and partly dotted (``{"a.b": {"c": 1}}``) reaches the same node.

Each leaf becomes ``(key, value, membership)``: ``key`` is :func:`values.leaf_key`,
``membership`` is a tuple of ``(id(array), index)`` pairs for the arrays the leaf sits in.
Two leaves can only be used together in one match if they agree on the index of every array
they share ("array consistency", as in EventBridge: fields taken from different elements of
the same array never match together). Membership is only recorded for arrays below which two
or more used paths start; for every other array (a list of strings, say) no conflict is
possible and the leaf keeps the empty membership, which keeps the common case free of checks.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

from clientevents.patterns.values import FIVE_BILLION, LeafKey, leaf_key

Path = tuple[str, ...]
Membership = tuple[tuple[int, int], ...]
Leaf = tuple[LeafKey, object, Membership]
Fields = dict[Path, list[Leaf]]


class _Several:
    """Marks a path with several leaves, or with a leaf inside an array that matters."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SEVERAL"


SEVERAL: Final = _Several()
Singles = defaultdict[Path, LeafKey | _Several | None]
"""Per path with leaves: the key of its only leaf when it has exactly one and that leaf has no
array membership, else :data:`SEVERAL` (the fast path of compound steps); ``None`` for a path
without leaves (a ``defaultdict``, so ``operator.itemgetter`` builds a compound key in one C
call). The empty path :data:`ANY_SEVERAL` (never a field) is present when some path is
SEVERAL."""
ANY_SEVERAL: Final[Path] = ()

_NO_MEMBERSHIP: Membership = ()
_NONE = type(None)  # called with no argument it returns None, in C


class PathNode:
    """One node of the path tree; immutable once published."""

    __slots__ = ("children", "lookup", "multi", "path")

    def __init__(self) -> None:
        self.children: dict[str, PathNode] = {}
        self.lookup: dict[str, PathNode] = {}  # children, and deeper nodes by dotted name
        self.path: Path | None = None  # set when a rule uses this node's path as a field
        self.multi = False  # two or more used paths at or below this node


def build_path_tree(paths: set[Path] | frozenset[Path]) -> PathNode:
    """Build the tree for a set of used paths."""
    root = PathNode()
    for path in paths:
        node = root
        for key in path:
            nxt = node.children.get(key)
            if nxt is None:
                nxt = node.children[key] = PathNode()
            node = nxt
        node.path = path
    _count(root)
    _index(root)
    return root


def _index(node: PathNode) -> list[tuple[str, PathNode]]:
    """Fill ``lookup`` below ``node``; return every node below it by its dot-joined name."""
    below: list[tuple[str, PathNode]] = []
    for key, child in node.children.items():
        below.append((key, child))
        below.extend((f"{key}.{name}", deeper) for name, deeper in _index(child))
    # Without grandchildren there are no dotted names: share the children's dict.
    node.lookup = node.children if len(below) == len(node.children) else dict(below)
    return below


def _count(node: PathNode) -> int:
    total = 1 if node.path is not None else 0
    for child in node.children.values():
        total += _count(child)
    node.multi = total >= 2
    return total


def flatten(event: dict[str, Any], root: PathNode) -> Fields:
    """The used leaves of ``event``, grouped by path (paths without leaves are absent)."""
    return flatten_with_singles(event, root)[0]


def flatten_with_singles(event: dict[str, Any], root: PathNode) -> tuple[Fields, Singles]:
    """:func:`flatten`, and the :data:`Singles` of the event."""
    fields: Fields = {}
    singles: Singles = defaultdict(_NONE)
    _walk_object(event, root, _NO_MEMBERSHIP, fields, singles)
    return fields, singles


def _walk_object(
    obj: dict[str, Any], node: PathNode, membership: Membership, fields: Fields, singles: Singles
) -> None:
    # Hot path: called once per object on a used path. Leaves are handled inline (no call per
    # leaf); strings, the common case, are their own key. One probe per name on the smaller
    # side finds nested and dotted names alike.
    lookup = node.lookup
    if len(lookup) <= len(obj):
        pairs = [(obj[key], child) for key, child in lookup.items() if key in obj]
    else:
        pairs = [(value, lookup[key]) for key, value in obj.items() if key in lookup]
    for value, child in pairs:
        t = type(value)
        if t is str or t is int or t is float or t is bool or value is None:
            path = child.path
            if path is not None:
                if t is str or (t is int and -FIVE_BILLION <= value <= FIVE_BILLION):
                    key = value
                else:
                    key = leaf_key(value)
                leaves = fields.get(path)
                if leaves is None:
                    fields[path] = [(key, value, membership)]
                    if membership:
                        singles[path] = singles[ANY_SEVERAL] = SEVERAL
                    else:
                        singles[path] = key
                else:
                    leaves.append((key, value, membership))
                    singles[path] = singles[ANY_SEVERAL] = SEVERAL
        else:
            _walk_value(value, child, membership, fields, singles)


def _walk_value(
    value: Any, node: PathNode, membership: Membership, fields: Fields, singles: Singles
) -> None:
    t = type(value)
    if t is dict:
        if node.children:
            _walk_object(value, node, membership, fields, singles)
    elif t is list:
        if node.multi:
            array = id(value)
            for index, element in enumerate(value):
                _walk_value(element, node, (*membership, (array, index)), fields, singles)
        else:
            for element in value:
                _walk_value(element, node, membership, fields, singles)
    elif t is str or t is int or t is float or t is bool or value is None:
        path = node.path
        if path is not None:
            key = leaf_key(value)
            leaves = fields.get(path)
            if leaves is None:
                fields[path] = [(key, value, membership)]
                if membership:
                    singles[path] = singles[ANY_SEVERAL] = SEVERAL
                else:
                    singles[path] = key
            else:
                leaves.append((key, value, membership))
                singles[path] = singles[ANY_SEVERAL] = SEVERAL
    elif isinstance(value, dict):
        _walk_value(dict(value), node, membership, fields, singles)
    elif isinstance(value, list | tuple):
        _walk_value(list(value), node, membership, fields, singles)
    elif node.path is not None:
        leaf_key(value)  # raises TypeError naming the unsupported value
