"""After edits, every view of the window shows what a window opened on the resulting model
shows, to the pixel: the work an edit skips (layouts not run again, labels kept, cells not
rewritten, wires not re-routed) leaves nothing behind."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from cnnstudio.core.templates import load_template
from cnnstudio.gui.document import Document
from cnnstudio.gui.main_window import MainWindow


def _window(qtbot, tmp_path, name: str, graph) -> MainWindow:
    settings = QSettings(str(tmp_path / f"{name}.ini"), QSettings.Format.IniFormat)
    window = MainWindow(Document(graph), settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _views(window: MainWindow) -> dict[str, QImage]:
    """Pictures of the views an edit changes: the status bar's permanent part, the summary,
    the inspector and the canvas."""
    return {
        "status": window.statusBar().grab().toImage(),
        "summary": window.docks["summary"].widget().grab().toImage(),
        "inspector": window.docks["inspector"].widget().grab().toImage(),
        "canvas": window.canvas.viewport().grab().toImage(),
    }


@pytest.mark.parametrize("template", ["lenet5", "cifar_vgg"])
def test_views_after_edits_match_a_freshly_opened_window(qtbot, tmp_path, template):
    edited = _window(qtbot, tmp_path, "edited", load_template(template))
    document = edited.document
    conv = next(lay.id for lay in document.graph if lay.type == "Conv2D")
    filters = document.graph.layer(conv).params["filters"]
    # digits only, digits only again, wider, narrower, an error and its fix
    for step, value in enumerate((filters + 1, filters + 2, 1000, filters * 3, 0, filters)):
        if value:
            document.set_param(conv, "filters", value)
        else:
            document.set_param(conv, "kernel_size", 99)
            edited.docks["summary"].raise_()  # the error brought Problems to the front
        qtbot.wait(1)
        fresh = _window(qtbot, tmp_path, f"fresh{step}", document.graph.copy())
        fresh.docks["summary"].raise_()
        edited.canvas.show_model()
        fresh.canvas.show_model()
        qtbot.wait(1)
        before, after = _views(edited), _views(fresh)
        for name in before:
            assert before[name] == after[name], (step, name)
        fresh.close()
        if not value:
            document.undo_stack.undo()
    edited.selection.set([conv])  # the layer's own page: its notation follows the edits
    for step, value in enumerate((filters + 1, 1000, filters)):
        document.set_param(conv, "filters", value)
        qtbot.wait(1)
        fresh = _window(qtbot, tmp_path, f"selected{step}", document.graph.copy())
        fresh.selection.set([conv])
        qtbot.wait(1)
        assert _views(edited)["inspector"] == _views(fresh)["inspector"], step
        fresh.close()
    document.undo_stack.setClean()


def _on_screen(window: MainWindow, name: str) -> QImage:
    """What the window shows of a dock now (its backing store), not a fresh drawing of it."""
    dock = window.docks[name]
    shown = window.screen().grabWindow(window.winId()).toImage()
    return shown.copy(dock.geometry())


def test_the_inspector_shows_edits_made_while_it_was_covered_or_scrolled(qtbot, tmp_path):
    """The explanation's paragraphs out of sight are written when seen: with the Training tab
    in front during the edits, then the inspector brought back and scrolled to its end, the
    screen shows what a window opened on the result shows."""
    edited = _window(qtbot, tmp_path, "edited", load_template("lenet5"))
    document = edited.document
    edited.selection.set(["c1"])
    qtbot.wait(1)
    edited.docks["training"].raise_()
    qtbot.wait(1)
    for filters in (7, 8, 9):
        document.set_param("c1", "filters", filters)
        qtbot.wait(1)
    edited.docks["inspector"].raise_()
    document.set_param("c1", "filters", 8)  # in sight now, and a paragraph kept for later
    fresh = _window(qtbot, tmp_path, "fresh", document.graph.copy())
    fresh.selection.set(["c1"])
    qtbot.wait(1)
    assert edited.panels["inspector"].computes.edits_in_place >= 3
    for window in (edited, fresh):
        window.raise_()
        window.activateWindow()
        qtbot.wait(1)
    assert _on_screen(edited, "inspector") == _on_screen(fresh, "inspector")
    for window in (edited, fresh):
        bar = window.panels["inspector"].scroll.verticalScrollBar()
        bar.setValue(bar.maximum())
    qtbot.wait(1)
    assert _on_screen(edited, "inspector") == _on_screen(fresh, "inspector")
    document.undo_stack.setClean()
