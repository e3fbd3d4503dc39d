"""Breaking training on purpose: each time a clear dialog, a usable window, an intact model."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QElapsedTimer
from training_support import RUN_TIMEOUT_MS, configure, make_window, open_boxes

from cnnstudio.core import modelfile


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.training.controller.shutdown()


def _fail_run(qtbot, ui) -> str:
    with qtbot.waitSignal(ui.controller.runFailed, timeout=RUN_TIMEOUT_MS) as blocker:
        ui.panel.start_action.trigger()
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    return blocker.args[0]


def test_a_huge_learning_rate_stops_with_advice(qtbot, window):
    ui = window.training
    drawn = modelfile.dumps(window.document.graph)
    configure(ui, epochs=2)
    form = ui.panel.form
    form.optimizer.setCurrentIndex(form.optimizer.findData("sgd"))
    form.lr.setValue(1e6)
    message = _fail_run(qtbot, ui)
    assert "lower the learning rate" in message
    box = open_boxes(window, "trainingProblem")[-1]
    assert box.windowTitle() == "Training stopped" and "learning rate" in box.text()
    assert not window.document.locked
    assert modelfile.dumps(window.document.graph) == drawn
    assert ui.panel.start_action.isEnabled()
    assert "Training stopped" in ui.panel.progress_label.text()


def test_a_batch_that_would_not_fit_in_memory_is_refused(qtbot, window, monkeypatch):
    from cnnstudio.engine import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 20 * 2**20)
    ui = window.training
    configure(ui, epochs=1, batch=256)
    message = _fail_run(qtbot, ui)
    assert "use a batch size of at most" in message
    assert open_boxes(window, "trainingProblem")
    assert not window.document.locked and ui.controller.weights is None


def test_an_unreadable_dataset_keeps_the_current_one(qtbot, window, tmp_path):
    ui = window.training
    current = ui.controller.dataset
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(b"PK\x03\x04\x14\x00 truncated")
    with qtbot.waitSignal(ui.controller.datasetFailed, timeout=RUN_TIMEOUT_MS) as blocker:
        ui.panel.choose_dataset(f"npz:{bad}")
    assert "truncated.npz" in blocker.args[0]
    qtbot.waitUntil(lambda: ui.controller.refusal() is None)
    box = open_boxes(window, "trainingProblem")[-1]
    assert "truncated.npz" in box.text()
    assert ui.controller.dataset is current
    assert ui.panel.start_action.isEnabled()


def test_closing_the_window_while_training_stops_and_waits(qtbot, window):
    ui = window.training
    switch = sys.getswitchinterval()
    configure(ui, epochs=50, batch=16)
    with qtbot.waitSignal(ui.controller.batches, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
    thread = ui.controller._thread.thread
    timer = QElapsedTimer()
    timer.start()
    window.close()
    assert not thread.isRunning()
    assert timer.elapsed() < 10_000
    # Nothing of the run outlives the window, even before its queued signals are delivered.
    assert not window.document.locked and ui.controller.state == "idle"
    assert sys.getswitchinterval() == switch
