"""Training inside the real designer window: menu, docks, one-click Train, exports' weights."""

from __future__ import annotations

import pytest
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
    with qtbot.waitSignal(ui.controller.runFinished, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
        qtbot.waitUntil(lambda: ui.controller.state == "running", timeout=RUN_TIMEOUT_MS)
        assert w.document.locked
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    assert ui.controller.dataset.name == "digits"  # fits the 1x8x8 Input
    assert ui.curves.epoch_count() == 1
    weights = w.current_weights()
    assert weights is not None and "c1/weight" in weights and "_meta/norm_mean" in weights
