"""What a channel looks for: the dataset patches that make it respond most.

For a chosen convolution and channel, every position of every training image is scored (one
inference pass over the data, in the background with progress and Cancel), and the k strongest
responses are shown as the patches of input those units see: each crop is the unit's receptive
field, so what the channel reacts to is in the picture and nothing else is. Clicking a unit of a
feature map picks its layer and channel here.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.catalogue import ROLE_SPATIAL_FILTER
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.introspect import TopUnit, crop_field, top_activations
from cnnstudio.gui.lazy import RedrawWhenShown
from cnnstudio.gui.training.background import NetworkCache
from cnnstudio.gui.training.controller import TrainingController
from cnnstudio.gui.training.imaging import image_to_rgb, rgb_to_qimage
from cnnstudio.gui.training.layer_choice import list_layers
from cnnstudio.gui.training.tile_grid import TileGrid
from cnnstudio.gui.training.worker import BackgroundJob, lower_priority, short_gil_switch

__all__ = ["TopPatchesWidget"]

#: Images per pass: small, so each pass stays under the kernels' parallel threshold and leaves
#: their shared threads (and the GIL) to the window and to training.
SEARCH_BATCH = 32


class _Progress(QObject):
    """Lives in the window's thread; the search emits from its own thread (queued here)."""

    advanced = Signal(int, int)


