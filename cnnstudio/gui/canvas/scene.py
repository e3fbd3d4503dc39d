"""The scene: one BlockItem per layer, one EdgeItem per connection, kept in step with the model.

``sync`` runs after every change the Document announces. It matches items to layers by id and
touches only what differs: a block whose text or state changed is repainted; an edge is routed
again only when something its course or label depends on changed (its ends or their input
slots moved, its label's text, a block appearing, going or moving in the region its route
examined, or a label placed before it moving there). The result is exactly the canvas a fresh
sync would draw, so typing in the inspector repaints a few items, not three hundred.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from cnnstudio.core import routing
from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH, block_text
from cnnstudio.core.graph import Layer
from cnnstudio.core.rules import fmt_shape
from cnnstudio.core.unit_text import unit_text
from cnnstudio.core.units import visible_graph
from cnnstudio.core.validator import LayerReport, ValidationResult
from cnnstudio.gui.canvas.block import BlockItem, BlockView, PortItem
from cnnstudio.gui.canvas.edge import EdgeItem, label_width
from cnnstudio.gui.canvas.style import PARAMS_ZOOM, CanvasStyle, canvas_style
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
        #: Edge labels placed (they never overlap), ranked in the order edges are routed.
        self._labels = RankedLabels()
        #: What the last sync drew: block positions, the edges in routing order, the drawn
        #: inputs of every node, the nodes a drag preview has moved since, the items' bounds.
        self._placed: dict[str, tuple[float, float]] = {}
        self._order: list[tuple[str, str]] = []
        self._previewed: set[str] = set()
        self.blocks_moved = False
        self._bounds = QRectF()
        self._others = 0  # items on the scene that are no block, edge or frame
        #: Layer id -> (its report, what else its view was made from, the view).
        self._views: dict[str, tuple[LayerReport | None, tuple, BlockView]] = {}
        self._label_widths: dict[str, float] = {}  # label text -> its width in this style
        self._shape_texts: dict[str, tuple[LayerReport | None, str]] = {}  # see _shape_text
        document.changed.connect(self.sync)
        selection.changed.connect(self._show_selection)
        self.sync(document.result)

    def restyle(self, style: CanvasStyle | None = None) -> None:
        """Take the colours of the current palette (light/dark switch) into every item."""
        self.style = style or canvas_style()
        self._label_widths.clear()
        self.setBackgroundBrush(self.style.background)
        for item in (*self.blocks.values(), *self.edges.values()):
            item.style = self.style
            item.update()
        for edge in self.edges.values():
            edge.provisional = True  # its label's width may differ in the new fonts
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
        #: Where blocks appeared, went or moved (before and after): what routes may depend on.
        swept: list[routing.Rect] = []
        moved: set[str] = set()
        for nid in [n for n, item in self.blocks.items()
                    if n not in drawn or seen.is_unit(n) != isinstance(item, UnitBlockItem)]:
            self.removeItem(self.blocks.pop(nid))
            self._views.pop(nid, None)
            self.index.remove(nid)
            swept.append(routing.block_rect(self._placed.pop(nid)))
            moved.add(nid)
        for node in seen.nodes:
            if seen.is_unit(node):
                self._sync_unit(node, result, swept, moved)
                continue
            layer = graph.layer(node)
            item = self._block_item(layer.id, BlockItem)
            item.set_view(self._block_view(layer, result.layers.get(layer.id),
                                           tuple(problems.get(layer.id, ()))))
            self._place_block(item, graph.positions.get(layer.id, (0.0, 0.0)), swept, moved)
        self._previewed.clear()
        # Whether this sync added, removed or moved a block (the view then draws all afresh).
        self.blocks_moved = bool(moved)
        # One edge per pair of nodes drawn, keyed by the first layer edge it stands for.
        wanted: dict[tuple[str, str], tuple[str, str]] = {}
        node_inputs: dict[str, list[str]] = {node: [] for node in seen.nodes}
        drawn_edges: set[tuple[str | None, str]] = set()
        for layer in graph:
            for src in layer.inputs:
                ends = (seen.node_of.get(src), seen.node_of[layer.id])
                if ends[0] is None or ends[0] == ends[1] or ends in drawn_edges:
                    continue
                drawn_edges.add(ends)
                wanted[(src, layer.id)] = ends  # type: ignore[assignment]
                node_inputs[ends[1]].append(ends[0])  # type: ignore[arg-type]
        relabelled: list[routing.Rect] = []  # labels that went, came or moved
        geometry_changed = bool(moved)  # the items' bounds may have changed
        for key in [k for k, e in self.edges.items() if wanted.get(k) != e.ends]:
            edge = self.edges.pop(key)
            geometry_changed = geometry_changed or not self._inside_bounds(
                edge.boundingRect(), QRectF())
            self.removeItem(edge)
            self.selected_edges.discard(key)
            self._labels.remove(_label_key(key))
            if edge.placed_label is not None:
                relabelled.append(edge.placed_label)
        kept = [k for k in self._order if k in self.edges]
        everything = kept != [k for k in wanted if k in self.edges]  # the routing order changed
        # A block whose inputs moved or changed may order its input slots differently.
        fed = {dst for dst, inputs in node_inputs.items()
               if inputs != self._node_inputs.get(dst) or not moved.isdisjoint(inputs)}
        for dst in ([*self._slots] if everything else fed | moved):
            self._slots.pop(dst, None)
        self._node_inputs = node_inputs
        self._order = list(wanted)
        self._labels.rank = {_label_key(key): i for i, key in enumerate(self._order)}
        for i, (key, ends) in enumerate(wanted.items()):
            edge = self.edges.get(key)
            new = edge is None
            if edge is None:
                edge = self.edges[key] = EdgeItem(key[0], key[1], self.style)
                edge.ends = ends
                self.addItem(edge)
            edge.label_text = self._shape_text(key[0], result.layers.get(key[0]))
            # A label as wide as before (its digits changed) leaves the route as it was.
            resized = edge.label_text != edge.label and (
                self._label_width(edge.label_text) != self._label_width(edge.label)
                or bool(edge.label_text) != bool(edge.label))
            if not (new or everything or edge.provisional or resized
                    or ends[0] in moved or ends[1] in moved or ends[1] in fed
                    or edge.depends_on(swept) or edge.depends_on(relabelled)):
                if edge.label_text != edge.label:
                    edge.relabel(edge.label_text)
                continue  # nothing its course depends on has changed
            before, old_bounds = edge.placed_label, edge.boundingRect()
            self._labels.before = i  # a fresh canvas places labels in this order
            try:
                self._place_edge(edge)
            finally:
                self._labels.before = math.inf
            edge.provisional = False
            edge.placed_label = self._labels.rects.get(_label_key(key))
            if edge.placed_label != before:
                relabelled += [r for r in (before, edge.placed_label) if r is not None]
            if new or edge.boundingRect() != old_bounds:
                geometry_changed = geometry_changed or not self._inside_bounds(
                    old_bounds, edge.boundingRect())
        had_frames = bool(self.frames)
        self._sync_frames()
        self.selection.prune([*graph.ids, *graph.units.ids])
        if geometry_changed or had_frames or self.frames:
            self._grow_rect()

    def _block_view(self, layer: Layer, report: LayerReport | None,
                    messages: tuple[str, ...]) -> BlockView:
        """What ``layer``'s block shows. Remembered per layer with what it was made from: the
        validation keeps the report object of a layer an edit did not affect, so on a large
        model an edit builds the views of the few layers it changed, not of all of them."""
        alerts = self.alerts.get(layer.id, ())
        made_from = (layer.type, dict(layer.params), layer.trainable, len(layer.inputs),
                     messages, alerts)
        known = self._views.get(layer.id)
        if known is not None and known[0] is report and known[1] == made_from:
            return known[2]
        text = block_text(layer, report)
        spec = layer.spec
        view = BlockView(
            family=spec.family, title=text.title, layer_id=layer.id, shape=text.shape,
            params=text.params, status=report.status if report else "ok",
            messages=messages, description=spec.description,
            frozen=not layer.trainable and bool(spec.weights),
            has_input_port=spec.max_inputs != 0, merge=spec.is_merge,
            input_count=len(layer.inputs), alerts=alerts)
        self._views[layer.id] = (report, made_from, view)
        return view

    def _block_item(self, node: str, kind: type[BlockItem]) -> BlockItem:
        item = self.blocks.get(node)
        if item is None:
            item = self.blocks[node] = kind(node, self.style)
            self.addItem(item)
            item.set_selected(node in self.selection)
        return item

    def _place_block(self, item: BlockItem, pos: tuple[float, float],
                     swept: list[routing.Rect], moved: set[str]) -> None:
        """Put ``item`` at ``pos``; when that is not where the last sync left it, note the
        block in ``moved`` and its old and new rectangles in ``swept``."""
        node = item.layer_id
        old = self._placed.get(node)
        if old == pos and node not in self._previewed:
            return
        if item.pos() != QPointF(*pos):
            item.setPos(*pos)
        self.index.put(node, routing.block_rect(pos))
        self._placed[node] = pos
        moved.add(node)
        swept.append(routing.block_rect(pos))
        if old is not None:
            swept.append(routing.block_rect(old))

    def _sync_unit(self, uid: str, result: ValidationResult, swept: list[routing.Rect],
                   moved: set[str]) -> None:
        """A collapsed unit: one block at its entry layer's place, ports on its entry/exit."""
        graph = self.document.graph
        item = self._block_item(uid, UnitBlockItem)
        assert isinstance(item, UnitBlockItem)
        item.set_view(unit_block_view(uid, unit_text(graph, uid, result)))
        item.entry = graph.units.entry(uid)
        _, exits = graph.units.boundary(uid)
        item.exit = exits[-1] if exits else item.entry
        self._place_block(item, graph.positions.get(item.entry, (0.0, 0.0)), swept, moved)

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
        key = _label_key(edge.key)
        self._labels.remove(key)  # its own old label is no obstacle
        width = self._label_width(edge.label_text)
        course = routing.route((p1.x(), p1.y()), (p2.x(), p2.y()), self.index,
                               (src_node, dst_node), width, self._labels, key)
        edge.set_geometry(course, edge.label_text)
        edge.region = routing.influence(course, width)

    def _shape_text(self, layer_id: str, report: LayerReport | None) -> str:
        """The output shape ``layer_id``'s wires are labelled with. Remembered with the report
        it was made from: the validation keeps the report object of a layer an edit did not
        affect, so an edit formats the shapes it changed, not every wire's."""
        known = self._shape_texts.get(layer_id)
        if known is not None and known[0] is report:
            return known[1]
        text = fmt_shape(report.output_shape) if report else "?"
        if len(self._shape_texts) > 2 * len(self._views) + 64:  # layers gone: forget them
            self._shape_texts.clear()
        self._shape_texts[layer_id] = (report, text)
        return text

    def _label_width(self, label: str) -> float:
        """``edge.label_width`` in the current style, remembered (a sync asks for every edge)."""
        width = self._label_widths.get(label)
        if width is None:
            if len(self._label_widths) > 10_000:
                self._label_widths.clear()
            width = self._label_widths[label] = label_width(self.style, label)
        return width

    # --- what a small picture of the scene shows (the overview) ----------------------------
    def addItem(self, item: QGraphicsItem) -> None:  # noqa: N802 - Qt's name
        super().addItem(item)
        if not isinstance(item, BlockItem | EdgeItem | UnitFrameItem):
            self._others += 1  # a wire being dragged, a drop hint: see picture_key

    def removeItem(self, item: QGraphicsItem) -> None:  # noqa: N802 - Qt's name
        super().removeItem(item)
        if not isinstance(item, BlockItem | EdgeItem | UnitFrameItem):
            self._others -= 1

    def picture(self, zoom: float) -> Picture | None:
        """Everything the scene's items draw at ``zoom`` (a small one: the overview), as plain
        values, each item's with the scene rectangle it may paint in. When it is unchanged, so
        is every pixel of a picture of the scene at that zoom (an edit that changes only a shape
        or a count shows no change there); where it changed, only the rectangles of the items
        whose values differ can have changed. None while items of other kinds are on the scene
        (a wire being dragged, a drop hint: they are not described here)."""
        if self._others:
            return None
        labels = zoom >= PARAMS_ZOOM  # edges draw their labels from this zoom on
        items: dict[object, tuple[object, routing.Rect]] = {}
        for node, b in self.blocks.items():
            x, y = b.pos().x(), b.pos().y()
            view = b.view
            items[("block", node)] = (
                (type(b), x, y, b.selected, b.zValue(), b.opacity(), b.in_port.hot,
                 b.out_port.hot, None if view is None else (
                     view.family, tuple(b.lines_at(zoom)), view.status, view.frozen,
                     bool(view.alerts), view.has_input_port, view.merge)),
                (x - _PAINT_MARGIN, y - _PAINT_MARGIN, x + BLOCK_WIDTH + _PAINT_MARGIN,
                 y + BLOCK_HEIGHT + _PAINT_MARGIN))
        for key, e in self.edges.items():
            items[("edge", key)] = (
                (e._ends, e.selected, e.highlight, e.label if labels else None,
                 e._label_rect.getRect() if labels else None),
                _corners(e.sceneBoundingRect()))
        for uid, f in self.frames.items():
            items[("frame", uid)] = ((f.frame_rect().getRect(), f.header_rect().getRect(),
                                      f.name, f.selected, f.zValue()),
                                     _corners(f.sceneBoundingRect()))
        return Picture((id(self.style), self.backgroundBrush().color().rgba()), items)

    def content_rect(self) -> QRectF:
        """The rectangle the blocks cover (null when there are none)."""
        extent = self.index.extent()
        if extent is None:
            return QRectF()
        left, top, right, bottom = extent
        return QRectF(left, top, right - left, bottom - top)

    def _grow_rect(self) -> None:
        self._bounds = self.itemsBoundingRect()
        bounds = self._bounds.adjusted(-_MARGIN, -_MARGIN, _MARGIN, _MARGIN)
        self.setSceneRect(bounds.united(QRectF(-800, -400, 1600, 1000)))

    def _inside_bounds(self, old: QRectF, new: QRectF) -> bool:
        """Whether an item that covered ``old`` and now covers ``new`` leaves the bounds of all
        items as they were: it stays within them and did not touch their edge before."""
        inner = self._bounds.adjusted(1, 1, -1, -1)
        return (not self._bounds.isNull() and (new.isEmpty() or self._bounds.contains(new))
                and (old.isEmpty() or inner.contains(old)))

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
                self._previewed.add(lid)
        if not touched:
            return
        # Re-route only what the move can change (a drag on a large model stays smooth): the
        # edges of moved blocks, every input of a block fed by one (its slots may reorder), and
        # edges whose course or label crossed where a block was or now is. The release's sync
        # routes these again among the final labels. Edge ends are the nodes drawn (a collapsed
        # unit stands for its layers).
        fed = {edge.ends[1] for edge in self.edges.values() if edge.ends[0] in touched}
        for edge in self.edges.values():
            src, dst = edge.ends
            if (src in touched or dst in touched or dst in fed
                    or any(edge.sceneBoundingRect().intersects(r) for r in swept)):
                self._slots.pop(dst, None)
                self._place_edge(edge)
                edge.provisional = True  # routed among unfinished labels: the sync redoes it
        self._sync_frames()

    def bring_to_front(self, ids: Iterable[str], front: bool) -> None:
        from cnnstudio.gui.canvas.block import BLOCK_Z, DRAG_Z

        for lid in ids:
            item: QGraphicsItem | None = self.blocks.get(lid)
            if item is not None:
                item.setZValue(DRAG_Z if front else BLOCK_Z)


