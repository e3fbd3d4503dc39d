"""Opening a model with a large Input (ResNet-18's 3x224x224) costs a moment, not gigabytes.

The default shapes dataset is made at the Input's size; for a 224x224 Input that is 2 GB, so it
is described in the Training dock and made only when the user asks (Train, Generate now), with
progress and a Stop. A generation that is running never holds up closing the window or opening
another model. The templates keep their first minute: their data is made at once.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtWidgets import QMessageBox
from training_support import RUN_TIMEOUT_MS

import cnnstudio.engine.datasets.specs as specs
from cnnstudio.core import modelfile
from cnnstudio.core.templates import load_template
from cnnstudio.engine.datasets.base import DatasetCancelled
from cnnstudio.gui.document import Document
from tests.core.test_real_architectures import resnet18


class Generations:
    """Stands in for make_shapes: records every config; large ones do not draw anything but
    wait, like a long generation, until they are told to stop."""

    def __init__(self) -> None:
        self.configs: list = []
        self.large_started = threading.Event()
        self.stop_seen = threading.Event()
        self._real = specs.make_shapes

    def __call__(self, config, rng, stop=None, progress=None):  # noqa: ANN001
        self.configs.append(config)
        if config.height < 100:
            return self._real(config, rng, stop, progress)
        self.large_started.set()
        if progress is not None:
            progress(0, config.train + config.test)
        give_up = time.monotonic() + 60  # a guard against hanging the suite, not a measure
        while not (stop is not None and stop()) and time.monotonic() < give_up:
            time.sleep(0.005)
        if stop is not None and stop():
            self.stop_seen.set()
        raise DatasetCancelled("shapes: stopped")

    def sizes(self) -> list[tuple[int, int, int]]:
        return [(c.channels, c.height, c.width) for c in self.configs]


@pytest.fixture
def generations(monkeypatch) -> Generations:
    fake = Generations()
    monkeypatch.setattr(specs, "make_shapes", fake)
    return fake


@pytest.fixture
def resnet_window(qtbot, settings, tmp_path):
    from cnnstudio.gui.main_window import MainWindow

    path = tmp_path / "resnet18.json"
    modelfile.save(resnet18(), path)
    w = MainWindow(Document(modelfile.load(path), str(path)), settings=settings)
    qtbot.addWidget(w)
    w.show()
    failures: list[str] = []
    w.training.controller.datasetFailed.connect(failures.append)
    w.failures = failures
    yield w
    w.training.controller.shutdown()


def show_training_dock(qtbot, window) -> None:
    window.training.docks["training"].raise_()
    qtbot.waitUntil(lambda: window.training.panel.isVisible())


def test_a_big_input_model_describes_its_dataset_instead_of_making_it(qtbot, resnet_window,
                                                                      generations):
    w = resnet_window
    ui, c = w.training, w.training.controller
    show_training_dock(qtbot, w)
    qtbot.wait(20)  # let anything queued on showing the dock happen
    assert generations.configs == [] and not c.is_loading() and c.dataset is None
    text = ui.panel.dataset_info.text()
    assert "3,600 images of 3x224x224 (2.0 GB)" in text and "Train generates it first" in text
    assert ui.panel.generate_button.isVisible()
    assert ui.panel.start_action.isEnabled()  # Train makes it first
    assert ui.panel.dataset_combo.currentData() == "shapes"


def test_the_description_follows_an_edited_input(qtbot, resnet_window, generations):
    w = resnet_window
    panel = w.training.panel
    show_training_dock(qtbot, w)
    w.document.set_params("in", {"height": 160, "width": 160})
    assert "3,600 images of 3x160x160 (1.0 GB)" in panel.dataset_info.text()
    assert generations.configs == []


def test_train_makes_it_first(qtbot, resnet_window, generations):
    """Pressed from the toolbar, maybe with the Training dock behind the Inspector: the
    status bar says what is being made and that the run follows."""
    w = resnet_window
    ui = w.training
    ui.panel.start_action.trigger()
    assert generations.large_started.wait(30)
    assert generations.sizes() == [(3, 224, 224)]
    assert ui.controller.is_loading() and ui.controller.state == "idle"  # data first, then run
    qtbot.waitUntil(lambda: ui.panel.stop_load_button.isVisible())
    message = w.statusBar().currentMessage()
    assert message.startswith("Generating shapes: 3,600 images of 3x224x224 (2.0 GB)")
    assert message.endswith("Training starts when it is ready.")


def test_train_that_would_not_fit_says_so_before_making_the_data(qtbot, resnet_window,
                                                                  generations, monkeypatch):
    monkeypatch.setenv("CNNSTUDIO_MEMORY_LIMIT", "2100MB")  # the data fits, training does not
    w = resnet_window
    panel = w.training.panel
    show_training_dock(qtbot, w)
    assert panel.generate_button.isVisible()
    with qtbot.waitSignal(panel.refused) as refused:
        panel.start_action.trigger()
    assert refused.args[0].startswith("training this model needs 2.2 GB")
    assert "batch of 32" in panel.reason_label.text() and panel.reason_label.isVisible()
    assert generations.configs == [] and not w.training.controller.is_loading()


def test_over_the_memory_budget_the_dock_says_so_in_one_line(qtbot, resnet_window,
                                                             generations, monkeypatch):
    monkeypatch.setenv("CNNSTUDIO_MEMORY_LIMIT", "1GB")
    w = resnet_window
    panel = w.training.panel
    show_training_dock(qtbot, w)
    assert panel.dataset_info.text().startswith(
        "shapes: generating 3x224x224 needs 2.0 GB for 3,600 images; the limit is 1.0 GB")
    assert not panel.generate_button.isVisible() and generations.configs == []


def test_generate_now_makes_it_with_progress_and_closing_stops_it(qtbot, resnet_window,
                                                                  generations):
    w = resnet_window
    ui, c = w.training, w.training.controller
    show_training_dock(qtbot, w)
    ui.panel.generate_button.click()
    assert generations.large_started.wait(30)
    assert generations.sizes() == [(3, 224, 224)]
    qtbot.waitUntil(lambda: ui.panel.load_progress.maximum() == 3600)
    assert ui.panel.stop_load_button.isVisible() and c.is_loading()
    assert "Generating shapes" in ui.panel.dataset_info.text()

    w.close()  # returns once the generation has stopped
    assert generations.stop_seen.is_set()
    assert c.wait_for_dataset(0)  # no thread left behind
    qtbot.wait(20)
    assert w.failures == [] and not [b for b in w.findChildren(QMessageBox) if b.isVisible()]


def test_stop_ends_the_generation_and_keeps_the_plan(qtbot, resnet_window, generations):
    w = resnet_window
    ui, c = w.training, w.training.controller
    show_training_dock(qtbot, w)
    ui.panel.generate_button.click()
    assert generations.large_started.wait(30)
    ui.panel.stop_load_button.click()
    assert not c.is_loading()  # at once: the window does not wait for the thread
    qtbot.waitUntil(generations.stop_seen.is_set, timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: c.wait_for_dataset(0))
    qtbot.wait(20)
    assert w.failures == [] and c.dataset is None
    assert ui.panel.generate_button.isVisible() and not ui.panel.stop_load_button.isVisible()
    assert "3x224x224 (2.0 GB)" in ui.panel.dataset_info.text()


def test_opening_another_model_stops_the_generation_for_the_previous_one(
        qtbot, resnet_window, generations, tmp_path):
    w = resnet_window
    ui, c = w.training, w.training.controller
    show_training_dock(qtbot, w)
    ui.panel.generate_button.click()
    assert generations.large_started.wait(30)
    small = tmp_path / "small.json"
    modelfile.save(load_template("shapes_cnn"), small)
    assert w.files.open_path(small, ask=False)
    qtbot.waitUntil(generations.stop_seen.is_set, timeout=RUN_TIMEOUT_MS)
    # The small model's data is made at once, as for any template-sized Input.
    qtbot.waitUntil(lambda: c.dataset is not None, timeout=RUN_TIMEOUT_MS)
    assert generations.sizes() == [(3, 224, 224), (1, 32, 32)]
    assert c.dataset.image_shape == (1, 32, 32) and w.failures == []
    assert not ui.panel.generate_button.isVisible()


def test_a_template_still_has_its_data_at_once(qtbot, settings, generations):
    """Journey 1's first minute: the dock shows, shapes are generated, Train can run."""
    from cnnstudio.gui.main_window import MainWindow

    w = MainWindow(Document(load_template("shapes_cnn")), settings=settings)
    qtbot.addWidget(w)
    w.show()
    show_training_dock(qtbot, w)
    c = w.training.controller
    assert c.is_loading()  # made on showing the dock, without being asked
    qtbot.waitUntil(lambda: not c.is_loading(), timeout=RUN_TIMEOUT_MS)
    assert generations.sizes() == [(1, 32, 32)] and c.dataset.image_shape == (1, 32, 32)
    assert c.refusal() is None and w.training.panel.start_action.isEnabled()
    c.shutdown()


def test_the_waiting_message_goes_when_the_run_starts(qtbot, settings, monkeypatch):
    """Train pressed while a template's data is still being made: the status bar says the run
    follows, and once the run has started it no longer says training is waiting."""
    real = specs.make_shapes

    def slow(config, rng, stop=None, progress=None):  # noqa: ANN001
        time.sleep(0.5)  # still making it when Train is pressed
        return real(config, rng, stop, progress)

    monkeypatch.setattr(specs, "make_shapes", slow)
    from cnnstudio.gui.main_window import MainWindow

    w = MainWindow(Document(load_template("shapes_cnn")), settings=settings)
    qtbot.addWidget(w)
    w.show()
    ui = w.training
    messages: list[str] = []
    w.statusBar().messageChanged.connect(messages.append)
    try:
        with qtbot.waitSignal(ui.controller.batches, timeout=RUN_TIMEOUT_MS):
            ui.panel.start_action.trigger()
        waiting = [m for m in messages if m.endswith("Training starts when it is ready.")]
        assert waiting and waiting[0].startswith("Generating shapes")
        assert not w.statusBar().currentMessage().endswith("Training starts when it is ready.")
        ui.panel.stop_action.trigger()
        qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    finally:
        ui.controller.shutdown()
