"""Views that redraw only when someone can see them.

Feature maps, filters and the confusion matrix cost a network pass or a big table to redraw.
While their tab is hidden they only remember that they are stale, and catch up when shown, so a
training run never spends GUI-thread time on pictures nobody is looking at.
"""

from __future__ import annotations

from PySide6.QtGui import QShowEvent


class RedrawWhenShown:
    """Mixin for a QWidget with a ``refresh()`` method: call ``begin_redraw()`` at its top."""

    _stale = True

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
