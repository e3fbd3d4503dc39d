"""How the training views report a problem: one window-modal box, never a blocking one.

A box opened with ``open()`` lets the event loop (and a training run's signals, and tests)
continue while it shows; the window stays usable behind it and nothing drawn is touched.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

__all__ = ["ask", "show_problem", "show_report"]


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


def ask(parent: QWidget | None, title: str, text: str, details: str, yes: str, no: str) -> bool:
    """A question whose buttons say what they do (``yes`` / ``no``); True for ``yes``. Escape
    and closing the box answer ``no``. Blocking: the answer decides what happens next."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    if details:
        box.setInformativeText(details)
    box.setObjectName("trainingQuestion")
    yes_button = box.addButton(yes, QMessageBox.ButtonRole.YesRole)
    no_button = box.addButton(no, QMessageBox.ButtonRole.NoRole)
    box.setDefaultButton(no_button)
    box.setEscapeButton(no_button)
    box.exec()
    return box.clickedButton() is yes_button
