"""Trained weights are work: closing the window, New, a template, Open, Reset Weights or Load
Weights never throws them away without asking (Save offers the weights dialog, Cancel keeps
everything), and weights that are in a file already (saved, or loaded and unchanged) never make
the window ask."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from training_support import RUN_TIMEOUT_MS, configure, digits_main_window, run_to_end

from cnnstudio.core import modelfile
from cnnstudio.core.templates import load_template
from cnnstudio.engine.weights import load_weights

Button = QMessageBox.StandardButton


@pytest.fixture
def window(qtbot, settings):
    w = digits_main_window(qtbot, settings)
    yield w
    w.training.controller.shutdown()
    w.training.controller.weights_unsaved = False  # let pytest-qt close it without asking
    w.document.undo_stack.setClean()


@pytest.fixture
def questions(monkeypatch):
    """Every QMessageBox.question as ``(title, text)``; answered with ``questions.answer``."""
    class Questions:
        asked: list[tuple[str, str]] = []
        answer = Button.Cancel

    def question(_parent, title, text, *_a, **_k):  # noqa: ANN001, ANN202
        Questions.asked.append((title, text))
        return Questions.answer

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    Questions.asked = []
    return Questions


def train(qtbot, window) -> dict[str, np.ndarray]:
    configure(window.training, epochs=1)
    run_to_end(qtbot, window.training)
    return {k: v.copy() for k, v in window.training.controller.weights.items()}


def same_weights(window, weights: dict[str, np.ndarray]) -> bool:
    now = window.training.controller.weights or {}
    return set(now) == set(weights) and all(np.array_equal(now[k], weights[k]) for k in weights)


def weights_questions(questions) -> list[str]:
    return [text for title, text in questions.asked if title == "Unsaved weights"]


def test_closing_after_training_asks_and_cancel_keeps_the_window(qtbot, window, questions):
    weights = train(qtbot, window)
    questions.answer = Button.Cancel
    assert not window.close()
    assert window.isVisible() and same_weights(window, weights)
    (text,) = weights_questions(questions)
    assert "The trained weights of" in text and "are not saved" in text
    assert "trained 1 epoch(s) on digits" in text  # says which weights


def test_save_in_the_close_question_writes_the_weights_then_closes(qtbot, window, questions,
                                                                   monkeypatch, tmp_path):
    weights = train(qtbot, window)
    target = tmp_path / "mine"
    offered: list[str] = []

    def save_dialog(_parent, _title, where, *_a, **_k):  # noqa: ANN001, ANN202
        offered.append(where)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    questions.answer = Button.Save
    assert window.close()
    assert offered and offered[0].endswith(".npz")  # the weights dialog, not the model's
    saved = load_weights(target.with_suffix(".npz"))
    for key, value in weights.items():
        np.testing.assert_array_equal(saved[key], value)


def test_save_cancelled_in_its_file_dialog_keeps_the_window_open(qtbot, window, questions):
    train(qtbot, window)
    questions.answer = Button.Save  # then the file dialog is cancelled (conftest)
    assert not window.close()
    assert window.isVisible() and window.training.controller.weights_unsaved


def test_discard_closes(qtbot, window, questions):
    train(qtbot, window)
    questions.answer = Button.Discard
    assert window.close()
    assert len(weights_questions(questions)) == 1


@pytest.mark.parametrize("action", ["new", "template", "open"])
def test_new_template_and_open_ask_and_cancel_keeps_model_and_weights(qtbot, window, questions,
                                                                      tmp_path, action):
    weights = train(qtbot, window)
    before = window.document.graph.copy()
    other = tmp_path / "other.json"
    modelfile.save(load_template("shapes_cnn"), other)
    questions.answer = Button.Cancel
    if action == "new":
        window.actions["new"].trigger()
    elif action == "template":
        window.files.new_from_template("lenet5")
    else:
        assert not window.files.open_path(other)
    assert len(weights_questions(questions)) == 1
    assert window.document.graph == before and same_weights(window, weights)


def test_discard_in_new_goes_on_to_the_new_model(qtbot, window, questions):
    train(qtbot, window)
    questions.answer = Button.Discard
    window.files.new_from_template("lenet5")
    assert len(weights_questions(questions)) == 1
    assert window.document.graph.name == load_template("lenet5").name
    assert window.training.controller.weights is None


def test_saved_or_loaded_weights_do_not_ask(qtbot, window, questions, tmp_path):
    train(qtbot, window)
    ui = window.training
    path = tmp_path / "w.npz"
    assert ui.weights.save_to(path)
    questions.answer = Button.Discard  # for the model's own question after New
    ui.controller.reset_weights()
    assert ui.weights.load_from(path) is not None
    window.actions["new"].trigger()  # the loaded weights fit no layer of an empty model
    assert window.close()
    assert weights_questions(questions) == []


def test_an_earlier_epoch_taken_after_saving_is_unsaved_again(qtbot, window, questions,
                                                              tmp_path):
    weights = train(qtbot, window)
    c = window.training.controller
    assert window.training.weights.save_to(tmp_path / "w.npz")
    c.adopt_weights({k: v * 0.5 for k, v in weights.items()}, "epoch 0 of the last run")
    assert not window.close()
    (text,) = weights_questions(questions)
    assert "epoch 0 of the last run" in text


def test_closing_while_training_asks_and_then_stops_the_run(qtbot, window, questions):
    ui = window.training
    c = ui.controller
    configure(ui, epochs=200, batch=16)
    with qtbot.waitSignal(c.epochEnded, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
    questions.answer = Button.Cancel
    assert not window.close()
    (text,) = weights_questions(questions)
    assert "still running" in text
    assert c.state == "running" and window.isVisible()  # Cancel: the run goes on
    questions.answer = Button.Discard
    assert window.close()
    assert c.state == "idle" and c._thread is None  # stopped and its thread joined
    assert not window.document.locked


def test_a_real_modal_question_does_not_keep_the_run_alive_after_closing(qtbot, window,
                                                                        monkeypatch):
    """A real question box runs its own event loop while it waits for the answer; the run
    must still stop once the window closes."""
    from PySide6.QtCore import QEventLoop, QTimer

    def modal(*_a, **_k):  # noqa: ANN002, ANN202
        loop = QEventLoop()
        QTimer.singleShot(50, loop.quit)
        loop.exec()  # timers and posted events run here, as under a real modal box
        return Button.Discard

    monkeypatch.setattr(QMessageBox, "question", staticmethod(modal))
    ui = window.training
    c = ui.controller
    configure(ui, epochs=200, batch=16)
    with qtbot.waitSignal(c.epochEnded, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
    assert window.close()
    assert c.state == "idle" and c._thread is None


def test_closing_before_the_first_epoch_asks_without_a_save_button(qtbot, window, monkeypatch):
    buttons_seen = []

    def question(_parent, title, text, buttons, *_a, **_k):  # noqa: ANN001, ANN202
        buttons_seen.append((title, text, buttons))
        return Button.Cancel

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    ui = window.training
    configure(ui, epochs=200, batch=16)
    ui.panel.start_action.trigger()  # no event processed yet: no epoch can have ended
    assert ui.controller.state == "running" and ui.controller.weights is None
    assert not window.close()
    ((title, text, buttons),) = buttons_seen
    assert title == "Training is running" and "Closing stops the run" in text
    assert not buttons & Button.Save and buttons & Button.Discard


def reset_or_load(window, how: str) -> None:
    ui = window.training
    if how == "reset menu":
        ui.reset_action.trigger()
    elif how == "reset button":
        ui.panel.reset_button.click()
    else:
        ui.weights.load_action.trigger()


@pytest.mark.parametrize("how", ["reset menu", "reset button", "load"])
def test_reset_and_load_ask_and_cancel_keeps_the_trained_weights(qtbot, window, questions,
                                                                 monkeypatch, how):
    weights = train(qtbot, window)
    dialogs: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *_a, **_k: (dialogs.append("open"), ("", ""))[1]))
    questions.answer = Button.Cancel
    reset_or_load(window, how)
    (text,) = weights_questions(questions)
    assert "are not saved" in text
    assert ("fresh random weights" if how != "load" else "every layer it fits") in text
    assert dialogs == []  # Cancel: no file is even asked for
    assert same_weights(window, weights) and window.training.controller.weights_unsaved


@pytest.mark.parametrize("how", ["reset menu", "reset button"])
def test_reset_goes_on_after_discard_or_save(qtbot, window, questions, monkeypatch, tmp_path,
                                             how):
    weights = train(qtbot, window)
    questions.answer = Button.Discard
    reset_or_load(window, how)
    assert window.training.controller.weights is None
    weights = train(qtbot, window)
    target = tmp_path / "kept"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *_a, **_k: (str(target), "")))
    questions.answer = Button.Save
    reset_or_load(window, how)
    assert window.training.controller.weights is None
    saved = load_weights(target.with_suffix(".npz"))
    for key, value in weights.items():
        np.testing.assert_array_equal(saved[key], value)


def test_load_goes_on_to_the_file_dialog_after_discard(qtbot, window, questions, monkeypatch,
                                                       tmp_path):
    train(qtbot, window)
    ui = window.training
    path = tmp_path / "w.npz"
    assert ui.weights.save_to(path)
    train(qtbot, window)  # newer weights, in no file
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *_a, **_k: (str(path), "")))
    monkeypatch.setattr(QMessageBox, "information", staticmethod(lambda *_a, **_k: None))
    questions.answer = Button.Discard
    ui.weights.load_action.trigger()
    assert len(weights_questions(questions)) == 1
    assert "loaded from w.npz" in ui.controller.weights_note
    assert not ui.controller.weights_unsaved


def test_reset_and_load_do_not_ask_about_saved_weights(qtbot, window, questions, monkeypatch,
                                                       tmp_path):
    train(qtbot, window)
    ui = window.training
    assert ui.weights.save_to(tmp_path / "w.npz")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *_a, **_k: ("", "")))
    ui.weights.load_action.trigger()
    ui.reset_action.trigger()
    assert weights_questions(questions) == []
    assert ui.controller.weights is None
