"""Measuring what a user feels in the window: edit latency and cold start (``cnnstudio bench``).

Edit latency is the time from ``Document.set_param`` until ``processEvents`` returns, with the
whole main window shown (offscreen) and settled as a user's window is before their first edit
(a short real event loop), so every view that reacts to the edit has redrawn. Cold
start is the wall time from launching a fresh interpreter until the main window is first exposed
(the child exits at that moment); it is run as a module (``python -m cnnstudio.gui.latency``)
so the parent's already-imported modules do not flatter it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cnnstudio.core.graph import Graph

__all__ = ["cold_start_seconds", "edit_latency_ms"]


def edit_latency_ms(graph: Graph, edits: int = 21, selected: bool = False
                    ) -> tuple[float, float]:
    """(median, worst) milliseconds of one parameter edit of the first Conv2D (or Dense) layer
    of ``graph`` until the shown window has processed every event it caused; with
    ``selected`` the edited layer is selected, as when the edit is typed in the inspector
    (whose layer page, explanation included, then updates too)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    from cnnstudio.gui.app import create_application, run_event_loop
    from cnnstudio.gui.document import Document
    from cnnstudio.gui.main_window import MainWindow

    app = create_application()
    with _without_size_hint_warnings(), tempfile.TemporaryDirectory(
            prefix="cnnstudio-latency-", ignore_cleanup_errors=True) as folder:
        settings = QSettings(os.path.join(folder, "settings.ini"), QSettings.Format.IniFormat)
        document = Document(graph.copy())
        window = MainWindow(document, settings)
        window.show()
        run_event_loop()
        layer = next(lay for lay in document.graph if lay.type in ("Conv2D", "Dense"))
        name = "filters" if layer.type == "Conv2D" else "units"
        base = int(layer.params.get(name, 8))
        if selected:
            window.selection.set([layer.id])
            app.processEvents()
        times = []
        for i in range(edits):
            t0 = time.perf_counter()
            document.set_param(layer.id, name, base + 1 + i % 2)
            app.processEvents()
            times.append(time.perf_counter() - t0)
        document.undo_stack.setClean()  # nothing to save: close without asking
        window.close()
        window.deleteLater()
        app.processEvents()
    return statistics.median(times) * 1000, max(times) * 1000


#: What Qt's offscreen platform says whenever a window's size hints change (docks do, on
#: every show): the platform has no window manager to tell. Noise in the bench's output.
_OFFSCREEN_SIZE_HINTS = "This plugin does not support propagateSizeHints()"


@contextmanager
def _without_size_hint_warnings() -> Iterator[None]:
    """Inside the block, Qt's messages go where they went before, except
    :data:`_OFFSCREEN_SIZE_HINTS`."""
    from PySide6.QtCore import qInstallMessageHandler

    previous = None

    def handler(mode, context, message: str) -> None:  # noqa: ANN001 (Qt's types)
        if message == _OFFSCREEN_SIZE_HINTS:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


def cold_start_seconds(runs: int = 5) -> list[float]:
    """Wall seconds of ``runs`` fresh processes from launch to the window first shown."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    # the child measures this cnnstudio, not one that happens to lie in the current folder
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    times = []
    with tempfile.TemporaryDirectory(prefix="cnnstudio-cold-", ignore_cleanup_errors=True) as home:
        env["XDG_CONFIG_HOME"] = home  # a first start: no saved layout, no recovery copies
        env["XDG_DATA_HOME"] = home
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-P", "-m", "cnnstudio.gui.latency"], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=120)
            times.append(time.perf_counter() - t0)
    return times


def _start_until_shown() -> int:
    """What ``cnnstudio`` does at start (commands.gui.run), exiting when the window is exposed."""
    from cnnstudio.core.templates import DEFAULT_TEMPLATE, load_template
    from cnnstudio.gui.app import create_application

    graph = load_template(DEFAULT_TEMPLATE)
    app = create_application()
    from PySide6.QtCore import QEvent, QObject

    from cnnstudio.gui.document import Document
    from cnnstudio.gui.main_window import MainWindow

    window = MainWindow(Document(graph))

    class _ExitOnExpose(QObject):
        def eventFilter(self, _obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
            if event.type() == QEvent.Type.Expose:
                os._exit(0)  # measured: the window is on screen; skip saving settings
            return False

    probe = _ExitOnExpose()
    window.winId()  # creates the native window, so the probe sees its very first expose
    window.windowHandle().installEventFilter(probe)
    window.show()
    window.canvas.show_model()
    return app.exec()


if __name__ == "__main__":
    sys.exit(_start_until_shown())
