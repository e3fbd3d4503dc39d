"""What a unit edit does to the graph, worked out without changing it (the Document turns each
plan into undoable operations; tests check the plans directly).

- ``group_plan``: the layers and the enclosing unit of a new unit made from selected blocks.
- ``fold_shift``: the blocks below a unit that move up when it collapses (and down when it
  expands), so collapsing and expanding happen in place without gaps or overlaps.
- ``repeat_plan``: "N more like this": copies of a unit wired one after the other, each with its
  own layers (fresh ids, so their own weights) and its own units.
- ``copies_of``: the layers that play the same part in the other copies of a unit (the same
  layers, params and wiring), for "apply to all copies".
- ``whole_units`` / ``pasted_units``: the units a copy of some layers carries (those copied
  whole), and those units again around the pasted layers, with fresh ids and numbered names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cnnstudio.core.appearance import BLOCK_HEIGHT, LAYER_GAP_Y
from cnnstudio.core.graph import Graph
from cnnstudio.core.units import Unit, UnitError, Units, visible_graph

#: Vertical distance from one row of blocks to the next.
ROW_STEP = BLOCK_HEIGHT + LAYER_GAP_Y


def unique_id(wanted: str, taken: set[str]) -> str:
    """``wanted`` if free, else the next free ``base_n`` (c1 -> c1_2, and c1_2 -> c1_3)."""
    return _numbered(wanted, taken, "_{}")


def unique_name(wanted: str, taken: set[str]) -> str:
    """``wanted`` if no unit has that name, else the next free ``"name (n)"`` (Stage 1 ->
    Stage 1 (2), and a copy of Stage 1 (2) -> Stage 1 (3)), as Repeat Unit numbers copies."""
    return _numbered(wanted, taken, " ({})")


def _numbered(wanted: str, taken: set[str], suffix: str) -> str:
    """``wanted`` if not in ``taken``, else its base (``wanted`` without a numbered ``suffix``)
    with the first free number from 2 in ``suffix``."""
    if wanted not in taken:
        return wanted
    pattern = re.escape(suffix).replace(r"\{\}", r"\d+") + "$"
    base = re.sub(pattern, "", wanted) or wanted
    n = 2
    while base + suffix.format(n) in taken:
        n += 1
    return base + suffix.format(n)


def whole_units(graph: Graph, ids: Iterable[str]) -> list[Unit]:
    """The units all of whose layers are among ``ids`` (what a copy of those layers carries),
    parents before the units nested in them; a unit whose parent is not copied whole is
    top-level in the copy."""
    keep = set(ids)
    units = graph.units
    whole = {u.id for u in units if set(units.layers(u.id)) <= keep}
    ordered = sorted((u for u in units if u.id in whole), key=lambda u: len(units.ancestors(u.id)))
    return [Unit(u.id, u.name, list(u.members), u.parent if u.parent in whole else None,
                 u.collapsed) for u in ordered]


def pasted_units(units: Units, renamed: Mapping[str, str], taken: set[str],
                 names: set[str]) -> list[Unit]:
    """``units`` (of a pasted piece) again around its pasted layers (``renamed``: id in the
    piece -> new id): fresh ids not in ``taken`` (which gains them), the same nesting and
    collapsed state, parents first. A top-level unit whose name a unit of the model already has
    (``names``, which gains the new names) is numbered; nested ones keep theirs."""
    new_ids: dict[str, str] = {}
    out: list[Unit] = []
    for unit in sorted(units, key=lambda u: len(units.ancestors(u.id))):
        new_ids[unit.id] = unique_id(unit.id, taken)
        taken.add(new_ids[unit.id])
        parent = new_ids.get(unit.parent) if unit.parent is not None else None
        name = unit.name
        if parent is None:
            name = unique_name(unit.name, names)
            names.add(name)
        out.append(Unit(new_ids[unit.id], name, [renamed[m] for m in unit.members],
                        parent, unit.collapsed))
    return out


def node_layers(graph: Graph, node: str) -> list[str]:
    """The layers a canvas node stands for: a layer itself, or every layer of a unit."""
    if node in graph.units:
        return graph.units.layers(node)
    graph.layer(node)
    return [node]


def group_plan(graph: Graph, nodes: Iterable[str]) -> tuple[list[str], str | None]:
    """(members in file order, parent unit or None) for grouping the selected nodes."""
    chosen: set[str] = set()
    for node in nodes:
        chosen.update(node_layers(graph, node))
    if not chosen:
        raise UnitError("select the blocks to group first")
    members = [lid for lid in graph.ids if lid in chosen]
    chains = graph.units.chains()
    prefix = chains.get(members[0], [])
    for lid in members[1:]:
        other = chains.get(lid, [])
        n = 0
        while n < min(len(prefix), len(other)) and prefix[n] == other[n]:
            n += 1
        prefix = prefix[:n]
    parent = None
    for uid in prefix:
        held = set(graph.units.layers(uid))
        if held == chosen:
            raise UnitError(f"these blocks already form the unit {graph.units.get(uid).name!r}")
        parent = uid
    return members, parent


def _visible_y(graph: Graph, uid: str, expanded: bool) -> dict[str, float]:
    """Top of each block drawn for the unit's layers, with the unit expanded or collapsed."""
    units = graph.units
    saved = units.get(uid).collapsed
    units.get(uid).collapsed = not expanded
    try:
        seen = visible_graph(graph)
    finally:
        units.get(uid).collapsed = saved
    out = {}
    for lid in units.layers(uid):
        node = seen.node_of[lid]
        anchor = units.entry(node) if seen.is_unit(node) else node
        out[node] = graph.positions.get(anchor, (0.0, 0.0))[1]
    return out


