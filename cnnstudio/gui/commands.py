"""Undo commands for the Document: small reversible graph operations grouped into one step.

Every edit is expressed as a list of primitive operations (add a layer, remove one, set inputs,
set a param, ...) that each know how to undo themselves. They store ids and plain values, never
canvas items, so a command stays valid whatever the views do. One ``EditCommand`` holds the
operations of one user action (a drag, a paste, a fix), which makes multi-step edits atomic:
if step three is refused, steps one and two are rolled back and nothing reaches the stack.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtGui import QUndoCommand

from cnnstudio.core.graph import Graph, GraphError, Layer
from cnnstudio.core.units import Unit, UnitError, Units

if TYPE_CHECKING:
    from cnnstudio.gui.document import Document


class Model(Protocol):
    """What operations act on: the Document's graph and file path."""

    graph: Graph
    path: Path | None

    def _swap_graph(self, graph: Graph, path: Path | None) -> None: ...

#: QUndoCommand ids: only consecutive edits of one param merge (typing in a spin box).
SET_PARAM_ID = 1


class Op:
    """One reversible change. ``do`` may raise GraphError and must then have changed nothing."""

    structural = True  # False for layout-only changes (allowed while training)

    def do(self, model: Model) -> None:
        raise NotImplementedError

    def undo(self, model: Model) -> None:
        raise NotImplementedError


class AddLayer(Op):
    def __init__(self, type_name: str, params: dict[str, Any] | None, layer_id: str,
                 inputs: Sequence[str] = (), trainable: bool = True,
                 position: tuple[float, float] | None = None, index: int | None = None) -> None:
        self.type_name, self.params, self.layer_id = type_name, dict(params or {}), layer_id
        self.inputs, self.trainable = list(inputs), trainable
        self.position, self.index = position, index

    def do(self, model: Model) -> None:
        graph = model.graph
        graph.add_layer(self.type_name, self.params, layer_id=self.layer_id, inputs=self.inputs,
                        trainable=self.trainable, position=self.position, index=self.index)

    def undo(self, model: Model) -> None:
        graph = model.graph
        graph.remove_layer(self.layer_id)


class RemoveLayer(Op):
    """Remove a layer; undo puts it back at its index with every consumer's inputs restored."""

    def __init__(self, layer_id: str) -> None:
        self.layer_id = layer_id
        self._saved: tuple[Layer, int, tuple[float, float] | None,
                           dict[str, list[str]], list[Unit]] | None = None

    def do(self, model: Model) -> None:
        graph = model.graph
        layer = graph.layer(self.layer_id)
        consumers = {c: list(graph.layer(c).inputs) for c in graph.consumers(self.layer_id)}
        saved = (copy.deepcopy(layer), graph.index_of(self.layer_id),
                 graph.positions.get(self.layer_id), consumers, graph.units.snapshot())
        graph.remove_layer(self.layer_id)
        self._saved = saved

    def undo(self, model: Model) -> None:
        graph = model.graph
        assert self._saved is not None
        layer, index, position, consumers, units = self._saved
        graph.insert_layer(layer, index, position)
        graph.units.restore(units)
        for cid, inputs in consumers.items():
            # Restored verbatim: the state before was what the user had, even if it was invalid.
            graph.layer(cid).inputs = list(inputs)


class SetInputs(Op):
    """Connect, disconnect or rewire: the layer's whole input list before and after."""

    def __init__(self, layer_id: str, inputs: Sequence[str],
                 apply: Callable[[Graph], None] | None = None) -> None:
        self.layer_id, self.inputs = layer_id, list(inputs)
        self._apply = apply  # a checked graph call (connect/disconnect) instead of set_inputs
        self._old: list[str] | None = None

    def do(self, model: Model) -> None:
        graph = model.graph
        old = list(graph.layer(self.layer_id).inputs)
        if self._apply is not None:
            self._apply(graph)
            self.inputs = list(graph.layer(self.layer_id).inputs)
            self._apply = None  # redo replays the recorded result
        else:
            graph.set_inputs(self.layer_id, self.inputs)
        self._old = old

    def undo(self, model: Model) -> None:
        graph = model.graph
        assert self._old is not None
        graph.layer(self.layer_id).inputs = list(self._old)


