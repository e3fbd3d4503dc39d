"""An edge: a smooth curve from an output port down to an input port, labelled with its shape."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from cnnstudio.gui.canvas.block import EDGE_Z
from cnnstudio.gui.canvas.style import DETAIL_ZOOM, CanvasStyle

_ARROW = 6.0
_HIT_WIDTH = 12.0
_DETOUR = 28.0


def curve(p1: QPointF, p2: QPointF) -> QPainterPath:
    """A vertical S-curve: leaves the output downwards and enters the input from above, also
    when the target sits higher than the source (the curve then loops around)."""
    dy = max(40.0, abs(p2.y() - p1.y()) * 0.5)
    path = QPainterPath(p1)
    path.cubicTo(QPointF(p1.x(), p1.y() + dy), QPointF(p2.x(), p2.y() - dy), p2)
    return path


def route(p1: QPointF, p2: QPointF, obstacles: list[QRectF]) -> QPainterPath:
    """The curve, or, when blocks stand between the ends (a residual shortcut beside the
    blocks it skips), a path that swings out beside them, runs down and swings back in."""
    if not obstacles:
        return curve(p1, p2)
    left = min(r.left() for r in obstacles) - _DETOUR
    right = max(r.right() for r in obstacles) + _DETOUR
    mid = (p1.x() + p2.x()) / 2
    x = left if abs(mid - left) < abs(right - mid) else right
    bend = min(40.0, max(12.0, (p2.y() - p1.y()) / 4))
    a = QPointF(x, p1.y() + 2 * bend)
    b = QPointF(x, p2.y() - 2 * bend)
    path = QPainterPath(p1)
    path.cubicTo(QPointF(p1.x(), p1.y() + bend * 1.5), QPointF(x, a.y() - bend * 1.5), a)
    path.lineTo(b)
    path.cubicTo(QPointF(x, b.y() + bend * 1.5), QPointF(p2.x(), p2.y() - bend * 1.5), p2)
    return path


class EdgeItem(QGraphicsItem):
    """src -> dst; ``highlight`` marks it as the target of a drop (insert into this edge)."""

    def __init__(self, src: str, dst: str, style: CanvasStyle) -> None:
        super().__init__()
        self.src, self.dst = src, dst
        #: The nodes drawn at its two ends: the layers, or the collapsed units standing for them.
        self.ends = (src, dst)
        self.style = style
        self.selected = False
        self.highlight = False
        self.label = ""
        self.label_text = ""  # the label the scene wants; drawn at the next set_geometry
        self._ends: tuple | None = None
        self._path = QPainterPath()
        self._hit = QPainterPath()
        self._label_rect = QRectF()
        self.setZValue(EDGE_Z)
        self.setAcceptHoverEvents(True)

    @property
    def key(self) -> tuple[str, str]:
        return (self.src, self.dst)

    def set_geometry(self, p1: QPointF, p2: QPointF, label: str,
                     obstacles: list[QRectF] | None = None) -> None:
        ends = (p1.x(), p1.y(), p2.x(), p2.y(),
                tuple((r.x(), r.y()) for r in obstacles or ()))
        if ends == self._ends and label == self.label:
            return
        self.prepareGeometryChange()
        self._ends, self.label = ends, label
        self._path = route(p1, p2, obstacles or [])
        stroker = QPainterPathStroker()
        stroker.setWidth(_HIT_WIDTH)
        self._hit = stroker.createStroke(self._path)
        mid = self._path.pointAtPercent(0.5 if not obstacles else 0.15)
        fm = QFontMetricsF(self.style.small_font)
        w, h = fm.horizontalAdvance(label) + 8, fm.height() + 2
        self._label_rect = QRectF(mid.x() + 6, mid.y() - h / 2, w, h) if label else QRectF()
        self.setToolTip(f"{src_dst(self.src, self.dst)}: {label}" if label else "")
        self.update()

    def set_state(self, selected: bool | None = None, highlight: bool | None = None) -> None:
        if selected is not None:
            self.selected = selected
        if highlight is not None:
            self.highlight = highlight
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._hit.boundingRect().united(self._label_rect).adjusted(-_ARROW, -_ARROW,
                                                                          _ARROW, _ARROW)

    def shape(self) -> QPainterPath:
        return self._hit

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        style = self.style
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = style.accent if (self.selected or self.highlight) else style.edge
        painter.setPen(QPen(colour, 3.0 if self.highlight else 1.8 if self.selected else 1.4))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        end = self._path.pointAtPercent(1.0)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawPolygon(QPolygonF([end, QPointF(end.x() - _ARROW / 2, end.y() - _ARROW),
                                       QPointF(end.x() + _ARROW / 2, end.y() - _ARROW)]))
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if self.label and lod >= DETAIL_ZOOM:
            painter.setBrush(style.background)
            painter.drawRoundedRect(self._label_rect, 3, 3)
            painter.setFont(style.small_font)
            painter.setPen(style.muted)
            painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self.label)


def src_dst(src: str, dst: str) -> str:
    return f"{src} \u2192 {dst}"
