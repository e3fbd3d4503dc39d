"""A layer block on the canvas and its ports.

A block only draws what it is told (``BlockView``, plain values computed by the scene from the
graph and the validation result); it never reads or changes the model, so the Document stays
the one place edits happen. The scene skips blocks whose ``BlockView`` did not change, which is
what keeps a 300-block canvas smooth while the user types in the inspector.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from cnnstudio.core import routing
from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH, PORT_RADIUS
from cnnstudio.gui.canvas.style import (
    CORNER_RADIUS,
    FULL,
    HEADER_HEIGHT,
    NO_ID,
    TYPE_AND_SHAPE,
    TYPE_ONLY,
    CanvasStyle,
    detail_level,
    legible_point_size,
    mix,
)

try:  # the palette's family glyphs (helper B); blocks read fine without them
    from cnnstudio.gui.glyphs import paint_glyph
except ImportError:  # pragma: no cover - only while the palette is being built
    paint_glyph = None

BLOCK_Z, EDGE_Z, DRAG_Z = 2.0, 1.0, 10.0
_PAD = 7.0
_GLYPH = 13.0
#: Qt's enum values, looked up once: a block paint uses a dozen, and each lookup costs.
_ANTIALIAS = QPainter.RenderHint.Antialiasing
_TEXT_ANTIALIAS = QPainter.RenderHint.TextAntialiasing
_LEFT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
_RIGHT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
_NO_PEN = Qt.PenStyle.NoPen
_NO_BRUSH = Qt.BrushStyle.NoBrush
_ELIDE_LEFT = Qt.TextElideMode.ElideLeft
_ELIDE_RIGHT = Qt.TextElideMode.ElideRight
_ELIDE_MIDDLE = Qt.TextElideMode.ElideMiddle
#: (font, text, how, width) -> the text elided: blocks show the same texts at the same widths.
_ELIDED: dict[tuple[str, str, Qt.TextElideMode, float], str] = {}


#: Alert text in tooltips: the warning amber, dark enough to read on a tooltip's pale ground.
ALERT_TEXT = "#9a5200"


@dataclass(frozen=True, slots=True)
class BlockView:
    """Everything a block shows; equality decides whether it must be repainted."""

    family: str
    title: str
    layer_id: str
    shape: str
    params: str
    status: str  # ok | warning | error | blocked | disconnected
    messages: tuple[str, ...]
    description: str
    frozen: bool
    has_input_port: bool
    merge: bool
    input_count: int
    #: Training alerts about this layer (dead units, vanishing gradients...), newest last.
    alerts: tuple[str, ...] = ()


def paint_card(painter: QPainter, rect: QRectF, body: QColor, header: QColor,
               header_height: float = HEADER_HEIGHT) -> None:
    """A block's rounded card (outline in the painter's pen) with its header band in
    ``header``, clipped to the rounded top."""
    painter.setBrush(body)
    painter.drawRoundedRect(rect, CORNER_RADIUS, CORNER_RADIUS)
    painter.save()
    painter.setPen(_NO_PEN)
    painter.setBrush(header)
    painter.drawPath(_header_band(rect.getRect(), header_height))
    painter.restore()


@cache
def _header_band(rect: tuple[float, float, float, float], header_height: float
                 ) -> QPainterPath:
    """The card's top ``header_height`` within its rounded outline (the same few card sizes
    are painted over and over: worked out once each)."""
    card = QPainterPath()
    card.addRoundedRect(QRectF(*rect), CORNER_RADIUS, CORNER_RADIUS)
    band = QPainterPath()
    band.addRect(QRectF(rect[0], rect[1], rect[2], header_height))
    return card.intersected(band)


def elided(font: QFont, text: str, mode: Qt.TextElideMode, width: float) -> str:
    """``QFontMetricsF(font).elidedText(text, mode, width)``, remembered."""
    key = (font.key(), text, mode, width)
    found = _ELIDED.get(key)
    if found is None:
        if len(_ELIDED) > 20_000:  # a long session of renames: start again
            _ELIDED.clear()
        found = _ELIDED[key] = QFontMetricsF(font).elidedText(text, mode, width)
    return found


class PortItem(QGraphicsItem):
    """A connection point: inputs on the top edge, the output on the bottom edge."""

    def __init__(self, block: BlockItem, kind: str) -> None:
        super().__init__(block)
        self.block = block
        self.kind = kind  # "in" | "out"
        self.hot = False
        #: Its outline and bounds, for the width it was last given (see refresh_geometry).
        self._drawn_width: float | None = None
        self._outline = self._bounds = QRectF()
        self.refresh_geometry()
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.setToolTip("drag to an input port to connect" if kind == "out"
                        else "drag to an output port to connect")

    @property
    def layer_id(self) -> str:
        """The layer this port connects (a collapsed unit's ports stand for its entry/exit)."""
        return self.block.port_layer(self.kind)

    def _width(self) -> float:
        return 44.0 if self.kind == "in" and self.block.view and self.block.view.merge else 0.0

    def refresh_geometry(self) -> None:
        """Take the width the block's content asks for (a merge block's input is wide).
        Qt asks for the bounds many times per repaint: they are worked out here, once."""
        w = self._width()
        if w == self._drawn_width:
            return
        self.prepareGeometryChange()
        self._drawn_width = w
        r = PORT_RADIUS + 3
        self._bounds = QRectF(-r - w / 2, -r, 2 * (r + w / 2), 2 * r)
        self._outline = QRectF(-PORT_RADIUS - w / 2, -PORT_RADIUS, 2 * PORT_RADIUS + w,
                               2 * PORT_RADIUS)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._bounds)  # a generous target: ports are small
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        style = self.block.style
        painter.setRenderHint(_ANTIALIAS)
        colour = style.accent if self.hot else style.edge
        painter.setPen(QPen(colour, 1.6))
        painter.setBrush(QBrush(style.accent if self.hot else style.block_fill))
        painter.drawRoundedRect(self._outline, PORT_RADIUS, PORT_RADIUS)

    def set_hot(self, hot: bool) -> None:
        if hot != self.hot:
            self.hot = hot
            self.update()

    def hoverEnterEvent(self, event) -> None:  # noqa: N802, ANN001
        self.set_hot(True)

    def hoverLeaveEvent(self, event) -> None:  # noqa: N802, ANN001
        self.set_hot(False)


