"""File handling of the designer window: new, templates, open, save, recent files,
the unsaved-changes question and the recovery copy written within a second of each change.

Separate from the window's layout code because every path here ends in a dialog or on disk,
and tests drive it by patching the dialogs (QMessageBox, QFileDialog) with plain answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from cnnstudio.core import modelfile
from cnnstudio.core.graph import Graph, GraphError
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.gui import settings as cfg
from cnnstudio.gui.document import Document
from cnnstudio.gui.recovery import UNREADABLE_SUFFIX, RecoveryStore

MODEL_FILTER = "cnnstudio models (*.json);;All files (*)"
#: ``() -> (weights with meta or None, what they are, not saved in any file?)``
WeightsSource = Callable[[], tuple[Mapping[str, np.ndarray] | None, str, bool]]


@dataclass(frozen=True, slots=True)
class UnsavedWork:
    """Something closing the model would lose, as the Save / Discard / Cancel question puts it:
    ``save()`` offers its save dialog and says whether it was written (None: nothing can be
    saved, only kept or dropped)."""

    title: str
    question: str
    save: Callable[[], bool] | None

    def ask(self, parent: QWidget) -> bool:
        """The Save / Discard / Cancel question (no Save without ``save``); True when it is
        fine to go on: saved, or discarded."""
        buttons = QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        if self.save is not None:
            buttons |= QMessageBox.StandardButton.Save
        answer = QMessageBox.question(
            parent, self.title, self.question, buttons,
            QMessageBox.StandardButton.Save if self.save is not None
            else QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save and self.save is not None:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard


class FileActions(QObject):
    #: The user put another model on the canvas (New, a template, Open): results made for the
    #: previous one (weights, curves, confusion matrix) no longer belong to it.
    modelReplaced = Signal()

    def __init__(self, window: QWidget, document: Document, settings: QSettings,
                 after_load: Callable[[], None]) -> None:
        super().__init__(window)
        self.window = window
        self.document = document
        self.settings = settings
        self._after_load = after_load  # e.g. fit the new model into the canvas
        self.recovery = RecoveryStore(cfg.settings_folder(settings) / "recovery")
        #: Set by training: ``() -> (weights with meta or None, what they are, unsaved?)``, so
        #: the recovery copy keeps the weights too; and how to give them back after a crash.
        self.weights_source: WeightsSource | None = None
        self.weights_restorer: Callable[[dict[str, np.ndarray], str], None] | None = None
        #: Set by training: what of the weights is in no file (asked about with the model).
        self.unsaved_weights: Callable[[], UnsavedWork | None] | None = None
        self._weights_version = 0  # bumped by weights_changed()
        self._weights_written = -1  # the version the recovery copy holds
        self._has_copy = False
        # Single shot, started by the first change of a burst: the copy is at most this late,
        # and a burst of edits (typing, dragging) is written once.
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setSingleShot(True)
        self.autosave_timer.setInterval(max(0, cfg.get(settings, "recovery/delay_ms")))
        self.autosave_timer.timeout.connect(lambda: self.autosave(wait=False))
        document.changed.connect(self.schedule_autosave)
        document.cleanChanged.connect(self.schedule_autosave)

    # --- new / templates --------------------------------------------------------------------
    def new(self) -> None:
        """An empty canvas with one Input block (undoable: the old model is one Ctrl+Z away,
        its trained weights are not, so unsaved weights are asked about)."""
        if not self._may_replace():
            return
        graph = Graph("Untitled")
        graph.add_layer("Input", position=(0.0, 0.0))
        self._replace(graph, "New model")

    def new_from_template(self, key: str) -> None:
        if not self._may_replace():
            return
        try:
            graph = load_template(key)
        except (KeyError, modelfile.ModelFileError) as exc:
            QMessageBox.critical(self.window, "Template", str(exc).strip("'\""))
            return
        self._replace(graph, f"New from template {graph.name or key}")

    def _may_replace(self, model: bool = False) -> bool:
        """Before another model replaces this one. New and templates keep the model one Ctrl+Z
        away, so only its weights are asked about (``model`` False); Open asks about both.
        While training locks the model nothing is asked: the document refuses and says why."""
        return self.document.locked or self.maybe_save(model)

    def _replace(self, graph: Graph, text: str) -> None:
        try:
            self.document.replace_graph(graph, text)
        except GraphError:
            return  # locked: the document said why
        self._after_load()
        self.modelReplaced.emit()

    def fill_template_menu(self, menu: QMenu) -> None:
        menu.clear()
        for info in list_templates():
            action = menu.addAction(info.title)
            action.setToolTip(info.description)
            action.setStatusTip(info.description)
            action.setData(info.key)
            action.triggered.connect(lambda _=False, k=info.key: self.new_from_template(k))

    # --- open -------------------------------------------------------------------------------
    def open_dialog(self) -> bool:
        if not self._may_replace(model=True):
            return False
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", self._start_dir(),
                                              MODEL_FILTER)
        return self.open_path(path, ask=False) if path else False

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        """Open a model file; on failure show the reader's message and keep the current model."""
        if ask and not self._may_replace(model=True):
            return False
        try:
            self.document.open(path)
        except modelfile.ModelFileError as exc:
            QMessageBox.critical(self.window, "Cannot open model", str(exc))
            return False
        except GraphError as exc:
            QMessageBox.warning(self.window, "Cannot open model", str(exc))
            return False
        self._remember(Path(path))
        self._after_load()
        self.modelReplaced.emit()
        return True

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        recent = [p for p in cfg.get(self.settings, "files/recent") if p]
        for i, path in enumerate(recent):
            action = menu.addAction(f"&{i + 1 if i < 9 else 0}  {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not recent:
            menu.addAction("No recent files").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear list", lambda: cfg.put(self.settings, "files/recent", []))

    # --- save -------------------------------------------------------------------------------
    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        suggested = str(self.document.path or Path(self._start_dir()) /
                        f"{_slug(self.document.graph.name)}.json")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save model as", suggested,
                                              MODEL_FILTER)
        if not path:
            return False
        if not Path(path).suffix:
            path += ".json"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except OSError as exc:
            QMessageBox.critical(self.window, "Cannot save model", str(exc))
            return False
        self._remember(path)
        self.autosave(wait=False)  # nothing unsaved: the copy goes (unless weights are unsaved)
        return True

    def maybe_save(self, model: bool = True) -> bool:
        """Ask before unsaved work (the model's changes unless ``model`` is False, trained
        weights in no file) would be lost, one Save / Discard / Cancel question for each;
        True when it is fine to go on."""
        return all(work.ask(self.window) for work in self.unsaved_work(model))

    def unsaved_work(self, model: bool = True) -> list[UnsavedWork]:
        work = []
        if model and not self.document.is_clean():
            work.append(UnsavedWork(
                "Unsaved changes",
                f"Save the changes to {self.document.display_name()} before closing it?",
                self.save))
        weights = self.unsaved_weights() if self.unsaved_weights is not None else None
        if weights is not None:
            work.append(weights)
        return work

    # --- recovery ---------------------------------------------------------------------------
    def schedule_autosave(self, *_: object) -> None:
        """A change: the recovery copy follows within ``recovery/delay_ms``."""
        if not self.autosave_timer.isActive():
            self.autosave_timer.start()

    def weights_changed(self) -> None:
        """Training, loading or resetting changed the weights: keep the new ones aside too."""
        self._weights_version += 1
        self.schedule_autosave()

    def autosave(self, wait: bool = True) -> None:
        """Keep a recovery copy while there is unsaved work (model changes, or weights that are
        in no file), none otherwise. The GUI thread only serialises the model (milliseconds);
        the writing happens in the store's background thread (``wait=False``)."""
        weights, note, weights_unsaved = (self.weights_source() if self.weights_source
                                          else (None, "", False))
        if self.document.is_clean() and not weights_unsaved:
            if self._has_copy:
                self.recovery.clear(wait=wait)
                self._has_copy, self._weights_written = False, -1
            return
        changed = self._weights_written != self._weights_version
        try:
            self.recovery.write(self.document.to_json_text(), self.document.path,
                                weights=weights, weights_changed=changed, weights_note=note,
                                model_unsaved=not self.document.is_clean(), wait=wait)
        except (OSError, ValueError):
            return  # a recovery copy is a courtesy; never interrupt work over it
        self._has_copy, self._weights_written = True, self._weights_version

    def offer_recovery(self) -> bool:
        """After a crash: offer the newest copy left behind, saying what it holds and how old
        it is; True when it was restored (the model, and the weights kept beside it). Copies
        that cannot be read are named, one line each, and set aside for good."""
        found, problems = self.recovery.orphans()
        if problems:
            self._unreadable_copies(problems)
        if not found:
            return False
        item = found[0]
        answer = QMessageBox.question(
            self.window, "Recover unsaved work?",
            f"cnnstudio did not close normally last time.\n\n{item.describe()}\n\n"
            "Restore it? (No deletes the copy.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        if answer != QMessageBox.StandardButton.Yes:
            for other in found:
                RecoveryStore.discard(other)
            return False
        try:
            self.document.load_graph(item.graph, item.original, clean=not item.model_unsaved)
        except GraphError as exc:  # e.g. too large to draw: it would fail again every time
            RecoveryStore.set_aside(item.copy_path)
            self._unreadable_copies([f"{item.copy_path}: {exc}"])
            return False
        self.modelReplaced.emit()  # the previous results belong to another model
        if item.weights and self.weights_restorer is not None:
            self.weights_restorer(item.weights, item.weights_note)
        for other in found:
            RecoveryStore.discard(other)
        self.autosave()  # the restored work is protected again at once
        self._after_load()
        return True

    def _unreadable_copies(self, problems: list[str]) -> None:
        QMessageBox.warning(
            self.window, "Recovery copy unreadable",
            "\n".join(problems) + f"\n\n{'It was' if len(problems) == 1 else 'They were'} set "
            f"aside (renamed to *{UNREADABLE_SUFFIX}) and will not be offered again; the window "
            "starts as usual.")

    def shutdown(self) -> None:
        self.autosave_timer.stop()
        self.recovery.close()

    # --- helpers ----------------------------------------------------------------------------
    def _remember(self, path: Path) -> None:
        cfg.remember_recent(self.settings, path)
        self.remember_folder(path)

    def suggested_path(self, suffix: str) -> Path:
        """Where an export is offered: beside the model file, named after it (``-copy.json``,
        ``.py``...), or in the last folder used, named after the model."""
        if self.document.path is not None:
            return self.document.path.with_name(self.document.path.stem + suffix)
        return Path(self._start_dir()) / f"{_slug(self.document.graph.name)}{suffix}"

    def remember_folder(self, path: Path) -> None:
        """The next Open/Save/Export dialog starts where the user last wrote a file."""
        cfg.put(self.settings, "files/last_dir", str(path.resolve().parent))

    def _start_dir(self) -> str:
        return cfg.get(self.settings, "files/last_dir") or str(Path.home())


def _slug(name: str) -> str:
    text = "".join(ch if ch.isalnum() else "_" for ch in name.strip().lower()).strip("_")
    return text or "model"
