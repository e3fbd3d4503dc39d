"""The model graph: the edits the canvas makes, and the ones it must refuse with a reason."""

from __future__ import annotations

import pytest

from cnnstudio.core.graph import Graph, GraphError

from .builders import chain


def small() -> Graph:
    return chain((1, 28, 28), [
        ("c1", "Conv2D", {"filters": 4}),
        ("r1", "ReLU", {}),
        ("f", "Flatten", {}),
        ("out", "Dense", {"units": 10}),
    ])


def residual() -> Graph:
    """in -> c1 -> {c2 -> c3, identity} -> add -> gap -> out (a branch and a merge)."""
    g = Graph("res")
    g.add_layer("Input", {"channels": 3, "height": 8, "width": 8}, layer_id="in")
    g.add_layer("Conv2D", {"filters": 4, "padding": "same"}, layer_id="c1", inputs=["in"])
    g.add_layer("Conv2D", {"filters": 4, "padding": "same"}, layer_id="c2", inputs=["c1"])
    g.add_layer("Conv2D", {"filters": 4, "padding": "same"}, layer_id="c3", inputs=["c2"])
    g.add_layer("Add", layer_id="add", inputs=["c1", "c3"])
    g.add_layer("GlobalAvgPool2D", layer_id="gap", inputs=["add"])
    g.add_layer("Dense", {"units": 2}, layer_id="out", inputs=["gap"])
    return g


# --- adding -----------------------------------------------------------------------------------

def test_add_layer_fills_params_and_keeps_file_order() -> None:
    g = small()
    assert g.ids == ["in", "c1", "r1", "f", "out"]
    assert g.layer("c1").params == {"filters": 4, "kernel_size": 3, "stride": 1,
                                    "padding": "valid", "use_bias": True, "dilation": 1,
                                    "groups": 1}
    assert g.layer("out").inputs == ["f"]
    assert len(g) == 5 and "c1" in g and "nope" not in g


def test_add_layer_generates_fresh_ids() -> None:
    g = Graph()
    a = g.add_layer("Conv2D")
    b = g.add_layer("Conv2D")
    assert a != b and a.startswith("conv2d") and b.startswith("conv2d")
    assert g.new_id("Conv2D") not in g


def test_add_layer_at_index_and_position() -> None:
    g = small()
    lid = g.add_layer("Dropout", {"rate": 0.2}, layer_id="d", index=1, position=(5, 6))
    assert g.ids[1] == lid == "d"
    assert g.positions["d"] == (5.0, 6.0)
    assert g.index_of("d") == 1


def test_add_layer_canonicalises_params() -> None:
    g = Graph()
    g.add_layer("Conv2D", {"kernel_size": [3, 3], "padding": [1, 2]}, layer_id="c")
    assert g.layer("c").params["kernel_size"] == 3
    assert g.layer("c").params["padding"] == [1, 2]


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"type_name": "Conv3D"}, ["Conv3D", "Conv2D"]),
    ({"type_name": "Conv2D", "layer_id": "c1"}, ["'c1'", "already exists"]),
    ({"type_name": "Conv2D", "layer_id": ""}, ["id"]),
    ({"type_name": "Conv2D", "layer_id": " c9"}, ["id"]),
    ({"type_name": "Conv2D", "layer_id": "a\tb"}, ["control"]),
    ({"type_name": "Conv2D", "layer_id": 7}, ["id"]),
    ({"type_name": "Conv2D", "params": {"filters": 0}}, ["filters", "got 0"]),
    ({"type_name": "Conv2D", "params": {"size": 3}}, ["'size'"]),
    ({"type_name": "Conv2D", "inputs": ["ghost"]}, ["'ghost'", "names no layer"]),
    ({"type_name": "Conv2D", "inputs": ["in", "c1"]}, ["takes 1 input", "Add or Concatenate"]),
    ({"type_name": "Input", "inputs": ["c1"]}, ["Input", "no inputs"]),
])
def test_add_layer_refusals(kwargs, words) -> None:
    g = small()
    before = g.copy()
    with pytest.raises(GraphError) as exc:
        g.add_layer(**kwargs)
    for word in words:
        assert word in str(exc.value), (word, str(exc.value))
    assert g == before, "a refused edit changes nothing"


# --- removing and undoing ----------------------------------------------------------------

def test_remove_layer_drops_its_edges_and_position_and_insert_puts_it_back() -> None:
    g = residual()
    g.move("c1", 10, 20)
    before = g.copy()
    index, pos = g.index_of("c1"), g.positions["c1"]
    removed = g.remove_layer("c1")
    assert removed.id == "c1" and "c1" not in g
    assert g.layer("c2").inputs == [] and g.layer("add").inputs == ["c3"]
    assert "c1" not in g.positions
    assert all("c1" not in edge for edge in g.edges())
    # Undo: the layer, then its outgoing edges, at their old slots.
    g.insert_layer(removed, index, pos)
    g.connect("c1", "c2")
    g.connect("c1", "add", slot=0)
    assert g == before


