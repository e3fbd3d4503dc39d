"""The layer lists of the training views (Filters, Top patches): one way to keep them current."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox

__all__ = ["list_layers"]


def list_layers(combo: QComboBox, ids: list[str]) -> None:
    """Let ``combo`` offer ``ids`` (shown as they are), keeping the chosen layer while it is
    still offered. Silent (no signal) and untouched when the list is the same, as it is after
    most edits."""
    if [combo.itemData(i) for i in range(combo.count())] == ids:
        return
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for lid in ids:
        combo.addItem(lid, lid)
    if current in ids:
        combo.setCurrentIndex(ids.index(current))
    combo.blockSignals(False)
