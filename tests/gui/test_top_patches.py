"""What a channel looks for: the top-k training patches, found in the background."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from training_support import make_window

from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.introspect import crop_field

WAIT_MS = 60_000


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot, template="digits_tiny")
    w.training.docks["top_patches"].raise_()
    yield w
    w.training.shutdown()


def test_top_patches_are_the_brute_force_top_k(qtbot, window):
    ui = window.training
    top, c = ui.top_patches, ui.controller
    assert top.choose("c2", 5)
    top.k.setValue(9)
    top.find()
    assert top.busy() and not top.find_button.isEnabled() and top.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not top.busy(), timeout=WAIT_MS)
    x = c.dataset.x_train
    maps = c.view_network().activations(Normalizer.fit(x).apply(x), ["c2"])["c2"][:, 5]
    want = np.argsort(-maps.reshape(-1), kind="stable")[:9]
    assert [(t.image, t.row, t.col) for t in top.found] == [
        tuple(int(v) for v in np.unravel_index(i, maps.shape)) for i in want]
    np.testing.assert_allclose([t.value for t in top.found], maps.reshape(-1)[want], rtol=1e-5)
    assert top.grid.count() == 9 and top.progress.value() == 100
    rep = window.document.result.layers["c2"]
    first = top.found[0]
    crop = crop_field(x[first.image], rep.unit_box(first.row, first.col))
    assert crop.shape[1:] == rep.receptive_field  # each patch is what one unit sees
    assert "responds to most" in top.info.text()


def test_cancel_stops_the_search(qtbot, window):
    top = window.training.top_patches
    top.choose("c1", 0)
    top.find()
    top.cancel()
    qtbot.waitUntil(lambda: not top.busy(), timeout=WAIT_MS)
    assert top.found == [] and top.grid.count() == 0
    assert "Cancelled" in top.info.text() or top.progress.value() < 100
    assert top.find_button.isEnabled()


def test_clicking_a_feature_map_unit_picks_layer_and_channel(qtbot, window):
    ui = window.training
    ui.docks["feature_maps"].raise_()
    window.selection.set(["c2"])
    fm = ui.feature_maps
    qtbot.mouseClick(fm.grid, Qt.MouseButton.LeftButton, pos=fm.grid.pixel_pos(7, 2, 2))
    assert ui.top_patches.layer_combo.currentData() == "c2"
    assert ui.top_patches.channel.value() == 7


def test_a_covered_view_picks_from_the_current_model(qtbot, window):
    """Behind another tab the layer list waits for the view to be seen; a pick from a feature
    map click still sees the model as it is now."""
    ui = window.training
    top = ui.top_patches
    ui.docks["feature_maps"].raise_()
    qtbot.waitUntil(lambda: not top.isVisible() or top.visibleRegion().isEmpty())
    # 9x9 without padding on 8x8 maps: c2 has no output now
    window.document.set_params("c2", {"kernel_size": 9, "padding": "valid"})
    assert not top.choose("c2", 1)
    window.document.undo_stack.undo()
    window.document.set_param("c2", "filters", 4)
    assert top.choose("c2", 3) and top.channel.maximum() == 3 and top.channel.value() == 3