class SetParam(Op):
    def __init__(self, layer_id: str, name: str, value: Any) -> None:
        self.layer_id, self.name, self.value = layer_id, name, value
        self.old: Any = None

    def do(self, model: Model) -> None:
        graph = model.graph
        self.old = graph.set_param(self.layer_id, self.name, self.value)
        self.value = graph.layer(self.layer_id).params[self.name]  # canonical form

    def undo(self, model: Model) -> None:
        graph = model.graph
        graph.layer(self.layer_id).params[self.name] = self.old


class SetTrainable(Op):
    def __init__(self, layer_id: str, flag: bool) -> None:
        self.layer_id, self.flag, self.old = layer_id, bool(flag), True

    def do(self, model: Model) -> None:
        graph = model.graph
        self.old = graph.set_trainable(self.layer_id, self.flag)

    def undo(self, model: Model) -> None:
        graph = model.graph
        graph.set_trainable(self.layer_id, self.old)


class Rename(Op):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def do(self, model: Model) -> None:
        graph = model.graph
        graph.rename(self.old, self.new)

    def undo(self, model: Model) -> None:
        graph = model.graph
        graph.rename(self.new, self.old)


class EditUnits(Op):
    """Any change of the units (group, ungroup, collapse, rename): the units before and after,
    as plain values. Units are how the model is drawn, so this is allowed while training."""

    structural = False

    def __init__(self, apply: Callable[[Units], object]) -> None:
        self._apply: Callable[[Units], object] | None = apply
        self._before: list[Unit] = []
        self._after: list[Unit] = []

    def do(self, model: Model) -> None:
        units = model.graph.units
        before = units.snapshot()
        if self._apply is not None:
            try:
                self._apply(units)
            except UnitError as exc:
                units.restore(before)
                raise GraphError(str(exc)) from None
            self._apply = None  # redo replays the recorded result
            self._after = units.snapshot()
        else:
            units.restore(self._after)
        self._before = before

    def undo(self, model: Model) -> None:
        model.graph.units.restore(self._before)


class Move(Op):
    structural = False

    def __init__(self, layer_id: str, position: tuple[float, float]) -> None:
        self.layer_id, self.position = layer_id, (float(position[0]), float(position[1]))
        self._old: tuple[float, float] | None = None

    def do(self, model: Model) -> None:
        graph = model.graph
        old = graph.positions.get(self.layer_id)
        graph.move(self.layer_id, *self.position)
        self._old = old

    def undo(self, model: Model) -> None:
        graph = model.graph
        if self._old is None:
            graph.positions.pop(self.layer_id, None)
        else:
            graph.positions[self.layer_id] = self._old


class ReplaceGraph(Op):
    """New / New from template: the whole model and the file it belongs to, in one step."""

    def __init__(self, graph: Graph, path: Path | None) -> None:
        self.graph, self.path = graph, path
        self._old: tuple[Graph, Path | None] | None = None

    def do(self, model: Model) -> None:
        self._old = (model.graph, model.path)
        model._swap_graph(self.graph, self.path)

    def undo(self, model: Model) -> None:
        assert self._old is not None
        model._swap_graph(*self._old)


class EditCommand(QUndoCommand):
    """One undo step made of primitive operations, already applied when pushed."""

    def __init__(self, document: Document, text: str, ops: list[Op],
                 merge_key: tuple[str, str] | None = None) -> None:
        super().__init__(text)
        self._document = document
        self.ops = ops
        self.merge_key = merge_key
        self._applied = True  # the Document applied the ops to check them before pushing

    def id(self) -> int:  # noqa: A003 - Qt's name
        return SET_PARAM_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt's name
        if not isinstance(other, EditCommand) or other.merge_key != self.merge_key:
            return False
        mine, theirs = self.ops[0], other.ops[0]
        assert isinstance(mine, SetParam) and isinstance(theirs, SetParam)
        mine.value = theirs.value
        self.setText(other.text())
        return True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return  # first push: the Document already applied and announced the change
        self._document._replay_from_stack(self.ops, undo=False)

    def undo(self) -> None:
        self._document._replay_from_stack(self.ops, undo=True)


def apply_ops(model: Model, ops: Sequence[Op]) -> None:
    """Apply in order; on a refusal roll back what was done and re-raise (atomic edits)."""
    done: list[Op] = []
    try:
        for op in ops:
            op.do(model)
            done.append(op)
    except Exception:
        for op in reversed(done):
            op.undo(model)
        raise
