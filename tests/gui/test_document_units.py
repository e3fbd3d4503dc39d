"""Unit edits in the Document: each is one undo step that undoes and redoes to the identical
model, and a refused one changes nothing and says why."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cnnstudio.core.graph import GraphError
from cnnstudio.core.templates import load_template
from cnnstudio.gui.document import Document


def _grouped(d: Document) -> str:
    """The mini ResNet without its template units, its first residual block grouped."""
    g = load_template("mini_resnet")
    for uid in g.units.ids:
        g.units.remove(uid)
    d.load_graph(g)
    return d.group(["b1_c1", "b1_bn1", "b1_r1", "b1_c2", "b1_bn2", "b1_add", "b1_relu"],
                   "Residual")


UNIT_EDITS: dict[str, Callable[[Document, str], object]] = {
    "expand": lambda d, u: d.set_collapsed(u, False),
    "ungroup": lambda d, u: d.ungroup(u),
    "rename": lambda d, u: d.rename_unit(u, "Block"),
    "repeat": lambda d, u: d.repeat_unit(u, 2),
    "nest": lambda d, u: d.group([u, "stem_relu"], "Outer"),
    "delete_unit_layers": lambda d, u: d.remove_layers(d.layers_of([u])),
    "move_unit": lambda d, u: d.move_nodes({u: (400.0, 300.0)}),
    "apply_to_copies": lambda d, u: (d.repeat_unit(u, 1), d.set_param("b1_c1", "filters", 8),
                                     d.apply_to_copies("b1_c1", "filters")),
}


@pytest.mark.parametrize("kind", sorted(UNIT_EDITS))
def test_unit_edits_undo_and_redo_to_the_identical_model(qtbot, kind: str) -> None:
    d = Document()
    uid = _grouped(d)
    assert d.undo_stack.count() == 1  # grouping (and collapsing) is one step
    before = d.graph.copy()
    UNIT_EDITS[kind](d, uid)
    after = d.graph.copy()
    assert after != before
    while d.undo_stack.canUndo():
        d.undo_stack.undo()
    assert not len(d.graph.units)
    while d.undo_stack.canRedo():
        d.undo_stack.redo()
    assert d.graph == after


@pytest.mark.parametrize("arranged", [False, True])
def test_group_collapses_in_place_and_expand_restores_the_layout(qtbot, arranged) -> None:
    """An automatic layout is laid out again around the unit's single block; a user's own
    arrangement keeps its places and only the blocks below move up (and back down)."""
    from cnnstudio.core.layout import auto_layout

    d = Document()
    g = load_template("mini_resnet")
    for uid in g.units.ids:
        g.units.remove(uid)
    if arranged:
        g.positions = {lid: (0.0, 100.0 * i) for i, lid in enumerate(g.ids)}
    d.load_graph(g)
    layout = dict(d.graph.positions)
    uid = d.group(["b1_c1", "b1_bn1", "b1_r1", "b1_c2", "b1_bn2", "b1_add", "b1_relu"])
    assert d.graph.units.get(uid).collapsed
    if arranged:
        assert d.graph.positions["b2_c1"][1] == layout["b2_c1"][1] - 600  # 7 rows become 1
        assert d.graph.positions["stem"] == layout["stem"]
    else:
        assert d.graph.positions == auto_layout(d.graph)
    d.set_collapsed(uid, False)
    assert d.graph.positions == layout


def test_apply_to_copies_sets_the_same_param_in_every_copy(qtbot) -> None:
    d = Document()
    uid = _grouped(d)
    d.repeat_unit(uid, 2)
    d.set_param("b1_c2", "kernel_size", 5)
    assert d.copies_of("b1_c2") == []  # they differ now...
    assert d.copies_of("b1_c2", "kernel_size") == ["b1_c2_2", "b1_c2_3"]  # ...in this only
    assert d.apply_to_copies("b1_c2", "kernel_size") == ["b1_c2_2", "b1_c2_3"]
    assert d.graph.layer("b1_c2_3").params["kernel_size"] == 5
    d.undo_stack.undo()
    assert d.graph.layer("b1_c2_3").params["kernel_size"] == 3


def test_refused_unit_edits_change_nothing_and_say_why(qtbot) -> None:
    d = Document()
    uid = _grouped(d)
    refusals: list[str] = []
    d.editRefused.connect(refusals.append)
    before, depth = d.graph.copy(), d.undo_stack.count()
    with pytest.raises(GraphError):
        d.group([uid])
    with pytest.raises(GraphError):
        d.repeat_unit("nope", 1)
    assert d.graph == before and d.undo_stack.count() == depth
    two = d.group(["b2_c2", "b2_add"])  # fed by three layers from outside
    before, depth = d.graph.copy(), d.undo_stack.count()
    with pytest.raises(GraphError):
        d.repeat_unit(two, 1)
    assert "already form" in refusals[0] and "no unit" in refusals[1]
    assert "cannot repeat" in refusals[2] and "3 inputs" in refusals[2]
    assert d.graph == before and d.undo_stack.count() == depth
