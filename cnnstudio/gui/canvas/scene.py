"""The scene: one BlockItem per layer, one EdgeItem per connection, kept in step with the model.

``sync`` runs after every change the Document announces. It matches items to layers by id and
touches only what differs (a block whose text, state or position changed; an edge whose ends
moved), so typing in the inspector repaints one block, not three hundred.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from cnnstudio.core import routing
from cnnstudio.core.appearance import block_text
from cnnstudio.core.rules import fmt_shape
from cnnstudio.core.validator import ValidationResult
from cnnstudio.gui.canvas.block import BlockItem, BlockView, PortItem
from cnnstudio.gui.canvas.edge import EdgeItem, label_width
from cnnstudio.gui.canvas.style import CanvasStyle, canvas_style
from cnnstudio.gui.document import Document
from cnnstudio.gui.selection import Selection

#: Empty room around the drawing, so there is always space to drop a new block or pan.
_MARGIN = 600.0


class CanvasScene(QGraphicsScene):
    def __init__(self, document: Document, selection: Selection,
                 style: CanvasStyle | None = None) -> None:
        super().__init__()
        self.document = document
        self.selection = selection
        self.style = style or canvas_style()
        self.setBackgroundBrush(self.style.background)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.blocks: dict[str, BlockItem] = {}
        self.alerts: dict[str, tuple[str, ...]] = {}
        self.edges: dict[tuple[str, str], EdgeItem] = {}
        self.selected_edges: set[tuple[str, str]] = set()
        #: Where every block stands, for routing edges around them (Qt's own index would ask
        #: every edge item for its bounds on each query).
        self.index = routing.BlockIndex()
        self._slots: dict[str, dict[str, int]] = {}
        self._labels = routing.BlockIndex()  # edge labels placed so far (they never overlap)
        document.changed.connect(self.sync)
        selection.changed.connect(self._show_selection)
        self.sync(document.result)

    # --- model -> items ---------------------------------------------------------------------
    def set_alerts(self, alerts: dict[str, tuple[str, ...]]) -> None:
        """Mark blocks with training alerts (layer id -> messages); an empty dict clears."""
        if alerts != self.alerts:
            self.alerts = dict(alerts)
            self.sync(self.document.result)

    def sync(self, result: ValidationResult) -> None:
        graph = self.document.graph
        problems: dict[str, list[str]] = {}
        for p in result.problems:
            if p.layer is not None:
                problems.setdefault(p.layer, []).append(p.message)
        for lid in [lid for lid in self.blocks if lid not in graph]:
            self.removeItem(self.blocks.pop(lid))
            self.index.remove(lid)
        for layer in graph:
            report = result.layers.get(layer.id)
            text = block_text(layer, report)
            spec = layer.spec
            view = BlockView(
                family=spec.family, title=text.title, layer_id=layer.id, shape=text.shape,
                params=text.params, status=report.status if report else "ok",
                messages=tuple(problems.get(layer.id, ())), description=spec.description,
                frozen=not layer.trainable and bool(spec.weights),
                has_input_port=spec.max_inputs != 0, merge=spec.is_merge,
                input_count=len(layer.inputs), alerts=self.alerts.get(layer.id, ()))
            item = self.blocks.get(layer.id)
            if item is None:
                item = self.blocks[layer.id] = BlockItem(layer.id, self.style)
                self.addItem(item)
                item.set_selected(layer.id in self.selection)
            item.set_view(view)
            x, y = graph.positions.get(layer.id, (0.0, 0.0))
            if item.pos() != QPointF(x, y):
                item.setPos(x, y)
            self.index.put(layer.id, routing.block_rect((x, y)))
        self._slots = {}
        self._labels = routing.BlockIndex()
        wanted = {}
        for layer in graph:
            for src in layer.inputs:
                if src in self.blocks:
                    wanted[(src, layer.id)] = None
        for key in [k for k in self.edges if k not in wanted]:
            self.removeItem(self.edges.pop(key))
            self.selected_edges.discard(key)
        for key in wanted:
            edge = self.edges.get(key)
            if edge is None:
                edge = self.edges[key] = EdgeItem(key[0], key[1], self.style)
                self.addItem(edge)
            report = result.layers.get(key[0])
            edge.label_text = fmt_shape(report.output_shape) if report else "?"
            self._place_edge(edge)
        self.selection.prune(graph.ids)
        self._grow_rect()

    def _place_edge(self, edge: EdgeItem) -> None:
        """Route an edge from its source's output to its slot on the target's top edge, around
        any block in the way (``core.routing``, as the exported diagram does)."""
        slots = self._slots.get(edge.dst)
        if slots is None:
            where = {lid: (item.x(), item.y()) for lid in self.document.graph.layer(edge.dst).inputs
                     if (item := self.blocks.get(lid)) is not None}
            slots = self._slots[edge.dst] = routing.input_slots(list(where), where)
        src, dst = self.blocks[edge.src], self.blocks[edge.dst]
        p1 = src.output_anchor()
        p2 = dst.input_anchor(slots.get(edge.src, 0), len(slots))
        key = f"{edge.src}\0{edge.dst}"
        self._labels.remove(key)  # its own old label is no obstacle
        course = routing.route((p1.x(), p1.y()), (p2.x(), p2.y()), self.index,
                               (edge.src, edge.dst), label_width(self.style, edge.label_text),
                               self._labels, key)
        edge.set_geometry(course, edge.label_text)

    def content_rect(self) -> QRectF:
        """The rectangle the blocks cover (null when there are none)."""
        extent = self.index.extent()
        if extent is None:
            return QRectF()
        left, top, right, bottom = extent
        return QRectF(left, top, right - left, bottom - top)

    def _grow_rect(self) -> None:
        bounds = self.itemsBoundingRect().adjusted(-_MARGIN, -_MARGIN, _MARGIN, _MARGIN)
        self.setSceneRect(bounds.united(QRectF(-800, -400, 1600, 1000)))

    def _show_selection(self, ids: list[str]) -> None:
        chosen = set(ids)
        for lid, item in self.blocks.items():
            item.set_selected(lid in chosen)
        if chosen and self.selected_edges:
            self.select_edges([])

    # --- queries for the interactions -------------------------------------------------------
    def block_at(self, pos: QPointF) -> BlockItem | None:
        for item in self.items(pos):
            if isinstance(item, BlockItem):
                return item
        return None

    def port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem) and item.isVisible():
                return item
        return None

    def edge_at(self, pos: QPointF) -> EdgeItem | None:
        for item in self.items(pos):
            if isinstance(item, EdgeItem):
                return item
        return None

    def blocks_in(self, rect: QRectF) -> list[str]:
        return [item.layer_id for item in self.items(rect) if isinstance(item, BlockItem)]

    def select_edges(self, keys: Iterable[tuple[str, str]]) -> None:
        self.selected_edges = set(keys)
        for key, edge in self.edges.items():
            edge.set_state(selected=key in self.selected_edges)

    # --- live feedback during a drag (the Document records the result on release) -----------
    def preview_positions(self, positions: dict[str, QPointF]) -> None:
        touched: set[str] = set()
        swept: list[QRectF] = []  # where the moved blocks were and are
        for lid, pos in positions.items():
            item = self.blocks.get(lid)
            if item is not None and item.pos() != pos:
                swept.append(item.sceneBoundingRect())
                item.setPos(pos)
                swept.append(item.sceneBoundingRect())
                self.index.put(lid, routing.block_rect((pos.x(), pos.y())))
                touched.add(lid)
        if not touched:
            return
        # Re-route only what the move can change (a drag on a large model stays smooth): the
        # edges of moved blocks, every input of a block fed by one (its slots may reorder), and
        # edges whose course or label crossed where a block was or now is. The release re-syncs
        # everything.
        fed = {dst for (src, dst) in self.edges if src in touched}
        for key, edge in self.edges.items():
            src, dst = key
            if (src in touched or dst in touched or dst in fed
                    or any(edge.sceneBoundingRect().intersects(r) for r in swept)):
                self._slots.pop(dst, None)
                self._place_edge(edge)

    def bring_to_front(self, ids: Iterable[str], front: bool) -> None:
        from cnnstudio.gui.canvas.block import BLOCK_Z, DRAG_Z

        for lid in ids:
            item: QGraphicsItem | None = self.blocks.get(lid)
            if item is not None:
                item.setZValue(DRAG_Z if front else BLOCK_Z)
