"""How the training views report a problem: one window-modal box, never a blocking one.

A box opened with ``open()`` lets the event loop (and a training run's signals, and tests)
continue while it shows; the window stays usable behind it and nothing drawn is touched.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

__all__ = ["show_problem", "show_report"]


def show_problem(parent: QWidget | None, title: str, message: str, hint: str = "") -> QMessageBox:
    """A warning: ``message`` says what happened (naming the file), ``hint`` what to try."""
    return _open_box(parent, QMessageBox.Icon.Warning, title, message, hint, "trainingProblem")


def show_report(parent: QWidget | None, title: str, text: str, details: str = "") -> QMessageBox:
    """An information box with an optional detailed list (e.g. loaded and skipped layers)."""
    return _open_box(parent, QMessageBox.Icon.Information, title, text, details, "trainingReport")


def _open_box(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str,
              more: str, name: str) -> QMessageBox:
    """Window-modal, non-blocking, deleted on close: training goes on behind it."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    if more:
        box.setInformativeText(more)
    box.setObjectName(name)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
