"""The problems dock: every error, then every warning, each one click away from its block.

Clicking a row selects the layer and asks the canvas to centre it (selection.focusRequested).
Where the validator names a plain repair, the row carries a button doing it as one undoable edit
(gui.fixes), so a beginner can fix "Dense needs a flat vector" without knowing what to insert.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QMouseEvent, QPainter, QPalette, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.appearance import ERROR_COLOR, WARNING_COLOR
from cnnstudio.core.graph import GraphError
from cnnstudio.core.validator import ERROR, Problem
from cnnstudio.gui.fixes import fix_for
from cnnstudio.gui.lazy import RedrawWhenShown

_OK_COLOR = "#3f9a5a"


def severity_icon(severity: str, size: int = 16) -> QIcon:
    """Red circle for an error, amber triangle for a warning: told apart by shape, not only hue."""
    if severity == ERROR:
        return _badge(ERROR_COLOR, "!", size, triangle=False)
    return _badge(WARNING_COLOR, "!", size, triangle=True)


def _badge(color: str, mark: str, size: int, triangle: bool) -> QIcon:
    icon = QIcon()
    for scale in (1, 2):
        pix = QPixmap(size * scale, size * scale)
        pix.fill(Qt.GlobalColor.transparent)
        p = QPainter(pix)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(color))
        rect = QRectF(1, 1, size * scale - 2, size * scale - 2)
        if triangle:
            p.drawPolygon(QPolygonF([QPointF(rect.center().x(), rect.top()),
                                     rect.bottomRight(), rect.bottomLeft()]))
            rect = rect.adjusted(0, rect.height() * 0.2, 0, 0)
        else:
            p.drawEllipse(rect)
        p.setPen(QColor("white"))
        font = p.font()
        font.setBold(True)
        font.setPixelSize(int(size * scale * 0.7))
        p.setFont(font)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, mark)
        p.end()
        pix.setDevicePixelRatio(scale)
        icon.addPixmap(pix)
    return icon


class ProblemRow(QFrame):
    """One problem: severity badge, message, layer id and (maybe) a fix button."""

    clicked = Signal(str)

    def __init__(self, problem: Problem, document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.problem = problem
        self.setObjectName("problem_row")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setCursor(Qt.CursorShape.PointingHandCursor if problem.layer else
                       Qt.CursorShape.ArrowCursor)
        badge = QLabel(self)
        badge.setPixmap(severity_icon(problem.severity).pixmap(QSize(16, 16)))
        badge.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.message = QLabel(html.escape(problem.message), self)
        self.message.setWordWrap(True)
        self.message.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.layer = QLabel(problem.layer or "model", self)
        self.layer.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight)
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText).name()
        self.layer.setStyleSheet(f"color: {muted};")
        self.setToolTip(f"{problem.severity} [{problem.code}]"
                        + ("\nClick to show the block." if problem.layer else ""))
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 5, 8, 5)
        row.setSpacing(8)
        row.addWidget(badge, 0, Qt.AlignmentFlag.AlignTop)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        row.addWidget(self.message, 1, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.layer, 0, Qt.AlignmentFlag.AlignTop)
        self.fix_button: QPushButton | None = None
        fix = fix_for(problem, document)
        if fix is not None:
            label, action = fix
            self.fix_button = QPushButton(label, self)
            self.fix_button.setToolTip("Repair it in one step (Undo takes it back)")
            self.fix_button.clicked.connect(lambda: _run(action))
            row.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignTop)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton and self.problem.layer:
            self.clicked.emit(self.problem.layer)
        super().mousePressEvent(event)


def _run(action) -> None:  # noqa: ANN001
    """A refused fix is reported by the document (editRefused -> status bar); nothing to add."""
    try:
        action()
    except GraphError:
        pass


class ProblemsPanel(RedrawWhenShown, QWidget):
    """Header with the counts, then one row per problem (errors first), or the all-clear."""

    def __init__(self, document, selection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.selection = selection
        self.setObjectName("problems")
        self.header = QLabel(self)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.StyledPanel)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addWidget(self.scroll)
        self.rows: list[ProblemRow] = []
        document.changed.connect(self.refresh)
        selection.changed.connect(self._highlight)
        self.refresh()

    def refresh(self, *_args: object) -> None:
        if not self.begin_redraw():  # behind another tab: when it is next seen
            return
        result = self.document.result
        page = QWidget()
        page.setObjectName("problems_page")
        page.setAutoFillBackground(True)
        page.setBackgroundRole(QPalette.ColorRole.Base)
        box = QVBoxLayout(page)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.rows = []
        for problem in result.errors + result.warnings:
            row = ProblemRow(problem, self.document)
            row.clicked.connect(self.focus_layer)
            box.addWidget(row)
            self.rows.append(row)
        if not self.rows:
            ok = QLabel(f'<span style="color:{_OK_COLOR}; font-size:large;">&#10003;</span>'
                        "&nbsp; No problems: the model is valid")
            ok.setObjectName("all_clear")
            ok.setContentsMargins(10, 10, 10, 10)
            box.addWidget(ok)
        box.addStretch(1)
        old = self.scroll.takeWidget()
        if old is not None:
            old.deleteLater()  # a fix button of the old page may be the caller
        self.scroll.setWidget(page)
        page.show()
        n_err, n_warn = len(result.errors), len(result.warnings)
        counts = (f"{n_err} error{'s' if n_err != 1 else ''}, "
                  f"{n_warn} warning{'s' if n_warn != 1 else ''}")
        self.header.setText(counts if self.rows else "No problems")
        self._highlight(self.selection.ids())

    def show_refresh_error(self, message: str) -> None:
        self.header.setText(message)

    def focus_layer(self, layer_id: str) -> None:
        """Select the problem's block and ask the canvas to bring it into view."""
        if layer_id in self.document.graph:
            self.selection.set([layer_id])
            self.selection.focusRequested.emit(layer_id)

    def _highlight(self, ids: list[str]) -> None:
        """Rows of the selected layers get the selection colour, so the link is visible."""
        chosen = set(ids)
        r, g, b, _ = self.palette().color(QPalette.ColorRole.Highlight).getRgb()
        tint = f"#problem_row {{ background-color: rgba({r}, {g}, {b}, 60); }}"
        for row in self.rows:
            row.setStyleSheet(tint if row.problem.layer in chosen else "")
