"""Creating the QApplication once, the same way for the command line and for screenshots."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

from cnnstudio.gui.settings import APPLICATION, ORGANIZATION


def create_application(argv: Sequence[str] | None = None, offscreen: bool = False) -> QApplication:
    """The process's QApplication (reused if one exists). ``offscreen`` renders without a
    display (screenshots on a server); it must be chosen before the application exists."""
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")  # pyqtgraph must not pick another Qt
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv if argv is not None else sys.argv[:1]))
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("cnnstudio")
    from cnnstudio import __version__

    app.setApplicationVersion(__version__)
    return app  # type: ignore[return-value]


def run_event_loop(ms: int = 50) -> None:
    """Let the windows settle as they would under ``app.exec()``: ``processEvents()`` alone
    never runs deferred deletes, and Qt deletes that way the spare tab bar it makes when a dock
    group is tabified (without a real loop it stayed, drawn over the Summary panel), and the
    window's idle-time work (see ``warmup``) runs once the loop is idle."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