def unit_extent(graph: Graph, uid: str) -> float:
    """How much taller the unit is drawn expanded than collapsed (0 for a one-row unit)."""
    tops = _visible_y(graph, uid, expanded=True)
    entry_y = graph.positions.get(graph.units.entry(uid), (0.0, 0.0))[1]
    return max(0.0, max(tops.values()) - entry_y)


def blocks_below(graph: Graph, uid: str) -> list[str]:
    """Layers to move when the unit changes height: everything fed (directly or not) by the
    unit that is drawn below its top, with all the layers of a collapsed unit moved together."""
    held = set(graph.units.layers(uid))
    downstream: set[str] = set()
    stack = [c for lid in held for c in graph.consumers(lid) if c not in held]
    while stack:
        lid = stack.pop()
        if lid not in downstream and lid not in held:
            downstream.add(lid)
            stack.extend(graph.consumers(lid))
    entry_y = graph.positions.get(graph.units.entry(uid), (0.0, 0.0))[1]
    seen = visible_graph(graph)
    out: list[str] = []
    for node in seen.nodes:
        layers = seen.hidden.get(node, [node])
        if any(lid in held for lid in layers) or not downstream.intersection(layers):
            continue
        anchor = graph.units.entry(node) if seen.is_unit(node) else node
        if graph.positions.get(anchor, (0.0, 0.0))[1] > entry_y:
            out += layers
    return [lid for lid in graph.ids if lid in set(out)]


def fold_shift(graph: Graph, uid: str, collapse: bool) -> dict[str, tuple[float, float]]:
    """New positions of the blocks below the unit when it collapses (up) or expands (down)."""
    delta = unit_extent(graph, uid) * (-1 if collapse else 1)
    if not delta:
        return {}
    return {lid: (x, y + delta) for lid in blocks_below(graph, uid)
            for x, y in [graph.positions.get(lid, (0.0, 0.0))]}


@dataclass(frozen=True, slots=True)
class NewLayer:
    type: str
    params: dict
    id: str
    inputs: list[str]
    trainable: bool
    position: tuple[float, float]
    index: int


@dataclass(frozen=True, slots=True)
class RepeatPlan:
    layers: list[NewLayer]
    #: Layers outside the unit that now take the last copy's output: id -> new inputs.
    rewire: dict[str, list[str]]
    units: list[Unit]  # parents before the units nested in them
    moves: dict[str, tuple[float, float]]


