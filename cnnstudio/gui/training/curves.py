"""Live training curves: is the model learning, and is it starting to over-fit?

The loss of each batch is noisy, so it is drawn faint with a smoothed line in bold on top (the
trend is what a user reads); validation loss and accuracy arrive once per epoch and are drawn
as markers on the same epoch axis, so the gap between training and validation is visible at a
glance. Loss and accuracy have different scales, so they get two plots with linked x axes.
A new run starts fresh; the previous run can stay behind in grey for comparison.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.appearance import ACCENT_COLOR, WARNING_COLOR
from cnnstudio.gui.training.progress import BatchPoint, EpochPoint

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


def _pyqtgraph() -> Any:
    """pyqtgraph, imported on first use: it takes a third of a second or more to import, and
    nothing plotted is visible when the window opens (``gui.warmup`` imports it right after
    the window is shown)."""
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")  # pyqtgraph must not pick another Qt
    import pyqtgraph

    return pyqtgraph


class _PlotSpace(QWidget):
    """Where the plots go: empty until they are made, then holding pyqtgraph's view.

    Its size hints are those of a freshly made pyqtgraph view, fixed: the layout around a
    graphics view keeps the hint it read first (a scene that follows the view's size does not
    tell the layout), so with the view made at start the docks were laid out as if it always
    asked for its first size. Fixing the hints here keeps them settling where they did.
    Painted means really on screen (a covered dock tab gets show events but no paint): the plots
    are made then, if the dock did not ask for them first."""

    def __init__(self, made: Callable[[], object]) -> None:
        super().__init__()
        self._make: Callable[[], object] | None = made
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # A fresh pyqtgraph view is a frameless, scroll-bar-less graphics view whose scene is
        # its size, Qt's 640x480 for a new parentless widget: measure what such a view asks.
        probe = QGraphicsView()
        probe.setFrameShape(QFrame.Shape.NoFrame)
        probe.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        probe.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        probe.setScene(QGraphicsScene(probe))
        probe.setSceneRect(QRectF(0, 0, probe.width(), probe.height()))
        self._hint, self._minimum = probe.sizeHint(), probe.minimumSizeHint()
        probe.deleteLater()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def hold(self, view: QWidget) -> None:
        """Put the made view in place (once)."""
        self._make = None
        self._layout.addWidget(view)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self._hint

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self._minimum

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        if self._make is not None:
            QTimer.singleShot(0, self._make)


class _Plots:
    """The pyqtgraph side of the curves: loss plot over accuracy plot, their curves, legends
    and hover cursor. Made the first time the curves are shown or asked for."""

    def __init__(self, owner: CurvesWidget) -> None:
        pg = _pyqtgraph()
        self.pg = pg
        fg = owner.palette().color(QPalette.ColorRole.WindowText)
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
        accent = QColor(ACCENT_COLOR)
        faint = QColor(accent)
        faint.setAlpha(70)
        legend_loss = self.loss_plot.addLegend(offset=(-10, 10), labelTextColor=fg)
        legend_acc = self.acc_plot.addLegend(offset=(-10, -10), labelTextColor=fg)
        legend_loss.setParentItem(self.loss_plot.getViewBox())
        self.prev_loss = self.loss_plot.plot(pen=pg.mkPen(_PREVIOUS_COLOR, width=1.5,
                                                          style=Qt.PenStyle.DashLine))
        self.prev_acc = self.acc_plot.plot(pen=pg.mkPen(_PREVIOUS_COLOR, width=1.5,
                                                        style=Qt.PenStyle.DashLine))
        self.raw = self.loss_plot.plot(pen=pg.mkPen(faint, width=1), name="train loss (batch)")
        self.smooth = self.loss_plot.plot(pen=pg.mkPen(accent, width=2.5),
                                          name="train loss (smoothed)")
        self.val_loss = self.loss_plot.plot(
            pen=pg.mkPen(_VAL_COLOR, width=1, style=Qt.PenStyle.DotLine), symbol="o",
            symbolSize=8, symbolBrush=_VAL_COLOR, symbolPen=None, name="validation loss")
        self.train_acc = self.acc_plot.plot(
            pen=pg.mkPen(accent, width=1, style=Qt.PenStyle.DotLine), symbol="s", symbolSize=7,
            symbolBrush=accent, symbolPen=None, name="train accuracy")
        self.val_acc = self.acc_plot.plot(
            pen=pg.mkPen(_VAL_COLOR, width=1, style=Qt.PenStyle.DotLine), symbol="o",
            symbolSize=8, symbolBrush=_VAL_COLOR, symbolPen=None, name="validation accuracy")
        self.legend_prev = False
        self.legends = (legend_loss, legend_acc)
        self.cursor = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen(fg, width=1, style=Qt.PenStyle.DotLine))
        self.cursor.setVisible(False)
        self.loss_plot.addItem(self.cursor, ignoreBounds=True)
        self.side_by_side = False

    def follow_palette(self, palette: QPalette) -> None:
        """Plot ground, axes, labels, legends and cursor in the palette's colours (they are
        pyqtgraph's own drawing, which ignores the Qt palette)."""
        pg = self.pg
        fg = palette.color(QPalette.ColorRole.WindowText)
        self.view.setBackground(palette.color(QPalette.ColorRole.Base))
        for plot, label in ((self.loss_plot, "loss"), (self.acc_plot, "accuracy %")):
            plot.setLabel("left", label, color=fg.name())
            plot.setLabel("bottom", "epoch", color=fg.name())
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(fg)
                plot.getAxis(axis).setPen(pg.mkPen(fg, width=1))
        for legend in self.legends:
            legend.setLabelTextColor(fg)
        self.cursor.setPen(pg.mkPen(fg, width=1, style=Qt.PenStyle.DotLine))

    def arrange(self, wide: bool) -> None:
        """Plots side by side in a wide, low dock (the bottom strip), stacked in a tall one."""
        if wide != self.side_by_side:
            self.side_by_side = wide
            layout = self.view.ci
            layout.removeItem(self.acc_plot)
            layout.addItem(self.acc_plot, row=0 if wide else 1, col=1 if wide else 0)

    def show_previous(self, prev: _Run | None) -> None:
        self.prev_loss.setData(*(_arrays(prev.x, prev.smooth) if prev else ([], [])))
        self.prev_acc.setData(*(_arrays(prev.epochs, prev.val_acc) if prev else ([], [])))
        if prev is not None and not self.legend_prev:
            self.legends[0].addItem(self.prev_loss, "previous run (smoothed loss)")
            self.legends[1].addItem(self.prev_acc, "previous run (validation)")
            self.legend_prev = True
        elif prev is None and self.legend_prev:
            self.legends[0].removeItem(self.prev_loss)
            self.legends[1].removeItem(self.prev_acc)
            self.legend_prev = False


