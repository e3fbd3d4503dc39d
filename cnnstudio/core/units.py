"""Units: named groups of layers that the canvas can draw as one block (how a model is drawn,
not what it computes).

A unit has an id (unique among units *and* layers, so one id names one thing on the canvas), a
free-text name, its member layer ids, an optional parent unit and a collapsed flag (the model
file's "Units" section). A unit *holds* its own members plus every layer of the units nested in
it: the file may list a nested unit's layers in its parent's members or not, both read the same
and both are written back exactly as read. A layer is in at most one unit at each level, so the
units form a forest and every layer has at most one innermost unit.

The validator, engine, weights and exporters' arithmetic ignore units. Nothing here imports Qt.

For the layout and the canvas, :func:`visible_graph` answers "which nodes are drawn, and which
node stands for each layer": a layer inside a collapsed unit is hidden and its outermost
collapsed unit is drawn in its place, at the position of the unit's *entry* layer (its first
member in topological order); the other members keep their own positions, relative to it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnstudio.core.graph import Graph


class UnitError(ValueError):
    """A unit that cannot be (missing layer, cycle, layer in two sibling units, ...); the
    message names the unit."""


@dataclass(slots=True)
class Unit:
    """One group as the file records it: ``members`` are the ids listed, in the file's order."""

    id: str
    name: str
    members: list[str]
    parent: str | None = None
    collapsed: bool = False


@dataclass(frozen=True, slots=True)
class VisibleGraph:
    """What is drawn: the nodes (layer ids, and ids of outermost collapsed units) in the order of
    their first layer in the file, the node standing for every layer, and the edges between
    distinct nodes (each node pair once, in the order of the first layer edge it stands for)."""

    nodes: list[str]
    node_of: dict[str, str]
    edges: list[tuple[str, str]]
    #: Collapsed unit id -> the layers it hides, in file order.
    hidden: dict[str, list[str]] = field(default_factory=dict)

    def is_unit(self, node: str) -> bool:
        return node in self.hidden


def check_unit_id(unit_id: object) -> str:
    """Unit ids follow the layer-id rules (non-empty, no surrounding blanks or control chars)."""
    from cnnstudio.core.graph import GraphError, check_id

    try:
        return check_id(unit_id)
    except GraphError as exc:
        raise UnitError(str(exc).replace("a layer id", "a unit id")
                        .replace("layer id", "unit id")) from None


