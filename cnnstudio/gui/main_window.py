"""The designer window: canvas in the middle, palette, inspector, summary and problems as docks.

It wires the shared objects (Document, Selection) into the views, builds the menus from the
actions those views and the file handling offer, and remembers its geometry and dock layout.
Menus are kept in ``self.menus`` and the toolbar in ``self.toolbar`` so other windows' features
(training) can add their entries without editing this file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, SignalInstance
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStyle,
    QToolBar,
    QWidget,
)

from cnnstudio import __version__
from cnnstudio.core.appearance import human_count
from cnnstudio.core.templates import DEFAULT_TEMPLATE, load_template
from cnnstudio.core.validator import ValidationResult
from cnnstudio.gui import settings as cfg
from cnnstudio.gui.canvas import CanvasView
from cnnstudio.gui.color_scheme import ColorScheme
from cnnstudio.gui.document import Document
from cnnstudio.gui.export_actions import ExportActions
from cnnstudio.gui.file_actions import FileActions
from cnnstudio.gui.focus_keeper import FocusKeeper
from cnnstudio.gui.inspector import InspectorWidget
from cnnstudio.gui.lazy import watch_dock
from cnnstudio.gui.palette import PaletteWidget
from cnnstudio.gui.problems_panel import ProblemsPanel
from cnnstudio.gui.selection import Selection
from cnnstudio.gui.steady_label import SteadyLabel, steady
from cnnstudio.gui.summary_panel import SummaryPanel
from cnnstudio.gui.training import install_training
from cnnstudio.gui.undo_keys import ModelUndoKeys

#: (object name, title, area, panel class) of the docks; panels take (document, selection).
DOCKS = (
    ("palette", "Palette", Qt.DockWidgetArea.LeftDockWidgetArea, PaletteWidget),
    ("inspector", "Inspector", Qt.DockWidgetArea.RightDockWidgetArea, InspectorWidget),
    ("summary", "Summary", Qt.DockWidgetArea.BottomDockWidgetArea, SummaryPanel),
    ("problems", "Problems", Qt.DockWidgetArea.BottomDockWidgetArea, ProblemsPanel),
)
SCREENSHOT_SIZE = (1400, 900)

GESTURES = """<table cellspacing=4>
<tr><td><b>Add a layer</b></td><td>drag it from the palette, or double-click it there</td></tr>
<tr><td><b>Insert into a connection</b></td><td>drop the layer onto the connection</td></tr>
<tr><td><b>Connect</b></td><td>drag from an output port (bottom) to an input port (top)</td></tr>
<tr><td><b>Select several</b></td><td>drag a rectangle on empty canvas; Ctrl+click</td></tr>
<tr><td><b>Zoom</b></td><td>mouse wheel (around the cursor); Ctrl+0 actual size</td></tr>
<tr><td><b>Pan</b></td><td>middle button drag, or hold Space and drag</td></tr>
<tr><td><b>Disconnect</b></td><td>click a connection, then Delete</td></tr>
</table>"""


class _OffWhileLocked(QObject):
    """Keeps a history action disabled while the document is locked. Connected after the
    undo stack's own enabling, so it has the last word; a child of the action, so it goes
    (with its connections) when the action does."""

    def __init__(self, action: QAction, document: Document, can_changed: SignalInstance,
                 can: bool) -> None:
        super().__init__(action)
        self._document, self._can = document, can
        can_changed.connect(self._can_changed)
        document.lockedChanged.connect(self._update)
        self._update()

    def _can_changed(self, can: bool) -> None:
        self._can = can
        self._update()

    def _update(self, *_: object) -> None:
        action = self.parent()  # not a kept wrapper: shiboken may drop that one at teardown
        if isinstance(action, QAction):
            action.setEnabled(self._can and not self._document.locked)


class MainWindow(QMainWindow):
    def __init__(self, document: Document | None = None, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document or Document(load_template(DEFAULT_TEMPLATE))
        self.selection = Selection(self)
        self.settings = settings or cfg.open_settings()
        self.color_scheme = ColorScheme(self.settings, self)  # before any widget reads colours
        self.canvas = CanvasView(self.document, self.selection)
        self.setCentralWidget(self.canvas)
        self.files = FileActions(self, self.document, self.settings, self.canvas.show_model)
        #: Set by training: ``() -> state dict | None``; what exports use (see current_weights).
        self.weights_provider: Callable[[], Mapping[str, Any] | None] | None = None
        self.exports = ExportActions(self, self.document, self.files, self.current_weights)
        self.docks: dict[str, QDockWidget] = {}
        self.panels: dict[str, QWidget] = {}
        self.menus: dict[str, QMenu] = {}
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._undo_keys = ModelUndoKeys(self)  # Ctrl+Z after an inspector entry undoes it
        self.focus_keeper = FocusKeeper(self)  # shortcuts work again once an error box closes
        self.resize(*SCREENSHOT_SIZE)
        self._default_dock_sizes()
        self._default_state = self.saveState()
        self._needs_sizes = not self.restore_layout()

        self.document.changed.connect(self._show_totals)
        self._errors_shown = 0
        self.document.changed.connect(self._show_problem_count)
        self.document.cleanChanged.connect(self._update_title)
        self.document.pathChanged.connect(self._update_title)
        self.document.editRefused.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self._update_title()
        self._show_totals(self.document.result)
        self._show_problem_count(self.document.result)
        install_training(self)  # training docks, Train menu and buttons (gui/training)

    # --- docks ------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AllowNestedDocks)
        for name, title, area, panel_class in DOCKS:
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            panel = panel_class(self.document, self.selection)
            dock.setWidget(panel)
            watch_dock(dock)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
            self.panels[name] = panel
        self.tabifyDockWidget(self.docks["summary"], self.docks["problems"])
        self.docks["summary"].raise_()

    def _default_dock_sizes(self) -> None:
        """The canvas gets most of the room; the bottom panels a strip the table fits in."""
        self.resizeDocks([self.docks["palette"], self.docks["inspector"]], [210, 330],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["summary"]], [190], Qt.Orientation.Vertical)

    def restore_layout(self) -> bool:
        """Geometry and docks as the user left them; False when nothing was saved yet."""
        geometry = cfg.get(self.settings, "window/geometry")
        if not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = cfg.get(self.settings, "window/state")
        return not state.isEmpty() and self.restoreState(state)

    def showEvent(self, event) -> None:  # noqa: N802, ANN001
        super().showEvent(event)
        if self._needs_sizes:  # dock sizes only take once the window has its real size
            self._needs_sizes = False
            self._default_dock_sizes()
        if self._errors_shown and not event.spontaneous():  # opened on a broken model
            self.docks["problems"].raise_()

    def save_layout(self) -> None:
        cfg.put(self.settings, "window/geometry", self.saveGeometry())
        cfg.put(self.settings, "window/state", self.saveState())
        self.settings.sync()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            dock.show()
        self._default_dock_sizes()

    # --- actions and menus ------------------------------------------------------------------
    def _action(self, text: str, slot: Callable[[], object], keys: object = None,
                icon: QStyle.StandardPixmap | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if keys is not None:
            action.setShortcut(QKeySequence(keys))  # type: ignore[arg-type]
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _=False: slot())
        return action

    def _build_actions(self) -> None:
        sp, keys, f = QStyle.StandardPixmap, QKeySequence.StandardKey, self.files
        self.actions = {
            "new": self._action("&New", f.new, keys.New, sp.SP_FileIcon,
                                "start an empty model (undoable)"),
            "open": self._action("&Open…", f.open_dialog, keys.Open, sp.SP_DialogOpenButton,
                                 "open a model file"),
            "save": self._action("&Save", f.save, keys.Save, sp.SP_DialogSaveButton,
                                 "save the model"),
            "save_as": self._action("Save &As…", f.save_as, keys.SaveAs),
            "quit": self._action("&Quit", self.close, keys.Quit),
            "auto_layout": self._action("&Auto-Layout", self._auto_layout, "Ctrl+L",
                                        tip="arrange the blocks top to bottom"),
            "validate": self._action("&Check the Model", self.show_problems, "F7",
                                     tip="list every error and warning of the model"),
            "summary": self._action("&Summary Table", self.show_summary,
                                    tip="layers, shapes, parameters and cost as a table"),
            "shortcuts": self._action("&Mouse and Keyboard", self._show_gestures),
            "about": self._action("&About cnnstudio", self._show_about),
            "reset_layout": self._action("&Reset Window Layout", self.reset_layout),
        }
        undo = self.document.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence(keys.Undo))
        undo.setIcon(self.style().standardIcon(sp.SP_ArrowBack))
        redo = self.document.undo_stack.createRedoAction(self, "&Redo")
        # Ctrl+Y too, but once: a key listed twice is "ambiguous" and Qt then triggers nothing
        # (it is the platform's only Redo key on Windows and offscreen).
        redo_keys = QKeySequence.keyBindings(keys.Redo) + [QKeySequence("Ctrl+Y")]
        redo.setShortcuts([QKeySequence(t) for t in dict.fromkeys(k.toString() for k in redo_keys)])
        redo.setIcon(self.style().standardIcon(sp.SP_ArrowForward))
        self.actions["undo"], self.actions["redo"] = undo, redo
        self._lock_history(undo, redo)
        self.actions.update(self.canvas.actions_by_name)

    def _lock_history(self, undo: QAction, redo: QAction) -> None:
        """Undo and Redo are off while the model is locked (training): their steps would
        change the structure under the run."""
        stack = self.document.undo_stack
        _OffWhileLocked(undo, self.document, stack.canUndoChanged, stack.canUndo())
        _OffWhileLocked(redo, self.document, stack.canRedoChanged, stack.canRedo())

    def _build_menus(self) -> None:
        a, bar = self.actions, self.menuBar()
        file = self.menus["file"] = bar.addMenu("&File")
        file.addAction(a["new"])
        templates = self.menus["templates"] = file.addMenu("New from &Template")
        templates.aboutToShow.connect(lambda: self.files.fill_template_menu(templates))
        self.files.fill_template_menu(templates)
        file.addAction(a["open"])
        recent = self.menus["recent"] = file.addMenu("Open &Recent")
        recent.aboutToShow.connect(lambda: self.files.fill_recent_menu(recent))
        self.files.fill_recent_menu(recent)
        file.addSeparator()
        for name in ("save", "save_as"):
            file.addAction(a[name])
        export = self.menus["export"] = file.addMenu("&Export")
        self.exports.fill_menu(export)
        self.actions.update({f"export_{k}": action for k, action in self.exports.actions.items()})
        file.addSeparator()
        file.addAction(a["quit"])

        edit = self.menus["edit"] = bar.addMenu("&Edit")
        for name in ("undo", "redo", None, "cut", "copy", "paste", "duplicate", "delete", None,
                     "select_all"):
            edit.addSeparator() if name is None else edit.addAction(a[name])

        view = self.menus["view"] = bar.addMenu("&View")
        for name in ("zoom_in", "zoom_out", "zoom_reset", "fit"):
            view.addAction(a[name])
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addAction(a["reset_layout"])
        view.addSeparator()
        self.scheme_actions = self.color_scheme.fill_menu(view.addMenu("&Colour Scheme"))

        # Model-level actions. Others add theirs in sections: training adds the weights
        # actions after the "weights" separator; checks of the model (sanity checks) belong
        # after validate, before that separator.
        model = self.menus["model"] = bar.addMenu("&Model")
        for name in ("validate", "summary"):
            model.addAction(a[name])
        self.model_checks_end = model.addSeparator()  # insert sanity checks before this
        model.addAction(a["auto_layout"])
        model.addSeparator()
        for name in ("group", "ungroup", "toggle_unit", "repeat_unit", "rename_unit"):
            model.addAction(a[name])
        self.model_weights_start = model.addSeparator()  # weights actions go after this

        helpm = self.menus["help"] = bar.addMenu("&Help")
        helpm.addAction(a["shortcuts"])
        helpm.addAction(a["about"])

    def _build_toolbar(self) -> None:
        bar = self.toolbar = QToolBar("Main toolbar", self)
        bar.setObjectName("toolbar_main")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for name in ("new", "open", "save", None, "undo", "redo", None, "fit", "auto_layout"):
            bar.addSeparator() if name is None else bar.addAction(self.actions[name])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def _build_status_bar(self) -> None:
        self._totals_label = SteadyLabel()
        self._valid_label = SteadyLabel()
        self._valid_label.setObjectName("validity")
        self.statusBar().addPermanentWidget(steady(self._totals_label))
        self.statusBar().addPermanentWidget(steady(self._valid_label))

    # --- reactions --------------------------------------------------------------------------
    def _show_totals(self, result: ValidationResult) -> None:
        t = result.totals
        self._totals_label.setText(f"{t.trainable:,} trainable · {t.non_trainable:,} "
                                   f"non-trainable · {human_count(t.macs)} MACs")
        if result.valid:
            text, colour = "valid", "#2e8b57"
        else:
            n = len(result.errors)
            text, colour = f"invalid: {n} error{'s' if n != 1 else ''}", "#d64541"
        if result.warnings:
            text += f", {len(result.warnings)} warning{'s' if len(result.warnings) > 1 else ''}"
        self._valid_label.setText(text)
        sheet = f"QLabel {{ color: {colour}; font-weight: 600; }}"
        if self._valid_label.styleSheet() != sheet:  # a new sheet re-lays out the window
            self._valid_label.setStyleSheet(sheet)

    def _show_problem_count(self, result: ValidationResult) -> None:
        """The Problems tab carries the count and comes to the front when new errors appear,
        so an error is seen even while the Summary tab covers the list."""
        dock = self.docks["problems"]
        n = len(result.errors) + len(result.warnings)
        title = f"Problems ({n})" if n else "Problems"
        if dock.windowTitle() != title:  # the same title would still repaint the dock's tab
            dock.setWindowTitle(title)
        if len(result.errors) > self._errors_shown and not dock.isHidden():
            dock.raise_()
        self._errors_shown = len(result.errors)

    def status_text(self) -> str:
        return f"{self._totals_label.text()} · {self._valid_label.text()}"

    def _update_title(self, *_: object) -> None:
        self.setWindowTitle(f"{self.document.display_name()}[*] — cnnstudio")
        self.setWindowModified(not self.document.is_clean())

    def show_problems(self) -> None:
        """Model > Check the Model: the Problems list in front, and the verdict in the status
        bar (the validator runs on every change; this shows its result)."""
        dock = self.docks["problems"]
        dock.show()
        dock.raise_()
        self.statusBar().showMessage(f"The model is {self._valid_label.text()}.", 8000)

    def show_summary(self) -> None:
        dock = self.docks["summary"]
        dock.show()
        dock.raise_()

    def _auto_layout(self) -> None:
        self.document.auto_layout()
        self.canvas.show_model()

    def _show_gestures(self) -> None:
        QMessageBox.information(self, "Mouse and keyboard", GESTURES)

    def _show_about(self) -> None:
        QMessageBox.about(self, "About cnnstudio",
                          f"<b>cnnstudio {__version__}</b><br>Design, understand, train and "
                          "export convolutional neural networks on your own computer.")

    def current_weights(self) -> Mapping[str, Any] | None:
        """The weights exports should carry (trained or loaded in the training dock), or None.

        Training sets ``weights_provider``; the arrays are ``"<layer id>/<name>"`` in PyTorch
        layouts (``Network.state_dict()``), meta keys allowed. None means "no trained weights".
        """
        return self.weights_provider() if self.weights_provider is not None else None

    # --- life cycle -------------------------------------------------------------------------
    def open_path(self, path: str) -> bool:
        return self.files.open_path(path)

    def offer_recovery(self) -> bool:
        return self.files.offer_recovery()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.files.maybe_save():
            event.ignore()
            return
        self.save_layout()
        self.files.shutdown()
        event.accept()
