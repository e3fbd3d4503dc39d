"""Where a block dragged from the palette will go, and what it will be wired to.

Dropped on a wire, it is inserted into that wire. Dropped below the selected block, or near the
bottom of the last block of a chain (a block nothing consumes yet), it is wired to that block
when that is the only sensible choice: one candidate, the new layer takes an input, and the
validator, tried on a copy of the model, finds no error in the new layer so connected. While the
drag hovers, the wire to be made is shown as a dashed hint line (or the wire to be split is
highlighted), so the user sees the result before releasing.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsPathItem

from cnnstudio.core import routing
from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH, LAYER_GAP_Y
from cnnstudio.core.catalogue import layer_spec, resolve_entry
from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import validate
from cnnstudio.gui.canvas.block import DRAG_Z
from cnnstudio.gui.canvas.edge import EdgeItem, curve
from cnnstudio.gui.canvas.scene import CanvasScene

ROW = BLOCK_HEIGHT + LAYER_GAP_Y
#: How far below a block's bottom a drop still means "after this block".
_BELOW_SELECTED = 2.5 * ROW
_BELOW_CHAIN_END = 1.6 * ROW
#: How far off a block's centre line (sideways) it still does.
_SIDEWAYS = BLOCK_WIDTH * 0.75


@dataclass(frozen=True, slots=True)
class DropPlan:
    """``edge``: insert into this wire; else ``source``: add fed by it; else add unwired.
    ``position`` is the new block's top-left corner."""

    position: tuple[float, float]
    edge: tuple[str, str] | None = None
    source: str | None = None


def plan_drop(scene: CanvasScene, type_name: str, at: QPointF, selected: str | None,
              checked: dict[tuple[str, str], bool] | None = None) -> DropPlan:
    """What dropping ``type_name`` at scene point ``at`` does (see the module doc).
    ``checked`` remembers validator trials during one drag (the model does not change)."""
    centred = (round(at.x() - BLOCK_WIDTH / 2, 1), round(at.y() - BLOCK_HEIGHT / 2, 1))
    edge = scene.edge_at(at)
    if edge is not None:
        return DropPlan(centred, edge=edge.key)
    source = wire_source(scene.document.graph, scene.index, type_name, (at.x(), at.y()),
                         selected, checked if checked is not None else {})
    if source is None:
        return DropPlan(centred)
    sx, sy = scene.document.graph.positions.get(source, (0.0, 0.0))
    # Straight under its source, at least one row down (the user's height if lower).
    return DropPlan((sx, round(max(centred[1], sy + ROW), 1)), source=source)


def wire_source(graph: Graph, index: routing.BlockIndex, type_name: str,
                at: tuple[float, float], selected: str | None,
                checked: dict[tuple[str, str], bool]) -> str | None:
    """The one block a drop at ``at`` should be fed from, or None when there is no single
    sensible choice."""

    def ok(source: str) -> bool:
        key = (source, type_name)
        if key not in checked:
            checked[key] = sensible(graph, source, type_name)
        return checked[key]

    try:
        if layer_spec(resolve_entry(type_name)[0]).max_inputs == 0:
            return None  # an Input takes nothing
    except (KeyError, ValueError):
        return None
    x, y = at

    def above(lid: str, reach: float) -> bool:
        left, _top, right, bottom = index.rects[lid]
        return bottom <= y <= bottom + reach and abs(x - (left + right) / 2) <= _SIDEWAYS

    if selected is not None and selected in index.rects and above(selected, _BELOW_SELECTED):
        return selected if ok(selected) else None
    near = index.hits((x - _SIDEWAYS - BLOCK_WIDTH, y - _BELOW_CHAIN_END - BLOCK_HEIGHT,
                       x + _SIDEWAYS + BLOCK_WIDTH, y))
    fed = {src for layer in graph for src in layer.inputs}
    ends = [lid for lid in near if lid not in fed and lid in graph
            and above(lid, _BELOW_CHAIN_END)]
    if len(ends) != 1:
        return None
    return ends[0] if ok(ends[0]) else None


def sensible(graph: Graph, source: str, type_name: str) -> bool:
    """Does the new layer, fed by ``source``, validate without an error of its own? (Tried on
    a copy: a Conv after a Dense would be an error, so that drop stays unwired.)"""
    trial = graph.copy()
    try:
        kind, params = resolve_entry(type_name, validate(graph).layers[source].output_shape)
        lid = trial.add_layer(kind, params, inputs=[source])
    except (ValueError, KeyError):
        return False
    report = validate(trial).layers.get(lid)
    return report is not None and report.status != "error"


class DropHint:
    """The feedback while a palette drag hovers: the wire to split, or the wire to be made."""

    def __init__(self, scene: CanvasScene) -> None:
        self.scene = scene
        self.edge: EdgeItem | None = None
        self.wire = QGraphicsPathItem()
        self.wire.setPen(QPen(scene.style.accent, 2.0, Qt.PenStyle.DashLine))
        self.wire.setZValue(DRAG_Z)
        self.plan: DropPlan | None = None
        #: Validator trials of the drag in progress (see ``plan_drop``).
        self.checked: dict[tuple[str, str], bool] = {}

    def show(self, plan: DropPlan | None) -> None:
        self.plan = plan
        edge = self.scene.edges.get(plan.edge) if plan and plan.edge else None
        if edge is not self.edge:
            if self.edge is not None and self.edge.scene() is not None:
                self.edge.set_state(highlight=False)
            self.edge = edge
            if edge is not None:
                edge.set_state(highlight=True)
        source = self.scene.blocks.get(plan.source) if plan and plan.source else None
        if source is None:
            if self.wire.scene() is not None:
                self.scene.removeItem(self.wire)
            return
        end = QPointF(*routing.input_anchor(plan.position, 0, 1))  # type: ignore[union-attr]
        self.wire.setPath(curve(source.output_anchor(), end))
        if self.wire.scene() is None:
            self.scene.addItem(self.wire)

    def clear(self) -> None:
        self.show(None)
        self.checked = {}

    def hint_visible(self) -> bool:
        return self.wire.scene() is not None
