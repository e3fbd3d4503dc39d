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
from PySide6.QtCore import QSettings  # noqa: E402

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
