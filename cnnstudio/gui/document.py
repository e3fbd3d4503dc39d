"""The open model: the one path by which anything in the window changes it.

Palette, canvas, inspector, fixes and menus call the edit methods below; each pushes exactly one
undo step onto ``undo_stack`` (see ``gui.commands``) and then ``changed`` carries the new
validation result to every view. The graph itself stays a plain ``core`` object: views read it,
never write it.

Undo policy: every edit is undoable, including "New" and "New from template" (one step that
replaces the whole model, so a misclick on a template never loses work). Opening a file or
restoring a recovery copy starts a fresh history (``load_graph`` clears the stack): undoing into a
different file's model would make "which file am I editing?" ambiguous.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QSaveFile, Signal
from PySide6.QtGui import QUndoStack

from cnnstudio.core import modelfile
from cnnstudio.core.catalogue import layer_spec, resolve_entry
from cnnstudio.core.graph import Graph, GraphError
from cnnstudio.core.incremental import IncrementalValidator
from cnnstudio.core.layout import (
    DEFAULT_TARGET,
    LayoutReport,
    auto_layout,
    free_offset,
    make_room,
)
from cnnstudio.core.unit_ops import (
    copies_of,
    fold_shift,
    group_plan,
    node_layers,
    pasted_units,
    repeat_plan,
    unique_id,
    whole_units,
)
from cnnstudio.core.units import Unit, UnitError, Units
from cnnstudio.core.validator import ValidationResult
from cnnstudio.gui.commands import (
    AddLayer,
    EditCommand,
    EditUnits,
    Move,
    Op,
    RemoveLayer,
    Rename,
    ReplaceGraph,
    SetInputs,
    SetParam,
    SetTrainable,
    apply_ops,
)

#: Where a block goes below the one it follows (insert_after) when the layout has no better idea.
_BELOW = 100.0
#: The largest model the canvas draws (one item per layer and per connection; beyond this the
#: window would take minutes and gigabytes to open it). The command line has no such limit.
MAX_DISPLAY_LAYERS = 5_000
MAX_DISPLAY_CONNECTIONS = 10_000


def too_large_to_show(graph: Graph, source: str) -> str | None:
    """Why ``graph`` cannot be shown in the window, or None when it can."""
    layers = len(graph)
    edges = sum(len(layer.inputs) for layer in graph)
    if layers <= MAX_DISPLAY_LAYERS and edges <= MAX_DISPLAY_CONNECTIONS:
        return None
    return (f"{source}: {layers:,} layers and {edges:,} connections are more than the designer "
            f"window shows ({MAX_DISPLAY_LAYERS:,} layers, {MAX_DISPLAY_CONNECTIONS:,} "
            "connections); `cnnstudio summary` and `cnnstudio export` work on it")


class Document(QObject):
    """Owns the graph, its file path, the undo stack and the clean state."""

    #: The new ValidationResult, after every change (edit, undo, redo, load).
    changed = Signal(object)
    pathChanged = Signal(str)  # "" when the model has no file yet
    cleanChanged = Signal(bool)
    #: Why an edit was refused (cycle, too many inputs, training running, ...).
    editRefused = Signal(str)
    lockedChanged = Signal(bool, str)  # (locked, reason)
    #: A layer's id changed (rename, or its undo): selections follow it instead of losing it.
    renamed = Signal(str, str)
    #: The whole model was swapped (open, New, template, or undo/redo of those): views that
    #: keep a scroll position for the old model should show the new one from the start.
    graphReplaced = Signal()

    def __init__(self, graph: Graph | None = None, path: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.graph: Graph = Graph("Untitled")
        self.path: Path | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self.cleanChanged)
        self.undo_stack.indexChanged.connect(self._stack_moved)
        self._stack_index = self.undo_stack.index()
        self._replay_refused = False
        self._restoring_index = False
        self._result: ValidationResult | None = None
        #: Revalidates only the layers an edit can change (equal to a full validation).
        self._validator = IncrementalValidator()
        self._locked_reason = ""
        self._macro: list[Op] | None = None
        self._macro_text = ""
        self._macro_notify = False
        #: The view size (pixels) automatic layouts are shaped for; the canvas keeps it current.
        self.layout_target: tuple[float, float] = DEFAULT_TARGET
        #: What the last automatic layout did (which method, how much work).
        self.layout_report = LayoutReport()
        if graph is not None:
            self.load_graph(graph, path)

    # --- reading ----------------------------------------------------------------------------
    @property
    def result(self) -> ValidationResult:
        """Validation of the current graph, computed once per change, incrementally."""
        if self._result is None:
            self._result = self._validator.validate(self.graph)
        return self._result

    def is_clean(self) -> bool:
        return self.undo_stack.isClean()

    @property
    def locked(self) -> bool:
        return bool(self._locked_reason)

    @property
    def locked_reason(self) -> str:
        return self._locked_reason

    def set_locked(self, locked: bool, reason: str = "training is running") -> None:
        """Refuse structural edits (while training uses the network); moving blocks stays free."""
        new = (reason or "locked") if locked else ""
        if new != self._locked_reason:
            self._locked_reason = new
            self.lockedChanged.emit(bool(new), new)

    def display_name(self) -> str:
        return self.path.name if self.path else (self.graph.name or "Untitled")

    def fragment(self, ids: Iterable[str]) -> dict[str, Any]:
        """A model document holding only ``ids``, the edges among them and the units they
        hold whole (copy / duplicate)."""
        keep = [lid for lid in self.graph.ids if lid in set(ids)]
        sub = Graph(self.graph.name)
        for lid in keep:
            layer = self.graph.layer(lid)
            sub.add_layer(layer.type, layer.params, layer_id=lid,
                          inputs=[s for s in layer.inputs if s in sub],
                          trainable=layer.trainable, position=self.graph.positions.get(lid))
        for unit in whole_units(self.graph, keep):
            sub.units.add(unit.id, unit.name, unit.members, parent=unit.parent,
                          collapsed=unit.collapsed)
        return modelfile.to_document(sub)

    # --- edits ------------------------------------------------------------------------------
    def _entry(self, name: str, fed_by: str | None) -> tuple[str, dict[str, Any]]:
        """A palette name (a type or a preset such as DepthwiseConv2D) -> (type, params), the
        preset's params fitted to the shape ``fed_by`` outputs."""
        rep = self.result.layers.get(fed_by) if fed_by is not None else None
        return resolve_entry(name, rep.output_shape if rep is not None else None)

    def add_layer(self, type_name: str, params: Mapping[str, Any] | None = None,
                  position: tuple[float, float] | None = None,
                  inputs: Sequence[str] | None = None) -> str:
        """Add a block (at ``position``, else below the last block); returns its id.
        ``type_name`` may be a palette preset."""
        kind, preset = self._entry(type_name, inputs[0] if inputs else None)
        lid = self.graph.new_id(type_name)
        if position is None:
            position = self._free_position()
        ops: list[Op] = [AddLayer(kind, {**preset, **dict(params or {})}, lid,
                                  list(inputs or ()), position=position)]
        self._edit(f"Add {type_name}", ops + self._room_for(ops))
        return lid

    def insert_after(self, type_name: str, after_id: str) -> str:
        """New layer fed by ``after_id``; what ``after_id`` fed is now fed by the new layer."""
        self._require(after_id)
        kind, preset = self._entry(type_name, after_id)
        if layer_spec(kind).max_inputs == 0:  # an Input feeds on nothing: just add it
            x, y = self.graph.positions.get(after_id, (0.0, 0.0))
            return self.add_layer(type_name, position=(x + 260.0, y))
        lid = self.graph.new_id(type_name)
        x, y = self.graph.positions.get(after_id, (0.0, 0.0))
        ops: list[Op] = [AddLayer(kind, preset or None, lid, feedable_inputs(kind, [after_id]),
                                  position=(x, y + _BELOW),
                                  index=self.graph.index_of(after_id) + 1)]
        for cid in self.graph.consumers(after_id):
            new_inputs = [lid if s == after_id else s for s in self.graph.layer(cid).inputs]
            ops.append(SetInputs(cid, new_inputs))
        ops += self._shift_down(after_id, self.graph.consumers(after_id))
        self._edit(f"Insert {type_name} after {after_id}", ops + self._room_for(ops))
        return lid

    def insert_before(self, type_name: str, layer_id: str) -> str:
        """New layer between ``layer_id`` and its inputs (the fix "insert Flatten before Dense")."""
        target = self._require(layer_id)
        lid = self.graph.new_id(type_name)
        x, y = self.graph.positions.get(layer_id, (0.0, 0.0))
        ops: list[Op] = [
            AddLayer(type_name, None, lid, feedable_inputs(type_name, target.inputs),
                     position=(x, y), index=self.graph.index_of(layer_id)),
            SetInputs(layer_id, [lid]),
        ]
        ops += self._shift_down(None, [layer_id])
        self._edit(f"Insert {type_name} before {layer_id}", ops + self._room_for(ops))
        return lid

    def insert_on_edge(self, type_name: str, src: str, dst: str,
                       position: tuple[float, float] | None = None) -> str:
        """Split the edge src -> dst with a new layer (drop onto an edge)."""
        target = self._require(dst)
        self._require(src)
        if src not in target.inputs:
            self._refuse(f"{src} does not feed {dst}")
        kind, preset = self._entry(type_name, src)
        lid = self.graph.new_id(type_name)
        if position is None:
            (x1, y1), (x2, y2) = (self.graph.positions.get(i, (0.0, 0.0)) for i in (src, dst))
            position = ((x1 + x2) / 2, (y1 + y2) / 2)
        ops: list[Op] = [
            AddLayer(kind, preset or None, lid, [src], position=position,
                     index=self.graph.index_of(dst)),
            SetInputs(dst, [lid if s == src else s for s in target.inputs]),
        ]
        self._edit(f"Insert {type_name} between {src} and {dst}", ops + self._room_for(ops))
        return lid

    def remove_layers(self, ids: Iterable[str]) -> None:
        ids = [lid for lid in dict.fromkeys(ids)]
        for lid in ids:
            self._require(lid)
        if ids:
            what = ids[0] if len(ids) == 1 else f"{len(ids)} layers"
            self._edit(f"Delete {what}", [RemoveLayer(lid) for lid in ids])

    def remove_bridged(self, layer_id: str) -> None:
        """Delete a one-input layer and feed what it fed from its input instead (one undo
        step): the fix for a shape-preserving layer in the wrong place, such as a Softmax in
        the middle of a network."""
        layer = self._require(layer_id)
        if len(layer.inputs) != 1:
            self._refuse(f"{layer_id} has {len(layer.inputs)} inputs; only a layer with one "
                         "input can be removed and bridged")
        src = layer.inputs[0]
        ops: list[Op] = [SetInputs(cid, [src if s == layer_id else s
                                         for s in self.graph.layer(cid).inputs])
                         for cid in self.graph.consumers(layer_id)]
        ops.append(RemoveLayer(layer_id))
        self._edit(f"Remove {layer_id}", ops)

    def connect(self, src: str, dst: str) -> None:
        self._edit(f"Connect {src} to {dst}",
                   [SetInputs(dst, [], apply=lambda g: g.connect(src, dst))])

    def disconnect(self, src: str, dst: str) -> None:
        self._edit(f"Disconnect {src} from {dst}",
                   [SetInputs(dst, [], apply=lambda g: g.disconnect(src, dst))])

    def set_param(self, layer_id: str, name: str, value: Any) -> None:
        """Consecutive changes of one param (typing in a spin box) merge into one undo step."""
        self._require(layer_id)
        if self.graph.layer(layer_id).params.get(name, object()) == value:
            return
        self._edit(f"Set {layer_id}.{name}", [SetParam(layer_id, name, value)],
                   merge_key=(layer_id, name))

    def set_params(self, layer_id: str, values: Mapping[str, Any]) -> None:
        self._require(layer_id)
        ops: list[Op] = [SetParam(layer_id, k, v) for k, v in values.items()]
        if ops:
            self._edit(f"Set {', '.join(values)} of {layer_id}", ops)

    def rename(self, old: str, new: str) -> None:
        self._require(old)
        if new != old:
            self._edit(f"Rename {old} to {new}", [Rename(old, new)])

    def set_trainable(self, layer_id: str, flag: bool) -> None:
        if self._require(layer_id).trainable != bool(flag):
            self._edit(("Unfreeze " if flag else "Freeze ") + layer_id,
                       [SetTrainable(layer_id, flag)])

    def move_layers(self, positions: Mapping[str, tuple[float, float]]) -> None:
        """Record a finished drag (one undo step for every block moved)."""
        ops: list[Op] = [Move(lid, pos) for lid, pos in positions.items()
                         if self.graph.positions.get(lid) != (float(pos[0]), float(pos[1]))]
        if ops:
            self._edit("Move" if len(ops) > 1 else f"Move {ops[0].layer_id}", ops)  # type: ignore

    def auto_layout(self) -> None:
        self.layout_report = LayoutReport()
        self.move_layers(auto_layout(self.graph, target=self.layout_target,
                                     report=self.layout_report))

    def paste(self, document: Mapping[str, Any],
              offset: tuple[float, float] = (30.0, 30.0)) -> list[str]:
        """Add the layers of a model document (from ``fragment``), ids made unique, internal
        edges kept, positions shifted by ``offset``, and its units around them (fresh ids,
        numbered names); one undo step. Returns the new layer ids."""
        try:
            piece = modelfile.from_document(dict(document), "clipboard")
        except modelfile.ModelFileError as exc:
            self._refuse(str(exc))
        if len(piece) + len(self.graph) > MAX_DISPLAY_LAYERS:
            self._refuse(f"pasting {len(piece):,} layers would make the model larger than the "
                         f"{MAX_DISPLAY_LAYERS:,} layers the window shows")
        missing = auto_layout(piece)
        taken = set(self.graph.ids) | set(self.graph.units.ids)
        renamed: dict[str, str] = {}
        ops: list[Op] = []
        for layer in piece:  # ids first, so an input listed after its consumer is kept too
            new = unique_id(layer.id, taken)  # c1 -> c1_2, a copy of c1_2 -> c1_3
            taken.add(new)
            renamed[layer.id] = new
        where = {lid: piece.positions.get(lid, missing[lid]) for lid in piece.ids}
        dx, dy = free_offset(self.graph.positions, where, offset)
        for lid in piece.topological_order():  # inputs before the layers they feed
            layer = piece.layer(lid)
            x, y = where[lid]
            ops.append(AddLayer(layer.type, layer.params, renamed[layer.id],
                                [renamed[s] for s in layer.inputs if s in renamed],
                                layer.trainable, (round(x + dx, 1), round(y + dy, 1))))
        units = pasted_units(piece.units, renamed, taken, {u.name for u in self.graph.units})
        if ops:
            added = [EditUnits(lambda all_units: _add_units(all_units, units))] if units else []
            self._edit(f"Paste {len(ops)} layer{'s' if len(ops) > 1 else ''}",
                       ops + added + self._room_for(ops))
        return list(renamed.values())

    # --- units (how the model is drawn; each edit is one undo step) --------------------------
    def layers_of(self, nodes: Iterable[str]) -> list[str]:
        """The layers behind canvas nodes (a layer, or every layer of a unit), in file order."""
        chosen: set[str] = set()
        for node in nodes:
            if node in self.graph or node in self.graph.units:
                chosen.update(node_layers(self.graph, node))
        return [lid for lid in self.graph.ids if lid in chosen]

    def group(self, nodes: Iterable[str], name: str | None = None) -> str:
        """Group blocks (and units) as a new unit, shown collapsed; returns its id."""
        members, parent = self._unit_call(lambda: group_plan(self.graph, list(nodes)))
        uid = self.graph.units.next_id()
        name = name or f"Unit {uid.rsplit('_', 1)[-1]}"
        with self.macro(f"Group {len(members)} layers as {name!r}"):
            self._edit("Group", [EditUnits(lambda u: u.add(uid, name, members, parent=parent))])
            self.set_collapsed(uid, True)
        return uid

    def ungroup(self, unit_id: str) -> None:
        """Remove the unit (expanding it first); its layers and nested units stay."""
        unit = self._require_unit(unit_id)
        with self.macro(f"Ungroup {unit.name!r}"):
            self.set_collapsed(unit_id, False)
            self._edit("Ungroup", [EditUnits(lambda u: u.remove(unit_id))])

    def set_collapsed(self, unit_id: str, collapsed: bool) -> None:
        """Collapse to one block or expand in place: the blocks below move up or down."""
        unit = self._require_unit(unit_id)
        if unit.collapsed == bool(collapsed):
            return
        if self.graph.positions == auto_layout(self.graph):
            # An automatic layout stays one: laid out again with the unit folded or unfolded.
            after = self.graph.copy()
            after.units.set_collapsed(unit_id, collapsed)
            moves = {lid: pos for lid, pos in auto_layout(after).items()
                     if self.graph.positions.get(lid) != pos}
        else:  # the user's own arrangement: only the blocks below move, up or down
            moves = fold_shift(self.graph, unit_id, collapse=bool(collapsed))
        ops: list[Op] = [EditUnits(lambda u: u.set_collapsed(unit_id, collapsed))]
        ops += [Move(lid, pos) for lid, pos in moves.items()]
        self._edit(("Collapse " if collapsed else "Expand ") + repr(unit.name), ops)

    def rename_unit(self, unit_id: str, name: str) -> None:
        unit = self._require_unit(unit_id)
        if name.strip() and name.strip() != unit.name:
            self._edit(f"Rename unit {unit.name!r}",
                       [EditUnits(lambda u: u.rename(unit_id, name))])

    def repeat_unit(self, unit_id: str, count: int) -> list[str]:
        """"N more like this": ``count`` copies wired in sequence after the unit, each with its
        own layers (fresh ids, own weights); returns the new units' ids."""
        unit = self._require_unit(unit_id)
        plan = self._unit_call(lambda: repeat_plan(self.graph, unit_id, count))
        ops: list[Op] = [Move(lid, pos) for lid, pos in plan.moves.items()]
        ops += [AddLayer(n.type, n.params, n.id, n.inputs, n.trainable, n.position, n.index)
                for n in plan.layers]
        ops += [SetInputs(cid, inputs) for cid, inputs in plan.rewire.items()]

        ops.append(EditUnits(lambda units: _add_units(units, plan.units)))
        self._edit(f"Repeat {unit.name!r} {count} more time{'s' if count != 1 else ''}", ops)
        return [u.id for u in plan.units if u.parent == unit.parent]

    def copies_of(self, layer_id: str, param: str | None = None) -> list[str]:
        """The matching layers in the other copies of the layer's unit, copies that may differ
        from it in ``param`` only (see core.unit_ops)."""
        return copies_of(self.graph, layer_id, param) if layer_id in self.graph else []

    def apply_to_copies(self, layer_id: str, name: str) -> list[str]:
        """Give the matching layer of every copy of its unit this layer's value of ``name``;
        returns the layers changed (one undo step)."""
        value = self._require(layer_id).params[name]
        targets = [c for c in self.copies_of(layer_id, name)
                   if self.graph.layer(c).params.get(name) != value]
        if targets:
            self._edit(f"Set {name} in {len(targets)} cop{'ies' if len(targets) > 1 else 'y'}",
                       [SetParam(c, name, value) for c in targets])
        return targets

    def move_nodes(self, positions: Mapping[str, tuple[float, float]]) -> None:
        """Record a drag of canvas nodes: a unit's block carries all its layers along."""
        layer_moves: dict[str, tuple[float, float]] = {}
        for node, (x, y) in positions.items():
            if node in self.graph.units:
                ex, ey = self.graph.positions.get(self.graph.units.entry(node), (0.0, 0.0))
                for lid in self.graph.units.layers(node):
                    lx, ly = self.graph.positions.get(lid, (ex, ey))
                    layer_moves[lid] = (round(lx + x - ex, 1), round(ly + y - ey, 1))
            elif node in self.graph:
                layer_moves[node] = (x, y)
        self.move_layers(layer_moves)

    def _require_unit(self, unit_id: str) -> Any:
        if unit_id not in self.graph.units:
            self._refuse(f"no unit with id {unit_id!r}")
        return self.graph.units.get(unit_id)

    def _unit_call(self, plan: Any) -> Any:
        """A unit plan, its UnitError refused like any edit (message shown, nothing changed)."""
        try:
            return plan()
        except (UnitError, GraphError) as exc:
            self._refuse(str(exc))

    def replace_graph(self, graph: Graph, text: str = "New model") -> None:
        """New / New from template: one undoable step; the model then belongs to no file."""
        graph = graph.copy()
        self._fill_layout(graph)
        self._edit(text, [ReplaceGraph(graph, None)])

    @contextlib.contextmanager
    def macro(self, text: str) -> Iterator[None]:
        """Group several edit calls into one undo step; if one is refused, all are rolled back."""
        if self._macro is not None:  # nested: the outer macro decides
            yield
            return
        self._macro, self._macro_text, self._macro_notify = [], text, False
        try:
            yield
        except BaseException:
            ops, self._macro = self._macro, None
            self._replay(ops, undo=True)
            raise
        ops, self._macro = self._macro, None
        if ops:
            self.undo_stack.push(EditCommand(self, text, ops))

    # --- files ------------------------------------------------------------------------------
    def load_graph(self, graph: Graph, path: str | Path | None = None, *,
                   clean: bool = True) -> None:
        """Show ``graph`` as a fresh document (Open, startup, recovery): history starts here.

        ``clean=False`` marks it unsaved (a restored recovery copy is work not yet on disk)."""
        if self.locked:
            self._refuse(f"another model cannot be opened while {self._locked_reason}")
        why = too_large_to_show(graph, str(path) if path is not None else graph.name or "model")
        if why:
            self._refuse(why)
        graph = graph.copy()
        self._fill_layout(graph)
        self.undo_stack.clear()
        self._swap_graph(graph, Path(path) if path is not None else None)
        if not clean:
            self.undo_stack.resetClean()
        self.cleanChanged.emit(self.is_clean())
        self._notify()

    def open(self, path: str | Path) -> None:
        """Read a model file; raises ModelFileError and leaves the current model untouched."""
        self.load_graph(modelfile.load(path), Path(path))

    def to_json_text(self) -> str:
        return modelfile.dumps(self.graph)

    def save(self, path: str | Path | None = None) -> Path:
        """Write atomically (QSaveFile) and mark the model clean; raises OSError on failure."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("the model has no file yet: give a path (Save As)")
        write_atomically(target, self.to_json_text())
        self.undo_stack.setClean()
        if target != self.path:
            self.path = target
            self.pathChanged.emit(str(target))
        return target

    # --- internals --------------------------------------------------------------------------
    def _swap_graph(self, graph: Graph, path: Path | None) -> None:
        self.graph = graph
        self._result = None
        if path != self.path:
            self.path = path
            self.pathChanged.emit(str(path) if path else "")
        self.graphReplaced.emit()

    def _edit(self, text: str, ops: list[Op],
              merge_key: tuple[str, str] | None = None) -> None:
        if self.locked and any(op.structural for op in ops):
            self._refuse(f"the model cannot change while {self._locked_reason}; "
                         "stop it first (moving blocks is fine)")
        try:
            apply_ops(self, ops)
        except GraphError as exc:
            self._refuse(str(exc))
        self._result = None
        self._announce_renames(ops, undo=False)
        if self._macro is not None:
            self._macro.extend(ops)
            self._notify()
            return
        self.undo_stack.push(EditCommand(self, text, ops, merge_key))
        self._notify()

    def _replay(self, ops: list[Op], undo: bool) -> None:
        """Undo / redo from the stack (never refused: the graph is back where it was)."""
        for op in (reversed(ops) if undo else ops):
            (op.undo if undo else op.do)(self)
        self._result = None
        self._announce_renames(ops, undo)
        self._notify()

    def _replay_from_stack(self, ops: list[Op], undo: bool) -> None:
        """Undo / redo asked by the stack. While locked a step that changes the structure is
        not replayed (the network being trained must keep matching the model); the stack is
        then put back where it was (see :meth:`_stack_moved`) and the refusal announced."""
        if self.locked and any(op.structural for op in ops):
            if not self._restoring_index:
                self._replay_refused = True
            return
        self._replay(ops, undo)

    def _stack_moved(self, index: int) -> None:
        if self._restoring_index:
            return
        if not self._replay_refused:
            self._stack_index = index
            return
        # QUndoStack cannot veto a step: move it back, skipping the refused steps again and
        # reverting any layout-only step it did replay on the way.
        self._replay_refused = False
        self._restoring_index = True
        try:
            self.undo_stack.setIndex(self._stack_index)
        finally:
            self._restoring_index = False
        self.editRefused.emit(f"undo and redo wait while {self._locked_reason}; "
                              "stop it first")

    def _announce_renames(self, ops: Sequence[Op], undo: bool) -> None:
        for op in (reversed(ops) if undo else ops):
            if isinstance(op, Rename):
                self.renamed.emit(*((op.new, op.old) if undo else (op.old, op.new)))

    def _notify(self) -> None:
        self._result = None
        self.changed.emit(self.result)

    def _refuse(self, message: str) -> Any:
        self.editRefused.emit(message)
        raise GraphError(message)

    def _require(self, layer_id: str | None) -> Any:
        if layer_id is None or layer_id not in self.graph:
            self._refuse(f"no layer with id {layer_id!r}")
        return self.graph.layer(layer_id)  # type: ignore[arg-type]

    def _shift_down(self, anchor: str | None, starts: Iterable[str]) -> list[Op]:
        """Make room for an inserted block: move everything downstream of ``starts`` one row."""
        below: set[str] = set()
        stack = list(starts)
        while stack:
            lid = stack.pop()
            if lid in below or lid == anchor:
                continue
            below.add(lid)
            stack.extend(self.graph.consumers(lid))
        return [Move(lid, (x, y + _BELOW)) for lid in self.graph.ids if lid in below
                for (x, y) in [self.graph.positions.get(lid, (0.0, 0.0))]]

    def _room_for(self, ops: Sequence[Op]) -> list[Op]:
        """Moves that push the neighbours of the blocks ``ops`` add out of their way (after the
        moves ``ops`` already make), to go in the same undo step."""
        positions = dict(self.graph.positions)
        added: dict[str, tuple[float, float]] = {}
        for op in ops:
            if isinstance(op, Move):
                positions[op.layer_id] = op.position
            elif isinstance(op, AddLayer) and op.position is not None:
                added[op.layer_id] = op.position
        return [Move(lid, pos) for lid, pos in make_room(positions, added).items()]

    def _free_position(self) -> tuple[float, float]:
        if not self.graph.positions:
            return (0.0, 0.0)
        x = min(p[0] for p in self.graph.positions.values())
        y = max(p[1] for p in self.graph.positions.values())
        return (x, y + _BELOW)

    def _fill_layout(self, graph: Graph) -> None:
        """Place the layers the file gave no position (all of them for a template)."""
        missing = [lid for lid in graph.ids if lid not in graph.positions]
        if missing:
            self.layout_report = LayoutReport()
            laid = auto_layout(graph, target=self.layout_target, report=self.layout_report)
            if len(missing) < len(graph):  # keep the user's positions, park the rest beside
                right = max(x for x, _ in graph.positions.values()) + 260.0
                left = min(laid[lid][0] for lid in missing)
                laid = {lid: (x - left + right, y) for lid, (x, y) in laid.items()}
            for lid in missing:
                graph.positions[lid] = laid[lid]


def feedable_inputs(type_name: str, inputs: Sequence[str]) -> list[str]:
    """The inputs a new layer can take (none for Input, at most its arity)."""
    spec = layer_spec(type_name)
    limit = len(inputs) if spec.max_inputs is None else spec.max_inputs
    return list(inputs)[:limit]


def write_atomically(path: Path, text: str) -> None:
    """QSaveFile writes beside the target and renames over it only when everything was written,
    so a crash or a full disk never leaves a half-written model."""
    out = QSaveFile(str(path))
    if not out.open(QSaveFile.OpenModeFlag.WriteOnly):
        raise OSError(f"{path}: cannot write ({out.errorString()})")
    data = text.encode("utf-8")
    if out.write(QByteArray(data)) != len(data) or not out.commit():
        err = out.errorString()
        out.cancelWriting()
        raise OSError(f"{path}: saving failed ({err})")


def _add_units(units: Units, new: Iterable[Unit]) -> None:
    """Add units planned elsewhere (a repeat's copies, a paste's), parents first."""
    for unit in new:
        units.add(unit.id, unit.name, unit.members, parent=unit.parent,
                  collapsed=unit.collapsed)


def parse_fragment(text: str) -> dict[str, Any] | None:
    """The clipboard text as a model document, or None when it is not one."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == modelfile.FORMAT else None

