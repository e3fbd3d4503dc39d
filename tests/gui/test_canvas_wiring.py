"""Wiring that follows intent, driven as a user would: paste with the keyboard after clicking
blocks, drops from the palette (onto a wire, below a block, below the end of a chain), the hint
line before release, fixes tried by the validator first, and the how-to-wire hint."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from cnnstudio.core import routing
from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH
from cnnstudio.core.graph import Graph
from cnnstudio.gui.canvas import CanvasView
from cnnstudio.gui.document import Document
from cnnstudio.gui.fixes import fix_for, previous_blocks
from cnnstudio.gui.mime import LAYER_MIME
from tests.gui.test_canvas import at


def shown_view(qtbot, selection, model: Graph | Document) -> CanvasView:
    v = CanvasView(model if isinstance(model, Document) else Document(model), selection)
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    return v


@pytest.fixture
def view(qtbot, document, selection):
    return shown_view(qtbot, selection, document)


def click_block(view: CanvasView, lid: str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    centre = view.canvas_scene.blocks[lid].sceneBoundingRect().center()
    view.centerOn(centre)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier, at(view, centre))


def drag_over_and_drop(view: CanvasView, type_name: str, scene_point: QPointF) -> bool:
    """Hover a palette drag at ``scene_point`` and drop; returns whether the hint line showed
    while hovering."""
    view.centerOn(scene_point)
    pos = at(view, scene_point)
    mime = QMimeData()
    mime.setData(LAYER_MIME, type_name.encode("utf-8"))
    action = Qt.DropAction.CopyAction
    args = (action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(pos, *args)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(view.viewport(), QDragMoveEvent(pos, *args))
    hinted = view._drop_hint.hint_visible()
    QApplication.sendEvent(view.viewport(), QDropEvent(QPointF(pos), *args))
    assert not view._drop_hint.hint_visible()  # the hint is gone after the drop
    return hinted


def overlaps(positions: dict[str, tuple[float, float]]) -> list[tuple[str, str]]:
    items = list(positions.items())
    return [(a, b) for i, (a, (ax, ay)) in enumerate(items) for b, (bx, by) in items[i + 1:]
            if abs(ax - bx) < BLOCK_WIDTH and abs(ay - by) < BLOCK_HEIGHT]


def test_paste_offsets_the_copy_and_keeps_its_internal_wires(view, document, selection):
    click_block(view, "c1")
    click_block(view, "r1", Qt.KeyboardModifier.ControlModifier)
    assert set(selection.ids()) == {"c1", "r1"}
    QTest.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    new = selection.ids()
    assert sorted(new) == ["c1_2", "r1_2"]
    graph = document.graph
    assert graph.layer("r1_2").inputs == ["c1_2"]  # the wire between the copies is kept
    assert overlaps(graph.positions) == []  # not on top of the original, nor of anything
    assert document.undo_stack.count() == 1
    QTest.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)  # again: elsewhere
    assert overlaps(document.graph.positions) == []


def test_drop_onto_a_wire_inserts_and_moves_the_neighbours_aside(view, document):
    edge = view.canvas_scene.edges[("c1", "r1")]
    mid = edge._path.pointAtPercent(0.5)
    drag_over_and_drop(view, "Dropout", mid)
    (new,) = [lid for lid in document.graph.ids if lid.startswith("dropout")]
    assert document.graph.layer(new).inputs == ["c1"]
    assert document.graph.layer("r1").inputs == [new]
    assert overlaps(document.graph.positions) == []
    assert document.undo_stack.count() == 1  # the insert and the moves: one step
    document.undo_stack.undo()
    assert new not in document.graph and overlaps(document.graph.positions) == []


def test_drop_below_the_selected_block_wires_it_with_a_hint_first(view, document, selection):
    graph = document.graph
    x, y = graph.positions["out"]  # the last block: nothing below it
    click_block(view, "out")
    assert selection.ids() == ["out"]
    target = QPointF(x + BLOCK_WIDTH / 2 + 10, y + BLOCK_HEIGHT + 70)
    assert drag_over_and_drop(view, "Softmax", target)
    new = selection.current()
    assert graph.layer(new).type == "Softmax" and graph.layer(new).inputs == ["out"]
    assert graph.positions[new][0] == x  # straight under its source
    assert document.result.layers[new].status == "ok"
    assert document.undo_stack.count() == 1
    assert document.undo_stack.undoText().startswith("Add")


def test_drop_near_the_end_of_a_chain_wires_it_without_a_selection(qtbot, selection, chain):
    view = shown_view(qtbot, selection, chain("Input", "Conv2D", "ReLU"))
    doc = view.document
    x, y = doc.graph.positions["relu_1"]
    assert drag_over_and_drop(view, "MaxPool2D", QPointF(x + 100, y + BLOCK_HEIGHT + 60))
    (pool,) = [lid for lid in doc.graph.ids if lid.startswith("maxpool")]
    assert doc.graph.layer(pool).inputs == ["relu_1"]


def test_no_wire_when_it_would_not_make_sense(qtbot, selection, chain):
    """A Conv2D below a Dense would be an error; two chain ends side by side are ambiguous."""
    view = shown_view(qtbot, selection, chain("Input", "Flatten", "Dense"))
    doc = view.document
    x, y = doc.graph.positions["dense_1"]
    below = QPointF(x + 100, y + BLOCK_HEIGHT + 60)
    assert not drag_over_and_drop(view, "Conv2D", below)
    (conv,) = [lid for lid in doc.graph.ids if lid.startswith("conv2d")]
    assert doc.graph.layer(conv).inputs == []
    doc.undo_stack.undo()
    doc.add_layer("ReLU", position=(x + 200, y))  # a second chain end right beside dense_1
    assert not drag_over_and_drop(view, "ReLU", below + QPointF(100, 0))  # between the two
    assert all(not doc.graph.layer(lid).inputs for lid in doc.graph.ids
               if lid.startswith("relu") and lid != "relu_1")


def test_dropping_on_a_block_moves_it_aside_in_the_same_step(view, document):
    graph = document.graph
    x, y = graph.positions["p1"]
    drag_over_and_drop(view, "ReLU", QPointF(x + 20 + BLOCK_WIDTH / 2, y + BLOCK_HEIGHT / 2 - 5))
    assert overlaps(graph.positions) == []
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert graph.positions["p1"] == (x, y)


def test_a_fix_is_offered_only_when_the_validator_finds_fewer_problems(view, document):
    """A pasted convolution: "Connect out -> c1_2" would put a Conv after a Dense (an error)."""
    new = document.paste(document.fragment(["c1"]))
    problem = next(p for p in document.result.problems if p.layer == new[0])
    assert next(previous_blocks(document, new[0])) == "out"  # the nearest candidate ...
    fix = fix_for(problem, document)  # ... is tried on a copy and refused
    before = (len(document.result.errors), len(document.result.problems))
    if fix is not None:
        label, action = fix
        assert not label.startswith("Connect out") and not label.startswith("Connect gap")
        action()
        after = (len(document.result.errors), len(document.result.problems))
        assert after < before


def test_the_canvas_says_how_to_wire_until_the_first_wire(qtbot, selection):
    view = shown_view(qtbot, selection, Graph("Untitled"))
    doc = view.document
    assert "palette" in view.hint_text() and "bottom port" in view.hint_text()
    doc.add_layer("Input", position=(0.0, 0.0))
    doc.add_layer("ReLU", position=(0.0, 300.0))
    assert view.hint_text().startswith("Drag from a block's bottom port to another's top port")
    src = view.canvas_scene.blocks["input_1"].out_port.scenePos()
    dst = view.canvas_scene.blocks["relu_1"].in_port.scenePos()
    view.centerOn((src + dst) / 2)
    vp = view.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(view, src))
    for i in range(1, 6):
        QTest.mouseMove(vp, at(view, src + (dst - src) * (i / 5)))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       at(view, dst))
    assert doc.graph.layer("relu_1").inputs == ["input_1"]
    assert view.hint_text() == ""


def test_make_room_pushes_only_what_is_in_the_way():
    from cnnstudio.core.layout import make_room

    column = {f"b{i}": (0.0, 100.0 * i) for i in range(5)}
    column["side"] = (600.0, 100.0)
    moved = make_room(column, {"new": (0.0, 100.0)})  # lands on b1
    assert set(moved) == {"b1", "b2", "b3", "b4"}
    final = {**column, **moved, "new": (0.0, 100.0)}
    index = routing.BlockIndex()
    for lid, p in final.items():
        assert not index.hits(routing.block_rect(p)), lid
        index.put(lid, routing.block_rect(p))
