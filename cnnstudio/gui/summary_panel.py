"""The summary dock: the Keras-style table of every layer, its totals, and copy buttons.

Rows come from export.summary.summary_rows, the builder the CLI and the Markdown export use, so
the panel, ``cnnstudio summary`` and a pasted table always agree. Clicking a row selects the layer.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QSignalBlocker, Qt
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.appearance import ERROR_COLOR, WARNING_COLOR
from cnnstudio.core.graph import Layer
from cnnstudio.core.validator import LayerReport
from cnnstudio.export.summary import HEADERS, NUMERIC, format_markdown, format_text, summary_row
from cnnstudio.gui.lazy import RedrawWhenShown
from cnnstudio.gui.steady_label import SteadyLabel, steady

#: Item data role holding the layer id of a row (None on the totals row).
LAYER_ROLE = Qt.ItemDataRole.UserRole + 1

_STATUS_COLORS = {"error": ERROR_COLOR, "warning": WARNING_COLOR}
_SELECTABLE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class SummaryPanel(RedrawWhenShown, QWidget):
    """Table + totals line + "Copy as text" / "Copy as Markdown"."""

    def __init__(self, document, selection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.selection = selection
        self.setObjectName("summary")

        self.totals = SteadyLabel(self)
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_text_action = QAction("Copy as text", self)
        self.copy_text_action.triggered.connect(self.copy_text)
        self.copy_markdown_action = QAction("Copy as Markdown", self)
        self.copy_markdown_action.triggered.connect(self.copy_markdown)
        top = QHBoxLayout()
        top.addWidget(steady(self.totals), 1)  # opaque: its repaint leaves the dock be
        for action in (self.copy_text_action, self.copy_markdown_action):
            button = QPushButton(action.text(), self)
            button.setToolTip(f"{action.text()} to the clipboard (table, totals and problems)")
            button.clicked.connect(action.trigger)
            top.addWidget(button)

        self.table = QTableWidget(0, len(HEADERS), self)
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        # Sized by _fit_columns: contents first, spare width shared out (see spread_widths).
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setStyleSheet("QTableWidget::item { padding: 0 8px; }"
                                 "QHeaderView::section { padding: 2px 8px; }")
        for col, numeric in enumerate(NUMERIC):
            item = self.table.horizontalHeaderItem(col)
            item.setTextAlignment(_alignment(numeric))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.itemSelectionChanged.connect(self._table_selected)
        self.table.viewport().installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.table)

        #: What each row shows now (layer id, cells, status, tooltip): unchanged rows are skipped.
        self._shown: list[tuple[object, ...]] = []
        self._fitted_for: tuple[int, ...] = ()
        self._text_widths: dict[tuple[bool, str], int] = {}  # (bold, text) -> pixels
        #: (bold, a row's cells) -> the pixel widths of those cells.
        self._row_widths: dict[tuple[bool, tuple[str, ...]], tuple[int, ...]] = {}
        #: What each cell was last given, by row: (text, layer id, colour, tooltip).
        self._looks: list[tuple[tuple[object, ...], ...] | None] = []
        self._looks_for: tuple[object, ...] = ()  # the fonts and colours those were made with
        #: Layer id -> (its report, what else its cells were made from, the cells).
        self._rows: dict[str, tuple[LayerReport, tuple, tuple[str, ...]]] = {}
        #: (selected ids, the layer id of each row) when the selection was last shown.
        self._selection_shown: tuple[tuple[str, ...], tuple[object, ...]] | None = None
        document.changed.connect(self.refresh)
        selection.changed.connect(self._show_selection)
        self.refresh()

    # --- rendering --------------------------------------------------------------------------
    def show_refresh_error(self, message: str) -> None:
        self.totals.setText(message)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.refresh()  # the cells' text colours come from the palette

    def refresh(self, *_args: object) -> None:
        """Rewrite only the rows whose contents changed (an edit changes a few rows of a
        300-layer table), and re-fit the columns only when the widest text of one changed."""
        if not self.begin_redraw():  # behind another tab: when it is next seen
            return
        graph, result = self.document.graph, self.document.result
        plain = self.font()
        bold = QFont(plain)
        bold.setBold(True)
        colours = {"": self.palette().color(QPalette.ColorRole.Text),
                   "?": self.palette().color(QPalette.ColorRole.PlaceholderText),
                   **{status: QColor(c) for status, c in _STATUS_COLORS.items()}}
        fonts = (plain, bold)
        looks = (plain.key(), bold.key(), tuple(c.rgba() for c in colours.values()))
        if looks != self._looks_for:  # another palette or font: every cell is set afresh
            self._looks_for, self._looks, self._shown = looks, [], []
        t = result.totals
        total_cells = ("Total", "", "", f"{t.total:,}", "", f"{t.macs:,}")
        messages: dict[str, list[str]] = {}
        for p in result.problems:
            if p.layer is not None:
                messages.setdefault(p.layer, []).append(p.message)
        shown = [self._row(graph.layer(lid), result.layers[lid], messages.get(lid, []))
                 for lid in result.order]
        if len(self._rows) > 2 * len(shown) + 64:  # removed and renamed layers: forget them
            self._rows = {lid: self._rows[lid] for lid in result.order}
        shown.append((None, total_cells, "", ""))
        with QSignalBlocker(self.table):
            if self.table.rowCount() != len(shown):
                self.table.setRowCount(len(shown))
                self._shown = self._shown[:len(shown)]
                self._looks = self._looks[:len(shown)]
            for r, key in enumerate(shown):
                if r < len(self._shown) and self._shown[r] == key:
                    continue
                self._write_row(r, key, colours, fonts)
        self._shown = shown
        self.totals.setText(
            f"{t.trainable:,} trainable  ·  {t.non_trainable:,} non-trainable  ·  "
            f"{t.macs:,} MACs per image  ·  "
            + ("valid" if result.valid else
               f"{len(result.errors)} error{'s' if len(result.errors) != 1 else ''}"))
        self._show_selection(self.selection.ids())
        widest = self._widest_texts(shown, bold)
        if widest != self._fitted_for:
            self._fitted_for = widest
            self._fit_columns()

    def _row(self, layer: Layer, report: LayerReport, messages: list[str]
             ) -> tuple[object, ...]:
        """What the row of ``layer`` shows: (layer id, cells, status, tooltip). Remembered with
        what it was made from: the validation keeps the report object of a layer an edit did
        not affect, so an edit builds the rows of the few layers it changed."""
        status = report.status
        tip = "\n".join(messages) if status in _STATUS_COLORS else ""
        made_from = (layer.type, dict(layer.params), layer.trainable)
        known = self._rows.get(layer.id)
        if known is not None and known[0] is report and known[1] == made_from:
            cells = known[2]
        else:
            cells = tuple(summary_row(layer, report).cells())
            self._rows[layer.id] = (report, made_from, cells)
        return (layer.id, cells, status, tip)

    def _widest_texts(self, shown: list[tuple[object, ...]], bold: QFont) -> tuple[int, ...]:
        """Per column, the pixel width of its widest text: the columns need re-fitting only
        when one of these changes. Each row's widths are remembered with its cells, so an
        edit measures the rows it changed."""
        plain, heavy = self.fontMetrics(), QFontMetrics(bold)
        measured, rows = self._text_widths, self._row_widths
        if len(measured) > 50_000 or len(rows) > 50_000:  # a long session: start again
            measured.clear()
            rows.clear()
        per_row = []
        for lid, cells, _status, _tip in shown:
            heavy_row = lid is None
            widths = rows.get((heavy_row, cells))
            if widths is None:
                metrics = heavy if heavy_row else plain
                widths = []
                for text in cells:  # type: ignore[attr-defined]
                    width = measured.get((heavy_row, text))
                    if width is None:
                        width = measured[(heavy_row, text)] = metrics.horizontalAdvance(text)
                    widths.append(width)
                widths = rows[(heavy_row, cells)] = tuple(widths)
            per_row.append(widths)
        return tuple(max(column) for column in zip(*per_row, strict=True))

    def _fit_columns(self) -> None:
        """Every column as wide as its contents, then the table spread over the dock's width."""
        header = self.table.horizontalHeader()
        self.table.resizeColumnsToContents()
        content = [header.sectionSize(c) for c in range(self.table.columnCount())]
        for c, width in enumerate(spread_widths(content, self.table.viewport().width())):
            header.resizeSection(c, width)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        """The table's viewport changed width (dock resized, scroll bar shown): re-spread."""
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        return super().eventFilter(watched, event)

    def _write_row(self, r: int, key: tuple[object, ...], colours: dict[str, QColor],
                   fonts: tuple[QFont, QFont]) -> None:
        """Give row ``r`` the cells of ``key``, calling only the setters whose value changed:
        every call repaints its cell, and an edit changes a few cells of a row (its shape, its
        parameter count), not its name, type or colours."""
        lid, cells, status, tip = key
        while len(self._looks) <= r:
            self._looks.append(None)
        before = self._looks[r] or (None,) * len(cells)
        now = []
        for c, text in enumerate(cells):  # type: ignore[arg-type]
            if lid is None:
                colour, cell_tip = "", ""
            elif c == 0 and status in _STATUS_COLORS:
                colour, cell_tip = status, tip
            else:
                colour, cell_tip = ("?" if text == "?" else ""), ""
            look = (text, lid, colour, cell_tip)
            now.append(look)
            old = before[c]
            if old == look:
                continue
            item = self.table.item(r, c)
            if item is None or old is None:
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setTextAlignment(_alignment(NUMERIC[c]))
                old = (None, object(), None, None)
            if old[0] != text:
                item.setText(text)
            if old[1] != lid:
                item.setData(LAYER_ROLE, lid)
                item.setFont(fonts[lid is None])
                item.setFlags(Qt.ItemFlag.ItemIsEnabled if lid is None else _SELECTABLE)
            if old[2] != colour:
                item.setForeground(QBrush(colours[colour]))
            if old[3] != cell_tip:
                item.setToolTip(cell_tip)
        self._looks[r] = tuple(now)

    def row_of(self, layer_id: str) -> int | None:
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.data(LAYER_ROLE) == layer_id:
                return r
        return None

    # --- selection both ways ----------------------------------------------------------------
    def _show_selection(self, ids: list[str]) -> None:
        """Select the rows of ``ids`` and scroll to the last, unless they are selected already:
        an edit that keeps the selection and the rows' layers would select the same rows again
        (repainting them) and scroll back to them if the user had scrolled away."""
        shown = (tuple(ids), tuple(row[0] for row in self._shown))
        if shown == self._selection_shown:
            return
        self._selection_shown = shown
        with QSignalBlocker(self.table):
            self.table.clearSelection()
            model = self.table.selectionModel()
            for lid in ids:
                r = self.row_of(lid)
                if r is not None:
                    self.table.selectRow(r) if len(ids) == 1 else model.select(
                        self.table.model().index(r, 0),
                        model.SelectionFlag.Select | model.SelectionFlag.Rows)
            if ids and (r := self.row_of(ids[-1])) is not None:
                self.table.scrollToItem(self.table.item(r, 0))

    def _table_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        ids = [self.table.item(r, 0).data(LAYER_ROLE) for r in rows]
        self.selection.set([i for i in ids if i])

    # --- clipboard --------------------------------------------------------------------------
    def copy_text(self) -> None:
        QGuiApplication.clipboard().setText(format_text(self.document.graph,
                                                        self.document.result))

    def copy_markdown(self) -> None:
        QGuiApplication.clipboard().setText(format_markdown(self.document.graph,
                                                            self.document.result))

    def _context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addAction(self.copy_text_action)
        menu.addAction(self.copy_markdown_action)
        menu.exec(self.table.viewport().mapToGlobal(pos))


def spread_widths(content: list[int], available: int) -> list[int]:
    """Column widths filling ``available`` pixels: each column keeps its content width and the
    spare room is shared equally, so a wide dock shows an evenly spaced table rather than a
    compact block with a blank strip beside it (right-aligned numbers stay in their columns).
    When the contents need more than ``available``, the content widths stand (and scroll)."""
    spare = available - sum(content)
    if spare <= 0 or not content:
        return list(content)
    share, rest = divmod(spare, len(content))
    return [w + share + (1 if i < rest else 0) for i, w in enumerate(content)]


def _alignment(numeric: bool) -> Qt.AlignmentFlag:
    horizontal = Qt.AlignmentFlag.AlignRight if numeric else Qt.AlignmentFlag.AlignLeft
    return horizontal | Qt.AlignmentFlag.AlignVCenter