def unit_ends(graph: Graph, uid: str) -> tuple[str, str]:
    """(the one layer outside feeding the unit, the one layer of the unit whose output leaves
    it); a unit that repeats must have exactly one of each."""
    name = graph.units.get(uid).name
    sources, exits = graph.units.boundary(uid)
    if len(sources) != 1:
        raise UnitError(f"unit {name!r} cannot repeat: one tensor must enter it (it has "
                        f"{len(sources)} inputs from outside)")
    if len(exits) != 1:
        raise UnitError(f"unit {name!r} cannot repeat: one tensor must leave it (it has "
                        f"{len(exits)} outputs)")
    return sources[0], exits[0]


def repeat_plan(graph: Graph, uid: str, count: int) -> RepeatPlan:
    """``count`` copies of the unit, each fed by the one before; what fed on the unit's output
    now feeds on the last copy's."""
    if not 1 <= count <= 64:
        raise UnitError(f"repeat a unit 1 to 64 times, not {count}")
    units = graph.units
    source, exit_id = unit_ends(graph, uid)
    layers = units.layers(uid)
    held = set(layers)
    nested = [uid, *[u.id for u in units if uid in units.ancestors(u.id)]]
    step = (unit_extent(graph, uid) if not units.get(uid).collapsed else 0.0) + ROW_STEP
    taken = set(graph.ids) | set(units.ids)
    new_layers: list[NewLayer] = []
    new_units: list[Unit] = []
    index = max(graph.index_of(lid) for lid in layers) + 1
    previous_exit = exit_id
    for k in range(1, count + 1):
        rename: dict[str, str] = {}
        for lid in [*layers, *nested]:
            rename[lid] = unique_id(lid, taken)
            taken.add(rename[lid])
        for lid in layers:
            layer = graph.layer(lid)
            inputs = [previous_exit if s == source else rename.get(s, s) for s in layer.inputs]
            x, y = graph.positions.get(lid, (0.0, 0.0))
            new_layers.append(NewLayer(layer.type, dict(layer.params), rename[lid], inputs,
                                       layer.trainable, (x, y + k * step), index))
            index += 1
        for nid in nested:
            unit = units.get(nid)
            name = f"{unit.name} ({k + 1})" if nid == uid else unit.name
            parent = unit.parent if nid == uid else rename[unit.parent]  # type: ignore[index]
            new_units.append(Unit(rename[nid], name, [rename[m] for m in unit.members],
                                  parent, unit.collapsed))
        previous_exit = rename[exit_id]
    rewire = {cid: [previous_exit if s == exit_id else s for s in graph.layer(cid).inputs]
              for cid in graph.consumers(exit_id) if cid not in held}
    moves = {lid: (x, y + count * step) for lid in blocks_below(graph, uid)
             for x, y in [graph.positions.get(lid, (0.0, 0.0))]}
    return RepeatPlan(new_layers, rewire, new_units, moves)


def _order(graph: Graph, uid: str) -> list[str]:
    held = set(graph.units.layers(uid))
    return [lid for lid in graph.topological_order() if lid in held]


def copy_key(graph: Graph, uid: str, skip: tuple[int, str] | None = None) -> tuple:
    """The unit's layers (types, params, freeze flags) and wiring, in order: copies made by
    "N more like this" share it. ``skip`` = (position, param) leaves out the one param a user
    has just changed in one copy, so the others still count as its copies."""
    order = _order(graph, uid)
    pos = {lid: i for i, lid in enumerate(order)}
    key = []
    for i, lid in enumerate(order):
        layer = graph.layer(lid)
        params = tuple(sorted((k, repr(v)) for k, v in layer.params.items()
                              if skip is None or (i, k) != skip))
        key.append((layer.type, params, layer.trainable,
                    tuple(pos.get(s, -1) for s in layer.inputs)))
    return tuple(key)


def copies_of(graph: Graph, layer_id: str, param: str | None = None) -> list[str]:
    """The layers in the same place of the other copies of the layer's innermost unit (units
    equal to it, but for ``param`` of this layer), in file order; [] when it has no copy."""
    uid = graph.units.unit_of(layer_id)
    if uid is None:
        return []
    at = _order(graph, uid).index(layer_id)
    skip = (at, param) if param is not None else None
    key = copy_key(graph, uid, skip)
    return [_order(graph, other)[at] for other in graph.units.ids
            if other != uid and copy_key(graph, other, skip) == key]
