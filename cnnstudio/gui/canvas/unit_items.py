"""Units on the canvas: a collapsed unit is one block (``UnitBlockItem``); an expanded one is a
labelled frame behind its blocks (``UnitFrameItem``) whose header collapses it again.

Both only draw what the scene tells them (plain values from ``core.unit_text``); collapsing,
expanding and moving go through the Document like every other edit.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from cnnstudio.core.appearance import LAYER_GAP_Y
from cnnstudio.core.unit_text import UNIT_COLOR, UnitText
from cnnstudio.gui.canvas.block import BlockItem, BlockView, paint_card
from cnnstudio.gui.canvas.style import CORNER_RADIUS, HEADER_HEIGHT, CanvasStyle, mix

#: Frames sit over edges (their fill is translucent) and under blocks, so the name tab in the
#: header stays readable where an edge enters the unit.
FRAME_Z = 1.5
FRAME_PAD = 12.0
FRAME_HEADER = 20.0
#: How far the cards "behind" a collapsed unit's block stick out.
_STACK = 4.0
EXPAND_GLYPH, COLLAPSE_GLYPH = "\u25b8", "\u25be"


def unit_block_view(uid: str, text: UnitText) -> BlockView:
    """A collapsed unit as the block's plain values (its id stands where a layer id would)."""
    return BlockView(
        family="unit", title=text.title, layer_id=uid, shape=text.shapes, params=text.totals,
        status=text.status, messages=text.messages,
        description=f"A unit of {text.count} layers: double-click to expand it.",
        frozen=False, has_input_port=True, merge=False, input_count=1)


