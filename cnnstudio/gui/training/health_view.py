"""The Health view: how each layer is doing while training runs, and the alerts of the run.

A table with one row per layer and one column per health figure (dead units, saturation,
gradient norm, update-to-weight ratio, activation spread); each cell shows the latest value over
a sparkline of that figure over the run, so a trend (units dying, an update ratio climbing) is
visible at a glance. Below it, the run's alerts with their time and epoch, each with its fix as
a button where it has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.engine.alerts import Alert
from cnnstudio.engine.health import HealthSnapshot, LayerHealth
from cnnstudio.gui.training.controller import TrainingController
from cnnstudio.gui.training.progress import BatchPoint, format_duration

__all__ = ["COLUMNS", "HealthView", "SparklineDelegate"]

#: Item data role holding a figure's history (list of floats) for the sparkline.
HISTORY_ROLE = int(Qt.ItemDataRole.UserRole) + 1
#: Points a sparkline keeps (the newest).
HISTORY_POINTS = 120
#: An update ratio outside this band is shown in the warning colour (healthy: about 1e-3).
RATIO_BAND = (1e-5, 1e-2)
WARN = QColor("#b8620b")


def _pct(v: float | None) -> str:
    return "\u2014" if v is None else f"{v:.0%}"


def _sci(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "\u2014" if v is None else str(v)
    return f"{v:.2g}" if 1e-2 <= abs(v) < 1e4 or v == 0 else f"{v:.1e}"


def _grad(h: LayerHealth) -> float | None:
    w = h.weight
    return w.grad_norm if w is not None else None


def _ratio(h: LayerHealth) -> float | None:
    w = h.weight
    return w.update_ratio if w is not None else None


#: (title, tooltip, figure of a layer, text of a value, log scale for the sparkline).
COLUMNS: tuple[tuple[str, str, Callable[[LayerHealth], float | None],
                     Callable[[float | None], str], bool], ...] = (
    ("Dead units", "ReLU/LeakyReLU: share of units (channels) that output zero for every "
     "sample image; such a unit passes no gradient and cannot recover",
     lambda h: h.dead, _pct, False),
    ("Saturated", "Sigmoid/Tanh: share of outputs on the flat ends, where almost no gradient "
     "gets through", lambda h: h.saturated, _pct, False),
    ("Grad norm", "Norm of the gradient of the layer's weights", _grad, _sci, True),
    ("Update ratio", "Size of one update relative to the weights (healthy: about 1e-3; far "
     "above: diverging; far below: learning rate too low)", _ratio, _sci, True),
    ("Act. std", "Standard deviation of the layer's output on the sample images",
     lambda h: h.std, _sci, True),
)


class SparklineDelegate(QStyledItemDelegate):
    """Paints a cell's history as a faint line behind its text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:  # noqa: ANN001
        history = index.data(HISTORY_ROLE)
        if history and len(history) > 1:
            painter.save()
            r = QRectF(option.rect).adjusted(3, 4, -3, -4)
            log = bool(index.data(HISTORY_ROLE + 1))
            ys = [math.log10(v) if log else v for v in history
                  if v is not None and math.isfinite(v) and (v > 0 or not log)]
            if len(ys) > 1:
                lo, hi = min(ys), max(ys)
                span = hi - lo or 1.0
                n = len(ys)
                poly = QPolygonF([QPointF(r.left() + r.width() * i / (n - 1),
                                          r.bottom() - r.height() * (y - lo) / span)
                                  for i, y in enumerate(ys)])
                colour = QColor(option.palette.highlight().color())
                colour.setAlpha(140)
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                painter.setPen(QPen(colour, 1.3))
                painter.drawPolyline(poly)
            painter.restore()
        super().paint(painter, option, index)


