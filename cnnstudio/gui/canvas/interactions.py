"""What a mouse drag on the canvas means, one small class per gesture.

The view asks ``start_interaction`` which gesture a button press begins (pan, connect, move,
rubber band, edge click) and then forwards move/release events to that object until the button
is released. Each class holds only its own drag state, so adding a gesture never touches the
others. Edits go through the Document; a refused edit (cycle, too many inputs, training running)
is reported by the Document's ``editRefused`` signal, which the view shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QMouseEvent, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QRubberBand

from cnnstudio.core.graph import GraphError
from cnnstudio.gui.canvas.block import DRAG_Z, PortItem
from cnnstudio.gui.canvas.edge import curve
from cnnstudio.gui.canvas.unit_items import UnitFrameItem

if TYPE_CHECKING:
    from cnnstudio.gui.canvas.view import CanvasView

#: Pixels the mouse must travel before a press on a block becomes a move (not a click).
DRAG_THRESHOLD = 3


class Interaction:
    """A gesture in progress. ``press`` has already happened when it is created."""

    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, view: CanvasView, event: QMouseEvent) -> None:
        self.view = view
        self.scene = view.canvas_scene
        self.start_view = event.position().toPoint()
        self.start_scene = view.mapToScene(self.start_view)

    def move(self, event: QMouseEvent) -> None:
        pass

    def release(self, event: QMouseEvent) -> None:
        pass

    def cancel(self) -> None:
        """Escape or losing the mouse: undo any preview, change nothing."""


class PanInteraction(Interaction):
    """Middle button, or space + left button: scroll the view with the hand."""

    cursor = Qt.CursorShape.ClosedHandCursor

    def __init__(self, view: CanvasView, event: QMouseEvent) -> None:
        super().__init__(view, event)
        self._last = self.start_view

    def move(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        delta = pos - self._last
        self._last = pos
        self.view.scroll_by(-delta.x(), -delta.y())


class ConnectInteraction(Interaction):
    """Drag from a port: a rubber wire follows the mouse; releasing on a port connects."""

    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, view: CanvasView, event: QMouseEvent, port: PortItem) -> None:
        super().__init__(view, event)
        self.port = port
        block = port.block
        self.anchor = block.output_anchor() if port.kind == "out" else block.input_anchor(0, 1)
        self.wire = QGraphicsPathItem()
        pen = QPen(self.scene.style.accent, 2.0, Qt.PenStyle.DashLine)
        self.wire.setPen(pen)
        self.wire.setZValue(DRAG_Z)
        self.scene.addItem(self.wire)
        self._target: PortItem | None = None
        self._draw(self.start_scene)

    def _draw(self, pos: QPointF) -> None:
        if self.port.kind == "out":
            self.wire.setPath(curve(self.anchor, pos))
        else:
            self.wire.setPath(curve(pos, self.anchor))

    def _candidate(self, pos: QPointF) -> PortItem | None:
        """The port under the mouse, or the fitting port of the block under it (a forgiving
        target: dropping the wire anywhere on a block means its input, or its output)."""
        port = self.scene.port_at(pos)
        if port is None:
            block = self.scene.block_at(pos)
            if block is not None:
                port = block.in_port if self.port.kind == "out" else block.out_port
        if port is None or port.block is self.port.block or port.kind == self.port.kind:
            return None
        return port if port.isVisible() else None

    def move(self, event: QMouseEvent) -> None:
        pos = self.view.mapToScene(event.position().toPoint())
        self._draw(pos)
        target = self._candidate(pos)
        if target is not self._target:
            if self._target is not None:
                self._target.set_hot(False)
            if target is not None:
                target.set_hot(True)
            self._target = target

    def release(self, event: QMouseEvent) -> None:
        pos = self.view.mapToScene(event.position().toPoint())
        target = self._candidate(pos)
        self.cancel()
        if target is None:
            return
        src, dst = ((self.port.layer_id, target.layer_id) if self.port.kind == "out"
                    else (target.layer_id, self.port.layer_id))
        try:
            self.view.document.connect(src, dst)
        except GraphError:
            pass  # the Document emitted editRefused with the reason; the view shows it

    def cancel(self) -> None:
        if self._target is not None:
            self._target.set_hot(False)
        if self.wire.scene() is not None:
            self.scene.removeItem(self.wire)


class MoveInteraction(Interaction):
    """Press on a block: select it; drag: move every selected block; release: one undo step."""

    cursor = Qt.CursorShape.SizeAllCursor

    def __init__(self, view: CanvasView, event: QMouseEvent, layer_id: str) -> None:
        super().__init__(view, event)
        selection = view.selection
        additive = bool(event.modifiers() & (Qt.KeyboardModifier.ControlModifier
                                             | Qt.KeyboardModifier.ShiftModifier))
        self._toggle_on_click = additive and layer_id in selection
        if additive and layer_id not in selection:
            selection.set([*selection.ids(), layer_id])
        elif not additive and layer_id not in selection:
            selection.set([layer_id])
        elif not additive:  # clicking a selected block makes it the current one
            selection.set([*[i for i in selection.ids() if i != layer_id], layer_id])
        self.scene.select_edges([])
        self.layer_id = layer_id
        self.ids = selection.ids()
        blocks = self.scene.blocks
        self.origin = {lid: blocks[lid].pos() for lid in self.ids if lid in blocks}
        self.moved = False

    def move(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if not self.moved:
            if (pos - self.start_view).manhattanLength() < DRAG_THRESHOLD:
                return
            self.moved = True
            self.scene.bring_to_front(self.origin, True)
        delta = self.view.mapToScene(pos) - self.start_scene
        self.scene.preview_positions({lid: p + delta for lid, p in self.origin.items()})

    def release(self, event: QMouseEvent) -> None:
        if not self.moved:
            if self._toggle_on_click:
                self.view.selection.toggle(self.layer_id)
            return
        self.scene.bring_to_front(self.origin, False)
        blocks = self.scene.blocks
        done = {lid: (round(blocks[lid].pos().x(), 1), round(blocks[lid].pos().y(), 1))
                for lid in self.origin if lid in blocks}
        try:
            self.view.document.move_nodes(done)
        except GraphError:
            self.cancel()

    def cancel(self) -> None:
        if self.moved:
            self.scene.bring_to_front(self.origin, False)
            self.scene.preview_positions(dict(self.origin))


class RubberBandInteraction(Interaction):
    """Press on empty canvas: drag a rectangle to select the blocks it touches; a plain click
    clears the selection. Ctrl/Shift adds to the selection."""

    def __init__(self, view: CanvasView, event: QMouseEvent) -> None:
        super().__init__(view, event)
        self.additive = bool(event.modifiers() & (Qt.KeyboardModifier.ControlModifier
                                                  | Qt.KeyboardModifier.ShiftModifier))
        self.before = view.selection.ids() if self.additive else []
        self.band = QRubberBand(QRubberBand.Shape.Rectangle, view.viewport())
        self.band.setGeometry(QRect(self.start_view, QSize()))
        self.band.show()
        self.scene.select_edges([])
        if not self.additive:
            view.selection.clear()

    def move(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        self.band.setGeometry(QRect(self.start_view, pos).normalized())
        rect = QRectF(self.start_scene, self.view.mapToScene(pos)).normalized()
        self.view.selection.set([*self.before, *self.scene.blocks_in(rect)])

    def release(self, event: QMouseEvent) -> None:
        self.cancel()

    def cancel(self) -> None:
        self.band.hide()
        self.band.deleteLater()


class UnitHeaderInteraction(Interaction):
    """Press on an expanded unit's header: its triangle collapses the unit; elsewhere the press
    selects the unit (Ctrl/Shift adds it), so Ungroup or Repeat act on it."""

    def __init__(self, view: CanvasView, event: QMouseEvent, frame: UnitFrameItem) -> None:
        super().__init__(view, event)
        self.scene.select_edges([])
        if frame.toggle_rect().contains(self.start_scene):
            view.toggle_unit(frame.unit_id)
            return
        if event.modifiers() & (Qt.KeyboardModifier.ControlModifier
                                | Qt.KeyboardModifier.ShiftModifier):
            view.selection.toggle(frame.unit_id)
        else:
            view.selection.set([frame.unit_id])


class EdgeClickInteraction(Interaction):
    """Click on an edge: select it (Delete then disconnects)."""

    def __init__(self, view: CanvasView, event: QMouseEvent, key: tuple[str, str]) -> None:
        super().__init__(view, event)
        view.selection.clear()
        self.scene.select_edges([key])


def start_interaction(view: CanvasView, event: QMouseEvent) -> Interaction | None:
    """The gesture a button press begins, from the button, the keys held and what is under it."""
    button = event.button()
    if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and view.space_held):
        return PanInteraction(view, event)
    if button != Qt.MouseButton.LeftButton:
        return None
    pos = view.mapToScene(event.position().toPoint())
    scene = view.canvas_scene
    port = scene.port_at(pos)
    if port is not None:
        if view.document.locked:
            view.show_message(f"connections cannot change while {view.document.locked_reason}")
            return None
        return ConnectInteraction(view, event, port)
    block = scene.block_at(pos)
    if block is not None:
        return MoveInteraction(view, event, block.layer_id)
    frame = scene.frame_at(pos)
    if frame is not None:
        return UnitHeaderInteraction(view, event, frame)
    edge = scene.edge_at(pos)
    if edge is not None:
        return EdgeClickInteraction(view, event, edge.key)
    return RubberBandInteraction(view, event)

