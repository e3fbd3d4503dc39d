"""Views that redraw only when someone can see them.

Feature maps, filters, the confusion matrix, the problems list and the summary table cost a
network pass, a validation or a big table to redraw. While nothing of them is on screen they
only remember that they are stale, and catch up when they come into view, so neither an edit nor
a training run spends GUI-thread time on pictures nobody is looking at.

"On screen" is more than Qt's ``isVisible``: the docks behind a tab stay "visible" to Qt while
nothing of them shows (their ``visibleRegion`` is empty). And a view comes into view in several
ways: shown, its tab brought to the front (the dock's ``visibilityChanged``), its dock split
beside another, floated or re-docked (a resize, a later layout pass, animated docks growing into
place). A view therefore checks whether it is seen when asked to redraw, and catches up on
every one of those occasions, with its own first paint as the last resort: whatever brings it
on screen paints it.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPaintEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QDockWidget, QWidget

from cnnstudio.gui.guard import shows_errors_in_place

__all__ = ["RedrawWhenShown", "is_seen", "watch_dock"]


def is_seen(widget: QWidget) -> bool:
    """Whether some of ``widget`` is on screen (not hidden, not behind another dock tab)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


class RedrawWhenShown:
    """Mixin for a QWidget with a ``refresh()`` method: call ``begin_redraw()`` at its top.

    A subclass's ``refresh`` is guarded (:func:`~cnnstudio.gui.guard.shows_errors_in_place`):
    whatever goes wrong while redrawing is shown in the view instead of escaping into Qt."""

    _stale = True
    _catch_up_timer: QTimer | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "refresh" in cls.__dict__:
            cls.refresh = shows_errors_in_place(cls.__dict__["refresh"])  # type: ignore[attr-defined]

    def show_refresh_error(self, message: str) -> None:
        """Show why the view could not be drawn: in its tile grid, else in its info line."""
        grid = getattr(self, "grid", None)
        info = getattr(self, "info", None)
        if grid is not None:
            grid.clear(message)
        if info is not None:
            info.setText("" if grid is not None else message)

    def begin_redraw(self) -> bool:
        """True when the caller should redraw now; False (and marked stale) while unseen."""
        if not is_seen(self):  # type: ignore[arg-type]
            self._stale = True
            return False
        self._stale = False
        return True

    @property
    def stale(self) -> bool:
        """Whether the view waits to be seen before it shows the current state."""
        return self._stale

    # --- the occasions to catch up ----------------------------------------------------------
    def dock_shown(self, visible: bool) -> None:
        """For the ``visibilityChanged`` of the dock holding the view (a tab brought to the
        front sends the view no show event)."""
        if visible:
            self.catch_up_soon()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)  # type: ignore[misc]
        if self._stale:
            self._catch_up()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)  # type: ignore[misc]
        self.catch_up_soon()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)  # type: ignore[misc]
        self.catch_up_soon()  # painted means seen: the last resort, whatever showed it

    def catch_up_soon(self) -> None:
        """Redraw once control is back in the event loop (Qt has laid the view out by then),
        if the view is stale; nothing otherwise."""
        if not self._stale:
            return
        if self._catch_up_timer is None:
            self._catch_up_timer = QTimer(self)  # type: ignore[arg-type]
            self._catch_up_timer.setSingleShot(True)
            self._catch_up_timer.setInterval(0)
            self._catch_up_timer.timeout.connect(self._catch_up)
        self._catch_up_timer.start()

    def _catch_up(self) -> None:
        if self._stale and is_seen(self):  # type: ignore[arg-type]
            self.refresh()  # type: ignore[attr-defined]


def watch_dock(dock: QDockWidget) -> None:
    """Let the view in ``dock`` (if it redraws only when seen) catch up when the dock comes to
    the front of its tab group."""
    view = dock.widget()
    if isinstance(view, RedrawWhenShown):
        dock.visibilityChanged.connect(view.dock_shown)
