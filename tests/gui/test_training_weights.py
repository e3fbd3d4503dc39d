"""Weights in the window: freezing, saving, loading where they fit, predicting a file."""

from __future__ import annotations

import numpy as np
import pytest
from training_support import configure, make_window, open_boxes, run_to_end

from cnnstudio.engine.weights import load_weights


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.training.controller.shutdown()


def test_a_frozen_layer_keeps_its_weights_while_the_rest_trains(qtbot, window):
    ui = window.training
    configure(ui, epochs=1)
    run_to_end(qtbot, ui)
    before = {k: v.copy() for k, v in ui.controller.weights.items()}
    window.document.set_trainable("c1", False)
    run_to_end(qtbot, ui)  # continues from the trained weights
    after = ui.controller.weights
    np.testing.assert_array_equal(after["c1/weight"], before["c1/weight"])
    np.testing.assert_array_equal(after["c1/bias"], before["c1/bias"])
    assert not np.array_equal(after["c2/weight"], before["c2/weight"])
    assert not np.array_equal(after["out/weight"], before["out/weight"])


def test_save_reset_load_round_trip(qtbot, window, tmp_path):
    ui = window.training
    configure(ui, epochs=1)
    run_to_end(qtbot, ui)
    trained = {k: v.copy() for k, v in ui.controller.weights.items()}
    path = tmp_path / "digits.npz"
    assert ui.weights.save_to(path)
    saved = load_weights(path)
    assert {k for k in saved if not k.startswith("_meta/")} == set(trained)
    # The dataset's class names travel with the weights, so `cnnstudio predict` and the
    # exports print names rather than "class 0".
    from cnnstudio.engine.weights import class_names_from_meta

    assert class_names_from_meta(saved) == ui.controller.class_names() != ()
    ui.controller.reset_weights()
    assert ui.controller.weights is None
    fresh = ui.controller.view_network().state_dict()
    assert not np.array_equal(fresh["c1/weight"], trained["c1/weight"])
    report = ui.weights.load_from(path)
    assert report is not None and set(report.loaded) == {"c1", "c2", "out"}
    assert not report.skipped
    for key, value in trained.items():
        np.testing.assert_array_equal(ui.controller.weights[key], value)
    np.testing.assert_array_equal(ui.controller.view_network().weights_of("c1")["weight"],
                                  trained["c1/weight"])
    assert open_boxes(window, "trainingReport")
    assert "loaded from digits.npz" in ui.panel.weights_label.text()


def test_load_where_fits_reports_skipped_layers(qtbot, window, tmp_path):
    """Transfer learning: the last layer changed shape, the conv layers still load."""
    ui = window.training
    path = tmp_path / "w.npz"
    assert ui.weights.save_to(path)
    window.document.set_param("out", "units", 5)
    report = ui.weights.load_from(path)
    assert report is not None
    assert set(report.loaded) == {"c1", "c2"}
    assert [lid for lid, _ in report.skipped] == ["out"]
    box = open_boxes(window, "trainingReport")[-1]
    assert "Skipped" in box.informativeText() and "out" in box.informativeText()


def test_an_unreadable_weights_file_is_explained_and_changes_nothing(qtbot, window, tmp_path):
    ui = window.training
    before = ui.controller.view_network().state_dict()
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    assert ui.weights.load_from(bad) is None
    box = open_boxes(window, "trainingProblem")[-1]
    assert "broken.npz" in box.text()
    after = ui.controller.view_network().state_dict()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value)


def test_predict_an_image_file(qtbot, window, tmp_path):
    pil = pytest.importorskip("PIL.Image")
    ui = window.training
    configure(ui, epochs=2)
    run_to_end(qtbot, ui)
    d = ui.controller.dataset
    image = (d.x_test[0, 0] * 255).astype(np.uint8)
    path = tmp_path / "digit.png"
    pil.fromarray(image).save(path)
    top = ui.weights.predict_file(path)
    assert top is not None and len(top) == 5
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
    expected = ui.controller.predict(d.x_test[:1])[0]
    assert top[0] == (d.class_names[int(np.argmax(expected))], pytest.approx(expected.max(),
                                                                             abs=0.02))
