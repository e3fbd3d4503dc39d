"""The epoch scrubber: weights after every epoch replayed in the views, within a budget."""

from __future__ import annotations

import numpy as np
import pytest
from training_support import RUN_TIMEOUT_MS, configure, make_window, run_to_end

from cnnstudio.engine.introspect import evaluate
from cnnstudio.engine.network import Network
from cnnstudio.gui.training.run import evaluation_split
from cnnstudio.gui.training.snapshots import EpochSnapshots


@pytest.fixture
def trained(qtbot):
    w = make_window(qtbot, template="digits_tiny")
    ui = w.training
    ui.docks["feature_maps"].raise_()
    configure(ui, epochs=3)
    run_to_end(qtbot, ui)
    yield w
    ui.shutdown()


def _fresh_maps(window, weights, layer: str = "c1") -> np.ndarray:
    c = window.training.controller
    net = Network(window.document.graph.copy(), np.random.default_rng(123))
    net.load_state_dict(weights)
    return net.activations(c.prepare(c.sample[None]), [layer])[layer][0]


def test_every_epoch_and_the_initial_weights_are_kept(trained):
    scrub = trained.training.scrubber
    assert scrub.epochs() == [0, 1, 2, 3]
    assert scrub.at_latest() and trained.training.controller.replay is None
    assert scrub.slider.isEnabled()


def _scrub_to(qtbot, scrub, fm, epoch: int) -> np.ndarray:
    """Move the slider and wait for the feature maps' redraw (deferred to the event loop)."""
    before = fm.shown_maps
    scrub.show_epoch(epoch)
    qtbot.waitUntil(lambda: fm.shown_maps is not before)
    return fm.shown_maps.copy()


def test_replayed_maps_are_those_of_a_network_loaded_with_that_epoch(qtbot, trained):
    ui = trained.training
    scrub, fm, c = ui.scrubber, ui.feature_maps, ui.controller
    ui.docks["feature_maps"].raise_()  # a covered tab draws when it comes to the front
    qtbot.waitUntil(lambda: fm.shown_maps is not None)
    last = fm.shown_maps.copy()
    live = c.evaluation  # of the final weights, made at the end of the run
    first = _scrub_to(qtbot, scrub, fm, 0)
    assert c.replay is not None
    assert not np.allclose(first, last)  # training changed what c1 computes
    np.testing.assert_allclose(first, _fresh_maps(trained, scrub.snapshots.weights(0)),
                               rtol=1e-5, atol=1e-6)
    _scrub_to(qtbot, scrub, fm, 2)
    np.testing.assert_allclose(fm.shown_maps, _fresh_maps(trained, scrub.snapshots.weights(2)),
                               rtol=1e-5, atol=1e-6)
    assert "Showing epoch 2 of 3" in scrub.label.text()
    # The confusion matrix follows (evaluated in the background) and comes back at the end.
    qtbot.waitUntil(lambda: c.evaluation is not live and not scrub.busy(),
                    timeout=RUN_TIMEOUT_MS)
    net = Network(trained.document.graph.copy(), np.random.default_rng(5))
    net.load_state_dict(scrub.snapshots.weights(2))
    x, y, _ = evaluation_split(c.dataset)
    np.testing.assert_allclose(c.evaluation.probabilities,
                               evaluate(net, c.prepare(x), y).probabilities, rtol=1e-5)
    _scrub_to(qtbot, scrub, fm, 3)
    assert c.replay is None and c.evaluation is live
    np.testing.assert_allclose(fm.shown_maps, last)


def test_filters_replay_too(qtbot, trained):
    ui = trained.training
    ui.docks["filters"].raise_()
    ui.scrubber.show_epoch(0)
    assert "initial weights of the last run" in ui.filters.info.text()
    ui.scrubber.show_epoch(3)
    assert "trained 3 epoch(s)" in ui.filters.info.text()


def test_use_these_weights_adopts_the_epoch(trained):
    ui = trained.training
    scrub, c = ui.scrubber, ui.controller
    scrub.show_epoch(1)
    assert scrub.use_button.isEnabled()
    scrub.use_button.click()
    assert c.replay is None and "epoch 1" in c.weights_note
    for key, arr in scrub.snapshots.weights(1).items():
        np.testing.assert_array_equal(c.weights[key], arr)
    assert "Using the weights of epoch 1" in scrub.label.text()


def test_a_changed_model_forgets_the_snapshots(trained):
    ui = trained.training
    ui.scrubber.show_epoch(1)
    trained.document.set_params("c1", {"filters": 8})
    assert ui.scrubber.epochs() == [] and ui.controller.replay is None
    assert not ui.scrubber.slider.isEnabled()


def test_snapshots_keep_every_kth_epoch_within_the_budget():
    one = {"w": np.zeros(1000, dtype=np.float32)}  # 4,000 bytes
    store = EpochSnapshots(budget_bytes=4000 * 5)
    for epoch in range(11):
        store.add(epoch, one)
    assert store.nbytes() <= store.budget_bytes
    assert store.stride == 4
    assert store.epochs() == [0, 4, 8, 10]
    assert "every 4th epoch" in store.note()
    store.clear()
    assert store.epochs() == [] and store.note() == ""


def test_reset_or_loaded_weights_end_the_replay_of_the_last_run(qtbot, trained, tmp_path):
    """The slider's last position stands for the current weights: once they are reset or
    loaded they are no epoch of the last run, and the line must not say they are."""
    ui = trained.training
    path = tmp_path / "w.npz"
    assert ui.weights.save_to(path)  # saved: nothing is asked
    ui.scrubber.show_epoch(1)
    assert ui.controller.replay is not None
    ui.reset_action.trigger()
    assert ui.controller.weights is None and ui.controller.replay is None
    assert ui.scrubber.epochs() == [] and not ui.scrubber.slider.isEnabled()
    assert "current weights (epoch" not in ui.scrubber.label.text()
    configure(ui, epochs=2)
    run_to_end(qtbot, ui)
    assert ui.scrubber.epochs() == [0, 1, 2]
    assert ui.weights.save_to(tmp_path / "w2.npz")
    assert ui.weights.load_from(path) is not None
    assert ui.scrubber.epochs() == []
    assert "loaded from w.npz" in ui.controller.weights_note