class BlockItem(QGraphicsItem):
    """One layer: family-coloured header with the notation, then shape, parameters and id."""

    def __init__(self, layer_id: str, style: CanvasStyle) -> None:
        super().__init__()
        # The outline, and the badges over the top corners (training alerts left, errors
        # right); fixed, and asked for many times per repaint.
        self._bounds = self.rect().adjusted(-10, -10, 10, 4)
        self.layer_id = layer_id
        self.style = style
        self.view: BlockView | None = None
        self.selected = False
        self.setZValue(BLOCK_Z)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.in_port = PortItem(self, "in")
        self.in_port.setPos(BLOCK_WIDTH / 2, 0)
        self.out_port = PortItem(self, "out")
        self.out_port.setPos(BLOCK_WIDTH / 2, BLOCK_HEIGHT)

    def port_layer(self, kind: str) -> str:
        return self.layer_id

    # --- content ----------------------------------------------------------------------------
    def set_view(self, view: BlockView) -> bool:
        """Show new content; returns False (and repaints nothing) when it is unchanged."""
        if view == self.view:
            return False
        self.view = view
        self.in_port.setVisible(view.has_input_port)
        self.in_port.refresh_geometry()
        self.setOpacity(0.55 if view.status == "disconnected" else 1.0)
        tip = [f"<b>{view.title}</b> &nbsp;({view.layer_id})", view.description]
        if view.messages:
            tip += [f"<span style='color:{self._state_colour().name()}'>{m}</span>"
                    for m in view.messages]
        if view.alerts:
            tip += [f"<span style='color:{ALERT_TEXT}'>Training alert: {m}</span>"
                    for m in view.alerts]
        self.setToolTip("<br>".join(t for t in tip if t))
        self.update()
        return True

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.setZValue(BLOCK_Z + (0.5 if selected else 0.0))
            # A fresh cache, not update() alone: deselected in the same edit that pushed it
            # aside (a drop that makes room), a block kept drawing its cached selection
            # outline, even through a whole-canvas redraw (seen in a real window; the cause
            # inside Qt's device cache is unknown).
            self.setCacheMode(QGraphicsItem.CacheMode.NoCache)
            self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self.update()

    # --- geometry ---------------------------------------------------------------------------
    def rect(self) -> QRectF:
        return QRectF(0, 0, BLOCK_WIDTH, BLOCK_HEIGHT)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self.rect(), CORNER_RADIUS, CORNER_RADIUS)
        return path

    def output_anchor(self) -> QPointF:
        return QPointF(*routing.output_anchor((self.x(), self.y())))

    def input_anchor(self, slot: int, count: int) -> QPointF:
        """Where the edge of input ``slot`` (of ``count``) ends; several spread along the top."""
        return QPointF(*routing.input_anchor((self.x(), self.y()), slot, count))

    # --- painting ---------------------------------------------------------------------------
    def _state_colour(self) -> QColor:
        status = self.view.status if self.view else "ok"
        if status == "error":
            return self.style.error
        if status == "warning":
            return self.style.warning
        return self.style.edge

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        view, style = self.view, self.style
        if view is None:
            return
        painter.setRenderHint(_ANTIALIAS)
        painter.setRenderHint(_TEXT_ANTIALIAS)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        rect = self.rect()
        family = style.header(view.family)
        outline = self._state_colour()
        width = 2.2 if view.status in ("error", "warning") else 1.0
        if self.selected:
            painter.setPen(QPen(style.accent, 3.0))
            painter.setBrush(_NO_BRUSH)
            painter.drawRoundedRect(rect.adjusted(-2.5, -2.5, 2.5, 2.5), CORNER_RADIUS + 2,
                                    CORNER_RADIUS + 2)
        painter.setPen(QPen(outline, width))
        detail = detail_level(lod)
        if detail == TYPE_ONLY:
            self._paint_overview(painter, rect, family, lod)
        else:
            self._paint_detail(painter, rect, family, view, detail, lod)
        if view.status == "error":
            self._paint_badge(painter, QPointF(rect.right(), rect.top()))
        if view.alerts:
            self._paint_badge(painter, QPointF(rect.left(), rect.top()), self.style.warning)

    def _paint_overview(self, painter: QPainter, rect: QRectF, family: QColor,
                        lod: float) -> None:
        """Far out: the whole block in the family colour with only its type, large."""
        painter.setBrush(family)
        painter.drawRoundedRect(rect, CORNER_RADIUS, CORNER_RADIUS)
        font = QFont(self.style.title_font)
        word = self.view.title.split(" ")[0]  # type: ignore[union-attr]
        size = min(24.0, 8.5 / max(lod, 0.05))
        font.setPointSizeF(size)
        room = rect.width() - 10
        if self.view.frozen:  # type: ignore[union-attr]
            # The lock, as large on screen as at 100%, in the top-right corner; the centred
            # type name keeps clear of it on both sides.
            scale = min(3.0, 1.0 / max(lod, 0.05))
            painter.save()
            painter.translate(rect.right() - 4 - 11 * scale, rect.top() + 4)
            painter.scale(scale, scale)
            self._paint_lock(painter, QPointF(0, 0))
            painter.restore()
            room -= 2 * (11 * scale + 4)
        wide = QFontMetricsF(font).horizontalAdvance(word)
        if wide > room:  # shrink to fit rather than cut the type name
            font.setPointSizeF(max(6.0, size * room / wide * 0.95))
        painter.setFont(font)
        painter.setPen(self.style.header_text)
        text = QFontMetricsF(font).elidedText(word, Qt.TextElideMode.ElideRight, room)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def lines_at(self, zoom: float) -> list[str]:
        """The texts the block shows at ``zoom``, most important first (what ``paint`` draws)."""
        view = self.view
        if view is None:
            return []
        detail = detail_level(zoom)
        if detail == TYPE_ONLY:
            return [view.title.split(" ")[0]]
        lines = [view.title, view.shape]
        if detail in (FULL, NO_ID) and view.params:
            lines.append(view.params)
        if detail == FULL:
            lines.append(view.layer_id)
        return lines

    def _paint_detail(self, painter: QPainter, rect: QRectF, family: QColor,
                      view: BlockView, detail: str, lod: float) -> None:
        """Header with the notation; body with the output shape, then (zoom allowing) the
        parameter count and the id. With fewer lines the type and shape are drawn larger."""
        style = self.style
        compact = detail == TYPE_AND_SHAPE
        header_h = HEADER_HEIGHT + (6.0 if compact else 0.0)
        paint_card(painter, rect, style.body(view.family), family, header_h)
        x = rect.left() + _PAD
        if paint_glyph is not None and not compact:
            paint_glyph(painter, QRectF(x - 2, rect.top() + (header_h - _GLYPH) / 2,
                                        _GLYPH, _GLYPH), view.family)
            x += _GLYPH + 3
        right = rect.right() - _PAD
        title_font = style.title_font
        if compact:
            title_font = QFont(title_font)
            title_font.setPointSizeF(legible_point_size(style.title_font.pointSizeF(), lod, 13))
        painter.setFont(title_font)
        painter.setPen(style.header_text)
        title = elided(title_font, view.title, _ELIDE_RIGHT, right - x)
        painter.drawText(QRectF(x, rect.top(), right - x, header_h), _LEFT, title)
        if view.frozen:  # in the body's free corner, so the title keeps its whole width
            self._paint_lock(painter, QPointF(rect.right() - _PAD - 10, rect.bottom() - 16),
                             style.text)
        # Body: output shape (muted "?" when unknown), the parameter count, then the id.
        body_top = rect.top() + header_h
        left = rect.left() + _PAD
        width = rect.width() - 2 * _PAD
        known = view.shape != "?"
        shape_font = style.shape_font
        if compact:
            shape_font = QFont(shape_font)
            shape_font.setPointSizeF(legible_point_size(style.shape_font.pointSizeF(), lod, 16))
            body = QRectF(left, body_top, width, rect.bottom() - body_top)
        elif detail == NO_ID:
            body = QRectF(left, body_top, width, rect.bottom() - body_top)
        else:
            body = QRectF(left, body_top + 1, width, (rect.bottom() - body_top) / 2)
        painter.setFont(shape_font)
        painter.setPen(style.text if known else style.muted)
        shape = elided(shape_font, view.shape, _ELIDE_LEFT, width)
        painter.drawText(body, _LEFT, shape)
        if compact:
            return
        painter.setFont(style.small_font)
        painter.setPen(style.muted)
        if view.params:
            painter.drawText(body, _RIGHT, view.params)
        if detail == FULL:
            ident = elided(style.small_font, view.layer_id, _ELIDE_MIDDLE, width)
            painter.drawText(body.translated(0, body.height() - 3), _LEFT, ident)

    def _paint_badge(self, painter: QPainter, at: QPointF, colour: QColor | None = None
                     ) -> None:
        painter.save()
        painter.setPen(QPen(self.style.block_fill, 1.5))
        painter.setBrush(colour or self.style.error)
        painter.drawEllipse(at, 8.0, 8.0)
        font = QFont(self.style.title_font)
        font.setPointSizeF(9.0)
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(QRectF(at.x() - 8, at.y() - 8, 16, 16), Qt.AlignmentFlag.AlignCenter,
                         "!")
        painter.restore()

    def _paint_lock(self, painter: QPainter, at: QPointF, colour: QColor | None = None) -> None:
        """A small padlock: the layer's weights are frozen during training."""
        painter.save()
        if colour is None:  # on the family colour
            colour = mix(self.style.header_text, self.style.header(self.view.family), 0.1)  # type: ignore
        painter.setPen(QPen(colour, 1.4))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawArc(QRectF(at.x() + 2, at.y(), 6, 8), 0, 180 * 16)
        painter.setBrush(colour)
        painter.drawRoundedRect(QRectF(at.x(), at.y() + 4.5, 10, 7.5), 1.5, 1.5)
        painter.restore()
