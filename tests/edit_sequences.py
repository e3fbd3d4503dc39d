"""Hypothesis strategies for models and the edits a user makes to them, over the whole
catalogue: random valid graphs (every layer type, merges, units) and param values drawn from each
param's spec, small enough to keep shapes small, sometimes out of range (refused) or making the
layer invalid (a kernel larger than its input, groups that do not divide the channels)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from cnnstudio.core.catalogue import BOOL, CHOICE, FLOAT, INT, LAYERS, PADDING, SIDES, SIZE2
from cnnstudio.core.graph import Graph, GraphError
from cnnstudio.core.units import UnitError
from cnnstudio.core.validator import validate

#: Every type but Input, which a random step adds only rarely (a second Input is a real edit).
TYPES = sorted(t for t in LAYERS if t != "Input")

_small = st.integers(1, 4)
_pair = st.one_of(_small, st.lists(_small, min_size=2, max_size=2))


def param_value(draw: st.DrawFn, type_name: str, name: str, refusable: bool = True) -> Any:
    """A value for one param: mostly small and in range, sometimes one the catalogue refuses."""
    spec = LAYERS[type_name].param(name)
    if refusable and draw(st.integers(0, 9)) == 0:  # out of range or of the wrong kind
        return draw(st.sampled_from([-1, 0, 2.5, "bogus", [1, 2, 3], 10**9]))
    if spec.optional and draw(st.booleans()):
        return None
    kind = spec.kind
    if kind == INT:
        top = 12 if name in ("height", "width") else 6
        return draw(st.integers(1, top))
    if kind == SIZE2:
        return draw(_pair)
    if kind == PADDING:
        return draw(st.one_of(st.sampled_from(spec.choices), st.integers(0, 2),
                              st.lists(st.integers(0, 2), min_size=2, max_size=2)))
    if kind == SIDES:
        return draw(st.one_of(st.integers(0, 2), st.lists(st.integers(0, 2), min_size=2,
                                                          max_size=2),
                              st.lists(st.integers(0, 2), min_size=4, max_size=4)))
    if kind == FLOAT:
        lo = spec.minimum if spec.minimum is not None else 0.0
        hi = spec.maximum if spec.maximum is not None else 1.0
        return draw(st.floats(lo, hi, exclude_max=spec.exclusive_max,
                              exclude_min=spec.exclusive_min))
    if kind == BOOL:
        return draw(st.booleans())
    if kind == CHOICE:
        return draw(st.sampled_from(spec.choices))
    raise AssertionError(f"no strategy for param kind {kind}")


def param_edit(draw: st.DrawFn, graph: Graph) -> tuple[str, str, Any] | None:
    """(layer, param, new value) for a random param edit, or None for a layer without params."""
    layer = graph.layer(draw(st.sampled_from(graph.ids)))
    if not layer.spec.params:
        return None
    name = draw(st.sampled_from([p.name for p in layer.spec.params]))
    return layer.id, name, param_value(draw, layer.type, name)


def layer_params(draw: st.DrawFn, type_name: str, refusable: bool = True) -> dict[str, Any]:
    """Some of the layer's params (the rest keep their defaults), each possibly refused."""
    return {p.name: param_value(draw, type_name, p.name, refusable)
            for p in LAYERS[type_name].params if draw(st.booleans())}


def _try_add(graph: Graph, type_name: str, params: dict[str, Any], inputs: list[str],
             trainable: bool) -> str | None:
    try:
        return graph.add_layer(type_name, params, inputs=inputs, trainable=trainable)
    except GraphError:
        return None


@st.composite
def valid_graphs(draw: st.DrawFn, max_steps: int = 10) -> Graph:
    """A valid model grown step by step from an Input: each step adds a layer of any type fed
    by the last one, or a merge of the last one with branches fed from earlier layers, and is
    kept only when the model stays valid; then some runs of layers become units."""
    graph = Graph("random")
    last = graph.add_layer("Input", {"channels": draw(st.integers(1, 4)),
                                     "height": draw(st.integers(4, 12)),
                                     "width": draw(st.integers(4, 12))})
    steps = draw(st.integers(1, max_steps))
    for _ in range(3 * steps):
        if len(graph) > steps:
            break
        kind = draw(st.sampled_from(TYPES))
        spec = LAYERS[kind]
        added: list[str] = []
        inputs = [last]
        if spec.min_inputs > 1:
            n = 2 if spec.max_inputs == 2 else draw(st.integers(2, 3))
            for _ in range(n - 1):  # mostly a same-shape branch from the last layer
                src = draw(st.sampled_from([last, last, *graph.ids]))
                branch_kind = draw(st.sampled_from(
                    [t for t in TYPES if LAYERS[t].max_inputs == 1]))
                branch = _try_add(graph, branch_kind,
                                  layer_params(draw, branch_kind, refusable=False), [src], True)
                if branch is not None:
                    added.append(branch)
                    inputs.append(branch)
        lid = _try_add(graph, kind, layer_params(draw, kind, refusable=False), inputs,
                       draw(st.booleans()) or draw(st.booleans()))
        if lid is not None:
            added.append(lid)
        if lid is not None and validate(graph).valid:
            last = lid
            continue
        for gone in reversed(added):
            graph.remove_layer(gone)
    for _ in range(draw(st.integers(0, 2))):
        group_some(draw, graph)
    assert validate(graph).valid
    return graph


def group_some(draw: st.DrawFn, graph: Graph) -> None:
    """Group a run of layers (file order) as a unit, if the units allow it."""
    ids = graph.ids
    start = draw(st.integers(0, len(ids) - 1))
    members = ids[start:start + draw(st.integers(1, 4))]
    try:
        graph.units.add(graph.units.next_id(), "unit", members,
                        collapsed=draw(st.booleans()))
    except UnitError:
        pass