class HealthView(QWidget):
    """Per-layer health table with sparklines, and the alerts of the run.

    ``fixRequested(alert)`` when the user presses an alert's fix button."""

    fixRequested = Signal(object)

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._history: dict[tuple[str, int], list[float | None]] = {}
        self._rows: dict[str, int] = {}
        self.alert_rows: list[tuple[Alert, QLabel, QPushButton | None]] = []
        self.status = QLabel("Press Train: every layer's health is measured as it trains.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 2 + len(COLUMNS))
        self.table.setHorizontalHeaderLabels(["Layer", "Type"] + [c[0] for c in COLUMNS])
        for i, column in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(2 + i).setToolTip(column[1])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for col in (0, 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setItemDelegate(SparklineDelegate(self.table))
        self.alerts_box = QWidget()
        self.alerts_layout = QVBoxLayout(self.alerts_box)
        self.alerts_layout.setContentsMargins(4, 4, 4, 4)
        self.no_alerts = QLabel("No alerts.")
        self.alerts_layout.addWidget(self.no_alerts)
        self.alerts_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.alerts_box)
        scroll.setMinimumWidth(280)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.status)
        tl.addWidget(self.table)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(top)
        split.addWidget(scroll)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([640, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        controller.runStarted.connect(lambda _e: self.reset())
        controller.batches.connect(self._batches)
        controller.alertsRaised.connect(self.add_alerts)

    def reset(self) -> None:
        self._history.clear()
        self._rows.clear()
        self.table.setRowCount(0)
        self.status.setText("Measuring\u2026")
        for _, label, button in self.alert_rows:
            label.deleteLater()
            if button is not None:
                button.deleteLater()
        self.alert_rows = []
        self.no_alerts.show()

    def _batches(self, points: tuple[BatchPoint, ...]) -> None:
        for p in points:
            if p.health is not None:
                self.show_snapshot(p.health)

    def show_snapshot(self, snap: HealthSnapshot) -> None:
        """Add one measurement: new values and one more sparkline point per figure."""
        self.status.setText(f"Measured at epoch {snap.epoch}, batch {snap.batch}, on "
                            f"{snap.sample} images"
                            + (f"; first NaN/Inf in {snap.nonfinite}" if snap.nonfinite else ""))
        for h in snap.layers:
            row = self._rows.get(h.layer)
            if row is None:
                row = self._rows[h.layer] = self.table.rowCount()
                self.table.insertRow(row)
                self.table.setItem(row, 0, QTableWidgetItem(h.layer))
                self.table.setItem(row, 1, QTableWidgetItem(h.type))
            for i, (_, _, figure, text, log) in enumerate(COLUMNS):
                value = figure(h)
                hist = self._history.setdefault((h.layer, i), [])
                hist.append(value)
                del hist[:-HISTORY_POINTS]
                item = self.table.item(row, 2 + i)
                if item is None:
                    item = QTableWidgetItem()
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(row, 2 + i, item)
                item.setText(text(value))
                item.setData(HISTORY_ROLE, list(hist) if any(v is not None for v in hist)
                             else None)
                item.setData(HISTORY_ROLE + 1, log)
                item.setForeground(WARN if self._worrying(i, value) else
                                   self.palette().text().color())

    @staticmethod
    def _worrying(column: int, value: float | None) -> bool:
        if value is None:
            return False
        title = COLUMNS[column][0]
        if title in ("Dead units", "Saturated"):
            return value > 0.5
        if title == "Update ratio":
            return not RATIO_BAND[0] <= value <= RATIO_BAND[1]
        return not math.isfinite(value)

    def add_alerts(self, alerts: tuple[Alert, ...]) -> None:
        """List alerts (newest at the bottom), each with its fix button when it has one."""
        self.no_alerts.hide()
        for alert in alerts:
            where = f"epoch {alert.epoch}" + (f", batch {alert.batch}" if alert.batch else " end")
            label = QLabel(f"<b>{alert.kind.capitalize()}</b> &nbsp;<span style='color:gray'>"
                           f"{format_duration(alert.seconds)} \u00b7 {where}</span><br>"
                           f"{alert.message}")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            row = QVBoxLayout()
            row.addWidget(label)
            button = None
            if alert.fix_label:
                button = QPushButton(alert.fix_label)
                button.clicked.connect(lambda _c=False, a=alert: self.fixRequested.emit(a))
                line = QHBoxLayout()
                line.addWidget(button)
                line.addStretch(1)
                row.addLayout(line)
            row.addSpacing(6)
            self.alerts_layout.insertLayout(self.alerts_layout.count() - 1, row)
            self.alert_rows.append((alert, label, button))
