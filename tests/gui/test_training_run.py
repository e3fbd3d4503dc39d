"""A real training run driven from the Training panel, in a bare window with a Document.

Uses a slice of the built-in digits and the digits_tiny template so a run takes seconds on a
busy 2-core machine, while every part (worker thread, signals, curves, feature maps, weights)
is the real one.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QMainWindow

from cnnstudio.core.templates import load_template
from cnnstudio.engine.datasets import Dataset, load_dataset
from cnnstudio.gui.document import Document
from cnnstudio.gui.selection import Selection
from cnnstudio.gui.training import install_training
from cnnstudio.gui.training.progress import EpochPoint

RUN_TIMEOUT_MS = 120_000


def small_digits(n_train: int = 320, n_test: int = 120) -> Dataset:
    d = load_dataset("digits")
    return Dataset(d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test],
                   d.y_test[:n_test], d.class_names, d.name, d.source)


@pytest.fixture
def window(qtbot):
    w = QMainWindow()
    w.document = Document(load_template("digits_tiny"))
    w.selection = Selection(w)
    ui = install_training(w, default_dataset=False)
    ui.controller.set_dataset(small_digits(), "digits")
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    yield w
    ui.controller.shutdown()


def configure(ui, epochs: int = 2, batch: int = 32) -> None:
    form = ui.panel.form
    form.epochs.setValue(epochs)
    form.batch_size.setValue(batch)
    form.seed.setValue(3)


def run_to_end(qtbot, ui) -> object:
    with qtbot.waitSignal(ui.controller.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        ui.panel.start_action.trigger()
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    return blocker.args[0]


def test_run_from_panel_fills_curves_and_unlocks(qtbot, window):
    ui = window.training
    configure(ui, epochs=2)
    epochs: list[EpochPoint] = []
    ui.controller.epochEnded.connect(epochs.append)
    assert ui.panel.start_action.isEnabled()
    with qtbot.waitSignal(ui.controller.epochEnded, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
        assert window.document.locked
        assert not ui.panel.start_action.isEnabled() and ui.panel.stop_action.isEnabled()
    outcome = run_to_end_after_start(qtbot, ui)
    assert not window.document.locked
    assert [e.epoch for e in epochs] == [1, 2]
    batches_per_epoch = int(np.ceil(288 / 32))  # 10% of 320 held out for validation
    data = ui.curves.curve_data()
    assert len(data["train loss (batch)"][0]) == 2 * batches_per_epoch
    assert len(data["train loss (smoothed)"][1]) == 2 * batches_per_epoch
    assert list(data["validation loss"][0]) == [1, 2]
    assert np.allclose(data["validation accuracy"][1], [100 * e.val_accuracy for e in epochs])
    assert epochs[1].loss < epochs[0].loss  # it learns
    assert outcome.evaluation is not None and len(outcome.evaluation.labels) == 120
    assert "Finished after 2 epoch(s)" in ui.panel.progress_label.text()
    assert ui.confusion.table.rowCount() == 10


def run_to_end_after_start(qtbot, ui):
    with qtbot.waitSignal(ui.controller.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        pass
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    return blocker.args[0]
