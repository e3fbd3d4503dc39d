"""Why this prediction: saliency and Grad-CAM for the sample, from any source."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from training_support import make_window

from cnnstudio.engine.introspect import class_score_gradients, explain_prediction

WAIT_MS = 30_000


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot, template="digits_tiny")
    w.training.docks["why"].raise_()
    yield w
    w.training.shutdown()


def _explained(qtbot, why):
    qtbot.waitUntil(lambda: why.result is not None and not why.busy(), timeout=WAIT_MS)
    return why.result


def test_explains_the_predicted_class_of_the_sample(qtbot, window):
    ui = window.training
    why, c = ui.why, ui.controller
    result = _explained(qtbot, why)
    x = c.prepare(c.sample[None])
    net = c.view_network()
    expected = explain_prediction(net, x[0])
    assert result.class_index == result.predicted == expected.predicted
    np.testing.assert_allclose(result.saliency, expected.saliency, rtol=1e-5, atol=1e-8)
    grads = class_score_gradients(net, x, result.class_index)
    np.testing.assert_allclose(result.saliency, np.abs(grads.input[0]).max(axis=0), rtol=1e-5,
                               atol=1e-8)
    assert result.cam_layer == "c2"
    assert why.saliency_view.has_heat() and why.cam_view.has_heat()
    assert "Explaining the predicted class" in why.info.text()
    assert "Grad-CAM</b> on c2 (8x8)" in why.cam_title.text()


def test_any_class_can_be_picked(qtbot, window):
    why = window.training.why
    first = _explained(qtbot, why)
    other = (first.predicted + 1) % 10
    why.set_class(other)
    qtbot.waitUntil(lambda: why.result is not None and why.result.class_index == other,
                    timeout=WAIT_MS)
    assert f"(predicted: {first.predicted})" in why.info.text()
    assert not np.allclose(why.result.saliency, first.saliency)


def test_a_confusion_image_becomes_the_explained_sample(qtbot, window):
    ui = window.training
    c = ui.controller
    c.evaluate_now()
    ui.docks["confusion"].raise_()
    conf = ui.confusion
    m = c.evaluation.confusion()
    true, predicted = (int(v[0]) for v in np.nonzero(m))
    conf.open_cell(true, predicted)
    assert conf.images.count() == min(m[true, predicted], 60)
    rect = conf.images._tile_rect(0)
    qtbot.mouseClick(conf.images, Qt.MouseButton.LeftButton, pos=rect.center())
    i = int(conf.shown_indices[0])
    assert c.sample_caption.startswith(
        f"{c.evaluated_on} image {i}: true {true}, predicted {predicted}")
    np.testing.assert_array_equal(c.sample, c.dataset.x_test[i])
    ui.docks["why"].raise_()
    qtbot.waitUntil(lambda: ui.why.result is not None and f"image {i}" in ui.why.info.text(),
                    timeout=WAIT_MS)
    assert ui.why.result.predicted == predicted == int(c.evaluation.predictions[i])


def test_an_image_file_can_be_explained(qtbot, window, tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    path = tmp_path / "seven.png"
    Image.fromarray((window.training.controller.dataset.x_train[7, 0] * 255).astype(
        np.uint8)).save(path)
    why = window.training.why
    assert why.load_image(str(path))
    qtbot.waitUntil(lambda: why.result is not None and "seven.png" in why.info.text(),
                    timeout=WAIT_MS)


def test_an_unreadable_image_is_refused_with_a_message(qtbot, window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("cnnstudio.gui.training.sample_file.show_problem",
                        lambda _w, title, text, hint="": shown.append((title, text)))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    assert not window.training.why.load_image(str(bad))
    assert shown and "broken.png" in shown[0][1]
