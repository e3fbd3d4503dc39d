"""Small family glyphs drawn with QPainter: one picture per layer family.

Drawn rather than shipped as image files so they stay sharp at any device pixel ratio and follow
the family colours of core.appearance, the same tints the canvas blocks use. The palette uses
them as icons; the canvas or the inspector header can paint them with ``paint_glyph``.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

from cnnstudio.core import catalogue as cat
from cnnstudio.core.appearance import FAMILY_COLORS


def _grid(p: QPainter, r: QRectF, n: int) -> None:
    step = r.width() / n
    for i in range(n + 1):
        p.drawLine(QPointF(r.left() + i * step, r.top()), QPointF(r.left() + i * step, r.bottom()))
        p.drawLine(QPointF(r.left(), r.top() + i * step), QPointF(r.right(), r.top() + i * step))


def _input(p: QPainter, r: QRectF) -> None:
    """Stacked channels: the image entering the network."""
    d = r.width() * 0.18
    for i in range(3):
        p.drawRect(QRectF(r.left() + i * d, r.top() + i * d, r.width() - 2 * d, r.height() - 2 * d))


def _conv(p: QPainter, r: QRectF) -> None:
    """A 3x3 filter."""
    _grid(p, r, 3)


def _pool(p: QPainter, r: QRectF) -> None:
    """A 2x2 window summarised into one cell."""
    half = QRectF(r.left(), r.top(), r.width() * 0.55, r.height() * 0.55)
    _grid(p, half, 2)
    p.drawRect(QRectF(r.right() - r.width() * 0.3, r.bottom() - r.height() * 0.3,
                      r.width() * 0.3, r.height() * 0.3))
    p.drawLine(half.bottomRight(), QPointF(r.right() - r.width() * 0.3,
                                           r.bottom() - r.height() * 0.3))


def _dense(p: QPainter, r: QRectF) -> None:
    """Two columns of units, every one connected to every other."""
    left = [QPointF(r.left(), r.top() + r.height() * f) for f in (0.1, 0.5, 0.9)]
    right = [QPointF(r.right(), r.top() + r.height() * f) for f in (0.25, 0.75)]
    for a in left:
        for b in right:
            p.drawLine(a, b)


def _activation(p: QPainter, r: QRectF) -> None:
    """The ReLU hinge."""
    mid = r.top() + r.height() * 0.7
    path = QPainterPath(QPointF(r.left(), mid))
    path.lineTo(QPointF(r.center().x(), mid))
    path.lineTo(QPointF(r.right(), r.top()))
    p.drawPath(path)


def _norm(p: QPainter, r: QRectF) -> None:
    """A bell curve: values pulled to zero mean, unit variance."""
    path = QPainterPath(QPointF(r.left(), r.bottom()))
    path.cubicTo(QPointF(r.center().x() - r.width() * 0.15, r.bottom()),
                 QPointF(r.center().x() - r.width() * 0.2, r.top()),
                 QPointF(r.center().x(), r.top()))
    path.cubicTo(QPointF(r.center().x() + r.width() * 0.2, r.top()),
                 QPointF(r.center().x() + r.width() * 0.15, r.bottom()),
                 QPointF(r.right(), r.bottom()))
    p.drawPath(path)


def _merge(p: QPainter, r: QRectF) -> None:
    """Two branches joining into one."""
    c = r.center()
    p.drawLine(r.topLeft(), c)
    p.drawLine(r.topRight(), c)
    p.drawLine(c, QPointF(c.x(), r.bottom()))


_DRAW = {
    cat.INPUT: _input, cat.CONV: _conv, cat.POOL: _pool, cat.DENSE: _dense,
    cat.ACTIVATION: _activation, cat.NORM: _norm, cat.MERGE: _merge,
}


def paint_glyph(painter: QPainter, rect: QRectF, family: str) -> None:
    """A rounded tile in the family colour with the family's white line drawing inside.

    Every block on the canvas paints one whenever it changes, at the same few sizes: its
    colour, pen and line drawing are worked out once per family and size, then the same
    drawing calls are made on ``painter`` (so the pixels are those of drawing it afresh)."""
    painter.save()
    painter.setRenderHint(_ANTIALIAS)
    painter.setPen(_NO_PEN)
    painter.setBrush(_tile_colour(family))
    radius = rect.width() * 0.2
    painter.drawRoundedRect(rect, radius, radius)
    painter.setPen(_line_pen(max(1.0, rect.width() / 14)))
    painter.setBrush(_NO_BRUSH)
    for method, args in _line_drawing(family, rect.getRect()):
        getattr(painter, method)(*args)
    painter.restore()


_ANTIALIAS = QPainter.RenderHint.Antialiasing
_NO_PEN = Qt.PenStyle.NoPen
_NO_BRUSH = Qt.BrushStyle.NoBrush


@cache
def _tile_colour(family: str) -> QColor:
    return QColor(FAMILY_COLORS.get(family, "#888888"))


@cache
def _line_pen(width: float) -> QPen:
    pen = QPen(QColor("white"), width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


class _Calls:
    """Stands in for a QPainter while a line drawing is worked out: notes each call."""

    def __init__(self) -> None:
        self.made: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, method: str):  # noqa: ANN204 - any QPainter drawing method
        return lambda *args: self.made.append((method, args))


@cache
def _line_drawing(family: str, rect: tuple[float, float, float, float]
                  ) -> tuple[tuple[str, tuple[object, ...]], ...]:
    """The QPainter calls (method, arguments) that draw ``family``'s lines in a tile at
    ``rect``."""
    tile = QRectF(*rect)
    m = tile.width() * 0.22
    draw = _DRAW.get(family)
    calls = _Calls()
    if draw:
        draw(calls, tile.adjusted(m, m, -m, -m))  # type: ignore[arg-type]
    return tuple(calls.made)


@cache
def family_icon(family: str, size: int = 32) -> QIcon:
    """The glyph as an icon (rendered once per family, at 1x and 2x for high-DPI screens)."""
    icon = QIcon()
    for scale in (1, 2):
        pix = QPixmap(size * scale, size * scale)
        pix.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pix)
        paint_glyph(painter, QRectF(1, 1, size * scale - 2, size * scale - 2), family)
        painter.end()
        pix.setDevicePixelRatio(scale)
        icon.addPixmap(pix)
    return icon
