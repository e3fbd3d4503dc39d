"""The canvas widget: zoom, pan, fit, drops from the palette, keyboard edits and messages.

Mouse gestures are delegated to the small classes in ``interactions``; this class routes
events, owns the zoom level and shows two overlays: a banner while the model is locked (training)
and a short-lived message when an edit is refused, saying why.
"""

from __future__ import annotations

import json
from contextlib import nullcontext

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QLabel, QToolTip, QWidget

from cnnstudio.core.graph import GraphError
from cnnstudio.core.units import visible_graph
from cnnstudio.gui.canvas.drop_target import DropHint, DropPlan, plan_drop
from cnnstudio.gui.canvas.interactions import Interaction, start_interaction
from cnnstudio.gui.canvas.overview import OverviewMap, top_left_centre
from cnnstudio.gui.canvas.scene import CanvasScene
from cnnstudio.gui.canvas.style import LEGIBLE_ZOOM
from cnnstudio.gui.canvas.unit_items import UnitBlockItem
from cnnstudio.gui.document import Document, parse_fragment
from cnnstudio.gui.mime import LAYER_MIME
from cnnstudio.gui.selection import Selection

#: The clipboard carries copied blocks as a model document (also readable as plain text).
FRAGMENT_MIME = "application/x-cnnstudio-fragment"
MIN_ZOOM, MAX_ZOOM = 0.08, 3.0
PASTE_OFFSET = (30.0, 30.0)


