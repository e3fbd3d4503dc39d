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


def test_a_huge_learning_rate_pauses_with_advice_and_stops_cleanly(qtbot, window):
    ui = window.training
    drawn = modelfile.dumps(window.document.graph)
    configure(ui, epochs=2)
    form = ui.panel.form
    form.optimizer.setCurrentIndex(form.optimizer.findData("sgd"))
    form.lr.setValue(1e6)
    with qtbot.waitSignal(ui.controller.alertsRaised, timeout=RUN_TIMEOUT_MS) as raised:
        ui.panel.start_action.trigger()
    alert = raised.args[0][0]
    assert alert.kind == "diverging" and "lower the learning rate to 0.01" in alert.message
    qtbot.waitUntil(lambda: ui.controller.state == "paused", timeout=RUN_TIMEOUT_MS)
    assert "diverging" in ui.panel.progress_label.text()
    ui.panel.stop_action.trigger()
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    assert not window.document.locked
    assert modelfile.dumps(window.document.graph) == drawn
    assert ui.panel.start_action.isEnabled()


def test_weights_that_overflow_stop_the_run_naming_the_layer(qtbot, window):
    import numpy as np

    from cnnstudio.engine.network import Network

    ui = window.training
    net = Network(window.document.graph, np.random.default_rng(0))
    weights = net.state_dict()
    weights["c1/weight"] *= 1e20
    weights["c2/weight"] *= 1e20  # c2's output overflows to inf on the first batch
    ui.controller.weights = weights
    configure(ui, epochs=1)
    message = _fail_run(qtbot, ui)
    assert "the first NaN/Inf is in c2" in message and "lower the learning rate" in message
    box = open_boxes(window, "trainingProblem")[-1]
    assert box.windowTitle() == "Training stopped"
    assert not window.document.locked and ui.panel.start_action.isEnabled()
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
    """... and shows it as before (seen in a real window: after a damaged .npz the line fell
    back to a plain "3000 train / 600 test" summary and the sample images were gone)."""
    ui = window.training
    current = ui.controller.dataset
    shown = ui.panel.dataset_info.text()
    samples = ui.panel.samples.count()
    assert samples > 0 and "training /" in shown
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
    assert ui.panel.dataset_info.text() == shown
    assert ui.panel.samples.count() == samples


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
