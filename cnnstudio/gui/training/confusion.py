"""After training: which classes the network mixes up, and the images behind each number.

A confusion matrix says *what* goes wrong; the pictures say *why* (a 4 that really looks like a
9, a mislabelled sample, a class the data barely covers). Clicking a cell opens the images it
counts, most confident first; below the matrix the most confidently wrong images of the whole
set are shown from the start, because those are the most instructive mistakes.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.appearance import ACCENT_COLOR, ERROR_COLOR, WARNING_COLOR
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.introspect import Evaluation
from cnnstudio.gui.lazy import RedrawWhenShown
from cnnstudio.gui.training.controller import TrainingController, TrainingRefused
from cnnstudio.gui.training.dialogs import show_problem
from cnnstudio.gui.training.imaging import image_to_rgb, rgb_to_qimage
from cnnstudio.gui.training.run import evaluation_split
from cnnstudio.gui.training.tile_grid import TileGrid

__all__ = ["ConfusionWidget", "most_confidently_wrong"]

#: Images shown at most for one cell or for the "confidently wrong" list.
MAX_IMAGES = 60


def most_confidently_wrong(ev: Evaluation, count: int = MAX_IMAGES) -> np.ndarray:
    """Indices of misclassified samples, the most confident mistakes first."""
    wrong = np.flatnonzero(ev.predictions != ev.labels)
    return wrong[np.argsort(-ev.confidences[wrong], kind="stable")][:count]


class ConfusionWidget(RedrawWhenShown, QWidget):
    """Counts table (rows = true class, columns = predicted) over an image strip."""

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.evaluate_button = QPushButton("Evaluate now")
        self.evaluate_button.setToolTip("Run the current weights over the held-out images")
        self.evaluate_button.clicked.connect(self._evaluate)
        self.wrong_button = QPushButton("Most confidently wrong")
        self.wrong_button.clicked.connect(self.show_wrong)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.cellClicked.connect(self.open_cell)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.images_title = QLabel()
        self.images = TileGrid(48)
        #: Evaluation-split indices of the images shown, tile by tile.
        self.shown_indices = np.zeros(0, dtype=np.int64)
        self.images.setToolTip("")
        self.images.tileDoubleClicked.connect(self.enlarge)
        self._tips: list[str] = []
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.images)
        self._strip = scroll
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.images_title)
        bl.addWidget(scroll, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        top = QHBoxLayout()
        top.addWidget(self.info, 1)
        top.addWidget(self.wrong_button)
        top.addWidget(self.evaluate_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        controller.evaluationChanged.connect(self._evaluation_changed)
        controller.document.changed.connect(self._show_info)
        controller.stateChanged.connect(
            lambda s: self.evaluate_button.setEnabled(s == "idle"))
        self.show_evaluation(controller.evaluation)

    # -- content ------------------------------------------------------------------------------
    def _evaluation_changed(self, ev: Evaluation | None) -> None:
        """Build the table now if it is on screen, else when it is next shown."""
        if self.begin_redraw():
            self.show_evaluation(ev)

    def refresh(self) -> None:
        if self.begin_redraw():
            self.show_evaluation(self.controller.evaluation)

    def show_evaluation(self, ev: Evaluation | None) -> None:
        self._stale = False
        names = self.controller.class_names()
        self.table.clear()
        if ev is None or not names:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self.info.setText("Train (or press Evaluate now) to see which classes the model "
                              "confuses.")
            self.images.clear("")
            self.images_title.setText("")
            self.wrong_button.setEnabled(False)
            return
        m = ev.confusion()
        n = len(names)
        self.table.setRowCount(n)
        self.table.setColumnCount(n)
        self.table.setHorizontalHeaderLabels([f"\u2192 {s}" for s in names])
        self.table.setVerticalHeaderLabels(list(names))
        totals = np.maximum(m.sum(axis=1, keepdims=True), 1)
        text_colour = self.palette().color(QPalette.ColorRole.WindowText)
        for i in range(n):
            for j in range(n):
                item = QTableWidgetItem(f"{m[i, j]:,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                share = m[i, j] / totals[i, 0]
                base = QColor(ACCENT_COLOR if i == j else ERROR_COLOR)
                base.setAlphaF(float(min(0.85, share * (0.85 if i == j else 1.6))))
                item.setBackground(QBrush(base))
                item.setForeground(QBrush(text_colour))
                item.setToolTip(f"true {names[i]}, predicted {names[j]}: {m[i, j]} image(s) "
                                f"({share:.0%} of {names[i]}); click to see them")
                self.table.setItem(i, j, item)
        self._show_info()
        self.wrong_button.setEnabled(True)
        self.show_wrong()

    def _show_info(self, *_: object) -> None:
        """The accuracy line; marked when the matrix was made with a model edited since."""
        ev = self.controller.evaluation
        if ev is None:
            return
        where = self.controller.evaluated_on or "held-out"
        text = (f"{ev.accuracy:.1%} correct on {len(ev.labels):,} {where} images. "
                "Rows: true class; columns: predicted. Click a cell to see its images.")
        if not self.controller.is_current(self.controller.evaluation_model):
            text = (f'<span style="color:{WARNING_COLOR}">From an earlier version of the '
                    "model (it has changed since; press Evaluate now for this one):</span> "
                    + text)
        self.info.setText(text)

    def is_marked_earlier(self) -> bool:
        return "earlier version" in self.info.text()

    def _split_images(self) -> tuple[np.ndarray, tuple[str, ...]] | None:
        """The evaluated images and their file names (empty when the dataset has none)."""
        d = self.controller.dataset
        if d is None:
            return None
        x, _, where = evaluation_split(d)
        return x, d.names_of("test" if where == "test" else "train")

    def _show(self, indices: np.ndarray, title: str, ev: Evaluation) -> None:
        split = self._split_images()
        names = self.controller.class_names()
        if split is None or len(split[0]) != len(ev.labels):
            self.images.clear("The images are no longer available (the dataset changed).")
            return
        self.shown_indices = np.asarray(indices)  # what each tile is, for picking one
        x, files = split
        images = [rgb_to_qimage(image_to_rgb(x[i])) for i in indices]
        # Short lines (confidence, the predicted class, the file's name), so none is cut.
        captions = [f"{ev.confidences[i]:.0%}\n{names[ev.predictions[i]]}"
                    + (f"\n{self._file_tail(files[i])}" if files else "") for i in indices]
        tips = [(f"{files[i]}\n" if files else "")
                + f"image {i}: true {names[ev.labels[i]]}, predicted {names[ev.predictions[i]]} "
                f"with {ev.confidences[i]:.1%}\ndouble-click: enlarge" for i in indices]
        self._tips = [t.rsplit("\n", 1)[0] for t in tips]
        self.images_title.setText(title + ("; last line = file name" if files else ""))
        self.images.set_tiles(images, captions, tips)
        # At least one whole row, captions included, however low the dock.
        self._strip.setMinimumHeight(self.images.minimumSizeHint().height()
                                     + 2 * self._strip.frameWidth())
        if not images:
            self.images.clear("No images here.")

    def _file_tail(self, name: str) -> str:
        """The end of a file's name that fits under a tile ("…0042" of scan_0042.png): the end
        is what tells numbered files apart."""
        stem = PurePosixPath(name).stem
        return self.images.fontMetrics().elidedText(stem, Qt.TextElideMode.ElideLeft,
                                                    self.images.tile_size() + 4)

    def enlarge(self, tile: int) -> QDialog | None:
        """Double-click on an image: the same image large (pixels kept sharp) with its line."""
        if tile >= self.images.count():
            return None
        dialog = QDialog(self)
        dialog.setObjectName("enlargedImage")
        line = self._tips[tile] if tile < len(self._tips) else ""
        dialog.setWindowTitle(line.split("\n")[0] if "\n" in line else "Image")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picture = QLabel()
        image = self.images.image(tile)
        side = max(256, image.width(), image.height())
        picture.setPixmap(QPixmap.fromImage(image).scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        caption = QLabel(line)
        caption.setWordWrap(True)
        layout = QVBoxLayout(dialog)
        layout.addWidget(picture)
        layout.addWidget(caption)
        dialog.open()
        return dialog

    def open_cell(self, row: int, column: int) -> None:
        """Show the images counted in one cell, most confident first."""
        ev = self.controller.evaluation
        if ev is None:
            return
        names = self.controller.class_names()
        idx = ev.cell(row, column)
        shown = idx[:MAX_IMAGES]
        more = f" (first {len(shown)})" if len(idx) > len(shown) else ""
        self._show(shown, f"True {names[row]}, predicted {names[column]}: {len(idx)} image(s)"
                   f"{more}, most confident first; caption = confidence and prediction", ev)

    def show_wrong(self) -> None:
        ev = self.controller.evaluation
        if ev is None:
            return
        idx = most_confidently_wrong(ev)
        total = int(np.count_nonzero(ev.predictions != ev.labels))
        shown = f"the first {len(idx)} of {total}" if total > len(idx) else f"{total}"
        self._show(idx, f"Most confidently wrong: {shown} image(s); caption = confidence and "
                   "the wrong prediction", ev)

    def cell_image_count(self) -> int:
        return self.images.count()

    def _evaluate(self) -> None:
        try:
            self.controller.evaluate_now()
        except (TrainingRefused, EngineError) as exc:
            show_problem(self, "Cannot evaluate", str(exc))
