"""Why this prediction: where the network looked to score a class, for one image.

Two pictures over the sample: the saliency map (how much a small change of each pixel moves
the class score) and Grad-CAM on the last convolution (which regions the class-specific maps
light up). They answer "why did it say bag?" for the predicted class, and "what would make it
say shirt?" for any class the user picks. The sample is the one the feature maps show: a
dataset tile, an image file, or an image opened from a confusion-matrix cell. Gradients are
computed in the background on a private copy of the network.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.engine.introspect import Explanation, explain_prediction
from cnnstudio.gui.lazy import RedrawWhenShown
from cnnstudio.gui.training.background import LatestOnly, NetworkCache
from cnnstudio.gui.training.controller import TrainingController
from cnnstudio.gui.training.sample_file import ask_sample_image, load_sample_image
from cnnstudio.gui.training.sample_view import SampleView

__all__ = ["WhyWidget"]

_VIEW_PX = 200
#: The class combo's entry that follows the prediction.
PREDICTED = -1


class WhyWidget(RedrawWhenShown, QWidget):
    """Saliency and Grad-CAM of the current sample for the predicted or a chosen class."""

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose score is explained")
        self.class_combo.setMinimumContentsLength(16)
        self.class_combo.activated.connect(lambda _i: self.refresh())
        self.load_button = QPushButton("Load image\u2026")
        self.load_button.setToolTip("Explain the prediction for an image file")
        self.load_button.clicked.connect(self._load_image)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.saliency_view = SampleView(_VIEW_PX, margin=0)
        self.cam_view = SampleView(_VIEW_PX, margin=0)
        self.saliency_title = QLabel("<b>Saliency</b>")
        self.cam_title = QLabel("<b>Grad-CAM</b>")
        self.saliency_note = QLabel("How much a small change of each pixel moves the score "
                                    "(gradient of the score with respect to the input).")
        self.cam_note = QLabel()
        for note in (self.saliency_note, self.cam_note):
            note.setWordWrap(True)
            note.setFixedWidth(_VIEW_PX)
        self.result: Explanation | None = None
        self._jobs = LatestOnly(self)
        self._nets = NetworkCache()  # used only by self._jobs' thread

        top = QHBoxLayout()
        top.addWidget(QLabel("Explain class"))
        top.addWidget(self.class_combo, 1)
        top.addWidget(self.load_button)
        pictures = QGridLayout()
        pictures.addWidget(self.saliency_title, 0, 0)
        pictures.addWidget(self.cam_title, 0, 1)
        pictures.addWidget(self.saliency_view, 1, 0)
        pictures.addWidget(self.cam_view, 1, 1)
        pictures.addWidget(self.saliency_note, 2, 0, Qt.AlignmentFlag.AlignTop)
        pictures.addWidget(self.cam_note, 2, 1, Qt.AlignmentFlag.AlignTop)
        pictures.setColumnStretch(2, 1)
        body = QWidget()
        inner = QVBoxLayout(body)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.info)
        inner.addLayout(pictures)
        inner.addStretch(1)
        scroll = QScrollArea()  # a low dock scrolls the pictures instead of growing
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)

        # Coalesced and after the signal's other handlers: an epoch's end or a scrub asks many
        # views to redraw at once, and each gets its own turn of the event loop.
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self.refresh)
        controller.sampleChanged.connect(self._soon.start)
        controller.weightsChanged.connect(self._soon.start)
        controller.datasetChanged.connect(lambda _d: self._fill_classes())
        controller.document.changed.connect(lambda _r: self._soon.start())
        self._fill_classes()

    # -- choices ------------------------------------------------------------------------------
    def _fill_classes(self) -> None:
        chosen = self.chosen_class()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("the predicted class", PREDICTED)
        for i, name in enumerate(self.controller.class_names()):
            self.class_combo.addItem(f"{i}: {name}", i)
        index = self.class_combo.findData(chosen)
        self.class_combo.setCurrentIndex(max(index, 0))
        self.class_combo.blockSignals(False)
        self.refresh()

    def chosen_class(self) -> int:
        data = self.class_combo.currentData()
        return PREDICTED if data is None else int(data)

    def set_class(self, class_index: int) -> None:
        """Explain ``class_index`` (PREDICTED for whatever the network predicts)."""
        index = self.class_combo.findData(class_index)
        if index >= 0:
            self.class_combo.setCurrentIndex(index)
            self.refresh()

    def _load_image(self) -> None:
        ask_sample_image(self, self.controller, "Image to explain")

    def load_image(self, path: str) -> bool:
        """Use an image file as the sample; False (with a dialog) if it cannot be read."""
        return load_sample_image(self, self.controller, path)

    # -- computing ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Explain the current sample for the chosen class, in the background."""
        if not self.begin_redraw():
            return
        c = self.controller
        sample = c.sample
        for view in (self.saliency_view, self.cam_view):
            view.set_image(sample)
        if sample is None:
            self._jobs.cancel()
            self.info.setText("Choose a dataset (or load an image) to see where the network "
                              "looks.")
            return
        if not c.document.result.valid:
            self._jobs.cancel()
            self.info.setText("The model has errors; fix them to see where it looks.")
            return
        cls = self.chosen_class()
        build = self._nets.builder(c.document.graph, c.shown_weights)
        x = c.prepare(sample[None])[0]
        self.info.setText(f"Computing for {c.sample_caption or 'the sample'}\u2026")
        self._jobs.submit(
            lambda: explain_prediction(build(), x, None if cls == PREDICTED else cls),
            self._ready, self._failed)

    def _ready(self, result: object) -> None:
        assert isinstance(result, Explanation)
        self.result = result
        names = self.controller.class_names()
        probs = result.probabilities

        def name(i: int) -> str:
            return names[i] if i < len(names) else f"class {i}"

        top = np.argsort(-probs)[:3]
        ranked = ", ".join(f"{name(i)} {probs[i]:.0%}" for i in top)
        weights = self.controller.shown_weights_note
        about = (f"the predicted class, {name(result.class_index)}"
                 if result.class_index == result.predicted
                 else f"{name(result.class_index)} (predicted: {name(result.predicted)})")
        self.info.setText(f"{self.controller.sample_caption or 'Sample'}: {ranked}. "
                          f"Explaining {about}; weights: {weights}.")
        self.saliency_view.set_heat(result.saliency)
        if result.cam_on_input is not None and result.cam_layer is not None:
            self.cam_view.set_heat(result.cam_on_input)
            h, w = result.cam.shape if result.cam is not None else (0, 0)
            nothing = result.cam is not None and not np.any(result.cam > 0)
            self.cam_title.setText(f"<b>Grad-CAM</b> on {result.cam_layer} ({h}x{w})")
            self.cam_note.setText(
                "Nothing in these maps speaks for this class (all weighted maps are negative)."
                if nothing else "Regions whose maps in the last convolution raise the score, "
                "weighted by the average gradient of each map.")
        else:
            self.cam_title.setText("<b>Grad-CAM</b>")
            self.cam_note.setText("The model has no convolution, so there are no maps to "
                                  "weight.")

    def _failed(self, message: str) -> None:
        self.result = None
        self.info.setText(f"Cannot explain: {message}")

    def busy(self) -> bool:
        return self._jobs.busy()

    def shutdown(self) -> None:
        self._jobs.shutdown()
