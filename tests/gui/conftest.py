"""Shared set-up for the GUI tests: offscreen Qt, settings and recovery files in a temp folder.

QT_QPA_PLATFORM is set at import time, before pytest-qt creates the QApplication, so the tests
run on machines without a display. Settings are redirected per test so no test reads or writes a
user's real configuration, and no test sees another's recent files or window layout.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import (
    QSettings,  # noqa: E402
    Qt,  # noqa: E402
)

from cnnstudio.core.graph import Graph  # noqa: E402
from cnnstudio.core.templates import load_template  # noqa: E402


@pytest.fixture(autouse=True)
def settings_dir(tmp_path: Path) -> Iterator[Path]:
    """Every QSettings (IniFormat, user scope) of this test lives in a fresh temp folder."""
    folder = tmp_path / "settings"
    folder.mkdir()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))
    yield folder


@pytest.fixture(autouse=True)
def no_training_outlives_its_test() -> Iterator[None]:
    """Whatever a test did or however it failed, no run or dataset load goes on into the next
    test and the process-wide GIL switch interval is back where it was.

    pytest-qt closes registered windows (which stops their runs) before fixtures are torn down;
    this also catches windows a test never registered.
    """
    switch = sys.getswitchinterval()
    yield
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    for widget in app.topLevelWidgets() if app is not None else []:
        controller = getattr(getattr(widget, "training", None), "controller", None)
        if controller is not None:
            try:
                assert controller.shutdown(), "a training thread did not stop within 30 s"
            except RuntimeError:  # the window is already deleted: so is its (joined) thread
                pass
    sys.setswitchinterval(switch)


class ModalInTest(AssertionError):
    """A test reached a modal dialog it did not expect (it would have blocked the run)."""


@pytest.fixture(autouse=True)
def modal_answers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """No test can hang on a modal: every blocking box or dialog answers at once.

    pytest-qt closes windows before fixtures clean up, so a failed test that left unsaved changes
    would otherwise sit in "Save changes?" until the run's timeout. Questions answer Discard
    (else Cancel, else No: never write, never go on); information boxes answer Ok; warnings,
    critical errors and any ``exec()`` of a dialog fail the test loudly; file and input dialogs
    are cancelled; context menus and drags end at once. A test that wants another answer
    monkeypatches the same name itself (its patch wins). Returns what was answered,
    as ``(kind, text)`` in order.
    """
    from PySide6.QtGui import QDrag
    from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMenu, QMessageBox

    seen: list[tuple[str, str]] = []
    button = QMessageBox.StandardButton

    def question(_parent, title, text, buttons=button.Yes | button.No, *_a, **_k):  # noqa: ANN001, ANN202
        seen.append(("question", f"{title}: {text}"))
        for safe in (button.Discard, button.Cancel, button.No, button.Close, button.Ok):
            if buttons & safe:
                return safe
        return button.NoButton

    def information(_parent, title, text, *_a, **_k):  # noqa: ANN001, ANN202
        seen.append(("information", f"{title}: {text}"))
        return button.Ok

    def refuse(kind: str):  # noqa: ANN202
        def fail(*args, **_k):  # noqa: ANN002, ANN202
            text = ": ".join(str(a) for a in args[2:4] if isinstance(a, str))
            seen.append((kind, text))
            raise ModalInTest(f"unexpected modal {kind} in a test: {text or args[:1]}")
        return fail

    def cancelled(kind: str, value: object):  # noqa: ANN202
        def answer(*args, **_k):  # noqa: ANN002, ANN202
            seen.append((kind, next((a for a in args[1:2] if isinstance(a, str)), "")))
            return value
        return answer

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(QMessageBox, "information", staticmethod(information))
    for kind in ("warning", "critical"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(refuse(kind)))
    monkeypatch.setattr(QDialog, "exec", refuse("exec"))
    monkeypatch.setattr(QMessageBox, "exec", refuse("exec"))
    for name in ("getOpenFileName", "getSaveFileName", "getOpenFileNames"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(cancelled(name, ("", ""))))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(cancelled("getExistingDirectory", "")))
    for name, value in (("getText", ("", False)), ("getInt", (0, False)),
                        ("getDouble", (0.0, False)), ("getItem", ("", False))):
        monkeypatch.setattr(QInputDialog, name, staticmethod(cancelled(name, value)))
    monkeypatch.setattr(QMenu, "exec", cancelled("menu", None))
    monkeypatch.setattr(QDrag, "exec", cancelled("drag", Qt.DropAction.IgnoreAction))
    return seen


@pytest.fixture
def settings(settings_dir: Path) -> QSettings:
    """The application's settings object, stored under the test's temp folder."""
    from cnnstudio.gui.settings import open_settings

    return open_settings()


@pytest.fixture
def document(qtbot):  # noqa: ANN001 - pytest-qt fixture
    """A Document showing the default template (a valid, small CNN), with a clean history."""
    from cnnstudio.gui.document import Document

    return Document(load_template("shapes_cnn"))


@pytest.fixture
def selection(qtbot):  # noqa: ANN001
    from cnnstudio.gui.selection import Selection

    return Selection()


@pytest.fixture
def chain():
    """Build a graph of the given layer types wired one after another (ids from the types)."""
    def build(*types: str) -> Graph:
        g = Graph("test")
        prev: list[str] = []
        for i, t in enumerate(types):
            lid = g.add_layer(t, inputs=prev, position=(0.0, 100.0 * i))
            prev = [lid]
        return g
    return build


@pytest.fixture
def window(qtbot, settings):  # noqa: ANN001, ANN201
    """The designer window on the default template; closes at the end without asking (nothing
    left unsaved) and ends its recovery writer. Modules that need another window override it."""
    from cnnstudio.gui.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    yield w
    w.document.undo_stack.setClean()  # let the window close without asking
    w.training.controller.weights_unsaved = False
    w.files.shutdown()


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Record every message box as ``(kind, title, text)`` in ``dialogs.shown``; questions are
    answered with ``dialogs.answer`` (Discard unless a test says otherwise)."""
    from PySide6.QtWidgets import QMessageBox

    class Dialogs:
        shown: list[tuple[str, str, str]] = []
        answer = QMessageBox.StandardButton.Discard

    def record(kind: str):  # noqa: ANN202
        def show(parent, title, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            Dialogs.shown.append((kind, title, text))
            return Dialogs.answer if kind == "question" else QMessageBox.StandardButton.Ok
        return show

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(record(kind)))
    Dialogs.shown = []
    return Dialogs
