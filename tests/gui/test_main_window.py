"""The designer window: first start, docks and their remembered layout, menus, status bar,
and the ``cnnstudio gui FILE --screenshot`` command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage, QKeySequence

from cnnstudio.core import modelfile
from cnnstudio.core.templates import DEFAULT_TEMPLATE, load_template
from cnnstudio.gui.document import Document
from cnnstudio.gui.main_window import SCREENSHOT_SIZE, MainWindow


def make(qtbot, settings) -> MainWindow:
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    return w


def test_first_start_shows_the_default_template_valid(qtbot, settings):
    w = make(qtbot, settings)
    assert w.document.graph.ids == load_template(DEFAULT_TEMPLATE).ids
    assert w.document.result.valid
    assert len(w.canvas.canvas_scene.blocks) == len(w.document.graph)
    assert "trainable" in w.status_text() and w.status_text().endswith("valid")
    w.files.shutdown()


def test_docks_are_where_the_layout_says(qtbot, settings):
    w = make(qtbot, settings)
    area = w.dockWidgetArea
    assert area(w.docks["palette"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert area(w.docks["inspector"]) == Qt.DockWidgetArea.RightDockWidgetArea
    assert area(w.docks["summary"]) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert w.docks["problems"] in w.tabifiedDockWidgets(w.docks["summary"])
    w.files.shutdown()


def test_geometry_and_dock_state_are_remembered(qtbot, settings):
    w = make(qtbot, settings)
    w.show()
    w.resize(761, 613)  # inside the offscreen screen (800x800)
    w.docks["inspector"].hide()
    w.removeDockWidget(w.docks["palette"])
    w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, w.docks["palette"])
    w.docks["palette"].show()
    assert w.close()
    again = make(qtbot, QSettings(settings.fileName(), QSettings.Format.IniFormat))
    again.show()
    assert again.docks["inspector"].isHidden()
    assert again.dockWidgetArea(again.docks["palette"]) == Qt.DockWidgetArea.RightDockWidgetArea
    assert (again.width(), again.height()) == (761, 613)
    again.reset_layout()
    assert again.dockWidgetArea(again.docks["palette"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert again.docks["inspector"].isVisible()
    again.files.shutdown()


def test_edit_menu_uses_platform_shortcuts_and_undoes(qtbot, settings):
    w = make(qtbot, settings)
    undo, redo = w.actions["undo"], w.actions["redo"]
    assert undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    assert QKeySequence(QKeySequence.StandardKey.Redo) in redo.shortcuts()
    texts = [a.text() for a in w.menus["edit"].actions()]
    assert any("Undo" in t for t in texts) and any("Paste" in t for t in texts)
    w.document.set_param("c1", "filters", 3)
    assert "c1" in undo.text()
    undo.trigger()
    assert w.document.graph.layer("c1").params["filters"] == 8
    redo.trigger()
    assert w.document.graph.layer("c1").params["filters"] == 3
    w.document.undo_stack.setClean()
    w.files.shutdown()


def test_undo_and_redo_are_off_while_training_locks_the_model(qtbot, settings):
    w = make(qtbot, settings)
    undo, redo = w.actions["undo"], w.actions["redo"]
    w.document.set_param("c1", "filters", 4)
    w.document.set_param("c2", "filters", 4)
    w.document.undo_stack.undo()
    assert undo.isEnabled() and redo.isEnabled()
    w.document.set_locked(True, "training is running")
    assert not undo.isEnabled() and not redo.isEnabled()
    w.document.move_layers({"c1": (400.0, 0.0)})  # allowed while locked; the stack changes
    assert not undo.isEnabled()
    undo.trigger()
    assert w.document.undo_stack.index() == 2  # a disabled action does nothing
    w.document.set_locked(False)
    assert undo.isEnabled() and not redo.isEnabled()  # the move cleared the redo step


def test_screenshot_shows_one_tab_bar_per_dock_group(qtbot, tmp_path, monkeypatch):
    """The picture is taken as the running app would look: the spare tab bar Qt deletes later
    (made when Training is tabified with the Inspector) was drawn over the Summary table."""
    from PySide6.QtWidgets import QTabBar

    from cnnstudio.commands.gui import _screenshot

    seen: list[list[tuple[str, ...]]] = []
    grab = MainWindow.grab

    def grab_and_look(window: MainWindow, *args: object) -> object:
        bars = window.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly)
        seen.append([tuple(b.tabText(i) for i in range(b.count()))
                     for b in bars if b.isVisible() and b.count()])
        return grab(window, *args)

    monkeypatch.setattr(MainWindow, "grab", grab_and_look)
    assert _screenshot(load_template(DEFAULT_TEMPLATE), None, str(tmp_path / "s.png")) == 0
    (groups,) = seen
    assert ("Inspector", "Training") in groups
    assert len(groups) == len(set(groups)), groups


def test_status_bar_follows_validity(qtbot, settings):
    w = make(qtbot, settings)
    w.document.insert_before("Dense", "gap")  # Dense on an image: an error
    assert "invalid" in w.status_text()
    w.document.undo_stack.undo()
    assert w.status_text().endswith("valid") and "invalid" not in w.status_text()
    w.files.shutdown()


def test_refused_edit_is_shown_in_the_status_bar(qtbot, settings):
    w = make(qtbot, settings)
    try:
        w.document.connect("out", "c1")
    except ValueError:
        pass
    assert "cycle" in w.statusBar().currentMessage()
    w.files.shutdown()


def test_auto_layout_action_is_one_undo_step(qtbot, settings):
    w = make(qtbot, settings)
    w.document.move_layers({"c1": (400.0, 400.0)})
    w.actions["auto_layout"].trigger()
    assert w.document.graph.positions["c1"][0] != 400.0
    assert w.document.undo_stack.count() == 2
    w.document.undo_stack.undo()
    assert w.document.graph.positions["c1"] == (400.0, 400.0)
    w.document.undo_stack.setClean()
    w.files.shutdown()


def test_screenshot_command_writes_a_png_of_the_window_size(tmp_path):
    model = tmp_path / "lenet.json"
    modelfile.save(load_template("lenet5"), model)
    out = tmp_path / "shot.png"
    env_cmd = [sys.executable, "-m", "cnnstudio.cli", "gui", str(model), "--screenshot", str(out)]
    proc = subprocess.run(env_cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    # Not a blank picture: the canvas and the docks put many colours on it.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 23)
               for y in range(0, image.height(), 23)}
    assert len(colours) > 20


def test_screenshot_of_an_unreadable_file_fails_with_the_reason(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    proc = subprocess.run([sys.executable, "-m", "cnnstudio.cli", "gui", str(bad),
                           "--screenshot", str(tmp_path / "x.png")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "bad.json" in proc.stderr
    assert not (tmp_path / "x.png").exists()


def _front_bottom_tab(w: MainWindow) -> str:
    from PySide6.QtWidgets import QTabBar

    for bar in w.findChildren(QTabBar):
        texts = [bar.tabText(i) for i in range(bar.count())]
        if any(t.startswith("Summary") for t in texts):
            return bar.tabText(bar.currentIndex())
    raise AssertionError("the Summary and Problems docks are not tabbed")


@pytest.fixture
def shown(qtbot, settings, monkeypatch):
    """Show a window on a model; closing it (even after a failed test) never stops at the
    unsaved-changes question: pytest-qt closes widgets before fixtures are finalised."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
    made: list[MainWindow] = []

    def show(document: Document | None = None) -> MainWindow:
        w = MainWindow(document, settings=settings)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w
    yield show
    for w in made:
        w.files.shutdown()