class Units:
    """The units of one graph, in file order. Every mutation checks its arguments against the
    graph's layers and raises UnitError naming the unit, leaving everything unchanged."""

    def __init__(self, graph: Graph) -> None:
        self._graph = graph
        self._units: dict[str, Unit] = {}

    # --- reading ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units.values())

    def __len__(self) -> int:
        return len(self._units)

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._units

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Units):
            return NotImplemented
        return list(self._units.values()) == list(other._units.values())

    @property
    def ids(self) -> list[str]:
        return list(self._units)

    def get(self, unit_id: str) -> Unit:
        try:
            return self._units[unit_id]
        except KeyError:
            raise UnitError(f"no unit with id {unit_id!r}") from None

    def children(self, unit_id: str | None) -> list[str]:
        """Units whose parent is ``unit_id`` (None: the top-level units), in file order."""
        return [u.id for u in self._units.values() if u.parent == unit_id]

    def layers(self, unit_id: str) -> list[str]:
        """Every layer the unit holds (its members and its nested units'), in file order."""
        held = self._held(unit_id, set())
        return [lid for lid in self._graph.ids if lid in held]

    def _held(self, unit_id: str, seen: set[str]) -> set[str]:
        if unit_id in seen:  # a cycle: only possible while checking a file
            return set()
        seen.add(unit_id)
        unit = self._units[unit_id]
        out = {m for m in unit.members if m in self._graph}
        for child in self.children(unit_id):
            out |= self._held(child, seen)
        return out

    def ancestors(self, unit_id: str) -> list[str]:
        """The enclosing units, innermost first."""
        out: list[str] = []
        parent = self._units[unit_id].parent
        while parent is not None and parent not in out and parent in self._units:
            out.append(parent)
            parent = self._units[parent].parent
        return out

    def chains(self) -> dict[str, list[str]]:
        """Every layer held by some unit -> the units holding it, outermost first (one pass)."""
        held = {uid: self._held(uid, set()) for uid in self._units}
        depth = {uid: len(self.ancestors(uid)) for uid in self._units}
        out: dict[str, list[str]] = {}
        for uid in sorted(self._units, key=depth.__getitem__):
            for lid in held[uid]:
                out.setdefault(lid, []).append(uid)
        return out

    def unit_of(self, layer_id: str) -> str | None:
        """The innermost unit holding the layer, or None."""
        chain = self.chain_of(layer_id)
        return chain[-1] if chain else None

    def chain_of(self, layer_id: str) -> list[str]:
        """Units holding the layer, outermost first."""
        return self.chains().get(layer_id, [])

    def node_for(self, layer_id: str) -> str:
        """What the canvas draws for the layer: itself, or the outermost collapsed unit that
        hides it."""
        return _node(layer_id, self.chain_of(layer_id), self._units)

    def is_shown(self, unit_id: str) -> bool:
        """False when an enclosing unit is collapsed (the unit is hidden inside it)."""
        return not any(self._units[a].collapsed for a in self.ancestors(unit_id))

    def entry(self, unit_id: str) -> str:
        """The unit's first layer in topological order: where its collapsed block is drawn."""
        held = set(self.layers(unit_id))
        return next(lid for lid in self._graph.topological_order() if lid in held)

    def boundary(self, unit_id: str) -> tuple[list[str], list[str]]:
        """(layers outside feeding the unit, its layers whose output leaves it or ends the
        model), in file order."""
        layers = self.layers(unit_id)
        held = set(layers)
        graph = self._graph
        sources = list(dict.fromkeys(s for lid in layers for s in graph.layer(lid).inputs
                                     if s not in held))
        exits = [lid for lid in layers if any(c not in held for c in graph.consumers(lid))]
        return sources, exits or [lid for lid in layers if not graph.consumers(lid)]

    def next_id(self, base: str = "unit") -> str:
        """A fresh id (``unit_1``, ``unit_2``, ...) that names no unit and no layer."""
        n = 1
        while f"{base}_{n}" in self._units or f"{base}_{n}" in self._graph:
            n += 1
        return f"{base}_{n}"

    # --- mutation ---------------------------------------------------------------------------
    def add(self, unit_id: str, name: str, members: Iterable[str], *,
            parent: str | None = None, collapsed: bool = False,
            index: int | None = None) -> Unit:
        """Group ``members`` (layer ids) as a new unit. Units at the new unit's level whose
        layers all lie in ``members`` move inside it (grouping blocks and units together)."""
        check_unit_id(unit_id)
        members = list(dict.fromkeys(members))
        if unit_id in self._units or unit_id in self._graph:
            raise UnitError(f"unit {unit_id!r}: the id is already used by a "
                            f"{'unit' if unit_id in self._units else 'layer'}")
        if not isinstance(name, str):
            raise UnitError(f"unit {unit_id!r}: the name must be text")
        if not members:
            raise UnitError(f"unit {unit_id!r}: a unit needs at least one layer")
        for lid in members:
            if lid not in self._graph:
                raise UnitError(f"unit {unit_id!r}: member {lid!r} names no layer")
        if parent is not None:
            if parent not in self._units:
                raise UnitError(f"unit {unit_id!r}: parent {parent!r} names no unit")
            outside = [m for m in members if m not in set(self.layers(parent))]
            if outside:
                raise UnitError(f"unit {unit_id!r}: layer {outside[0]!r} is not in its parent "
                                f"unit {parent!r}")
        chosen = set(members)
        adopted = []
        for sib in self.children(parent):
            held = set(self.layers(sib))
            if held <= chosen:
                adopted.append(sib)
            elif held & chosen:
                both = next(lid for lid in self._graph.ids if lid in held & chosen)
                raise UnitError(f"unit {unit_id!r}: layer {both!r} is already in unit {sib!r} "
                                "(a layer is in at most one unit at the same level; group the "
                                "whole unit or none of it)")
        unit = Unit(unit_id, name, members, parent, bool(collapsed))
        items = list(self._units.items())
        at = len(items) if index is None else max(0, min(index, len(items)))
        items.insert(at, (unit_id, unit))
        self._units = dict(items)
        for sib in adopted:
            self._units[sib].parent = unit_id
        return unit

    def remove(self, unit_id: str) -> Unit:
        """Ungroup: the unit goes, its layers and nested units stay (one level up)."""
        unit = self.get(unit_id)
        for child in self.children(unit_id):
            self._units[child].parent = unit.parent
        del self._units[unit_id]
        return unit

    def set_collapsed(self, unit_id: str, collapsed: bool) -> bool:
        unit = self.get(unit_id)
        old, unit.collapsed = unit.collapsed, bool(collapsed)
        return old

    def rename(self, unit_id: str, name: str) -> str:
        unit = self.get(unit_id)
        if not isinstance(name, str) or not name.strip():
            raise UnitError(f"unit {unit_id!r}: the name must be non-empty text")
        old, unit.name = unit.name, name.strip()
        return old

    def forget_layer(self, layer_id: str) -> None:
        """A layer was deleted: drop it from every unit, and drop units left with no layer."""
        for unit in self._units.values():
            if layer_id in unit.members:
                unit.members = [m for m in unit.members if m != layer_id]
        for uid in list(self._units):
            if uid in self._units and not self._held(uid, set()) - {layer_id}:
                self.remove(uid)

    def rename_layer(self, old: str, new: str) -> None:
        for unit in self._units.values():
            unit.members = [new if m == old else m for m in unit.members]

    def copy_for(self, graph: Graph) -> Units:
        """These units, copied, for ``graph`` (a copy of the graph they belong to)."""
        new = Units.__new__(Units)
        for name, value in vars(self).items():
            if name == "_graph":
                value = graph
            elif name == "_units":
                value = {uid: dataclasses.replace(u, members=list(u.members))
                         for uid, u in value.items()}
            else:
                value = copy.deepcopy(value)
            setattr(new, name, value)
        return new

    def snapshot(self) -> list[Unit]:
        """Every unit as plain values, for undo (see :meth:`restore`)."""
        return copy.deepcopy(list(self._units.values()))

    def restore(self, units: Sequence[Unit]) -> None:
        self._units = {u.id: copy.deepcopy(u) for u in units}

    # --- checking (the file reader) ---------------------------------------------------------
    def check(self) -> None:
        """Every rule of the format: ids unique among units and layers, members naming layers,
        parents naming units, no cycle, no layer in two sibling units, no empty unit."""
        for unit in self._units.values():
            where = f"unit {unit.id!r}"
            if unit.id in self._graph:
                raise UnitError(f"{where}: the id is already a layer's id")
            for lid in unit.members:
                if lid not in self._graph:
                    raise UnitError(f"{where}: member {lid!r} names no layer")
            if len(set(unit.members)) != len(unit.members):
                raise UnitError(f"{where}: lists the same layer twice")
            if unit.parent is not None and unit.parent not in self._units:
                raise UnitError(f"{where}: parent {unit.parent!r} names no unit")
        for unit in self._units.values():
            path = [unit.id]
            parent = unit.parent
            while parent is not None:
                if parent in path:
                    loop = " -> ".join([*path[path.index(parent):], parent])
                    raise UnitError(f"unit {unit.id!r}: units nest in a cycle ({loop})")
                path.append(parent)
                parent = self._units[parent].parent
        for parent_id in [None, *self._units]:
            owner: dict[str, str] = {}
            for sib in self.children(parent_id):
                for lid in self.layers(sib):
                    if lid in owner:
                        raise UnitError(f"unit {sib!r}: layer {lid!r} is also in unit "
                                        f"{owner[lid]!r} at the same level (a layer is in at "
                                        "most one unit at each level)")
                    owner[lid] = sib
        for unit in self._units.values():
            if not self.layers(unit.id):
                raise UnitError(f"unit {unit.id!r} holds no layer")


