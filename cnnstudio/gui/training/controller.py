"""The training side of the window: which data, which weights, and the run in progress.

Every training view (panel, curves, feature maps, filters, confusion matrix, weights actions)
talks to one controller instead of to each other, so there is exactly one answer to "what are
the current weights?" and "is a run going?". The weights live here as plain arrays: a run starts
from them (where they still fit the model, so editing a model and training again continues, and
weights loaded for transfer learning are used), and every epoch end and run end replaces them
with a copy from the worker. Views draw from a private inspection network built from the
current model and loaded with those arrays; the network a run trains is never touched outside
the worker thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from cnnstudio.core.graph import Graph
from cnnstudio.engine.control import TrainingControl
from cnnstudio.engine.datasets import (
    Dataset,
    adapt_dataset,
    load_dataset,
    load_image,
)
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.datasets.specs import GenerationPlan, planned_generation
from cnnstudio.engine.errors import EngineError, NetworkError
from cnnstudio.engine.introspect import Evaluation, evaluate, predict_proba
from cnnstudio.engine.memory import training_refusal
from cnnstudio.engine.network import LoadReport, Network
from cnnstudio.engine.trainer import TrainConfig
from cnnstudio.engine.weights import (
    load_weights,
    normalizer_from_meta,
    save_weights,
    split_meta,
)
from cnnstudio.gui.training.fit_check import Mismatch, data_mismatches
from cnnstudio.gui.training.hyperparams import RunSettings
from cnnstudio.gui.training.progress import EpochPoint, RunOutcome
from cnnstudio.gui.training.run import evaluation_split, run_events
from cnnstudio.gui.training.worker import BackgroundJob, TrainingWorker, WorkerThread

__all__ = ["IDLE", "PAUSED", "RUNNING", "STOPPING", "TrainingController", "TrainingRefused"]

IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"
#: A background load: ``work(stop, report) -> Dataset``, asking ``stop()`` between batches and
#: telling ``report(done, total)`` how far it is.
_Work = Callable[[Callable[[], bool], Callable[[int, int], None]], Dataset]
LOCK_REASON = "training is running"
NO_DATASET = "Choose a dataset first."


class TrainingRefused(ValueError):
    """A run cannot start; the message is the reason shown to the user."""


def model_signature(graph: Graph) -> str:
    """What results depend on: each layer's id, type, params and inputs (not its position on
    the canvas, its name or whether it is frozen). Two graphs with the same signature compute
    the same function with the same weights, so curves and matrices made for one fit the other."""
    return json.dumps([[layer.id, layer.type, layer.params, layer.inputs] for layer in graph],
                      sort_keys=True, default=str)


class TrainingController(QObject):
    """Owns the dataset, the current weights and the worker thread of a run."""

    datasetChanged = Signal(object)  # Dataset | None
    datasetLoading = Signal(str)  # what is being loaded in the background, for the user
    datasetFailed = Signal(str)  # why it could not be loaded (names the file)
    datasetProgress = Signal(int, int)  # images generated so far, in all (background load)
    #: A background load was stopped (cancel_loading); the dataset is unchanged.
    loadingCancelled = Signal()
    stateChanged = Signal(str)  # IDLE / RUNNING / PAUSED / STOPPING
    runStarted = Signal(int)  # epochs
    batches = Signal(object)  # tuple[BatchPoint, ...]
    epochEnded = Signal(object)  # EpochPoint
    runFinished = Signal(object)  # RunOutcome
    runFailed = Signal(str)
    weightsChanged = Signal()
    #: Reset, loaded or recovered: the current weights are no longer the last run's.
    weightsReplaced = Signal()
    #: Weights, curves and evaluation were forgotten (a new or opened model starts fresh).
    resultsCleared = Signal()
    evaluationChanged = Signal(object)  # Evaluation | None
    sampleChanged = Signal()
    alertsRaised = Signal(object)  # tuple[Alert, ...] of the running run

    def __init__(self, document, parent: QObject | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.document = document
        self.dataset: Dataset | None = None
        self.dataset_spec = ""
        self._source_dataset: Dataset | None = None
        self._display_norm: Normalizer | None = None
        self._job: BackgroundJob | None = None
        self._job_spec = ""
        self._job_source: Dataset | None = None
        #: Each load's stop flag, by job; a load replaced or stopped stays here until its
        #: thread ends, so closing can tell it to stop and wait for it.
        self._job_stops: dict[BackgroundJob, threading.Event] = {}
        self.weights: dict[str, np.ndarray] | None = None
        self.normalizer: Normalizer | None = None
        self.weights_note = "random initial weights"
        #: The current weights are in no file (trained here, or recovered): worth a recovery copy.
        self.weights_unsaved = False
        self.evaluation: Evaluation | None = None
        self.evaluated_on = ""
        #: model_signature of the model the curves / the evaluation were made with ("" = none).
        self.curves_model = ""
        self.evaluation_model = ""
        self.sample: np.ndarray | None = None
        self.sample_caption = ""
        self.state = IDLE
        self._control: TrainingControl | None = None
        self._thread: WorkerThread | None = None
        self._closing = False
        #: The weights a run started from (epoch 0 of the epoch scrubber).
        self.run_start_weights: dict[str, np.ndarray] | None = None
        #: Weights of an earlier epoch the views replay instead of the current ones (None: the
        #: current weights), and what to call them.
        self.replay: dict[str, np.ndarray] | None = None
        self.replay_note = ""
        self._view_net: Network | None = None
        self._view_error = ""
        self._view_stale = True
        #: Alerts of the current (or last) run, oldest first.
        self.alerts: list = []
        self._start_weights: dict[str, np.ndarray] | None = None
        self._restart: RunSettings | None = None
        document.changed.connect(self._model_changed)

    # -- dataset ------------------------------------------------------------------------------
    def open_dataset(self, spec: str) -> Dataset:
        """Load ``spec`` now (see engine.datasets.load_dataset). Raises DatasetError (one line
        naming the file); on failure the current dataset is kept."""
        data = self._load(spec)
        self.set_dataset(data, spec)
        return data

    def open_dataset_async(self, spec: str) -> None:
        """Load ``spec`` in a background thread (generating shapes or decoding a folder takes a
        second or more): ``datasetLoading`` now, ``datasetProgress`` while images are made, then
        ``datasetChanged`` or ``datasetFailed``. A load still going is told to stop and its
        result dropped; nothing here waits for it, so the window never freezes on it."""
        plan = self.plan_for(spec)
        self._run_job(spec, lambda stop, report: self._load(spec, stop, report),
                      f"Generating {spec}: {plan.describe()}\u2026" if plan
                      else f"Loading {spec}\u2026")

    def _run_job(self, spec: str, work: _Work, what: str, source: Dataset | None = None
                 ) -> None:
        """Run ``work(stop, report)`` in a background thread; its dataset becomes the current
        one for ``spec`` (made from ``source`` when given: the one Resize starts from again)."""
        self._stop_current_load()
        stop = threading.Event()
        job = BackgroundJob(lambda: work(stop.is_set, job.report), self)
        # Bound slots of this object, not lambdas: PySide runs a lambda in the sender's thread,
        # which for the job is the loading thread, and the dataset must change in the GUI thread
        # (views read it there). Queued, these arrive in order before the job's ``finished``.
        job.succeeded.connect(self._job_succeeded)
        job.failed.connect(self._job_failed)
        job.progress.connect(self._job_progress)
        job.finished.connect(self._job_done)
        self._job, self._job_spec, self._job_source = job, spec, source
        self._job_stops[job] = stop
        job.start()
        self.datasetLoading.emit(what)

    def cancel_loading(self) -> None:
        """Stop the background load (its thread ends within one batch of images); the current
        dataset stays. ``loadingCancelled`` tells the views."""
        if self._job is None:
            return
        self._stop_current_load()
        self.loadingCancelled.emit()
        self.stateChanged.emit(self.state)  # views re-check what can be done now

    def _stop_current_load(self) -> None:
        if self._job is not None:
            self._job_stops[self._job].set()
            self._job = None  # its results are dropped; _job_stops keeps it until it ends

    @Slot(object)
    def _job_succeeded(self, data: Dataset) -> None:
        job = self._job
        if job is not None and self.sender() is job:  # a superseded load is dropped
            self.set_dataset(data, self._job_spec)
            if self._job_source is not None:
                self._source_dataset = self._job_source

    @Slot(str)
    def _job_failed(self, message: str) -> None:
        # A load told to stop ends with DatasetCancelled: nothing went wrong, nothing to say.
        if self._job is not None and self.sender() is self._job:
            self.datasetFailed.emit(message)

    @Slot(int, int)
    def _job_progress(self, done: int, total: int) -> None:
        if self._job is not None and self.sender() is self._job:
            self.datasetProgress.emit(done, total)

    @Slot()
    def _job_done(self) -> None:
        thread = self.sender()
        for job in [j for j in self._job_stops if j.thread is thread]:
            del self._job_stops[job]
        job = self._job
        if job is not None and job.thread is thread:
            self._job = None
            self.stateChanged.emit(self.state)  # views re-check what can be done now
        if isinstance(thread, QObject):
            thread.deleteLater()

    def wait_for_dataset(self, timeout_ms: int = 30_000) -> bool:
        """Block until every background load has finished (tests, shutdown)."""
        return all([job.wait(timeout_ms) for job in list(self._job_stops)])

    def plan_for(self, spec: str) -> GenerationPlan | None:
        """What loading ``spec`` for the current model would generate (None: data read from a
        file), known before generating it."""
        channels, size = self._input_geometry()
        return planned_generation(spec, image_size=size, channels=channels)

    def _load(self, spec: str, stop: Callable[[], bool] | None = None,
              progress: Callable[[int, int], None] | None = None) -> Dataset:
        """Generated data is made at the Input block's size; files load as they are (a mismatch
        is then offered as a fix, see :meth:`fit_data_to_input`)."""
        if spec.partition(":")[0].strip().lower() == "shapes":
            channels, size = self._input_geometry()
            return load_dataset(spec, channels=channels, image_size=size, stop=stop,
                                progress=progress)
        return load_dataset(spec, stop=stop, progress=progress)

    def set_dataset(self, dataset: Dataset | None, spec: str = "") -> None:
        self.dataset = dataset
        self._source_dataset = dataset
        self.dataset_spec = spec
        self._display_norm = None
        self.evaluation = None
        self.evaluationChanged.emit(None)
        if dataset is not None and len(dataset.x_train):
            self.set_sample(dataset.x_train[0], self.describe_train_sample(0))
        self.datasetChanged.emit(dataset)

    def fit_data_to_input(self) -> None:
        """Resize / convert the images to the Input block (grey <-> RGB, bilinear); generated
        shapes are simply made again at that size."""
        if self._source_dataset is None:
            return
        channels, size = self._input_geometry()
        if self.dataset_spec.partition(":")[0].strip().lower() == "shapes":
            self.open_dataset_async(self.dataset_spec)
            return
        source, spec = self._source_dataset, self.dataset_spec
        self._run_job(spec, lambda stop, report: adapt_dataset(source, channels, size, stop,
                                                               report),
                      f"Resizing {source.name} to {self.input_geometry_text()}\u2026", source)

    def input_geometry_text(self) -> str:
        channels, size = self._input_geometry()
        if channels is None or size is None:
            return ""
        return f"{channels}x{size[0]}x{size[1]}"

    def describe_train_sample(self, index: int) -> str:
        assert self.dataset is not None
        name = self.dataset.class_names[int(self.dataset.y_train[index])]
        return f"training image {index}: {name}"

    def set_sample(self, image: np.ndarray, caption: str) -> None:
        """The image the feature maps are drawn for, ``[C, H, W]`` in [0, 1]."""
        self.sample = np.array(image, dtype=np.float32, copy=True)
        self.sample_caption = caption
        self.sampleChanged.emit()

    def mismatches(self) -> list[Mismatch]:
        if self.dataset is None or not self.document.result.valid:
            return []
        return data_mismatches(self.document.graph, self.document.result, self.dataset)

    def _input_geometry(self) -> tuple[int | None, tuple[int, int] | None]:
        graph, result = self.document.graph, self.document.result
        ids = [lid for lid in result.input_ids if lid in graph]
        if len(ids) != 1:
            return None, None
        p = graph.layer(ids[0]).params
        channels = p.get("channels") if p.get("channels") in (1, 3) else None
        return channels, (int(p["height"]), int(p["width"]))

    # -- runs ---------------------------------------------------------------------------------
    def refusal(self) -> str | None:
        """Why a run cannot start now, or None."""
        if self.state != IDLE:
            return "A run is already going; stop it first."
        result = self.document.result
        if not result.valid:
            first = result.errors[0]
            more = f" (and {len(result.errors) - 1} more, see Problems)" if len(
                result.errors) > 1 else ""
            return f"The model has errors: {first.layer}: {first.message}{more}"
        if self._job is not None:
            return "The dataset is still loading."
        if self.dataset is None:
            return NO_DATASET
        problems = self.mismatches()
        if problems:
            return problems[0].message
        return None

    def memory_refusal(self, settings: RunSettings) -> str | None:
        """Why a run of this model with ``settings`` would not fit in memory, from the
        validator's numbers alone (before any data is made or network built), or None."""
        result = self.document.result
        return training_refusal(result, settings.batch_size) if result.valid else None

    def checked_config(self, settings: RunSettings) -> TrainConfig:
        """The engine config for ``settings`` when the model and the data allow a run now;
        TrainingRefused with the reason otherwise (runs and sanity checks share these words)."""
        reason = self.refusal()
        if reason:
            raise TrainingRefused(reason)
        try:
            return settings.to_config()
        except ValueError as exc:
            raise TrainingRefused(str(exc)) from None

    def start(self, settings: RunSettings) -> None:
        """Start a run in a worker thread; raises TrainingRefused with the reason."""
        config = self.checked_config(settings)
        assert self.dataset is not None
        try:
            network = Network(self.document.graph.copy(), np.random.default_rng(settings.seed))
        except NetworkError as exc:
            raise TrainingRefused(str(exc)) from None
        if self.weights:
            network.load_where_fits(self.weights)
        self.run_start_weights = network.state_dict()
        self.replay = None
        self._view_stale = True
        same_norm = (self.normalizer is not None
                     and self.normalizer.channels == self.dataset.image_shape[0])
        control = TrainingControl()
        dataset = self.dataset
        normalizer = self.normalizer if same_norm else None
        worker = TrainingWorker(lambda: run_events(network, dataset, config, control, normalizer,
                                                   evaluate_at_end=lambda: not self._closing))
        worker.batches.connect(self._batches_arrived)
        worker.epochEnded.connect(self._epoch_ended)
        worker.finished.connect(self._run_finished)
        worker.failed.connect(self.runFailed)
        self._control = control
        self.alerts = []
        self._start_weights = self.weights
        self._thread = WorkerThread(worker, self)
        self._thread.finished.connect(self._run_done)
        self.document.set_locked(True, LOCK_REASON)
        self.curves_model = self.evaluation_model = model_signature(self.document.graph)
        self._set_state(RUNNING)
        self.runStarted.emit(config.epochs)
        self._thread.start()

    def restart(self, settings: RunSettings) -> None:
        """Stop the run (if any) and start again with ``settings`` from the weights the run
        started from (an alert's fix: the diverged weights are worth nothing)."""
        if self.state == IDLE:
            self.weights = self._start_weights
            self._view_stale = True
            self.weightsChanged.emit()
            self.start(settings)
            return
        self._restart = settings
        self.stop()

    def pause(self) -> None:
        if self._control is not None and self.state == RUNNING:
            self._control.pause()
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self._control is not None and self.state == PAUSED:
            self._control.resume()
            self._set_state(RUNNING)

    def stop(self) -> None:
        """Ends the run after the current batch (also from a pause)."""
        if self._control is not None and self.state in (RUNNING, PAUSED):
            self._control.stop()
            self._set_state(STOPPING)

    def is_loading(self) -> bool:
        """A dataset is being loaded in the background."""
        return self._job is not None

    def loading_spec(self) -> str:
        """The spec being loaded in the background ("" when none)."""
        return self._job_spec if self._job is not None else ""

    def is_busy(self) -> bool:
        return self.state != IDLE

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop any run and any dataset load, and wait for their threads (closing the window);
        True when they ended. A load stops within one batch of images."""
        self._closing = True
        if self._control is not None:
            self._control.stop()
        self._stop_current_load()
        for stop in self._job_stops.values():
            stop.set()
        ok = self._thread.wait(timeout_ms) if self._thread is not None else True
        if ok and self._thread is not None:
            # Unlock now: the window (and this object) may be gone before the thread's queued
            # "finished" is delivered, and the document must not stay locked.
            self._run_done()
        return self.wait_for_dataset(timeout_ms) and ok

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)

    def _batches_arrived(self, points: tuple) -> None:
        self.batches.emit(points)
        self._take_alerts(tuple(a for p in points for a in p.alerts))

    def _take_alerts(self, alerts: tuple) -> None:
        if not alerts:
            return
        self.alerts += alerts
        if any(a.stops for a in alerts) and self.state == RUNNING:
            self._set_state(PAUSED)  # the run paused itself in its thread (see run_events)
        self.alertsRaised.emit(alerts)

    def _epoch_ended(self, point: EpochPoint) -> None:
        name = self.dataset.name if self.dataset is not None else "?"
        self.weights_note = f"training on {name}: epoch {point.epoch}/{point.epochs} done"
        self._adopt_weights(point.weights, point.normalizer)
        self.epochEnded.emit(point)
        self._take_alerts(point.alerts)

    def _run_finished(self, outcome: RunOutcome) -> None:
        name = self.dataset.name if self.dataset is not None else "?"
        how = "stopped after" if outcome.stopped else "trained"
        self.weights_note = f"{how} {outcome.epochs_done} epoch(s) on {name}"
        self.evaluation, self.evaluated_on = outcome.evaluation, outcome.evaluated_on
        self._adopt_weights(outcome.weights, outcome.normalizer)
        self.evaluationChanged.emit(self.evaluation)
        self.runFinished.emit(outcome)

    def _run_done(self) -> None:
        sender = self.sender()
        if sender is not None and sender is not self._thread:
            return  # the run's thread already ended through shutdown()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        self._control = None
        self.document.set_locked(False)
        self._set_state(IDLE)
        settings, self._restart = self._restart, None
        if settings is not None and not self._closing:
            try:
                self.restart(settings)
            except TrainingRefused as exc:
                self.runFailed.emit(str(exc))

    def _adopt_weights(self, weights: dict[str, np.ndarray], normalizer: Normalizer | None
                       ) -> None:
        if weights:
            self.weights = weights
            self.weights_unsaved = True
        if normalizer is not None:
            self.normalizer = normalizer
        self._load_view_weights()
        self.weightsChanged.emit()

    # -- results of another model --------------------------------------------------------------
    def is_current(self, signature: str) -> bool:
        """True when results made for ``signature`` still describe the model on the canvas."""
        return not signature or signature == model_signature(self.document.graph)

    def has_results(self) -> bool:
        return bool(self.weights) or self.evaluation is not None or bool(self.curves_model)

    def fitting_layers(self) -> tuple[list[str], int]:
        """(ids of the current model's layers the current weights fit, how many layers have
        weights at all); ([], 0) when there are no weights or the model cannot be built."""
        if not self.weights:
            return [], 0
        try:
            net = Network(self.document.graph.copy(), np.random.default_rng(0))
        except NetworkError:
            return [], 0
        report = net.load_where_fits(self.weights)
        return list(report.loaded), len(report.loaded) + len(report.skipped)

    def forget_results(self) -> None:
        """A new model: fresh weights, no curves, no evaluation (nothing of the previous model
        may pass for this one's)."""
        self.curves_model = self.evaluation_model = ""
        self.reset_weights()
        self.resultsCleared.emit()

    # -- weights ------------------------------------------------------------------------------
    def reset_weights(self) -> None:
        """Forget trained or loaded weights: the next run starts from a fresh initialisation."""
        self.weights = None
        self.normalizer = None
        self.replay = None
        self.weights_note = "random initial weights"
        self.weights_unsaved = False
        self.evaluation = None
        self._view_stale = True
        self.evaluationChanged.emit(None)
        self.weightsChanged.emit()
        self.weightsReplaced.emit()

    def save_weights(self, path: str | Path) -> None:
        """Write the current weights (with their normaliser); WeightsError names the file."""
        state = self.weights
        if not state:
            net = self.view_network()
            state = net.state_dict()
        save_weights(path, state, self.normalizer, self.class_names())
        self.weights_unsaved = False

    def load_weights(self, path: str | Path) -> LoadReport:
        """Load a weights file where it fits the current model; report loaded/skipped layers.

        Raises WeightsError (unreadable file) or NetworkError (the model has errors). Layers the
        file does not fit keep their current (or initial) weights.
        """
        if self.replay is not None:  # layers the file misses keep the current weights
            self.replay = None
            self._view_stale = True
        net = self.view_network()
        arrays = load_weights(path, net.expected_shapes())
        report = net.load_where_fits(arrays)
        if not report.loaded:
            from cnnstudio.engine.errors import WeightsError

            raise WeightsError(f"{path}: no layer of the file fits this model\n"
                               + report.text())
        _, meta = split_meta(arrays)
        normalizer = normalizer_from_meta(meta, str(path))
        self.weights = net.state_dict()
        self.replay = None
        self._view_stale = True
        if normalizer is not None:
            self.normalizer = normalizer
        self.weights_note = f"loaded from {Path(path).name} ({len(report.loaded)} layer(s))"
        self.weights_unsaved = False
        self.evaluation = None
        self.evaluationChanged.emit(None)
        self.weightsChanged.emit()
        self.weightsReplaced.emit()
        return report

    def restore_weights(self, arrays: dict[str, np.ndarray], note: str) -> None:
        """Weights kept by a recovery copy (with their normaliser): current again, as they were.
        They are still in no file, so they stay worth a recovery copy."""
        weights, meta = split_meta(arrays)
        try:
            normalizer = normalizer_from_meta(meta, "recovery copy")
        except EngineError:
            normalizer = None
        self.weights = dict(weights) or None
        self.normalizer = normalizer
        self.weights_note = f"{note or 'weights'} (recovered)"
        self.weights_unsaved = bool(self.weights)
        self.evaluation = None
        self._view_stale = True
        self.evaluationChanged.emit(None)
        self.weightsChanged.emit()
        self.weightsReplaced.emit()

    # -- inspection ---------------------------------------------------------------------------
    def view_network(self) -> Network:
        """The inspection network: the current model with the current weights where they fit.

        Raises NetworkError when the model cannot be built (its message says why)."""
        if self._view_stale:
            self._view_net, self._view_error = None, ""
            try:
                self._view_net = Network(self.document.graph.copy(), np.random.default_rng(0),
                                         result=self.document.result)
            except NetworkError as exc:
                self._view_error = str(exc)
            except MemoryError:
                self._view_error = ("not enough memory to build this model; make it smaller "
                                    "(fewer units or a smaller Input)")
            self._view_stale = False
            self._load_view_weights()
        if self._view_net is None:
            raise NetworkError(self._view_error or "the model cannot be built")
        return self._view_net

    def _load_view_weights(self) -> None:
        weights = self.shown_weights
        if self._view_net is not None and weights:
            self._view_net.load_where_fits(weights)

    @property
    def shown_weights(self) -> dict[str, np.ndarray] | None:
        """What the views draw: a replayed epoch's weights, else the current ones."""
        return self.replay if self.replay is not None else self.weights

    @property
    def weights_caveat(self) -> str:
        """What to add to the weights' note when they were made for an earlier version of the
        model (an edit since changed what it computes): only the layers they still fit use
        them, the others run with fresh weights. Empty otherwise."""
        if not self.weights or self.is_current(self.curves_model):
            return ""
        return (" \u2014 made for an earlier version of the model; the layers they still fit "
                "are used")

    @property
    def shown_weights_note(self) -> str:
        """What the views say of the weights they draw (with :attr:`weights_caveat`)."""
        if self.replay is not None:
            return self.replay_note
        return self.weights_note + self.weights_caveat

    def set_replay(self, weights: dict[str, np.ndarray] | None, note: str = "") -> None:
        """Let the views show ``weights`` (an earlier epoch) without changing the current
        weights; None goes back to the current ones."""
        self.replay, self.replay_note = weights, note
        if self.shown_weights:
            self._load_view_weights()  # a whole state: no layer keeps the replayed values
        else:
            self._view_stale = True  # back to the initial weights: build them again
        self.weightsChanged.emit()

    def adopt_weights(self, weights: dict[str, np.ndarray], note: str) -> None:
        """Make ``weights`` (an earlier epoch's) the current weights: training continues from
        them and exports carry them."""
        self.weights = {k: np.array(v, copy=True) for k, v in weights.items()}
        self.weights_note = note
        self.weights_unsaved = True  # an earlier epoch's weights are in no file
        self.replay = None
        self._view_stale = True
        self.evaluation = None
        self.evaluationChanged.emit(None)
        self.weightsChanged.emit()

    def _model_changed(self, _result: object) -> None:
        self._view_stale = True

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """Images ``[N, C, H, W]`` in [0, 1] as the network sees them (normalised)."""
        x = np.asarray(images, dtype=np.float32)
        if self.normalizer is not None and self.normalizer.channels == x.shape[1]:
            return self.normalizer.apply(x)
        if self.dataset is not None and self.dataset.image_shape[0] == x.shape[1]:
            if self._display_norm is None:
                self._display_norm = Normalizer.fit(self.dataset.x_train)
            return self._display_norm.apply(x)
        return x

    def activations(self, image: np.ndarray, layer_id: str) -> np.ndarray:
        """One layer's output for one image ``[C, H, W]``: ``[C', H', W']`` or ``[N]``."""
        net = self.view_network()
        x = self.prepare(image[None])
        return net.activations(x, [layer_id])[layer_id][0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities ``[N, classes]`` for images in [0, 1]."""
        net = self.view_network()
        return predict_proba(net, self.prepare(images))

    def evaluate_now(self) -> Evaluation:
        """Evaluate the current weights on held-out images (in this thread; for small data)."""
        if self.dataset is None:
            raise TrainingRefused(NO_DATASET)
        x, y, where = evaluation_split(self.dataset)
        net = self.view_network()
        self.evaluation = evaluate(net, self.prepare(x), y)
        self.evaluated_on = where
        self.evaluation_model = model_signature(self.document.graph)
        self.evaluationChanged.emit(self.evaluation)
        return self.evaluation

    def class_names(self) -> tuple[str, ...]:
        return self.dataset.class_names if self.dataset is not None else ()

    def read_image(self, path: str | Path) -> np.ndarray:
        """An image file as the model's Input takes it, ``[C, H, W]`` in [0, 1] (converted to
        grey or RGB and resized with the same decoder training data uses). Raises DatasetError
        naming the file."""
        channels, size = self._input_geometry()
        return load_image(Path(path), channels=channels, size=size)
