"""The Training dock: choose data, see it, set the hyperparameters, run.

The run controls and progress line come first, so they stay in view however small the dock;
then the data: pick a dataset (built-in, or Open... one of the supported formats), look at a
few of its images with their labels, fix a mismatch between the data and the model with one
click; then the hyperparameters. When training cannot start the reason is written right under
the buttons.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.engine.datasets import Dataset
from cnnstudio.engine.datasets.specs import GenerationPlan, with_test_share
from cnnstudio.gui.training.controller import (
    IDLE,
    NO_DATASET,
    PAUSED,
    RUNNING,
    TrainingController,
    TrainingRefused,
)
from cnnstudio.gui.training.dialogs import show_problem
from cnnstudio.gui.training.hyperparams import HyperparamsForm
from cnnstudio.gui.training.imaging import image_to_rgb, rgb_to_qimage
from cnnstudio.gui.training.progress import BatchPoint, EpochPoint, RunOutcome, progress_text
from cnnstudio.gui.training.tile_grid import TileGrid

__all__ = ["BUILT_IN", "OPEN_FORMATS", "TrainingPanel", "sample_indices"]

#: (spec, title) of the datasets that need no file.
BUILT_IN = (("digits", "Digits 8x8 (built-in)"), ("shapes", "Shapes (built-in, generated)"))

#: Open... menu: (title, spec prefix, pick a folder?, file filter).
OPEN_FORMATS = (
    ("MNIST / Fashion-MNIST IDX folder\u2026", "mnist", True, ""),
    ("Keras mnist.npz\u2026", "mnist", False, "Keras MNIST (*.npz)"),
    ("CIFAR-10 binary folder\u2026", "cifar10", True, ""),
    ("Image folder (one sub-folder per class)\u2026", "folder", True, ""),
    ("NumPy .npz (x_train, y_train)\u2026", "npz", False, "NumPy arrays (*.npz)"),
)

#: Milliseconds between two updates of the progress bar and line while batches arrive.
PROGRESS_MS = 250
#: How many samples the grid shows.
SAMPLES_SHOWN = 20


def sample_indices(labels: np.ndarray, count: int) -> list[int]:
    """Training indices to show: classes in turn (first image of each class, then the second,
    ...), so every class appears even when the file is sorted by label."""
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    out: list[int] = []
    rank = 0
    while len(out) < count and any(rank < len(ix) for ix in per_class):
        out += [int(ix[rank]) for ix in per_class if rank < len(ix)]
        rank += 1
    return out[:count]


class TrainingPanel(QWidget):
    """The dock's content. ``start_action``/``pause_action``/``stop_action`` are shared with the
    Train menu and toolbar, so the run is controlled the same way from everywhere."""

    refused = Signal(str)

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        #: ``() -> spec`` of the dataset Train loads when none was chosen (set by the window).
        self.default_spec: Callable[[], str] | None = None
        self._start_when_loaded = False
        c = controller
        self.start_action = QAction("Train", self)
        self.start_action.setToolTip("Train the model on the chosen dataset")
        self.start_action.setShortcut("F5")
        self.pause_action = QAction("Pause", self)
        self.pause_action.setToolTip("Pause after the current batch; press again to resume")
        self.stop_action = QAction("Stop", self)
        self.stop_action.setToolTip("Stop after the current batch (the weights are kept)")
        self.start_action.triggered.connect(self.start)
        self.pause_action.triggered.connect(self.toggle_pause)
        self.stop_action.triggered.connect(c.stop)

        # dataset
        self.dataset_combo = QComboBox()
        for spec, title in BUILT_IN:
            self.dataset_combo.addItem(title, spec)
        self.dataset_combo.setToolTip("The images and labels to train on")
        # Elide long titles (and opened paths) rather than widen the dock past its width.
        self.dataset_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.dataset_combo.setMinimumContentsLength(12)
        self.dataset_combo.activated.connect(self._combo_chosen)
        open_button = QToolButton()
        open_button.setText("Open\u2026")
        open_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(open_button)
        for title, prefix, folder, pattern in OPEN_FORMATS:
            menu.addAction(title, lambda p=prefix, f=folder, pat=pattern: self._open(p, f, pat))
        open_button.setMenu(menu)
        self.open_button = open_button
        self.dataset_info = QLabel("No dataset")
        self.dataset_info.setWordWrap(True)
        # A folder without test/ has a held-out test split: its share is the user's to choose.
        self.test_share = QSpinBox()
        self.test_share.setRange(0, 90)
        self.test_share.setSuffix(" %")
        self.test_share.setKeyboardTracking(False)  # reload on Enter / arrows, not per digit
        self.test_share.setToolTip("Share of each class held out as the test split (stratified, "
                                   "seeded: the same images every time); 0 tests on nothing")
        self.test_share.valueChanged.connect(self._test_share_changed)
        self.test_share_row = QWidget()
        share_layout = QHBoxLayout(self.test_share_row)
        share_layout.setContentsMargins(0, 0, 0, 0)
        share_layout.addWidget(QLabel("Hold out for testing:"))
        share_layout.addWidget(self.test_share)
        share_layout.addStretch(1)
        self.test_share_row.setVisible(False)
        # A load in the background: how far it is, and a button to stop it.
        self.load_progress = QProgressBar()
        self.load_progress.setFormat("%v / %m images")
        self.load_progress.setVisible(False)
        self.stop_load_button = QPushButton("Stop")
        self.stop_load_button.setToolTip("Stop loading; the current dataset stays")
        self.stop_load_button.clicked.connect(c.cancel_loading)
        self.stop_load_button.setVisible(False)
        # Data too large to make without being asked: what it would be, and a way to make it.
        self.generate_button = QPushButton("Generate now")
        self.generate_button.setToolTip("Make the dataset now (Train makes it too)")
        self.generate_button.clicked.connect(self._generate_planned)
        self.generate_button.setVisible(False)
        self._plan: GenerationPlan | None = None
        self.samples = TileGrid(34)
        self.samples.set_selectable(True)
        self.samples.tileClicked.connect(self._sample_clicked)
        self._sample_ids: list[int] = []
        self.mismatch_label = QLabel()
        self.mismatch_label.setWordWrap(True)
        self.mismatch_label.setStyleSheet("color: #b8620b;")
        self.fix_input_button = QPushButton()
        self.fix_input_button.clicked.connect(lambda: self._apply_fix(0))
        self.fix_units_button = QPushButton()
        self.fix_units_button.clicked.connect(lambda: self._apply_fix(1))
        self.fit_data_button = QPushButton()
        self.fit_data_button.clicked.connect(c.fit_data_to_input)
        self._fixes: list = []
        self._last_progress = ""
        self._pending: BatchPoint | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._show_pending)

        data_box = QGroupBox("Dataset")
        row = QHBoxLayout()
        row.addWidget(self.dataset_combo, 1)
        row.addWidget(open_button)
        dl = QVBoxLayout(data_box)
        dl.addLayout(row)
        dl.addWidget(self.dataset_info)
        load_row = QHBoxLayout()
        load_row.addWidget(self.load_progress, 1)
        load_row.addWidget(self.stop_load_button)
        load_row.addWidget(self.generate_button)
        dl.addLayout(load_row)
        dl.addWidget(self.test_share_row)
        dl.addWidget(self.samples)

        self.form = HyperparamsForm()
        hp_box = QGroupBox("Hyperparameters")
        QVBoxLayout(hp_box).addWidget(self.form)

        # run
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress_label = QLabel("Ready.")
        self.progress_label.setWordWrap(True)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet("color: #c0392b;")
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.reset_button = QPushButton("Reset weights")
        self.reset_button.setToolTip("Start the next run from fresh random weights instead of "
                                     "the current ones")
        #: What the button does; the window asks about unsaved trained weights first.
        self.reset_weights: Callable[[], None] = c.reset_weights
        self.reset_button.clicked.connect(lambda: self.reset_weights())
        buttons = QHBoxLayout()
        for action in (self.start_action, self.pause_action, self.stop_action):
            b = QToolButton()
            b.setDefaultAction(action)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setMinimumWidth(70)
            buttons.addWidget(b)
        buttons.addStretch(1)
        run_box = QGroupBox("Run")
        rl = QVBoxLayout(run_box)
        rl.addLayout(buttons)
        rl.addWidget(self.progress)
        rl.addWidget(self.progress_label)
        rl.addWidget(self.reason_label)
        # The fixes sit right under the message that needs them, not below the sample grid.
        rl.addWidget(self.mismatch_label)
        for b in (self.fix_input_button, self.fit_data_button, self.fix_units_button):
            rl.addWidget(b)
        wrow = QHBoxLayout()
        wrow.addWidget(self.weights_label, 1)
        wrow.addWidget(self.reset_button)
        rl.addLayout(wrow)
        #: Where other training views add a line to the run box (the epoch scrubber).
        self.run_layout = rl

        inner = QWidget()
        col = QVBoxLayout(inner)
        col.addWidget(run_box)
        col.addWidget(data_box)
        col.addWidget(hp_box)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        c.datasetLoading.connect(self._loading)
        c.datasetChanged.connect(self._dataset_changed)
        c.datasetFailed.connect(self._dataset_failed)
        c.datasetProgress.connect(self._load_progressed)
        c.loadingCancelled.connect(self._loading_cancelled)
        c.stateChanged.connect(lambda _s: self.refresh())
        c.runStarted.connect(self._run_started)
        c.batches.connect(self._batches)
        c.epochEnded.connect(self._epoch)
        c.runFinished.connect(self._finished)
        c.runFailed.connect(self._failed)
        c.alertsRaised.connect(self._alerts)
        c.weightsChanged.connect(self.refresh)
        c.document.changed.connect(lambda _r: self.refresh())
        c.document.changed.connect(self._replan)
        self.refresh()

    # -- dataset ------------------------------------------------------------------------------
    def choose_dataset(self, spec: str) -> None:
        """Select (adding if needed) and load ``spec`` in the background."""
        index = self.dataset_combo.findData(spec)
        if index < 0:
            self.dataset_combo.addItem(spec, spec)
            index = self.dataset_combo.count() - 1
        self.dataset_combo.setCurrentIndex(index)
        self.controller.open_dataset_async(spec)

    def _test_share_changed(self, percent: int) -> None:
        spec = self.controller.dataset_spec
        if spec.partition(":")[0].strip().lower() == "folder":
            self.choose_dataset(with_test_share(spec, percent / 100))

    def _combo_chosen(self, index: int) -> None:
        self.controller.open_dataset_async(self.dataset_combo.itemData(index))

    def _open(self, prefix: str, folder: bool, pattern: str) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(self, "Open dataset folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Open dataset file", "", pattern)
        if path:
            self.choose_dataset(f"{prefix}:{path}")

    def show_plan(self, plan: GenerationPlan | None) -> None:
        """Say what ``plan`` would generate instead of generating it (too large to make before
        it is needed): Train, or Generate now, makes it. None forgets a plan shown before."""
        self._plan = plan
        index = self.dataset_combo.findData(plan.spec) if plan is not None else -1
        if index >= 0:
            self.dataset_combo.setCurrentIndex(index)
        if not self.controller.is_loading():
            self._show_idle_info()

    def _replan(self, _result: object = None) -> None:
        """An edited Input changes what the plan would make: say what it makes now."""
        if self._plan is not None and self.controller.dataset is None:
            self.show_plan(self.controller.plan_for(self._plan.spec))

    def _generate_planned(self) -> None:
        if self._plan is not None:
            self.choose_dataset(self._plan.spec)

    def _show_idle_info(self) -> None:
        """The dataset line when nothing loads: the dataset, else the plan, else none."""
        d, plan = self.controller.dataset, self._plan
        self._show_loading(False)
        self.generate_button.setVisible(d is None and plan is not None and plan.refusal is None)
        if d is not None:
            self.dataset_info.setText(_description(d))
        elif plan is not None and plan.refusal is not None:
            self.dataset_info.setText(html.escape(plan.refusal))
        elif plan is not None:
            self.dataset_info.setText(
                f"<b>{html.escape(plan.spec)}</b> for this model: {plan.describe()}, made "
                "when it is needed: Train generates it first, or Generate now.")
        else:
            self.dataset_info.setText("No dataset")

    def _show_loading(self, loading: bool) -> None:
        self.load_progress.setVisible(loading)
        self.stop_load_button.setVisible(loading)
        if loading:
            self.generate_button.setVisible(False)
            self.load_progress.setRange(0, 0)  # busy until the first images are counted

    def _loading(self, what: str) -> None:
        self.dataset_info.setText(html.escape(what))
        self._show_loading(True)
        self.samples.clear("")
        self.refresh()

    def _load_progressed(self, done: int, total: int) -> None:
        self.load_progress.setRange(0, total)
        self.load_progress.setValue(done)

    def _back_to_current_dataset(self) -> None:
        """After a load that was stopped or failed: the dataset still in use, shown as it was
        before the load began (its choice, description and sample images)."""
        self._start_when_loaded = False
        self._show_idle_info()
        d = self.controller.dataset
        if d is not None:
            self.dataset_combo.setCurrentIndex(max(0, self.dataset_combo.findData(
                self.controller.dataset_spec)))
            self._dataset_changed(d)  # its samples again

    def _loading_cancelled(self) -> None:
        self._back_to_current_dataset()
        self.refresh()

    def _dataset_failed(self, message: str) -> None:
        self._back_to_current_dataset()
        show_problem(self, "Cannot open the dataset", message,
                     "Check that the path holds one of the formats in Open\u2026; the current "
                     "dataset is unchanged.")
        self.refresh()

    def _dataset_changed(self, dataset: Dataset | None) -> None:
        self.test_share_row.setVisible(dataset is not None and dataset.held_out is not None)
        if dataset is not None and dataset.held_out is not None:
            self.test_share.blockSignals(True)
            self.test_share.setValue(round(dataset.held_out * 100))
            self.test_share.blockSignals(False)
        self._show_loading(False)
        if dataset is None:
            self._show_idle_info()
            self.samples.clear()
            self.refresh()
            return
        self._plan = None
        self.generate_button.setVisible(False)
        self.dataset_info.setText(_description(dataset))
        self.dataset_info.setToolTip(dataset.source)
        self._sample_ids = sample_indices(dataset.y_train, SAMPLES_SHOWN)
        images = [rgb_to_qimage(image_to_rgb(dataset.x_train[i])) for i in self._sample_ids]
        names = [dataset.class_names[int(dataset.y_train[i])] for i in self._sample_ids]
        tips = [f"training image {i}: {n}\nclick: show its feature maps"
                for i, n in zip(self._sample_ids, names, strict=True)]
        self.samples.set_tiles(images, names, tips)
        self.samples.set_selected(0 if images else None)
        self.refresh()

    def _sample_clicked(self, tile: int) -> None:
        d = self.controller.dataset
        if d is None or tile >= len(self._sample_ids):
            return
        i = self._sample_ids[tile]
        self.controller.set_sample(d.x_train[i], self.controller.describe_train_sample(i))

    def _apply_fix(self, which: int) -> None:
        if which < len(self._fixes):
            fix = self._fixes[which]
            self.controller.document.set_params(fix.layer_id, fix.params)

    # -- run ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start a run with the form's settings, or say why not. Without a dataset, the default
        one is loaded first and the run starts when it is there: one click trains."""
        c = self.controller
        if c.state == IDLE and c.is_loading():
            self._start_when_loaded = True  # pressed while the data loads: start when it is in
            return
        if c.dataset is None and self.default_spec is not None and c.state == IDLE:
            why = c.memory_refusal(self.form.settings())
            if why:  # said now, not after generating gigabytes of data for it
                self.reason_label.setText("Cannot train: " + why)
                self.reason_label.setVisible(True)
                self.refused.emit(why)
                return
            self._start_when_loaded = True
            self.choose_dataset(self.default_spec())
            return
        try:
            self.controller.start(self.form.settings())
        except TrainingRefused as exc:
            self.reason_label.setText(str(exc))
            self.refused.emit(str(exc))

    def waiting_for_data(self) -> bool:
        """Train was pressed and the run starts once the dataset being loaded is in."""
        return self._start_when_loaded

    def toggle_pause(self) -> None:
        if self.controller.state == PAUSED:
            self.controller.resume()
        else:
            self.controller.pause()

    def _run_started(self, epochs: int) -> None:
        self.progress.setValue(0)
        self.progress_label.setText(f"Starting {epochs} epoch(s)\u2026")

    def _batches(self, points: tuple[BatchPoint, ...]) -> None:
        """Keep the newest point; the bar and line follow a few times a second. Each new text
        re-lays out the dock and each new percent repaints both progress bars at once, which
        at the worker's 20 reports a second was the panel's share of a busy event loop."""
        self._pending = points[-1]
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _show_pending(self) -> None:
        p, self._pending = self._pending, None
        if p is None:
            return
        self._set_progress(p.fraction_done)
        self._last_progress = progress_text(p)
        if self.controller.state == RUNNING:
            self.progress_label.setText(self._last_progress)

    def _set_progress(self, fraction: float) -> None:
        """Whole percents only: QProgressBar repaints at once on every new value."""
        value = int(100 * fraction)
        if value != self.progress.value():
            self.progress.setValue(value)

    def _epoch(self, p: EpochPoint) -> None:
        self._show_pending()
        self._set_progress(p.epoch / max(p.epochs, 1))

    def _finished(self, outcome: RunOutcome) -> None:
        self._progress_timer.stop()
        self._pending = None
        ev = outcome.evaluation
        acc = f"; {ev.accuracy:.1%} correct on the {outcome.evaluated_on} images" if ev else ""
        how = "Stopped" if outcome.stopped else "Finished"
        n = outcome.epochs_done
        self.progress_label.setText(f"{how} after {n} epoch{'s' if n != 1 else ''}{acc}.")
        # A stopped run's bar goes back to empty (the toolbar's follows): a bar left at 40%
        # reads as a run still going.
        self._set_progress(0.0 if outcome.stopped else 1.0)

    def _alerts(self, alerts: tuple) -> None:
        """A run paused by an alert says why where its progress was."""
        stop = next((a for a in alerts if a.stops), None)
        if stop is not None:
            self._progress_timer.stop()
            self._pending = None
            self._last_progress = (f"{stop.kind} (epoch {stop.epoch}, batch {stop.batch}): "
                                   f"{stop.message} See Health for the fix.")
            self.refresh()

    def _failed(self, message: str) -> None:
        self._progress_timer.stop()
        self._pending = None
        self.progress_label.setText("Training stopped: " + message)
        show_problem(self, "Training stopped", message,
                     "The model and the weights of the last finished epoch are kept; change "
                     "the settings and train again.")

    def refresh(self) -> None:
        """Enable what can be done now, show the mismatch fixes and why Train is refused."""
        c = self.controller
        state = c.state
        self.pause_action.setEnabled(state in (RUNNING, PAUSED))
        self.pause_action.setText("Resume" if state == PAUSED else "Pause")
        self.stop_action.setEnabled(state in (RUNNING, PAUSED))
        idle = state == IDLE
        for w in (self.form, self.dataset_combo, self.open_button, self.reset_button):
            w.setEnabled(idle)
        if state == PAUSED:
            self.progress_label.setText("Paused — " + self._last_progress)
        elif state == RUNNING and self._last_progress:
            self.progress_label.setText(self._last_progress)
        self.weights_label.setText("Weights: " + c.weights_note + c.weights_caveat)
        self._fixes = []
        problems = c.mismatches() if idle else []
        # The first mismatch is the red "Cannot train" line above; the others are listed here.
        others = [m.message for m in problems[1:]]
        self.mismatch_label.setText("\n".join(others))
        self.mismatch_label.setVisible(bool(others))
        input_fix = next((m for m in problems if m.params and "channels" in m.params), None)
        units_fix = next((m for m in problems if m.params and "units" in m.params), None)
        self._fixes = [input_fix, units_fix]
        for button, fix in ((self.fix_input_button, input_fix),
                            (self.fix_units_button, units_fix)):
            button.setVisible(fix is not None)
            if fix is not None:
                button.setText(fix.fix_label)
        target = c.input_geometry_text()
        self.fit_data_button.setVisible(input_fix is not None and bool(target))
        self.fit_data_button.setText(f"Resize the images to {target} instead")
        reason = c.refusal() if idle else None
        if (reason == NO_DATASET and self.default_spec is not None) or (idle and c.is_loading()):
            reason = None  # Train loads the default dataset first, or waits for the loading one
        self.start_action.setEnabled(idle and reason is None and not self._start_when_loaded)
        self.reason_label.setText("" if reason is None else "Cannot train: " + reason)
        self.reason_label.setVisible(reason is not None)
        self.start_action.setToolTip(reason or "Train the model on the chosen dataset")
        if self._start_when_loaded and idle and c.dataset is not None and not c.is_loading():
            self._start_when_loaded = False  # the Train press that asked for the data
            QTimer.singleShot(0, self.start)


def _description(dataset: Dataset) -> str:
    """The dataset line of the panel (rich text): name, classes, image size, images."""
    c, h, w = dataset.image_shape
    kind = "grey" if c == 1 else "colour"
    return (f"<b>{html.escape(dataset.name)}</b>: {dataset.num_classes} classes, {c}x{h}x{w} "
            f"({kind}), {len(dataset.x_train):,} training / {len(dataset.x_test):,} test images"
            + (f"; {_split_text(dataset)}" if dataset.split else ""))


def _split_text(dataset: Dataset) -> str:
    """Where the test images come from; a held-out share is set by the spin box below it,
    so the CLI's "change with folder:PATH,test=..." hint is left out."""
    return html.escape(dataset.split.split(" (seed")[0] if dataset.held_out is not None
                       else dataset.split)
