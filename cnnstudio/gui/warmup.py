"""What the window loads only after it is shown.

Start-up imports only what the first view needs. The plotting library (pyqtgraph, a third of a
second or more to import, mostly spent making Qt's enums) serves only views that are covered
when the window opens: the training curves and the sanity-check plot. Those views load it on
first use; ``warm_up_soon`` loads it in the idle moment right after the window appears, so the
first click on Curves is as quick as before.

The import runs on the GUI thread: pyqtgraph creates Qt enum types as it loads, and doing that
in a second thread while the GUI thread uses Qt could race.
"""

from __future__ import annotations

import importlib
import os

#: Modules the window does not import at start (a test holds it to that) but loads soon after.
LOADED_LATER = ("pyqtgraph",)
#: Milliseconds after the window is shown: its first frames are painted by then.
WARM_UP_DELAY_MS = 150


def warm_up() -> None:
    """Import every module of :data:`LOADED_LATER` (quietly: a failure shows again, with its
    message, when a view really needs the module)."""
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")  # pyqtgraph must not pick another Qt
    for name in LOADED_LATER:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - see docstring
            pass


def warm_up_soon(delay_ms: int = WARM_UP_DELAY_MS) -> None:
    """Schedule :func:`warm_up` for just after the window is shown (call it after ``show``)."""
    from PySide6.QtCore import QTimer

    QTimer.singleShot(delay_ms, warm_up)
