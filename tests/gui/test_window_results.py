"""Results belong to the model they were made with: a new or opened model starts fresh (or the
user keeps weights that fit), results of an edited model say so, and Stop says it stopped."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QElapsedTimer
from training_support import RUN_TIMEOUT_MS, configure, digits_main_window, run_to_end

from cnnstudio.core import modelfile
from cnnstudio.core.templates import load_template
from cnnstudio.gui.training import dialogs


@pytest.fixture
def window(qtbot, settings):
    w = digits_main_window(qtbot, settings)
    yield w
    w.training.controller.shutdown()
    w.document.undo_stack.setClean()


@pytest.fixture
def asked(monkeypatch):
    """Answers the "keep the weights?" question with ``asked.keep`` and records it."""
    class Asked:
        keep = False
        questions: list[str] = []

    def ask(_parent, title, text, *_a, **_k):  # noqa: ANN001, ANN202
        Asked.questions.append(f"{title}: {text}")
        return Asked.keep

    monkeypatch.setattr(dialogs, "ask", ask)
    Asked.questions = []
    return Asked


def trained(qtbot, window) -> dict[str, np.ndarray]:
    ui = window.training
    configure(ui, epochs=1)
    run_to_end(qtbot, ui)
    assert ui.curves.batch_count() > 0 and ui.controller.evaluation is not None
    return {k: v.copy() for k, v in ui.controller.weights.items()}


def assert_fresh(window) -> None:
    ui = window.training
    c = ui.controller
    assert c.weights is None and c.evaluation is None
    assert ui.curves.batch_count() == 0 and ui.curves.epoch_count() == 0
    assert all(len(x) == 0 for x, _ in ui.curves.curve_data().values())
    assert ui.confusion.table.rowCount() == 0
    assert ui.panel.weights_label.text() == "Weights: random initial weights"
    assert window.current_weights() is None  # exports carry no stale weights


def test_new_model_starts_with_fresh_weights_and_empty_views(qtbot, window, asked):
    trained(qtbot, window)
    window.actions["new"].trigger()
    assert asked.questions == []  # nothing of the old weights fits an empty model
    assert_fresh(window)


def test_a_template_the_weights_fit_asks_and_can_keep_them(qtbot, window, asked):
    weights = trained(qtbot, window)
    asked.keep = True
    window.files.new_from_template("digits_tiny")
    assert len(asked.questions) == 1 and "c1, c2, out" in asked.questions[0]
    c = window.training.controller
    for key, value in weights.items():
        np.testing.assert_array_equal(c.weights[key], value)
    # Same layers: what was measured still describes this model.
    assert not window.training.curves.is_marked_earlier()


def test_a_template_the_weights_fit_can_start_fresh(qtbot, window, asked):
    trained(qtbot, window)
    asked.keep = False
    window.files.new_from_template("digits_tiny")
    assert len(asked.questions) == 1
    assert_fresh(window)


def test_another_template_starts_fresh_without_asking(qtbot, window, asked):
    trained(qtbot, window)
    window.files.new_from_template("lenet5")
    assert asked.questions == []
    assert_fresh(window)


def test_opening_a_file_starts_fresh(qtbot, window, asked, tmp_path):
    trained(qtbot, window)
    path = tmp_path / "other.json"
    modelfile.save(load_template("shapes_cnn"), path)
    assert window.files.open_path(path, ask=False)
    assert_fresh(window)


def test_results_of_an_edited_model_are_marked_as_earlier(qtbot, window, asked):
    trained(qtbot, window)
    ui = window.training
    assert not ui.curves.is_marked_earlier() and not ui.confusion.is_marked_earlier()
    assert "earlier" not in ui.panel.weights_label.text()
    window.document.move_layers({"c1": (300.0, 40.0)})  # moving a block changes nothing
    assert not ui.curves.is_marked_earlier() and not ui.confusion.is_marked_earlier()
    window.document.set_param("c2", "filters", 5)
    assert ui.curves.is_marked_earlier()
    assert ui.confusion.is_marked_earlier()
    assert "earlier version of the model" in ui.panel.weights_label.text()
    # The views that draw with the weights say so too (Why, Filters, Top patches read it).
    assert "earlier version of the model" in ui.controller.shown_weights_note
    ui.docks["why"].raise_()
    qtbot.waitUntil(lambda: "Explaining" in ui.why.info.text(), timeout=10_000)
    assert "earlier version of the model" in ui.why.info.text()
    window.document.undo_stack.undo()  # back to the model they were made with
    assert not ui.curves.is_marked_earlier() and not ui.confusion.is_marked_earlier()
    assert "earlier" not in ui.panel.weights_label.text()
    assert "earlier" not in ui.controller.shown_weights_note


def test_stop_says_stopped_and_resets_the_progress_bars(qtbot, window):
    ui = window.training
    c = ui.controller
    configure(ui, epochs=30, batch=16)
    with qtbot.waitSignal(c.epochEnded, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
    qtbot.waitUntil(lambda: ui.toolbar_progress.value() > 0, timeout=RUN_TIMEOUT_MS)
    timer = QElapsedTimer()
    timer.start()
    with qtbot.waitSignal(c.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        ui.panel.stop_action.trigger()
    n = blocker.args[0].epochs_done
    assert n >= 1
    qtbot.waitUntil(lambda: c.state == "idle", timeout=RUN_TIMEOUT_MS)
    status = window.statusBar().currentMessage()
    assert status.startswith(f"Stopped after {n} epoch"), status
    assert "finished" not in status.lower()
    assert ui.toolbar_progress.value() == 0 and ui.panel.progress.value() == 0
    assert ui.panel.progress_label.text().startswith(f"Stopped after {n} epoch")
