"""Ctrl+Z in a text field undoes the model once the field has nothing of its own to undo.

Qt's line edits (also inside spin boxes and editable combo boxes) claim the Undo and Redo keys
for themselves whenever they have focus, even with an empty history. After a user types a value
into the inspector and presses Enter, the field still has focus and its history is empty (the
inspector re-shows the model's value), so Ctrl+Z did nothing at all. This filter lets the key
through to the window's Undo/Redo actions exactly when the field could not use it, so typing is
still undone in the field mid-entry, and a committed edit is undone in the model.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QWidget


def _line_edit(widget: QObject) -> QLineEdit | None:
    if isinstance(widget, QLineEdit):
        return widget
    if isinstance(widget, QAbstractSpinBox | QComboBox):
        return widget.findChild(QLineEdit)
    return None


class ModelUndoKeys(QObject):
    """Event filter on the window's focused text field (see module docstring).

    It watches the one widget that has the keyboard, moving along as the focus moves: an
    application-wide filter would run for every event of every widget (dozens per edit)."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._watched: QWidget | None = None
        app = QApplication.instance()
        if app is not None:  # disconnected by Qt when this (a child of window) dies
            app.focusChanged.connect(self._focus_moved)
            self._focus_moved(None, QApplication.focusWidget())

    def _focus_moved(self, _old: QWidget | None, new: QWidget | None) -> None:
        if self._watched is not None:
            try:
                self._watched.removeEventFilter(self)
            except RuntimeError:  # deleted meanwhile, its filters with it
                pass
            self._watched = None
        if new is not None and _line_edit(new) is not None and self._window.isAncestorOf(new):
            new.installEventFilter(self)
            self._watched = new

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(event, QKeyEvent):
            return False
        line = _line_edit(watched)
        if line is None or line.isReadOnly() or not self._window.isAncestorOf(line):
            return False
        if event.matches(QKeySequence.StandardKey.Undo):
            free = not line.isUndoAvailable()
        elif event.matches(QKeySequence.StandardKey.Redo):
            free = not line.isRedoAvailable()
        else:
            return False
        if free:
            event.ignore()  # nobody claims the key: the window's shortcut takes it
            return True
        return False
