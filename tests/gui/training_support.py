"""Shared pieces of the training GUI tests: a bare window with the training views installed,
a small slice of the built-in digits, and helpers that drive a run from the panel."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox

from cnnstudio.core.templates import load_template
from cnnstudio.engine.datasets import Dataset, load_dataset
from cnnstudio.gui.document import Document
from cnnstudio.gui.selection import Selection
from cnnstudio.gui.training import TrainingUI, install_training

RUN_TIMEOUT_MS = 120_000


def small_digits(n_train: int = 320, n_test: int = 120) -> Dataset:
    """Real digits, few enough that a run takes seconds on a busy 2-core machine."""
    d = load_dataset("digits")
    return Dataset(d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test],
                   d.y_test[:n_test], d.class_names, d.name, d.source)


def make_window(qtbot, template: str = "digits_tiny", dataset: Dataset | None = None
                ) -> QMainWindow:
    """A QMainWindow with a Document, a Selection and install_training; digits loaded."""
    w = QMainWindow()
    w.document = Document(load_template(template))
    w.selection = Selection(w)
    ui = install_training(w, default_dataset=False)
    ui.controller.set_dataset(dataset if dataset is not None else small_digits(), "digits")
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    return w


def digits_main_window(qtbot, settings) -> QMainWindow:
    """The real designer window on ``digits_tiny`` with a slice of digits loaded, shown."""
    from cnnstudio.gui.main_window import MainWindow

    w = MainWindow(Document(load_template("digits_tiny")), settings=settings)
    qtbot.addWidget(w)
    w.training.controller.set_dataset(small_digits(), "digits")
    w.show()
    return w


def side_by_side(window: QMainWindow, docks: list[QDockWidget]) -> None:
    """Put ``docks`` next to each other, all on screen: the first stays the front tab of its
    group, the others leave it for a row of their own beside it. (``splitDockWidget`` cannot
    do this for a dock in a tab group: it adds the second dock as one more tab.)"""
    docks[0].raise_()
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, docks[1],
                         Qt.Orientation.Horizontal)
    for left, right in zip(docks[1:], docks[2:], strict=False):
        window.splitDockWidget(left, right, Qt.Orientation.Horizontal)


def configure(ui: TrainingUI, epochs: int = 2, batch: int = 32, seed: int = 3) -> None:
    form = ui.panel.form
    form.epochs.setValue(epochs)
    form.batch_size.setValue(batch)
    form.seed.setValue(seed)


def run_to_end(qtbot, ui: TrainingUI) -> object:
    """Press Train and wait for the run's outcome and for the panel to be idle again."""
    with qtbot.waitSignal(ui.controller.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        ui.panel.start_action.trigger()
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    return blocker.args[0]


def open_boxes(window: QMainWindow, name: str) -> list[QMessageBox]:
    """The message boxes of the training views (``trainingProblem``/``trainingReport``) showing."""
    return [b for b in window.findChildren(QMessageBox, name) if b.isVisible()]
