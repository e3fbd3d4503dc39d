"""The epoch scrubber: replay the feature maps, filters and confusion matrix of any epoch.

During a run the weights after each epoch (and the initial ones) are kept (see snapshots). The
slider shows an earlier epoch in every view that draws weights, for the same sample, so a user
can watch first-layer filters turn from noise into edge detectors; "Use these weights" makes
that epoch's weights the current ones (the best validation epoch, say). The snapshots last until
the next run, until the model changes or until the weights are reset, loaded or recovered; the
slider's last position is the current weights.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from cnnstudio.engine.introspect import Evaluation, evaluate
from cnnstudio.gui.training.background import LatestOnly, NetworkCache
from cnnstudio.gui.training.controller import TrainingController, model_signature
from cnnstudio.gui.training.progress import EpochPoint
from cnnstudio.gui.training.run import evaluation_split
from cnnstudio.gui.training.snapshots import EpochSnapshots

__all__ = ["EpochScrubber"]


class EpochScrubber(QWidget):
    """Slider over the kept epochs, a line saying what is shown, and "Use these weights"."""

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.snapshots = EpochSnapshots()
        self._model = ""
        #: The epoch whose weights were adopted as the current ones ("Use these weights").
        self._adopted: int | None = None
        self._live_evaluation: Evaluation | None = None
        self._live_evaluated_on = ""
        self._jobs = LatestOnly(self)
        self._nets = NetworkCache()  # used only by self._jobs' thread
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Show the feature maps, filters and confusion matrix as they "
                               "were after this epoch")
        self.slider.setPageStep(1)
        self.slider.valueChanged.connect(lambda _v: self._scrubbed())
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.use_button = QPushButton("Use these weights")
        self.use_button.setToolTip("Make this epoch's weights the current ones (training and "
                                   "exports continue from them)")
        self.use_button.clicked.connect(self.use_shown)
        row = QHBoxLayout()
        row.addWidget(QLabel("Epoch"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.label)
        controller.runStarted.connect(self._run_started)
        controller.epochEnded.connect(self._epoch_ended)
        controller.document.changed.connect(self._model_changed)
        controller.stateChanged.connect(lambda _s: self._update())
        controller.resultsCleared.connect(self.forget)
        # Its last position stands for the current weights, which then are no epoch of it.
        controller.weightsReplaced.connect(self.forget)
        self._update()

    # -- keeping ------------------------------------------------------------------------------
    def _run_started(self, _epochs: int) -> None:
        self._jobs.cancel()
        self.snapshots.clear()
        self._live_evaluation = None
        self._adopted = None
        self._model = model_signature(self.controller.document.graph)
        if self.controller.run_start_weights:
            self.snapshots.add(0, self.controller.run_start_weights)
        self._update(follow=True)

    def _epoch_ended(self, point: EpochPoint) -> None:
        following = self.at_latest()
        self.snapshots.add(point.epoch, point.weights)
        self._update(follow=following)

    def _model_changed(self, _result: object) -> None:
        if self._model and model_signature(self.controller.document.graph) != self._model:
            self.forget()

    def forget(self) -> None:
        """Drop the snapshots (a changed model cannot replay them) and show current weights."""
        self._jobs.cancel()
        self.snapshots.clear()
        self._model = ""
        if self.controller.replay is not None:
            self._restore_live_evaluation()
            self.controller.set_replay(None)
        self._update()

    # -- showing ------------------------------------------------------------------------------
    def epochs(self) -> list[int]:
        return self.snapshots.epochs()

    def shown_epoch(self) -> int | None:
        epochs = self.epochs()
        return epochs[self.slider.value()] if epochs else None

    def at_latest(self) -> bool:
        return not self.epochs() or self.slider.value() >= len(self.epochs()) - 1

    def show_epoch(self, epoch: int) -> None:
        """Move the slider to ``epoch`` (one of ``epochs()``)."""
        self.slider.setValue(self.epochs().index(epoch))

    def _update(self, follow: bool = False) -> None:
        epochs = self.epochs()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(len(epochs) - 1, 0))
        if follow:
            self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(epochs) > 1)
        replaying = self.controller.replay is not None
        self.use_button.setEnabled(replaying and self.controller.state == "idle")
        if len(epochs) < 2:
            self.label.setText("Train to replay the maps, filters and confusion matrix of any "
                               "epoch.")
            return
        epoch = self.shown_epoch()
        last = epochs[-1]
        if replaying:
            text = (f"Showing epoch {epoch} of {last}: feature maps, filters and confusion "
                    "matrix as they were then.")
        elif self._adopted is not None and epoch == self._adopted:
            text = f"Using the weights of epoch {epoch} as the current ones."
        else:
            text = (f"Showing the current weights (epoch {last}); drag to replay an earlier "
                    "epoch.")
        note = self.snapshots.note()
        self.label.setText(text + (f" {note}" if note else ""))

    def _scrubbed(self) -> None:
        c = self.controller
        epoch = self.shown_epoch()
        if epoch is None:
            return
        self._adopted = None
        if self.at_latest():
            self._jobs.cancel()
            self._restore_live_evaluation()
            c.set_replay(None)
        else:
            if c.replay is None:
                self._live_evaluation, self._live_evaluated_on = c.evaluation, c.evaluated_on
            weights = dict(self.snapshots.weights(epoch))
            c.set_replay(weights, "initial weights of the last run" if epoch == 0 else
                         f"after epoch {epoch} of the last run")
            self._evaluate(weights)
        self._update()

    def _evaluate(self, weights: dict) -> None:
        """The confusion matrix of the replayed epoch, computed in the background."""
        c = self.controller
        if c.dataset is None or not c.document.result.valid:
            return
        x, y, where = evaluation_split(c.dataset)
        build = self._nets.builder(c.document.graph, weights)
        xn = c.prepare(x)

        def done(ev: object) -> None:
            if c.replay is not None:
                c.evaluation, c.evaluated_on = ev, where  # type: ignore[assignment]
                c.evaluationChanged.emit(ev)

        self._jobs.submit(lambda: evaluate(build(), xn, y), done)

    def _restore_live_evaluation(self) -> None:
        c = self.controller
        if c.replay is not None and self._live_evaluation is not None:
            c.evaluation, c.evaluated_on = self._live_evaluation, self._live_evaluated_on
            c.evaluationChanged.emit(c.evaluation)
        self._live_evaluation = None

    def use_shown(self) -> None:
        """Adopt the shown epoch's weights as the current ones."""
        epoch = self.shown_epoch()
        c = self.controller
        if epoch is None or c.replay is None:
            return
        self._jobs.cancel()
        self._live_evaluation = None
        self._adopted = epoch
        c.adopt_weights(dict(self.snapshots.weights(epoch)),
                        "initial weights of the last run" if epoch == 0 else
                        f"from epoch {epoch} of the last run")
        self.slider.blockSignals(True)
        self.slider.setValue(self.epochs().index(epoch))
        self.slider.blockSignals(False)
        self._update()

    def busy(self) -> bool:
        return self._jobs.busy()

    def shutdown(self) -> None:
        self._jobs.shutdown()
