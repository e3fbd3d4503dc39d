"""Sanity checks in the window: run the engine's checks off the GUI thread, show each verdict
with its numbers, plot the learning-rate range test and offer its rate.

The checks work on copies (the graph, the current weights), so the model and the weights are
exactly as they were whether the checks pass, fail or are stopped midway. They refuse to start
for the same reasons, in the same words, as Train does (``TrainingController.refusal``).
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QObject, Qt, Signal, Slot  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.appearance import ACCENT_COLOR, WARNING_COLOR  # noqa: E402
from cnnstudio.engine.control import TrainingControl  # noqa: E402
from cnnstudio.engine.sanity import (  # noqa: E402
    CHECK_NAMES,
    CheckProgress,
    CheckResult,
    LRSweep,
    run_checks,
)
from cnnstudio.gui.training.controller import TrainingController, TrainingRefused  # noqa: E402
from cnnstudio.gui.training.hyperparams import HyperparamsForm, RunSettings  # noqa: E402
from cnnstudio.gui.training.worker import BackgroundJob  # noqa: E402

__all__ = ["SanityDialog", "SanityRunner"]


class SanityRunner(QObject):
    """One run of the checks in a background thread. ``event`` carries each CheckProgress,
    CheckResult and LRSweep (queued to the GUI thread); ``ended(stopped)`` or ``failed``."""

    event = Signal(object)
    ended = Signal(bool)
    failed = Signal(str)

    def __init__(self, controller: TrainingController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._job: BackgroundJob | None = None
        self._control: TrainingControl | None = None
        self._outcome: tuple[bool, str] = (False, "")

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self, settings: RunSettings) -> None:
        """Start the checks with the form's optimizer, rate, batch size and seed; raises
        TrainingRefused with the reason Train would give."""
        c = self.controller
        if self.running:
            raise TrainingRefused("The checks are already running.")
        config = c.checked_config(settings)
        assert c.dataset is not None
        graph = c.document.graph.copy()
        weights = {k: v.copy() for k, v in c.weights.items()} if c.weights else None
        pretrained = frozenset(k.split("/", 1)[0] for k in weights) if weights else frozenset()
        normalizer = (c.normalizer if c.normalizer is not None
                      and c.normalizer.channels == c.dataset.image_shape[0] else None)
        dataset = c.dataset
        control = TrainingControl()

        def work() -> bool:
            for e in run_checks(graph, dataset, config.optimizer, control, weights, pretrained,
                                batch_size=config.batch_size, seed=config.seed,
                                normalizer=normalizer):
                self.event.emit(e)
            return control.stopped

        job = BackgroundJob(work, self)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.finished.connect(self._done)
        self._job, self._control = job, control
        job.start()

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        return self._job.wait(timeout_ms) if self._job is not None else True

    @Slot(object)
    def _succeeded(self, stopped: object) -> None:
        self._outcome = (bool(stopped), "")

    @Slot(str)
    def _failed(self, message: str) -> None:
        self._outcome = (False, message)

    @Slot()
    def _done(self) -> None:
        """The thread has ended: only now is the runner free again, so listeners that ask
        ``running`` see the truth."""
        job, self._job, self._control = self._job, None, None
        if job is not None:
            job.thread.deleteLater()
        stopped, message = self._outcome
        if message:
            self.failed.emit(message)
        else:
            self.ended.emit(stopped)


_PENDING, _RUNNING = "\u2026", "\u25b6"


class SanityDialog(QDialog):
    """Non-modal: the checks run while the window stays usable; "Use this rate" sets the
    learning-rate field of the Training panel."""

    def __init__(self, controller: TrainingController, form: HyperparamsForm,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sanity checks")
        self.setObjectName("sanityChecks")
        self.controller = controller
        self.form = form
        self.runner = SanityRunner(controller, self)
        self.suggested: float | None = None
        self.results: dict[str, CheckResult] = {}
        intro = QLabel("Four quick experiments that catch most broken setups before a long "
                       "run. They train copies: the model and its weights stay as they are.")
        intro.setWordWrap(True)
        grid = QGridLayout()
        self.marks: dict[str, QLabel] = {}
        self.details: dict[str, QLabel] = {}
        for row, name in enumerate(CHECK_NAMES):
            mark, title, detail = QLabel(_PENDING), QLabel(f"<b>{name.capitalize()}</b>"), QLabel()
            detail.setWordWrap(True)
            detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(mark, 2 * row, 0)
            grid.addWidget(title, 2 * row, 1)
            grid.addWidget(detail, 2 * row + 1, 1)
            self.marks[name], self.details[name] = mark, detail
        grid.setColumnStretch(1, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("Press Run to start.")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget(background=None)
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss (smoothed)")
        self.plot.setMinimumHeight(180)
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.curve = self.plot.plot(pen=pg.mkPen(ACCENT_COLOR, width=2))
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(WARNING_COLOR, width=1.5,
                                                             style=Qt.PenStyle.DashLine))
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.use_button = QPushButton("Use this rate")
        self.use_button.setToolTip("Set the learning rate of the Training panel to the "
                                   "suggested rate")
        close = QPushButton("Close")
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.runner.stop)
        self.use_button.clicked.connect(self.use_rate)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.run_button, self.stop_button, self.use_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addLayout(buttons)
        self.runner.event.connect(self._event)
        self.runner.ended.connect(self._ended)
        self.runner.failed.connect(self._failed)
        self.resize(620, 640)
        self._refresh()

    def start(self) -> None:
        """Run every check with the Training panel's settings, or say why not."""
        self.results.clear()
        self.suggested = None
        for name in CHECK_NAMES:
            self.marks[name].setText(_PENDING)
            self.details[name].setText("")
        self.curve.setData([], [])
        self.marker.setVisible(False)
        self.progress.setValue(0)
        try:
            self.runner.start(self.form.settings())
        except TrainingRefused as exc:
            self.status.setText(f"Cannot run the checks: {exc}")
            self._refresh()
            return
        self.marks[CHECK_NAMES[0]].setText(_RUNNING)
        self.status.setText("Running\u2026")
        self._refresh()

    def use_rate(self) -> None:
        if self.suggested is not None:
            self.form.lr.setValue(self.suggested)

    def _event(self, e: object) -> None:
        if isinstance(e, CheckProgress):
            done = CHECK_NAMES.index(e.check)
            self.marks[e.check].setText(_RUNNING)
            self.progress.setValue(int(100 * (done + e.step / max(e.steps, 1)) / len(CHECK_NAMES)))
            self.status.setText(f"{e.check}: step {e.step} of {e.steps}")
        elif isinstance(e, CheckResult):
            self.results[e.name] = e
            self.marks[e.name].setText("\u2714" if e.passed else "\u2718")
            self.marks[e.name].setStyleSheet("color: #2e7d32;" if e.passed else "color: #c0392b;")
            self.details[e.name].setText(e.detail)
            i = CHECK_NAMES.index(e.name)
            self.progress.setValue(int(100 * (i + 1) / len(CHECK_NAMES)))
            if i + 1 < len(CHECK_NAMES):
                self.marks[CHECK_NAMES[i + 1]].setText(_RUNNING)
        elif isinstance(e, LRSweep):
            self.curve.setData(list(e.rates), list(e.losses))
            self.suggested = e.suggested
            if e.suggested is not None:
                self.marker.setValue(math.log10(e.suggested))
                self.marker.setVisible(True)
                self.use_button.setText(f"Use this rate ({e.suggested:.2g})")
        self._refresh()

    def _ended(self, stopped: bool) -> None:
        failed = [r.name for r in self.results.values() if not r.passed]
        if stopped:
            self.status.setText("Stopped; the model and its weights are unchanged.")
            for name in CHECK_NAMES:
                if name not in self.results:
                    self.marks[name].setText("\u2013")
        elif failed:
            self.status.setText(f"{len(failed)} check(s) failed: {', '.join(failed)}.")
        else:
            self.status.setText("All checks passed.")
            self.progress.setValue(100)
        self._refresh()

    def _failed(self, message: str) -> None:
        self.status.setText(f"The checks failed: {message}")
        self._refresh()

    def _refresh(self) -> None:
        running = self.runner.running
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.use_button.setEnabled(self.suggested is not None and not running)

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        self.runner.stop()
        self.runner.wait()
        super().closeEvent(event)