def test_remove_unknown_layer() -> None:
    with pytest.raises(GraphError, match="'zz'"):
        small().remove_layer("zz")


# --- connecting ---------------------------------------------------------------------------------

def test_connect_and_disconnect_round_trip() -> None:
    g = residual()
    slot = g.disconnect("c1", "add")
    assert slot == 0 and g.layer("add").inputs == ["c3"]
    assert ("c1", "add") not in g.edges()
    g.connect("c1", "add", slot=slot)
    assert g.layer("add").inputs == ["c1", "c3"]
    assert g == residual()


def test_connect_appends_to_merge_layers() -> None:
    g = residual()
    g.connect("c2", "add")
    assert g.layer("add").inputs == ["c1", "c3", "c2"]
    assert g.consumers("c2") == ["c3", "add"]


@pytest.mark.parametrize(("src", "dst", "words"), [
    ("c3", "c2", ["cycle"]),  # c2 already feeds c3
    ("add", "c1", ["cycle"]),
    ("out", "in", ["takes no inputs"]),
    ("c1", "c1", ["itself"]),
    ("c1", "c2", ["already feeds"]),
    ("in", "c2", ["takes 1 input", "Add or Concatenate"]),
    ("ghost", "c2", ["'ghost'"]),
    ("c2", "ghost", ["'ghost'"]),
])
def test_connect_refusals(src, dst, words) -> None:
    g = residual()
    before = g.copy()
    with pytest.raises(GraphError) as exc:
        g.connect(src, dst)
    for word in words:
        assert word in str(exc.value), (word, str(exc.value))
    assert g == before


def test_connect_into_a_fresh_input_is_refused() -> None:
    g = Graph()
    g.add_layer("Input", layer_id="a")
    g.add_layer("Input", layer_id="b")
    with pytest.raises(GraphError, match="Input layer takes no inputs"):
        g.connect("a", "b")


def test_disconnect_missing_edge() -> None:
    with pytest.raises(GraphError, match="does not feed"):
        residual().disconnect("c2", "add")


def test_would_create_cycle() -> None:
    g = residual()
    assert g.would_create_cycle("out", "in")
    assert g.would_create_cycle("c3", "c2")
    assert g.would_create_cycle("c2", "c2")
    assert not g.would_create_cycle("c2", "add")
    assert g.ancestors("add") == {"in", "c1", "c2", "c3"}


def test_set_inputs_checks_cycles_and_arity() -> None:
    g = residual()
    g.set_inputs("add", ["c2", "c3"])
    assert g.layer("add").inputs == ["c2", "c3"]
    before = g.copy()
    with pytest.raises(GraphError, match="cycle"):
        g.set_inputs("c1", ["c3"])
    with pytest.raises(GraphError, match="takes 1 input"):
        g.set_inputs("c2", ["in", "c1"])
    with pytest.raises(GraphError, match="'nope'"):
        g.set_inputs("c2", ["nope"])
    assert g == before


# --- params, flags, names, positions ---------------------------------------------------

def test_set_param_returns_old_value_and_canonicalises() -> None:
    g = small()
    assert g.set_param("c1", "kernel_size", [5, 5]) == 3
    assert g.layer("c1").params["kernel_size"] == 5
    assert g.set_param("c1", "padding", "same") == "valid"
    with pytest.raises(GraphError, match="c1: filters must be in"):
        g.set_param("c1", "filters", 0)
    with pytest.raises(GraphError, match="no param 'units'"):
        g.set_param("c1", "units", 3)
    assert g.layer("c1").params["filters"] == 4


def test_set_trainable() -> None:
    g = small()
    assert g.set_trainable("c1", False) is True
    assert g.layer("c1").trainable is False
    assert g.set_trainable("c1", True) is False


def test_rename_updates_edges_positions_and_keeps_place() -> None:
    g = residual()
    g.move("c1", 1, 2)
    g.rename("c1", "stem")
    assert g.ids == ["in", "stem", "c2", "c3", "add", "gap", "out"]
    assert g.layer("c2").inputs == ["stem"]
    assert g.layer("add").inputs == ["stem", "c3"]
    assert g.positions == {"stem": (1.0, 2.0)}
    g.rename("stem", "stem")  # no-op
    with pytest.raises(GraphError, match="already exists"):
        g.rename("stem", "c2")
    with pytest.raises(GraphError, match="id"):
        g.rename("stem", "")
    with pytest.raises(GraphError, match="'c1'"):
        g.rename("c1", "x")


def test_move() -> None:
    g = small()
    g.move("c1", 3, 4.5)
    assert g.positions["c1"] == (3.0, 4.5)
    with pytest.raises(GraphError):
        g.move("nope", 0, 0)


# --- order --------------------------------------------------------------------------------------

def test_topological_order_of_a_chain_is_file_order() -> None:
    assert small().topological_order() == ["in", "c1", "r1", "f", "out"]


