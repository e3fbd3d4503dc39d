"""Feature maps: what each channel of a layer responds to, for one image.

The user picks a sample (a tile of the dataset grid, or an image file) and a layer (from the
list, or by clicking its block on the canvas), and sees one tile per channel. Each tile is
scaled to its own range, because channels differ in magnitude by orders and a shared scale
would leave most of them black. The sample is shown beside the grid, so the user can match
the bright regions of a map to the part of the picture that caused them. The grid redraws at
the end of every epoch, so the maps can be watched sharpening as the network learns.

Pointing at a pixel of a map shows, on the sample, the box of input pixels that unit can see
(its theoretical receptive field from the validator: clipped to the image, the part in padding
hatched); clicking pins it. With "Effective field" on, the pinned unit's gradient with respect
to the input is laid over the image: where inside that box the unit really looks.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.catalogue import ROLE_SPATIAL_FILTER
from cnnstudio.core.receptive import Box
from cnnstudio.core.rules import fmt_shape
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.introspect import effective_field
from cnnstudio.gui.lazy import RedrawWhenShown
from cnnstudio.gui.training.background import LatestOnly, NetworkCache
from cnnstudio.gui.training.controller import TrainingController
from cnnstudio.gui.training.imaging import colourise, rgb_to_qimage, scale_each
from cnnstudio.gui.training.sample_file import ask_sample_image, load_sample_image
from cnnstudio.gui.training.sample_view import SampleView
from cnnstudio.gui.training.tile_grid import TileGrid

__all__ = ["FeatureMapsWidget", "describe_box", "vector_as_map"]

_SAMPLE_PX = 180


def describe_box(box: Box, height: int, width: int) -> str:
    """What a unit sees, in words: its rows and columns, and how much of that is padding."""
    text = (f"rows {box.top}..{box.bottom}, columns {box.left}..{box.right} "
            f"({box.height}x{box.width})")
    pad_rows = max(0, -box.top) + max(0, box.bottom - (height - 1))
    pad_cols = max(0, -box.left) + max(0, box.right - (width - 1))
    if pad_rows or pad_cols:
        parts = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in
                 ((pad_rows, "row"), (pad_cols, "column")) if n]
        text += f"; {' and '.join(parts)} of it in padding (hatched)"
    return text


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

    #: The model changed while the view was not seen: its layer list is refilled first.
    _layers_stale = False

    def __init__(self, controller: TrainingController, selection=None,  # noqa: ANN001
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.selection = selection
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer whose outputs are shown")
        self.layer_combo.setMinimumContentsLength(18)
        self.layer_combo.currentIndexChanged.connect(lambda _i: self._layer_changed())
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
        self.sample_view = SampleView(_SAMPLE_PX)
        self.effective = QCheckBox("Effective field")
        self.effective.setToolTip(
            "For the unit you click: how strongly each input pixel moves it with the current "
            "weights (its gradient), over the image. It is concentrated in the middle of the box.")
        self.effective.toggled.connect(lambda _on: self._update_effective())
        self.unit_caption = QLabel("Point at a map to see what that unit sees; click to pin it.")
        self.unit_caption.setWordWrap(True)
        self.unit_caption.setFixedWidth(_SAMPLE_PX)
        self.sample_caption = QLabel()
        self.sample_caption.setWordWrap(True)
        self.sample_caption.setFixedWidth(_SAMPLE_PX)
        self.sample_caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.grid = TileGrid(self.tile_size.value())
        self.tile_size.valueChanged.connect(self.grid.set_tile_size)
        self.grid.pixelHovered.connect(self._unit_hovered)
        self.grid.pixelClicked.connect(self._unit_clicked)
        #: The unit clicked on: (layer id, channel, row, col); its box stays shown.
        self.pinned: tuple[str, int, int, int] | None = None
        self.shown_maps: np.ndarray | None = None
        self._shown_layer: str | None = None
        self._jobs = LatestOnly(self)
        self._nets = NetworkCache()  # used only by self._jobs' thread
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
        side_box = QWidget()
        side = QVBoxLayout(side_box)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.sample_view)
        side.addWidget(self.sample_caption)
        side.addWidget(self.effective)
        side.addWidget(self.unit_caption)
        side.addStretch(1)
        side_scroll = QScrollArea()  # a low dock scrolls the column instead of growing
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setWidget(side_box)
        side_scroll.setFixedWidth(_SAMPLE_PX + side_scroll.verticalScrollBar().sizeHint().width()
                                  + 4)
        body = QHBoxLayout()
        body.addWidget(side_scroll)
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
        if self._layers_stale:
            self._fill_layers()
        index = self.layer_combo.findData(layer_id)
        if index >= 0:
            self.layer_combo.setCurrentIndex(index)
        return index >= 0

    def _fill_layers(self) -> None:
        doc = self.controller.document
        result = doc.result
        current = self.layer_id()
        self._layers_stale = False
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
        self.unpin()
        self._layers_stale = True  # the list of layers too waits until the view is seen
        self.refresh()

    def _layer_changed(self) -> None:
        self.unpin()
        self.refresh()

    def _selection_changed(self, ids: list) -> None:
        if self.follow.isChecked() and ids:
            self.set_layer(ids[-1])

    def _sample_changed(self) -> None:
        c = self.controller
        self.sample_view.set_image(c.sample)
        self.sample_caption.setText(c.sample_caption if c.sample is not None else "")
        self.unpin()
        self.refresh()

    def _load_image(self) -> None:
        ask_sample_image(self, self.controller, "Image for the feature maps")

    def load_image(self, path: str) -> bool:
        """Use an image file as the sample; False (with a dialog) if it cannot be read."""
        return load_sample_image(self, self.controller, path)

    # -- drawing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute and redraw the maps (skipped while hidden; done when shown)."""
        if not self.begin_redraw():
            return
        if self._layers_stale:
            self._fill_layers()
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
        self.shown_maps = out  # the values behind the tiles (tests compare them)
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
        self._shown_layer = layer_id if out.ndim == 3 else None
        if self.pinned is not None:
            self._update_effective()  # the weights may have changed: recompute for them
        elif self.sample_view.box() is None:
            self._show_unit(None)  # the hint under the sample fits the maps now shown

    # -- what one unit sees -------------------------------------------------------------------
    def unit_box(self, layer_id: str, row: int, col: int) -> Box | None:
        rep = self.controller.document.result.layers.get(layer_id)
        return rep.unit_box(row, col) if rep is not None else None

    def _show_unit(self, unit: tuple[str, int, int, int] | None) -> None:
        """Draw ``unit``'s box on the sample and say what it sees (None: the pinned unit's)."""
        unit = unit or self.pinned
        sample = self.controller.sample
        box = self.unit_box(unit[0], unit[2], unit[3]) if unit is not None else None
        self.sample_view.set_box(box)
        if unit is None or box is None or sample is None:
            self.unit_caption.setText("Point at a map to see what that unit sees; click to pin "
                                      "it." if self._shown_layer else "")
            return
        lid, channel, row, col = unit
        _, h, w = sample.shape
        where = describe_box(box, h, w)
        pinned = " (pinned)" if unit == self.pinned else ""
        self.unit_caption.setText(f"{lid} channel {channel}, unit ({row}, {col}){pinned} sees "
                                  f"{where}.")

    def _unit_hovered(self, index: int, row: int, col: int) -> None:
        if self._shown_layer is None:
            return
        self._show_unit((self._shown_layer, index, row, col) if index >= 0 else None)

    def _unit_clicked(self, index: int, row: int, col: int) -> None:
        if self._shown_layer is None:
            return
        self.pin(index, row, col)

    def pin(self, channel: int, row: int, col: int) -> None:
        """Keep unit (channel, row, col) of the shown layer marked, its box on the sample."""
        if self._shown_layer is None:
            return
        self.pinned = (self._shown_layer, channel, row, col)
        self.grid.set_marker((channel, row, col))
        self._show_unit(self.pinned)
        self._update_effective()

    def unpin(self) -> None:
        self.pinned = None
        self.grid.set_marker(None)
        self._jobs.cancel()
        self.sample_view.set_heat(None)
        self._show_unit(None)

    def _update_effective(self) -> None:
        """Compute the pinned unit's effective field in the background (when asked for)."""
        c = self.controller
        if not self.effective.isChecked() or self.pinned is None or c.sample is None:
            self._jobs.cancel()
            self.sample_view.set_heat(None)
            return
        lid, channel, row, col = self.pinned
        build = self._nets.builder(c.document.graph, c.shown_weights)
        x = c.prepare(c.sample[None])[0]
        self._jobs.submit(lambda: effective_field(build(), x, lid, channel, row, col),
                          self._effective_ready, self._effective_failed)

    def _effective_ready(self, heat: object) -> None:
        if self.pinned is not None and self.effective.isChecked():
            self.sample_view.set_heat(heat)  # type: ignore[arg-type]

    def _effective_failed(self, message: str) -> None:
        self.sample_view.set_heat(None)
        self.unit_caption.setText(f"No effective field: {message}")

    def shutdown(self) -> None:
        """Wait for a running gradient (closing the window)."""
        self._jobs.shutdown()
