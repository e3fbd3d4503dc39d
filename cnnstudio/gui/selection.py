"""Which layers are selected: one object shared by the canvas, inspector and problems panel.

Kept apart from the scene's own item selection so panels never need to know about graphics
items, and so a layer can be selected (from the problems list) before the canvas has drawn it.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, Signal


class Selection(QObject):
    """Ordered selected layer ids; the last one is the "current" layer the inspector shows."""

    changed = Signal(list)
    #: Ask the canvas to select a layer and scroll it into the middle (problems list click).
    focusRequested = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids: list[str] = []

    def ids(self) -> list[str]:
        return list(self._ids)

    def current(self) -> str | None:
        return self._ids[-1] if self._ids else None

    def set(self, ids: Iterable[str]) -> None:  # noqa: A003 - the contract's name
        new = list(dict.fromkeys(ids))
        if new != self._ids:
            self._ids = new
            self.changed.emit(list(new))

    def clear(self) -> None:
        self.set([])

    def toggle(self, layer_id: str) -> None:
        """Ctrl+click: add or remove one layer, keeping the others."""
        if layer_id in self._ids:
            self.set([i for i in self._ids if i != layer_id])
        else:
            self.set([*self._ids, layer_id])

    def __contains__(self, layer_id: object) -> bool:
        return layer_id in self._ids

    def follow_rename(self, old: str, new: str) -> None:
        if old in self._ids:
            self.set([new if i == old else i for i in self._ids])

    def prune(self, existing: Iterable[str]) -> None:
        """Forget ids that no longer exist (after a delete, undo or load)."""
        keep = set(existing)
        if any(i not in keep for i in self._ids):
            self.set([i for i in self._ids if i in keep])