def visible_graph(graph: Graph) -> VisibleGraph:
    """The graph as drawn with collapsed units folded into single nodes (see module doc)."""
    units = graph.units
    chains = units.chains() if len(units) else {}
    node_of = {lid: _node(lid, chains.get(lid, []), units._units) for lid in graph.ids}
    nodes = list(dict.fromkeys(node_of[lid] for lid in graph.ids))
    hidden: dict[str, list[str]] = {}
    for lid, node in node_of.items():
        if node != lid:
            hidden.setdefault(node, []).append(lid)
    edges = list(dict.fromkeys((node_of[s], node_of[d]) for s, d in graph.edges()
                               if s in node_of and node_of[s] != node_of[d]))
    return VisibleGraph(nodes, node_of, edges, hidden)


def _node(layer_id: str, chain: list[str], units: dict[str, Unit]) -> str:
    return next((uid for uid in chain if units[uid].collapsed), layer_id)


def folded_graph(graph: Graph, seen: VisibleGraph | None = None) -> Graph:
    """The visible graph as a plain Graph (one layer per node, edges between nodes), for code
    that lays out or walks layers: a collapsed unit becomes one stand-in layer with its id."""
    from cnnstudio.core.graph import Graph, Layer

    seen = seen if seen is not None else visible_graph(graph)
    inputs: dict[str, list[str]] = {node: [] for node in seen.nodes}
    for src, dst in seen.edges:
        inputs[dst].append(src)
    stand_in = [graph.layer(n) if n in graph and not seen.is_unit(n) else
                Layer(n, "Add", {}, inputs[n]) for n in seen.nodes]
    layers = [Layer(lay.id, lay.type, lay.params, inputs[lay.id], lay.trainable)
              for lay in stand_in]
    return Graph.unchecked(graph.name, graph.description, layers)