class TopPatchesWidget(RedrawWhenShown, QWidget):
    """Layer, channel and k pickers, Find / Cancel with progress, and the grid of patches.

    Its layer list and channel range follow the model only while the view is seen: behind
    another tab an edit costs it nothing (a new channel range would lay the window out again),
    and it catches up when it comes into view or is asked to pick a layer."""

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("A convolution")
        self.layer_combo.currentIndexChanged.connect(lambda _i: self._layer_changed())
        self.channel = QSpinBox()
        self.channel.setToolTip("Which of its channels (feature maps)")
        self.k = QSpinBox()
        self.k.setRange(1, 64)
        self.k.setValue(9)
        self.k.setPrefix("top ")
        self.find_button = QPushButton("Find")
        self.find_button.setToolTip("Score every position of every training image (in the "
                                    "background) and show the strongest")
        self.find_button.clicked.connect(self.find)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.info = QLabel("Pick a convolution and a channel, then Find the training patches "
                           "it responds to most.")
        self.info.setWordWrap(True)
        self.grid = TileGrid(72)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid)
        top = QHBoxLayout()
        top.addWidget(QLabel("Layer"))
        top.addWidget(self.layer_combo, 1)
        top.addWidget(QLabel("channel"))
        top.addWidget(self.channel)
        top.addWidget(self.k)
        top.addWidget(self.find_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(scroll, 1)
        self.found: list[TopUnit] = []
        self._job: BackgroundJob | None = None
        self._stop = threading.Event()
        self._nets = NetworkCache()  # used by one search at a time
        self._reporter = _Progress(self)
        self._reporter.advanced.connect(self._advanced)
        controller.document.changed.connect(lambda _r: self.refresh())
        controller.stateChanged.connect(lambda _s: self._layer_changed())
        controller.weightsChanged.connect(self._outdated)
        controller.datasetChanged.connect(lambda _d: self._outdated())
        self._fill_layers()

    # -- choices ------------------------------------------------------------------------------
    def refresh(self) -> None:
        if self.begin_redraw():
            self._fill_layers()

    def _fill_layers(self) -> None:
        doc = self.controller.document
        list_layers(self.layer_combo, [
            lid for lid in doc.result.order if lid in doc.graph
            and doc.graph.layer(lid).spec.role == ROLE_SPATIAL_FILTER
            and doc.result.layers[lid].output_shape is not None])
        self._layer_changed()

    def _layer_changed(self) -> None:
        lid = self.layer_combo.currentData()
        report = self.controller.document.result.layers.get(lid) if lid else None
        shape = report.output_shape if report is not None else None  # None: list not current
        self.channel.setRange(0, max((shape[0] if shape else 1) - 1, 0))
        # Not during a run: its weights change every epoch, and the search would compete with
        # training for the processor and the window for the interpreter.
        idle = self.controller.state == "idle"
        self.find_button.setEnabled(lid is not None and self._job is None and idle)
        self.find_button.setToolTip(
            "Score every position of every training image (in the background) and show the "
            "strongest" if idle else "Available when no training run is going")

    def choose(self, layer_id: str, channel: int) -> bool:
        """Pick ``layer_id`` and ``channel`` (from a feature map click); False if not a conv."""
        if self.stale:  # the model may have changed while the view was covered
            self._fill_layers()
        index = self.layer_combo.findData(layer_id)
        if index < 0:
            return False
        self.layer_combo.setCurrentIndex(index)
        self.channel.setValue(channel)
        return True

    # -- searching ----------------------------------------------------------------------------
    def find(self) -> None:
        """Search the training images in the background."""
        c = self.controller
        if self.stale:
            self._fill_layers()
        lid = self.layer_combo.currentData()
        if lid is None or self._job is not None or c.state != "idle":
            return
        if c.dataset is None or not c.document.result.valid:
            self.info.setText("Choose a dataset (and fix the model's errors) first.")
            return
        x = c.dataset.x_train
        channel, k = self.channel.value(), self.k.value()
        build = self._nets.builder(c.document.graph, c.shown_weights)
        normalizer = c.normalizer if (c.normalizer is not None
                                      and c.normalizer.channels == x.shape[1]) else None
        stop, reporter = self._stop, self._reporter
        stop.clear()

        def search() -> list[TopUnit]:
            lower_priority()
            norm = normalizer or Normalizer.fit(x)
            clock = [time.monotonic()]

            def advanced(done: int, total: int) -> None:
                reporter.advanced.emit(done, total)
                # Rest as long as the pass took: the GIL is shared with the window, and a
                # search that never lets go of it makes every repaint wait.
                time.sleep(min(time.monotonic() - clock[0], 0.2))
                clock[0] = time.monotonic()

            with short_gil_switch():  # the window gets the interpreter back between Qt calls
                return top_activations(build(), x, lid, channel, k, norm, SEARCH_BATCH,
                                       stop=stop.is_set, progress=advanced)

        job = BackgroundJob(search, self)
        job.succeeded.connect(self._found)
        job.failed.connect(self._failed)
        job.finished.connect(self._finished)
        self._job = job
        self._request = (lid, channel, x, c.shown_weights_note)
        self.progress.setValue(0)
        self.find_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.info.setText(f"Scoring channel {channel} of {lid} at every position of "
                          f"{len(x):,} training images\u2026")
        job.start()

    def cancel(self) -> None:
        self._stop.set()

    def busy(self) -> bool:
        return self._job is not None

    def wait(self, timeout_ms: int = 60_000) -> bool:
        return self._job.wait(timeout_ms) if self._job is not None else True

    def shutdown(self) -> None:
        self.cancel()
        self.wait()

    def _advanced(self, done: int, total: int) -> None:
        self.progress.setValue(round(100 * done / max(total, 1)))

    def _found(self, found: object) -> None:
        lid, channel, x, note = self._request
        self.found = list(found)  # type: ignore[call-overload]
        rep = self.controller.document.result.layers.get(lid)
        if self._stop.is_set():
            self.info.setText("Cancelled; nothing is shown from an unfinished search.")
            self.grid.clear("")
            self.found = []
            return
        if rep is None or not self.found:
            self.grid.clear("No patches.")
            return
        images, captions, tips = [], [], []
        for t in self.found:
            box = rep.unit_box(t.row, t.col)
            assert box is not None
            crop = crop_field(x[t.image], box)
            images.append(rgb_to_qimage(image_to_rgb(crop)))
            captions.append(f"{t.value:.3g}")
            tips.append(f"training image {t.image}, unit ({t.row}, {t.col}): {t.value:.4g}; "
                        f"input rows {box.top}..{box.bottom}, columns {box.left}..{box.right}")
        self.grid.set_tiles(images, captions, tips)
        size = f"{rep.receptive_field[0]}x{rep.receptive_field[1]}" if rep.receptive_field \
            else "?"
        self.info.setText(f"The {len(self.found)} training patches channel {channel} of {lid} "
                          f"responds to most, strongest first (each {size}: what one unit sees; "
                          f"black = padding); weights: {note}.")

    def _failed(self, message: str) -> None:
        self.info.setText(f"Cannot search: {message}")

    def _finished(self) -> None:
        thread = self.sender()
        if self._job is not None and self._job.thread is thread:
            self._job = None
        if isinstance(thread, QObject):
            thread.deleteLater()
        self.progress.setValue(100 if self.found else 0)
        self.cancel_button.setEnabled(False)
        self._layer_changed()

    def _outdated(self) -> None:
        if self.found:
            self.info.setText(self.info.text().split(" Find again")[0]
                              + " Find again for the weights or data shown now.")
