"""The overview: a small picture of the whole model in the canvas's corner, with the part the
canvas shows outlined. It appears only while the model does not fit the canvas at the zoom in
use (a large model held at a legible zoom); clicking or dragging in it moves the canvas there.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

SIZE = (220, 150)
_MARGIN = 10


class OverviewMap(QGraphicsView):
    """Draws the canvas's own scene, scaled to fit; ``shown()`` is the canvas's visible rect."""

    def __init__(self, canvas: QGraphicsView, content: Callable[[], QRectF],
                 parent: QWidget) -> None:
        super().__init__(canvas.scene(), parent)
        self.canvas = canvas
        self.content = content
        self.setObjectName("overview")
        self.setFixedSize(*SIZE)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setRenderHints(QPainter.RenderHint.Antialiasing)
        self.setInteractive(False)
        self.setFrameShape(QFrame.Shape.Box)
        self.setToolTip("The whole model: click or drag to move the canvas there")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        #: What it was last fitted to: the model's extent, the canvas's view and both sizes.
        self._last: tuple[object, ...] | None = None
        self.hide()

    def shown(self) -> QRectF:
        return self.canvas.mapToScene(self.canvas.viewport().rect()).boundingRect()

    def refresh(self) -> None:
        """Show or hide (only a model that does not fit needs it), re-fit and re-place; nothing
        when neither the model's extent nor the canvas's view changed (an edit of a param),
        since the scene repaints its changed items here by itself."""
        state = (self.content(), self.shown(), self.canvas.viewport().size(),
                 self.viewport().size(), self.isVisible())
        if state == self._last:
            return
        rect, shown = state[0], state[1]
        needed = not rect.isNull() and not shown.contains(rect)
        self.setVisible(needed)
        if not needed:
            return
        self.fitInView(rect.adjusted(-20, -20, 20, 20), Qt.AspectRatioMode.KeepAspectRatio)
        port = self.canvas.viewport()
        self.move(port.width() - self.width() - _MARGIN, port.height() - self.height() - _MARGIN)
        self.raise_()
        self.viewport().update()
        self._last = (rect, shown, self.canvas.viewport().size(), self.viewport().size(),
                      self.isVisible())

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        """Its viewport takes its final size once shown and styled: fit again to that."""
        super().resizeEvent(event)
        if self._last is not None:
            self._last = None
            self.refresh()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        painter.setPen(QPen(QColor("#3d7be0"), 0))
        painter.setBrush(QColor(61, 123, 224, 40))
        painter.drawRect(self.shown())

    def _go(self, event: QMouseEvent) -> None:
        self.canvas.centerOn(self.mapToScene(event.position().toPoint()))
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._go(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._go(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        event.ignore()  # the overview's scale follows the model, not the wheel


def top_left_centre(view: QGraphicsView, rect: QRectF, zoom: float) -> QPointF:
    """The scene point to centre on so ``rect``'s top-left corner shows at the view's top-left
    (with a small margin), at ``zoom``: where a large model starts."""
    half_w = view.viewport().width() / (2 * zoom)
    half_h = view.viewport().height() / (2 * zoom)
    return QPointF(rect.left() - 30 + half_w, rect.top() - 30 + half_h)
