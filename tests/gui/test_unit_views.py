"""What one unit sees: the receptive-field box on the sample and the effective field."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from training_support import make_window

from cnnstudio.core.receptive import Box
from cnnstudio.engine.introspect import effective_field
from cnnstudio.gui.training.feature_maps import describe_box


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot, template="digits_tiny")
    w.training.docks["feature_maps"].raise_()
    yield w
    w.training.shutdown()


def hover(grid, pos) -> None:
    """A mouse move over ``grid`` at ``pos`` (sent directly: QTest's synthetic moves are not
    delivered reliably after a click on the offscreen platform)."""
    event = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(pos), grid.mapToGlobal(QPointF(pos)),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(grid, event)


def _show_layer(window, lid: str):
    fm = window.training.feature_maps
    window.selection.set([lid])
    assert fm.layer_id() == lid
    return fm


def test_pointing_at_a_unit_shows_its_box_from_the_validator(qtbot, window):
    fm = _show_layer(window, "c2")
    rep = window.document.result.layers["c2"]
    _, h, w = rep.output_shape
    for channel, row, col in ((3, h - 1, w - 1), (5, h // 2, 1), (0, 0, 0)):
        hover(fm.grid, fm.grid.pixel_pos(channel, row, col))
        assert fm.sample_view.box() == rep.unit_box(row, col)
        assert f"channel {channel}, unit ({row}, {col}) sees" in fm.unit_caption.text()
    # The caption states the box, the part in padding called so.
    corner = rep.unit_box(0, 0)
    assert corner.top < 0  # a "same" conv's corner unit reaches into the padding
    assert describe_box(corner, 8, 8) in fm.unit_caption.text()
    assert "in padding" in fm.unit_caption.text()


def test_click_pins_the_unit_and_the_effective_field_is_its_gradient(qtbot, window):
    fm = _show_layer(window, "c2")
    rep = window.document.result.layers["c2"]
    qtbot.mouseClick(fm.grid, Qt.MouseButton.LeftButton, pos=fm.grid.pixel_pos(2, 1, 2))
    assert fm.pinned == ("c2", 2, 1, 2)
    assert fm.grid.marker() == (2, 1, 2)
    assert fm.sample_view.box() == rep.unit_box(1, 2)
    hover(fm.grid, fm.grid.pixel_pos(0, 0, 0))
    assert fm.sample_view.box() == rep.unit_box(0, 0)
    fm.grid.leaveEvent(None)  # the mouse leaves: back to the pinned unit
    assert fm.sample_view.box() == rep.unit_box(1, 2)
    fm.effective.setChecked(True)
    qtbot.waitUntil(fm.sample_view.has_heat, timeout=20_000)
    c = window.training.controller
    heat = effective_field(c.view_network(), c.prepare(c.sample[None])[0], "c2", 2, 1, 2)
    np.testing.assert_allclose(fm.sample_view._heat_values, heat, rtol=1e-5, atol=1e-7)
    inside = rep.unit_box(1, 2).clipped(8, 8)
    outside = heat.copy()
    outside[inside.top:inside.bottom + 1, inside.left:inside.right + 1] = 0
    assert not outside.any()
    fm.effective.setChecked(False)
    assert not fm.sample_view.has_heat()


def test_a_new_layer_or_sample_unpins(qtbot, window):
    fm = _show_layer(window, "c1")
    fm.pin(0, 2, 3)
    assert fm.pinned is not None
    window.selection.set(["c2"])
    assert fm.pinned is None and fm.sample_view.box() is None
    fm.pin(0, 1, 1)
    c = window.training.controller
    c.set_sample(c.dataset.x_train[5], "another")
    assert fm.pinned is None


def test_flat_layers_have_no_box(qtbot, window):
    fm = _show_layer(window, "out")
    qtbot.mouseClick(fm.grid, Qt.MouseButton.LeftButton, pos=fm.grid.pixel_pos(0, 0, 0))
    assert fm.pinned is None and fm.sample_view.box() is None


def test_describe_box_counts_the_padding():
    assert describe_box(Box(-1, 0, 3, 4), 8, 8) == (
        "rows -1..3, columns 0..4 (5x5); 1 row of it in padding (hatched)")
    assert describe_box(Box(6, 6, 9, 9), 8, 8).endswith("2 rows and 2 columns of it in padding "
                                                         "(hatched)")
    assert "padding" not in describe_box(Box(0, 0, 7, 7), 8, 8)
