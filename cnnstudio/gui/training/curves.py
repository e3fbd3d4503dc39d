"""Live training curves: is the model learning, and is it starting to over-fit?

The loss of each batch is noisy, so it is drawn faint with a smoothed line in bold on top (the
trend is what a user reads); validation loss and accuracy arrive once per epoch and are drawn
as markers on the same epoch axis, so the gap between training and validation is visible at a
glance. Loss and accuracy have different scales, so they get two plots with linked x axes.
A new run starts fresh; the previous run can stay behind in grey for comparison.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget  # noqa: E402

from cnnstudio.core.appearance import ACCENT_COLOR, WARNING_COLOR  # noqa: E402
from cnnstudio.gui.training.progress import BatchPoint, EpochPoint  # noqa: E402

__all__ = ["CurvesWidget", "Smoother"]

#: Milliseconds between two redraws of the batch curves: points arrive up to 20 times a second,
#: but repainting two plots that often would take the event loop's time from the user.
REDRAW_MS = 250
#: Weight of the newest batch in the smoothed loss (about a 30-batch memory).
SMOOTHING = 0.06
_VAL_COLOR = "#e07b39"
_EMPTY_TEXT = "Train to see the loss and accuracy here."
_PREVIOUS_COLOR = "#9a9a9a"


class Smoother:
    """Exponential moving average with bias correction (as TensorBoard smooths curves), so the
    bold line starts at the first losses instead of creeping up from zero."""

    def __init__(self, weight: float = SMOOTHING) -> None:
        self._w = weight
        self._avg = 0.0
        self._norm = 0.0

    def __call__(self, value: float) -> float:
        if not np.isfinite(value):
            return self._avg / self._norm if self._norm else float("nan")
        self._avg = (1 - self._w) * self._avg + self._w * value
        self._norm = (1 - self._w) * self._norm + self._w
        return self._avg / self._norm


class _Run:
    """The numbers of one run, as growing lists (appending is cheap; arrays are made to draw)."""

    def __init__(self) -> None:
        self.x: list[float] = []
        self.loss: list[float] = []
        self.smooth: list[float] = []
        self.epochs: list[int] = []
        self.train_loss: list[float] = []
        self.train_acc: list[float] = []
        self.val_loss: list[float] = []
        self.val_acc: list[float] = []
        self._smoother = Smoother()

    def add_batch(self, p: BatchPoint) -> None:
        self.x.append(p.position)
        self.loss.append(p.loss)
        self.smooth.append(self._smoother(p.loss))

    def add_epoch(self, p: EpochPoint) -> None:
        self.epochs.append(p.epoch)
        self.train_loss.append(p.loss)
        self.train_acc.append(np.nan if p.accuracy is None else 100.0 * p.accuracy)
        self.val_loss.append(np.nan if p.val_loss is None else p.val_loss)
        self.val_acc.append(np.nan if p.val_accuracy is None else 100.0 * p.val_accuracy)


class CurvesWidget(QWidget):
    """Loss plot over accuracy plot, a hover read-out, and a "keep previous run" switch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run = _Run()
        self._previous: _Run | None = None
        fg = self.palette().color(QPalette.ColorRole.WindowText)
        self.view = pg.GraphicsLayoutWidget()
        self.loss_plot = self.view.addPlot(row=0, col=0)
        self.acc_plot = self.view.addPlot(row=1, col=0)
        for plot in (self.loss_plot, self.acc_plot):
            # No grid: on the raster engine it costs four fifths of a repaint, and the hover
            # read-out gives exact values anyway.
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setMenuEnabled(False)
            plot.getViewBox().setMouseEnabled(x=True, y=False)
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(0, 100, padding=0.02)
        self.acc_plot.enableAutoRange(axis="y", enable=False)
        self.loss_plot.setYRange(0, 1, padding=0)
        self.loss_plot.enableAutoRange(axis="y", enable=False)
        self._loss_top = 0.0
        self._loss_bottom = np.inf
        accent = QColor(ACCENT_COLOR)
        faint = QColor(accent)
        faint.setAlpha(70)
        legend_loss = self.loss_plot.addLegend(offset=(-10, 10), labelTextColor=fg)
        legend_acc = self.acc_plot.addLegend(offset=(-10, -10), labelTextColor=fg)
        legend_loss.setParentItem(self.loss_plot.getViewBox())
        self._prev_loss = self.loss_plot.plot(pen=pg.mkPen(_PREVIOUS_COLOR, width=1.5,
                                                           style=Qt.PenStyle.DashLine))
        self._prev_acc = self.acc_plot.plot(pen=pg.mkPen(_PREVIOUS_COLOR, width=1.5,
                                                         style=Qt.PenStyle.DashLine))
        self._raw = self.loss_plot.plot(pen=pg.mkPen(faint, width=1), name="train loss (batch)")
        self._smooth = self.loss_plot.plot(pen=pg.mkPen(accent, width=2.5),
                                           name="train loss (smoothed)")
        self._val_loss = self.loss_plot.plot(
            pen=pg.mkPen(_VAL_COLOR, width=1, style=Qt.PenStyle.DotLine), symbol="o",
            symbolSize=8, symbolBrush=_VAL_COLOR, symbolPen=None, name="validation loss")
        self._train_acc = self.acc_plot.plot(
            pen=pg.mkPen(accent, width=1, style=Qt.PenStyle.DotLine), symbol="s", symbolSize=7,
            symbolBrush=accent, symbolPen=None, name="train accuracy")
        self._val_acc = self.acc_plot.plot(
            pen=pg.mkPen(_VAL_COLOR, width=1, style=Qt.PenStyle.DotLine), symbol="o",
            symbolSize=8, symbolBrush=_VAL_COLOR, symbolPen=None, name="validation accuracy")
        self._legend_prev = False
        self._legends = (legend_loss, legend_acc)
        self._cursor = pg.InfiniteLine(angle=90, movable=False,
                                       pen=pg.mkPen(fg, width=1, style=Qt.PenStyle.DotLine))
        self._cursor.setVisible(False)
        self.loss_plot.addItem(self._cursor, ignoreBounds=True)

        self.readout = QLabel(_EMPTY_TEXT)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setToolTip("Loss on a logarithmic axis: a run whose loss shot up no "
                                  "longer flattens everything else")
        self.log_scale.toggled.connect(self._set_log_scale)
        self.keep_previous = QCheckBox("Keep previous run")
        self.keep_previous.setToolTip("When a new run starts, leave this run's curves behind in "
                                      "grey for comparison")
        self.earlier = QLabel("These curves belong to an earlier version of the model (it has "
                              "changed since); train again to see this one's.")
        self.earlier.setWordWrap(True)
        self.earlier.setStyleSheet(f"color: {WARNING_COLOR};")
        self.earlier.hide()
        top = QHBoxLayout()
        top.addWidget(self.readout, 1)
        top.addWidget(self.log_scale)
        top.addWidget(self.keep_previous)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.earlier)
        layout.addWidget(self.view, 1)
        self.view.scene().sigMouseMoved.connect(self._hover)
        self._side_by_side = False
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw)
        self._follow_palette()

    def _follow_palette(self) -> None:
        """Plot ground, axes, labels, legends and cursor in the palette's colours (they are
        pyqtgraph's own drawing, which ignores the Qt palette)."""
        fg = self.palette().color(QPalette.ColorRole.WindowText)
        self.view.setBackground(self.palette().color(QPalette.ColorRole.Base))
        for plot, label in ((self.loss_plot, "loss"), (self.acc_plot, "accuracy %")):
            plot.setLabel("left", label, color=fg.name())
            plot.setLabel("bottom", "epoch", color=fg.name())
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(fg)
                plot.getAxis(axis).setPen(pg.mkPen(fg, width=1))
        for legend in self._legends:
            legend.setLabelTextColor(fg)
        self._cursor.setPen(pg.mkPen(fg, width=1, style=Qt.PenStyle.DotLine))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._follow_palette()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        """Plots side by side in a wide, low dock (the bottom strip), stacked in a tall one."""
        super().resizeEvent(event)
        wide = self.width() > 2.2 * self.height()
        if wide != self._side_by_side:
            self._side_by_side = wide
            layout = self.view.ci
            layout.removeItem(self.acc_plot)
            layout.addItem(self.acc_plot, row=0 if wide else 1, col=1 if wide else 0)

    # -- data ---------------------------------------------------------------------------------
    def clear(self) -> None:
        """No curves at all (a new model: nothing drawn may pass for its own)."""
        self._start(None, keep=False)
        self.earlier.hide()
        self.readout.setText(_EMPTY_TEXT)

    def reset(self, epochs: int | None = None) -> None:
        """Start a new run's curves (the x axis spanning its ``epochs``); keep the current run
        in grey if the user asked to."""
        self._start(epochs, keep=self.keep_previous.isChecked())
        self.readout.setText("Training\u2026")

    def set_earlier_model(self, earlier: bool) -> None:
        """Say that the curves were made with a model that has been edited since."""
        self.earlier.setVisible(earlier and bool(self._run.x or self._run.epochs))

    def is_marked_earlier(self) -> bool:
        return not self.earlier.isHidden()

    def _start(self, epochs: int | None, keep: bool) -> None:
        self._previous = self._run if keep and self._run.x else None
        self._run = _Run()
        self._cursor.setVisible(False)  # the hover line belonged to the last run's picture
        self._loss_top = max(self._previous.smooth, default=0.0) if self._previous else 0.0
        self._loss_bottom = min(
            (v for v in self._previous.smooth if v > 0), default=np.inf) if self._previous \
            else np.inf
        prev = self._previous
        self._prev_loss.setData(*(_arrays(prev.x, prev.smooth) if prev else ([], [])))
        self._prev_acc.setData(*(_arrays(prev.epochs, prev.val_acc) if prev else ([], [])))
        if prev is not None and not self._legend_prev:
            self._legends[0].addItem(self._prev_loss, "previous run (smoothed loss)")
            self._legends[1].addItem(self._prev_acc, "previous run (validation)")
            self._legend_prev = True
        elif prev is None and self._legend_prev:
            self._legends[0].removeItem(self._prev_loss)
            self._legends[1].removeItem(self._prev_acc)
            self._legend_prev = False
        self._redraw()
        if epochs:
            last = max(epochs, prev.x[-1] if prev else 0)
            self.loss_plot.setXRange(0, last, padding=0.02)

    def add_batches(self, points: Sequence[BatchPoint]) -> None:
        """Append a bundle of batch points; the lines are redrawn a few times a second."""
        for p in points:
            self._run.add_batch(p)
        if points and not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def add_epoch(self, point: EpochPoint) -> None:
        """Record an epoch's figures; drawn with the next redraw, so the end of an epoch (when
        other views redraw too) does not become one long pause of the event loop."""
        self._run.add_epoch(point)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()
        self.readout.setText(_epoch_text(point))

    def flush(self) -> None:
        """Draw every point received so far now (end of a run; tests)."""
        self._redraw_timer.stop()
        self._redraw()

    def batch_count(self) -> int:
        return len(self._run.x)

    def epoch_count(self) -> int:
        return len(self._run.epochs)

    def curve_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What each drawn curve holds, by legend name (tests read the plot items themselves)."""
        items = {"train loss (batch)": self._raw, "train loss (smoothed)": self._smooth,
                 "validation loss": self._val_loss, "train accuracy": self._train_acc,
                 "validation accuracy": self._val_acc, "previous run": self._prev_loss}
        out = {}
        for name, item in items.items():
            x, y = item.getData()
            out[name] = (np.asarray([] if x is None else x), np.asarray([] if y is None else y))
        return out

    # -- drawing ------------------------------------------------------------------------------
    def _redraw(self) -> None:
        self._redraw_batches()
        self._redraw_epochs()

    def _redraw_batches(self) -> None:
        r = self._run
        self._raw.setData(*_arrays(r.x, r.loss))
        self._smooth.setData(*_arrays(r.x, r.smooth))
        self._fit_loss_axis()

    def _fit_loss_axis(self) -> None:
        """Grow the loss axis only when a value would leave it: an axis that moves on every
        redraw must regenerate its ticks, the slowest part of a repaint. On the log scale the
        axis also grows downwards, to the smallest positive loss."""
        values = [v for v in (*self._run.loss, *self._run.val_loss) if np.isfinite(v)]
        top = max(values, default=0.0)
        grew = top > self._loss_top or (self._loss_top == 0.0 and top > 0)
        if grew:
            self._loss_top = top * 1.1
        if not self.log_scale.isChecked():
            if grew:
                self.loss_plot.setYRange(0, self._loss_top, padding=0)
            return
        bottom = min((v for v in values if v > 0), default=np.inf)
        if bottom < self._loss_bottom:
            self._loss_bottom = bottom / 1.5
            grew = True
        if grew and np.isfinite(self._loss_bottom) and self._loss_top > 0:
            self.loss_plot.setYRange(np.log10(self._loss_bottom), np.log10(self._loss_top),
                                     padding=0)

    def _set_log_scale(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self._loss_top, self._loss_bottom = 0.0, np.inf
        if not on:
            self.loss_plot.setYRange(0, 1, padding=0)
        self._fit_loss_axis()

    def is_log_scale(self) -> bool:
        return self.loss_plot.getAxis("left").logMode

    def _redraw_epochs(self) -> None:
        self._fit_loss_axis()
        r = self._run
        self._val_loss.setData(*_arrays(r.epochs, r.val_loss))
        self._train_acc.setData(*_arrays(r.epochs, r.train_acc))
        self._val_acc.setData(*_arrays(r.epochs, r.val_acc))

    def _hover(self, pos: QPointF) -> None:
        r = self._run
        for plot in (self.loss_plot, self.acc_plot):
            if plot.sceneBoundingRect().contains(pos):
                x = plot.getViewBox().mapSceneToView(pos).x()
                break
        else:
            self._cursor.setVisible(False)
            return
        parts = [f"epoch {x:.2f}"]
        if r.x:
            i = int(np.clip(np.searchsorted(r.x, x), 0, len(r.x) - 1))
            parts.append(f"batch loss {r.loss[i]:.4f}, smoothed {r.smooth[i]:.4f}")
        if r.epochs:
            j = int(np.argmin(np.abs(np.asarray(r.epochs) - x)))
            if abs(r.epochs[j] - x) < 0.5:
                parts.append(_epoch_values(r, j))
        self._cursor.setPos(x)
        self._cursor.setVisible(True)
        self.readout.setText(" \u00b7 ".join(parts))


def _arrays(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _fmt(value: float, pattern: str) -> str:
    return "\u2013" if value is None or not np.isfinite(value) else pattern.format(value)


def _epoch_values(r: _Run, j: int) -> str:
    return (f"epoch {r.epochs[j]}: train loss {_fmt(r.train_loss[j], '{:.4f}')}, "
            f"acc {_fmt(r.train_acc[j], '{:.1f}%')}; validation loss "
            f"{_fmt(r.val_loss[j], '{:.4f}')}, acc {_fmt(r.val_acc[j], '{:.1f}%')}")


def _epoch_text(p: EpochPoint) -> str:
    acc = "" if p.accuracy is None else f", accuracy {100 * p.accuracy:.1f}%"
    val = ""
    if p.val_loss is not None:
        val = f" \u00b7 validation loss {p.val_loss:.4f}"
        if p.val_accuracy is not None:
            val += f", accuracy {100 * p.val_accuracy:.1f}%"
    return f"Epoch {p.epoch}/{p.epochs}: loss {p.loss:.4f}{acc}{val}"
