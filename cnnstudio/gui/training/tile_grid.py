"""A grid of small pictures with a caption under each: the one view behind feature maps,
filters, dataset samples and the images of a confusion-matrix cell.

Painting QImages directly (rather than one QLabel per tile) keeps a 64-channel layer to a
single widget and a single paint, which matters when the grid refreshes during training.
Pixels are enlarged without smoothing so an 8x8 map stays an honest 8x8 map.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

__all__ = ["TileGrid"]

_GAP = 6
_CAPTION_GAP = 2


class TileGrid(QWidget):
    """Tiles laid out left to right, wrapping to the widget's width; clicks select a tile.

    ``tileClicked(index)`` lets the sample grid act as a picker; ``set_tiles`` replaces the
    content in one go so a refresh is one repaint. ``pixelHovered(index, row, col)`` and
    ``pixelClicked(index, row, col)`` name the image pixel under the mouse (hovered is
    ``(-1, -1, -1)`` when the mouse leaves every tile), so a feature map's unit can be pointed
    at; ``set_marker`` outlines one pixel of one tile.
    """

    tileClicked = Signal(int)
    pixelHovered = Signal(int, int, int)
    pixelClicked = Signal(int, int, int)
    tileDoubleClicked = Signal(int)

    def __init__(self, tile_size: int = 64, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._images: list[QImage] = []
        self._captions: list[str] = []
        self._tooltips: list[str] = []
        self._tile = tile_size
        self._selected: int | None = None
        self._selectable = False
        self._placeholder = ""
        self._marker: tuple[int, int, int] | None = None
        self._hovered: tuple[int, int, int] = (-1, -1, -1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)

    # -- content --------------------------------------------------------------------------
    def set_tiles(
        self,
        images: Sequence[QImage],
        captions: Sequence[str],
        tooltips: Sequence[str] | None = None,
    ) -> None:
        """Replace every tile; ``captions`` (and ``tooltips``, if given) run parallel to images."""
        if len(captions) != len(images) or (tooltips is not None and len(tooltips) != len(images)):
            raise ValueError("one caption (and tooltip) per image")
        self._images = list(images)
        self._captions = list(captions)
        self._tooltips = list(tooltips) if tooltips is not None else [""] * len(images)
        if self._selected is not None and self._selected >= len(images):
            self._selected = None
        self._relayout()

    def clear(self, placeholder: str = "") -> None:
        """Remove every tile and show ``placeholder`` text (why the grid is empty) instead."""
        self._placeholder = placeholder
        self.set_tiles([], [])

    def count(self) -> int:
        """How many tiles are shown (tests count feature maps this way)."""
        return len(self._images)

    def captions(self) -> list[str]:
        return list(self._captions)

    def set_tile_size(self, size: int) -> None:
        self._tile = max(8, int(size))
        self._relayout()

    def tile_size(self) -> int:
        return self._tile

    def set_selectable(self, flag: bool) -> None:
        self._selectable = flag
        self.setCursor(Qt.CursorShape.PointingHandCursor if flag else Qt.CursorShape.ArrowCursor)

    def set_selected(self, index: int | None) -> None:
        self._selected = index
        self.update()

    def selected(self) -> int | None:
        return self._selected

    def set_marker(self, marker: tuple[int, int, int] | None) -> None:
        """Outline pixel ``(row, col)`` of tile ``index`` (``(index, row, col)``), or nothing."""
        self._marker = marker
        self.update()

    def marker(self) -> tuple[int, int, int] | None:
        return self._marker

    # -- geometry ---------------------------------------------------------------------------
    def _caption_lines(self) -> int:
        return max((c.count("\n") + 1 for c in self._captions if c), default=0)

    def _caption_height(self) -> int:
        """Room for the longest caption; a caption with a newline takes two lines."""
        lines = self._caption_lines()
        return lines * self.fontMetrics().height() + _CAPTION_GAP if lines else 0

    def _cell(self) -> QSize:
        return QSize(self._tile + _GAP, self._tile + self._caption_height() + _GAP)

    def _columns(self, width: int | None = None) -> int:
        w = self.width() if width is None else width
        return max(1, (w - _GAP) // self._cell().width())

    def _rows(self, width: int | None = None) -> int:
        n = len(self._images)
        return (n + self._columns(width) - 1) // self._columns(width) if n else 0

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        if not self._images:
            return self.fontMetrics().height() * 2
        return self._rows(width) * self._cell().height() + _GAP

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        columns = min(max(len(self._images), 1), 8)
        width = columns * self._cell().width() + _GAP
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self._cell().width() + _GAP, self._cell().height() + _GAP)

    def _relayout(self) -> None:
        width = max(self.width(), self.minimumSizeHint().width())
        self.setMinimumHeight(self.heightForWidth(width))
        self.updateGeometry()
        self.update()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().resizeEvent(event)
        wanted = self.heightForWidth(self.width())
        if self.minimumHeight() != wanted:
            self.setMinimumHeight(wanted)

    def _tile_rect(self, index: int) -> QRect:
        columns = self._columns()
        cell = self._cell()
        row, col = divmod(index, columns)
        return QRect(_GAP + col * cell.width(), _GAP + row * cell.height(), self._tile, self._tile)

    def index_at(self, pos: QPoint) -> int | None:
        """The tile under ``pos`` (widget coordinates), or None."""
        for i in range(len(self._images)):
            r = self._tile_rect(i)
            r.setHeight(r.height() + self._caption_height())
            if r.contains(pos):
                return i
        return None

    def image_rect(self, index: int) -> QRect:
        """Where tile ``index``'s image is drawn (its aspect ratio kept)."""
        return _fit(self._images[index].size(), self._tile_rect(index))

    def pixel_at(self, pos: QPoint) -> tuple[int, int, int] | None:
        """``(tile, row, col)`` of the image pixel under ``pos``, or None off every image."""
        for i, image in enumerate(self._images):
            r = self.image_rect(i)
            if r.contains(pos) and not image.isNull():
                col = (pos.x() - r.left()) * image.width() // max(r.width(), 1)
                row = (pos.y() - r.top()) * image.height() // max(r.height(), 1)
                return i, min(row, image.height() - 1), min(col, image.width() - 1)
        return None

    def pixel_pos(self, index: int, row: int, col: int) -> QPoint:
        """The widget position of the centre of pixel ``(row, col)`` of tile ``index``."""
        r = self.image_rect(index)
        image = self._images[index]
        return QPoint(r.left() + int((col + 0.5) * r.width() / image.width()),
                      r.top() + int((row + 0.5) * r.height() / image.height()))

    # -- painting and input ---------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        if not self._images:
            if self._placeholder:
                painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(self.rect().adjusted(8, 8, -8, -8),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                                 | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        fm = self.fontMetrics()
        exposed = event.rect()
        for i, image in enumerate(self._images):
            r = self._tile_rect(i)
            if not r.adjusted(0, 0, 0, self._caption_height()).intersects(exposed):
                continue
            target = _fit(image.size(), r)
            painter.drawImage(target, image)
            if i == self._selected:
                painter.setPen(pal.color(QPalette.ColorRole.Highlight))
                painter.drawRect(target.adjusted(-2, -2, 1, 1))
                painter.drawRect(target.adjusted(-3, -3, 2, 2))
            if self._marker is not None and self._marker[0] == i and not image.isNull():
                _, row, col = self._marker
                sx, sy = target.width() / image.width(), target.height() / image.height()
                cell = QRect(target.left() + int(col * sx), target.top() + int(row * sy),
                             max(int(sx), 2), max(int(sy), 2))
                painter.setPen(QPen(QColor("white"), 1))
                painter.drawRect(cell.adjusted(-1, -1, 0, 0))
                painter.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 1))
                painter.drawRect(cell.adjusted(-2, -2, 1, 1))
            caption = self._captions[i]
            if caption:
                painter.setPen(text)
                for n, part in enumerate(caption.split("\n")):
                    cap = QRect(r.left() - _GAP // 2, r.bottom() + _CAPTION_GAP
                                + n * fm.height(), r.width() + _GAP, fm.height())
                    painter.drawText(cap,
                                     Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                                     fm.elidedText(part, Qt.TextElideMode.ElideRight,
                                                   cap.width()))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        pos = event.position().toPoint()
        index = self.index_at(pos)
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            if self._selectable:
                self.set_selected(index)
            self.tileClicked.emit(index)
            pixel = self.pixel_at(pos)
            if pixel is not None:
                self.pixelClicked.emit(*pixel)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        index = self.index_at(event.position().toPoint())
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.tileDoubleClicked.emit(index)
        super().mouseDoubleClickEvent(event)

    def image(self, index: int) -> QImage:
        return self._images[index]

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        pos = event.position().toPoint()
        index = self.index_at(pos)
        self._hover(self.pixel_at(pos) or (-1, -1, -1))
        tip = self._tooltips[index] if index is not None else ""
        if tip:
            QToolTip.showText(event.globalPosition().toPoint(), tip, self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)


    def leaveEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        self._hover((-1, -1, -1))
        super().leaveEvent(event)

    def _hover(self, pixel: tuple[int, int, int]) -> None:
        if pixel != self._hovered:
            self._hovered = pixel
            self.pixelHovered.emit(*pixel)


def _fit(size: QSize, box: QRect) -> QRect:
    """The largest rectangle of ``size``'s aspect ratio centred in ``box``."""
    if size.isEmpty():
        return box
    scale = min(box.width() / size.width(), box.height() / size.height())
    w, h = max(1, round(size.width() * scale)), max(1, round(size.height() * scale))
    return QRect(box.left() + (box.width() - w) // 2, box.top() + (box.height() - h) // 2, w, h)
