"""The overview: a small picture of the whole model in the canvas's corner, with the part the
canvas shows outlined. It appears only while the model does not fit the canvas at the zoom in
use (a large model held at a legible zoom); clicking or dragging in it moves the canvas there.

At the overview's scale most edits change nothing it shows (a shape or a parameter count is
not drawn there), yet the items they touch would be painted again, and on a large model those
are dozens of long wires. So the overview keeps the picture it drew, with the scene's
description of what that picture shows (``CanvasScene.picture``), and repaints from it. Where
the description changed (the places of the items whose description differs) it paints as any
view does until it has copied, soon after, what the view paints there into the kept picture.
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

from cnnstudio.gui.canvas.scene import CanvasScene, Picture

SIZE = (220, 150)
#: After a change it shows, the kept picture catches up this long after the first paint it
#: missed (during a drag, which changes what it shows all the time, at most ten times a
#: second); a picture not yet kept at all is made at once.
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
        #: The picture last painted, what the scene shows there, where the picture is behind
        #: the screen, and the view geometry it was painted for.
        self._kept: QPixmap | None = None
        self._kept_picture: Picture | None = None
        self._behind = QRegion()
        self._kept_geometry: tuple[object, ...] | None = None
        self._grabbing = False
        self._fill_timer = QTimer(self)
        self._fill_timer.setSingleShot(True)
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
        picture = self._picture()
        if picture is not None and self._start_kept(picture):
            self._fill()  # keep the whole picture now, rather than paint it and then keep it
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
        picture = self._picture()
        if picture is None:  # items it cannot vouch for: paint as any view does
            self._kept = None
            super().paintEvent(event)
            return
        self._start_kept(picture)
        self._note_changes(picture)
        if event.region().intersects(self._behind):
            # Something it shows changed here, or the kept picture lacks this part: paint as
            # any view does, and bring the kept picture up to date soon after.
            super().paintEvent(event)
            if not self._fill_timer.isActive():
                whole = self._behind.contains(port.rect())
                self._fill_timer.start(0 if whole else _FILL_AFTER_MS)
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

    def _geometry(self) -> tuple[object, ...]:
        port = self.viewport()
        return (self.transform(), self.horizontalScrollBar().value(),
                self.verticalScrollBar().value(), port.size(), port.devicePixelRatioF())

    def _start_kept(self, picture: Picture) -> bool:
        """A new, empty kept picture when there is none for the view as it is now placed;
        returns whether it made one."""
        geometry = self._geometry()
        if self._kept is not None and geometry == self._kept_geometry \
                and self._kept_picture is not None:
            return False
        port = self.viewport()
        self._kept = QPixmap(port.size() * port.devicePixelRatioF())
        self._kept.setDevicePixelRatio(port.devicePixelRatioF())
        self._kept_geometry, self._kept_picture = geometry, picture
        self._behind = QRegion(port.rect())
        return True

    def _picture(self) -> Picture | None:
        scene = self.scene()
        if not isinstance(scene, CanvasScene):
            return None
        return scene.picture(self.transform().m11())

    def _note_changes(self, picture: Picture) -> None:
        """Mark where the kept picture can differ from what ``picture`` shows (the items whose
        description changed, before and after) as behind, and keep ``picture`` as its
        description for everywhere else."""
        if self._kept_picture is None or picture == self._kept_picture:
            return
        rects = picture.changed_rects(self._kept_picture)
        if rects is None:
            self._behind = QRegion(self.viewport().rect())
        else:
            for left, top, right, bottom in rects:
                shown = self.mapFromScene(QRectF(left, top, right - left, bottom - top))
                self._behind = self._behind.united(
                    QRegion(shown.boundingRect().adjusted(-2, -2, 2, 2)))
        self._kept_picture = picture

    def _fill(self) -> None:
        """Draw into the kept picture, exactly as the view draws, the parts it lacks."""
        picture = self._picture()
        if self._kept is None or picture is None or not self.isVisible():
            return
        self._note_changes(picture)
        if self._behind.isEmpty():
            return
        rect = self._behind.boundingRect().intersected(self.viewport().rect())
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