def test_topological_order_puts_sources_first_and_ties_in_file_order() -> None:
    g = Graph()
    g.add_layer("Input", layer_id="in")
    # Listed consumer-first in the file: the order must still put producers before consumers.
    g.add_layer("Conv2D", layer_id="b", inputs=["in"])
    g.add_layer("Conv2D", layer_id="a", inputs=["in"])
    g.add_layer("Add", layer_id="m", inputs=["a", "b"])
    g.add_layer("Conv2D", layer_id="late", inputs=["in"], index=1)
    order = g.topological_order()
    assert order == ["in", "late", "b", "a", "m"]


def test_topological_order_is_stable_across_unrelated_edits() -> None:
    g = residual()
    first = g.topological_order()
    g.set_param("c2", "filters", 8)
    g.move("c3", 100, 100)
    assert g.topological_order() == first
    for src, dst in g.edges():
        assert first.index(src) < first.index(dst)


def test_edges_follow_destination_then_slot_order() -> None:
    assert residual().edges() == [("in", "c1"), ("c1", "c2"), ("c2", "c3"), ("c1", "add"),
                                  ("c3", "add"), ("add", "gap"), ("gap", "out")]


# --- copy and equality --------------------------------------------------------------------------

def test_copy_is_deep() -> None:
    g = residual()
    g.move("c1", 1, 1)
    c = g.copy()
    assert c == g and c is not g
    c.set_param("c2", "filters", 9)
    c.connect("c2", "add")
    c.move("c1", 5, 5)
    assert g.layer("c2").params["filters"] == 4
    assert g.layer("add").inputs == ["c1", "c3"]
    assert g.positions["c1"] == (1.0, 1.0)
    assert c != g


def test_copy_shares_no_mutable_value() -> None:
    """The copy is cheap (immutable values are shared) but nothing mutable is: a list param
    changed in place, a unit's members or name, an edge list: the original keeps its own."""
    g = residual()
    g.set_param("c1", "kernel_size", [3, 5])
    g.units.add("u1", "stage", ["c2", "c3"])
    c = g.copy()
    assert c == g and c.units == g.units and c.units.layers("u1") == ["c2", "c3"]
    c.layer("c1").params["kernel_size"][0] = 7
    c.layer("add").inputs.append("c2")
    c.units.get("u1").members.append("gap")
    c.units.get("u1").name = "other"
    c.positions["c1"] = (9.0, 9.0)
    assert g.layer("c1").params["kernel_size"] == [3, 5]
    assert g.layer("add").inputs == ["c1", "c3"]
    assert g.units.get("u1").members == ["c2", "c3"] and g.units.get("u1").name == "stage"
    assert "c1" not in g.positions or g.positions["c1"] != (9.0, 9.0)
    c.units.remove("u1")
    assert "u1" in g.units and "u1" not in c.units  # the copy's units belong to the copy


@pytest.mark.parametrize("edit", [
    lambda g: g.set_param("c2", "filters", 5),
    lambda g: g.set_trainable("c2", False),
    lambda g: g.move("c2", 1, 1),
    lambda g: g.rename("c2", "x"),
    lambda g: g.disconnect("c1", "add"),
    lambda g: setattr(g, "name", "other"),
    lambda g: setattr(g, "description", "d"),
])
def test_equality_sees_every_kind_of_edit(edit) -> None:
    g = residual()
    edit(g)
    assert g != residual()


def test_equality_sees_order() -> None:
    a, b = Graph(), Graph()
    a.add_layer("ReLU", layer_id="x")
    a.add_layer("ReLU", layer_id="y", inputs=[])
    b.add_layer("ReLU", layer_id="y")
    b.add_layer("ReLU", layer_id="x", inputs=[])
    assert a != b
    assert Graph() != "not a graph"


def test_graph_error_is_a_value_error() -> None:
    assert issubclass(GraphError, ValueError)


def test_the_same_input_twice_is_refused_everywhere() -> None:
    """The file format refuses a repeated input, so no edit may create one (else save -> load
    would fail on the user's own model)."""
    g = residual()
    with pytest.raises(GraphError, match="already feeds"):
        g.connect("c1", "add")
    with pytest.raises(GraphError, match="c1 is listed twice"):
        g.add_layer("Add", layer_id="a2", inputs=["c1", "c1"])
    with pytest.raises(GraphError, match="c3 is listed twice"):
        g.set_inputs("add", ["c3", "c3"])
    assert g == residual()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e12])
def test_positions_the_file_cannot_store_are_refused(bad) -> None:
    g = small()
    with pytest.raises(GraphError, match="position"):
        g.move("c1", bad, 0)
    with pytest.raises(GraphError, match="position"):
        g.add_layer("ReLU", layer_id="r9", position=(0, bad))
    assert "r9" not in g and "c1" not in g.positions


def test_connecting_into_an_input_says_inputs_take_none() -> None:
    """The reason given is the real one (Input takes no inputs), not a cycle."""
    g = Graph()
    g.add_layer("Input", layer_id="in")
    g.add_layer("ReLU", layer_id="r", inputs=["in"])
    with pytest.raises(GraphError, match="takes no inputs"):
        g.connect("r", "in")