class CanvasView(QGraphicsView):
    zoomChanged = Signal(float)

    def __init__(self, document: Document, selection: Selection,
                 parent: QWidget | None = None) -> None:
        self.canvas_scene = CanvasScene(document, selection)
        super().__init__(self.canvas_scene, parent)
        self.document = document
        self.selection = selection
        self.space_held = False
        self._active: Interaction | None = None
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self._banner = self._overlay("banner")
        self._toast = self._overlay("toast")
        self._hint = self._overlay("hint")
        self._toast_timer = QTimer(self, singleShot=True, interval=5000)
        self._toast_timer.timeout.connect(self._toast.hide)
        self.overview = OverviewMap(self, self._content_rect, self.viewport())
        self._drop_hint = DropHint(self.canvas_scene)
        self.horizontalScrollBar().valueChanged.connect(self._view_moved)
        self.verticalScrollBar().valueChanged.connect(self._view_moved)
        self.zoomChanged.connect(self._view_moved)
        document.editRefused.connect(self.show_message)
        document.lockedChanged.connect(self._show_lock)
        document.renamed.connect(selection.follow_rename)
        selection.focusRequested.connect(self.focus_layer)
        # A swapped-in model (undoing New, a template) is shown like an opened one, once the
        # scene (connected to ``changed`` first) has its blocks.
        self._show_after_change = False
        document.graphReplaced.connect(lambda: setattr(self, "_show_after_change", True))
        document.changed.connect(self._model_changed)
        self.actions_by_name = self._make_actions()
        self._show_hint()

    def _model_changed(self, _result: object) -> None:
        if self._show_after_change:
            self._show_after_change = False
            self.show_model()
        if self.canvas_scene.blocks_moved:
            # Blocks that came, went or moved: the whole viewport is drawn afresh. Seen in a real
            # window (X11): after undoing an Auto-Layout the old places of the blocks stayed on
            # screen, and more with each undo; QGraphicsView's smart updates had missed them.
            # A parameter edit moves nothing and keeps the smaller repaint.
            self.viewport().update()
        self._view_moved()
        self._show_hint()

    def _view_moved(self, *_: object) -> None:
        self.overview.refresh()

    # --- actions (the Edit menu shows the same objects) -------------------------------------
    def _make_actions(self) -> dict[str, QAction]:
        table = [
            ("copy", "&Copy", QKeySequence.StandardKey.Copy, self.copy_selection),
            ("cut", "Cu&t", QKeySequence.StandardKey.Cut, self.cut_selection),
            ("paste", "&Paste", QKeySequence.StandardKey.Paste, self.paste),
            ("duplicate", "D&uplicate", QKeySequence("Ctrl+D"), self.duplicate),
            ("delete", "&Delete", QKeySequence.StandardKey.Delete, self.delete_selection),
            ("select_all", "Select &All", QKeySequence.StandardKey.SelectAll, self.select_all),
            ("zoom_in", "Zoom &In", QKeySequence.StandardKey.ZoomIn, lambda: self.zoom_by(1.25)),
            ("zoom_out", "Zoom &Out", QKeySequence.StandardKey.ZoomOut,
             lambda: self.zoom_by(0.8)),
            ("zoom_reset", "&Actual Size", QKeySequence("Ctrl+0"), self.reset_zoom),
            ("fit", "&Fit to Window", QKeySequence("Ctrl+Shift+F"), self.fit_all),
            ("group", "&Group as Unit", QKeySequence("Ctrl+G"), self.group_selection),
            ("ungroup", "U&ngroup Unit", QKeySequence("Ctrl+Shift+G"), self.ungroup_selection),
            ("toggle_unit", "E&xpand / Collapse Unit", QKeySequence(), self.toggle_unit),
            ("repeat_unit", "&Repeat Unit (N More Like This)...", QKeySequence(),
             self.repeat_unit),
            ("rename_unit", "Rena&me Unit...", QKeySequence(), self.rename_unit),
        ]
        actions = {}
        for name, text, keys, slot in table:
            action = QAction(text, self)
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            actions[name] = action
        actions["delete"].setShortcuts([QKeySequence(QKeySequence.StandardKey.Delete),
                                        QKeySequence(Qt.Key.Key_Backspace)])
        return actions

    # --- overlays ---------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        """A light/dark switch changes the palette: the canvas takes the new colours."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.canvas_scene.restyle()
            self.overview.update()

    def _overlay(self, name: str) -> QLabel:
        label = QLabel(self.viewport())
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        colour = {"banner": "#b8860b", "hint": "#5a6b7d"}.get(name, "#c0392b")
        label.setStyleSheet(f"QLabel {{ background: {colour}; color: white; padding: 6px 10px;"
                            " border-radius: 4px; }")
        label.hide()
        return label

    def _place_overlays(self) -> None:
        width = min(self.viewport().width() - 24, 640)
        for label, top in ((self._banner, True), (self._toast, False), (self._hint, True)):
            label.setFixedWidth(max(width, 100))
            label.adjustSize()
            x = (self.viewport().width() - label.width()) // 2
            y = 12 if top else self.viewport().height() - label.height() - 12
            if label is self._hint and self._banner.isVisible():
                y += self._banner.height() + 8
            label.move(x, y)

    def _show_hint(self) -> None:
        """How to wire, said on the canvas while a model has no connection yet (an empty
        model, a lone block); gone once the first wire is made."""
        graph = self.document.graph
        wired = any(layer.inputs for layer in graph)
        if wired:
            self._hint.hide()
            return
        start = "" if len(graph) else "Drag a layer from the palette onto the canvas; then "
        how = ("drag from a block's bottom port to another's top port, or drop a block onto a "
               "wire")
        self._hint.setText(start + (how if start else how[0].upper() + how[1:]) + ".")
        self._place_overlays()
        self._hint.show()

    def hint_text(self) -> str:
        return self._hint.text() if self._hint.isVisible() else ""

    def show_message(self, message: str, error: bool = True) -> None:
        """A refused edit's reason (or, ``error=False``, a note), at the bottom of the canvas
        for a few seconds."""
        colour = "#c0392b" if error else "#3a5f8f"
        self._toast.setStyleSheet(f"QLabel {{ background: {colour}; color: white; "
                                  "padding: 6px 10px; border-radius: 4px; }")
        self._toast.setText(message)
        self._place_overlays()
        self._toast.show()
        self._toast.raise_()
        self._toast_timer.start()

    def message(self) -> str:
        return self._toast.text() if self._toast.isVisible() else ""

    def _show_lock(self, locked: bool, reason: str) -> None:
        self._banner.setText(f"The model is locked while {reason}: you can look, zoom and "
                             "move blocks; stop to edit." if locked else "")
        self._banner.setVisible(locked)
        self._place_overlays()

    def banner_text(self) -> str:
        return self._banner.text() if self._banner.isVisible() else ""

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt's name
        """QGraphicsView scrolls by moving the viewport's pixels, and its child widgets with
        them: the overlays go back to their places (seen in a real window: after Fit to Window
        the wiring hint sat mid-left on the canvas)."""
        super().scrollContentsBy(dx, dy)
        self._place_overlays()

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001
        super().resizeEvent(event)
        self._place_overlays()
        self.overview.refresh()
        size = self.viewport().size()
        if size.width() > 100 and size.height() > 100:  # Auto-Layout shapes the model to fit
            self.document.layout_target = (float(size.width()), float(size.height()))

    # --- zoom and pan -----------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Scale by ``factor`` keeping the scene point under ``anchor`` (view pixels) fixed."""
        target = max(MIN_ZOOM, min(MAX_ZOOM, self.zoom() * factor))
        factor = target / self.zoom()
        if abs(factor - 1.0) < 1e-9:
            return
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        before = self.mapToScene(anchor.toPoint())
        old = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        after = self.mapToScene(anchor.toPoint())
        self.translate_scene(after - before)
        self.setTransformationAnchor(old)
        self.zoomChanged.emit(self.zoom())

    def translate_scene(self, delta: QPointF) -> None:
        """Shift the view so scene content moves by ``delta`` (in scene units)."""
        z = self.zoom()
        self.scroll_by(int(round(-delta.x() * z)), int(round(-delta.y() * z)))

    def scroll_by(self, dx: int, dy: int) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + dx)
        v.setValue(v.value() + dy)

    def reset_zoom(self) -> None:
        self.zoom_by(1.0 / self.zoom())

    def fit_all(self) -> None:
        """Show the whole model, never magnified beyond 1:1 (a small model stays crisp) and
        never below the legible zoom without saying so: a larger model is then shown from its
        start at the legible zoom, with the overview in the corner."""
        self._fit(announce=True)

    def show_model(self) -> None:
        """The opening view: the whole model at the largest zoom up to 1:1 if its type and shape
        text stay legible that way; else its start at the legible zoom (and the overview)."""
        self._fit(announce=False)

    def _fit(self, announce: bool) -> bool:
        rect = self._content_rect()
        if rect.isNull():
            return False
        self.resetTransform()
        self.fitInView(rect.adjusted(-30, -30, 30, 30), Qt.AspectRatioMode.KeepAspectRatio)
        whole = self.zoom()
        if whole > 1.0:
            self.resetTransform()
            self.centerOn(rect.center())
        elif whole < LEGIBLE_ZOOM:
            self.resetTransform()
            self.scale(LEGIBLE_ZOOM, LEGIBLE_ZOOM)
            self.centerOn(top_left_centre(self, rect, LEGIBLE_ZOOM))
            if announce:
                self.show_message(
                    f"The whole model would need {whole:.0%} zoom, where its text cannot be "
                    f"read: shown at {LEGIBLE_ZOOM:.0%} from its start. The overview in the "
                    "corner shows all of it (click to go there); the mouse wheel zooms out "
                    "further.", error=False)
        self.zoomChanged.emit(self.zoom())
        return True

    def _content_rect(self) -> QRectF:
        return self.canvas_scene.content_rect()

    def focus_layer(self, layer_id: str) -> None:
        """Select a layer and scroll it to the middle (a click on its problem)."""
        node = self.canvas_scene.node_of(layer_id)
        item = self.canvas_scene.blocks.get(node)
        if item is None:
            return
        self.selection.set([node])
        self.centerOn(item.sceneBoundingRect().center())

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.0015 ** delta, event.position())
        event.accept()

    # --- mouse: routed to the gesture in progress -------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self._active is not None:
            return
        self._active = start_interaction(self, event)
        if self._active is not None:
            self.viewport().setCursor(self._active.cursor)
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._active is not None:
            self._active.move(event)
            event.accept()
        else:
            super().mouseMoveEvent(event)  # hover highlights and tooltips

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        active, self._active = self._active, None
        if active is not None:
            active.release(event)
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self.space_held
                                      else Qt.CursorShape.ArrowCursor)
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif event.key() == Qt.Key.Key_Escape and self._active is not None:
            self._active.cancel()
            self._active = None
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.space_held = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
        else:
            super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: N802, ANN001
        self.space_held = False
        super().focusOutEvent(event)

    # --- drops from the palette -------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(LAYER_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if not event.mimeData().hasFormat(LAYER_MIME):
            event.ignore()
            return
        self._drop_hint.show(self._plan(event))
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802, ANN001
        self._drop_hint.clear()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        if not event.mimeData().hasFormat(LAYER_MIME):
            self._drop_hint.clear()
            event.ignore()
            return
        plan = self._plan(event)
        self._drop_hint.clear()
        event.acceptProposedAction()
        self._carry_out(_dragged_type(event), plan)

    def _plan(self, event: QDragMoveEvent | QDropEvent) -> DropPlan:
        return plan_drop(self.canvas_scene, _dragged_type(event),
                         self.mapToScene(event.position().toPoint()), self._single_selected(),
                         self._drop_hint.checked)

    def _single_selected(self) -> str | None:
        ids = self.selection.ids()
        return ids[0] if len(ids) == 1 else None

    def drop_layer(self, type_name: str, at: QPointF) -> str | None:
        """Create a block centred at ``at``: on an edge, inserted into that edge; below the
        selected block or the end of a chain, wired to it (``drop_target``)."""
        return self._carry_out(type_name, plan_drop(self.canvas_scene, type_name, at,
                                                    self._single_selected()))

    def _carry_out(self, type_name: str, plan: DropPlan) -> str | None:
        try:
            if plan.edge is not None:
                new = self.document.insert_on_edge(type_name, *plan.edge, plan.position)
            else:
                new = self.document.add_layer(type_name, position=plan.position,
                                              inputs=[plan.source] if plan.source else None)
        except GraphError:
            return None
        self.selection.set([new])
        return new

    # --- edit commands ----------------------------------------------------------------------
    def select_all(self) -> None:
        self.selection.set(list(self.canvas_scene.blocks))

    def delete_selection(self) -> None:
        """Delete the selected blocks and the selected connections, as one undo step."""
        ids = self.selection.ids()
        edges = [e for e in self.canvas_scene.selected_edges if e[0] not in ids
                 and e[1] not in ids]
        if not ids and not edges:
            return
        try:
            with self.document.macro("Delete"):
                for src, dst in edges:
                    self.document.disconnect(src, dst)
                if ids:
                    self.document.remove_layers(self.document.layers_of(ids))
        except GraphError:
            return
        self.canvas_scene.select_edges([])

    def copy_selection(self) -> bool:
        ids = self.selection.ids()
        if not ids:
            return False
        text = json.dumps(self.document.fragment(self.document.layers_of(ids)))
        from PySide6.QtCore import QMimeData

        data = QMimeData()
        data.setData(FRAGMENT_MIME, text.encode("utf-8"))
        data.setText(text)
        QGuiApplication.clipboard().setMimeData(data)
        return True

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.delete_selection()

    def paste(self) -> list[str]:
        data = QGuiApplication.clipboard().mimeData()
        if data is None:
            return []
        if data.hasFormat(FRAGMENT_MIME):
            text = bytes(data.data(FRAGMENT_MIME).data()).decode("utf-8")
        else:
            text = data.text()
        doc = parse_fragment(text)
        if doc is None:
            self.show_message("the clipboard holds no cnnstudio layers to paste")
            return []
        return self._add_fragment(doc)

    def duplicate(self) -> list[str]:
        ids = self.selection.ids()
        layers = self.document.layers_of(ids)
        return self._add_fragment(self.document.fragment(layers)) if layers else []

    def _add_fragment(self, doc: dict) -> list[str]:
        """Paste; what was pasted is selected as drawn (a collapsed unit as its block)."""
        try:
            new = self.document.paste(doc, PASTE_OFFSET)
        except GraphError:
            return []
        node_of = visible_graph(self.document.graph).node_of
        self.selection.set(node_of.get(lid, lid) for lid in new)
        return new

    # --- units ------------------------------------------------------------------------------
    def _selected_units(self) -> list[str]:
        """Units chosen: selected unit blocks and frames, else the innermost unit of the
        current block (so "collapse" works on the unit one is editing inside)."""
        units = self.document.graph.units
        chosen = [i for i in self.selection.ids() if i in units]
        if not chosen and (current := self.selection.current()) in self.document.graph:
            inner = units.unit_of(current)  # type: ignore[arg-type]
            chosen = [inner] if inner is not None else []
        return chosen

    def _unit_edit(self, edit) -> object:  # noqa: ANN001
        """Run a Document unit edit; a refusal is already shown by the toast."""
        try:
            return edit()
        except GraphError:
            return None

    def group_selection(self) -> str | None:
        ids = self.selection.ids()
        if not ids:
            self.show_message("select the blocks to group first (drag a rectangle or "
                              "Ctrl+click)")
            return None
        uid = self._unit_edit(lambda: self.document.group(ids))
        if uid is not None:
            self.selection.set([uid])  # type: ignore[list-item]
        return uid  # type: ignore[return-value]

    def ungroup_selection(self) -> None:
        chosen = self._selected_units()
        if not chosen:
            self.show_message("select a unit to ungroup")
            return

        def ungroup() -> None:
            with self.document.macro("Ungroup"):
                for uid in chosen:
                    if uid in self.document.graph.units:
                        self.document.ungroup(uid)
        self._unit_edit(ungroup)

    def toggle_unit(self, unit_id: str | None = None) -> None:
        """Expand a collapsed unit in place, or collapse an expanded one."""
        chosen = [unit_id] if unit_id else self._selected_units()
        if not chosen:
            self.show_message("select a unit, or a block inside one, to expand or collapse it")
            return
        units = self.document.graph.units

        def toggle() -> None:  # one unit: the step is named after it ("Expand 'Stage 2'")
            with self.document.macro("Expand / collapse") if len(chosen) > 1 else nullcontext():
                for uid in chosen:
                    self.document.set_collapsed(uid, not units.get(uid).collapsed)
        self._unit_edit(toggle)
        drawn = self.canvas_scene.blocks
        if unit_id is None or any(i not in drawn and i in self.document.graph
                                  for i in self.selection.ids()):
            self.selection.set(chosen)  # a selected block now hidden: the unit stands for it

    def repeat_unit(self) -> list[str]:
        """"N more like this": ask how many copies, then add them after the unit."""
        from PySide6.QtWidgets import QInputDialog

        chosen = self._selected_units()
        if len(chosen) != 1:
            self.show_message("select one unit to repeat")
            return []
        name = self.document.graph.units.get(chosen[0]).name
        count, ok = QInputDialog.getInt(self, "Repeat unit", f"How many more like {name!r}?\n"
                                        "(each copy gets its own layers and weights)", 1, 1, 16)
        if not ok:
            return []
        new = self._unit_edit(lambda: self.document.repeat_unit(chosen[0], count)) or []
        if new:
            self.selection.set(new)  # type: ignore[arg-type]
        return new  # type: ignore[return-value]

    def rename_unit(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        chosen = self._selected_units()
        if len(chosen) != 1:
            self.show_message("select one unit to rename")
            return
        old = self.document.graph.units.get(chosen[0]).name
        name, ok = QInputDialog.getText(self, "Rename unit", "Name:", text=old)
        if ok:
            self._unit_edit(lambda: self.document.rename_unit(chosen[0], name))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Double-click a collapsed unit to expand it, or an expanded unit's header to
        collapse it."""
        pos = self.mapToScene(event.position().toPoint())
        scene = self.canvas_scene
        block = scene.block_at(pos)
        frame = scene.frame_at(pos) if block is None else None
        if isinstance(block, UnitBlockItem):
            self.toggle_unit(block.unit_id)
        elif frame is not None:
            self.toggle_unit(frame.unit_id)
        else:
            super().mouseDoubleClickEvent(event)
            return
        event.accept()

    def show_tooltip(self, text: str) -> None:
        QToolTip.showText(self.mapToGlobal(self.rect().center()), text, self)


def _dragged_type(event: QDragMoveEvent | QDropEvent) -> str:
    return bytes(event.mimeData().data(LAYER_MIME).data()).decode("utf-8", "replace").strip()
