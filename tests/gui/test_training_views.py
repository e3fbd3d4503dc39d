"""The training views without a run: dataset grid, mismatch fixes, refusal, feature maps,
filters and the confusion matrix's cells."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from training_support import make_window, small_digits

from cnnstudio.engine.datasets import Dataset
from cnnstudio.gui.training.controller import TrainingRefused
from cnnstudio.gui.training.panel import sample_indices


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.training.controller.shutdown()


def test_sample_grid_shows_every_class_and_picks_the_feature_map_sample(qtbot, window):
    ui = window.training
    grid = ui.panel.samples
    assert grid.count() == 20
    assert sorted(set(grid.captions())) == [str(d) for d in range(10)]
    tile = 13
    rect = grid._tile_rect(tile)
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=rect.center())
    index = sample_indices(ui.controller.dataset.y_train, 20)[tile]
    assert np.array_equal(ui.controller.sample, ui.controller.dataset.x_train[index])
    assert ui.feature_maps.sample_caption.text().startswith(f"training image {index}")


def test_sample_indices_interleave_classes():
    labels = np.array([0, 0, 0, 1, 1, 2])
    assert sample_indices(labels, 5) == [0, 3, 5, 1, 4]


def test_feature_maps_follow_the_canvas_selection(qtbot, window):
    ui = window.training
    fm = ui.feature_maps
    ui.docks["feature_maps"].raise_()
    assert fm.layer_id() == "c1"  # the first conv layer by default
    qtbot.waitUntil(lambda: fm.grid.count() == 16)  # one tile per channel of Conv 16@3x3
    assert fm.grid.captions()[:3] == ["0", "1", "2"]
    window.selection.set(["c2"])
    assert fm.layer_id() == "c2" and fm.grid.count() == 32
    window.selection.set(["out"])
    assert fm.grid.count() == 1 and "10 values" in fm.grid.captions()[0]
    fm.follow.setChecked(False)
    window.selection.set(["c1"])
    assert fm.layer_id() == "out"


def test_feature_maps_match_the_engine_for_the_sample(window):
    """The tiles show exactly the network's activations, each scaled on its own."""
    ui = window.training
    c = ui.controller
    out = c.activations(c.sample, "c1")
    expected = c.view_network().activations(c.prepare(c.sample[None]), ["c1"])["c1"][0]
    np.testing.assert_allclose(out, expected)
    assert out.shape == (16, 8, 8)


def test_filters_show_the_first_conv_kernels(qtbot, window):
    f = window.training.filters
    window.training.docks["filters"].raise_()
    assert f.layer_id() == "c1"
    qtbot.waitUntil(lambda: f.grid.count() == 16)
    assert "3x3 over 1 channel" in f.info.text()


def test_refused_with_the_reason_while_the_model_has_errors(qtbot, window):
    ui = window.training
    assert ui.panel.start_action.isEnabled()
    window.document.set_params("c1", {"padding": "valid", "kernel_size": 9})  # > 8x8 input
    assert not ui.panel.start_action.isEnabled()
    assert "The model has errors: c1" in ui.panel.reason_label.text()
    with pytest.raises(TrainingRefused, match="errors"):
        ui.controller.start(ui.panel.form.settings())
    window.document.undo_stack.undo()
    assert ui.panel.start_action.isEnabled() and not ui.panel.reason_label.isVisible()


def test_mismatch_offers_one_undoable_fix_each(qtbot):
    """Digits (1x8x8, 10 classes) on the shapes CNN: fix the Input, then the last Dense."""
    w = make_window(qtbot, template="shapes_cnn")
    ui = w.training
    doc = w.document
    panel = ui.panel
    assert not panel.start_action.isEnabled()
    assert panel.fix_input_button.isVisible()
    assert panel.fix_input_button.text() == "Set Input to 1x8x8"
    depth = doc.undo_stack.count()
    panel.fix_input_button.click()
    params = doc.graph.layer(doc.result.input_ids[0]).params
    assert (params["channels"], params["height"], params["width"]) == (1, 8, 8)
    assert doc.undo_stack.count() == depth + 1  # one edit
    doc.undo_stack.undo()
    assert doc.graph.layer(doc.result.input_ids[0]).params["height"] != 8
    w.training.controller.shutdown()


def test_units_mismatch_fix(qtbot):
    data = small_digits()
    five = data.y_train < 5
    test5 = data.y_test < 5
    five_classes = Dataset(data.x_train[five], data.y_train[five], data.x_test[test5],
                           data.y_test[test5], data.class_names[:5], "digits 0-4", "test")
    w = make_window(qtbot, dataset=five_classes)
    panel = w.training.panel
    assert panel.fix_units_button.isVisible()
    assert panel.fix_units_button.text() == "Set 'out' units to 5"
    panel.fix_units_button.click()
    assert w.document.graph.layer("out").params["units"] == 5
    assert panel.start_action.isEnabled()
    w.training.controller.shutdown()


def test_resize_data_to_the_input_instead(qtbot):
    w = make_window(qtbot, template="shapes_cnn")
    ui = w.training
    c, h, wd = (w.document.graph.layer(w.document.result.input_ids[0]).params[k]
                for k in ("channels", "height", "width"))
    ui.panel.fit_data_button.click()
    assert ui.controller.is_loading()  # in the background: the window stays usable
    qtbot.waitUntil(lambda: not ui.controller.is_loading(), timeout=30_000)
    assert ui.controller.dataset.image_shape == (c, h, wd)
    assert not ui.panel.fix_input_button.isVisible()
    w.training.controller.shutdown()


def test_confusion_cells_open_their_images_most_confident_first(qtbot, window):
    ui = window.training
    ui.docks["confusion"].raise_()
    ev = ui.controller.evaluate_now()
    view = ui.confusion
    assert view.table.rowCount() == 10 and view.table.columnCount() == 10
    m = ev.confusion()
    assert sum(int(view.table.item(i, j).text()) for i in range(10) for j in range(10)) == 120
    i, j = np.unravel_index(np.argmax(m), m.shape)
    view.open_cell(int(i), int(j))
    assert view.cell_image_count() == min(int(m[i, j]), 60)
    conf = [float(cap.split()[0].rstrip("%")) for cap in view.images.captions()]
    assert conf == sorted(conf, reverse=True)
