"""Views that redraw only when someone can see them.

Feature maps, filters and the confusion matrix cost a network pass or a big table to redraw.
While their tab is hidden they only remember that they are stale, and catch up when shown, so a
training run never spends GUI-thread time on pictures nobody is looking at.
"""

from __future__ import annotations

from PySide6.QtGui import QShowEvent

from cnnstudio.gui.guard import shows_errors_in_place


class RedrawWhenShown:
    """Mixin for a QWidget with a ``refresh()`` method: call ``begin_redraw()`` at its top.

    A subclass's ``refresh`` is guarded (:func:`~cnnstudio.gui.guard.shows_errors_in_place`):
    whatever goes wrong while redrawing is shown in the view instead of escaping into Qt."""

    _stale = True

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

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)  # type: ignore[misc]
        if self._stale:
            self.refresh()  # type: ignore[attr-defined]

    def begin_redraw(self) -> bool:
        """True when the caller should redraw now; False (and marked stale) while hidden."""
        if not self.isVisible():  # type: ignore[attr-defined]
            self._stale = True
            return False
        self._stale = False
        return True