def sub_graph(graph: Graph, ids: Iterable[str]) -> Graph:
    """Only the layers ``ids`` (file order) and the edges among them."""
    from cnnstudio.core.graph import Graph, Layer

    keep = set(ids)
    return Graph.unchecked(graph.name, graph.description, [
        Layer(lay.id, lay.type, lay.params, [s for s in lay.inputs if s in keep], lay.trainable)
        for lay in graph if lay.id in keep])


def layout_folded(graph: Graph, plain: Callable[[Graph], dict[str, tuple[float, float]]]
                  ) -> dict[str, tuple[float, float]]:
    """Lay out ``graph`` with ``plain`` (a layout of every layer of a graph) treating each
    collapsed unit as one node; the layers a unit hides are laid out among themselves and
    placed so the unit's entry layer sits where the node goes (expanding shows them there)."""
    seen = visible_graph(graph)
    if not seen.hidden:
        return plain(graph)
    at = plain(folded_graph(graph, seen))
    out: dict[str, tuple[float, float]] = {}
    for node in seen.nodes:
        if not seen.is_unit(node):
            out[node] = at[node]
            continue
        inner = plain(sub_graph(graph, seen.hidden[node]))
        ex, ey = inner[graph.units.entry(node)]
        nx, ny = at[node]
        for lid in seen.hidden[node]:
            x, y = inner[lid]
            out[lid] = (round(x - ex + nx, 1), round(y - ey + ny, 1))
    return {lid: out[lid] for lid in graph.ids if lid in out}
