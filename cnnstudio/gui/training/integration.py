"""Training in the designer window: one call adds every training view, menu and button.

``install_training(window)`` is the single hook the main window calls, so the designer never
needs to know how training works. It needs only ``window.document`` and ``window.selection``;
``window.menus``/``window.toolbar``/``window.docks`` are used when present (a bare QMainWindow
works too, which is how the training views are tested on their own).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMenu,
    QProgressBar,
    QWidget,
)

from cnnstudio.engine.weights import class_names_meta, normalizer_meta
from cnnstudio.gui.file_actions import UnsavedWork
from cnnstudio.gui.lazy import watch_dock
from cnnstudio.gui.training import dialogs
from cnnstudio.gui.training.confusion import ConfusionWidget
from cnnstudio.gui.training.controller import IDLE, TrainingController, TrainingRefused
from cnnstudio.gui.training.curves import CurvesWidget
from cnnstudio.gui.training.feature_maps import FeatureMapsWidget
from cnnstudio.gui.training.filters import FiltersWidget
from cnnstudio.gui.training.health_view import HealthView
from cnnstudio.gui.training.panel import TrainingPanel
from cnnstudio.gui.training.progress import RunOutcome
from cnnstudio.gui.training.run import evaluation_split
from cnnstudio.gui.training.scrubber import EpochScrubber
from cnnstudio.gui.training.top_patches import TopPatchesWidget
from cnnstudio.gui.training.weights_actions import WeightsActions
from cnnstudio.gui.training.why import WhyWidget

__all__ = ["TrainingUI", "install_training"]

#: (key, title) of the docks that share the bottom area with the summary and problems.
_BOTTOM = (("curves", "Curves"), ("feature_maps", "Feature maps"), ("filters", "Filters"),
           ("confusion", "Confusion"), ("health", "Health"), ("why", "Why"),
           ("top_patches", "Top patches"))
_DIGITS_INPUT = "1x8x8"
#: Largest default dataset made without being asked (when the Training dock shows): every
#: template's (at most 3x32x32: 42 MB) is made at once so Train works at once; a larger one
#: (a 3x224x224 Input asks for 2 GB of shapes) waits until Train, Generate now or a view that
#: needs samples asks for it.
EAGER_DATASET_BYTES = 128 * 1024 * 1024
#: Height the bottom docks grow to when a run starts.
_TRAINING_HEIGHT = 330


class TrainingUI(QObject):
    """Everything install_training added, for tests and for the window to reach."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        #: The status bar's "Training starts when it is ready." while data is being made.
        self._waiting_message: str | None = None
        document = window.document
        selection = getattr(window, "selection", None)
        self.controller = TrainingController(document, self)
        self.panel = TrainingPanel(self.controller)
        self.curves = CurvesWidget()
        self.feature_maps = FeatureMapsWidget(self.controller, selection)
        self.filters = FiltersWidget(self.controller)
        self.confusion = ConfusionWidget(self.controller)
        self.health = HealthView(self.controller)
        self.why = WhyWidget(self.controller)
        self.scrubber = EpochScrubber(self.controller)
        self.top_patches = TopPatchesWidget(self.controller)
        self.feature_maps.grid.pixelClicked.connect(self._unit_picked)
        self.panel.run_layout.addWidget(self.scrubber)
        self.weights = WeightsActions(self.controller, window)
        self.docks: dict[str, QDockWidget] = {}
        self._closing = False

        c = self.controller
        c.runStarted.connect(self._run_started)
        c.batches.connect(self.curves.add_batches)
        c.epochEnded.connect(self.curves.add_epoch)
        c.runFinished.connect(self._run_finished)
        c.runFinished.connect(lambda _o: self.curves.flush())
        c.runFailed.connect(lambda _m: self.curves.flush())
        self.panel.refused.connect(self._show_status)
        self.reset_action = QAction("Reset Weights", self)
        self.reset_action.setToolTip(self.panel.reset_button.toolTip())
        self.reset_action.triggered.connect(self.reset_weights)
        c.stateChanged.connect(lambda s: self.reset_action.setEnabled(s == IDLE))
        c.resultsCleared.connect(self.curves.clear)
        c.alertsRaised.connect(self._alerts_raised)
        c.datasetLoading.connect(self._dataset_loading)
        self.health.fixRequested.connect(self.apply_fix)
        self.sanity_action = QAction("Sanity Checks\u2026", self)
        self.sanity_action.setToolTip("Quick checks before a long run: initial loss, gradients, "
                                      "overfit one batch, learning-rate range test")
        self.sanity_action.triggered.connect(self.show_sanity_checks)
        self.sanity_dialog = None
        self.confusion.images.tileClicked.connect(self.pick_confusion_image)
        document.changed.connect(self._mark_earlier_results)
        files = getattr(window, "files", None)
        if files is not None and hasattr(files, "modelReplaced"):
            files.modelReplaced.connect(self.model_replaced)
            # The recovery copy keeps the weights beside the model, and a restore gives them back.
            files.weights_source = self._weights_for_recovery
            files.weights_restorer = c.restore_weights
            files.unsaved_weights = self.unsaved_weights  # asked about with the model
            c.weightsChanged.connect(files.weights_changed)

        self.panel.default_spec = self.default_spec
        self.panel.reset_weights = self.reset_weights
        self.weights.may_replace = self.may_replace_weights
        self.panel.refresh()
        self._add_docks()
        self._add_menu()
        self._add_toolbar()
        self.docks["training"].visibilityChanged.connect(self._training_dock_shown)
        # The plots are made (and the plotting library loaded) when the Curves tab is first
        # in front, before it paints.
        self.docks["curves"].visibilityChanged.connect(
            lambda shown: shown and self.curves.plots())
        if hasattr(window, "weights_provider"):
            window.weights_provider = self.current_weights
        window.destroyed.connect(self.controller.shutdown)  # last resort: never leak a thread
        window.installEventFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- building -----------------------------------------------------------------------------
    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea
              ) -> QDockWidget:
        w = self.window
        dock = QDockWidget(title, w)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        watch_dock(dock)
        w.addDockWidget(area, dock)
        self.docks[key] = dock
        if isinstance(getattr(w, "docks", None), dict):
            w.docks[key] = dock
        if isinstance(getattr(w, "panels", None), dict):
            w.panels[key] = widget
        return dock

    def _add_docks(self) -> None:
        w = self.window
        existing = getattr(w, "docks", {}) if isinstance(getattr(w, "docks", None), dict) else {}
        training = self._dock("training", "Training", self.panel,
                              Qt.DockWidgetArea.RightDockWidgetArea)
        if "inspector" in existing:
            w.tabifyDockWidget(existing["inspector"], training)
        below = existing.get("problems") or existing.get("summary")
        widgets = {"curves": self.curves, "feature_maps": self.feature_maps,
                   "filters": self.filters, "confusion": self.confusion, "health": self.health,
                   "why": self.why, "top_patches": self.top_patches}
        for key, title in _BOTTOM:
            dock = self._dock(key, title, widgets[key], Qt.DockWidgetArea.BottomDockWidgetArea)
            if below is not None:
                w.tabifyDockWidget(below, dock)
            below = dock
        if "inspector" in existing:
            existing["inspector"].raise_()
        if "summary" in existing:
            existing["summary"].raise_()

    def _add_menu(self) -> None:
        w = self.window
        menu = QMenu("&Train", w)
        for action in (self.panel.start_action, self.panel.pause_action,
                       self.panel.stop_action):
            menu.addAction(action)
        menu.addAction(self.sanity_action)
        menu.addSeparator()
        for key in ("training", *(k for k, _ in _BOTTOM)):
            menu.addAction(self.docks[key].toggleViewAction())
        menus = getattr(w, "menus", None)
        help_menu = menus.get("help") if isinstance(menus, dict) else None
        if help_menu is not None:
            w.menuBar().insertMenu(help_menu.menuAction(), menu)
        else:
            w.menuBar().addMenu(menu)
        if isinstance(menus, dict):
            menus["train"] = menu
            model_menu = menus.get("model")
            if model_menu is not None:  # model-level actions gather in the Model menu
                model_menu.addSeparator()
                model_menu.addAction(self.sanity_action)
        self.menu = menu
        # Weights belong to the model: Model menu where the window has one, else Train.
        model_menu = menus.get("model") if isinstance(menus, dict) else None
        target = model_menu if model_menu is not None else menu
        if target is menu:
            menu.addSeparator()
        for action in (self.weights.save_action, self.weights.load_action,
                       self.reset_action, self.weights.predict_action):
            target.addAction(action)

    def _add_toolbar(self) -> None:
        bar = getattr(self.window, "toolbar", None)
        if bar is None:
            bar = self.window.addToolBar("Training")
            bar.setObjectName("toolbar_training")
        bar.addSeparator()
        for action in (self.panel.start_action, self.panel.pause_action,
                       self.panel.stop_action):
            bar.addAction(action)
        self.toolbar_progress = QProgressBar()
        self.toolbar_progress.setRange(0, 100)
        self.toolbar_progress.setMaximumWidth(160)
        self.toolbar_progress.setFormat("%p%")
        self.toolbar_progress.setValue(0)  # "0%" while idle, not an empty white box
        self.toolbar_progress.setToolTip("Training progress")
        bar.addWidget(self.toolbar_progress)
        self.panel.progress.valueChanged.connect(self.toolbar_progress.setValue)

    # -- reactions ----------------------------------------------------------------------------
    def default_spec(self) -> str:
        """The data the current model was made for: digits for a 1x8x8 Input, else shapes
        generated at the Input's size. Nothing to choose before the first Train."""
        return "digits" if self.controller.input_geometry_text() == _DIGITS_INPUT else "shapes"

    def choose_default_dataset(self, unless_large: bool = False) -> None:
        """Load the default dataset; with ``unless_large``, a generated one above
        EAGER_DATASET_BYTES (or beyond the memory budget) is only described in the panel."""
        spec = self.default_spec()
        plan = self.controller.plan_for(spec)
        if unless_large and plan is not None and (
                plan.bytes > EAGER_DATASET_BYTES or plan.refusal is not None):
            self.panel.show_plan(plan)
            return
        self.panel.choose_dataset(spec)

    def _training_dock_shown(self, visible: bool) -> None:
        c = self.controller
        if visible and c.dataset is None and not c.is_loading():
            self.choose_default_dataset(unless_large=True)

    def current_weights(self) -> dict | None:
        """The weights exports carry: trained or loaded ones with their normaliser, or None."""
        c = self.controller
        if not c.weights:
            return None
        state = dict(c.weights)
        if c.normalizer is not None:
            state.update(normalizer_meta(c.normalizer))
        if c.class_names():
            state.update(class_names_meta(c.class_names()))
        return state

    def model_replaced(self) -> None:
        """Another model is on the canvas (New, template, Open). Results of the previous one
        are forgotten; when its weights fit some layers of the new one, the user decides.
        Shapes still being generated for the previous model's Input are stopped."""
        c = self.controller
        if c.is_loading() and c.plan_for(c.loading_spec()) is not None:
            c.cancel_loading()
        if c.dataset is None:
            self.panel.show_plan(None)
            self._training_dock_shown(self.docks["training"].isVisible())
        if not c.has_results():
            return
        fits, total = c.fitting_layers()
        if fits and dialogs.ask(
                self.window, "Keep the trained weights?",
                f"The current weights ({c.weights_note}) fit {len(fits)} of the {total} "
                f"layer(s) with weights of the new model: {', '.join(fits)}.",
                "Keep them to continue training from them (transfer learning), or start the "
                "new model from fresh random weights. The curves and the confusion matrix of "
                "the previous model are kept for reference, marked as such.",
                "Keep the weights", "Start fresh"):
            self._mark_earlier_results()
            return
        c.forget_results()

    def _mark_earlier_results(self, *_: object) -> None:
        """Curves made for a model that has since changed say so (the confusion view and the
        weights line check for themselves)."""
        self.curves.set_earlier_model(not self.controller.is_current(
            self.controller.curves_model))

    def unsaved_weights(self) -> UnsavedWork | None:
        """What closing this model would lose of its weights: trained (or recovered) weights in
        no file, or a run still going, which closing stops. Saved weights, and weights loaded
        from a file and unchanged, lose nothing."""
        c = self.controller
        name = c.document.display_name()
        running = c.state != IDLE
        stops = " Training is still running: closing stops it." if running else ""
        if c.weights and c.weights_unsaved:
            return UnsavedWork("Unsaved weights", f"The trained weights of {name} "
                               f"({c.weights_note}) are not saved.{stops}",
                               self.weights.ask_save)
        if running:
            return UnsavedWork("Training is running", f"{name} is still training and no "
                               "epoch has finished yet, so there are no new weights to save. "
                               "Closing stops the run.", None)
        return None

    def may_replace_weights(self, consequence: str) -> bool:
        """Before Reset Weights or Load Weights replaces trained weights that are in no file:
        the same Save / Discard / Cancel question as closing asks, saying what the action
        does to them. True when it is fine to go on."""
        work = self.unsaved_weights()
        if work is None:
            return True
        return UnsavedWork(work.title, f"{work.question} {consequence}", work.save).ask(
            self.window)

    def reset_weights(self) -> None:
        """Reset Weights (the Train menu's and the Training panel's), asking first about
        trained weights that are in no file."""
        if self.may_replace_weights("Reset Weights replaces them with fresh random weights."):
            self.controller.reset_weights()

    def _weights_for_recovery(self) -> tuple[dict | None, str, bool]:
        c = self.controller
        return self.current_weights(), c.weights_note, c.weights_unsaved

    def _dataset_loading(self, what: str) -> None:
        """Train pressed before the data exists: the load it started shows where its progress
        and Stop are, even when the Training dock was behind another tab."""
        if self.panel.waiting_for_data():
            self.docks["training"].raise_()
            self._waiting_message = what + " Training starts when it is ready."
            self._show_status(self._waiting_message)

    def _run_started(self, epochs: int) -> None:
        bar = self.window.statusBar()
        if bar.currentMessage() == self._waiting_message:
            bar.clearMessage()  # it is ready now: the run would otherwise look still waiting
        self._mark_alerts()
        self.curves.reset(epochs)
        self._mark_earlier_results()
        self.docks["curves"].raise_()
        self.docks["training"].raise_()
        self._make_room()

    # -- alerts -------------------------------------------------------------------------------
    def _canvas_scene(self) -> object | None:
        canvas = getattr(self.window, "canvas", None)
        return getattr(canvas, "canvas_scene", None)

    def _mark_alerts(self) -> None:
        """Badge every block the current run's alerts name (none at the start of a run)."""
        scene = self._canvas_scene()
        if scene is None:
            return
        marks: dict[str, tuple[str, ...]] = {}
        for alert in self.controller.alerts:
            if alert.layer is not None:
                marks[alert.layer] = (*marks.get(alert.layer, ()), alert.message)
        scene.set_alerts(marks)  # type: ignore[attr-defined]

    def _alerts_raised(self, alerts: tuple) -> None:
        self._mark_alerts()
        self.docks["health"].raise_()
        stop = next((a for a in alerts if a.stops), None)
        first = stop or alerts[0]
        what = "Paused by an alert" if stop is not None else "Alert"
        self._show_status(f"{what}: {first.kind} \u2014 see Health")

    def apply_fix(self, alert: object) -> None:
        """An alert's fix button: set its learning rate and restart the run from the weights
        it started from."""
        lr = getattr(alert, "suggested_lr", None)
        if lr is None:
            return
        self.panel.form.lr.setValue(lr)
        try:
            self.controller.restart(self.panel.form.settings())
        except TrainingRefused as exc:
            self._show_status(str(exc))

    def show_sanity_checks(self) -> None:
        """Open (or raise) the sanity-checks window; it runs with the panel's settings."""
        if self.sanity_dialog is None:
            from cnnstudio.gui.training.sanity_dialog import SanityDialog

            self.sanity_dialog = SanityDialog(self.controller, self.panel.form, self.window)
        c = self.controller
        if c.dataset is None and not c.is_loading():
            self.choose_default_dataset()
        self.sanity_dialog.show()
        self.sanity_dialog.raise_()

    def _make_room(self) -> None:
        """Curves and matrices need more height than the summary strip the designer keeps."""
        dock = self.docks["curves"]
        if not dock.isFloating() and 0 < dock.height() < _TRAINING_HEIGHT:
            self.window.resizeDocks([dock], [_TRAINING_HEIGHT], Qt.Orientation.Vertical)

    def _run_finished(self, outcome: RunOutcome) -> None:
        n = outcome.epochs_done
        if outcome.stopped:
            self._show_status(f"Stopped after {n} epoch{'s' if n != 1 else ''}.")
        elif outcome.evaluation is not None:
            self._show_status(f"Training finished after {n} epoch{'s' if n != 1 else ''}; "
                              "see Confusion for the mistakes.")

    def _unit_picked(self, channel: int, _row: int, _col: int) -> None:
        """A clicked feature-map unit's layer and channel are what Top patches would search."""
        pinned = self.feature_maps.pinned
        if pinned is not None:
            self.top_patches.choose(pinned[0], channel)

    def pick_confusion_image(self, tile: int) -> None:
        """An image of a confusion cell becomes the sample: Why and Feature maps show it."""
        c = self.controller
        ev, shown = c.evaluation, self.confusion.shown_indices
        if ev is None or c.dataset is None or not 0 <= tile < len(shown):
            return
        x = evaluation_split(c.dataset)[0]
        i = int(shown[tile])
        if len(x) != len(ev.labels) or not 0 <= i < len(x):
            return
        names = c.class_names()
        c.set_sample(x[i], f"{c.evaluated_on or 'held-out'} image {i}: true "
                           f"{names[ev.labels[i]]}, predicted {names[ev.predictions[i]]}")
        self._show_status(f"Image {i} is the sample now: see where the network looked in Why, "
                          "and its feature maps.")

    def _show_status(self, text: str) -> None:
        bar = self.window.statusBar()
        bar.showMessage(text, 8000)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """A window that really closes (its close was accepted, so it hides) stops the run
        and waits for the worker; a close the user cancels leaves training alone.

        The mark set by Close lasts until the window hides or shows again: a question asked
        on closing runs its own event loop, so nothing queued may clear it meanwhile. A hide
        the window system makes (minimising) is spontaneous and never stops a run."""
        if obj is self.window:
            kind = event.type()
            if kind == QEvent.Type.Close:
                self._closing = True
            elif kind == QEvent.Type.Show:
                self._closing = False
            elif kind == QEvent.Type.Hide and self._closing and not event.spontaneous():
                self._closing = False
                if self.sanity_dialog is not None:
                    self.sanity_dialog.runner.stop()
                    self.sanity_dialog.runner.wait()
                self.shutdown()
        return False

    def shutdown(self) -> bool:
        """Stop the run and wait for every background thread the views started."""
        self.feature_maps.shutdown()
        self.why.shutdown()
        self.scrubber.shutdown()
        self.top_patches.shutdown()
        return self.controller.shutdown()


def install_training(window: QMainWindow, default_dataset: bool = False) -> TrainingUI:
    """Add the training docks, the Train menu and toolbar buttons to ``window``; keep the
    returned object as ``window.training``.

    The default dataset loads when first needed (Train pressed, or the Training dock shown),
    or at once in the background with ``default_dataset=True``."""
    ui = TrainingUI(window)
    window.training = ui
    restore = getattr(window, "restore_layout", None)
    if callable(restore):
        restore()  # the saved layout can place the training docks only now that they exist
    if default_dataset:
        QTimer.singleShot(0, lambda: ui.choose_default_dataset(unless_large=True))
    return ui
