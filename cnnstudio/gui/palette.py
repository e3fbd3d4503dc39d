"""The layer palette: every catalogue type, grouped by family, to drag onto the canvas.

The list is generated from the catalogue, so a new layer type appears here with its teaching text
as tooltip without touching this file. Double-click (or Enter) appends the type after the selected
block and wires it in, so a chain can be built from the keyboard and mouse without dragging.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QMimeData, QSize, Qt
from PySide6.QtGui import QDrag, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.catalogue import (
    FAMILY_TITLES,
    PRESETS,
    LayerSpec,
    Preset,
    layer_spec,
    types_by_family,
)
from cnnstudio.core.graph import GraphError
from cnnstudio.gui.glyphs import family_icon
from cnnstudio.gui.mime import LAYER_MIME

#: Item data role holding the layer type name (None on family headers).
TYPE_ROLE = Qt.ItemDataRole.UserRole + 1


def layer_mime_data(type_name: str) -> QMimeData:
    """What a palette drag carries: the type name, utf-8, under LAYER_MIME (the canvas reads it)."""
    mime = QMimeData()
    mime.setData(LAYER_MIME, type_name.encode("utf-8"))
    mime.setText(type_name)  # dropping into a text field gives something sensible
    return mime


def palette_entries() -> list[tuple[str, list[LayerSpec]]]:
    """(family title, layer specs) in palette order: every catalogue type, nothing else listed."""
    return [(FAMILY_TITLES[family], specs) for family, specs in types_by_family().items()
            if specs]


def presets_of(specs: list[LayerSpec]) -> list[Preset]:
    """The presets (DepthwiseConv2D...) listed after their type's family."""
    types = {s.type for s in specs}
    return [p for p in PRESETS.values() if p.type in types]


def _describe(name: str) -> tuple[str, str]:
    """(title, teaching text) of a palette name: a catalogue type or a preset."""
    if name in PRESETS:
        return name, PRESETS[name].description
    spec = layer_spec(name)
    return spec.title, spec.description


def _type_of(entry: LayerSpec | Preset) -> str:
    return entry.type


def tooltip_for(spec: LayerSpec | Preset) -> str:
    """Rich tooltip: title, the teaching sentence, and the params it takes."""
    if isinstance(spec, Preset):
        base = layer_spec(spec.type)
        title, text = spec.name, spec.description
        params = f"a {base.type} with " + ", ".join(p.label for p in base.params)
    else:
        base, title, text = spec, spec.title, spec.description
        params = ", ".join(p.label for p in base.params)
    extra = f"<br><i>params: {html.escape(params)}</i>" if base.params else ""
    title, text = html.escape(title, quote=False), html.escape(text, quote=False)
    return (f"<b>{title}</b><br>{text}{extra}"
            "<br><small>Drag onto the canvas, or double-click to add after the selection.</small>")


class _LayerTree(QTreeWidget):
    """A tree whose drags carry a layer type instead of Qt's internal item data."""

    def startDrag(self, supported: Qt.DropAction) -> None:  # noqa: N802 (Qt override)
        item = self.currentItem()
        type_name = item.data(0, TYPE_ROLE) if item else None
        if not type_name:
            return
        drag = QDrag(self)
        drag.setMimeData(layer_mime_data(type_name))
        drag.setPixmap(item.icon(0).pixmap(QSize(24, 24)))
        drag.exec(Qt.DropAction.CopyAction)


class PaletteWidget(QWidget):
    """Search box over a family-grouped tree of layer types."""

    def __init__(self, document, selection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.selection = selection
        self.setObjectName("palette")

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search layers")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter)

        self.tree = _LayerTree(self)
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(10)
        self.tree.setIconSize(QSize(18, 18))
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.itemActivated.connect(self._activated)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self._populate()

    def _populate(self) -> None:
        header_font = QFont(self.font())
        header_font.setBold(True)
        for title, specs in palette_entries():
            group = QTreeWidgetItem(self.tree, [title])
            group.setFont(0, header_font)
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setFirstColumnSpanned(True)
            group.setToolTip(0, title)
            for spec in [*specs, *presets_of(specs)]:
                name = spec.name if isinstance(spec, Preset) else spec.type
                item = QTreeWidgetItem(group, [_describe(name)[0]])
                item.setIcon(0, family_icon(layer_spec(_type_of(spec)).family))
                item.setToolTip(0, tooltip_for(spec))
                item.setData(0, TYPE_ROLE, name)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
            group.setExpanded(True)

    # --- queries used by tests and the window -------------------------------------------------
    def type_items(self) -> list[QTreeWidgetItem]:
        """Every layer-type item, in palette order (hidden ones included)."""
        root = self.tree.invisibleRootItem()
        return [root.child(i).child(j) for i in range(root.childCount())
                for j in range(root.child(i).childCount())]

    def visible_types(self) -> list[str]:
        return [it.data(0, TYPE_ROLE) for it in self.type_items()
                if not it.isHidden() and not it.parent().isHidden()]

    # --- behaviour ----------------------------------------------------------------------------
    def filter(self, text: str) -> None:
        """Show the types whose name, title or teaching text contain every typed word."""
        words = text.lower().split()
        root = self.tree.invisibleRootItem()
        for i in range(root.childCount()):
            group = root.child(i)
            shown = 0
            for j in range(group.childCount()):
                item = group.child(j)
                name = item.data(0, TYPE_ROLE)
                haystack = f"{name} {' '.join(_describe(name))}".lower()
                hide = not all(w in haystack for w in words)
                item.setHidden(hide)
                shown += not hide
            group.setHidden(shown == 0)
        visible = [it for it in self.type_items() if not it.isHidden()]
        if words and len(visible) >= 1:
            self.tree.setCurrentItem(visible[0])

    def add_type(self, type_name: str) -> str | None:
        """Add a layer after the selected block (wired in) or unconnected; select it.

        Selecting the new block means repeated double-clicks build a chain. A refused edit is
        already reported by the document (editRefused), so it is swallowed here.
        """
        after = self.selection.current()
        try:
            if after is not None and after in self.document.graph:
                new_id = self.document.insert_after(type_name, after)
            else:
                new_id = self.document.add_layer(type_name)
        except GraphError:
            return None
        self.selection.set([new_id])
        return new_id

    def _activated(self, item: QTreeWidgetItem, column: int) -> None:
        type_name = item.data(0, TYPE_ROLE)
        if type_name:
            self.add_type(type_name)
