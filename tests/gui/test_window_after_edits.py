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
