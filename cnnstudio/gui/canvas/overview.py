"""The overview: a small picture of the whole model in the canvas's corner, with the part the
canvas shows outlined. It appears only while the model does not fit the canvas at the zoom in
use (a large model held at a legible zoom); clicking or dragging in it moves the canvas there.

At the overview's scale most edits change nothing it shows (a shape or a parameter count is
not drawn there), yet the items they touch would be painted again, and on a large model those
are dozens of long wires. So the overview keeps the picture it drew, with the scene's
description of what that picture shows (``CanvasScene.picture_key``), and repaints from it
while the description is unchanged; otherwise it paints as any view does, and re-draws the
kept picture where it has fallen behind when it next uses it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QRegion,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from cnnstudio.gui.canvas.scene import CanvasScene

SIZE = (220, 150)
#: The kept picture is brought up to date this long after the first paint it missed (so during
#: a drag, which changes what it shows all the time, at most ten times a second).
_FILL_AFTER_MS = 100
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
        #: The picture last painted, what the scene then showed, where the picture is behind
        #: the screen, and the view geometry it was painted for.
        self._kept: QPixmap | None = None
        self._kept_key: tuple | None = None
        self._behind = QRegion()
        self._kept_geometry: tuple[object, ...] | None = None
        self._grabbing = False
        self._fill_timer = QTimer(self)
        self._fill_timer.setSingleShot(True)
        self._fill_timer.setInterval(_FILL_AFTER_MS)
        self._fill_timer.timeout.connect(self._fill)
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

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        if self._grabbing:
            super().paintEvent(event)
            return
        port = self.viewport()
        ratio = port.devicePixelRatioF()
        geometry = (self.transform(), self.horizontalScrollBar().value(),
                    self.verticalScrollBar().value(), port.size(), ratio)
        key = self._picture_key()
        if self._kept is None or geometry != self._kept_geometry:
            self._kept = QPixmap(port.size() * ratio)
            self._kept.setDevicePixelRatio(ratio)
            self._behind = QRegion(port.rect())
            self._kept_geometry, self._kept_key = geometry, key
        if key is None or key != self._kept_key or event.region().intersects(self._behind):
            # Something it shows changed, or the kept picture lacks this part: paint as any
            # view does, and bring the kept picture up to date once things are quiet.
            super().paintEvent(event)
            self._behind = self._behind.united(event.region())
            self._kept_key = key
            if not self._fill_timer.isActive():
                self._fill_timer.start()
            return
        painter = QPainter(port)
        for rect in event.region():
            painter.drawPixmap(QRectF(rect), self._kept,
                               QRectF(rect.x() * ratio, rect.y() * ratio,
                                      rect.width() * ratio, rect.height() * ratio))
        painter.setTransform(self.viewportTransform())
        painter.setRenderHints(self.renderHints())
        self.drawForeground(painter, self.mapToScene(event.rect()).boundingRect())
        painter.end()

    def _picture_key(self) -> tuple | None:
        scene = self.scene()
        if not isinstance(scene, CanvasScene):
            return None
        return scene.picture_key(self.transform().m11())

    def _fill(self) -> None:
        """Draw into the kept picture, as the view draws, the parts it lacks (after a change
        it shows, which was painted directly), unless the scene changed again meanwhile."""
        if (self._kept is None or self._behind.isEmpty() or not self.isVisible()
                or self._picture_key() != self._kept_key or self._kept_key is None):
            return
        rect = self._behind.boundingRect()
        self._grabbing = True
        try:
            part = self.viewport().grab(rect)
        finally:
            self._grabbing = False
        painter = QPainter(self._kept)
        painter.drawPixmap(rect.topLeft(), part)
        painter.end()
        self._behind = QRegion()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        if self._grabbing:
            return  # the kept picture holds the model only; the outline is drawn over it
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
