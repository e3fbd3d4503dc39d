"""Training inside the real designer window: menu, docks, one-click Train, exports' weights."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt, QThread
from PySide6.QtWidgets import QApplication
from training_support import RUN_TIMEOUT_MS, configure

from cnnstudio.core.templates import load_template
from cnnstudio.gui.document import Document


@pytest.fixture
def main_window(qtbot, settings):
    from cnnstudio.gui.main_window import MainWindow

    w = MainWindow(Document(load_template("digits_tiny")), settings=settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.training.controller.shutdown()


def test_train_menu_docks_and_toolbar(main_window):
    w = main_window
    titles = [a.text() for a in w.menuBar().actions()]
    assert titles.index("&Train") == titles.index("&Help") - 1
    for key in ("training", "curves", "feature_maps", "filters", "confusion"):
        assert key in w.docks
    toolbar_texts = [a.text() for a in w.toolbar.actions()]
    assert {"Train", "Pause", "Stop"} <= set(toolbar_texts)
    assert w.current_weights() is None  # nothing trained yet: exports carry no weights


def test_one_click_trains_with_the_default_dataset(qtbot, main_window):
    w = main_window
    ui = w.training
    assert ui.controller.dataset is None
    assert ui.panel.start_action.isEnabled()  # Train loads the default dataset itself
    configure(ui, epochs=1, batch=64)
    # Signals, not polling the state: a short run can pass through "running" between two polls,
    # and a refusal or a failed load must fail the test at once with its reason.
    events: list[str] = []
    locked_at_start: list[bool] = []
    ui.controller.runStarted.connect(lambda _n: locked_at_start.append(w.document.locked))
    ui.controller.runStarted.connect(lambda _n: events.append("started"))
    ui.controller.runFailed.connect(lambda m: events.append(f"run failed: {m}"))
    ui.controller.datasetFailed.connect(lambda m: events.append(f"dataset failed: {m}"))
    ui.panel.refused.connect(lambda m: events.append(f"refused: {m}"))
    with qtbot.waitSignal(ui.controller.runFinished, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
        qtbot.waitUntil(lambda: bool(events), timeout=RUN_TIMEOUT_MS)
        assert events[0] == "started"
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    assert events == ["started"] and locked_at_start == [True]
    assert not w.document.locked
    assert ui.controller.dataset.name == "digits"  # fits the 1x8x8 Input
    assert ui.curves.epoch_count() == 1
    weights = w.current_weights()
    assert weights is not None and "c1/weight" in weights and "_meta/norm_mean" in weights


def test_a_dataset_loaded_in_the_background_arrives_in_the_gui_thread(qtbot, main_window):
    """Views read the controller's dataset in the GUI thread: it must never change elsewhere."""
    c = main_window.training.controller
    threads: list[bool] = []

    def record(_data: object) -> None:
        threads.append(QThread.currentThread() is QApplication.instance().thread())

    c.datasetChanged.connect(record, Qt.ConnectionType.DirectConnection)
    c.open_dataset_async("digits")
    assert c.is_loading()
    qtbot.waitUntil(lambda: not c.is_loading(), timeout=RUN_TIMEOUT_MS)
    assert threads == [True]
    assert c.dataset is not None and c.dataset.name == "digits"


def test_a_superseded_load_does_not_replace_the_newer_one(qtbot, main_window, tmp_path):
    c = main_window.training.controller
    first = tmp_path / "first.npz"
    np.savez(first, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.arange(4) % 2)
    shown: list[str] = []
    c.datasetChanged.connect(lambda d: shown.append(d.name))
    c.open_dataset_async(f"npz:{first}")
    c.open_dataset_async("digits")  # the first is told to stop; its result must be dropped
    qtbot.waitUntil(lambda: not c.is_loading(), timeout=RUN_TIMEOUT_MS)
    qtbot.wait(50)
    assert shown == ["digits"]
    assert c.dataset.name == "digits" and c.dataset_spec == "digits"


def test_the_training_panel_fits_the_dock_without_scrolling_sideways(qtbot, main_window):
    """A seed field sized for ten digits and a combo sized for its longest title made the panel
    wider than the dock, cutting off the progress bar and the Open button."""
    from PySide6.QtWidgets import QScrollArea

    main_window.training.docks["training"].raise_()
    qtbot.wait(50)
    scroll = main_window.training.panel.findChild(QScrollArea)
    assert scroll.isVisible()
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
    assert not scroll.horizontalScrollBar().isVisible()


def test_train_pressed_while_the_dataset_loads_starts_when_it_is_in(qtbot, main_window):
    """Journey 1: a first-time user presses Train the moment the window opens, while the
    default dataset is still loading; the press is not lost, the run starts once data is in."""
    ui = main_window.training
    configure(ui, epochs=1, batch=64)
    ui.panel.choose_dataset("digits")
    assert ui.controller.is_loading()
    assert ui.panel.start_action.isEnabled()
    with qtbot.waitSignal(ui.controller.runFinished, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    assert ui.curves.epoch_count() == 1
