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

from cnnstudio.core import routing
from cnnstudio.gui.canvas.block import EDGE_Z
from cnnstudio.gui.canvas.style import PARAMS_ZOOM, CanvasStyle

_ARROW = 6.0
_HIT_WIDTH = 12.0
_ANTIALIAS = QPainter.RenderHint.Antialiasing
_CENTRE = Qt.AlignmentFlag.AlignCenter
_NO_PEN = Qt.PenStyle.NoPen
_NO_BRUSH = Qt.BrushStyle.NoBrush


def curve(p1: QPointF, p2: QPointF) -> QPainterPath:
    """A vertical S-curve: leaves the output downwards and enters the input from above, also
    when the target sits higher than the source (the curve then loops around)."""
    return painter_path(routing.Route(((p1.x(), p1.y()), (p2.x(), p2.y())), True, (0.0, 0.0)))


def painter_path(course: routing.Route) -> QPainterPath:
    """The route (``core.routing``) as a Qt path: the S-curve or the rounded polyline."""
    path = QPainterPath(QPointF(*course.points[0]))
    for kind, pts in routing.path_ops(course):
        q = [QPointF(*p) for p in pts]
        if kind == "C":
            path.cubicTo(*q)
        elif kind == "Q":
            path.quadTo(*q)
        else:
            path.lineTo(q[0])
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
        self._ends: routing.Route | None = None
        self._path = QPainterPath()
        self._hit = QPainterPath()
        self._label_rect = QRectF()
        self._arrow = QPolygonF()
        self._bounds = self._outer_bounds()
        #: Where the route looked (``routing.influence``): a block or an earlier label
        #: changing elsewhere cannot change it.
        self.region: tuple[routing.Rect, ...] = ()
        #: The label's place among the others as the last sync left it (None: no label).
        self.placed_label: routing.Rect | None = None
        #: Routed during a drag preview (among labels not in their final places).
        self.provisional = False
        self.setZValue(EDGE_Z)
        self.setAcceptHoverEvents(True)

    @property
    def key(self) -> tuple[str, str]:
        return (self.src, self.dst)

    def set_geometry(self, course: routing.Route, label: str) -> None:
        """Show the edge along ``course``; nothing is redone when neither changed."""
        if course == self._ends and label == self.label:
            return
        self.prepareGeometryChange()
        self._ends, self.label = course, label
        self._path = painter_path(course)
        stroker = QPainterPathStroker()
        stroker.setWidth(_HIT_WIDTH)
        self._hit = stroker.createStroke(self._path)
        fm = QFontMetricsF(self.style.small_font)
        w, h = label_width(self.style, label), fm.height() + 2
        if label and course.label_at is not None:
            x, y = course.label_at
            self._label_rect = QRectF(x, y - h / 2, w, h)
        else:
            self._label_rect = QRectF()
        end = self._path.pointAtPercent(1.0)
        self._arrow = QPolygonF([end, QPointF(end.x() - _ARROW / 2, end.y() - _ARROW),
                                 QPointF(end.x() + _ARROW / 2, end.y() - _ARROW)])
        self._bounds = self._outer_bounds()
        self.setToolTip(f"{src_dst(self.src, self.dst)}: {label}" if label else "")
        self.update()

    def relabel(self, label: str) -> None:
        """Show another label exactly as wide as the one shown (a shape whose digits changed):
        the route and the label's place stay, only the label's text is drawn again."""
        self.label = label
        self.setToolTip(f"{src_dst(self.src, self.dst)}: {label}" if label else "")
        self.update(self._label_rect)

    def depends_on(self, rects: list[routing.Rect]) -> bool:
        """Whether anything in ``rects`` lies where this edge's route looked."""
        return any(routing.overlaps(r, area) for r in rects for area in self.region)

    def set_state(self, selected: bool | None = None, highlight: bool | None = None) -> None:
        if selected is not None:
            self.selected = selected
        if highlight is not None:
            self.highlight = highlight
        self.update()

    def _outer_bounds(self) -> QRectF:
        return self._hit.boundingRect().united(self._label_rect).adjusted(-_ARROW, -_ARROW,
                                                                          _ARROW, _ARROW)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds  # Qt asks many times per repaint; set with the geometry

    def shape(self) -> QPainterPath:
        return self._hit

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        style = self.style
        painter.setRenderHint(_ANTIALIAS)
        colour = style.accent if (self.selected or self.highlight) else style.edge
        painter.setPen(QPen(colour, 3.0 if self.highlight else 1.8 if self.selected else 1.4))
        painter.setBrush(_NO_BRUSH)
        painter.drawPath(self._path)
        painter.setPen(_NO_PEN)
        painter.setBrush(colour)
        painter.drawPolygon(self._arrow)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if self.label and not self._label_rect.isNull() and lod >= PARAMS_ZOOM:
            painter.setBrush(style.background)
            painter.drawRoundedRect(self._label_rect, 3, 3)
            painter.setFont(style.small_font)
            painter.setPen(style.muted)
            painter.drawText(self._label_rect, _CENTRE, self.label)


def label_width(style: CanvasStyle, label: str) -> float:
    """Room an edge's shape label takes (the route keeps this much free beside the wire)."""
    return QFontMetricsF(style.small_font).horizontalAdvance(label) + 8


def src_dst(src: str, dst: str) -> str:
    return f"{src} \u2192 {dst}"
