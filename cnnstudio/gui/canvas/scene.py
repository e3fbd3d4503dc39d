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
from cnnstudio.core.unit_text import unit_text
from cnnstudio.core.units import visible_graph
from cnnstudio.core.validator import ValidationResult
from cnnstudio.gui.canvas.block import BlockItem, BlockView, PortItem
from cnnstudio.gui.canvas.edge import EdgeItem, label_width
from cnnstudio.gui.canvas.style import CanvasStyle, canvas_style
from cnnstudio.gui.canvas.unit_items import (
    UnitBlockItem,
    UnitFrameItem,
    unit_block_view,
)
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
        #: One block per node drawn: a layer, or a collapsed unit (UnitBlockItem).
        self.blocks: dict[str, BlockItem] = {}
        #: One frame per expanded unit that is shown.
        self.frames: dict[str, UnitFrameItem] = {}
        self._node_inputs: dict[str, list[str]] = {}
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

    def restyle(self, style: CanvasStyle | None = None) -> None:
        """Take the colours of the current palette (light/dark switch) into every item."""
        self.style = style or canvas_style()
        self.setBackgroundBrush(self.style.background)
        for item in (*self.blocks.values(), *self.edges.values()):
            item.style = self.style
            item.update()
        self.update()

    # --- model -> items ---------------------------------------------------------------------
    def set_alerts(self, alerts: dict[str, tuple[str, ...]]) -> None:
        """Mark blocks with training alerts (layer id -> messages); an empty dict clears."""
        if alerts != self.alerts:
            self.alerts = dict(alerts)
            self.sync(self.document.result)

    def sync(self, result: ValidationResult) -> None:
        graph = self.document.graph
        seen = visible_graph(graph)
        problems: dict[str, list[str]] = {}
        for p in result.problems:
            if p.layer is not None:
                problems.setdefault(p.layer, []).append(p.message)
        drawn = set(seen.nodes)
        for nid in [n for n, item in self.blocks.items()
                    if n not in drawn or seen.is_unit(n) != isinstance(item, UnitBlockItem)]:
            self.removeItem(self.blocks.pop(nid))
            self.index.remove(nid)
        for node in seen.nodes:
            if seen.is_unit(node):
                self._sync_unit(node, result)
                continue
            layer = graph.layer(node)
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
            item = self._block_item(layer.id, BlockItem)
            item.set_view(view)
            self._place_block(item, graph.positions.get(layer.id, (0.0, 0.0)))
        self._slots = {}
        self._labels = routing.BlockIndex()
        # One edge per pair of nodes drawn, keyed by the first layer edge it stands for.
        wanted: dict[tuple[str, str], tuple[str, str]] = {}
        self._node_inputs = {node: [] for node in seen.nodes}
        drawn_edges: set[tuple[str | None, str]] = set()
        for layer in graph:
            for src in layer.inputs:
                ends = (seen.node_of.get(src), seen.node_of[layer.id])
                if ends[0] is None or ends[0] == ends[1] or ends in drawn_edges:
                    continue
                drawn_edges.add(ends)
                wanted[(src, layer.id)] = ends  # type: ignore[assignment]
                self._node_inputs[ends[1]].append(ends[0])  # type: ignore[arg-type]
        for key in [k for k, e in self.edges.items() if wanted.get(k) != e.ends]:
            self.removeItem(self.edges.pop(key))
            self.selected_edges.discard(key)
        for key, ends in wanted.items():
            edge = self.edges.get(key)
            if edge is None:
                edge = self.edges[key] = EdgeItem(key[0], key[1], self.style)
                edge.ends = ends
                self.addItem(edge)
            report = result.layers.get(key[0])
            edge.label_text = fmt_shape(report.output_shape) if report else "?"
            self._place_edge(edge)
        self._sync_frames()
        self.selection.prune([*graph.ids, *graph.units.ids])
        self._grow_rect()

    def _block_item(self, node: str, kind: type[BlockItem]) -> BlockItem:
        item = self.blocks.get(node)
        if item is None:
            item = self.blocks[node] = kind(node, self.style)
            self.addItem(item)
            item.set_selected(node in self.selection)
        return item

    def _place_block(self, item: BlockItem, pos: tuple[float, float]) -> None:
        if item.pos() != QPointF(*pos):
            item.setPos(*pos)
        self.index.put(item.layer_id, routing.block_rect(pos))

    def _sync_unit(self, uid: str, result: ValidationResult) -> None:
        """A collapsed unit: one block at its entry layer's place, ports on its entry/exit."""
        graph = self.document.graph
        item = self._block_item(uid, UnitBlockItem)
        assert isinstance(item, UnitBlockItem)
        item.set_view(unit_block_view(uid, unit_text(graph, uid, result)))
        item.entry = graph.units.entry(uid)
        _, exits = graph.units.boundary(uid)
        item.exit = exits[-1] if exits else item.entry
        self._place_block(item, graph.positions.get(item.entry, (0.0, 0.0)))

    def _sync_frames(self) -> None:
        """A frame around every expanded unit that is shown, nested frames inside outer ones."""
        units = self.document.graph.units
        shown = [u for u in units if not u.collapsed and units.is_shown(u.id)]
        for uid in [u for u in self.frames if u not in {s.id for s in shown}]:
            self.removeItem(self.frames.pop(uid))
        depth: dict[str, int] = {}
        for unit in sorted(shown, key=lambda u: -len(units.ancestors(u.id))):  # innermost first
            blocks: dict[str, QRectF] = {}
            for lid in units.layers(unit.id):
                node = lid if lid in self.blocks else units.node_for(lid)
                if (item := self.blocks.get(node)) is not None:
                    blocks[node] = item.mapRectToScene(item.rect())
            depth[unit.id] = max([depth[c] + 1 for c in units.children(unit.id) if c in depth],
                                 default=0)
            entry = self.blocks.get(self.node_of(units.entry(unit.id)))
            frame = self.frames.get(unit.id)
            if frame is None:
                frame = self.frames[unit.id] = UnitFrameItem(unit.id, self.style)
                self.addItem(frame)
            if entry is not None and blocks:
                frame.set_frame(list(blocks.values()), entry.mapRectToScene(entry.rect()),
                                unit.name, depth[unit.id])
            frame.set_selected(unit.id in self.selection)

    def _place_edge(self, edge: EdgeItem) -> None:
        """Route an edge from its source's output to its slot on the target's top edge, around
        any block in the way (``core.routing``, as the exported diagram does). Its ends are the
        nodes drawn: the layers, or the collapsed units standing for them."""
        src_node, dst_node = edge.ends
        slots = self._slots.get(dst_node)
        if slots is None:
            where = {n: (item.x(), item.y()) for n in self._node_inputs.get(dst_node, [])
                     if (item := self.blocks.get(n)) is not None}
            slots = self._slots[dst_node] = routing.input_slots(list(where), where)
        src, dst = self.blocks[src_node], self.blocks[dst_node]
        p1 = src.output_anchor()
        p2 = dst.input_anchor(slots.get(src_node, 0), len(slots))
        key = f"{edge.src}\0{edge.dst}"
        self._labels.remove(key)  # its own old label is no obstacle
        course = routing.route((p1.x(), p1.y()), (p2.x(), p2.y()), self.index,
                               (src_node, dst_node), label_width(self.style, edge.label_text),
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
        for uid, frame in self.frames.items():
            frame.set_selected(uid in chosen)
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

    def frame_at(self, pos: QPointF) -> UnitFrameItem | None:
        """The expanded unit whose header is under ``pos`` (frames take clicks only there)."""
        for item in self.items(pos):
            if isinstance(item, UnitFrameItem) and item.header_rect().contains(pos):
                return item
        return None

    def node_of(self, layer_id: str) -> str:
        """The node drawn for a layer: itself, or the collapsed unit hiding it."""
        if layer_id in self.blocks or layer_id not in self.document.graph:
            return layer_id
        return self.document.graph.units.node_for(layer_id)

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
        # everything. Edge ends are the nodes drawn (a collapsed unit stands for its layers).
        fed = {edge.ends[1] for edge in self.edges.values() if edge.ends[0] in touched}
        for edge in self.edges.values():
            src, dst = edge.ends
            if (src in touched or dst in touched or dst in fed
                    or any(edge.sceneBoundingRect().intersects(r) for r in swept)):
                self._slots.pop(dst, None)
                self._place_edge(edge)
        self._sync_frames()

    def bring_to_front(self, ids: Iterable[str], front: bool) -> None:
        from cnnstudio.gui.canvas.block import BLOCK_Z, DRAG_Z

        for lid in ids:
            item: QGraphicsItem | None = self.blocks.get(lid)
            if item is not None:
                item.setZValue(DRAG_Z if front else BLOCK_Z)
