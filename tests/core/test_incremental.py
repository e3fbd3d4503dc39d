"""Incremental validation gives exactly what a full validation gives, after any edit, and an edit
that cannot change a shape (move, rename, units) recomputes nothing or only what names it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnstudio.core.graph import Graph, GraphError
from cnnstudio.core.incremental import IncrementalValidator
from cnnstudio.core.units import UnitError
from cnnstudio.core.validator import ValidationResult, validate
from tests.edit_sequences import TYPES, group_some, layer_params, param_edit, valid_graphs

from .builders import chain


def assert_same(result: ValidationResult, graph: Graph) -> None:
    """Equal to a fresh full validation, including the order of layers and problems."""
    full = validate(graph)
    assert result == full
    assert list(result.layers) == list(full.layers)
    assert [p.code for p in result.problems] == [p.code for p in full.problems]


def _edit(data: st.DataObject, graph: Graph, history: list[Graph]) -> Graph:
    """One random edit of ``graph`` (refused edits change nothing); returns the graph now shown
    (an undo or redo shows a stored copy, as the window's New/undo swaps whole graphs)."""
    ids = graph.ids
    kind = data.draw(st.sampled_from(
        ["param", "param", "param", "input", "add", "remove", "connect", "disconnect", "rename",
         "move", "trainable", "group", "ungroup", "collapse", "undo", "cycle"] if ids
        else ["add"]))

    def pick() -> str:
        return data.draw(st.sampled_from(ids))

    try:
        if kind == "param":
            edit = param_edit(data.draw, graph)
            if edit is not None:
                graph.set_param(*edit)
        elif kind == "input":
            inputs = [lay.id for lay in graph if lay.type == "Input"]
            if inputs:
                lid = data.draw(st.sampled_from(inputs))
                name = data.draw(st.sampled_from(["channels", "height", "width"]))
                graph.set_param(lid, name, data.draw(st.integers(1, 12)))
        elif kind == "add":
            type_name = data.draw(st.sampled_from(TYPES + ["Input"]))
            srcs = data.draw(st.lists(st.sampled_from(ids), max_size=3, unique=True)) if ids \
                else []
            graph.add_layer(type_name, layer_params(data.draw, type_name), inputs=srcs,
                            index=data.draw(st.none() | st.integers(0, len(ids))))
        elif kind == "remove":
            graph.remove_layer(pick())
        elif kind == "connect":
            graph.connect(pick(), pick())
        elif kind == "disconnect":
            edges = graph.edges()
            if edges:
                graph.disconnect(*data.draw(st.sampled_from(edges)))
        elif kind == "rename":
            graph.rename(pick(), data.draw(st.sampled_from([*ids, "renamed", "x_1"])))
        elif kind == "move":
            graph.move(pick(), data.draw(st.floats(-500, 500)), data.draw(st.floats(-500, 500)))
        elif kind == "trainable":
            lid = pick()
            graph.set_trainable(lid, not graph.layer(lid).trainable)
        elif kind == "group":
            group_some(data.draw, graph)
        elif kind in ("ungroup", "collapse") and len(graph.units):
            uid = data.draw(st.sampled_from(graph.units.ids))
            if kind == "ungroup":
                graph.units.remove(uid)
            else:
                graph.units.set_collapsed(uid, not graph.units.get(uid).collapsed)
        elif kind == "cycle":  # only a file can hold one (the reader keeps it for the validator)
            lid = pick()
            later = [d for d in ids if lid in graph.ancestors(d) and d not in
                     graph.layer(lid).inputs]
            if later:
                graph.layer(lid).inputs.append(data.draw(st.sampled_from(later)))
        elif kind == "undo" and history:
            return data.draw(st.sampled_from(history)).copy()
    except (GraphError, UnitError):
        pass
    return graph


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_graphs(), st.data())
def test_incremental_equals_full_after_every_edit(graph, data):
    validator = IncrementalValidator()
    assert_same(validator.validate(graph), graph)
    history = [graph.copy()]
    for _ in range(data.draw(st.integers(1, 12))):
        graph = _edit(data, graph, history)
        history.append(graph.copy())
        assert_same(validator.validate(graph), graph)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_graphs(), st.data())
def test_edits_that_change_no_shape_recompute_nothing_or_what_names_the_renamed(graph, data):
    validator = IncrementalValidator()
    validator.validate(graph)
    lid = data.draw(st.sampled_from(graph.ids))
    graph.move(lid, 12.5, -40.0)
    group_some(data.draw, graph)
    assert_same(validator.validate(graph), graph)
    assert validator.recomputed == []
    consumers = graph.consumers(lid)
    graph.rename(lid, "renamed")
    assert_same(validator.validate(graph), graph)
    assert set(validator.recomputed) <= {"renamed", *consumers}
    assert "renamed" in validator.recomputed


def test_a_param_edit_recomputes_only_as_far_downstream_as_the_output_changes():
    graph = chain((3, 16, 16), [
        ("c1", "Conv2D", {"filters": 8, "padding": "same"}),
        ("r1", "ReLU", {}),
        ("c2", "Conv2D", {"filters": 8, "padding": "same"}),
        ("r2", "ReLU", {}),
        ("p", "MaxPool2D", {}),
    ])
    validator = IncrementalValidator()
    validator.validate(graph)
    graph.set_param("c1", "use_bias", False)  # same shapes: only the counts of c1 change
    assert_same(validator.validate(graph), graph)
    assert validator.recomputed == ["c1"]
    graph.set_param("c1", "filters", 4)  # c2 still hands on 8 channels
    assert_same(validator.validate(graph), graph)
    assert validator.recomputed == ["c1", "r1", "c2"]
    graph.set_param("in", "height", 10)  # everything downstream changes
    assert_same(validator.validate(graph), graph)
    assert validator.recomputed == graph.topological_order()


def test_graph_level_warnings_follow_edits_far_from_them():
    """linear_stack, activation_on_logits, multiple outputs and cycles read the whole graph;
    the incremental result keeps them right when an edit elsewhere makes or breaks them."""
    graph = chain((1, 8, 8), [
        ("f", "Flatten", {}), ("d1", "Dense", {"units": 6}), ("d2", "Dense", {"units": 4}),
        ("r", "ReLU", {}), ("s", "Softmax", {}),
    ])
    validator = IncrementalValidator()
    result = validator.validate(graph)
    assert {p.code for p in result.warnings} == {"linear_stack", "activation_on_logits"}
    graph.add_layer("ReLU", layer_id="between", inputs=["d1"])
    graph.set_inputs("d2", ["between"])
    result = validator.validate(graph)
    assert_same(result, graph)
    assert "linear_stack" not in {p.code for p in result.warnings}
    graph.add_layer("Dense", {"units": 3}, layer_id="stray", inputs=["f"])
    result = validator.validate(graph)
    assert_same(result, graph)
    assert result.layers["stray"].status == "error"
    graph.remove_layer("stray")
    assert_same(validator.validate(graph), graph)
