"""Focus goes back where it was when a message box or dialog of the window closes.

Without this, closing an error box can leave the window without an active focus widget (on X11
without a window manager, or after a window-modal box), and the window's shortcuts (Ctrl+O,
Ctrl+0, Delete) do nothing until the user clicks the canvas. One object watches the window's
focus and every dialog it owns, so no dialog call site has to remember to do it.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget

__all__ = ["FocusKeeper"]


class FocusKeeper(QObject):
    """Remembers the last focused widget inside ``window``; when a dialog of the window that
    had the focus closes, activates the window and gives that widget its focus back."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._last: QWidget | None = None
        self._watched: set[QWidget] = set()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)

    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        if new is None:
            return
        top = new.window()
        if top is self._window:
            self._last = new
        elif isinstance(top, QDialog) and _owned_by(top, self._window) \
                and top not in self._watched:
            # Watch this dialog (only it: an application-wide filter would run Python for
            # every event of the program) to know when it goes.
            self._watched.add(top)
            top.installEventFilter(self)
            top.destroyed.connect(lambda *_: self._watched.discard(top))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Hide and obj in self._watched:
            QTimer.singleShot(0, self.restore)  # once it is really gone
        return False

    def restore(self) -> None:
        """Give the focus back (after the dialog is gone and no other has opened)."""
        app = QApplication.instance()
        modal = app.activeModalWidget() if isinstance(app, QApplication) else None
        if modal is not None or not self._window.isVisible():
            return
        self._window.activateWindow()
        widget = self.last_focus()
        if widget is not None and widget.isVisible():
            widget.setFocus()

    def last_focus(self) -> QWidget | None:
        """The widget to give the focus back to, if it still exists."""
        last = self._last
        return last if last is not None and shiboken6.isValid(last) else None


def _owned_by(dialog: QWidget, window: QWidget) -> bool:
    parent = dialog.parentWidget()
    return parent is not None and parent.window() is window