class UnitBlockItem(BlockItem):
    """A collapsed unit: name, the shapes in and out, parameter and MAC totals, drawn as a
    stack of cards. Its ports stand for the unit's entry and exit layers."""

    def __init__(self, unit_id: str, style: CanvasStyle) -> None:
        super().__init__(unit_id, style)
        self._bounds = self._bounds.adjusted(0, 0, _STACK * 2, _STACK * 2)  # the cards behind
        self.entry = unit_id
        self.exit = unit_id

    @property
    def unit_id(self) -> str:
        return self.layer_id

    def port_layer(self, kind: str) -> str:
        return self.exit if kind == "out" else self.entry

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        style = self.style
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(style.edge, 1.0))
        painter.setBrush(style.block_fill)
        for k in (2, 1):  # the cards behind: "there is more inside"
            painter.drawRoundedRect(self.rect().translated(k * _STACK, k * _STACK),
                                    CORNER_RADIUS, CORNER_RADIUS)
        super().paint(painter, option, widget)

    def _paint_detail(self, painter: QPainter, rect: QRectF, family: QColor,
                      view: BlockView, detail: str = "", lod: float = 1.0) -> None:
        style = self.style
        paint_card(painter, rect, style.block_fill, QColor(UNIT_COLOR))
        pad = 7.0
        painter.setFont(style.title_font)
        painter.setPen(style.header_text)
        fm = QFontMetricsF(style.title_font)
        title = fm.elidedText(f"{EXPAND_GLYPH} {view.title}", Qt.TextElideMode.ElideRight,
                              rect.width() - 2 * pad)
        painter.drawText(QRectF(rect.left() + pad, rect.top(), rect.width() - 2 * pad,
                                HEADER_HEIGHT),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
        body_top = rect.top() + HEADER_HEIGHT
        line = (rect.bottom() - body_top) / 2
        left, width = rect.left() + pad, rect.width() - 2 * pad
        painter.setFont(style.shape_font)
        painter.setPen(style.text)
        shapes = QFontMetricsF(style.shape_font).elidedText(view.shape,
                                                            Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(left, body_top + 1, width, line),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, shapes)
        painter.setFont(style.small_font)
        painter.setPen(style.muted)
        totals = QFontMetricsF(style.small_font).elidedText(view.params,
                                                            Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(left, body_top + line - 2, width, line),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, totals)

    def _paint_overview(self, painter: QPainter, rect: QRectF, family: QColor,
                        lod: float) -> None:
        super()._paint_overview(painter, rect, QColor(UNIT_COLOR), lod)


class UnitFrameItem(QGraphicsItem):
    """An expanded unit: a tinted frame around its blocks with the name in a header; the
    header's triangle collapses the unit."""

    def __init__(self, unit_id: str, style: CanvasStyle) -> None:
        super().__init__()
        self.unit_id = unit_id
        self.style = style
        self.name = ""
        self.selected = False
        self._rect = QRectF()
        self._head = QRectF()
        self._path = QPainterPath()
        self.setZValue(FRAME_Z)

    def set_frame(self, blocks: list[QRectF], entry: QRectF, name: str,
                  depth: int = 0) -> None:
        """Surround ``blocks`` (scene rects of what the unit shows): one panel per run of
        blocks stacked in a column, so a unit folded over two columns of the layout does not
        seem to hold the blocks between; the header sits above the ``entry`` block. ``depth``:
        how many levels of expanded units it holds (outer frames stand further out)."""
        pad = FRAME_PAD + 6.0 * depth
        panels = []
        for run in _column_runs(blocks):
            top = pad + (FRAME_HEADER if run.contains(entry.center()) else 0.0)
            panels.append(run.adjusted(-pad, -top, pad, pad))
        path = QPainterPath()
        for panel in panels:
            path.addRoundedRect(panel, CORNER_RADIUS + 3, CORNER_RADIUS + 3)
        path = path.simplified()
        # Nested frames share the entry block: an outer unit's tab sits beside the inner's.
        shift = 100.0 * depth
        head = QRectF(entry.left() - pad + shift, entry.top() - pad - FRAME_HEADER,
                      max(entry.width() + 2 * pad - shift, 100.0), FRAME_HEADER)
        if path == self._path and name == self.name and head == self._head:
            return
        self.prepareGeometryChange()
        self._path, self._head, self.name = path, head, name
        self._rect = path.boundingRect()
        self.setToolTip(f"<b>{name}</b><br>Click the triangle to collapse this unit; click the "
                        "header to select it.")
        self.update()

    def frame_rect(self) -> QRectF:
        return QRectF(self._rect)

    def header_rect(self) -> QRectF:
        return QRectF(self._head)

    def toggle_rect(self) -> QRectF:
        return QRectF(self._head.left(), self._head.top(), FRAME_HEADER + 4, FRAME_HEADER)

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._rect.adjusted(-2, -2, 2, 2)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.header_rect())  # only the header takes clicks; blocks stay reachable
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        style = self.style
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        tint = QColor(UNIT_COLOR)
        fill = QColor(tint)
        fill.setAlphaF(0.08 if not style.dark else 0.16)
        painter.setPen(QPen(style.accent if self.selected else mix(style.background, tint, 0.6),
                            2.0 if self.selected else 1.2))
        painter.setBrush(QBrush(fill))
        painter.drawPath(self._path)
        font = style.title_font
        fm = QFontMetricsF(font)
        text = fm.elidedText(f"{COLLAPSE_GLYPH} {self.name}", Qt.TextElideMode.ElideRight,
                             max(self._head.width(), 120.0) - 16)
        header = self.header_rect()
        tab = QRectF(header.left() + 4, header.top() + 2, fm.horizontalAdvance(text) + 10,
                     header.height() - 4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(mix(style.background, tint, 0.18 if not style.dark else 0.3))
        painter.drawRoundedRect(tab, 4, 4)
        painter.setFont(font)
        painter.setPen(mix(style.text, tint, 0.3))
        painter.drawText(tab.adjusted(5, 0, 0, 0),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)


def _column_runs(blocks: list[QRectF]) -> list[QRectF]:
    """Blocks grouped by column (same left edge) into runs of rows one gap apart."""
    runs: list[QRectF] = []
    for rect in sorted(blocks, key=lambda r: (round(r.left()), r.top())):
        last = runs[-1] if runs else None
        if last is not None and abs(last.left() - rect.left()) < 1 and \
                rect.top() - last.bottom() <= LAYER_GAP_Y + 12:
            runs[-1] = last.united(rect)
        else:
            runs.append(QRectF(rect))
    return runs
