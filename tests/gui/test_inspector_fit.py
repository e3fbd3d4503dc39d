"""The inspector in a narrow dock: formula lines wrap (never run past the edge), and a typed
value applies when the field loses focus as well as on Enter, as one undoable step."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

from cnnstudio.core.graph import Graph
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.gui.document import Document
from cnnstudio.gui.inspector import InspectorWidget
from cnnstudio.gui.selection import Selection


def _settle(ms: int = 30) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _grouped_conv() -> Graph:
    """A grouped convolution: its cost formula has the longest unbroken product."""
    g = Graph("grouped")
    g.add_layer("Input", {"channels": 32, "height": 8, "width": 8}, layer_id="in")
    g.add_layer("Conv2D", {"filters": 32, "kernel_size": 3, "groups": 32}, layer_id="dw",
                inputs=["in"])
    return g


@pytest.mark.parametrize("width", [240, 330])
def test_every_formula_fits_the_dock_width(qtbot, width):
    graphs = [load_template(t.key) for t in list_templates()] + [_grouped_conv()]
    document, selection = Document(graphs[0]), Selection()
    inspector = InspectorWidget(document, selection)
    qtbot.addWidget(inspector)
    inspector.resize(width, 800)
    inspector.show()
    for graph in graphs:
        document.load_graph(graph)
        for lid in graph.ids:
            selection.set([lid])
            _settle(0)
            viewport = inspector.scroll.viewport().width()
            page = inspector.scroll.widget()
            assert page.width() <= viewport, (graph.name, lid, page.width(), viewport)
            assert inspector.computes.geometry().right() <= page.width(), (graph.name, lid)
            assert inspector.computes.minimumSizeHint().width() <= viewport - 20, (graph.name,
                                                                                    lid)


def _inspector(qtbot, template: str = "shapes_cnn"):
    document, selection = Document(load_template(template)), Selection()
    window = QWidget()
    qtbot.addWidget(window)
    inspector = InspectorWidget(document, selection)
    other = QLineEdit()  # somewhere else to click: the focus leaves the inspector
    layout = QVBoxLayout(window)
    layout.addWidget(inspector)
    layout.addWidget(other)
    window.resize(340, 900)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    inspector.keep_alive = window  # qtbot holds widgets weakly
    return document, selection, inspector, other


def _type_without_enter(qtbot, field, text: str) -> None:
    line = field if isinstance(field, QLineEdit) else field.lineEdit()
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    line.selectAll()
    qtbot.keyClicks(line, text)


def _focus_elsewhere(qtbot, other: QLineEdit) -> None:
    other.setFocus()
    qtbot.waitUntil(other.hasFocus)
    _settle()


@pytest.mark.parametrize(("param", "typed", "expected"), [
    ("filters", "12", 12),          # spin box
    ("kernel_size", "3,5", [3, 5]),  # int-or-pair line
    ("stride", "2", 2),
    ("padding", "1", 1),            # editable combo
])
def test_a_typed_value_applies_when_the_field_loses_focus(qtbot, param, typed, expected):
    document, selection, inspector, other = _inspector(qtbot)
    selection.set(["c1"])
    before = document.undo_stack.count()
    _type_without_enter(qtbot, inspector.editors[param].field, typed)
    assert document.graph.layer("c1").params[param] != expected  # nothing yet: still typing
    _focus_elsewhere(qtbot, other)
    assert document.graph.layer("c1").params[param] == expected
    assert document.undo_stack.count() == before + 1
    document.undo_stack.undo()
    assert document.graph.layer("c1").params[param] != expected


def test_a_float_applies_on_focus_out_and_consecutive_edits_merge(qtbot):
    document, selection, inspector, other = _inspector(qtbot, "cifar_vgg")
    drop = next(lid for lid in document.graph.ids if document.graph.layer(lid).type == "Dropout")
    selection.set([drop])
    original = document.graph.layer(drop).params["rate"]
    before = document.undo_stack.count()
    _type_without_enter(qtbot, inspector.editors["rate"].field, "0.3")
    _focus_elsewhere(qtbot, other)
    assert document.graph.layer(drop).params["rate"] == 0.3
    _type_without_enter(qtbot, inspector.editors["rate"].field, "0.35")
    qtbot.keyClick(inspector.editors["rate"].field, Qt.Key.Key_Return)
    assert document.graph.layer(drop).params["rate"] == 0.35
    assert document.undo_stack.count() == before + 1  # one param, one step
    document.undo_stack.undo()
    assert document.graph.layer(drop).params["rate"] == original


def test_clicking_another_block_while_typing_applies_to_the_layer_typed_in(qtbot):
    document, selection, inspector, _other = _inspector(qtbot)
    selection.set(["c1"])
    c2_filters = document.graph.layer("c2").params["filters"]
    _type_without_enter(qtbot, inspector.editors["filters"].field, "13")
    selection.set(["c2"])  # a click on another block on the canvas
    _settle()
    assert document.graph.layer("c1").params["filters"] == 13
    assert document.graph.layer("c2").params["filters"] == c2_filters
    assert inspector.editors["filters"].field.value() == c2_filters
