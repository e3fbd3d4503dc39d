"""File handling of the designer window: new, templates, open, save, recent files,
the unsaved-changes question and the minute-by-minute recovery copy.

Separate from the window's layout code because every path here ends in a dialog or on disk,
and tests drive it by patching the dialogs (QMessageBox, QFileDialog) with plain answers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from cnnstudio.core import modelfile
from cnnstudio.core.graph import Graph, GraphError
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.gui import settings as cfg
from cnnstudio.gui.document import Document
from cnnstudio.gui.recovery import RecoveryStore

MODEL_FILTER = "cnnstudio models (*.json);;All files (*)"


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
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(1000 * max(5, cfg.get(settings, "recovery/interval_s")))
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        document.cleanChanged.connect(self._clean_changed)

    # --- new / templates --------------------------------------------------------------------
    def new(self) -> None:
        """An empty canvas with one Input block (undoable: the old model is one Ctrl+Z away)."""
        graph = Graph("Untitled")
        graph.add_layer("Input", position=(0.0, 0.0))
        self._replace(graph, "New model")

    def new_from_template(self, key: str) -> None:
        try:
            graph = load_template(key)
        except (KeyError, modelfile.ModelFileError) as exc:
            QMessageBox.critical(self.window, "Template", str(exc).strip("'\""))
            return
        self._replace(graph, f"New from template {graph.name or key}")

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
        if not self.maybe_save():
            return False
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", self._start_dir(),
                                              MODEL_FILTER)
        return self.open_path(path, ask=False) if path else False

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        """Open a model file; on failure show the reader's message and keep the current model."""
        if ask and not self.maybe_save():
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
        self.recovery.clear()
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
        self.recovery.clear()
        return True

    def maybe_save(self) -> bool:
        """Ask before unsaved changes would be lost; True when it is fine to go on."""
        if self.document.is_clean():
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes",
            f"Save the changes to {self.document.display_name()} before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # --- recovery ---------------------------------------------------------------------------
    def autosave(self) -> None:
        """Timer tick: keep a recovery copy while there are unsaved changes, none otherwise."""
        if self.document.is_clean():
            self.recovery.clear()
            return
        try:
            self.recovery.write(self.document.to_json_text(), self.document.path)
        except OSError:
            pass  # a recovery copy is a courtesy; never interrupt work over it

    def offer_recovery(self) -> bool:
        """After a crash: offer the newest copy left behind; True when it was restored."""
        found = self.recovery.orphans()
        if not found:
            return False
        item = found[0]
        where = f" (unsaved changes to {item.original.name})" if item.original else ""
        answer = QMessageBox.question(
            self.window, "Recover unsaved work?",
            f"cnnstudio did not close normally last time. A recovery copy of "
            f"\u201c{item.graph.name or 'Untitled'}\u201d{where} was kept.\n\nRestore it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        if answer != QMessageBox.StandardButton.Yes:
            for other in found:
                RecoveryStore.discard(other)
            return False
        try:
            self.document.load_graph(item.graph, item.original, clean=False)
        except GraphError:
            return False
        for other in found:
            RecoveryStore.discard(other)
        self.autosave()  # the restored work is protected again at once
        self._after_load()
        return True

    def shutdown(self) -> None:
        self.autosave_timer.stop()
        self.recovery.close()

    # --- helpers ----------------------------------------------------------------------------
    def _clean_changed(self, clean: bool) -> None:
        if clean:
            self.recovery.clear()

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
