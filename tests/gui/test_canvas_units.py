"""Units on the canvas, driven with the mouse and keys as a user would: select blocks, Ctrl+G,
double-click to expand, click the frame's triangle to collapse, repeat, ungroup, undo each."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QInputDialog

from cnnstudio.core.templates import load_template
from cnnstudio.gui.canvas import CanvasView
from cnnstudio.gui.canvas.unit_items import UnitBlockItem
from cnnstudio.gui.document import Document

BLOCK1 = ["b1_c1", "b1_bn1", "b1_r1", "b1_c2", "b1_bn2", "b1_add", "b1_relu"]


@pytest.fixture
def plain_resnet(qtbot):
    """The mini ResNet with its template units removed, in a Document."""
    g = load_template("mini_resnet")
    for uid in g.units.ids:
        g.units.remove(uid)
    from cnnstudio.core.layout import auto_layout

    g.positions = auto_layout(g)
    return Document(g)


@pytest.fixture
def view(qtbot, plain_resnet, selection):
    v = CanvasView(plain_resnet, selection)
    qtbot.addWidget(v)
    v.resize(1000, 800)
    v.show()
    qtbot.waitExposed(v)
    v.resetTransform()
    v.scale(0.6, 0.6)
    return v


def centre_of(view: CanvasView, node: str) -> QPoint:
    item = view.canvas_scene.blocks[node]
    point = item.sceneBoundingRect().center()
    view.centerOn(point)
    return view.mapFromScene(QPointF(item.mapToScene(item.rect().center())))


def click(view: CanvasView, node: str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier,
                     centre_of(view, node))


def select_by_clicks(view: CanvasView, nodes: list[str]) -> None:
    click(view, nodes[0])
    for node in nodes[1:]:
        click(view, node, Qt.KeyboardModifier.ControlModifier)
    assert view.selection.ids() == nodes


def assert_blocks_apart(view: CanvasView) -> None:
    rects = {n: item.mapRectToScene(item.rect()) for n, item in view.canvas_scene.blocks.items()}
    names = list(rects)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not rects[a].intersects(rects[b]), (a, b)


def group_block1(view: CanvasView) -> str:
    select_by_clicks(view, BLOCK1)
    QTest.keyClick(view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    (uid,) = view.document.graph.units.ids
    return uid


def test_ctrl_g_groups_clicked_blocks_into_one_unit_block(view, plain_resnet) -> None:
    d = plain_resnet
    before = d.graph.copy()
    uid = group_block1(view)
    scene = view.canvas_scene
    assert isinstance(scene.blocks[uid], UnitBlockItem)
    assert not any(lid in scene.blocks for lid in BLOCK1)  # one block instead of seven
    assert_blocks_apart(view)
    block = scene.blocks[uid].view
    assert block.shape == "16x32x32 \u2192 16x32x32"
    assert block.params.startswith("4.74k p") and "MACs" in block.params
    assert ("stem_relu", "b1_c1") in scene.edges  # edges now end on the unit
    assert scene.edges[("stem_relu", "b1_c1")].ends == ("stem_relu", uid)
    assert view.selection.ids() == [uid]
    assert d.undo_stack.count() == 1
    d.undo_stack.undo()
    assert d.graph == before and uid not in scene.blocks and "b1_c1" in scene.blocks


def test_double_click_expands_and_the_frame_triangle_collapses(view, plain_resnet) -> None:
    d = plain_resnet
    uid = group_block1(view)
    collapsed = d.graph.copy()
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      centre_of(view, uid))
    scene = view.canvas_scene
    assert not d.graph.units.get(uid).collapsed
    assert all(lid in scene.blocks for lid in BLOCK1) and uid not in scene.blocks
    frame = scene.frames[uid]
    assert_blocks_apart(view)  # room was made for the unit's blocks, in the same step
    toggle = frame.toggle_rect().center()
    view.centerOn(toggle)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view.mapFromScene(toggle))
    assert d.graph == collapsed and uid in scene.blocks and uid not in scene.frames
    d.undo_stack.undo()  # collapse undone: expanded again
    assert not d.graph.units.get(uid).collapsed and uid in scene.frames
    d.undo_stack.undo()  # expand undone
    assert d.graph == collapsed


def test_errors_inside_a_collapsed_unit_show_on_the_unit(view, plain_resnet) -> None:
    d = plain_resnet
    uid = group_block1(view)
    d.set_param("b1_c2", "filters", 8)  # the Add's inputs no longer match
    view_state = view.canvas_scene.blocks[uid].view
    assert view_state.status == "error"
    assert any(m.startswith("b1_add:") for m in view_state.messages)


def test_repeat_adds_copies_wired_in_sequence_one_undo_step(view, plain_resnet,
                                                           monkeypatch) -> None:
    d = plain_resnet
    uid = group_block1(view)
    before = d.graph.copy()
    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(lambda *a, **k: (2, True)))
    click(view, uid)
    new = view.repeat_unit()
    assert len(new) == 2 and all(n in view.canvas_scene.blocks for n in new)
    assert d.graph.layer("b1_c1_2").inputs == ["b1_relu"]
    assert d.graph.layer("b2_c1").inputs == ["b1_relu_3"]
    assert d.result.valid and d.undo_stack.count() == 2
    d.undo_stack.undo()
    assert d.graph == before


def test_nested_group_and_ungroup_with_the_keyboard(view, plain_resnet) -> None:
    d = plain_resnet
    uid = group_block1(view)
    select_by_clicks(view, ["stem_relu", uid])
    QTest.keyClick(view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    outer = next(u for u in d.graph.units.ids if u != uid)
    assert d.graph.units.get(uid).parent == outer
    assert outer in view.canvas_scene.blocks and uid not in view.canvas_scene.blocks
    click(view, outer)
    QTest.keyClick(view, Qt.Key.Key_G,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert outer not in d.graph.units and d.graph.units.get(uid).parent is None
    assert uid in view.canvas_scene.blocks  # the nested unit is back on its own, collapsed
    d.undo_stack.undo()
    assert outer in d.graph.units and outer in view.canvas_scene.blocks


def test_dragging_a_collapsed_unit_moves_all_its_layers(view, plain_resnet) -> None:
    d = plain_resnet
    uid = group_block1(view)
    before = {lid: d.graph.positions[lid] for lid in BLOCK1}
    start = centre_of(view, uid)
    vp = view.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 6):
        QTest.mouseMove(vp, start + QPoint(30 * i, 0))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       start + QPoint(150, 0))
    dx = 150 / view.transform().m11()
    for lid in BLOCK1:
        assert d.graph.positions[lid][0] == pytest.approx(before[lid][0] + dx, abs=2)
    d.undo_stack.undo()
    assert {lid: d.graph.positions[lid] for lid in BLOCK1} == before


def test_template_opens_with_its_stages_collapsed(qtbot, selection) -> None:
    d = Document(load_template("cifar_vgg"))
    v = CanvasView(d, selection)
    qtbot.addWidget(v)
    blocks = v.canvas_scene.blocks
    assert {"stage1", "stage2", "stage3"} <= set(blocks)
    assert len(blocks) == len(d.graph) - 19 + 3


def test_editing_a_copy_offers_to_apply_to_all_copies(qtbot, plain_resnet, selection) -> None:
    from PySide6.QtWidgets import QPushButton

    from cnnstudio.gui.inspector import InspectorWidget

    d = plain_resnet
    uid = d.group(BLOCK1, "Residual")
    d.repeat_unit(uid, 2)
    d.set_collapsed(uid, False)
    inspector = InspectorWidget(d, selection)
    qtbot.addWidget(inspector)
    inspector.resize(340, 900)
    inspector.show()
    selection.set(["b1_c2"])
    assert not inspector.offer.isVisible()
    line = inspector.editors["kernel_size"].field
    line = line if hasattr(line, "selectAll") else line.lineEdit()
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, "5")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert d.graph.layer("b1_c2").params["kernel_size"] == 5
    assert inspector.offer.isVisible()
    assert "b1_c2_2, b1_c2_3" in inspector.offer_text.text()
    depth = d.undo_stack.count()
    button = inspector.findChild(QPushButton, "apply_to_copies")
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    assert d.graph.layer("b1_c2_3").params["kernel_size"] == 5
    assert d.undo_stack.count() == depth + 1 and not inspector.offer.isVisible()
    d.undo_stack.undo()
    assert d.graph.layer("b1_c2_2").params["kernel_size"] == 3


def test_a_problem_inside_a_collapsed_unit_focuses_the_unit(view, plain_resnet) -> None:
    uid = group_block1(view)
    view.selection.clear()
    view.selection.focusRequested.emit("b1_c2")  # a click in the problems list
    assert view.selection.ids() == [uid]
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(view.canvas_scene.blocks[uid].sceneBoundingRect().center())