def test_new_errors_bring_the_problems_tab_forward_with_a_count(shown):
    w = shown()
    assert _front_bottom_tab(w) == "Summary" and w.docks["problems"].windowTitle() == "Problems"
    w.document.insert_before("Dense", "gap")  # Dense on an image: an error
    n = len(w.document.result.problems)
    assert _front_bottom_tab(w) == f"Problems ({n})"
    w.docks["summary"].raise_()  # the user looks at the table again: same errors don't pull
    w.document.move_layers({"c1": (300.0, 0.0)})
    assert _front_bottom_tab(w) == "Summary"
    w.document.undo_stack.undo()
    w.document.undo_stack.undo()
    assert w.docks["problems"].windowTitle() == "Problems"


def test_a_broken_model_opens_with_its_problems_in_front(shown, chain):
    w = shown(Document(chain("Input", "Conv2D", "Dense")))
    assert _front_bottom_tab(w).startswith("Problems (")


def test_ctrl_z_after_an_inspector_entry_undoes_the_model(shown, qtbot):
    """Journey 2: type stride 2, Enter, Ctrl+Z. A field with nothing of its own left to undo
    must not swallow the key: the model goes back to stride 1."""
    w = shown()
    w.activateWindow()  # window shortcuts only fire in the active window
    qtbot.waitUntil(w.isActiveWindow)
    w.selection.set(["c1"])
    line = w.panels["inspector"].editors["stride"].field
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, "2")
    qtbot.keyClick(line, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert line.text() == "1"  # mid-entry, Ctrl+Z undoes the typing, as in any text field
    qtbot.keyClicks(line, "\b2")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert w.document.graph.layer("c1").params["stride"] == 2
    qtbot.keyClick(line, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.document.graph.layer("c1").params["stride"] == 1
    assert line.text() == "1"
    redo = QKeySequence(QKeySequence.StandardKey.Redo)[0]
    qtbot.keyClick(line, redo.key(), redo.keyboardModifiers())
    assert w.document.graph.layer("c1").params["stride"] == 2