class CurvesWidget(QWidget):
    """Loss plot over accuracy plot, a hover read-out, and a "keep previous run" switch.

    The numbers are kept from the start; the plots themselves are made the first time the
    widget is shown (or a caller asks for them), and then draw everything received so far, so
    the window opens without loading the plotting library."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run = _Run()
        self._previous: _Run | None = None
        self._plots: _Plots | None = None
        #: The loss axis's extent (grown only when a value would leave it), kept while the plots
        #: are not made yet so they open on the same axis they would have had.
        self._loss_top = 0.0
        self._loss_bottom = np.inf
        self._x_span: float | None = None

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
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.addLayout(top)
        self._layout.addWidget(self.earlier)
        self._space = _PlotSpace(self.plots)
        self._layout.addWidget(self._space, 1)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw)

    # -- the plots, made on first use -----------------------------------------------------------
    def plots(self) -> _Plots:
        """The plots, made now if they were not yet, showing every point received so far.

        Call it when the widget is about to be seen (the Curves dock calls it when its tab
        comes to the front), so the plots are there in the first frame."""
        if self._plots is None:
            plots = _Plots(self)
            self._plots = plots
            self._space.hold(plots.view)
            plots.view.scene().sigMouseMoved.connect(self._hover)
            plots.follow_palette(self.palette())
            plots.arrange(self._is_wide())
            plots.show_previous(self._previous)
            # Axes before data, in the order an eagerly made plot got them (a log mode turns
            # auto-range back on).
            if self.log_scale.isChecked():
                plots.loss_plot.setLogMode(y=True)
            if self._x_span is not None:
                plots.loss_plot.setXRange(0, self._x_span, padding=0.02)
            self._apply_loss_axis()
            self._draw()
        return self._plots

    @property
    def view(self) -> Any:
        return self.plots().view

    @property
    def loss_plot(self) -> Any:
        return self.plots().loss_plot

    @property
    def acc_plot(self) -> Any:
        return self.plots().acc_plot

    @property
    def _cursor(self) -> Any:
        return self.plots().cursor

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if self._plots is not None and event.type() in (
                QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._plots.follow_palette(self.palette())

    def _is_wide(self) -> bool:
        return self.width() > 2.2 * self.height()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        """Plots side by side in a wide, low dock (the bottom strip), stacked in a tall one."""
        super().resizeEvent(event)
        if self._plots is not None:
            self._plots.arrange(self._is_wide())

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
        prev = self._previous
        self._loss_top = max(prev.smooth, default=0.0) if prev else 0.0
        self._loss_bottom = min((v for v in prev.smooth if v > 0), default=np.inf) if prev \
            else np.inf
        if epochs:
            self._x_span = max(epochs, prev.x[-1] if prev else 0)
        plots = self._plots
        if plots is not None:
            plots.cursor.setVisible(False)  # the hover line belonged to the last run's picture
            plots.show_previous(prev)
        self._redraw()
        if plots is not None and epochs:
            plots.loss_plot.setXRange(0, self._x_span, padding=0.02)

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
        plots = self.plots()
        items = {"train loss (batch)": plots.raw, "train loss (smoothed)": plots.smooth,
                 "validation loss": plots.val_loss, "train accuracy": plots.train_acc,
                 "validation accuracy": plots.val_acc, "previous run": plots.prev_loss}
        out = {}
        for name, item in items.items():
            x, y = item.getData()
            out[name] = (np.asarray([] if x is None else x), np.asarray([] if y is None else y))
        return out

    # -- drawing ------------------------------------------------------------------------------
    def _redraw(self) -> None:
        """Keep the loss axis's extent; draw when the plots exist (they draw all when made)."""
        grew = self._grow_loss_axis()
        if self._plots is not None:
            if grew:
                self._apply_loss_axis()
            self._draw()

    def _draw(self) -> None:
        plots, r = self._plots, self._run
        assert plots is not None
        plots.raw.setData(*_arrays(r.x, r.loss))
        plots.smooth.setData(*_arrays(r.x, r.smooth))
        plots.val_loss.setData(*_arrays(r.epochs, r.val_loss))
        plots.train_acc.setData(*_arrays(r.epochs, r.train_acc))
        plots.val_acc.setData(*_arrays(r.epochs, r.val_acc))

    def _grow_loss_axis(self) -> bool:
        """Grow the loss axis only when a value would leave it: an axis that moves on every
        redraw must regenerate its ticks, the slowest part of a repaint. On the log scale the
        axis also grows downwards, to the smallest positive loss. True when it grew."""
        values = [v for v in (*self._run.loss, *self._run.val_loss) if np.isfinite(v)]
        top = max(values, default=0.0)
        grew = top > self._loss_top or (self._loss_top == 0.0 and top > 0)
        if grew:
            self._loss_top = top * 1.1
        if not self.log_scale.isChecked():
            return grew
        bottom = min((v for v in values if v > 0), default=np.inf)
        if bottom < self._loss_bottom:
            self._loss_bottom = bottom / 1.5
            grew = True
        return grew

    def _apply_loss_axis(self) -> None:
        """Show the loss axis's kept extent (nothing yet: 0-1, as the plot starts)."""
        plot = self.plots().loss_plot
        if not self.log_scale.isChecked():
            if self._loss_top > 0:
                plot.setYRange(0, self._loss_top, padding=0)
        elif np.isfinite(self._loss_bottom) and self._loss_top > 0:
            plot.setYRange(np.log10(self._loss_bottom), np.log10(self._loss_top), padding=0)

    def _set_log_scale(self, on: bool) -> None:
        self._loss_top, self._loss_bottom = 0.0, np.inf
        self._x_span = None  # pyqtgraph's log switch lets both axes follow the data again
        self._grow_loss_axis()
        if self._plots is None:
            return
        plot = self._plots.loss_plot
        plot.setLogMode(y=on)
        if not on:
            plot.setYRange(0, 1, padding=0)
        self._apply_loss_axis()

    def is_log_scale(self) -> bool:
        return self.loss_plot.getAxis("left").logMode

    def _hover(self, pos: QPointF) -> None:
        r = self._run
        plots = self.plots()
        for plot in (plots.loss_plot, plots.acc_plot):
            if plot.sceneBoundingRect().contains(pos):
                x = plot.getViewBox().mapSceneToView(pos).x()
                break
        else:
            plots.cursor.setVisible(False)
            return
        parts = [f"epoch {x:.2f}"]
        if r.x:
            i = int(np.clip(np.searchsorted(r.x, x), 0, len(r.x) - 1))
            parts.append(f"batch loss {r.loss[i]:.4f}, smoothed {r.smooth[i]:.4f}")
        if r.epochs:
            j = int(np.argmin(np.abs(np.asarray(r.epochs) - x)))
            if abs(r.epochs[j] - x) < 0.5:
                parts.append(_epoch_values(r, j))
        plots.cursor.setPos(x)
        plots.cursor.setVisible(True)
        self.readout.setText(" \u00b7 ".join(parts))


def _arrays(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The points of a curve that have a value: an epoch without validation (or a loss that
    overflowed) has none to draw, and pyqtgraph warns on a curve of NaN only."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    drawn = np.isfinite(ys)
    return (xs, ys) if drawn.all() else (xs[drawn], ys[drawn])


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
