"""Units: the model file's optional "units" key, the checks on it, and the edits and queries the
canvas and the layout use (grouping, nesting, collapsing, which node stands for a hidden layer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.core import modelfile
from cnnstudio.core.graph import Graph, GraphError
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.core.units import UnitError, visible_graph
from cnnstudio.core.validator import validate

from .builders import chain


def stages() -> Graph:
    return chain((1, 16, 16), [
        ("c1", "Conv2D", {"filters": 4, "padding": "same"}),
        ("r1", "ReLU", {}),
        ("c2", "Conv2D", {"filters": 4, "padding": "same"}),
        ("r2", "ReLU", {}),
        ("f", "Flatten", {}),
        ("out", "Dense", {"units": 3}),
    ])


def doc_with(units: list) -> dict:
    doc = modelfile.to_document(stages())
    doc["units"] = units
    return doc


# --- the file ---------------------------------------------------------------------------------

def test_spec_example_reads_and_writes_back_exactly(tmp_path: Path) -> None:
    """The spec's example form (a parent not listing its nested unit's layers) and the nested
    form both read; ids, names, members, nesting and collapsed state survive a save."""
    units = [{"id": "stage1", "name": "Stage 1", "members": ["c1", "r1"], "collapsed": True},
             {"id": "block1", "name": "Block \u00e9", "members": ["c2", "r2"],
              "parent": "stage1"}]
    g = modelfile.from_document(doc_with(units))
    assert g.units.layers("stage1") == ["c1", "r1", "c2", "r2"]
    assert g.units.children("stage1") == ["block1"]
    path = tmp_path / "m.json"
    modelfile.save(g, path)
    again = modelfile.load(path)
    assert again == g
    assert json.loads(path.read_text("utf-8"))["units"] == units


def test_a_file_without_units_gains_no_units_key(tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    modelfile.save(stages(), path)
    text = path.read_text("utf-8")
    modelfile.save(modelfile.load(path), path)
    assert path.read_text("utf-8") == text
    assert "units" not in json.loads(text)


@pytest.mark.parametrize("units, words", [
    ([{"id": "u", "name": "U", "members": ["c1", "ghost"]}], ["'u'", "'ghost'", "names no layer"]),
    ([{"id": "a", "name": "A", "members": ["c1"], "parent": "b"},
      {"id": "b", "name": "B", "members": ["r1"], "parent": "a"}], ["'a'", "cycle"]),
    ([{"id": "a", "name": "A", "members": ["c1", "r1"]},
      {"id": "b", "name": "B", "members": ["r1", "c2"]}], ["'b'", "'r1'", "'a'", "same level"]),
    ([{"id": "p", "name": "P", "members": ["c1", "r1", "c2"]},
      {"id": "a", "name": "A", "members": ["c1"], "parent": "p"},
      {"id": "b", "name": "B", "members": ["c1"], "parent": "p"}], ["'b'", "'c1'", "'a'"]),
    ([{"id": "c1", "name": "X", "members": ["r1"]}], ["'c1'", "layer's id"]),
    ([{"id": "u", "name": "U", "members": ["c1"], "parent": "nope"}], ["'u'", "'nope'"]),
    ([{"id": "u", "name": "U", "members": []}], ["'u'", "no layer"]),
    ([{"id": "u", "members": "c1"}], ["'u'", "members"]),
    ([{"id": "u", "members": ["c1"], "collapsed": "yes"}], ["'u'", "collapsed"]),
    ([{"id": "u", "members": ["c1"]}, {"id": "u", "members": ["r1"]}], ["'u'", "duplicate"]),
    ({"id": "u"}, ["units", "list"]),
    ([{"name": "no id", "members": ["c1"]}], ["unit 1", "id"]),
])
def test_bad_units_are_refused_naming_the_unit(units, words) -> None:
    with pytest.raises(modelfile.ModelFileError) as err:
        modelfile.from_document(doc_with(units), "m.json")
    message = str(err.value)
    assert message.startswith("m.json: ")
    for word in words:
        assert word in message, message


def test_validator_and_summary_ignore_units() -> None:
    plain = stages()
    grouped = stages()
    grouped.units.add("u", "Body", ["c1", "r1", "c2"], collapsed=True)
    a, b = validate(plain), validate(grouped)
    assert a.totals == b.totals and a.layers == b.layers and a.problems == b.problems


# --- edits ------------------------------------------------------------------------------------

def test_group_adopts_whole_units_and_refuses_half_of_one() -> None:
    g = stages()
    g.units.add("inner", "Inner", ["c1", "r1"])
    g.units.add("outer", "Outer", ["c1", "r1", "c2"])
    assert g.units.get("inner").parent == "outer"
    with pytest.raises(UnitError, match="'half'.*'c2'.*'outer'"):
        g.units.add("half", "Half", ["c2", "r2"])
    with pytest.raises(UnitError, match="names no layer"):
        g.units.add("x", "X", ["zzz"])
    with pytest.raises(UnitError, match="already used by a layer"):
        g.units.add("c1", "X", ["r2"])
    g.units.remove("outer")  # ungroup: the nested unit moves up a level, layers stay
    assert g.units.get("inner").parent is None and len(g) == 7


def test_ids_are_shared_between_layers_and_units() -> None:
    g = stages()
    g.units.add("layer_x", "U", ["c1"])
    with pytest.raises(GraphError, match="unit"):
        g.add_layer("ReLU", layer_id="layer_x", inputs=["out"])
    with pytest.raises(GraphError, match="unit"):
        g.rename("c2", "layer_x")
    assert g.units.next_id() not in g and g.units.next_id() not in g.units


def test_deleting_and_renaming_layers_keep_units_consistent() -> None:
    g = stages()
    g.units.add("u", "U", ["c1", "r1"])
    g.rename("r1", "act1")
    assert g.units.get("u").members == ["c1", "act1"]
    g.remove_layer("c1")
    assert g.units.get("u").members == ["act1"]
    g.remove_layer("act1")
    assert "u" not in g.units  # a unit left with no layer goes


def test_copies_compare_units() -> None:
    g = stages()
    h = g.copy()
    h.units.add("u", "U", ["c1"])
    assert g != h and "u" not in g.units
    assert h.copy() == h and h.copy().units.layers("u") == ["c1"]


# --- the query the layout and canvas use ------------------------------------------------------

def test_visible_graph_folds_collapsed_units_into_one_node() -> None:
    g = stages()
    g.units.add("inner", "Inner", ["c2", "r2"], collapsed=True)
    g.units.add("outer", "Outer", ["c1", "r1", "c2", "r2"])
    seen = visible_graph(g)
    assert seen.nodes == ["in", "c1", "r1", "inner", "f", "out"]
    assert seen.node_of["c2"] == seen.node_of["r2"] == "inner"
    assert ("r1", "inner") in seen.edges and ("inner", "f") in seen.edges
    assert seen.hidden == {"inner": ["c2", "r2"]} and seen.is_unit("inner")
    g.units.set_collapsed("outer", True)  # the outermost collapsed unit stands for them all
    seen = visible_graph(g)
    assert seen.nodes == ["in", "outer", "f", "out"]
    assert seen.edges == [("in", "outer"), ("outer", "f"), ("f", "out")]
    assert g.units.entry("outer") == "c1"
    assert not g.units.is_shown("inner")


@pytest.mark.parametrize("key", [t.key for t in list_templates()])
def test_template_units_are_valid_and_hold_whole_stages(key: str) -> None:
    g = load_template(key)
    g.units.check()
    if key in ("mini_resnet", "cifar_vgg", "mobilenet_se"):  # natural stages open as units
        assert len(g.units) >= 2 and all(u.collapsed for u in g.units)
        for uid in g.units.ids:  # each a stage: one tensor in, one out
            sources, exits = g.units.boundary(uid)
            assert len(sources) == 1 and len(exits) == 1, uid


def test_auto_layout_places_a_collapsed_unit_as_one_block() -> None:
    from cnnstudio.core.appearance import BLOCK_HEIGHT, LAYER_GAP_Y
    from cnnstudio.core.layout import auto_layout

    g = stages()
    g.units.add("body", "Body", ["c1", "r1", "c2", "r2"], collapsed=True)
    at = auto_layout(g)
    step = BLOCK_HEIGHT + LAYER_GAP_Y
    assert at["c1"] == (at["in"][0], at["in"][1] + step)  # the unit's entry, one row down
    assert at["f"][1] == at["c1"][1] + step  # the next block right under the folded unit
    assert at["r2"][1] == at["c1"][1] + 3 * step  # hidden members keep a layout of their own


# --- the plans behind the window's unit commands ----------------------------------------------

def residual_blocks() -> Graph:
    """in -> stem -> [c1 -> r1 -> c2 -> add(stem, c2) -> relu] -> gap -> out."""
    g = Graph("res")
    g.add_layer("Input", {"channels": 2, "height": 8, "width": 8}, layer_id="in")
    g.add_layer("Conv2D", {"filters": 4, "padding": "same"}, layer_id="stem", inputs=["in"])
    g.add_layer("Conv2D", {"filters": 4, "padding": "same"}, layer_id="c1", inputs=["stem"])
    g.add_layer("ReLU", layer_id="r1", inputs=["c1"])
    g.add_layer("Conv2D", {"filters": 4, "padding": "same"}, layer_id="c2", inputs=["r1"])
    g.add_layer("Add", layer_id="add", inputs=["stem", "c2"])
    g.add_layer("ReLU", layer_id="relu", inputs=["add"])
    g.add_layer("GlobalAvgPool2D", layer_id="gap", inputs=["relu"])
    g.add_layer("Dense", {"units": 3}, layer_id="out", inputs=["gap"])
    for i, lid in enumerate(g.ids):  # one column, as a user might have arranged it
        g.move(lid, 0.0, 100.0 * i)
    return g


def test_group_plan_nests_inside_the_common_unit_and_refuses_a_duplicate() -> None:
    from cnnstudio.core.unit_ops import group_plan

    g = residual_blocks()
    assert group_plan(g, ["c1", "r1"]) == (["c1", "r1"], None)
    g.units.add("blk", "Block", ["c1", "r1", "c2", "add", "relu"])
    assert group_plan(g, ["r1", "c1"]) == (["c1", "r1"], "blk")
    with pytest.raises(UnitError, match="already form"):
        group_plan(g, ["blk"])
    assert group_plan(g, ["blk", "stem"])[0] == ["stem", "c1", "r1", "c2", "add", "relu"]


def test_fold_shift_moves_the_blocks_below_by_the_units_height() -> None:
    from cnnstudio.core.unit_ops import ROW_STEP, fold_shift

    g = residual_blocks()
    g.units.add("blk", "Block", ["c1", "r1", "c2", "add", "relu"])
    up = fold_shift(g, "blk", collapse=True)
    assert set(up) == {"gap", "out"}
    assert up["gap"][1] == g.positions["gap"][1] - 4 * ROW_STEP


def test_repeat_plan_copies_wire_in_sequence_with_fresh_ids() -> None:
    from cnnstudio.core.unit_ops import copies_of, repeat_plan

    g = residual_blocks()
    g.units.add("blk", "Block", ["c1", "r1", "c2", "add", "relu"], collapsed=True)
    plan = repeat_plan(g, "blk", 2)
    ids = [n.id for n in plan.layers]
    assert len(ids) == 10 and not set(ids) & set(g.ids)
    first = {n.id: n for n in plan.layers[:5]}
    assert first["c1_2"].inputs == ["relu"] and first["add_2"].inputs == ["relu", "c2_2"]
    assert plan.layers[5].inputs == ["relu_2"]  # the second copy follows the first
    assert plan.rewire == {"gap": ["relu_3"]}
    assert [u.name for u in plan.units] == ["Block (2)", "Block (3)"]
    for n in plan.layers:
        g.add_layer(n.type, n.params, layer_id=n.id, inputs=n.inputs, index=n.index,
                    position=n.position)
    for cid, inputs in plan.rewire.items():
        g.set_inputs(cid, inputs)
    for u in plan.units:
        g.units.add(u.id, u.name, u.members, parent=u.parent, collapsed=u.collapsed)
    assert validate(g).valid
    assert copies_of(g, "c2") == ["c2_2", "c2_3"]
    assert copies_of(g, "c2_3") == ["c2", "c2_2"]
    assert copies_of(g, "stem") == []
    g.set_param("c2_2", "filters", 8)  # a copy that differs is not a copy any more...
    assert copies_of(g, "c2") == ["c2_3"]
    assert copies_of(g, "c2_2", "filters") == ["c2", "c2_3"]  # ...but for the param edited


def test_repeat_refuses_a_unit_with_two_inputs() -> None:
    from cnnstudio.core.unit_ops import repeat_plan

    g = residual_blocks()
    g.units.add("two", "Two", ["c2", "add"])  # fed by r1 and by stem
    with pytest.raises(UnitError, match="'Two' cannot repeat.*2 inputs"):
        repeat_plan(g, "two", 1)
