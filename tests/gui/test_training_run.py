"""A real training run driven from the Training panel, in a bare window with a Document.

Uses a slice of the built-in digits and the digits_tiny template so a run takes seconds on a
busy 2-core machine, while every part (worker thread, signals, curves, feature maps, weights)
is the real one.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QElapsedTimer, QTimer
from training_support import (
    RUN_TIMEOUT_MS,
    configure,
    make_window,
    run_to_end,
    side_by_side,
)

from cnnstudio.gui.training.progress import EpochPoint


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.training.controller.shutdown()


def test_run_from_panel_fills_curves_and_unlocks(qtbot, window):
    ui = window.training
    configure(ui, epochs=2)
    epochs: list[EpochPoint] = []
    ui.controller.epochEnded.connect(epochs.append)
    finished: list = []
    # Recorded from the start: a two-epoch run can end while the first epoch's signal is being
    # waited for, and a wait set up after that would miss it.
    ui.controller.runFinished.connect(finished.append)
    assert ui.panel.start_action.isEnabled()
    ui.panel.start_action.trigger()
    assert window.document.locked
    assert not ui.panel.start_action.isEnabled() and ui.panel.stop_action.isEnabled()
    qtbot.waitUntil(lambda: bool(finished), timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: ui.controller.state == "idle", timeout=RUN_TIMEOUT_MS)
    outcome = finished[0]
    assert not window.document.locked
    assert [e.epoch for e in epochs] == [1, 2]
    batches_per_epoch = int(np.ceil(288 / 32))  # 10% of 320 held out for validation
    data = ui.curves.curve_data()
    assert len(data["train loss (batch)"][0]) == 2 * batches_per_epoch
    assert len(data["train loss (smoothed)"][1]) == 2 * batches_per_epoch
    assert list(data["validation loss"][0]) == [1, 2]
    assert np.allclose(data["validation accuracy"][1], [100 * e.val_accuracy for e in epochs])
    assert epochs[1].loss < epochs[0].loss  # it learns
    assert outcome.evaluation is not None and len(outcome.evaluation.labels) == 120
    assert "Finished after 2 epochs" in ui.panel.progress_label.text()
    ui.docks["confusion"].raise_()  # a covered tab draws when it comes to the front
    qtbot.waitUntil(lambda: ui.confusion.table.rowCount() == 10)


def _batch_total(counts: list[int]) -> int:
    return sum(counts)


def test_pause_resume_stop(qtbot, window):
    ui = window.training
    c = ui.controller
    configure(ui, epochs=30, batch=16)
    counts: list[int] = []
    c.batches.connect(lambda pts: counts.append(len(pts)))
    with qtbot.waitSignal(c.batches, timeout=RUN_TIMEOUT_MS):
        ui.panel.start_action.trigger()
    ui.panel.pause_action.trigger()
    assert c.state == "paused" and ui.panel.pause_action.text() == "Resume"
    assert "Paused" in ui.panel.progress_label.text()
    qtbot.wait(1500)  # the batch in flight when pausing may still report
    frozen = _batch_total(counts)
    qtbot.wait(1000)
    assert _batch_total(counts) == frozen, "batches kept coming while paused"
    ui.panel.pause_action.trigger()
    assert c.state == "running"
    qtbot.waitUntil(lambda: _batch_total(counts) > frozen, timeout=RUN_TIMEOUT_MS)
    timer = QElapsedTimer()
    with qtbot.waitSignal(c.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        timer.start()
        ui.panel.stop_action.trigger()
    assert blocker.args[0].stopped
    assert timer.elapsed() < 10_000  # within a batch (plus the small test evaluation)
    qtbot.waitUntil(lambda: c.state == "idle", timeout=RUN_TIMEOUT_MS)
    assert not window.document.locked
    assert "Stopped" in ui.panel.progress_label.text()
    assert ui.panel.start_action.isEnabled()


def test_event_loop_never_stalls_while_training(qtbot, window):
    """A 10 ms QTimer probe: the longest gap between its ticks from the first batch report to
    the end of the run, with the curves, the feature maps (redrawn each epoch, a unit pinned
    with its effective field) and Why (saliency and Grad-CAM recomputed each epoch) on screen."""
    ui = window.training
    configure(ui, epochs=8, batch=16)
    side_by_side(window, [ui.docks[k] for k in ("curves", "feature_maps", "why")])
    qtbot.waitUntil(lambda: ui.feature_maps.shown_maps is not None)  # on screen: drawn
    ui.feature_maps.pin(0, 2, 3)
    ui.feature_maps.effective.setChecked(True)
    gaps: list[float] = []
    watching = False
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setInterval(10)

    def tick() -> None:
        gap = clock.restart()
        if watching:
            gaps.append(gap)

    def first_batch(_points: object) -> None:
        nonlocal watching
        if not watching:
            watching = True
            clock.restart()

    def scrub_back(point) -> None:  # replay an earlier epoch while the run goes on
        if point.epoch == 4:
            ui.scrubber.show_epoch(2)

    ui.controller.batches.connect(first_batch)
    ui.controller.epochEnded.connect(scrub_back)
    ui.controller.runFinished.connect(lambda _o: probe.stop())
    probe.timeout.connect(tick)
    clock.start()
    probe.start()
    run_to_end(qtbot, ui)
    assert ui.feature_maps.isVisible() and ui.curves.isVisible() and ui.why.isVisible()
    assert ui.feature_maps.sample_view.has_heat() and ui.why.result is not None
    assert ui.scrubber.epochs() == list(range(9))
    assert len(gaps) > 20  # the probe watched a run
    worst = max(gaps)
    assert worst < 100, f"the event loop stalled for {worst} ms"


def _longest_gap_while(qtbot, busy, start) -> float:
    """Milliseconds of the longest gap between ticks of a 10 ms QTimer probe from ``start()``
    until ``busy()`` is false."""
    gaps: list[float] = []
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: gaps.append(clock.restart()))
    clock.start()
    probe.start()
    start()
    qtbot.waitUntil(lambda: not busy(), timeout=RUN_TIMEOUT_MS)
    probe.stop()
    assert len(gaps) > 5
    return max(gaps)


def test_event_loop_never_stalls_while_searching_top_patches(qtbot):
    """The search scores every position of 1,797 images in the background while the feature
    maps (a unit pinned, its effective field on) and Why are on screen."""
    from cnnstudio.engine.datasets import load_dataset

    w = make_window(qtbot, dataset=load_dataset("digits"))
    ui = w.training
    side_by_side(w, [ui.docks[k] for k in ("top_patches", "feature_maps", "why")])
    qtbot.waitUntil(lambda: ui.feature_maps.shown_maps is not None)  # on screen: drawn
    ui.feature_maps.pin(0, 2, 3)
    ui.feature_maps.effective.setChecked(True)
    ui.top_patches.choose("c2", 3)
    # Let the split docks lay out and draw first: the probe measures the search, not that.
    qtbot.waitUntil(lambda: ui.why.result is not None and ui.feature_maps.sample_view.has_heat(),
                    timeout=RUN_TIMEOUT_MS)
    qtbot.wait(200)
    worst = _longest_gap_while(qtbot, ui.top_patches.busy, ui.top_patches.find)
    assert len(ui.top_patches.found) == 9 and ui.top_patches.isVisible()
    assert worst < 100, f"the event loop stalled for {worst} ms"
    ui.shutdown()
