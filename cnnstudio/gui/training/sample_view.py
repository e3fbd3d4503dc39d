"""The sample image as the training views show it, with what one unit sees drawn on top.

A receptive-field box often reaches past the image into the padding (a "same" convolution's
border units, or any unit of a deep layer), so the image is drawn inside a margin that stands
for the padding: the part of the box on the image is outlined and tinted, the part in the
padding is hatched, and a box larger than the whole view keeps its outline at the view's edge.
A heat map (effective receptive field, saliency, Grad-CAM) can be laid over the image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnnstudio.core.appearance import ACCENT_COLOR
from cnnstudio.core.receptive import Box
from cnnstudio.gui.training.imaging import colourise, image_to_rgb, rgb_to_qimage

__all__ = ["SampleView", "heat_to_qimage"]

#: The padding margin around the image, as a share of the image's longer side.
PAD_SHARE = 0.25
#: Opacity of a heat map laid over the image.
HEAT_ALPHA = 0.75


def heat_to_qimage(heat: np.ndarray, alpha: float = HEAT_ALPHA) -> QImage:
    """A non-negative ``[H, W]`` map as a viridis ARGB image whose opacity grows with the value
    (zero is see-through), so the picture stays visible where the map says nothing."""
    h = np.nan_to_num(np.asarray(heat, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    h = np.maximum(h, 0.0)
    top = float(h.max()) if h.size else 0.0
    unit = h / top if top > 0 else np.zeros_like(h)
    rgb = colourise(unit)
    a = np.clip(np.rint(255.0 * alpha * np.sqrt(unit)), 0, 255).astype(np.uint8)
    rgba = np.ascontiguousarray(np.concatenate([rgb, a[..., None]], axis=-1))
    height, width = unit.shape
    return QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()


class SampleView(QWidget):
    """One image ``[C, H, W]`` in [0, 1], optionally a receptive-field box and a heat map."""

    def __init__(self, side: int = 160, margin: float = PAD_SHARE,
                 parent: QWidget | None = None) -> None:
        """``margin``: the padding drawn around the image, as a share of its longer side (0
        for views that show no receptive-field box)."""
        super().__init__(parent)
        self._side = side
        self._margin = margin
        self._image: QImage | None = None
        self._hw = (0, 0)
        self._box: Box | None = None
        self._heat: QImage | None = None
        #: The heat map's values as given (tests compare them with the engine's).
        self._heat_values: np.ndarray | None = None
        self._text = "No sample"
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self._side, self._side)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.sizeHint()

    # -- content ------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray | None, placeholder: str = "No sample") -> None:
        self._text = placeholder
        if image is None:
            self._image, self._hw = None, (0, 0)
        else:
            rgb = image_to_rgb(image)
            self._image, self._hw = rgb_to_qimage(rgb), (rgb.shape[0], rgb.shape[1])
        self._box = None
        self._heat = self._heat_values = None
        self.update()

    def set_box(self, box: Box | None) -> None:
        self._box = box
        self.update()

    def box(self) -> Box | None:
        return self._box

    def set_heat(self, heat: np.ndarray | None) -> None:
        """Lay ``heat`` ``[H, W]`` (the image's size) over the image; None removes it."""
        if heat is not None and tuple(np.shape(heat)) != self._hw:
            raise ValueError(f"heat map {list(np.shape(heat))} does not match the image "
                             f"{list(self._hw)}")
        self._heat = heat_to_qimage(heat) if heat is not None else None
        self._heat_values = None if heat is None else np.array(heat, copy=True)
        self.update()

    def has_heat(self) -> bool:
        return self._heat is not None

    # -- geometry -----------------------------------------------------------------------------
    def image_rect(self) -> QRectF:
        """Where the image is drawn: centred, with the padding margin around it."""
        h, w = self._hw
        if not h or not w:
            return QRectF(self.rect())
        longest = max(h, w)
        scale = min(self.width(), self.height()) / (longest * (1 + 2 * self._margin))
        iw, ih = w * scale, h * scale
        return QRectF((self.width() - iw) / 2, (self.height() - ih) / 2, iw, ih)

    def _pixel_rect(self, box: Box) -> QRectF:
        """``box`` (input rows/columns, inclusive) in widget coordinates."""
        r = self.image_rect()
        h, w = self._hw
        sx, sy = r.width() / w, r.height() / h
        return QRectF(r.left() + box.left * sx, r.top() + box.top * sy,
                      box.width * sx, box.height * sy)

    # -- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        pal = self.palette()
        if self._image is None:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._text)
            return
        image_rect = self.image_rect()
        pad = pal.color(QPalette.ColorRole.Mid)
        pad.setAlphaF(0.35)
        painter.fillRect(self.rect(), pad)  # the padding around the image
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(image_rect, self._image)
        if self._heat is not None:
            painter.drawImage(image_rect, self._heat)
        if self._box is not None:
            self._paint_box(painter, image_rect)

    def _paint_box(self, painter: QPainter, image_rect: QRectF) -> None:
        assert self._box is not None
        accent = QColor(ACCENT_COLOR)
        whole = self._pixel_rect(self._box)
        inside = whole.intersected(image_rect)
        # Hatch the part of the field that lies in padding (outside the image).
        painter.save()
        painter.setClipRect(whole.intersected(QRectF(self.rect())))
        hatch = QColor(accent)
        hatch.setAlphaF(0.8)
        painter.setBrush(QBrush(hatch, Qt.BrushStyle.BDiagPattern))
        painter.setPen(Qt.PenStyle.NoPen)
        outside = whole.intersected(QRectF(self.rect()))
        painter.drawRect(outside)
        painter.restore()
        if not inside.isEmpty():
            painter.save()
            painter.setClipRect(inside)
            painter.drawImage(image_rect, self._image)  # the image itself stays un-hatched
            if self._heat is not None:
                painter.drawImage(image_rect, self._heat)
            tint = QColor(accent)
            tint.setAlphaF(0.18)
            painter.fillRect(inside, tint)
            painter.restore()
        pen = QPen(accent, 2)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(whole.intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1)))
        if not inside.isEmpty():
            painter.setPen(QPen(QColor("white"), 1, Qt.PenStyle.DashLine))
            painter.drawRect(inside.adjusted(1, 1, -1, -1))
