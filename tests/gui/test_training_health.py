"""Training that says what is going wrong: the Health view, alerts that pause a diverging run
and offer their fix, badges on the blocks, the learning-rate warning and the sanity checks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from training_support import RUN_TIMEOUT_MS, configure, make_window, run_to_end

from cnnstudio.core.templates import load_template
from cnnstudio.engine.network import Network
from cnnstudio.gui.document import Document
from cnnstudio.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.training.controller.shutdown()
    if w.training.sanity_dialog is not None:
        w.training.sanity_dialog.runner.stop()
        w.training.sanity_dialog.runner.wait()


def test_learning_rate_field_warns_at_once(qtbot, window):
    form = window.training.panel.form
    assert form.lr_warning.isHidden()
    form.lr.setValue(1e6)
    assert not form.lr_warning.isHidden()
    assert "far above the usual range for adam" in form.lr_warning.text()
    form.lr.setValue(0.5)  # too much for Adam, ordinary for plain SGD
    assert not form.lr_warning.isHidden()
    form.optimizer.setCurrentIndex(form.optimizer.findData("sgd"))
    assert form.lr_warning.isHidden()


def test_lr_1e6_pauses_in_the_first_epoch_and_the_fix_restarts(qtbot, window):
    ui = window.training
    c = ui.controller
    configure(ui, epochs=3)
    ui.panel.form.lr.setValue(1e6)
    with qtbot.waitSignal(c.alertsRaised, timeout=RUN_TIMEOUT_MS) as raised:
        ui.panel.start_action.trigger()
    (alert,) = raised.args[0]
    assert alert.kind == "diverging" and alert.epoch == 1 and alert.stops
    assert "learning rate 1e+06" in alert.message
    qtbot.waitUntil(lambda: c.state == "paused", timeout=RUN_TIMEOUT_MS)
    assert "diverging" in ui.panel.progress_label.text()
    (row,) = ui.health.alert_rows
    _, label, button = row
    assert "Diverging" in label.text() and "epoch 1, batch 1" in label.text()
    assert button.text() == "Lower the learning rate to 0.001 and restart"
    with qtbot.waitSignal(c.runStarted, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert ui.panel.form.lr.value() == pytest.approx(1e-3)
    assert ui.health.alert_rows == []  # a new run, a clean slate
    c.stop()
    qtbot.waitUntil(lambda: c.state == "idle", timeout=RUN_TIMEOUT_MS)


def test_health_table_fills_with_every_layer_and_its_history(qtbot, window):
    ui = window.training
    configure(ui, epochs=2)
    run_to_end(qtbot, ui)
    table = ui.health.table
    layers = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert layers == ["c1", "r1", "c2", "r2", "p1", "f", "drop", "out"]
    dead = table.item(layers.index("r1"), 2)
    assert dead.text().endswith("%")
    from cnnstudio.gui.training.health_view import HISTORY_ROLE

    ratio = table.item(layers.index("c1"), 5)
    assert len(ratio.data(HISTORY_ROLE)) >= 2  # one point per measurement: a sparkline
    assert ui.controller.alerts == [] and ui.health.no_alerts.isVisibleTo(ui.health)


def test_dead_relus_mark_their_block_on_the_canvas(qtbot, settings, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
    w = MainWindow(Document(load_template("digits_tiny")), settings=settings)
    qtbot.addWidget(w)
    w.show()
    from training_support import small_digits

    ui = w.training
    ui.controller.set_dataset(small_digits(), "digits")
    weights = Network(load_template("digits_tiny"), np.random.default_rng(0)).state_dict()
    weights["c2/bias"][...] = -100.0  # r2 can never fire
    ui.controller.weights = weights
    configure(ui, epochs=2)  # two measurements (batches 1 and 17): a trend, not a blip
    try:
        run_to_end(qtbot, ui)
        kinds = {(a.kind, a.layer) for a in ui.controller.alerts}
        assert ("dead units", "r2") in kinds
        block = w.canvas.canvas_scene.blocks["r2"]
        assert block.view.alerts and "Training alert" in block.toolTip()
        assert not w.canvas.canvas_scene.blocks["r1"].view.alerts
        assert ui.sanity_action in w.menus["model"].actions()
    finally:
        ui.controller.shutdown()
        w.files.shutdown()


def _run_checks(qtbot, ui):
    ui.show_sanity_checks()
    dialog = ui.sanity_dialog
    with qtbot.waitSignal(dialog.runner.ended, timeout=RUN_TIMEOUT_MS * 2):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    return dialog


def test_sanity_checks_pass_on_a_sound_model_and_offer_the_rate(qtbot, window):
    ui = window.training
    dialog = _run_checks(qtbot, ui)
    assert all(r.passed for r in dialog.results.values()) and len(dialog.results) == 4
    assert dialog.status.text() == "All checks passed."
    assert dialog.use_button.isEnabled() and dialog.suggested is not None
    x, _ = dialog.curve.getData()
    assert len(x) > 50
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert ui.panel.form.lr.value() == pytest.approx(dialog.suggested, rel=1e-3)


def test_sanity_checks_fail_with_numbers_when_every_layer_is_frozen(qtbot, window):
    ui = window.training
    for lid in ("c1", "c2", "out"):
        window.document.set_trainable(lid, False)
    dialog = _run_checks(qtbot, ui)
    overfit = dialog.results["overfit one batch"]
    assert not overfit.passed and "of 8 images are right" in overfit.detail
    assert "failed" in dialog.status.text()
    assert dialog.details["overfit one batch"].text() == overfit.detail


def test_stopping_the_checks_leaves_model_and_weights_alone(qtbot, window):
    ui = window.training
    weights = Network(load_template("digits_tiny"), np.random.default_rng(5)).state_dict()
    ui.controller.weights = weights
    before = {k: v.copy() for k, v in weights.items()}
    graph = window.document.graph.copy()
    ui.show_sanity_checks()
    dialog = ui.sanity_dialog
    dialog.start()
    assert dialog.stop_button.isEnabled()
    with qtbot.waitSignal(dialog.runner.ended, timeout=RUN_TIMEOUT_MS) as ended:
        dialog.runner.stop()
    assert ended.args == [True]
    assert "Stopped" in dialog.status.text()
    assert window.document.graph == graph
    assert ui.controller.weights is weights
    assert all(np.array_equal(weights[k], before[k]) for k in before)


def test_checks_refuse_data_that_do_not_fit_as_train_does(qtbot, window):
    ui = window.training
    window.document.set_params("out", {"units": 7})
    reason = ui.controller.refusal()
    assert reason
    ui.show_sanity_checks()
    ui.sanity_dialog.start()
    assert ui.sanity_dialog.status.text() == f"Cannot run the checks: {reason}"


def test_scrolling_the_dock_does_not_change_a_field_under_the_pointer(qtbot, window):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    form = window.training.panel.form
    box = form.batch_size
    before = box.value()

    def wheel() -> None:
        centre = QPointF(box.rect().center())
        event = QWheelEvent(centre, QPointF(box.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                            QPoint(0, -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(box, event)

    window.setFocus()
    wheel()
    assert box.value() == before and not box.hasFocus()
    box.setFocus()
    qtbot.waitUntil(box.hasFocus)
    wheel()
    assert box.value() == before - 1  # once clicked into, the wheel edits it
