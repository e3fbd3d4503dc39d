"""Copying a unit copies the unit: pasting (or duplicating) whole units recreates them around the
pasted layers, with fresh ids, the name numbered like Repeat Unit's copies, and the same collapsed
state; a partial selection pastes plain layers; the whole paste is one undo step."""

from __future__ import annotations

import copy
import json

import pytest
from PySide6.QtGui import QGuiApplication

from cnnstudio.core import modelfile
from cnnstudio.core.graph import GraphError
from cnnstudio.core.templates import load_template
from cnnstudio.gui.canvas import CanvasView
from cnnstudio.gui.document import Document
from cnnstudio.gui.selection import Selection


@pytest.fixture
def vgg(qtbot) -> Document:  # noqa: ANN001
    return Document(load_template("cifar_vgg"))


def nested(d: Document) -> Document:
    """cifar_vgg with stage 1 holding a nested, expanded "Conv pair" unit."""
    d.set_collapsed("stage1", False)
    inner = d.group(["c1", "bn1", "r1"], "Conv pair")
    d.set_collapsed(inner, False)
    d.set_collapsed("stage1", True)
    d.undo_stack.setClean()
    return d


def new_units(before: Document, after_ids: list[str], d: Document) -> list:
    return [u for u in d.graph.units if u.id not in after_ids]


def test_a_pasted_collapsed_unit_comes_back_as_a_unit(vgg):
    d = vgg
    units_before = list(d.graph.units.ids)
    old = d.graph.units.get("stage1")
    new_layers = d.paste(d.fragment(d.layers_of(["stage1"])))
    (unit,) = new_units(d, units_before, d)
    assert unit.id not in units_before and unit.id not in d.graph.ids[:-len(new_layers)]
    assert unit.name == "Stage 1 (32 filters) (2)"
    assert unit.collapsed and unit.parent is None
    assert sorted(d.graph.units.layers(unit.id)) == sorted(new_layers)
    assert len(new_layers) == len(old.members)
    assert d.graph.units.get("stage1") == old  # the original is untouched
    modelfile.loads(modelfile.dumps(d.graph))  # and the file it saves reads back


def test_pasting_again_numbers_on_and_ids_stay_unique(vgg):
    d = vgg
    piece = d.fragment(d.layers_of(["stage1"]))
    d.paste(piece)
    d.paste(piece)
    names = [u.name for u in d.graph.units]
    assert names.count("Stage 1 (32 filters) (2)") == 1
    assert "Stage 1 (32 filters) (3)" in names
    ids = list(d.graph.ids) + list(d.graph.units.ids)
    assert len(ids) == len(set(ids))


def test_one_undo_removes_the_whole_paste_and_redo_brings_it_back(vgg):
    d = vgg
    before = d.graph.copy()
    d.paste(d.fragment(d.layers_of(["stage1", "stage2"])))
    after = d.graph.copy()
    assert len(after.units) == len(before.units) + 2
    d.undo_stack.undo()
    assert d.graph == before and d.graph.units == before.units
    d.undo_stack.redo()
    assert d.graph == after and d.graph.units == after.units


def test_nested_units_come_back_nested_with_their_names_and_states(vgg):
    d = nested(vgg)
    inner_before = next(u for u in d.graph.units if u.parent == "stage1")
    before = list(d.graph.units.ids)
    d.paste(d.fragment(d.layers_of(["stage1"])))
    added = new_units(d, before, d)
    outer = next(u for u in added if u.parent is None)
    inner = next(u for u in added if u.parent is not None)
    assert inner.parent == outer.id and outer.collapsed and not inner.collapsed
    assert inner.name == inner_before.name  # like Repeat Unit: only the outer one is numbered
    assert outer.name.endswith("(2)")
    assert len(d.graph.units.layers(inner.id)) == 3


def test_a_unit_copied_without_its_parent_is_pasted_at_the_top(vgg):
    d = nested(vgg)
    inner = next(u for u in d.graph.units if u.parent == "stage1")
    before = list(d.graph.units.ids)
    d.paste(d.fragment(d.layers_of([inner.id])))
    (unit,) = new_units(d, before, d)
    assert unit.parent is None and unit.name == "Conv pair (2)"


def test_part_of_a_unit_pastes_plain_layers(vgg):
    d = vgg
    before = list(d.graph.units.ids)
    new = d.paste(d.fragment(["c1", "bn1"]))
    assert len(new) == 2 and list(d.graph.units.ids) == before
    assert all(d.graph.units.unit_of(lid) is None for lid in new)


def test_a_name_that_is_free_is_kept(qtbot):
    source = Document(load_template("cifar_vgg"))
    piece = source.fragment(source.layers_of(["stage3"]))
    target = Document(load_template("lenet5"))
    target.paste(piece)
    (unit,) = list(target.graph.units)
    assert unit.name == "Stage 3 (128 filters)" and unit.id == "stage3" and unit.collapsed


def test_a_clipboard_with_broken_units_is_refused_and_changes_nothing(vgg):
    d = vgg
    piece = d.fragment(d.layers_of(["stage1"]))
    piece["units"][0]["members"].append("nowhere")
    before = d.graph.copy()
    with pytest.raises(GraphError, match="nowhere"):
        d.paste(piece)
    assert d.graph == before and d.graph.units == before.units


def test_copy_paste_and_duplicate_on_the_canvas_select_the_new_unit(qtbot, vgg):
    d = vgg
    view = CanvasView(d, Selection())
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    view.selection.set(["stage2"])
    assert view.copy_selection()
    doc = json.loads(QGuiApplication.clipboard().mimeData().text())
    assert [u["id"] for u in doc["units"]] == ["stage2"]
    before = list(d.graph.units.ids)
    view.paste()
    (unit,) = new_units(d, before, d)
    assert view.selection.ids() == [unit.id]  # the pasted unit, drawn as one block
    assert unit.id in view.canvas_scene.blocks
    before = list(d.graph.units.ids)
    view.duplicate()
    (again,) = new_units(d, before, d)
    assert again.name == "Stage 2 (64 filters) (3)" and again.collapsed


def test_cut_and_paste_moves_a_unit_with_its_name_and_id(qtbot, vgg):
    d = vgg
    view = CanvasView(d, Selection())
    qtbot.addWidget(view)
    old = copy.deepcopy(d.graph.units.get("stage3"))
    view.selection.set(["stage3"])
    view.cut_selection()
    assert "stage3" not in d.graph.units
    view.paste()
    assert d.graph.units.get("stage3") == old  # nothing of that name is left to clash with
    assert view.selection.ids() == ["stage3"]
