"""Feature maps: what each channel of a layer responds to, for one image.

The user picks a sample (a tile of the dataset grid, or an image file) and a layer (from the
list, or by clicking its block on the canvas), and sees one tile per channel. Each tile is
scaled to its own range, because channels differ in magnitude by orders and a shared scale
would leave most of them black. The sample is shown beside the grid, so the user can match
the bright regions of a map to the part of the picture that caused them. The grid redraws at
the end of every epoch, so the maps can be watched sharpening as the network learns.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.catalogue import ROLE_SPATIAL_FILTER
from cnnstudio.core.rules import fmt_shape
from cnnstudio.engine.datasets import DatasetError
from cnnstudio.engine.errors import EngineError
from cnnstudio.gui.training.controller import TrainingController
from cnnstudio.gui.training.dialogs import show_problem
from cnnstudio.gui.training.imaging import colourise, image_to_rgb, rgb_to_qimage, scale_each
from cnnstudio.gui.training.lazy import RedrawWhenShown
from cnnstudio.gui.training.tile_grid import TileGrid

__all__ = ["FeatureMapsWidget", "vector_as_map"]

_SAMPLE_PX = 128


def vector_as_map(values: np.ndarray) -> np.ndarray:
    """A flat layer output ``[N]`` laid out row by row in a near-square ``[1, h, w]`` map (the
    unused cells at the end hold the minimum), so a Dense layer can be looked at too."""
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    w = max(1, math.ceil(math.sqrt(v.size)))
    h = max(1, math.ceil(v.size / w))
    out = np.full(h * w, v.min() if v.size else 0.0, dtype=np.float32)
    out[: v.size] = v
    return out.reshape(1, h, w)


class FeatureMapsWidget(RedrawWhenShown, QWidget):
    """Sample beside a grid of one layer's activation maps, one tile per channel."""

    def __init__(self, controller: TrainingController, selection=None,  # noqa: ANN001
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.selection = selection
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer whose outputs are shown")
        self.layer_combo.setMinimumContentsLength(18)
        self.layer_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.follow = QCheckBox("Follow canvas selection")
        self.follow.setChecked(True)
        self.follow.setToolTip("Show the maps of the block selected on the canvas")
        self.tile_size = QSpinBox()
        self.tile_size.setRange(24, 256)
        self.tile_size.setValue(72)
        self.tile_size.setSuffix(" px")
        self.tile_size.setToolTip("Size of each map tile")
        self.load_button = QPushButton("Load image\u2026")
        self.load_button.setToolTip("Show the maps for an image file instead of a dataset sample")
        self.load_button.clicked.connect(self._load_image)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.sample_view = QLabel()
        self.sample_view.setFixedSize(_SAMPLE_PX, _SAMPLE_PX)
        self.sample_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sample_caption = QLabel()
        self.sample_caption.setWordWrap(True)
        self.sample_caption.setFixedWidth(_SAMPLE_PX)
        self.sample_caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.grid = TileGrid(self.tile_size.value())
        self.tile_size.valueChanged.connect(self.grid.set_tile_size)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid)

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer"))
        top.addWidget(self.layer_combo, 1)
        top.addWidget(self.follow)
        top.addWidget(self.tile_size)
        top.addWidget(self.load_button)
        top.addWidget(self.refresh_button)
        side = QVBoxLayout()
        side.addWidget(self.sample_view)
        side.addWidget(self.sample_caption)
        side.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(side)
        right = QVBoxLayout()
        right.addWidget(self.info)
        right.addWidget(scroll, 1)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(body, 1)

        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self.refresh)
        controller.sampleChanged.connect(self._sample_changed)
        controller.weightsChanged.connect(self._soon.start)  # after the epoch's other redraws
        controller.document.changed.connect(self._model_changed)
        if selection is not None:
            selection.changed.connect(self._selection_changed)
        self._fill_layers()
        self._sample_changed()

    # -- choices ------------------------------------------------------------------------------
    def layer_id(self) -> str | None:
        return self.layer_combo.currentData()

    def set_layer(self, layer_id: str) -> bool:
        index = self.layer_combo.findData(layer_id)
        if index >= 0:
            self.layer_combo.setCurrentIndex(index)
        return index >= 0

    def _fill_layers(self) -> None:
        doc = self.controller.document
        result = doc.result
        current = self.layer_id()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        first_conv = None
        for lid in result.order:
            rep = result.layers.get(lid)
            layer = doc.graph.layer(lid)
            if layer.type == "Input" or rep is None or rep.output_shape is None:
                continue
            self.layer_combo.addItem(f"{lid} \u2014 {layer.type} {fmt_shape(rep.output_shape)}",
                                     lid)
            if first_conv is None and layer.spec.role == ROLE_SPATIAL_FILTER:
                first_conv = lid
        wanted = current if self.layer_combo.findData(current) >= 0 else first_conv
        if wanted is not None:
            self.layer_combo.setCurrentIndex(self.layer_combo.findData(wanted))
        self.layer_combo.blockSignals(False)

    def _model_changed(self, _result: object) -> None:
        self._fill_layers()
        self.refresh()

    def _selection_changed(self, ids: list) -> None:
        if self.follow.isChecked() and ids:
            self.set_layer(ids[-1])

    def _sample_changed(self) -> None:
        c = self.controller
        if c.sample is None:
            self.sample_view.setText("No sample")
            self.sample_caption.setText("")
        else:
            pix = QPixmap.fromImage(rgb_to_qimage(image_to_rgb(c.sample)))
            self.sample_view.setPixmap(pix.scaled(
                _SAMPLE_PX, _SAMPLE_PX, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation))
            self.sample_caption.setText(c.sample_caption)
        self.refresh()

    def _load_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Image for the feature maps", "",
                                              "Images (*.png *.jpg *.jpeg *.bmp *.gif)")
        if path:
            self.load_image(path)

    def load_image(self, path: str) -> bool:
        """Use an image file as the sample (fitted to the Input block); False with a dialog if
        it cannot be read."""
        from pathlib import Path

        try:
            image = self.controller.read_image(path)
        except DatasetError as exc:
            show_problem(self, "Cannot open the image", str(exc),
                         "Use a PNG, JPEG, BMP or GIF file.")
            return False
        self.controller.set_sample(image, Path(path).name)
        return True

    # -- drawing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute and redraw the maps (skipped while hidden; done when shown)."""
        if not self.begin_redraw():
            return
        c = self.controller
        lid = self.layer_id()
        if c.sample is None or lid is None:
            self.grid.clear("Choose a dataset and a layer to see its feature maps.")
            self.info.setText("")
            return
        try:
            out = c.activations(c.sample, lid)
        except (EngineError, ValueError) as exc:
            self.grid.clear(f"No feature maps: {exc}")
            self.info.setText("")
            return
        self.show_maps(lid, out)

    def show_maps(self, layer_id: str, out: np.ndarray) -> None:
        maps = out if out.ndim == 3 else vector_as_map(out)
        images = [rgb_to_qimage(rgb) for rgb in colourise(scale_each(maps))]
        lo, hi = maps.min(axis=(1, 2)), maps.max(axis=(1, 2))
        if out.ndim == 3:
            captions = [str(i) for i in range(len(images))]
            tips = [f"channel {i}: values {a:.3g} \u2026 {b:.3g}"
                    for i, (a, b) in enumerate(zip(lo, hi, strict=True))]
            dead = int(np.count_nonzero(hi - lo <= 0))
            text = (f"{len(images)} maps of {layer_id}, {out.shape[1]}x{out.shape[2]} each; "
                    "each scaled to its own range (dark = low, yellow = high)")
            if dead:
                text += f"; {dead} constant (dark) map(s)"
        else:
            captions = [f"{out.size} values"]
            tips = [f"values {lo[0]:.3g} \u2026 {hi[0]:.3g}, row by row"]
            text = f"{layer_id} outputs a vector of {out.size} values, laid out row by row"
        self.info.setText(text + ".")
        self.grid.set_tiles(images, captions, tips)