#: How far around its rectangle a block may paint (selection outline, badges, ports, a unit's
#: stacked cards), in scene units.
_PAINT_MARGIN = 24.0


@dataclass(frozen=True, slots=True)
class Picture:
    """What a picture of the scene shows (``CanvasScene.picture``): values that concern every
    item (style, background), and per item its drawn values and the rectangle it paints in."""

    common: tuple[object, ...]
    items: dict[object, tuple[object, routing.Rect]]

    def changed_rects(self, before: Picture) -> list[routing.Rect] | None:
        """Where the two pictures can differ: the before and after rectangles of the items
        whose values differ; None when a change concerns every item."""
        if self.common != before.common:
            return None
        rects = []
        for key in self.items.keys() | before.items.keys():
            now, then = self.items.get(key), before.items.get(key)
            if now != then:
                rects += [entry[1] for entry in (now, then) if entry is not None]
        return rects


def _corners(rect: QRectF) -> routing.Rect:
    return (rect.left(), rect.top(), rect.right(), rect.bottom())


def _label_key(key: tuple[str, str]) -> str:
    """An edge's key among the labels."""
    return f"{key[0]}\0{key[1]}"


class RankedLabels(routing.BlockIndex):
    """The edge labels drawn, each ranked by when its edge is routed. While ``before`` is set,
    only labels ranked earlier count as obstacles: re-routing one edge then sees exactly the
    labels it would see on a canvas drawn from scratch, where edges are routed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.rank: dict[str, int] = {}
        self.before: float = math.inf

    def hits(self, rect: routing.Rect, skip: Container[str] = ()) -> list[str]:
        found = super().hits(rect, skip)
        if self.before == math.inf:
            return found
        return [key for key in found if self.rank.get(key, -1) < self.before]
