"""The learned filters of a convolution: what pattern each output channel looks for.

First-layer filters work directly on pixels, so after training they look like edge, line and
colour detectors; they are the most readable weights in a CNN. RGB kernels are shown in colour
(one scale over their three channels, so the hue is the colour they respond to); grey kernels
through the same colour map as the feature maps. Deeper layers can be chosen too.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from cnnstudio.core.catalogue import ROLE_SPATIAL_FILTER
from cnnstudio.engine.errors import EngineError
from cnnstudio.gui.lazy import RedrawWhenShown
from cnnstudio.gui.training.controller import TrainingController
from cnnstudio.gui.training.imaging import filters_to_rgb, rgb_to_qimage
from cnnstudio.gui.training.layer_choice import list_layers
from cnnstudio.gui.training.tile_grid import TileGrid

__all__ = ["FiltersWidget"]


class FiltersWidget(RedrawWhenShown, QWidget):
    """One tile per kernel of the chosen Conv2D layer (the first one by default)."""

    #: The model changed while the view was not seen: its layer list is refilled first.
    _layers_stale = False

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.layer_combo = QComboBox()
        self.layer_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.grid = TileGrid(56)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid)
        top = QHBoxLayout()
        top.addWidget(QLabel("Conv layer"))
        top.addWidget(self.layer_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(scroll, 1)
        controller.weightsChanged.connect(self.refresh)
        controller.document.changed.connect(self._model_changed)
        self._fill_layers()
        self.refresh()

    def layer_id(self) -> str | None:
        return self.layer_combo.currentData()

    def _model_changed(self, _result: object) -> None:
        self._layers_stale = True  # the list of layers too waits until the view is seen
        self.refresh()

    def _fill_layers(self) -> None:
        self._layers_stale = False
        doc = self.controller.document
        list_layers(self.layer_combo, [
            lid for lid in doc.result.order
            if lid in doc.graph and doc.graph.layer(lid).spec.role == ROLE_SPATIAL_FILTER])

    def refresh(self) -> None:
        if not self.begin_redraw():
            return
        if self._layers_stale:
            self._fill_layers()
        lid = self.layer_id()
        if lid is None:
            self.grid.clear("The model has no Conv2D layer.")
            self.info.setText("")
            return
        try:
            weight = self.controller.view_network().weights_of(lid)["weight"]
        except EngineError as exc:
            self.grid.clear(f"No filters: {exc}")
            self.info.setText("")
            return
        k, c, fh, fw = weight.shape
        images = [rgb_to_qimage(rgb) for rgb in filters_to_rgb(weight)]
        self.grid.set_tiles(images, [str(i) for i in range(k)])
        how = ("in colour (red, green, blue input channels)" if c == 3 else
               "through the colour map" + ("" if c == 1 else f", summed over {c} input channels"))
        self.info.setText(f"{k} filters of {lid}, {fh}x{fw} over {c} channel(s), shown {how}; "
                          f"{self.controller.shown_weights_note}.")
