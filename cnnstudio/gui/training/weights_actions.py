"""Weights in and out of the window: save, load where they fit, and classify an image.

Loading "where they fit" is how transfer learning works here: layers whose ids and shapes match
the file take its weights, the others keep theirs, and a report lists both, so the user knows
exactly which part of the model is pretrained (and can freeze it). Predict is the plainest
proof that a model learned something: pick a picture, read the top classes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.engine.datasets import DatasetError
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.network import LoadReport
from cnnstudio.gui.training.controller import TrainingController
from cnnstudio.gui.training.dialogs import show_problem, show_report
from cnnstudio.gui.training.imaging import image_to_rgb, rgb_to_qimage

__all__ = ["PredictionDialog", "WeightsActions", "top_classes"]

_WEIGHTS_FILTER = "Weights (*.npz)"
_TOP = 5


def top_classes(probs: np.ndarray, names: tuple[str, ...], k: int = _TOP
                ) -> list[tuple[str, float]]:
    """The ``k`` most likely ``(class name, probability)``, most likely first."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(names[i] if i < len(names) else f"class {i}", float(probs[i])) for i in order]


class WeightsActions(QObject):
    """Save weights, Load weights, Predict: QActions for the Train menu and the toolbar."""

    def __init__(self, controller: TrainingController, parent: QWidget) -> None:
        super().__init__(parent)
        self.controller = controller
        self.parent_widget = parent
        self.save_action = QAction("Save Weights\u2026", self)
        self.save_action.setToolTip("Save the current weights as a .npz file")
        self.save_action.triggered.connect(self.ask_save)
        self.load_action = QAction("Load Weights\u2026", self)
        self.load_action.setToolTip("Load a .npz weights file into the layers it fits")
        self.load_action.triggered.connect(self._ask_load)
        self.predict_action = QAction("Predict Image\u2026", self)
        self.predict_action.setToolTip("Classify an image file with the current weights")
        self.predict_action.triggered.connect(self._ask_predict)
        controller.stateChanged.connect(self._state)
        #: Asked before Load Weights replaces the current weights, with what loading does to
        #: them; False stops the load (the window asks about trained weights in no file).
        self.may_replace: Callable[[str], bool] = lambda _consequence: True

    def _state(self, state: str) -> None:
        idle = state == "idle"
        self.load_action.setEnabled(idle)
        self.save_action.setEnabled(idle)

    # -- dialogs ------------------------------------------------------------------------------
    def _files(self):  # noqa: ANN202 - the window's FileActions, when there is one
        return getattr(self.parent_widget, "files", None)

    def _where(self, suffix: str) -> str:
        """Where a weights dialog starts: in the last folder used, like Open and Save (beside
        the model file, named after it, when it has one)."""
        files = self._files()
        if files is None:
            return "weights.npz" if suffix else ""
        suggested = files.suggested_path(suffix or ".npz")
        return str(suggested if suffix else suggested.parent)

    def _remember(self, path: str) -> None:
        files = self._files()
        if files is not None:
            files.remember_folder(Path(path))

    def ask_save(self) -> bool:
        """The Save Weights dialog; True when the weights were written."""
        path, _ = QFileDialog.getSaveFileName(self.parent_widget, "Save weights",
                                              self._where(".npz"), _WEIGHTS_FILTER)
        if not path:
            return False
        path = path if path.endswith(".npz") else path + ".npz"
        if not self.save_to(path):
            return False
        self._remember(path)
        return True

    def _ask_load(self) -> None:
        if not self.may_replace("Loading a weights file replaces them in every layer it fits."):
            return
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Load weights",
                                              self._where(""), _WEIGHTS_FILTER)
        if path:
            self._remember(path)
            self.load_from(path)

    def _ask_predict(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Classify an image",
                                              self._where(""),
                                              "Images (*.png *.jpg *.jpeg *.bmp *.gif)")
        if path:
            self._remember(path)
            self.predict_file(path)

    # -- the work (callable without dialogs) --------------------------------------------------
    def save_to(self, path: str | Path) -> bool:
        try:
            self.controller.save_weights(path)
        except EngineError as exc:
            show_problem(self.parent_widget, "Cannot save the weights", str(exc),
                         "Fix the model's errors or choose a folder you can write to.")
            return False
        return True

    def load_from(self, path: str | Path) -> LoadReport | None:
        """Load where it fits and show the report; a dialog explains a file that cannot be used."""
        try:
            report = self.controller.load_weights(path)
        except EngineError as exc:
            first, _, rest = str(exc).partition("\n")
            show_problem(self.parent_widget, "Cannot load the weights", first,
                         (rest + "\n\n" if rest else "") + "The current weights are unchanged. "
                         "A weights file fits layers with the same id and shapes.")
            return None
        lines = [f"Loaded: {', '.join(report.loaded)}"]
        if report.skipped:
            lines.append("Skipped (kept their current weights):")
            lines += [f"  {lid}: {why}" for lid, why in report.skipped]
        show_report(self.parent_widget, "Weights loaded",
                    f"{Path(path).name}: {len(report.loaded)} layer(s) loaded, "
                    f"{len(report.skipped)} skipped.", "\n".join(lines))
        return report

    def predict_file(self, path: str | Path) -> list[tuple[str, float]] | None:
        """Classify one image file and show the top classes; None (with a dialog) on failure."""
        c = self.controller
        try:
            image = c.read_image(path)
            probs = c.predict(image[None])[0]
        except (DatasetError, EngineError, ValueError) as exc:
            show_problem(self.parent_widget, "Cannot classify the image", str(exc),
                         "Use a PNG/JPEG image and a model without errors.")
            return None
        top = top_classes(probs, c.class_names())
        dialog = PredictionDialog(image, Path(path).name, top, c.weights_note, self.parent_widget)
        dialog.open()
        return top


class PredictionDialog(QDialog):
    """The image as the model saw it, beside its top classes as probability bars."""

    def __init__(self, image: np.ndarray, title: str, top: list[tuple[str, float]], note: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Prediction \u2014 {title}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picture = QLabel()
        pix = QPixmap.fromImage(rgb_to_qimage(image_to_rgb(image)))
        picture.setPixmap(pix.scaled(128, 128, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.FastTransformation))
        bars = QVBoxLayout()
        for name, p in top:
            row = QHBoxLayout()
            label = QLabel(name)
            label.setMinimumWidth(90)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(int(round(1000 * p)))
            bar.setFormat(f"{p:.1%}")
            row.addWidget(label)
            row.addWidget(bar, 1)
            bars.addLayout(row)
        bars.addWidget(QLabel(f"Weights: {note}"))
        body = QHBoxLayout()
        body.addWidget(picture)
        body.addLayout(bars, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(buttons)
        self.resize(420, 200)
