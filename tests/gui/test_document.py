"""Document edits: each is one undo step, undo and redo return the identical model, refused
edits change nothing and say why."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cnnstudio.core import modelfile
from cnnstudio.core.graph import GraphError
from cnnstudio.core.templates import load_template
from cnnstudio.gui.document import Document

EDITS: dict[str, Callable[[Document], object]] = {
    "add": lambda d: d.add_layer("Dropout", {"rate": 0.3}, position=(300, 40)),
    "add_connected": lambda d: d.add_layer("ReLU", inputs=["c1"]),
    "insert_after": lambda d: d.insert_after("BatchNorm", "c1"),
    "insert_before": lambda d: d.insert_before("Flatten", "out"),
    "insert_on_edge": lambda d: d.insert_on_edge("Dropout", "p1", "c2"),
    "delete": lambda d: d.remove_layers(["r1"]),
    "delete_many": lambda d: d.remove_layers(["c2", "r2", "p2"]),
    "connect": lambda d: (d.disconnect("r1", "p1"), d.connect("c1", "p1")),
    "disconnect": lambda d: d.disconnect("p1", "c2"),
    "move": lambda d: d.move_layers({"c1": (200.0, 90.0), "r1": (210.0, 190.0)}),
    "param": lambda d: d.set_param("c1", "filters", 12),
    "params": lambda d: d.set_params("c2", {"kernel_size": 5, "stride": 2}),
    "rename": lambda d: d.rename("c1", "conv_first"),
    "trainable": lambda d: d.set_trainable("c1", False),
    "paste": lambda d: d.paste(d.fragment(["c1", "r1", "p1"]), (400, 0)),
    "auto_layout": lambda d: d.auto_layout(),
    "template": lambda d: d.replace_graph(load_template("lenet5"), "New from template"),
    "macro": lambda d: _macro(d),
}


def _macro(d: Document) -> None:
    with d.macro("several"):
        d.set_param("c1", "filters", 4)
        d.insert_after("Dropout", "r1")


@pytest.mark.parametrize("kind", sorted(EDITS))
def test_every_edit_undoes_and_redoes_to_the_identical_model(document, kind):
    if kind == "auto_layout":  # start from a hand-made arrangement (loading clears history)
        scrambled = document.graph.copy()
        scrambled.positions = {lid: (37.0 * i, 11.0 * i) for i, lid in enumerate(scrambled.ids)}
        document.load_graph(scrambled)
    before = document.graph.copy()
    depth = document.undo_stack.count()
    EDITS[kind](document)
    after = document.graph.copy()
    assert after != before, "the edit changed nothing"
    assert document.undo_stack.count() > depth
    assert not document.is_clean()
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert document.graph == before
    assert document.is_clean()
    while document.undo_stack.canRedo():
        document.undo_stack.redo()
    assert document.graph == after


def test_changed_carries_a_fresh_validation_after_edit_and_undo(document, qtbot):
    with qtbot.waitSignal(document.changed) as sig:
        document.set_param("c1", "filters", 12)
    assert sig.args[0].layers["c1"].output_shape[0] == 12
    with qtbot.waitSignal(document.changed) as sig:
        document.undo_stack.undo()
    assert sig.args[0].layers["c1"].output_shape[0] == 8


def test_param_typing_merges_into_one_undo_step(document):
    for value in (1, 12, 128):
        document.set_param("c1", "filters", value)
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.graph.layer("c1").params["filters"] == 8


def test_cycle_is_refused_with_reason_and_nothing_changes(document, qtbot):
    before = document.graph.copy()
    with qtbot.waitSignal(document.editRefused) as sig, pytest.raises(GraphError):
        document.connect("p2", "c2")
    assert "cycle" in sig.args[0]
    assert document.graph == before
    assert document.undo_stack.count() == 0


def test_second_input_to_a_single_input_layer_is_refused(document, qtbot):
    with qtbot.waitSignal(document.editRefused) as sig, pytest.raises(GraphError):
        document.connect("in", "c2")
    assert "Add or Concatenate" in sig.args[0]


def test_failed_macro_rolls_back_every_step(document):
    before = document.graph.copy()
    with pytest.raises(GraphError), document.macro("bad"):
        document.set_param("c1", "filters", 3)
        document.connect("p2", "c1")  # cycle
    assert document.graph == before
    assert document.undo_stack.count() == 0


def test_locked_document_refuses_structure_but_allows_moves(document, qtbot):
    document.set_locked(True, "training is running")
    with qtbot.waitSignal(document.editRefused) as sig, pytest.raises(GraphError):
        document.set_param("c1", "filters", 3)
    assert "training is running" in sig.args[0]
    document.move_layers({"c1": (321.0, 90.0)})
    assert document.graph.positions["c1"] == (321.0, 90.0)
    document.set_locked(False)
    document.set_param("c1", "filters", 3)


def test_paste_makes_ids_unique_and_keeps_internal_edges(document):
    new = document.paste(document.fragment(["c1", "r1"]), (400, 0))
    assert new == ["c1_2", "r1_2"]
    assert document.graph.layer("c1_2").inputs == []  # its source was not copied
    assert document.graph.layer("r1_2").inputs == ["c1_2"]
    pos = document.graph.positions
    # Shifted as a group (the copy keeps its shape), onto free canvas: the offset asked for
    # when nothing is there, else further right.
    assert (pos["r1_2"][0] - pos["c1_2"][0], pos["r1_2"][1] - pos["c1_2"][1]) == \
        (pos["r1"][0] - pos["c1"][0], pos["r1"][1] - pos["c1"][1])
    assert pos["c1_2"][1] == pos["c1"][1] and pos["c1_2"][0] >= pos["c1"][0] + 400
    far = document.paste(document.fragment(["c1"]), (5000, 0))
    assert pos[far[0]] == (pos["c1"][0] + 5000, pos["c1"][1])


def test_insert_before_dense_fixes_the_flatten_error():
    doc = Document(modelfile.loads(
        '{"format": "cnnstudio.model", "version": 1, "name": "b", "layers": ['
        '{"id": "in", "type": "Input", "params": {"channels": 1, "height": 8, "width": 8}},'
        '{"id": "c", "type": "Conv2D"}, {"id": "d", "type": "Dense"}]}'))
    assert not doc.result.valid
    new = doc.insert_before("Flatten", "d")
    assert doc.result.valid
    assert doc.graph.layer("d").inputs == [new]
    assert doc.graph.layer(new).inputs == ["c"]


def test_rename_is_announced_so_selections_follow(document, selection, qtbot):
    document.renamed.connect(selection.follow_rename)
    selection.set(["c1"])
    document.rename("c1", "first")
    assert selection.ids() == ["first"]
    document.undo_stack.undo()
    assert selection.ids() == ["c1"]


def test_missing_positions_are_laid_out_on_load():
    graph = load_template("mini_resnet")
    assert not graph.positions
    doc = Document(graph)
    assert set(doc.graph.positions) == set(doc.graph.ids)
    # Every block drawn has its own place (a collapsed unit is drawn at its first layer's).
    from cnnstudio.core.units import visible_graph

    seen = visible_graph(doc.graph)
    spots = [doc.graph.positions[doc.graph.units.entry(n) if seen.is_unit(n) else n]
             for n in seen.nodes]
    assert len(set(spots)) == len(spots), "two blocks at the same place"
    for uid in doc.graph.units.ids:  # and expanding a unit in place keeps them apart
        doc.set_collapsed(uid, False)
    spots = list(doc.graph.positions.values())
    assert len(set(spots)) == len(spots), "two blocks at the same place"


def test_undo_and_redo_of_structural_steps_wait_while_locked(document):
    """Training locks the model: replaying a structural step would change it under the run."""
    document.set_param("c1", "filters", 12)
    document.remove_layers(["r1"])
    document.undo_stack.undo()  # r1 back; the filters edit is left to redo/undo below
    edited = document.graph.copy()
    refusals: list[str] = []
    document.editRefused.connect(refusals.append)
    document.set_locked(True, "training is running")
    index = document.undo_stack.index()
    document.undo_stack.undo()
    assert document.graph == edited and document.undo_stack.index() == index
    document.undo_stack.redo()
    assert document.graph == edited and document.undo_stack.index() == index
    assert len(refusals) == 2 and "training is running" in refusals[0]
    document.set_locked(False)
    document.undo_stack.undo()
    assert document.graph.layer("c1").params["filters"] != 12
    document.undo_stack.redo()
    document.undo_stack.redo()
    assert "r1" not in document.graph


def test_a_refused_jump_through_history_reverts_the_moves_it_replayed(document):
    start = document.graph.copy()
    document.set_param("c1", "filters", 12)
    document.move_layers({"c1": (300.0, 10.0)})
    moved = document.graph.copy()
    document.set_locked(True)
    document.undo_stack.setIndex(0)  # undoes the move, then is refused at the param step
    assert document.graph == moved and document.undo_stack.index() == 2
    document.undo_stack.undo()  # a layout-only step is still fine while locked
    assert document.graph.positions["c1"] == start.positions["c1"]
    assert document.undo_stack.index() == 1
